// Central's retention as a process (issue 15): a running yiban-central removes
// what its --retention-* options no longer keep, logs it and counts it.

#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <string>

#include "support/central_process.h"
#include "support/edge_process.h"
#include "support/test_support.h"

using namespace yiban::test;
using namespace std::chrono_literals;

TEST_CASE("a running central removes old sent notifications on its schedule and says so",
          "[integration][central][retention]") {
  TempDir dir;
  CentralProcess central(dir.path(), {"test-hall"});
  central.add_args({"--retention-period", "1", "--retention-outbox-days", "2"});
  central.start();

  // Written beside the running daemon (WAL): three sent 3 days ago, one
  // pending as old, one sent today.
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  const std::string old_ts = std::to_string(now - 3 * 86400000LL), new_ts = std::to_string(now);
  std::string sql;
  for (const char* state : {"delivered", "dead", "delivered", "pending"})
    sql += "INSERT INTO notify_outbox(type, body, created_ts, state, next_ts) VALUES('booking.reminder', '{}', " +
           old_ts + ", '" + state + "', " + std::to_string(now + 86400000LL) + ");";
  sql += "INSERT INTO notify_outbox(type, body, created_ts, state, next_ts) VALUES('booking.reminder', '{}', " +
         new_ts + ", 'delivered', 0);";
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(central.db().c_str(), &db) == SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
  sqlite3_close(db);
  REQUIRE(rc == SQLITE_OK);

  REQUIRE(eventually([&] { return query_int(central.db(), "SELECT count(*) FROM notify_outbox") == 2; }, 15s));
  CHECK(query_int(central.db(), "SELECT count(*) FROM notify_outbox WHERE state = 'pending'") == 1);
  CHECK(query_int(central.db(), "SELECT count(*) FROM notify_outbox WHERE created_ts = " + new_ts) == 1);
  REQUIRE(eventually([&] {
    return central.log_text().find("retention: removed 0 applied commands older than 90 d, 3 delivered/dead "
                                   "notifications older than 2 d") != std::string::npos;
  }, 5s));
  auto metrics = central.get("/metrics", kViewerToken);
  REQUIRE(metrics.status == 200);
  CHECK(metrics.body.find("yiban_central_retention_removed_total{kind=\"notifications\"} 3") != std::string::npos);
  CHECK(central.terminate() == 0);
}

TEST_CASE("yiban-central refuses a retention window outside its range", "[integration][central][retention]") {
  TempDir dir;
  ChildProcess bad(YIBAN_CENTRAL_BINARY, {"--retention-outbox-days", "0"}, dir / "bad.log");
  CHECK(bad.wait_exit(10s) == 2);
  CHECK(read_file(dir / "bad.log").find("--retention-outbox-days") != std::string::npos);
}
