#include "gateway/board_publisher.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/fake_device_bus.h"
#include "support/test_support.h"
#include "yiban/protocol/time_zone.h"

using namespace yiban;
using edge::gateway::BoardPublisher;

namespace {

constexpr std::int64_t kMorning = 1795654800000LL;  // 2026-11-26 09:00 Asia/Shanghai

struct Harness {
  test::TempDir dir;
  std::unique_ptr<edge::store::EdgeStore> store;
  std::unique_ptr<edge::queue::QueueEngine> engine;
  protocol::Topics topics{"test-hall"};
  test::FakeDeviceBus bus;
  std::unique_ptr<BoardPublisher> boards;

  Harness() {
    auto config = protocol::load_hall_config(test::write_test_hall_config(dir.path()));
    REQUIRE(config);
    auto opened = edge::store::EdgeStore::open((dir / "edge.db").string(), "test-hall");
    REQUIRE(opened);
    store = std::move(*opened);
    engine = std::make_unique<edge::queue::QueueEngine>(*config, *protocol::TimeZone::load("Asia/Shanghai"), *store);
    REQUIRE(engine->load());
    (void)engine->take_changes();
    boards = std::make_unique<BoardPublisher>(topics, bus, *engine);
  }

  void take(std::int64_t now) {
    REQUIRE(store->begin());
    REQUIRE(engine->take_ticket({"A", {}, {}}, "kiosk-1", now));
    REQUIRE(store->commit());
    boards->apply(engine->take_changes(), now);
  }
};

int waiting_a(const std::string& payload) {
  return nlohmann::json::parse(payload)["queues"][0]["waiting"].get<int>();
}

}  // namespace

TEST_CASE("queue boards are coalesced to five a second and end in the true state", "[edge][gateway]") {
  Harness h;
  // 100 tickets over one second: one every 10 ms.
  for (int i = 0; i < 100; ++i) {
    std::int64_t now = kMorning + i * 10;
    h.take(now);
    h.boards->tick(now);
  }
  auto mid = h.bus.on("/board/queues");
  CHECK(mid.size() <= 5);
  CHECK(mid.size() >= 4);
  for (const auto& p : mid) CHECK(p.retain);
  // Nothing more changes; the next tick after the interval publishes the final state.
  std::int64_t wait = h.boards->tick(kMorning + 995);
  CHECK(wait > 0);
  h.boards->tick(kMorning + 995 + wait);
  auto all = h.bus.on("/board/queues");
  REQUIRE(all.size() == mid.size() + 1);
  CHECK(waiting_a(all.back().payload) == 100);
  CHECK(h.boards->tick(kMorning + 5000) == -1);  // nothing pending
  CHECK(h.bus.on("/board/queues").size() == all.size());
}

TEST_CASE("calls and announcements are published at once, in order", "[edge][gateway]") {
  Harness h;
  h.take(kMorning);
  h.take(kMorning + 1);
  REQUIRE(h.store->begin());
  REQUIRE(h.engine->open_counter("1", "counter-1", kMorning));
  REQUIRE(h.engine->call_next("1", "counter-1", kMorning + 2));
  REQUIRE(h.engine->finish("1", "counter-1", kMorning + 3));
  REQUIRE(h.engine->call_next("1", "counter-1", kMorning + 4));
  REQUIRE(h.store->commit());
  h.boards->apply(h.engine->take_changes(), kMorning + 5);
  auto announcements = h.bus.on("/board/announce");
  REQUIRE(announcements.size() == 2);
  CHECK(nlohmann::json::parse(announcements[0].payload)["number"] == "A001");
  CHECK(nlohmann::json::parse(announcements[1].payload)["number"] == "A002");
  CHECK_FALSE(announcements[0].retain);
  CHECK(announcements[0].qos == 1);
  auto calls = h.bus.on("/board/calls");
  REQUIRE_FALSE(calls.empty());
  CHECK(calls.back().retain);
  auto board = nlohmann::json::parse(calls.back().payload);
  REQUIRE(board.size() == 2);
  CHECK(board[0]["number"] == "A002");  // newest first
  CHECK(board[1]["number"] == "A001");
}

TEST_CASE("after a reconnect every retained board is published again", "[edge][gateway]") {
  Harness h;
  h.boards->republish_all(kMorning);
  for (std::string suffix : {"/board/calls", "/board/queues", "/catalog"}) {
    auto p = h.bus.on(suffix);
    INFO(suffix);
    REQUIRE(p.size() == 1);
    CHECK(p[0].retain);
  }
  auto catalog = nlohmann::json::parse(h.bus.on("/catalog")[0].payload);
  CHECK(catalog["services"][0]["code"] == "A");
  CHECK(catalog["services"][0]["name"] == "社保医保");
}
