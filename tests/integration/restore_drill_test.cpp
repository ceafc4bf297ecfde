// Backup and restore as processes (issue 15, part 2): `yiban-central backup`
// and `restore` refuse what they must, and the restore drill — a city under
// load, a backup taken under load, more load, central destroyed, restored and
// restarted — ends with central's log equal to the hall's, the bookings made
// before the backup back, those made after reported lost by their exact count
// (and taken back from the hall's log), and no seat sold twice.

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "support/booking_support.h"
#include "support/central_process.h"
#include "support/edge_process.h"
#include "support/mosquitto_broker.h"
#include "support/test_support.h"
#include "support/ticket_stream.h"

using namespace yiban::test;
using nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr const char* kManager = "edge-manager-0123456789";

// A booking in the drill's city (booking_config(kHall, 8, 0.25, 180): open
// around the clock in hourly slots, 2 hall seats and 6 central ones a slot).
json drill_booking(std::int64_t slot, const std::string& id) {
  return book_body(kHall, slot, id, "李小四", "139 0013 9000");
}

std::string sha256_of_file(const fs::path& p) {
  // Small files only: compare the bytes themselves.
  return read_file(p);
}

int run_tool(const std::string& binary, const std::vector<std::string>& args, const fs::path& log) {
  return run_program(binary, args, log, 60s);
}

}  // namespace

