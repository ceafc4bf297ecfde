#pragma once
// Sensor telemetry (ARCHITECTURE §5): …/devices/{device}/telemetry carries
// {"ts":<ms>,"metrics":{"people_in":3,"temp_c":22.5,…}}.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "yiban/protocol/error.h"

namespace yiban::protocol {

inline constexpr std::size_t kMaxMetrics = 32;
inline constexpr double kMaxMetricMagnitude = 1e9;

struct TelemetrySample {
  std::int64_t ts = 0;  // the device's clock, ms
  std::vector<std::pair<std::string, double>> metrics;  // names [a-z0-9_]{1,32}, finite values
};

// Strict: ≤ 16 KiB, UTF-8, exactly ts (integer ≥ 0) and metrics (1..32
// numbers, |value| ≤ 1e9). The error names what is wrong.
Expected<TelemetrySample> decode_telemetry(std::string_view payload);
std::string encode_telemetry(const TelemetrySample& sample);

}  // namespace yiban::protocol
