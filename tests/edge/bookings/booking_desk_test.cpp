// The hall's booking desk (edge/src/bookings) on a real store, with a fake
// clock: central's bookings, walk-ups on the hall's seats, seats moved by
// central, special-need notices and no-shows.

#include "bookings/booking_desk.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/edge_process.h"
#include "support/test_support.h"
#include "yiban/protocol/bookings.h"

using namespace yiban;
namespace pb = protocol::bookings;
using nlohmann::json;

namespace {

constexpr std::int64_t kT0 = 1795654800000LL;  // Thursday 2026-11-26 09:00 in Shanghai
constexpr std::int64_t kHour = 3600000;

struct Hall {
  test::TempDir dir;
  protocol::HallConfig config;
  protocol::TimeZone zone = protocol::TimeZone::fixed("Asia/Shanghai", 8 * 3600);
  std::unique_ptr<edge::store::EdgeStore> store;
  std::unique_ptr<edge::alerts::AlertEngine> alerts;
  std::unique_ptr<edge::bookings::BookingDesk> desk;
  Hall() {
    config = *protocol::parse_hall_config(test::read_file(test::write_test_hall_config(dir.path())));
    store = std::move(*edge::store::EdgeStore::open((dir / "edge.db").string(), "test-hall"));
    alerts = std::make_unique<edge::alerts::AlertEngine>(config, *store);
    REQUIRE(alerts->load());
    desk = std::make_unique<edge::bookings::BookingDesk>(*store, *alerts, "city-case-key-for-tests-0123456789abcdef",
                                                         config, zone);
  }
  template <class F>
  auto tx(F f) {
    REQUIRE(store->begin());
    auto r = f();
    REQUIRE(store->commit());
    return r;
  }
  edge::console::Result walk_up(std::int64_t slot, const std::string& id, std::int64_t now) {
    json body{{"service", "A"}, {"slot_start", slot}, {"applicant_id", id}, {"applicant_name", "李四"},
              {"phone", "13900139000"}};
    return tx([&] { return desk->walk_up(body.dump(), "hall-manager:1", now); });
  }
  long long events(const std::string& type) {
    return test::query_int(dir / "edge.db", "SELECT count(*) FROM events WHERE type = '" + type + "'");
  }
};

std::string config_text() {
  json hours = json::object();
  for (const char* d : {"sun", "mon", "tue", "wed", "thu", "fri", "sat"}) hours[d] = {"08:00-18:00"};
  return json{{"timezone", "Asia/Shanghai"},
              {"halls",
               {{{"hall", "test-hall"},
                 {"services", {{{"code", "A"}, {"slot_min", 60}, {"capacity", 4}, {"hall_share", 0.5}, {"hours", hours}}}}}}}}
      .dump();
}

}  // namespace

TEST_CASE("the hall keeps central's bookings, takes walk-ups on its own seats, and marks no-shows (fake clock)",
          "[edge][bookings]") {
  Hall h;
  const std::int64_t slot = kT0 + kHour;  // 10:00
  CHECK(h.walk_up(slot, "E10000001", kT0).status == 409);  // no slots from central yet
  REQUIRE(h.tx([&] { return h.desk->apply_config(config_text(), kT0); }));
  // Central's booking with a special need: kept, and a preparation notice for staff.
  pb::BookingAdd add{"ABCDEFGH", "A", slot, slot + kHour, "张*三", "13800138000", "轮椅", {}};
  REQUIRE(h.tx([&] { return h.desk->apply_add(pb::encode_booking_add(add), kT0); }));
  REQUIRE(h.alerts->open().size() == 1);
  CHECK(h.alerts->open()[0].rule == "special_need");
  CHECK_THAT(h.alerts->open()[0].message, Catch::Contains("轮椅"));
  // Walk-ups: the hall's two seats, then full; one per person and day.
  auto first = h.walk_up(slot, "E10000001", kT0);
  INFO(first.body);
  REQUIRE(first.status == 201);
  CHECK(h.walk_up(slot + kHour, "E10000001", kT0).status == 409);  // the same person that day
  CHECK(h.walk_up(slot, "E10000002", kT0).status == 201);
  auto full = h.walk_up(slot, "E10000003", kT0);
  CHECK(full.status == 409);
  CHECK_THAT(full.body, Catch::Contains("full"));
  // Central moves one unused seat to the hall.
  REQUIRE(h.tx([&] { return h.desk->apply_quota(pb::encode_booking_quota({"A", slot, 1}), kT0); }));
  CHECK(h.walk_up(slot, "E10000003", kT0).status == 201);
  CHECK(h.walk_up(slot, "E10000004", kT0).status == 409);
  CHECK(h.walk_up(kT0 - kHour, "E10000005", kT0).status == 400);  // past
  CHECK(h.events("appointment.booked") == 4);
  // Nobody came: after the check-in window (15 min after the start) and the slot's end, four no-shows.
  CHECK(h.tx([&] { return h.desk->mark_no_shows(slot + 10 * 60000); }).value() == 0);
  CHECK(h.tx([&] { return h.desk->mark_no_shows(slot + kHour + 1); }).value() == 4);
  CHECK(h.events("appointment.no_show") == 4);
  CHECK(h.alerts->open().empty());  // the special-need notice is closed with it
  CHECK(h.tx([&] { return h.desk->mark_no_shows(slot + 2 * kHour); }).value() == 0);
  // The phone numbers stayed in the hall's tables, never in an event.
  CHECK(test::query_int(h.dir / "edge.db", "SELECT count(*) FROM events WHERE text LIKE '%139001%' OR text LIKE '%138001%'") == 0);
}
