#pragma once
// When citizens arrive at a hall: a daily profile of the arrival rate and a
// seeded stream of arrivals drawn from it (a non-homogeneous Poisson process,
// sampled by thinning). Splitting one Poisson stream by a weighted service
// choice gives an independent Poisson process per service.
//
// Times are simulated milliseconds since local midnight. Not thread-safe.

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "yiban/protocol/hall_config.h"

namespace yiban::devices {

inline constexpr std::int64_t kMinuteMs = 60'000;
inline constexpr std::int64_t kHourMs = 60 * kMinuteMs;

class ArrivalProfile {
 public:
  // peak_per_hour: arrivals per hour for the whole hall at the morning peak.
  explicit ArrivalProfile(double peak_per_hour) : peak_per_hour_(peak_per_hour) {}
  // Morning peak 9–11, lunch dip 12–13:30, afternoon bump 14:30–16, closed
  // (rate 0) before 07:30 and after 18:00; piecewise linear in between.
  double rate_per_hour(std::int64_t time_ms) const;
  double peak_per_hour() const { return peak_per_hour_; }
  // The profile's shape, 0..1 (1 at the morning peak).
  static double shape(double minute_of_day);

 private:
  double peak_per_hour_;
};

struct Arrival {
  std::int64_t time_ms = 0;  // simulated, since local midnight
  std::string service;
  std::optional<std::string> priority_class;
  double service_min = 5.0;  // how long serving this citizen will take
};

// Draws service times: lognormal with the service's mean (avg_service_min,
// default 5 min) and sigma 0.5 on the log scale.
double draw_service_min(const protocol::ServiceConfig& service, std::mt19937_64& random);

class ArrivalStream {
 public:
  // Arrivals from start_ms on. Services are weighted by how many counters
  // serve them (as a main service) plus one; about 5% of arrivals belong to a
  // priority class when the hall has any. The same seed gives the same stream.
  ArrivalStream(const protocol::HallConfig& hall, ArrivalProfile profile, std::uint64_t seed,
                std::int64_t start_ms);
  Arrival next();

 private:
  const protocol::HallConfig& hall_;
  ArrivalProfile profile_;
  std::mt19937_64 random_;
  std::int64_t now_ms_;
  std::vector<double> weights_;
};

}  // namespace yiban::devices
