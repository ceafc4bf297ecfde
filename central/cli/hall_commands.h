#pragma once
// The hall manager's commands of `yiban`, against a hall edge's console API
// (edge/README.md): status, queues, counters, counter, tickets, devices,
// stats, ack and resolve. (`alerts` is shared with central: see cli.cpp.)

#include <vector>

#include "cli_internal.h"

namespace yiban::cli::internal {

// The hall commands, in the order `yiban --help` lists them; each has edge set.
const std::vector<Command>& hall_commands();

}  // namespace yiban::cli::internal
