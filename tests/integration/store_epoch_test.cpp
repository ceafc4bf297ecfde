// Store identity (protocol/README.md "Store identity"), as processes:
// central's database lost, restored from an older copy, replaced; an edge
// restored from an older copy of its own database; a re-installed hall.
// After each, commands sent through central's API must all apply exactly
// once at the hall, and the hall's log at central must equal the edge's.

#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/central_process.h"
#include "support/edge_process.h"
#include "support/mosquitto_broker.h"
#include "support/mqtt_test_client.h"
#include "support/test_support.h"
#include "support/ticket_stream.h"
#include "yiban/protocol/sync.h"

using namespace yiban::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {


void exec_sql(const std::filesystem::path& db, const std::string& sql) {
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &h) == SQLITE_OK);
  sqlite3_busy_timeout(h, 5000);
  char* err = nullptr;
  const int rc = sqlite3_exec(h, sql.c_str(), nullptr, nullptr, &err);
  const std::string why = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(h);
  INFO(why);
  REQUIRE(rc == SQLITE_OK);
}

// A consistent copy of a live database (VACUUM INTO, while the daemon runs).
void copy_live(const std::filesystem::path& db, const std::filesystem::path& to) {
  std::filesystem::remove(to);
  exec_sql(db, "VACUUM INTO '" + to.string() + "'");
}

void put_back(const std::filesystem::path& copy, const std::filesystem::path& db) {
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(db.string() + suffix);
  std::filesystem::copy_file(copy, db);
}

// What helper 2's restore writes into a restored central file.
void mark_restored(const std::filesystem::path& db) {
  exec_sql(db, "UPDATE settings SET value = (SELECT value FROM settings WHERE key = 'down_epoch') "
               "WHERE key = 'down_epoch_prev'; UPDATE settings SET value = '" +
                   yiban::protocol::sync::random_store_id() + "' WHERE key = 'down_epoch'");
}

long long applied_count(const EdgeProcess& edge) {
  return query_int(edge.db(), "SELECT count(*) FROM events WHERE type = 'command.applied'");
}

std::string notice(const CentralProcess& central, const std::string& text) {
  auto r = central.post("/api/v1/halls/test-hall/commands",
                        json{{"type", "notice"}, {"data", {{"text", text}}}}.dump(), kOperatorToken);
  INFO(r.body);
  REQUIRE(r.status == 202);
  return text;
}

// Sends n notices and waits until the hall applied exactly n more commands,
// the last one's text on its board, and central saw them all confirmed.
void notices_apply_once(const CentralProcess& central, const EdgeProcess& edge, int n, const std::string& tag) {
  const long long before = applied_count(edge);
  std::string last;
  for (int i = 0; i < n; ++i) last = notice(central, tag + " 通知 " + std::to_string(i));
  INFO(edge.log_text());
  REQUIRE(eventually([&] { return applied_count(edge) >= before + n; }, 20s));
  REQUIRE(eventually([&] {
    auto h = json::parse(central.get("/api/v1/halls/test-hall").body);
    return h["sync"]["down_applied"] == h["sync"]["down_last"];
  }, 10s));
  // None twice: the count stays put once central has them all confirmed.
  CHECK(applied_count(edge) == before + n);
  CHECK(query_int(edge.db(), "SELECT count(*) FROM events WHERE type = 'command.applied' AND "
                             "json_extract(text, '$.data.ok') = 0") == 0);
  auto board = query_strings(edge.db(), "SELECT value FROM meta WHERE key = 'notice'");
  REQUIRE(board.size() == 1);
  CHECK_THAT(board[0], Catch::Contains(last));
}

void take_tickets(const std::string& broker, int n) {
  MqttTestClient kiosk(broker, "epoch-kiosk");
  for (int i = 0; i < n; ++i) REQUIRE(reply_ok(*kiosk.request(kHall, "kiosk-1", "ticket.take", R"({"service":"A"})")));
}

void logs_equal(const EdgeProcess& edge, const CentralProcess& central) {
  const long long edge_events = query_int(edge.db(), "SELECT count(*) FROM events");
  REQUIRE(eventually([&] {
    return query_int(central.db(), "SELECT count(*) FROM events WHERE hall = 'test-hall'") == edge_events &&
           query_int(central.db(), "SELECT acked_seq FROM halls WHERE hall = 'test-hall'") == edge_events;
  }, 20s));
  require_same_log(edge.db(), edge.hall(), central);
  CHECK(chain_verifies(edge.db()));
}

