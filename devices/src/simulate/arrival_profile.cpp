#include "yiban/devices/arrival_profile.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>

namespace yiban::devices {

namespace {

// (minute of day, share of the morning peak); linear between points.
constexpr std::array<std::pair<double, double>, 13> kShape{{
    {7 * 60 + 30, 0.0},
    {8 * 60, 0.35},
    {9 * 60, 0.85},
    {10 * 60, 1.0},
    {11 * 60, 0.85},
    {12 * 60, 0.35},
    {13 * 60, 0.3},
    {13 * 60 + 30, 0.45},
    {14 * 60 + 30, 0.7},
    {15 * 60 + 30, 0.65},
    {16 * 60 + 30, 0.45},
    {17 * 60 + 30, 0.15},
    {18 * 60, 0.0},
}};

constexpr double kPriorityShare = 0.05;
constexpr double kServiceSigma = 0.5;

}  // namespace

double ArrivalProfile::shape(double minute_of_day) {
  if (minute_of_day <= kShape.front().first || minute_of_day >= kShape.back().first) return 0.0;
  for (std::size_t i = 1; i < kShape.size(); ++i) {
    auto [m1, v1] = kShape[i];
    if (minute_of_day <= m1) {
      auto [m0, v0] = kShape[i - 1];
      return v0 + (v1 - v0) * (minute_of_day - m0) / (m1 - m0);
    }
  }
  return 0.0;
}

double ArrivalProfile::rate_per_hour(std::int64_t time_ms) const {
  double minute = static_cast<double>(time_ms % (24 * kHourMs)) / kMinuteMs;
  return peak_per_hour_ * shape(minute);
}

double draw_service_min(const protocol::ServiceConfig& service, std::mt19937_64& random) {
  double mean = std::max(1, service.avg_service_s) / 60.0;
  // A lognormal's mean is exp(mu + sigma^2 / 2).
  double mu = std::log(mean) - kServiceSigma * kServiceSigma / 2.0;
  std::lognormal_distribution<double> draw(mu, kServiceSigma);
  return std::clamp(draw(random), 0.2, 12.0 * mean);
}

ArrivalStream::ArrivalStream(const protocol::HallConfig& hall, ArrivalProfile profile,
                             std::uint64_t seed, std::int64_t start_ms)
    : hall_(hall), profile_(profile), random_(seed), now_ms_(start_ms) {
  for (const auto& service : hall_.services) {
    double weight = service.enabled ? 1.0 : 0.0;
    for (const auto& counter : hall_.counters)
      if (service.enabled &&
          std::ranges::find(counter.services, service.code) != counter.services.end())
        weight += 1.0;
    weights_.push_back(weight);
  }
}

Arrival ArrivalStream::next() {
  Arrival arrival;
  // Thinning (Lewis and Shedler): candidates at the peak rate, each kept with
  // probability rate(t) / peak.
  double peak_per_ms = profile_.peak_per_hour() / kHourMs;
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  if (peak_per_ms <= 0.0) {
    now_ms_ += 24 * kHourMs;
  } else {
    std::exponential_distribution<double> gap(peak_per_ms);
    for (int guard = 0; guard < 1'000'000; ++guard) {
      now_ms_ += std::max<std::int64_t>(1, std::llround(gap(random_)));
      if (unit(random_) * profile_.peak_per_hour() < profile_.rate_per_hour(now_ms_)) break;
    }
  }
  arrival.time_ms = now_ms_;
  std::discrete_distribution<std::size_t> pick(weights_.begin(), weights_.end());
  const auto& service = hall_.services.at(pick(random_));
  arrival.service = service.code;
  if (!hall_.priority_classes.empty() && unit(random_) < kPriorityShare) {
    std::uniform_int_distribution<std::size_t> which(0, hall_.priority_classes.size() - 1);
    arrival.priority_class = hall_.priority_classes[which(random_)];
  }
  arrival.service_min = draw_service_min(service, random_);
  return arrival;
}

}  // namespace yiban::devices
