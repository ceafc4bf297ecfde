#include "alerts/alert_engine.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/test_support.h"

using namespace yiban;
using edge::alerts::AlertEngine;
using edge::alerts::Condition;

namespace {

constexpr std::int64_t kT0 = 1795654800000LL;
constexpr int kDay = 20261126;

struct Hall {
  test::TempDir dir;
  protocol::HallConfig config;
  std::unique_ptr<edge::store::EdgeStore> store;
  std::unique_ptr<AlertEngine> alerts;

  Hall() {
    auto j = nlohmann::json::parse(test::read_file(test::write_test_hall_config(dir.path())));
    j["alerts"] = {{"hold_s", 30}, {"clear_s", 60}, {"help_unanswered_s", 120}, {"rating_ack_s", 3600},
                   {"rating_resolve_s", 86400}};
    config = *protocol::parse_hall_config(j.dump());
    store = std::move(*edge::store::EdgeStore::open((dir / "edge.db").string(), "test-hall"));
    reopen();
  }
  void reopen() {
    alerts = std::make_unique<AlertEngine>(config, *store);
    REQUIRE(alerts->load());
  }
  int evaluate(bool holds, std::int64_t now) {
    REQUIRE(store->begin());
    auto r = alerts->evaluate({Condition{"long_queue", "A", holds, "社保医保(A)排队30人"}}, kDay, now);
    REQUIRE(store->commit());
    REQUIRE(r);
    return *r;
  }
  template <class F>
  auto tx(F f) {
    REQUIRE(store->begin());
    auto r = f(*alerts);
    REQUIRE(store->commit());
    return r;
  }
  long long events(const std::string& type) {
    long long n = 0;
    auto stored = store->read_events(0, 100000);
    for (const auto& e : *stored) n += nlohmann::json::parse(e.text)["type"] == type;
    return n;
  }
};

}  // namespace

TEST_CASE("a condition raises only after holding hold_s and resolves after clear_s", "[edge][alerts]") {
  Hall h;
  CHECK(h.evaluate(true, kT0) == 0);
  CHECK(h.evaluate(true, kT0 + 29'000) == 0);
  CHECK(h.evaluate(true, kT0 + 30'000) == 1);
  REQUIRE(h.alerts->open().size() == 1);
  CHECK(h.alerts->open()[0].rule == "long_queue");
  CHECK(h.alerts->open()[0].severity == "warning");
  CHECK(h.evaluate(true, kT0 + 40'000) == 0);  // raised once
  CHECK(h.evaluate(false, kT0 + 50'000) == 0);
  CHECK(h.evaluate(false, kT0 + 109'000) == 0);
  CHECK(h.evaluate(false, kT0 + 110'000) == 1);
  CHECK(h.alerts->open().empty());
  CHECK(h.events("alert.raised") == 1);
  CHECK(h.events("alert.resolved") == 1);
}

TEST_CASE("a condition oscillating faster than hold_s never raises", "[edge][alerts]") {
  Hall h;
  for (int i = 0; i < 200; ++i) CHECK(h.evaluate(i % 2 == 0, kT0 + i * 20'000LL) == 0);
  CHECK(h.alerts->open().empty());
  CHECK(h.events("alert.raised") == 0);
}

TEST_CASE("a raised alert that flickers clear does not resolve before clear_s", "[edge][alerts]") {
  Hall h;
  h.evaluate(true, kT0);
  h.evaluate(true, kT0 + 30'000);
  for (int i = 0; i < 20; ++i) h.evaluate(i % 2 == 0 ? false : true, kT0 + 40'000 + i * 30'000LL);
  CHECK(h.alerts->open().size() == 1);
  CHECK(h.events("alert.resolved") == 0);
}

TEST_CASE("a condition alert resolved by hand comes back only after holding hold_s again", "[edge][alerts]") {
  Hall h;
  h.evaluate(true, kT0);
  h.evaluate(true, kT0 + 30'000);
  REQUIRE(h.alerts->open().size() == 1);
  std::string id = h.alerts->open()[0].id;
  REQUIRE(h.tx([&](AlertEngine& a) { return a.resolve(id, "manager", std::nullopt, kT0 + 31'000); }));
  CHECK(h.evaluate(true, kT0 + 32'000) == 0);
  CHECK(h.evaluate(true, kT0 + 60'000) == 0);
  CHECK(h.evaluate(true, kT0 + 61'000) == 1);
}

TEST_CASE("staff acknowledge and resolve alerts; every step is an event", "[edge][alerts]") {
  Hall h;
  auto id = h.tx([](AlertEngine& a) { return a.raise("help", "test-hall:20261126:H1", "kiosk-1求助：轮椅", kDay, kT0); });
  REQUIRE(id);
  CHECK(*id == "test-hall:20261126:AL1");
  auto acked = h.tx([&](AlertEngine& a) { return a.acknowledge(*id, "staff-1", kT0 + 1000); });
  REQUIRE(acked);
  CHECK(acked->state == "acknowledged");
  CHECK(acked->acked_by == "staff-1");
  h.reopen();  // survives a restart
  REQUIRE(h.alerts->open().size() == 1);
  CHECK(h.alerts->open()[0].state == "acknowledged");
  auto resolved = h.tx([&](AlertEngine& a) { return a.resolve(*id, "staff-1", "已协助", kT0 + 2000); });
  REQUIRE(resolved);
  CHECK(h.alerts->open().empty());
  auto again = h.tx([&](AlertEngine& a) { return a.resolve(*id, "staff-1", std::nullopt, kT0 + 3000); });
  REQUIRE_FALSE(again);
  CHECK(again.error().code == protocol::ErrorCode::kBadRequest);
  CHECK(h.events("alert.raised") == 1);
  CHECK(h.events("alert.acknowledged") == 1);
  CHECK(h.events("alert.resolved") == 1);
}

TEST_CASE("late follow-ups escalate to critical once", "[edge][alerts]") {
  Hall h;
  auto help = h.tx([](AlertEngine& a) { return a.raise("help", "h1", "求助", kDay, kT0); });
  auto rating = h.tx([](AlertEngine& a) { return a.raise("bad_rating", "t1", "差评", kDay, kT0); });
  REQUIRE(help);
  REQUIRE(rating);
  CHECK(*h.tx([](AlertEngine& a) { return a.escalate(kT0 + 119'000); }) == 0);
  CHECK(*h.tx([](AlertEngine& a) { return a.escalate(kT0 + 120'000); }) == 1);  // help unanswered 2 min
  CHECK(*h.tx([](AlertEngine& a) { return a.escalate(kT0 + 3'600'000); }) == 1);  // rating not acknowledged in 1 h
  CHECK(*h.tx([](AlertEngine& a) { return a.escalate(kT0 + 90'000'000); }) == 0);
  for (const auto& a : h.alerts->open()) CHECK(a.severity == "critical");
  CHECK(h.events("alert.escalated") == 2);
}

TEST_CASE("an acknowledged bad rating escalates only when not resolved within a day", "[edge][alerts]") {
  Hall h;
  auto rating = h.tx([](AlertEngine& a) { return a.raise("bad_rating", "t1", "差评", kDay, kT0); });
  REQUIRE(h.tx([&](AlertEngine& a) { return a.acknowledge(*rating, "manager", kT0 + 60'000); }));
  CHECK(*h.tx([](AlertEngine& a) { return a.escalate(kT0 + 7'200'000); }) == 0);
  CHECK(*h.tx([](AlertEngine& a) { return a.escalate(kT0 + 86'400'000); }) == 1);
}
