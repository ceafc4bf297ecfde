#pragma once
// The daemons' log (yiban-edge, yiban-central, yiban-devices): one line per
// event on stderr, "2026-12-03T17:30:00.123+0000 info edge: …", levelled.

#include <string>

#include "yiban/protocol/error.h"

namespace yiban::runtime {

// Makes a stderr logger named `name` the default at `level` (trace, debug,
// info, warn, error, critical or off). An unknown level is refused with a
// message naming it; the log is then set up at info, so the caller's
// "cannot start" line is still seen (spdlog's own parsing turns an unknown
// level into "off").
protocol::Expected<void> start_logging(const std::string& name, const std::string& level);

}  // namespace yiban::runtime
