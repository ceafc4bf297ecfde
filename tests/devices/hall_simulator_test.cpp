// yiban-devices simulate against a real broker and a real yiban-edge: the
// simulator's summary equals the edge's own totals.

#include "yiban/devices/hall_simulator.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <sstream>
#include <string>

#include "support/edge_process.h"
#include "support/mosquitto_broker.h"
#include "support/test_support.h"
#include "yiban/devices/arrival_profile.h"

using namespace std::chrono_literals;

namespace {

// "key: value" lines of the summary, as printed by the simulator.
std::map<std::string, std::string> summary_of(const std::string& log) {
  std::map<std::string, std::string> fields;
  std::istringstream in(log);
  std::string line;
  while (std::getline(in, line)) {
    auto colon = line.find(": ");
    if (colon == std::string::npos || line.find(' ') < colon) continue;
    fields[line.substr(0, colon)] = line.substr(colon + 2);
  }
  return fields;
}

}  // namespace

TEST_CASE("simulator options parse times, durations and faults", "[devices]") {
  CHECK(yiban::devices::parse_time_of_day("10:15").value() ==
        (10 * 60 + 15) * yiban::devices::kMinuteMs);
  CHECK_FALSE(yiban::devices::parse_time_of_day("25:00"));
  CHECK_FALSE(yiban::devices::parse_time_of_day("10:5"));
  CHECK(yiban::devices::parse_duration("10m").value() == 10 * yiban::devices::kMinuteMs);
  CHECK(yiban::devices::parse_duration("90s").value() == 90'000);
  CHECK(yiban::devices::parse_duration("2h").value() == 2 * yiban::devices::kHourMs);
  CHECK_FALSE(yiban::devices::parse_duration("0m"));
  CHECK_FALSE(yiban::devices::parse_duration("x"));
  auto fault = yiban::devices::parse_fault("kiosk-2@10:15");
  REQUIRE(fault);
  CHECK(fault->device == "kiosk-2");
  CHECK(fault->at_ms == (10 * 60 + 15) * yiban::devices::kMinuteMs);
  CHECK_FALSE(yiban::devices::parse_fault("kiosk-2"));
}

TEST_CASE("a short fast simulation's summary matches the edge's totals", "[devices][integration]") {
  yiban::test::TempDir dir;
  yiban::test::MosquittoBroker broker(dir.path());
  auto config = yiban::test::write_test_hall_config(dir.path());
  yiban::test::EdgeProcess edge(dir.path(), config, broker.uri());
  edge.start();

  auto log = dir / "simulate.log";
  auto started = std::chrono::steady_clock::now();
  yiban::test::ChildProcess simulate(
      YIBAN_DEVICES_BINARY,
      {"simulate", "--hall-config", config.string(), "--mqtt", broker.uri(), "--speed", "600",
       "--seed", "3", "--duration", "20m", "--start", "09:30", "--arrivals-per-hour", "150",
       "--fail-device", "kiosk-2@09:45"},
      log);
  int status = simulate.wait_exit(40s);
  INFO(yiban::test::read_file(log));
  REQUIRE(status == 0);
  CHECK(std::chrono::steady_clock::now() - started < 40s);

  auto summary = summary_of(yiban::test::read_file(log));
  REQUIRE(summary.contains("issued"));
  long long issued = std::stoll(summary["issued"]);
  long long served = std::stoll(summary["served"]);
  long long no_shows = std::stoll(summary["no_shows"]);
  CHECK(issued >= 20);
  CHECK(served > 0);
  CHECK(summary.contains("wait_mean_min"));
  CHECK(summary.contains("wait_p90_min"));
  CHECK(summary.contains("ratings"));

  auto db = edge.db();
  CHECK(yiban::test::eventually(
      [&] {
        return yiban::test::query_int(db, "SELECT COUNT(*) FROM tickets") == issued &&
               yiban::test::query_int(
                   db, "SELECT COUNT(*) FROM tickets WHERE state = 'completed'") == served &&
               yiban::test::query_int(db, "SELECT COUNT(*) FROM tickets WHERE state = 'no_show'") ==
                   no_shows;
      },
      5s));
  // kiosk-2 failed at 09:45 without a clean offline: the edge learnt it from its will.
  CHECK(yiban::test::query_int(db,
                               "SELECT count(*) FROM events WHERE type = 'device.offline' AND "
                               "text LIKE '%\"device\":\"kiosk-2\"%'") >= 1);
  CHECK(yiban::test::query_int(db, "SELECT COUNT(*) FROM tickets") == issued);
  CHECK(yiban::test::query_int(db, "SELECT COUNT(*) FROM tickets WHERE state = 'completed'") ==
        served);
  CHECK(yiban::test::query_int(db, "SELECT COUNT(*) FROM tickets WHERE state = 'no_show'") ==
        no_shows);
}
