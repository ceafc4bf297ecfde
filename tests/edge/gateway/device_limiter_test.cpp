// Per-device limits (hall config "limits"): the token bucket, the limiter's
// verdicts and accounting, and what the request handler does with them.

#include "gateway/device_limiter.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "gateway/request_handler.h"
#include "gateway/token_bucket.h"
#include "support/edge_process.h"
#include "support/test_support.h"
#include "yiban/protocol/time_zone.h"

using namespace yiban;
using edge::gateway::DeviceLimiter;
using edge::gateway::InboundMessage;
using edge::gateway::RequestHandler;
using edge::gateway::TokenBucket;

namespace {

constexpr std::int64_t kMorning = 1795654800000LL;  // 2026-11-26 09:00 Asia/Shanghai

protocol::HallConfig hall_with_defaults(const test::TempDir& dir) {
  auto parsed = protocol::load_hall_config(test::write_test_hall_config(dir.path()));
  REQUIRE(parsed);
  parsed->limits = protocol::LimitsConfig{};  // the fixture raises them for load tests
  return *parsed;
}

// Takes from the bucket until it refuses; how many it gave.
int drain(TokenBucket& bucket, std::int64_t now) {
  int n = 0;
  while (bucket.take(now) && n < 1000000) ++n;
  return n;
}

}  // namespace

TEST_CASE("a token bucket gives its burst at once, then its rate", "[edge][gateway][limits]") {
  TokenBucket bucket(10, 40);
  CHECK(drain(bucket, 1000) == 40);
  CHECK_FALSE(bucket.take(1000));
  CHECK_FALSE(bucket.take(1099));  // 0.99 tokens
  CHECK(bucket.take(1100));
  CHECK_FALSE(bucket.take(1100));
  CHECK(drain(bucket, 2100) == 10);  // one second later: ten
  CHECK(drain(bucket, 1'000'000) == 40);  // a long quiet spell refills only to the burst
}

