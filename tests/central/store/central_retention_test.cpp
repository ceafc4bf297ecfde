// Central's retention (issue 15): what prune() removes and what it keeps.

#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <string>

#include "support/edge_process.h"
#include "support/test_support.h"
#include "yiban/central/central_store.h"

using yiban::central::CentralRetention;
using yiban::test::query_int;
using yiban::test::TempDir;

namespace {

constexpr std::int64_t kDayMs = 86400000;
// 2026-06-01 00:00 UTC.
constexpr std::int64_t kNow = 1780272000000;

void exec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  char* error = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  INFO((error ? error : ""));
  sqlite3_free(error);
  sqlite3_close(db);
  REQUIRE(rc == SQLITE_OK);
}

std::string ts_days_ago(int days) { return std::to_string(kNow - days * kDayMs); }

}  // namespace

TEST_CASE("central's retention removes old applied commands, finished tickets and sent notifications, nothing else",
          "[central][store][retention]") {
  TempDir dir;
  const std::string path = (dir / "central.db").string();
  auto store = yiban::central::open_sqlite_central_store(path);
  REQUIRE(store);

  // Hall a applied up to command 4 of 5; hall b applied both of its commands.
  std::string sql = "INSERT INTO halls(hall, down_applied) VALUES('a', 4), ('b', 2);";
  for (int seq = 1; seq <= 5; ++seq) {
    sql += "INSERT INTO commands(hall, down_seq, ts, type, text) VALUES('a', " + std::to_string(seq) + ", " +
           ts_days_ago(seq == 5 ? 200 : 100) + ", 'notice', '{}');";
  }
  sql += "INSERT INTO commands(hall, down_seq, ts, type, text) VALUES('b', 1, " + ts_days_ago(300) +
         ", 'notice', '{}'), ('b', 2, " + ts_days_ago(300) + ", 'notice', '{}');";
  // Tickets: finished long ago, open long ago (still in a hall's queue), finished recently.
  auto ticket = [](const std::string& id, const std::string& state, int days_ago) {
    return "INSERT INTO tickets(hall, ticket, day, service, number, issued_ts, state) VALUES('a', '" + id +
           "', 20250101, 'A', 'A001', " + ts_days_ago(days_ago) + ", '" + state + "');";
  };
  sql += ticket("old-done", "completed", 500) + ticket("old-noshow", "no_show", 450) +
         ticket("old-waiting", "waiting", 500) + ticket("recent", "completed", 10);
  auto note = [](const std::string& state, int days_ago) {
    return "INSERT INTO notify_outbox(type, body, created_ts, state, next_ts) VALUES('booking.reminder', '{}', " +
           ts_days_ago(days_ago) + ", '" + state + "', 0);";
  };
  sql += note("delivered", 40) + note("dead", 40) + note("pending", 40) + note("delivered", 5);
  exec(path, sql);

  CentralRetention policy;  // 90 / 30 / 400 days
  auto removed = (*store)->prune(kNow, policy);
  REQUIRE(removed);
  // a: commands 1-4 are applied and older than 90 days (removed); 5 is not applied (and the newest).
  CHECK(query_int(path, "SELECT group_concat(down_seq) FROM (SELECT down_seq FROM commands WHERE hall = 'a' "
                        "ORDER BY down_seq)") == 5);
  // b: the newest command (2) stays so that numbering continues after it.
  CHECK(query_int(path, "SELECT count(*) FROM commands WHERE hall = 'b'") == 1);
  CHECK(query_int(path, "SELECT down_seq FROM commands WHERE hall = 'b'") == 2);
  CHECK(removed->commands == 5);
  CHECK(removed->tickets == 2);
  CHECK(query_int(path, "SELECT count(*) FROM tickets WHERE ticket IN ('old-waiting', 'recent')") == 2);
  CHECK(query_int(path, "SELECT count(*) FROM tickets") == 2);
  CHECK(removed->outbox == 2);
  CHECK(query_int(path, "SELECT count(*) FROM notify_outbox WHERE state = 'pending'") == 1);
  CHECK(query_int(path, "SELECT count(*) FROM notify_outbox") == 2);

  // An unapplied command is kept whatever its age.
  exec(path, "UPDATE halls SET down_applied = 0 WHERE hall = 'a';"
             "INSERT INTO commands(hall, down_seq, ts, type, text) VALUES('a', 6, " + ts_days_ago(365) +
                 ", 'notice', '{}');");
  auto again = (*store)->prune(kNow, policy);
  REQUIRE(again);
  CHECK(again->total() == 0);
  CHECK(query_int(path, "SELECT count(*) FROM commands WHERE hall = 'a'") == 2);
}

TEST_CASE("central's retention removes at most a batch per table per call", "[central][store][retention]") {
  TempDir dir;
  const std::string path = (dir / "central.db").string();
  auto store = yiban::central::open_sqlite_central_store(path);
  REQUIRE(store);
  std::string sql = "BEGIN; INSERT INTO halls(hall, down_applied) VALUES('a', 1000);";
  for (int seq = 1; seq <= 1000; ++seq) {
    sql += "INSERT INTO commands(hall, down_seq, ts, type, text) VALUES('a', " + std::to_string(seq) + ", " +
           ts_days_ago(100) + ", 'notice', '{}');";
  }
  exec(path, sql + "COMMIT;");
  CentralRetention policy;
  policy.batch = 300;
  int calls = 0;
  std::int64_t total = 0;
  for (;;) {
    auto removed = (*store)->prune(kNow, policy);
    REQUIRE(removed);
    ++calls;
    CHECK(removed->commands <= 300);
    total += removed->commands;
    if (removed->commands < 300) break;
  }
  CHECK(calls == 4);
  CHECK(total == 999);
  CHECK(query_int(path, "SELECT max(down_seq) FROM commands") == 1000);
}
