// Replication as processes: mosquitto, yiban-edge and yiban-central, each
// killed with SIGKILL at some point, and the logs compared at the end.

#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/central_process.h"
#include "support/edge_process.h"
#include "support/mosquitto_broker.h"
#include "support/mqtt_test_client.h"
#include "support/test_support.h"
#include "support/ticket_stream.h"

using namespace yiban::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {


long long central_count(const CentralProcess& c, const std::string& hall) {
  return query_int(c.db(), "SELECT count(*) FROM events WHERE hall = '" + hall + "'");
}

}  // namespace

TEST_CASE("edge and central each killed with SIGKILL mid-stream: central's log equals the edge's",
          "[integration][sync][crash]") {
  TempDir dir;
  std::filesystem::create_directories(dir / "edge");
  std::filesystem::create_directories(dir / "central");
  MosquittoBroker broker(dir.path());
  CentralProcess central(dir / "central", {kHall});
  central.start();
  auto config = write_test_hall_config(dir.path());
  EdgeProcess edge(dir / "edge", config, broker.uri(), central.edge_args(kHall));
  edge.start();

  std::vector<std::unique_ptr<TicketStream>> streams;
  for (int i = 0; i < 3; ++i)
    streams.push_back(std::make_unique<TicketStream>(broker.uri(), "sync-stream-" + std::to_string(i),
                                                     i % 2 ? "kiosk-1" : "kiosk-2"));
  auto total = [&] {
    std::size_t n = 0;
    for (auto& s : streams) n += s->ok_count();
    return n;
  };
  std::size_t mark = total();
  REQUIRE(eventually([&] { return total() >= mark + 100 && central_count(central, kHall) > 50; }, 30s));
  edge.kill9();  // events committed but maybe not yet sent or acknowledged
  edge.start();
  mark = total();
  REQUIRE(eventually([&] { return total() >= mark + 100; }, 30s));
  central.kill9();  // batches in flight, maybe mid-commit
  mark = total();
  REQUIRE(eventually([&] { return total() >= mark + 100; }, 30s));  // the hall does not notice
  central.start();
  mark = total();
  REQUIRE(eventually([&] { return total() >= mark + 50; }, 30s));
  for (auto& s : streams) s->finish();
  REQUIRE(eventually([&] { return std::all_of(streams.begin(), streams.end(), [](auto& s) { return s->drained(); }); },
                     30s));
  for (auto& s : streams) s->stop();
  long long edge_events = query_int(edge.db(), "SELECT count(*) FROM events");
  REQUIRE(eventually([&] { return central_count(central, kHall) == edge_events; }, 20s));
  REQUIRE(edge.terminate() == 0);
  require_same_log(edge.db(), edge.hall(), central);
  CHECK(chain_verifies(edge.db()));
  // Projections: tickets at central are the edge's tickets.
  CHECK(query_int(central.db(), "SELECT count(*) FROM tickets WHERE hall = 'test-hall'") ==
        query_int(edge.db(), "SELECT count(*) FROM tickets"));
  REQUIRE(central.terminate() == 0);

  // `yiban-central rebuild` recomputes the same projections from the log.
  ChildProcess rebuild(YIBAN_CENTRAL_BINARY, {"rebuild", "--db", central.db().string()}, dir / "rebuild.log");
  CHECK(rebuild.wait_exit(60s) == 0);
  CHECK_THAT(read_file(dir / "rebuild.log"), Catch::Contains("identical: yes"));
}

