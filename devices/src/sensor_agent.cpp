#include "yiban/devices/sensor_agent.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

#include "line_words.h"
#include "yiban/protocol/telemetry.h"

namespace yiban::devices {

namespace {

constexpr long long kMaxStep = 10000;

double round_to(double value, double step) {
  return std::round(value / step) / (1.0 / step);  // 46.4, not 46.400000000000006
}

}  // namespace

SensorAgent::SensorAgent(protocol::DeviceKind kind, std::uint64_t seed)
    : kind_(kind), random_(seed) {
  if (kind != protocol::DeviceKind::kPeopleCounter && kind != protocol::DeviceKind::kEnvironment)
    throw std::invalid_argument("a sensor is a people_counter or an environment device");
}

std::string SensorAgent::handle_line(std::string_view line) {
  auto words = split_words(line);
  if (words.empty()) return "";
  if (kind_ != protocol::DeviceKind::kPeopleCounter) return "环境传感器自动采样，无需输入";
  long long n = 0;
  if (words.size() == 2 && (words[0] == "in" || words[0] == "out")) {
    const std::string& w = words[1];
    auto [end, ec] = std::from_chars(w.data(), w.data() + w.size(), n);
    if (ec == std::errc() && end == w.data() + w.size() && n >= 0 && n <= kMaxStep) {
      (words[0] == "in" ? people_in_ : people_out_) += n;  // n is within kMaxStep
      return (words[0] == "in" ? "进入 " : "离开 ") + std::to_string(n) + " 人";
    }
  }
  return "用法: in 人数 | out 人数";
}

void SensorAgent::count_in(long long n) {
  people_in_ += std::clamp(n, 0LL, kMaxStep);
}

void SensorAgent::count_out(long long n) {
  people_out_ += std::clamp(n, 0LL, kMaxStep);
}

void SensorAgent::set_occupancy(int people) {
  double n = std::max(0, people);
  // Fresh air keeps an empty hall near 420 ppm; each person adds about 12 ppm
  // at steady state, and a full hall warms by a few degrees.
  co2_target_ = std::min(2500.0, 420.0 + 12.0 * n);
  temp_target_ = std::min(30.0, 22.0 + 0.02 * n);
}

std::string SensorAgent::sample(std::int64_t ts) {
  protocol::TelemetrySample out{ts, {}};
  if (kind_ == protocol::DeviceKind::kPeopleCounter) {
    out.metrics = {{"people_in", static_cast<double>(people_in_)}, {"people_out", static_cast<double>(people_out_)}};
    people_in_ = 0;
    people_out_ = 0;
  } else {
    std::normal_distribution<double> step(0.0, 1.0);
    temp_c_ =
        std::clamp(temp_c_ + 0.05 * step(random_) + 0.01 * (temp_target_ - temp_c_), 10.0, 38.0);
    humidity_ = std::clamp(humidity_ + 0.2 * step(random_) + 0.01 * (45.0 - humidity_), 15.0, 90.0);
    co2_ppm_ =
        std::clamp(co2_ppm_ + 5.0 * step(random_) + 0.02 * (co2_target_ - co2_ppm_), 400.0, 3000.0);
    out.metrics = {{"temp_c", round_to(temp_c_, 0.1)},
                   {"humidity", round_to(humidity_, 0.1)},
                   {"co2_ppm", static_cast<double>(std::lround(co2_ppm_))}};
  }
  return protocol::encode_telemetry(out);
}

}  // namespace yiban::devices