TEST_CASE("backup and restore tools refuse a running daemon, a damaged or foreign backup and a missing file, and "
          "change nothing",
          "[integration][backup]") {
  TempDir dir;
  CentralProcess central(dir / "central", {kHall});
  central.start();
  const fs::path backup = dir / "central.bak";
  const fs::path log = dir / "tool.log";

  // Online backup while central serves.
  REQUIRE(run_tool(YIBAN_CENTRAL_BINARY, {"backup", "--db", central.db().string(), "--out", backup.string()}, log) ==
          0);
  struct stat st {};
  REQUIRE(::stat(backup.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(::stat((backup.string() + ".manifest.json").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto manifest = json::parse(read_file(backup.string() + ".manifest.json"));
  CHECK(manifest["kind"] == "central");
  CHECK(manifest["bytes"] == static_cast<std::int64_t>(fs::file_size(backup)));
  CHECK(manifest["sha256"].get<std::string>().size() == 64);
  CHECK(manifest["blobs"] == "excluded");
  CHECK(manifest["schema_version"].get<int>() >= 10);
  CHECK(central.get("/healthz").status == 200);
  // A second backup onto the same name is refused.
  CHECK(run_tool(YIBAN_CENTRAL_BINARY, {"backup", "--db", central.db().string(), "--out", backup.string()}, log) == 1);
  CHECK_THAT(read_file(log), Catch::Contains("already exists"));

  // Restore while central runs: refused, the store untouched.
  CHECK(run_tool(YIBAN_CENTRAL_BINARY, {"restore", "--in", backup.string(), "--db", central.db().string()}, log) == 1);
  CHECK_THAT(read_file(log), Catch::Contains("is open in a running process"));
  CHECK(central.get("/healthz").status == 200);
  central.terminate();
  const std::string before = sha256_of_file(central.db());
  auto listing = [&] {
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(central.db().parent_path())) names.insert(e.path().filename());
    return names;
  };
  const auto files_before = listing();

  // A damaged copy (one byte changed): refused by its checksum.
  const fs::path damaged = dir / "damaged.bak";
  fs::copy_file(backup, damaged);
  fs::copy_file(backup.string() + ".manifest.json", damaged.string() + ".manifest.json");
  {
    std::fstream f(damaged, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(5000);
    f.put('X');
  }
  CHECK(run_tool(YIBAN_CENTRAL_BINARY, {"restore", "--in", damaged.string(), "--db", central.db().string()}, log) == 1);
  CHECK_THAT(read_file(log), Catch::Contains("does not match its manifest"));
  // A central backup given to the edge: the wrong kind.
  CHECK(run_tool(YIBAN_EDGE_BINARY, {"restore", "--in", backup.string(), "--db", (dir / "edge.db").string()}, log) == 1);
  CHECK_THAT(read_file(log), Catch::Contains("is a backup of a central store"));
  CHECK_FALSE(fs::exists(dir / "edge.db"));
  // A missing file, and a backup without its manifest.
  CHECK(run_tool(YIBAN_CENTRAL_BINARY, {"restore", "--in", (dir / "nope.bak").string(), "--db", central.db().string()},
                 log) == 1);
  CHECK_THAT(read_file(log), Catch::Contains("no backup file"));
  fs::copy_file(backup, dir / "lonely.bak");
  CHECK(run_tool(YIBAN_CENTRAL_BINARY, {"restore", "--in", (dir / "lonely.bak").string(), "--db",
                                        central.db().string()},
                 log) == 1);
  CHECK_THAT(read_file(log), Catch::Contains("manifest"));
  CHECK(sha256_of_file(central.db()) == before);
  CHECK(listing() == files_before);

  // The good backup: restored, with a new DOWN epoch and the old one kept as prev.
  const auto old_epoch = query_strings(central.db(), "SELECT value FROM settings WHERE key = 'down_epoch'");
  REQUIRE(run_tool(YIBAN_CENTRAL_BINARY, {"restore", "--in", backup.string(), "--db", central.db().string()}, log) ==
          0);
  CHECK_THAT(read_file(log), Catch::Contains("new DOWN epoch"));
  const auto epoch = query_strings(central.db(), "SELECT value FROM settings WHERE key = 'down_epoch'");
  const auto prev = query_strings(central.db(), "SELECT value FROM settings WHERE key = 'down_epoch_prev'");
  REQUIRE(epoch.size() == 1);
  CHECK(epoch[0].size() == 32);
  CHECK(epoch != old_epoch);
  REQUIRE(prev.size() == 1);
  CHECK(prev[0] == (old_epoch.empty() ? std::string() : old_epoch[0]));
  REQUIRE(::stat(central.db().c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  central.start();  // the restored store opens
  CHECK(central.get("/healthz").status == 200);
}

TEST_CASE("restore drill: central destroyed and restored from a backup taken under load; the halls bring back what "
          "it lost and no seat is sold twice",
          "[integration][backup][bookings]") {
  TempDir dir;
  fs::create_directories(dir / "central");
  fs::create_directories(dir / "edge");
  std::ofstream(dir / "booking.json") << booking_config(kHall, 8, 0.25, 180);
  std::ofstream(dir / "case.key") << "city-case-key-for-tests-0123456789abcdef\n";
  CentralProcess central(dir / "central", {kHall});
  central.add_args({"--booking", (dir / "booking.json").string(), "--case-key-file", (dir / "case.key").string(),
                    "--rebalance-every", "1"});
  central.start();
  const std::int64_t near = next_slot();  // inside the rebalancing window
  const std::int64_t later = near + 24 * 3600000LL;  // outside it
  auto book = [&](std::int64_t slot, const std::string& id) {
    auto r = central.post("/api/v1/bookings", drill_booking(slot, id).dump(), kOperatorToken);
    INFO(r.body);
    REQUIRE(r.status == 201);
    return json::parse(r.body)["code"].get<std::string>();
  };
  // Before the hall connects (no seats moved yet): two in the near slot, one later.
  const std::string near1 = book(near, "E10000001");
  const std::string near2 = book(near, "E10000002");
  const std::string early = book(later, "E10000003");

  MosquittoBroker broker(dir.path());
  auto hall = json::parse(read_file(write_test_hall_config(dir.path())));
  hall["appointments"] = {{"early_min", 120}, {"late_min", 15}};
  std::ofstream(dir / "hall.json") << hall.dump();
  std::ofstream(dir / "edge-tokens.txt") << kManager << " hall-manager " << kHall << "\n";
  const int edge_port = free_tcp_port();
  std::vector<std::string> edge_args{"--http", "127.0.0.1:" + std::to_string(edge_port), "--tokens",
                                     (dir / "edge-tokens.txt").string(), "--case-key-file",
                                     (dir / "case.key").string()};
  auto c = central.edge_args(kHall);
  edge_args.insert(edge_args.end(), c.begin(), c.end());
  EdgeProcess edge(dir / "edge", dir / "hall.json", broker.uri(), edge_args);
  edge.start();
  auto edge_int = [&](const std::string& sql) { return query_int(edge.db(), sql); };
  const std::string near_s = std::to_string(near), later_s = std::to_string(later);
  // The hall has the bookings, and central's 4 unused near seats (6 - 2 booked).
  REQUIRE(eventually(
      [&] {
        return edge_int("SELECT count(*) FROM appointments WHERE state = 'booked'") == 3 &&
               edge_int("SELECT coalesce(sum(moved), 0) FROM booking_quota WHERE slot_start = " + near_s) == 4;
      },
      20s));

  // Load: a kiosk taking tickets all along.
  TicketStream load(broker.uri(), "drill-kiosk", "kiosk-1");
  REQUIRE(eventually([&] { return load.ok_count() >= 20; }, 20s));

  // The backup, under load.
  const fs::path backup = dir / "central-backup.db";
  REQUIRE(run_tool(YIBAN_CENTRAL_BINARY, {"backup", "--db", central.db().string(), "--out", backup.string()},
                   dir / "tool.log") == 0);
  const auto manifest = json::parse(read_file(backup.string() + ".manifest.json"));
  REQUIRE(manifest["halls"].size() == 1);
  const std::int64_t backup_seq = manifest["halls"][0]["last_seq"];
  CHECK(backup_seq > 0);
  // The hall's store can be copied the same way while the edge serves.
  const fs::path edge_backup = dir / "edge-backup.db";
  REQUIRE(run_tool(YIBAN_EDGE_BINARY, {"backup", "--db", edge.db().string(), "--out", edge_backup.string()},
                   dir / "tool.log") == 0);
  const auto edge_manifest = json::parse(read_file(edge_backup.string() + ".manifest.json"));
  CHECK(edge_manifest["kind"] == "edge");
  REQUIRE(edge_manifest["halls"].size() == 1);
  CHECK(edge_manifest["halls"][0]["hall"] == kHall);
  CHECK(edge_manifest["halls"][0]["last_seq"].get<std::int64_t>() >= backup_seq);
  CHECK(run_tool(YIBAN_EDGE_BINARY, {"restore", "--in", edge_backup.string(), "--db", edge.db().string()},
                 dir / "tool.log") == 1);  // the edge runs: refused
  CHECK_THAT(read_file(dir / "tool.log"), Catch::Contains("is open in a running process"));

  // More load after the backup: three more bookings (to be lost), a cancel in
  // the near slot whose freed seat moves to the hall (a move to be lost), tickets.
  const std::size_t tickets_at_backup = load.ok_count();
  std::vector<std::string> lost;
  for (const char* id : {"E20000001", "E20000002", "E20000003"}) lost.push_back(book(later, id));
  REQUIRE(central.request("DELETE", "/api/v1/bookings/" + near2, "", kOperatorToken).status == 200);
  REQUIRE(eventually(
      [&] {
        return edge_int("SELECT count(*) FROM appointments WHERE state = 'booked'") == 5 &&
               edge_int("SELECT coalesce(sum(moved), 0) FROM booking_quota WHERE slot_start = " + near_s) == 5 &&
               load.ok_count() >= tickets_at_backup + 20;
      },
      20s));
  load.finish();
  REQUIRE(eventually([&] { return load.drained(); }, 10s));
  load.stop();
  const std::int64_t edge_last = edge_int("SELECT max(seq) FROM events");
  REQUIRE(edge_last > backup_seq);

  // Central destroyed: killed, its database deleted. Then restored and restarted.
  central.kill9();
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(central.db().string() + suffix);
  REQUIRE(run_tool(YIBAN_CENTRAL_BINARY, {"restore", "--in", backup.string(), "--db", central.db().string()},
                   dir / "tool.log") == 0);
  CHECK_THAT(read_file(dir / "tool.log"), Catch::Contains("last seq " + std::to_string(backup_seq)));
  central.start();

  // The hall reconnects and re-sends what the restored store lacks; central
  // says when it has everything back.
  json report;
  REQUIRE(eventually(
      [&] {
        auto r = central.get("/api/v1/recovery", kOperatorToken);
        if (r.status != 200) return false;
        report = json::parse(r.body);
        return report["restored"] == true && report["halls"].size() == 1 && report["halls"][0]["recovering"] == false;
      },
      30s));
  INFO(report.dump());
  // Central's log equals the hall's: texts and chain.
  REQUIRE(query_int(central.db(), "SELECT count(*) FROM events") >= edge_last);
  require_same_log(edge.db(), kHall, central);

  // The bookings made before the backup are back; those made after are
  // reported lost by their exact count and taken back from the hall's log.
  auto state_of = [&](const std::string& code) {
    auto s = query_strings(central.db(), "SELECT state FROM bookings WHERE code = '" + code + "'");
    return s.empty() ? std::string("missing") : s[0];
  };
  CHECK(state_of(near1) == "booked");
  CHECK(state_of(early) == "booked");
  CHECK(state_of(near2) == "cancelled");  // the cancel after the backup, re-learned from the hall
  const auto& h = report["halls"][0];
  CHECK(h["lost_bookings"] == 3);
  CHECK(h["relearned_moved_seats"] == 1);
  std::set<std::string> reported(h["lost_booking_codes"].begin(), h["lost_booking_codes"].end());
  CHECK(reported == std::set<std::string>(lost.begin(), lost.end()));
  for (const auto& code : lost) CHECK(state_of(code) == "booked");
  CHECK_THAT(central.get("/metrics").body, Catch::Contains("yiban_central_recovery_lost_bookings{hall=\"test-hall\"} 3"));
  CHECK_THAT(central.log_text(), Catch::Contains("central's store lost"));

  // No seat sold twice. Near slot: central sells nothing (1 booked + 5 moved
  // of its 6); the hall takes exactly its 2 + 5 walk-ups; 8 in all.
  CHECK(central.post("/api/v1/bookings", drill_booking(near, "E30000001").dump(), kOperatorToken).status == 409);
  auto walk_up = [&](std::int64_t slot, const std::string& id) {
    auto body = drill_booking(slot, id);
    body.erase("hall");
    return http_request(edge_port, "POST", "/api/v1/bookings", body.dump(), kManager).status;
  };
  int walk_ups = 0;
  for (int i = 0; i < 9; ++i)
    if (walk_up(near, "E4000000" + std::to_string(i)) == 201) ++walk_ups;
  CHECK(walk_ups == 7);
  // Later slot: central holds 4 of its 6 (one before the backup, three taken
  // back); it sells exactly 2 more, and the hall its own 2.
  int sold = 0;
  for (int i = 0; i < 4; ++i)
    if (central.post("/api/v1/bookings", drill_booking(later, "E5000000" + std::to_string(i)).dump(), kOperatorToken)
            .status == 201)
      ++sold;
  CHECK(sold == 2);
  int later_walk_ups = 0;
  for (int i = 0; i < 4; ++i)
    if (walk_up(later, "E6000000" + std::to_string(i)) == 201) ++later_walk_ups;
  CHECK(later_walk_ups == 2);
  const std::string active = " AND state IN ('booked', 'checked_in')";
  // The commands of the restored central reach the hall (its new DOWN epoch):
  // the hall ends with exactly the capacity in both slots, and so does central.
  CHECK(eventually(
      [&] {
        return edge_int("SELECT count(*) FROM appointments WHERE slot_start = " + later_s + active) == 8 &&
               query_int(central.db(), "SELECT count(*) FROM bookings WHERE slot_start = " + later_s + active) == 8;
      },
      20s));
  CHECK(edge_int("SELECT count(*) FROM appointments WHERE slot_start = " + near_s + active) == 8);
  CHECK(eventually(
      [&] { return query_int(central.db(), "SELECT count(*) FROM bookings WHERE slot_start = " + near_s + active) == 8; },
      20s));
  if (edge_int("SELECT count(*) FROM appointments WHERE slot_start = " + later_s + active) != 8)
    UNSCOPED_INFO(central.log_text() + "\n----\n" + edge.log_text());
}