TEST_CASE("a hall without central, then with central away, catches up when central appears",
          "[integration][sync]") {
  TempDir dir;
  std::filesystem::create_directories(dir / "edge");
  std::filesystem::create_directories(dir / "central");
  MosquittoBroker broker(dir.path());
  CentralProcess central(dir / "central", {kHall});  // keys exist; central not started
  auto config = write_test_hall_config(dir.path());
  {
    EdgeProcess alone(dir / "edge", config, broker.uri());  // no --central at all
    alone.start();
    MqttTestClient kiosk(broker.uri(), "alone-kiosk");
    for (int i = 0; i < 5; ++i) REQUIRE(reply_ok(*kiosk.request(kHall, "kiosk-1", "ticket.take", R"({"service":"A"})")));
    REQUIRE(alone.terminate() == 0);
  }
  EdgeProcess edge(dir / "edge", config, broker.uri(), central.edge_args(kHall));
  edge.start();  // central is not there: the hall runs anyway
  MqttTestClient kiosk(broker.uri(), "kiosk");
  for (int i = 0; i < 20; ++i) REQUIRE(reply_ok(*kiosk.request(kHall, "kiosk-1", "ticket.take", R"({"service":"B"})")));
  central.start();
  long long edge_events = query_int(edge.db(), "SELECT count(*) FROM events");
  REQUIRE(eventually([&] { return central_count(central, kHall) == edge_events; }, 20s));
  auto hall = json::parse(central.get("/api/v1/halls/test-hall").body);
  CHECK(hall["sync"]["acked_seq"] == edge_events);
  CHECK(hall["integrity"]["ok"] == true);
  REQUIRE(edge.terminate() == 0);
  require_same_log(edge.db(), edge.hall(), central);
}

TEST_CASE("a notice from central is applied exactly once across edge restarts, even sent while offline",
          "[integration][sync][down]") {
  TempDir dir;
  std::filesystem::create_directories(dir / "edge");
  std::filesystem::create_directories(dir / "central");
  MosquittoBroker broker(dir.path());
  CentralProcess central(dir / "central", {kHall});
  central.start();
  // Queued before the hall ever connected.
  auto queued = central.post("/api/v1/halls/test-hall/commands", R"({"type":"notice","data":{"text":"系统升级，暂停取号"}})",
                             kOperatorToken);
  REQUIRE(queued.status == 202);
  CHECK(json::parse(queued.body)["down_seq"] == 1);
  auto config = write_test_hall_config(dir.path());
  EdgeProcess edge(dir / "edge", config, broker.uri(), central.edge_args(kHall));
  MqttTestClient display(broker.uri(), "display-watch");
  display.subscribe("yiban/v1/test-hall/board/notice", 1);
  edge.start();
  auto applied = [&] {
    return query_int(edge.db(), "SELECT count(*) FROM events WHERE type = 'command.applied'");
  };
  REQUIRE(eventually([&] { return applied() == 1; }, 15s));
  auto notice = display.wait_for([](const ReceivedMessage& m) { return !m.payload.empty(); }, 10s);
  REQUIRE(notice);
  CHECK_THAT(notice->payload, Catch::Contains("系统升级，暂停取号"));
  // Killed right after applying: central may not have heard DOWN_ACK yet.
  edge.kill9();
  edge.start();
  REQUIRE(eventually([&] {
    return json::parse(central.get("/api/v1/halls/test-hall").body)["sync"]["down_applied"] == 1;
  }, 15s));
  // A config change: the alert thresholds.
  auto second = central.post("/api/v1/halls/test-hall/commands",
                             R"({"type":"config.set","data":{"alerts":{"long_queue":5}}})", kOperatorToken);
  REQUIRE(second.status == 202);
  REQUIRE(eventually([&] { return applied() == 2; }, 15s));
  edge.kill9();
  edge.start();
  REQUIRE(eventually([&] {
    return json::parse(central.get("/api/v1/halls/test-hall").body)["sync"]["down_applied"] == 2;
  }, 15s));
  CHECK(applied() == 2);
  auto rows = query_strings(edge.db(), "SELECT text FROM events WHERE type = 'command.applied' ORDER BY seq");
  REQUIRE(rows.size() == 2);
  CHECK_THAT(rows[0], Catch::Contains(R"("down_seq":1)"));
  CHECK_THAT(rows[1], Catch::Contains(R"("down_seq":2)"));
  CHECK_THAT(rows[1], Catch::Contains(R"("ok":true)"));
  CHECK_THAT(edge.log_text(), Catch::Contains("applying central's config changes"));
  // A change the hall must refuse (an invalid config) is recorded as refused.
  REQUIRE(central.post("/api/v1/halls/test-hall/commands", R"({"type":"config.set","data":{"services":[]}})",
                       kOperatorToken).status == 202);
  REQUIRE(eventually([&] { return applied() == 3; }, 15s));
  auto refused = query_strings(edge.db(), "SELECT text FROM events WHERE type = 'command.applied' ORDER BY seq DESC LIMIT 1");
  CHECK_THAT(refused.at(0), Catch::Contains(R"("ok":false)"));
  REQUIRE(edge.terminate() == 0);
}

