#include "alerts/alert_rules.h"

#include <catch2/catch.hpp>

#include "support/test_support.h"

using namespace yiban;
using edge::alerts::AlertEngine;
using edge::alerts::Condition;

namespace {

constexpr std::int64_t kMorning = 1795654800000LL;  // 2026-11-26 09:00 Asia/Shanghai
constexpr std::int64_t kMinute = 60'000;

constexpr const char* kHall = R"({
  "hall": "test-hall", "name": "测试大厅", "region": "370202", "capacity": 10,
  "alerts": {"hold_s": 30, "clear_s": 60, "long_queue": 3, "crowding_pct": 90, "co2_ppm": 1000,
             "temp_min_c": 16, "temp_max_c": 28},
  "services": [{"code": "A", "name": "社保医保", "max_wait_min": 30}, {"code": "B", "name": "不动产登记"}],
  "counters": [{"id": "1", "services": ["A", "B"]}],
  "devices": [
    {"id": "kiosk-1", "kind": "kiosk"},
    {"id": "door-1", "kind": "people_counter"},
    {"id": "env-1", "kind": "environment"}
  ]
})";

// The queue, the sensors and the alerts of one hall over a real store; every
// step runs in its own transaction at an explicit time.
struct Hall {
  test::TempDir dir;
  protocol::HallConfig config = *protocol::parse_hall_config(kHall);
  protocol::TimeZone zone = *protocol::TimeZone::load("Asia/Shanghai");
  std::unique_ptr<edge::store::EdgeStore> store =
      std::move(*edge::store::EdgeStore::open((dir / "edge.db").string(), "test-hall"));
  edge::queue::QueueEngine engine{config, zone, *store};
  edge::sensing::Sensing sensing{config, zone, *store, engine};
  AlertEngine alerts{config, *store};

  Hall() {
    REQUIRE(engine.load());
    REQUIRE(sensing.load(kMorning));
    REQUIRE(alerts.load());
  }
  template <class F>
  void tx(F f) {
    REQUIRE(store->begin());
    f();
    REQUIRE(store->commit());
  }
  void take(const std::string& service, std::int64_t now) {
    tx([&] { REQUIRE(engine.take_ticket({service, {}, {}}, "kiosk-1", now)); });
  }
  void sample(const std::string& device, const std::string& metrics, std::int64_t now) {
    tx([&] { REQUIRE(sensing.ingest(device, R"({"ts":1,"metrics":)" + metrics + "}", now)); });
  }
  // Evaluates the rules at now and returns the open alerts' rule/subject pairs.
  std::set<std::string> open_at(std::int64_t now) {
    tx([&] {
      auto conditions = edge::alerts::collect_conditions(config, engine, sensing, now);
      REQUIRE(alerts.evaluate(conditions, zone.local_day(now), now));
    });
    std::set<std::string> out;
    for (const auto& a : alerts.open()) out.insert(a.rule + "/" + a.subject);
    return out;
  }
};

}  // namespace

TEST_CASE("a long wait raises once the oldest ticket waited past max_wait_min and held hold_s", "[edge][alerts]") {
  Hall h;
  h.take("A", kMorning);
  CHECK(h.open_at(kMorning + 30 * kMinute).empty());  // exactly 30 min is not over
  CHECK(h.open_at(kMorning + 31 * kMinute).empty());  // over, but not for hold_s yet
  CHECK(h.open_at(kMorning + 31 * kMinute + 30'000).contains("long_wait/A"));
  auto message = h.alerts.open()[0].message;
  CHECK(message.find("社保医保") != std::string::npos);
  // The ticket is called: the condition clears, and clear_s later so does the alert.
  h.tx([&] { REQUIRE(h.engine.open_counter("1", "counter-1", kMorning + 32 * kMinute)); });
  h.tx([&] { REQUIRE(h.engine.call_next("1", "counter-1", kMorning + 32 * kMinute)); });
  CHECK(h.open_at(kMorning + 33 * kMinute).contains("long_wait/A"));
  CHECK_FALSE(h.open_at(kMorning + 34 * kMinute + 1).contains("long_wait/A"));
}

TEST_CASE("a long queue raises per service at the configured length", "[edge][alerts]") {
  Hall h;
  for (int i = 0; i < 3; ++i) h.take("B", kMorning + i);
  h.take("A", kMorning);
  h.open_at(kMorning + 1000);
  auto open = h.open_at(kMorning + 31'000);
  CHECK(open.contains("long_queue/B"));
  CHECK_FALSE(open.contains("long_queue/A"));
}

TEST_CASE("crowding, CO2 and temperature follow the sensors", "[edge][alerts]") {
  Hall h;
  h.sample("door-1", R"({"people_in":9})", kMorning);
  h.sample("env-1", R"({"co2_ppm":1200,"temp_c":30})", kMorning);
  h.open_at(kMorning + 1000);
  auto open = h.open_at(kMorning + 31'000);
  CHECK(open.contains("crowding/test-hall"));  // 9 of 10 = 90%
  CHECK(open.contains("co2/env-1"));
  CHECK(open.contains("temperature/env-1"));
  for (const auto& a : h.alerts.open()) CHECK(a.id.starts_with("test-hall:20261126:AL"));  // the local day
  h.sample("env-1", R"({"co2_ppm":800,"temp_c":22})", kMorning + 40'000);
  h.sample("door-1", R"({"people_out":5})", kMorning + 40'000);
  h.open_at(kMorning + 41'000);
  CHECK(h.open_at(kMorning + 101'000).empty());
}

TEST_CASE("an offline device raises after hold_s; a device never seen does not", "[edge][alerts]") {
  Hall h;
  h.tx([&] { REQUIRE(h.engine.set_device_presence("kiosk-1", true, std::nullopt, kMorning)); });
  h.tx([&] { REQUIRE(h.engine.set_device_presence("kiosk-1", false, std::nullopt, kMorning + 1000)); });
  h.open_at(kMorning + 2000);
  auto open = h.open_at(kMorning + 32'000);
  CHECK(open.contains("device_offline/kiosk-1"));
  CHECK_FALSE(open.contains("device_offline/door-1"));
}
