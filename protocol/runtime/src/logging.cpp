#include "yiban/runtime/logging.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <array>
#include <string_view>

namespace yiban::runtime {

protocol::Expected<void> start_logging(const std::string& name, const std::string& level) {
  auto logger = spdlog::get(name);
  if (!logger) logger = spdlog::stderr_color_mt(name);
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ " + name + ": %v");
  constexpr std::array<std::string_view, 7> kLevels{"trace", "debug", "info", "warn", "error", "critical", "off"};
  for (auto known : kLevels) {
    if (level == known) {
      spdlog::set_level(spdlog::level::from_str(level));
      return {};
    }
  }
  spdlog::set_level(spdlog::level::info);
  return protocol::error("--log-level " + level + ": not a level (trace, debug, info, warn, error, critical, off)");
}

}  // namespace yiban::runtime