TEST_CASE("central's API needs tokens, keeps hall managers to their hall, and pages events",
          "[integration][sync][api]") {
  TempDir dir;
  std::filesystem::create_directories(dir / "edge");
  std::filesystem::create_directories(dir / "central");
  MosquittoBroker broker(dir.path());
  CentralProcess central(dir / "central", {kHall, "other-hall"});
  central.start();
  auto config = write_test_hall_config(dir.path());
  EdgeProcess edge(dir / "edge", config, broker.uri(), central.edge_args(kHall));
  edge.start();
  MqttTestClient kiosk(broker.uri(), "kiosk");
  for (int i = 0; i < 12; ++i) REQUIRE(reply_ok(*kiosk.request(kHall, "kiosk-1", "ticket.take", R"({"service":"A"})")));
  long long edge_events = query_int(edge.db(), "SELECT count(*) FROM events");
  REQUIRE(eventually([&] { return central_count(central, kHall) == edge_events; }, 20s));

  CHECK(central.get("/healthz", "").status == 200);
  auto no_token = central.get("/api/v1/halls", "");
  CHECK(no_token.status == 401);
  CHECK(json::parse(no_token.body)["error"]["code"] == "unauthorized");
  CHECK(central.get("/api/v1/halls", "not-a-known-token-at-all").status == 401);
  CHECK(central.get("/metrics", "").status == 401);
  CHECK(central.get("/api/v1/halls/other-hall", kHallManagerToken).status == 403);
  CHECK(central.get("/api/v1/halls/test-hall", kHallManagerToken).status == 200);
  CHECK(central.get("/api/v1/halls/no-such-hall").status == 404);
  CHECK(central.get("/api/v1/halls/BAD%20ID").status == 400);
  CHECK(central.post("/api/v1/halls/test-hall/commands", R"({"type":"notice","data":{"text":"x"}})", kViewerToken)
            .status == 403);
  CHECK(central.post("/api/v1/halls/test-hall/commands", R"({"type":"notice","data":{"text":"x"}})",
                     kHallManagerToken)
            .status == 403);
  auto bad = central.post("/api/v1/halls/test-hall/commands", R"({"type":"reboot","data":{}})", kOperatorToken);
  CHECK(bad.status == 400);
  CHECK_THAT(json::parse(bad.body)["error"]["message"].get<std::string>(), Catch::Contains("reboot"));
  CHECK(central.post("/api/v1/halls/test-hall/commands", "{not json", kOperatorToken).status == 400);
  CHECK(central.post("/api/v1/halls/test-hall/integrity/clear", "", kOperatorToken).status == 403);

  auto halls = json::parse(central.get("/api/v1/halls", kHallManagerToken).body)["halls"];
  REQUIRE(halls.size() == 1);
  CHECK(halls[0]["hall"] == "test-hall");
  CHECK(halls[0]["waiting"] == 12);
  auto page1 = json::parse(central.get("/api/v1/halls/test-hall/events?after=0&limit=5", kOperatorToken).body);
  REQUIRE(page1["events"].size() == 5);
  CHECK(page1["events"][0]["seq"] == 1);
  CHECK(page1["next_after"] == 5);
  auto page2 = json::parse(central.get("/api/v1/halls/test-hall/events?after=5&limit=1000", kOperatorToken).body);
  CHECK(page2["events"].size() == static_cast<std::size_t>(edge_events - 5));
  CHECK(central.get("/api/v1/halls/test-hall/events?limit=0").status == 400);
  CHECK(central.get("/api/v1/halls/test-hall/events?after=x").status == 400);
  auto kpi = central.get("/api/v1/kpi?hall=test-hall&from=2000-01-01&to=2100-12-31", kViewerToken);
  REQUIRE(kpi.status == 200);
  CHECK(json::parse(kpi.body)["total"]["issued"] == 12);
  CHECK(central.get("/api/v1/kpi?from=yesterday").status == 400);
  // The per-hall figures are refreshed twice a second.
  CentralProcess::Response metrics;
  CHECK(eventually([&] {
    metrics = central.get("/metrics", kViewerToken);
    return metrics.body.find("yiban_central_hall_lag_events{hall=\"test-hall\"} 0") != std::string::npos;
  }, 5s));
  CHECK(metrics.status == 200);
  CHECK_THAT(metrics.body, Catch::Contains("yiban_central_events_ingested_total"));

  // The dashboard's endpoints follow the same rules.
  CHECK(json::parse(central.get("/api/v1/whoami", kViewerToken).body)["mode"] == "city");
  CHECK(central.get("/api/v1/whoami", "").status == 401);
  CHECK(central.get("/api/v1/stream", "").status == 401);
  CHECK(central.get("/api/v1/halls/other-hall/series", kHallManagerToken).status == 403);
  auto series = json::parse(central.get("/api/v1/halls/test-hall/series", kViewerToken).body);
  REQUIRE(!series["series"].empty());
  CHECK(series["series"].back()["waiting"] == 12);
  CHECK(central.get("/api/v1/halls/test-hall/series?day=someday").status == 400);
  auto charts = json::parse(central.get("/api/v1/kpi/charts", kViewerToken).body);
  CHECK(charts["wait_histogram"].size() == 13);
  CHECK(central.post("/api/v1/halls/test-hall/alerts/a1/ack", "{}", kViewerToken).status == 403);
  CHECK(central.post("/api/v1/halls/test-hall/alerts/a1/ack", "{", kOperatorToken).status == 400);
  // One hall has spoken to central: one page, then nothing after it.
  auto paged = json::parse(central.get("/api/v1/halls?limit=1", kViewerToken).body);
  REQUIRE(paged["halls"].size() == 1);
  CHECK(paged["next_after"].is_null());
  CHECK(json::parse(central.get("/api/v1/halls?after=test-hall", kViewerToken).body)["halls"].empty());
  CHECK(central.get("/api/v1/halls?limit=0", kViewerToken).status == 400);
  CHECK(json::parse(central.get("/api/v1/halls?q=test", kViewerToken).body)["halls"].size() == 1);
  REQUIRE(edge.terminate() == 0);
}

