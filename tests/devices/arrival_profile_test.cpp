// ArrivalProfile and ArrivalStream: the daily shape and seeded repeatability.

#include "yiban/devices/arrival_profile.h"

#include <catch2/catch.hpp>

#include "devices/device_test_hall.h"
#include "yiban/protocol/hall_config.h"

using namespace yiban::devices;

namespace {

std::int64_t at(int hour, int minute) {
  return (hour * 60 + minute) * kMinuteMs;
}

}  // namespace

TEST_CASE("arrival profile peaks in the morning, dips at lunch, bumps in the afternoon",
          "[devices]") {
  ArrivalProfile profile(100.0);
  CHECK(profile.rate_per_hour(at(10, 0)) == Approx(100.0));
  CHECK(profile.rate_per_hour(at(6, 0)) == 0.0);
  CHECK(profile.rate_per_hour(at(19, 0)) == 0.0);
  double lunch = profile.rate_per_hour(at(12, 45));
  CHECK(lunch < profile.rate_per_hour(at(9, 30)));
  CHECK(lunch < profile.rate_per_hour(at(11, 30)));
  CHECK(profile.rate_per_hour(at(15, 0)) > lunch);
  CHECK(profile.rate_per_hour(at(15, 0)) < profile.rate_per_hour(at(10, 0)));
  for (int m = 0; m < 24 * 60; ++m) REQUIRE(profile.rate_per_hour(m * kMinuteMs) <= 100.0);
}

TEST_CASE("an arrival stream is repeatable with a seed and follows the profile", "[devices]") {
  auto hall = yiban::devices::test::load_test_hall();
  ArrivalStream a(hall, ArrivalProfile(120.0), 42, at(8, 0));
  ArrivalStream b(hall, ArrivalProfile(120.0), 42, at(8, 0));
  ArrivalStream c(hall, ArrivalProfile(120.0), 43, at(8, 0));
  bool differs = false;
  int morning = 0;
  int lunch = 0;
  int priority = 0;
  int total = 0;
  std::int64_t last = at(8, 0);
  for (;;) {
    auto x = a.next();
    auto y = b.next();
    auto z = c.next();
    REQUIRE(x.time_ms == y.time_ms);
    REQUIRE(x.service == y.service);
    REQUIRE(x.priority_class == y.priority_class);
    REQUIRE(x.service_min == y.service_min);
    differs = differs || x.time_ms != z.time_ms || x.service != z.service;
    REQUIRE(x.time_ms > last);
    last = x.time_ms;
    if (x.time_ms >= at(18, 0)) break;
    REQUIRE(hall.find_service(x.service) != nullptr);
    REQUIRE(x.service_min > 0.0);
    ++total;
    if (x.priority_class) ++priority;
    if (x.time_ms >= at(9, 30) && x.time_ms < at(10, 30)) ++morning;
    if (x.time_ms >= at(12, 15) && x.time_ms < at(13, 15)) ++lunch;
  }
  CHECK(differs);
  // About 120/h at the peak hour and well under half of it at lunch.
  CHECK(morning > 80);
  CHECK(morning < 160);
  CHECK(lunch < morning / 2);
  CHECK(priority > 0);
  CHECK(priority < total / 8);
}

TEST_CASE("service times are lognormal around the service's average", "[devices]") {
  yiban::protocol::ServiceConfig service;
  service.avg_service_s = 600;
  std::mt19937_64 random(5);
  double sum = 0.0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) sum += draw_service_min(service, random);
  CHECK(sum / n == Approx(10.0).epsilon(0.05));
}