struct City {
  TempDir dir;
  std::unique_ptr<MosquittoBroker> broker;
  std::unique_ptr<CentralProcess> central;
  std::filesystem::path config;
  std::unique_ptr<EdgeProcess> edge;
  // retention: the hall config's "retention" section (none when null);
  // edge_env: the edge's environment for its first start.
  explicit City(const json& retention = nullptr, std::vector<std::string> edge_env = {}) {
    std::filesystem::create_directories(dir / "edge");
    std::filesystem::create_directories(dir / "central");
    broker = std::make_unique<MosquittoBroker>(dir.path());
    central = std::make_unique<CentralProcess>(dir / "central", std::vector<std::string>{kHall});
    central->start();
    config = write_test_hall_config(dir.path());
    if (!retention.is_null()) {
      auto j = json::parse(read_file(config));
      j["retention"] = retention;
      std::ofstream(config) << j.dump();
    }
    edge = std::make_unique<EdgeProcess>(dir / "edge", config, broker->uri(), central->edge_args(kHall));
    edge->set_env(std::move(edge_env));
    edge->start();
  }
};

}  // namespace

TEST_CASE("central's database lost: the hall re-bases and applies the new central's commands once",
          "[integration][sync][epoch]") {
  City city;
  auto& central = *city.central;
  auto& edge = *city.edge;
  notices_apply_once(central, edge, 3, "旧");
  const std::string epoch = query_strings(central.db(), "SELECT value FROM settings WHERE key = 'down_epoch'")[0];
  REQUIRE(central.terminate() == 0);
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(central.db().string() + suffix);
  central.start();
  CHECK(query_strings(central.db(), "SELECT value FROM settings WHERE key = 'down_epoch'")[0] != epoch);
  notices_apply_once(central, edge, 2, "新");  // numbered 1 and 2 again: applied, not skipped as resends
  auto rebased = query_strings(edge.db(), "SELECT text FROM events WHERE type = 'sync.rebased'");
  REQUIRE(rebased.size() == 1);
  CHECK_THAT(rebased[0], Catch::Contains(R"("lost":3)"));
  CHECK_THAT(rebased[0], Catch::Contains(R"("applied_after":0)"));
  take_tickets(city.broker->uri(), 3);
  logs_equal(edge, central);
  CHECK_THAT(central.log_text(), Catch::Contains("are not in this store"));
  CHECK_THAT(central.get("/metrics").body, Catch::Contains("yiban_central_sync_commands_lost_total 3"));
}

TEST_CASE("central restored from an older copy: commands after the copy are counted lost, new ones apply once",
          "[integration][sync][epoch]") {
  City city;
  auto& central = *city.central;
  auto& edge = *city.edge;
  notices_apply_once(central, edge, 2, "备份前");
  const auto copy = city.dir / "central-old.db";
  copy_live(central.db(), copy);
  notices_apply_once(central, edge, 2, "备份后");  // central's 3 and 4: gone with the restore
  take_tickets(city.broker->uri(), 2);
  REQUIRE(central.terminate() == 0);
  put_back(copy, central.db());
  mark_restored(central.db());
  central.start();
  CHECK_THAT(central.log_text(), Catch::Contains("DOWN epoch"));
  notices_apply_once(central, edge, 3, "恢复后");  // 3, 4, 5 of the restored store
  auto rebased = query_strings(edge.db(), "SELECT text FROM events WHERE type = 'sync.rebased'");
  REQUIRE(rebased.size() == 1);
  CHECK_THAT(rebased[0], Catch::Contains(R"("applied_before":4)"));
  CHECK_THAT(rebased[0], Catch::Contains(R"("applied_after":2)"));
  CHECK_THAT(rebased[0], Catch::Contains(R"("lost":2)"));
  logs_equal(edge, central);  // the events after the copy came back from the hall
}

