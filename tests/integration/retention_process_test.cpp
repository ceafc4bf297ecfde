// Retention (issue 15 part 3) in a real yiban-edge: with a short period it
// purges old rows while it keeps answering devices.

#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "store/edge_store.h"
#include "support/central_process.h"
#include "support/edge_process.h"
#include "support/mosquitto_broker.h"
#include "support/mqtt_test_client.h"
#include "support/test_support.h"

using namespace yiban::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Old raw samples and an old ticket with a phone number, written as a
// second writer next to the running edge (WAL: it waits for the lock).
void add_old_rows(const std::filesystem::path& db, int samples, const std::string& ticket) {
  auto store = yiban::edge::store::EdgeStore::open(db.string(), "test-hall");
  REQUIRE(store);
  auto& s = **store;
  const std::int64_t old = now_ms() - 3 * 86400000LL;
  REQUIRE(s.begin());
  for (int i = 0; i < samples; ++i) REQUIRE(s.insert_sample("door-1", old + i, old + i, R"({"people_in":1})"));
  yiban::edge::store::TicketRow t;
  t.id = ticket;
  t.day = 20200101;
  t.number = "A001";
  t.service = "A";
  t.phone = "13800138000";
  t.state = yiban::edge::store::TicketState::kCompleted;
  REQUIRE(s.insert_ticket(t));
  REQUIRE(s.save_reply("kiosk-1", "old-" + ticket, "ticket.take", R"({"ok":true})", old));
  REQUIRE(s.commit());
}

}  // namespace

TEST_CASE("a yiban-edge with a short retention period purges old rows while it serves",
          "[integration][edge][retention]") {
  TempDir dir;
  MosquittoBroker broker(dir.path());
  auto config = dir / "hall.json";
  {
    auto j = json::parse(read_file(write_test_hall_config(dir.path())));
    j["devices"].push_back({{"id", "door-1"}, {"kind", "people_counter"}});
    j["retention"] = {{"telemetry_days", 1}, {"personal_days", 1}, {"replies_h", 1}, {"period_s", 10},
                      {"batch_rows", 1000}};
    std::ofstream(config) << j.dump();
  }
  // Before the first start: a backlog bigger than one batch.
  add_old_rows(dir / "edge.db", 4500, "test-hall:20200101:A001");
  const int port = free_tcp_port();
  std::ofstream(dir / "tokens.txt") << kViewerToken << " viewer\n";
  EdgeProcess edge(dir.path(), config, broker.uri(),
                   {"--http", "127.0.0.1:" + std::to_string(port), "--tokens", (dir / "tokens.txt").string()});
  edge.start();
  // The first run starts at once; its steps are spread over the engine's ticks.
  REQUIRE(eventually([&] { return edge.log_text().find("retention: removed telemetry samples 4500, replies 1") !=
                                  std::string::npos; },
                     10s));
  CHECK(edge.log_text().find("ticket phones 1") != std::string::npos);
  CHECK(query_int(edge.db(), "SELECT count(*) FROM telemetry") == 0);
  CHECK(query_int(edge.db(), "SELECT count(*) FROM tickets WHERE phone IS NOT NULL") == 0);
  CHECK(query_int(edge.db(), "SELECT count(*) FROM requests WHERE ts < " + std::to_string(now_ms() - 86400000)) == 0);

  // While tickets are taken, more old rows appear; the next run removes
  // them, and every request meanwhile is answered.
  MqttTestClient kiosk(broker.uri(), "kiosk-1");
  auto first = kiosk.request("test-hall", "kiosk-1", "ticket.take", R"({"service":"A","phone":"13900139000"})");
  REQUIRE(first);
  REQUIRE(json::parse(*first)["ok"] == true);
  add_old_rows(edge.db(), 2500, "test-hall:20200102:A001");
  int answered = 0;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  auto second_run = [&] { return edge.log_text().find("retention: removed telemetry samples 2500") != std::string::npos; };
  while (!second_run() && std::chrono::steady_clock::now() < deadline) {
    auto r = kiosk.request("test-hall", "kiosk-1", "ticket.take", R"({"service":"A"})", 5s);
    REQUIRE(r);
    CHECK(json::parse(*r)["ok"] == true);
    ++answered;
  }
  REQUIRE(second_run());
  CHECK(query_int(edge.db(), "SELECT count(*) FROM telemetry") == 0);
  CHECK(answered > 0);
  // Today's phone number stays (it is inside its window); the old one went.
  CHECK(query_int(edge.db(), "SELECT count(*) FROM tickets WHERE phone IS NOT NULL") == 1);
  auto metrics = http_request(port, "GET", "/metrics", "", kViewerToken);
  REQUIRE(metrics.status == 200);
  CHECK(metrics.body.find("yiban_edge_retention_removed_total{kind=\"telemetry\"} 7000") != std::string::npos);
  CHECK(metrics.body.find("yiban_edge_retention_removed_total{kind=\"ticket_phones\"} 2") != std::string::npos);
  CHECK(metrics.body.find("yiban_edge_retention_runs_total") != std::string::npos);
  CHECK(edge.terminate() == 0);
}