TEST_CASE("a token bucket grants nothing for a clock that steps back", "[edge][gateway][limits]") {
  TokenBucket bucket(10, 5);
  CHECK(drain(bucket, 10'000) == 5);
  CHECK_FALSE(bucket.take(5'000));  // back five seconds: nothing refilled
  CHECK_FALSE(bucket.take(5'050));
  CHECK(bucket.take(5'100));  // time runs on from there
}

TEST_CASE("a token bucket with rate 0 never refuses", "[edge][gateway][limits]") {
  TokenBucket bucket(0, 1);
  for (int i = 0; i < 10000; ++i) REQUIRE(bucket.take(1));
}

TEST_CASE("a token bucket reconfigured keeps its tokens within the new burst", "[edge][gateway][limits]") {
  TokenBucket bucket(10, 100);
  CHECK(bucket.take(0));
  bucket.configure(1, 3);
  CHECK(drain(bucket, 0) == 3);
  CHECK_FALSE(bucket.ready(999));
  CHECK(bucket.ready(1001));
}

TEST_CASE("the limiter limits each device on its own and replies at most once a second", "[edge][gateway][limits]") {
  test::TempDir dir;
  auto config = hall_with_defaults(dir);
  DeviceLimiter limiter(config);
  bool reply = false;
  const int burst = config.limits.request_burst;
  for (int i = 0; i < burst; ++i) REQUIRE(limiter.admit_request("kiosk-1", kMorning, reply));
  // One second of flood at 1000 requests/s: the rate (10/s) gets through,
  // and one "rate limit" reply.
  int admitted = 0;
  int replies = 0;
  for (int i = 0; i < 1000; ++i) {
    if (limiter.admit_request("kiosk-1", kMorning + i, reply)) ++admitted;
    else replies += reply ? 1 : 0;
  }
  CHECK(admitted >= 8);
  CHECK(admitted <= 10);
  CHECK(replies == 1);
  // The other kiosk is untouched by kiosk-1's flood.
  for (int i = 0; i < burst; ++i) REQUIRE(limiter.admit_request("kiosk-2", kMorning + 999, reply));
  CHECK(limiter.counters().requests_limited == static_cast<std::uint64_t>(1000 - admitted));
  CHECK(limiter.counters().limited_replies == 1);
  CHECK(limiter.device_totals("kiosk-1").limited == limiter.counters().requests_limited);
  CHECK(limiter.device_totals("kiosk-2").limited == 0);
  // A second later kiosk-1 gets its rate again, and one more "rate limit" reply.
  int later = 0;
  for (int i = 0; i < 100; ++i) later += limiter.admit_request("kiosk-1", kMorning + 2000, reply) ? 1 : 0;
  CHECK(later >= config.limits.requests_per_s);
  CHECK(later <= config.limits.requests_per_s + 1);
  CHECK(limiter.counters().limited_replies == 2);
}

TEST_CASE("the limiter's defaults never touch a busy kiosk or counter", "[edge][gateway][limits]") {
  test::TempDir dir;
  auto config = hall_with_defaults(dir);
  DeviceLimiter limiter(config);
  bool reply = false;
  // A counter working flat out (call, start, finish every 2 s) and a kiosk
  // issuing a ticket a second for an hour, with a burst of 20 at opening.
  for (int i = 0; i < 20; ++i) REQUIRE(limiter.admit_request("kiosk-1", kMorning, reply));
  for (std::int64_t t = 0; t < 3'600'000; t += 1000) {
    REQUIRE(limiter.admit_request("kiosk-1", kMorning + t, reply));
    if (t % 2000 == 0)
      for (int k = 0; k < 3; ++k) REQUIRE(limiter.admit_request("counter-1", kMorning + t, reply));
  }
  // A device reconnecting a few times in a row.
  for (int i = 0; i < 6; ++i) REQUIRE(limiter.admit_status("counter-1", kMorning + i * 1000));
  CHECK(limiter.counters().requests_limited == 0);
  CHECK(limiter.counters().status_changes_deferred == 0);
}

TEST_CASE("the limiter holds presence flips over the rate and counts them", "[edge][gateway][limits]") {
  test::TempDir dir;
  auto config = hall_with_defaults(dir);
  DeviceLimiter limiter(config);
  for (int i = 0; i < config.limits.status_burst; ++i) REQUIRE(limiter.admit_status("display-1", kMorning));
  CHECK_FALSE(limiter.admit_status("display-1", kMorning));
  CHECK_FALSE(limiter.status_ready("display-1", kMorning + 1000));
  const std::int64_t one_token_ms = 60'000 / config.limits.status_changes_per_min;
  CHECK(limiter.status_ready("display-1", kMorning + one_token_ms));
  CHECK(limiter.admit_status("display-1", kMorning + one_token_ms));
  CHECK(limiter.counters().status_changes_deferred == 1);
}

TEST_CASE("devices not in the hall config share one entry", "[edge][gateway][limits]") {
  test::TempDir dir;
  auto config = hall_with_defaults(dir);
  DeviceLimiter limiter(config);
  int answered = 0;
  for (int i = 0; i < 10000; ++i) answered += limiter.answer_refusal("ghost-" + std::to_string(i), kMorning) ? 1 : 0;
  CHECK(answered == std::max(config.limits.request_burst, DeviceLimiter::kMinRefusalsPerS));
  CHECK(limiter.answer_refusal("kiosk-1", kMorning));  // a real device has its own budget
  CHECK(limiter.counters().refusals_unanswered == 10000u - static_cast<unsigned>(answered));
}

TEST_CASE("the limiter says when to log: once per device per minute", "[edge][gateway][limits]") {
  test::TempDir dir;
  auto config = hall_with_defaults(dir);
  DeviceLimiter limiter(config);
  CHECK(limiter.should_log("kiosk-1", kMorning));
  CHECK_FALSE(limiter.should_log("kiosk-1", kMorning + 59'999));
  CHECK(limiter.should_log("kiosk-2", kMorning + 1));
  CHECK(limiter.should_log("kiosk-1", kMorning + 60'000));
}

TEST_CASE("hall config limits: defaults, ranges and 0 for no request limit", "[edge][gateway][limits]") {
  test::TempDir dir;
  auto text = nlohmann::json::parse(test::read_file(test::write_test_hall_config(dir.path())));
  text.erase("limits");
  auto plain = protocol::parse_hall_config(text.dump());
  REQUIRE(plain);
  CHECK(plain->limits.requests_per_s == 10);
  CHECK(plain->limits.request_burst == 40);
  CHECK(plain->limits.status_changes_per_min == 20);
  CHECK(plain->limits.status_burst == 10);
  text["limits"] = {{"requests_per_s", 0}};
  auto off = protocol::parse_hall_config(text.dump());
  REQUIRE(off);
  DeviceLimiter limiter(*off);
  bool reply = false;
  for (int i = 0; i < 100000; ++i) REQUIRE(limiter.admit_request("kiosk-1", kMorning, reply));
  text["limits"] = {{"request_burst", 0}};
  auto bad = protocol::parse_hall_config(text.dump());
  REQUIRE_FALSE(bad);
  CHECK_THAT(bad.error().message, Catch::Contains("limits.request_burst"));
  text["limits"] = {{"per_hour", 3}};
  REQUIRE_FALSE(protocol::parse_hall_config(text.dump()));
}

namespace {

struct Harness {
  test::TempDir dir;
  protocol::HallConfig config;
  protocol::Topics topics{"test-hall"};
  std::unique_ptr<edge::store::EdgeStore> store;
  std::unique_ptr<edge::queue::QueueEngine> engine;
  std::unique_ptr<edge::alerts::AlertEngine> alerts;
  std::unique_ptr<DeviceLimiter> limiter;
  std::unique_ptr<RequestHandler> handler;
  int next_correlation = 0;

  Harness() {
    config = hall_with_defaults(dir);
    auto opened = edge::store::EdgeStore::open((dir / "edge.db").string(), "test-hall");
    REQUIRE(opened);
    store = std::move(*opened);
    engine = std::make_unique<edge::queue::QueueEngine>(config, *protocol::TimeZone::load("Asia/Shanghai"), *store);
    REQUIRE(engine->load());
    alerts = std::make_unique<edge::alerts::AlertEngine>(engine->config(), *store);
    REQUIRE(alerts->load());
    handler = std::make_unique<RequestHandler>(engine->config(), topics, *store, *engine, *alerts);
    limiter = std::make_unique<DeviceLimiter>(engine->config());
    handler->set_limiter(limiter.get());
  }

  RequestHandler::Handled send(const std::string& device, const std::string& op, const std::string& payload,
                               std::int64_t now = kMorning) {
    InboundMessage m;
    m.topic = topics.device_request(device, op);
    m.payload = payload;
    m.correlation = "c" + std::to_string(++next_correlation);
    auto topic = protocol::parse_device_topic("test-hall", m.topic);
    REQUIRE(topic);
    REQUIRE(store->begin());
    auto handled = handler->handle(*topic, m, now);
    REQUIRE(store->commit());
    return handled;
  }
  long long tickets() { return test::query_int(dir / "edge.db", "SELECT count(*) FROM tickets"); }
  long long events() { return test::query_int(dir / "edge.db", "SELECT count(*) FROM events"); }
};

}  // namespace

TEST_CASE("a request over the device's rate records nothing and is refused bad_request \"rate limit\"",
          "[edge][gateway][limits]") {
  Harness h;
  const int burst = h.config.limits.request_burst;
  for (int i = 0; i < burst; ++i) REQUIRE(h.send("kiosk-1", "ticket.take", R"({"service":"A"})").wrote);
  const long long events = h.events();
  auto first = h.send("kiosk-1", "ticket.take", R"({"service":"A"})");
  CHECK(first.limited);
  CHECK_FALSE(first.wrote);
  CHECK(first.answer);
  auto reply = nlohmann::json::parse(first.reply.payload);
  CHECK(reply["ok"] == false);
  CHECK(reply["error"]["code"] == "bad_request");
  CHECK_THAT(reply["error"]["message"].get<std::string>(), Catch::StartsWith("rate limit"));
  auto second = h.send("kiosk-1", "ticket.take", R"({"service":"A"})", kMorning + 10);
  CHECK(second.limited);
  CHECK_FALSE(second.answer);  // the next "rate limit" reply a second later
  CHECK(h.tickets() == burst);
  CHECK(h.events() == events);
  // Another kiosk is served meanwhile.
  CHECK(h.send("kiosk-2", "ticket.take", R"({"service":"A"})", kMorning + 20).wrote);
}

TEST_CASE("malformed requests do not use up a device's request rate, and only a budget of them is answered",
          "[edge][gateway][limits]") {
  Harness h;
  int answered = 0;
  for (int i = 0; i < 1000; ++i) answered += h.send("kiosk-1", "ticket.take", R"({"service":)").answer ? 1 : 0;
  CHECK(answered < 1000);
  CHECK(answered >= DeviceLimiter::kMinRefusalsPerS);
  CHECK(h.limiter->counters().refusals_unanswered == static_cast<std::uint64_t>(1000 - answered));
  // The kiosk's valid requests still go through: garbage did not spend them.
  auto taken = h.send("kiosk-1", "ticket.take", R"({"service":"A"})");
  CHECK(taken.wrote);
  CHECK(nlohmann::json::parse(taken.reply.payload)["ok"] == true);
}

TEST_CASE("an oversize request is answered bad_json without its payload", "[edge][gateway][limits]") {
  Harness h;
  InboundMessage m;
  m.topic = h.topics.device_request("kiosk-1", "ticket.take");
  m.oversize_bytes = 20000;
  auto topic = protocol::parse_device_topic("test-hall", m.topic);
  REQUIRE(topic);
  REQUIRE(h.store->begin());
  auto handled = h.handler->handle(*topic, m, kMorning);
  REQUIRE(h.store->commit());
  CHECK(nlohmann::json::parse(handled.reply.payload)["error"]["code"] == "bad_json");
  CHECK_THAT(handled.reply.payload, Catch::Contains("20000 bytes"));
  CHECK(h.tickets() == 0);
}