TEST_CASE("central replaced by one with another database: all of its commands apply once",
          "[integration][sync][epoch]") {
  City city;
  auto& central = *city.central;
  auto& edge = *city.edge;
  notices_apply_once(central, edge, 2, "甲");
  // Another central's database, with a command for this hall it never sent.
  const auto other_dir = city.dir / "other";
  std::filesystem::create_directories(other_dir);
  {
    CentralProcess other(other_dir, {kHall});
    other.start();
    notice(other, "另一中心的通知");
    REQUIRE(other.terminate() == 0);
  }
  REQUIRE(central.terminate() == 0);
  put_back(other_dir / "central.db", central.db());
  central.start();
  const long long before = applied_count(edge);
  REQUIRE(eventually([&] { return applied_count(edge) == before + 1; }, 20s));  // its command 1
  notices_apply_once(central, edge, 2, "乙");
  CHECK(applied_count(edge) == before + 3);
  auto rebased = query_strings(edge.db(), "SELECT text FROM events WHERE type = 'sync.rebased'");
  REQUIRE(rebased.size() == 1);
  CHECK_THAT(rebased[0], Catch::Contains(R"("applied_after":0)"));
  logs_equal(edge, central);
}

TEST_CASE("an edge restored from an older copy of its database fetches the log back and continues it",
          "[integration][sync][epoch]") {
  City city;
  auto& central = *city.central;
  auto& edge = *city.edge;
  take_tickets(city.broker->uri(), 3);
  notices_apply_once(central, edge, 1, "一");
  const auto copy = city.dir / "edge-old.db";
  copy_live(edge.db(), copy);
  take_tickets(city.broker->uri(), 4);  // at central, not in the copy
  notices_apply_once(central, edge, 1, "二");
  const long long numbers_before = query_int(edge.db(), "SELECT max(last) FROM day_numbers WHERE series = 'A'");
  REQUIRE(eventually([&] {
    return query_int(central.db(), "SELECT acked_seq FROM halls WHERE hall = 'test-hall'") ==
           query_int(edge.db(), "SELECT count(*) FROM events");
  }, 20s));
  REQUIRE(edge.terminate() == 0);
  put_back(copy, edge.db());
  edge.start();
  INFO(edge.log_text());
  REQUIRE(eventually([&] {
    return query_int(edge.db(), "SELECT count(*) FROM events WHERE type = 'sync.recovered'") == 1;
  }, 20s));
  // The ticket numbers central saw are not handed out again.
  CHECK(query_int(edge.db(), "SELECT max(last) FROM day_numbers WHERE series = 'A'") >= numbers_before);
  take_tickets(city.broker->uri(), 3);
  notices_apply_once(central, edge, 2, "三");  // "二" is not applied a second time
  logs_equal(edge, central);
  CHECK(query_int(central.db(), "SELECT count(DISTINCT ticket) FROM tickets WHERE hall = 'test-hall'") == 10);
}

TEST_CASE("a re-installed hall is refused with store_changed until an admin accepts it, then replicates again",
          "[integration][sync][epoch]") {
  City city;
  auto& central = *city.central;
  take_tickets(city.broker->uri(), 2);
  notices_apply_once(central, *city.edge, 1, "旧盒");
  REQUIRE(eventually([&] {
    return query_int(central.db(), "SELECT acked_seq FROM halls WHERE hall = 'test-hall'") ==
           query_int(city.edge->db(), "SELECT count(*) FROM events");
  }, 20s));
  const long long central_before = query_int(central.db(), "SELECT acked_seq FROM halls WHERE hall = 'test-hall'");
  REQUIRE(city.edge->terminate() == 0);
  city.edge.reset();
  // The box re-installed: a fresh database, the same hall id and key.
  std::filesystem::remove_all(city.dir / "edge");
  std::filesystem::create_directories(city.dir / "edge");
  auto edge = std::make_unique<EdgeProcess>(city.dir / "edge", city.config, city.broker->uri(),
                                            central.edge_args(kHall));
  edge->start();
  take_tickets(city.broker->uri(), 2);  // the hall works meanwhile
  REQUIRE(eventually([&] { return central.log_text().find("accept-store test-hall") != std::string::npos; }, 15s));
  REQUIRE(eventually([&] { return edge->log_text().find("store_changed") != std::string::npos; }, 15s));
  CHECK(query_int(central.db(), "SELECT acked_seq FROM halls WHERE hall = 'test-hall'") == central_before);
  CHECK(central.post("/api/v1/halls/test-hall/accept-store", "{}", kOperatorToken).status == 403);
  auto accepted = central.post("/api/v1/halls/test-hall/accept-store", "{}", kAdminToken);
  INFO(accepted.body);
  REQUIRE(accepted.status == 200);
  CHECK(central.post("/api/v1/halls/test-hall/accept-store", "{}", kAdminToken).status == 409);
  CHECK(query_int(central.db(), "SELECT count(*) FROM central_access WHERE id = 'hall:test-hall' AND what LIKE "
                                "'accept-store %' AND by_whom LIKE 'central:%'") == 1);
  REQUIRE(eventually([&] {
    return query_int(edge->db(), "SELECT count(*) FROM events WHERE type = 'sync.recovered'") == 1;
  }, 20s));
  notices_apply_once(central, *edge, 2, "新盒");  // the old box's notice is not applied again
  logs_equal(*edge, central);
  REQUIRE(edge->terminate() == 0);
}

