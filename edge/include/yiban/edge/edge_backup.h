#pragma once
// `yiban-edge backup --out FILE` and `yiban-edge restore --in FILE`
// (yiban/runtime/store_backup.h): an online copy of the hall's store with a
// manifest, and putting one back. An edge restore changes nothing in the
// file; a hall whose restored log is behind what central holds is recovered
// by the sync (protocol/README.md).

#include <string>
#include <string_view>
#include <vector>

namespace yiban::edge {

// args: what follows the subcommand's name. Returns the exit code.
int edge_backup_main(std::string_view command, const std::vector<std::string>& args);

}  // namespace yiban::edge
