// Crash safety and hostile input against a real yiban-edge process.

#include <atomic>
#include <catch2/catch.hpp>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "support/edge_process.h"
#include "support/mosquitto_broker.h"
#include "support/mqtt_test_client.h"
#include "support/test_support.h"
#include "support/ticket_stream.h"
#include "yiban/protocol/chain.h"

using namespace yiban::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {


}  // namespace

TEST_CASE("after kill -9 of the edge every acknowledged ticket is kept, numbers gap-free",
          "[integration][edge][crash]") {
  TempDir dir;
  MosquittoBroker broker(dir.path());
  auto config = write_test_hall_config(dir.path());
  EdgeProcess edge(dir.path(), config, broker.uri());
  edge.start();
  std::vector<std::unique_ptr<TicketStream>> streams;
  for (int i = 0; i < 4; ++i)
    streams.push_back(std::make_unique<TicketStream>(broker.uri(), "stream-" + std::to_string(i),
                                                     i % 2 ? "kiosk-1" : "kiosk-2"));
  auto total = [&] {
    std::size_t n = 0;
    for (auto& s : streams) n += s->ok_count();
    return n;
  };
  for (int round = 1; round <= 2; ++round) {
    std::size_t before = total();
    REQUIRE(eventually([&] { return total() >= before + 150; }, 30s));
    edge.kill9();  // mid-stream: requests are in flight
    edge.start();
  }
  std::size_t before = total();
  REQUIRE(eventually([&] { return total() >= before + 50; }, 30s));
  for (auto& s : streams) s->finish();
  REQUIRE(eventually([&] { return std::all_of(streams.begin(), streams.end(), [](auto& s) { return s->drained(); }); },
                     30s));
  std::set<std::string> acknowledged;
  for (auto& s : streams) {
    s->stop();
    auto t = s->tickets();
    acknowledged.insert(t.begin(), t.end());
  }
  REQUIRE(edge.terminate() == 0);

  auto stored = query_strings(edge.db(), "SELECT id FROM tickets ORDER BY rowid");
  std::set<std::string> stored_set(stored.begin(), stored.end());
  CHECK(stored_set.size() == stored.size());
  // Every ok a kiosk got is in the store, and every stored ticket reached its kiosk.
  CHECK(stored_set == acknowledged);
  auto numbers = query_strings(edge.db(), "SELECT number FROM tickets WHERE service = 'A' ORDER BY rowid");
  for (std::size_t i = 0; i < numbers.size(); ++i) {
    char expected[32];
    std::snprintf(expected, sizeof expected, "A%03zu", i + 1);
    REQUIRE(numbers[i] == expected);
  }
  CHECK(query_int(edge.db(), "SELECT count(*) FROM events WHERE type = 'ticket.issued'") ==
        static_cast<long long>(stored.size()));
  CHECK(query_strings(edge.db(), "PRAGMA integrity_check") == std::vector<std::string>{"ok"});
  CHECK(chain_verifies(edge.db()));
}