TEST_CASE("central restored from a copy older than the hall's event archive: the hall resends from the archive",
          "[integration][sync][epoch][retention]") {
  // Events archived after one day; the job runs every 10 s (the least). The
  // hall's first events are made three days ago (libfaketime), all at central.
  City city({{"events_days", 1}, {"period_s", 10}},
            {"LD_PRELOAD=/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1", "FAKETIME=-3d",
             "DONT_FAKE_MONOTONIC=1"});
  auto& central = *city.central;
  auto& edge = *city.edge;
  auto& broker = *city.broker;
  auto& dir = city.dir;
  take_tickets(broker.uri(), 4);
  auto all_at_central = [&] {
    return eventually([&] {
      return query_int(central.db(), "SELECT acked_seq FROM halls WHERE hall = 'test-hall'") ==
             query_int(edge.db(), "SELECT max(seq) FROM events");
    }, 20s);
  };
  REQUIRE(all_at_central());
  const auto copy = dir / "central-old.db";
  copy_live(central.db(), copy);
  const long long copied = query_int(copy, "SELECT acked_seq FROM halls WHERE hall = 'test-hall'");
  take_tickets(broker.uri(), 5);  // at central, not in the copy
  REQUIRE(all_at_central());
  const long long old_last = query_int(edge.db(), "SELECT max(seq) FROM events");
  REQUIRE(edge.terminate() == 0);

  // Today: the hall archives the three-day-old events central holds.
  edge.set_env({});
  edge.start();
  INFO(edge.log_text());
  REQUIRE(eventually([&] {
    auto a = query_strings(edge.db(), "SELECT value FROM meta WHERE key = 'archive_seq'");
    return !a.empty() && std::stoll(a[0]) >= old_last - 1;
  }, 30s));
  const long long anchor = std::stoll(query_strings(edge.db(), "SELECT value FROM meta WHERE key = 'archive_seq'")[0]);
  REQUIRE(anchor > copied);
  CHECK(query_int(edge.db(), "SELECT count(*) FROM events WHERE seq <= " + std::to_string(anchor)) == 0);

  // Central restored from the copy: it holds 1..copied; copied+1..anchor
  // exist only in the hall's archive files.
  REQUIRE(central.terminate() == 0);
  put_back(copy, central.db());
  mark_restored(central.db());
  central.start();
  take_tickets(broker.uri(), 2);
  REQUIRE(eventually([&] {
    return edge.log_text().find("are in the event archive and are resent from it") != std::string::npos;
  }, 20s));
  REQUIRE(all_at_central());
  require_same_log(edge.db(), kHall, central);
  CHECK(query_int(central.db(), "SELECT count(*) FROM events WHERE hall = 'test-hall'") ==
        query_int(edge.db(), "SELECT max(seq) FROM events"));
  CHECK_THAT(edge.log_text(), Catch::Contains("resent to central; the rest come from the store"));
  notices_apply_once(central, edge, 2, "归档后");
  CHECK(query_int(central.db(), "SELECT count(DISTINCT ticket) FROM tickets WHERE hall = 'test-hall'") == 11);
  REQUIRE(edge.terminate() == 0);
}
