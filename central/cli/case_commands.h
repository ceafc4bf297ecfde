#pragma once
// `yiban case …`: cross-region cases (跨域通办, protocol/CASES.md). submit,
// review, complete and resubmit go to a hall's edge; list, show and fetch work
// against an edge or central (same shapes; central adds --hall, --late and the
// access log), and default to central as `alerts` does.

#include <vector>

#include "cli_internal.h"

namespace yiban::cli::internal {

// The `case` command (one entry; its first argument is the action).
const std::vector<Command>& case_commands();

}  // namespace yiban::cli::internal