TEST_CASE("a storm of 50,000 malformed messages leaves the edge up and the hall unchanged",
          "[integration][edge][storm]") {
  TempDir dir;
  MosquittoBroker broker(dir.path());
  auto config = write_test_hall_config(dir.path());
  EdgeProcess edge(dir.path(), config, broker.uri());
  edge.start();
  MqttTestClient client(broker.uri(), "storm");
  REQUIRE(reply_ok(*client.request(kHall, "counter-1", "counter.open", "{}")));
  long long events_before = query_int(edge.db(), "SELECT count(*) FROM events");

  std::mt19937 rng(20261126);
  auto pick = [&](auto const& items) { return items[std::uniform_int_distribution<std::size_t>(0, items.size() - 1)(rng)]; };
  auto random_bytes = [&](std::size_t n) {
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng));
    if (s[0] == '{' || s[0] == ' ' || s[0] == '\t' || s[0] == '\n' || s[0] == '\r') s[0] = 'x';
    return s;
  };
  const std::vector<std::string> devices{"kiosk-1", "kiosk-2", "counter-1", "counter-2", "rating-1", "display-1",
                                         "nobody", "UPPER", "a/b", "\xe4\xb8\xad"};
  const std::vector<std::string> ops{"ticket.take", "counter.call_next", "counter.open", "counter.close",
                                     "counter.transfer", "rating.submit", "help.request", "appointment.checkin",
                                     "counter.finish", "x", "ticket.take/extra"};
  const std::vector<std::string> bad_json{
      R"({"service":)", R"({"service":"A")", R"([])", R"("A")", "42", "null", R"({"service":"A"}})",
      R"({"service":"A",})", "\xff\xfe{}", R"({"service":"a"})", R"({"service":"ABC"})", R"({"service":1})",
      R"({"service":"A","class":"VIP"})", R"({"service":"A","phone":"12ab"})", R"({"service":"A","x":1})",
      R"({"score":9})", R"({"score":"5"})", R"({"need":""})", R"({"code":"!"})", R"({"service":"A","counter":"1"})",
      R"({"counter":"../1"})", R"({"service":null})", R"({"a":{"b":{"c":[1,2,3]}}})", R"({"service":"Z"})",
      "{\"need\":\"\xe4\xb8\"}", R"({"service":"A","class":"elderly","phone":"+"})"};
  const std::vector<std::string> statuses{R"({"state":"maybe"})", R"({"state":1})", "online", R"({})", "\x80\x81",
                                          R"({"state":"ONLINE"})", "[]"};
  const std::string root = std::string("yiban/v1/") + kHall;
  const int kMessages = 50000;
  int requests_to_known_ops = 0;
  for (int i = 0; i < kMessages; ++i) {
    int kind = std::uniform_int_distribution<int>(0, 9)(rng);
    std::string device = pick(devices);
    std::optional<std::string> response;
    std::optional<std::string> corr;
    if (rng() % 3 == 0) corr = random_bytes(1 + rng() % 16);
    // Topics must be valid UTF-8 without wildcards, or the broker drops the
    // sender: such messages never reach the edge.
    if (rng() % 4 == 0) response = pick(std::vector<std::string>{root + "/board/calls", root + "/catalog", "yiban/v1/x"});
    std::string topic;
    std::string payload;
    if (kind <= 3) {
      topic = root + "/devices/" + device + "/req/" + pick(ops);
      payload = random_bytes(1 + rng() % 300);
    } else if (kind <= 6) {
      topic = root + "/devices/" + device + "/req/" + pick(ops);
      payload = pick(bad_json);
    } else if (kind == 7) {
      topic = root + "/devices/" + device + "/status";
      payload = pick(statuses);
    } else if (kind == 8) {
      topic = root + "/";
      for (std::size_t k = 1 + rng() % 30; k > 0; --k) topic += static_cast<char>(0x21 + rng() % 0x5e);
      for (auto& c : topic) {
        if (c == '+' || c == '#') c = '/';
      }
      payload = random_bytes(1 + rng() % 50);
    } else {
      topic = root + "/devices/" + device + "/req/ticket.take";
      payload = std::string(17 * 1024, ' ') + R"({"service":"A"})";  // over the 16 KiB limit
    }
    if (topic.find("/req/") != std::string::npos) ++requests_to_known_ops;
    try {
      client.publish(topic, payload, i % 2, false, response, corr);
    } catch (const std::exception&) {
      // Paho refuses some topics (invalid UTF-8): that is the client's business.
    }
  }
  // Published after the storm on the same connection, so answered after it.
  auto last = client.request(kHall, "kiosk-1", "ticket.take", R"({"service":"A"})", 120s);
  REQUIRE(last);
  CHECK(reply_ok(*last));
  CHECK(edge.running());
  CHECK(requests_to_known_ops > 30000);
  CHECK(query_int(edge.db(), "SELECT count(*) FROM events") == events_before + 1);
  CHECK(query_int(edge.db(), "SELECT count(*) FROM tickets") == 1);
  CHECK(query_int(edge.db(), "SELECT count(*) FROM events WHERE type LIKE 'device.%'") == 0);
  CHECK(edge.terminate() == 0);
}
