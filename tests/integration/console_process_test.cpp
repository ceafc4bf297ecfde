// The hall manager's console API against a real yiban-edge (and, for the
// audit trail and alert actions from the city, a real yiban-central).

#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/central_process.h"
#include "support/edge_process.h"
#include "support/mosquitto_broker.h"
#include "support/mqtt_test_client.h"
#include "support/test_support.h"

using namespace yiban::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr const char* kOtherManager = "other-manager-token-0123456789";

struct Console {
  int port;
  HttpResponse call(const std::string& method, const std::string& path, const std::string& token,
                    const std::string& body = "") const {
    return http_request(port, method, path, body, token);
  }
};

std::filesystem::path write_tokens(const std::filesystem::path& dir) {
  auto path = dir / "edge-tokens.txt";
  std::ofstream out(path);
  out << kAdminToken << " admin\n"
      << kViewerToken << " viewer\n"
      << kHallManagerToken << " hall-manager test-hall\n"
      << kOtherManager << " hall-manager other-hall\n";
  return path;
}

}  // namespace

TEST_CASE("the console API: auth matrix, error bodies, paging, audit and the live stream",
          "[integration][console]") {
  TempDir dir;
  MosquittoBroker broker(dir.path());
  std::filesystem::create_directories(dir / "edge");
  auto config = write_test_hall_config(dir.path());
  int port = free_tcp_port();
  EdgeProcess edge(dir / "edge", config, broker.uri(),
                   {"--http", "127.0.0.1:" + std::to_string(port), "--tokens", write_tokens(dir.path()).string()});
  edge.start();
  Console console{port};
  REQUIRE(eventually([&] { return console.call("GET", "/healthz", "").status == 200; }, 10s));

  // Who may do what.
  const std::vector<std::string> reads{"/api/v1/hall",    "/api/v1/queues", "/api/v1/counters", "/api/v1/tickets",
                                       "/api/v1/devices", "/api/v1/alerts", "/api/v1/stats",    "/api/v1/whoami"};
  for (const auto& path : reads) {
    INFO(path);
    auto none = console.call("GET", path, "");
    CHECK(none.status == 401);
    CHECK(json::parse(none.body)["error"]["code"] == "unauthorized");
    CHECK(console.call("GET", path, "unknown-token-0123456789").status == 401);
    CHECK(console.call("GET", path, kOtherManager).status == 403);
    CHECK(console.call("GET", path, kViewerToken).status == 200);
    CHECK(console.call("GET", path, kHallManagerToken).status == 200);
    CHECK(console.call("GET", path, kAdminToken).status == 200);
  }
  auto viewer_change = console.call("POST", "/api/v1/counters/1/open", kViewerToken);
  CHECK(viewer_change.status == 403);
  CHECK(json::parse(viewer_change.body)["error"]["code"] == "forbidden");
  CHECK(console.call("POST", "/api/v1/counters/1/open", kOtherManager).status == 403);
  CHECK(console.call("POST", "/api/v1/counters/9/open", kHallManagerToken).status == 404);
  CHECK(console.call("PUT", "/api/v1/counters/1/services", kHallManagerToken, R"({"services":"A"})").status == 400);
  CHECK(console.call("PUT", "/api/v1/counters/1/services", kHallManagerToken, "{").status == 400);
  CHECK(console.call("GET", "/api/v1/tickets?limit=0", kViewerToken).status == 400);
  CHECK(console.call("GET", "/api/v1/tickets?state=gone", kViewerToken).status == 400);
  CHECK(console.call("GET", "/api/v1/nothing", kViewerToken).status == 404);
  CHECK(json::parse(console.call("GET", "/api/v1/whoami", kHallManagerToken).body)["mode"] == "hall");

  // The live stream: events arrive as they are committed.
  std::mutex mutex;
  std::string streamed;
  std::atomic<bool> stop_stream{false};
  std::thread reader([&] {
    auto client = http_client(port, 30s);
    yiban::runtime::HttpHeaders headers{{"Authorization", std::string("Bearer ") + kViewerToken}};
    client.stream(yiban::runtime::HttpMethod::kGet, "/api/v1/stream", headers, [&](std::string_view data) {
      std::lock_guard lock(mutex);
      streamed.append(data);
      return !stop_stream.load();
    });
  });
  REQUIRE(eventually([&] {
    std::lock_guard lock(mutex);
    return streamed.find("event: hello") != std::string::npos;
  }, 10s));

  MqttTestClient kiosk(broker.uri(), "console-kiosk");
  for (int i = 0; i < 7; ++i) REQUIRE(reply_ok(*kiosk.request(kHall, "kiosk-1", "ticket.take", R"({"service":"A"})")));
  CHECK(eventually([&] {
    std::lock_guard lock(mutex);
    return streamed.find("\"type\":\"ticket.issued\"") != std::string::npos;
  }, 2s));
  stop_stream = true;
  kiosk.request(kHall, "kiosk-1", "ticket.take", R"({"service":"B"})");  // wakes the stream so it ends
  reader.join();

  auto hall = json::parse(console.call("GET", "/api/v1/hall", kViewerToken).body);
  CHECK(hall["waiting"] == 8);
  CHECK(console.call("GET", "/metrics", "").status == 401);
  HttpResponse metrics;
  CHECK(eventually([&] {
    metrics = console.call("GET", "/metrics", kViewerToken);
    return metrics.body.find("yiban_edge_requests_answered_total 8") != std::string::npos;
  }, 2s));
  CHECK(metrics.status == 200);
  CHECK_THAT(metrics.body, Catch::Contains("yiban_edge_waiting{service=\"A\"} 7"));
  auto queues = json::parse(console.call("GET", "/api/v1/queues", kViewerToken).body)["queues"];
  CHECK(queues[0]["service"] == "A");
  CHECK(queues[0]["waiting"] == 7);

  // Paging through today's tickets, three at a time.
  std::vector<std::string> numbers;
  std::string after;
  for (int page = 0; page < 5; ++page) {
    auto r = json::parse(
        console.call("GET", "/api/v1/tickets?state=waiting&number=A&limit=3" + (after.empty() ? "" : "&after=" + after),
                     kViewerToken)
            .body);
    for (auto& t : r["tickets"]) numbers.push_back(t["number"]);
    if (r["next_after"].is_null()) break;
    after = std::to_string(r["next_after"].get<long long>());
  }
  CHECK(numbers == std::vector<std::string>{"A001", "A002", "A003", "A004", "A005", "A006", "A007"});

  // Changes: open a counter, change another's services; both audited.
  auto opened = console.call("POST", "/api/v1/counters/1/open", kHallManagerToken);
  REQUIRE(opened.status == 200);
  CHECK(json::parse(opened.body)["counter"]["state"] == "open");
  // Opening an open counter changes nothing (and records nothing); pausing a
  // closed one is refused as at a counter terminal.
  CHECK(console.call("POST", "/api/v1/counters/1/open", kHallManagerToken).status == 200);
  auto closed = console.call("POST", "/api/v1/counters/3/pause", kHallManagerToken);
  CHECK(closed.status == 409);
  CHECK(json::parse(closed.body)["error"]["code"] == "counter_closed");
  auto services =
      console.call("PUT", "/api/v1/counters/2/services", kAdminToken, R"({"services":["A","C"],"backup":["B"]})");
  REQUIRE(services.status == 200);
  CHECK(json::parse(services.body)["counter"]["services"] == json::array({"A", "C"}));
  auto refused = console.call("PUT", "/api/v1/counters/2/services", kAdminToken, R"({"services":["Z"]})");
  CHECK(refused.status == 409);
  auto audit = query_strings(edge.db(), "SELECT text FROM events WHERE type = 'action.performed' ORDER BY seq");
  REQUIRE(audit.size() == 2);
  CHECK_THAT(audit[0], Catch::Contains("\"by\":\"hall-manager:"));
  CHECK_THAT(audit[0], Catch::Contains("\"action\":\"counter.open\""));
  CHECK_THAT(audit[1], Catch::Contains("\"by\":\"admin:"));
  for (const auto& a : audit) CHECK(a.find(kHallManagerToken) == std::string::npos);
  CHECK(edge.log_text().find(kHallManagerToken) == std::string::npos);
  // The change survives a restart (central's and the console's changes live in the store).
  REQUIRE(edge.terminate() == 0);
  edge.start();
  REQUIRE(eventually([&] { return console.call("GET", "/healthz", "").status == 200; }, 10s));
  auto counters = json::parse(console.call("GET", "/api/v1/counters", kViewerToken).body)["counters"];
  CHECK(counters[1]["services"] == json::array({"A", "C"}));
  CHECK(counters[0]["state"] == "open");
  REQUIRE(edge.terminate() == 0);
}
