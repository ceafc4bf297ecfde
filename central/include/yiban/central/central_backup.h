#pragma once
// `yiban-central backup --out FILE` and `yiban-central restore --in FILE`
// (yiban/runtime/store_backup.h): an online copy of central's store with a
// manifest, and putting one back. A restore starts a new DOWN epoch in the
// restored file (settings down_epoch_prev = its old down_epoch, down_epoch =
// a new random 128-bit value) and changes nothing else.

#include <string>
#include <string_view>
#include <vector>

namespace yiban::central {

// args: what follows the subcommand's name. Returns the exit code.
int central_backup_main(std::string_view command, const std::vector<std::string>& args);

}  // namespace yiban::central