TEST_CASE("yiban-central refuses to start with a message naming the problem", "[integration][sync]") {
  TempDir dir;
  CentralProcess keys(dir.path(), {kHall});  // writes keys/, halls/, tokens.txt
  auto run = [&](std::vector<std::string> args) {
    ChildProcess p(YIBAN_CENTRAL_BINARY, args, dir / "refused.log");
    int rc = p.wait_exit(15s);
    return std::pair{rc, read_file(dir / "refused.log")};
  };
  const std::string cert = (dir / "keys" / "central.key").string();
  const std::string halls = (dir / "halls").string();
  auto [rc1, log1] = run({"--db", (dir / "c.db").string(), "--halls-dir", halls});
  CHECK(rc1 == 1);
  CHECK_THAT(log1, Catch::Contains("--cert"));
  auto [rc2, log2] = run({"--db", (dir / "c.db").string(), "--cert", (dir / "keys" / "central.pub").string(),
                          "--halls-dir", halls});
  CHECK(rc2 == 1);
  CHECK_THAT(log2, Catch::Contains("not a secret certificate"));
  auto [rc3, log3] = run({"--db", (dir / "c.db").string(), "--cert", cert, "--halls-dir", (dir / "nowhere").string()});
  CHECK(rc3 == 1);
  CHECK_THAT(log3, Catch::Contains("is not a directory"));
  {
    std::ofstream bad(dir / "bad-tokens.txt");
    bad << "abc admin\n";
  }
  auto [rc4, log4] = run({"--db", (dir / "c.db").string(), "--cert", cert, "--halls-dir", halls, "--http",
                          "127.0.0.1:" + std::to_string(free_tcp_port()), "--tokens", (dir / "bad-tokens.txt").string()});
  CHECK(rc4 == 1);
  CHECK_THAT(log4, Catch::Contains("line 1: token shorter than 16"));
  CHECK(log4.find("abc") == std::string::npos);
  // An unknown log level is refused out loud (spdlog alone would turn the log off).
  auto [rc5, log5] = run({"--db", (dir / "c.db").string(), "--cert", cert, "--halls-dir", halls, "--log-level", "loud"});
  CHECK(rc5 == 2);
  CHECK_THAT(log5, Catch::Contains("critical central: cannot start: --log-level loud: not a level"));
  ChildProcess edge(YIBAN_EDGE_BINARY, {"--hall-config", write_test_hall_config(dir.path()).string(), "--log-level", "Info"},
                    dir / "edge-refused.log");
  CHECK(edge.wait_exit(15s) == 2);
  CHECK_THAT(read_file(dir / "edge-refused.log"), Catch::Contains("--log-level Info: not a level"));
  ChildProcess keygen(YIBAN_CENTRAL_BINARY, {"keygen", "--out", (dir / "keys").string(), "--name", "central"},
                      dir / "keygen.log");
  CHECK(keygen.wait_exit(15s) == 1);
  CHECK_THAT(read_file(dir / "keygen.log"), Catch::Contains("not overwriting"));
  CHECK((std::filesystem::status(dir / "keys" / "central.key").permissions() & std::filesystem::perms::group_all) ==
        std::filesystem::perms::none);
}

