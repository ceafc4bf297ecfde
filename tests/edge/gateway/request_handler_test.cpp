#include "gateway/request_handler.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/edge_process.h"
#include "support/test_support.h"
#include "yiban/protocol/time_zone.h"

using namespace yiban;
using edge::gateway::InboundMessage;
using edge::gateway::RequestHandler;

namespace {

constexpr std::int64_t kMorning = 1795654800000LL;  // 2026-11-26 09:00 Asia/Shanghai

struct Harness {
  test::TempDir dir;
  protocol::HallConfig config;
  protocol::Topics topics{"test-hall"};
  std::unique_ptr<edge::store::EdgeStore> store;
  std::unique_ptr<edge::queue::QueueEngine> engine;
  std::unique_ptr<edge::alerts::AlertEngine> alerts;
  std::unique_ptr<RequestHandler> handler;

  Harness() {
    auto parsed = protocol::load_hall_config(test::write_test_hall_config(dir.path()));
    REQUIRE(parsed);
    config = *parsed;
    auto opened = edge::store::EdgeStore::open((dir / "edge.db").string(), "test-hall");
    REQUIRE(opened);
    store = std::move(*opened);
    engine = std::make_unique<edge::queue::QueueEngine>(config, *protocol::TimeZone::load("Asia/Shanghai"), *store);
    REQUIRE(engine->load());
    alerts = std::make_unique<edge::alerts::AlertEngine>(engine->config(), *store);
    REQUIRE(alerts->load());
    handler = std::make_unique<RequestHandler>(engine->config(), topics, *store, *engine, *alerts);
  }

  RequestHandler::Handled send(const std::string& device, const std::string& op, const std::string& payload,
                               std::optional<std::string> correlation = std::nullopt,
                               std::optional<std::string> response_topic = std::nullopt) {
    InboundMessage m{topics.device_request(device, op), payload, response_topic, correlation, false};
    auto topic = protocol::parse_device_topic("test-hall", m.topic);
    REQUIRE(topic);
    REQUIRE(store->begin());
    auto handled = handler->handle(*topic, m, kMorning);
    REQUIRE(store->commit());
    return handled;
  }

  long long tickets() { return test::query_int(dir / "edge.db", "SELECT count(*) FROM tickets"); }
};

std::string code_of(const std::string& payload) {
  return nlohmann::json::parse(payload)["error"]["code"].get<std::string>();
}

}  // namespace

TEST_CASE("the device in the topic decides who asks and what it may do", "[edge][gateway]") {
  Harness h;
  CHECK(code_of(h.send("kiosk-9", "ticket.take", R"({"service":"A"})").reply.payload) == "unknown_device");
  CHECK(code_of(h.send("kiosk-1", "counter.open", "{}").reply.payload) == "not_allowed");
  CHECK(code_of(h.send("rating-1", "ticket.take", R"({"service":"A"})").reply.payload) == "not_allowed");
  CHECK(code_of(h.send("display-1", "help.request", R"({"need":"x"})").reply.payload) == "not_allowed");
  auto opened = h.send("counter-2", "counter.open", "{}");
  CHECK(nlohmann::json::parse(opened.reply.payload)["counter"]["id"] == "2");
  CHECK(h.tickets() == 0);
}

TEST_CASE("a retry with the same correlation data gets the same bytes and is applied once", "[edge][gateway]") {
  Harness h;
  auto first = h.send("kiosk-1", "ticket.take", R"({"service":"A"})", std::string("abc\0def", 7));
  auto again = h.send("kiosk-1", "ticket.take", R"({"service":"A"})", std::string("abc\0def", 7));
  CHECK(first.reply.payload == again.reply.payload);
  CHECK(again.reply.correlation == std::string("abc\0def", 7));
  CHECK(h.tickets() == 1);
  // The same correlation data from another device is another request.
  auto other = h.send("kiosk-2", "ticket.take", R"({"service":"A"})", std::string("abc\0def", 7));
  CHECK(nlohmann::json::parse(other.reply.payload)["ticket"]["number"] == "A002");
  // Refusals are recorded too: the retry of a refused request is refused identically.
  auto refused = h.send("counter-1", "counter.call_next", "{}", std::string("r1"));
  h.send("counter-1", "counter.open", "{}");
  auto refused_again = h.send("counter-1", "counter.call_next", "{}", std::string("r1"));
  CHECK(code_of(refused.reply.payload) == "counter_closed");
  CHECK(refused_again.reply.payload == refused.reply.payload);
}

TEST_CASE("without correlation data every request is new", "[edge][gateway]") {
  Harness h;
  h.send("kiosk-1", "ticket.take", R"({"service":"A"})");
  h.send("kiosk-1", "ticket.take", R"({"service":"A"})");
  CHECK(h.tickets() == 2);
  CHECK(test::query_int(h.dir / "edge.db", "SELECT count(*) FROM requests") == 0);
}

TEST_CASE("replies go to the requested topic only under the device's subtree or outside yiban/",
          "[edge][gateway]") {
  Harness h;
  auto own = h.send("kiosk-1", "ticket.take", R"({"service":"A"})", std::nullopt,
                    std::string("yiban/v1/test-hall/devices/kiosk-1/res/42"));
  CHECK(own.reply.topic == "yiban/v1/test-hall/devices/kiosk-1/res/42");
  auto outside = h.send("kiosk-1", "ticket.take", R"({"service":"A"})", std::nullopt, std::string("rr/reply"));
  CHECK(outside.reply.topic == "rr/reply");
  auto none = h.send("kiosk-1", "ticket.take", R"({"service":"A"})");
  CHECK(none.reply.topic == "yiban/v1/test-hall/devices/kiosk-1/res");
  for (std::string bad : {"yiban/v1/test-hall/board/calls", "yiban/v1/test-hall/devices/kiosk-2/res",
                          "yiban/v1/other-hall/devices/kiosk-1/res", "a/+/b", "$SYS/x"}) {
    auto refused = h.send("kiosk-1", "ticket.take", R"({"service":"A"})", std::nullopt, bad);
    INFO(bad);
    CHECK(refused.reply.topic == "yiban/v1/test-hall/devices/kiosk-1/res");
    CHECK(code_of(refused.reply.payload) == "bad_request");
  }
  CHECK(h.tickets() == 3);
}

TEST_CASE("over-long correlation data is refused", "[edge][gateway]") {
  Harness h;
  auto r = h.send("kiosk-1", "ticket.take", R"({"service":"A"})", std::string(257, 'c'));
  CHECK(code_of(r.reply.payload) == "bad_request");
  CHECK(h.tickets() == 0);
}