TEST_CASE("the city catalog reaches every hall, stays there offline, and follows the admin's changes",
          "[integration][sync][catalog]") {
  TempDir dir;
  std::filesystem::create_directories(dir / "edge");
  std::filesystem::create_directories(dir / "central");
  MosquittoBroker broker(dir.path());
  const auto catalog_file = dir / "catalog.json";
  std::filesystem::copy_file(std::filesystem::path(YIBAN_SOURCE_DIR) / "deploy/examples/catalog.json", catalog_file);
  CentralProcess central(dir / "central", {kHall});
  central.add_args({"--catalog", catalog_file.string()});
  central.start();  // the hall never connected: its catalog waits at central
  auto config = write_test_hall_config(dir.path());
  int port = free_tcp_port();
  std::ofstream(dir / "edge-tokens.txt") << kViewerToken << " viewer\n";
  auto args = central.edge_args(kHall);
  args.insert(args.end(), {"--http", "127.0.0.1:" + std::to_string(port), "--tokens", (dir / "edge-tokens.txt").string()});
  EdgeProcess edge(dir / "edge", config, broker.uri(), args);
  edge.start();
  auto edge_catalog = [&] {
    auto r = http_request(port, "GET", "/api/v1/catalog", "", kViewerToken);
    return r.status ? json::parse(r.body) : json();
  };
  const std::string version = json::parse(central.get("/api/v1/catalog", kViewerToken).body)["version"];
  REQUIRE(eventually([&] { return edge_catalog()["version"] == version; }, 15s));
  CHECK(edge_catalog()["services"].size() == 4);

  // Central goes away; the hall still has the catalog, also after a restart.
  central.kill9();
  REQUIRE(edge.terminate() == 0);
  edge.start();
  REQUIRE(eventually([&] { return !edge_catalog().is_null(); }, 10s));
  CHECK(edge_catalog()["version"] == version);

  // A restart of central with the same file sends nothing again.
  central.start();
  REQUIRE(eventually([&] {
    return json::parse(central.get("/api/v1/halls/test-hall").body)["sync"]["down_applied"] == 1;
  }, 15s));
  CHECK(json::parse(central.get("/api/v1/halls/test-hall").body)["sync"]["down_last"] == 1);

  // The admin changes it: validated, written to the file, sent down.
  CHECK(central.put("/api/v1/catalog", R"({"services":[]})", kOperatorToken).status == 403);
  auto bad = central.put("/api/v1/catalog", R"({"services":[{"code":"x"}]})");
  CHECK(bad.status == 400);
  CHECK_THAT(json::parse(bad.body)["error"]["message"].get<std::string>(), Catch::Contains("services[0]"));
  auto changed = central.put(
      "/api/v1/catalog",
      R"({"services":[{"code":"X09","name":"跨区社保转移","region":"370202","hall":"test-hall","complete_days":4}]})");
  REQUIRE(changed.status == 200);
  CHECK(json::parse(changed.body)["halls_queued"] == 1);
  const std::string v2 = json::parse(changed.body)["version"];
  REQUIRE(eventually([&] { return edge_catalog()["version"] == v2; }, 15s));
  CHECK(edge_catalog()["services"][0]["code"] == "X09");
  CHECK_THAT(read_file(catalog_file), Catch::Contains("X09"));
  CHECK(query_int(edge.db(), "SELECT count(*) FROM events WHERE type = 'catalog.updated'") == 2);
  REQUIRE(edge.terminate() == 0);
}
