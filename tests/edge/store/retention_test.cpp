#include "store/retention.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <zlib.h>

#include "store/event_archive.h"
#include "support/test_support.h"
#include "yiban/runtime/blob_store.h"
#include "yiban/protocol/cases.h"
#include "yiban/protocol/chain.h"

using yiban::edge::store::EdgeStore;
using yiban::edge::store::Retention;
using yiban::test::TempDir;
namespace pc = yiban::protocol::cases;

namespace {

constexpr std::int64_t kDay = 86400000;
// 2026-06-15 12:00 UTC (20:00 in the hall's zone, +8 h).
constexpr std::int64_t kNow = 1781524800000;

struct Fixture {
  TempDir dir;
  std::unique_ptr<EdgeStore> store;
  yiban::protocol::HallConfig config;
  yiban::protocol::TimeZone zone = yiban::protocol::TimeZone::fixed("Asia/Shanghai", 8 * 3600);
  std::unique_ptr<yiban::runtime::BlobStore> blobs;
  std::unique_ptr<Retention> retention;

  Fixture() {
    auto opened = EdgeStore::open((dir / "edge.db").string(), "test-hall");
    REQUIRE(opened);
    store = std::move(*opened);
    auto b = yiban::runtime::BlobStore::open(dir / "edge.blobs");
    REQUIRE(b);
    blobs = std::make_unique<yiban::runtime::BlobStore>(std::move(*b));
    config.hall = "test-hall";
    config.retention.batch_rows = 100;
    retention = std::make_unique<Retention>(*store, config, zone, dir / "edge.archive", blobs.get());
  }
  yiban::runtime::Database& db() { return store->database(); }
  std::int64_t count(const std::string& sql) {
    auto s = db().prepare(sql);
    REQUIRE(s);
    auto row = s->step();
    REQUIRE(row);
    REQUIRE(*row);
    return s->column_int(0);
  }
  void exec(const std::string& sql) { REQUIRE(db().exec(sql)); }
  // 250 events two months back, crossing a month's end ({"n":0} .. {"n":249}),
  // then `recent` events (at now - a day, or one at now when recent is 1).
  void old_events_then(int recent) {
    config.retention.events_days = 30;
    REQUIRE(store->begin());
    for (int i = 0; i < 250; ++i)
      REQUIRE(store->append_event(kNow - 70 * kDay + i * (kDay / 10), "ticket.issued", R"({"n":)" + std::to_string(i) + "}"));
    if (recent == 1) REQUIRE(store->append_event(kNow, "ticket.called", "{}"));
    else
      for (int i = 0; i < recent; ++i) REQUIRE(store->append_event(kNow - kDay + i, "ticket.called", "{}"));
    REQUIRE(store->commit());
  }
};

// The text of an archive file (gzip members, or plain text), as zlib reads it.
std::string archive_text(const std::filesystem::path& file) {
  gzFile in = gzopen(file.c_str(), "rb");
  REQUIRE(in != nullptr);
  std::string text;
  char buf[65536];
  for (int n; (n = gzread(in, buf, sizeof buf)) > 0;) text.append(buf, static_cast<std::size_t>(n));
  gzclose(in);
  return text;
}

pc::CaseFile case_file(int n) {
  pc::CaseFile f;
  f.id = pc::case_id("test-hall", 20260101, n);
  f.service = "A";
  f.service_name = "社保";
  f.origin = "test-hall";
  f.handler = "other-hall";
  f.applicant = {"王*", "370***********123X", std::string(64, 'a')};
  f.contact_name = "王芳";
  f.contact_phone = "13800138000";
  f.note = "申请人腿脚不便";
  f.submitted_ts = kNow - 400 * kDay;
  f.prereview_due = kNow - 399 * kDay;
  return f;
}

void add_case(Fixture& fx, int n, const std::string& state, std::int64_t updated_ts,
              const std::vector<std::string>& shas) {
  auto f = case_file(n);
  auto s = fx.db().prepare(
      "INSERT INTO cases(id, role, state, attempt, file, service, origin, handler, submitted_ts, updated_ts) "
      "VALUES(?1, 'origin', ?2, 1, ?3, 'A', 'test-hall', 'other-hall', ?4, ?5)");
  REQUIRE(s);
  REQUIRE(s->bind(1, f.id).bind(2, state).bind(3, pc::encode_case_file(f)).bind(4, f.submitted_ts)
              .bind(5, updated_ts).run());
  for (const auto& sha : shas) {
    auto m = fx.db().prepare(
        "INSERT INTO case_materials(id, sha256, name, type, size, attempt) VALUES(?1, ?2, 'a.pdf', "
        "'application/pdf', 4, 1)");
    REQUIRE(m);
    REQUIRE(m->bind(1, f.id).bind(2, sha).run());
    auto path = fx.blobs->path_of(sha);
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path) << "%PDF";
  }
}

}  // namespace

TEST_CASE("retention purges raw telemetry older than its window in bounded batches", "[edge][store][retention]") {
  Fixture fx;
  fx.config.retention.telemetry_days = 7;
  REQUIRE(fx.store->begin());
  for (int i = 0; i < 250; ++i) REQUIRE(fx.store->insert_sample("door-1", kNow - 8 * kDay + i, kNow - 8 * kDay, "{}"));
  for (int i = 0; i < 30; ++i) REQUIRE(fx.store->insert_sample("door-1", kNow - 6 * kDay + i, kNow - 6 * kDay, "{}"));
  REQUIRE(fx.store->commit());
  // One step never takes more than batch_rows rows.
  auto first = fx.retention->step(kNow, 0);
  REQUIRE(first);
  CHECK_FALSE(*first);
  CHECK(fx.count("SELECT count(*) FROM telemetry") == 180);
  auto run = fx.retention->run_all(kNow, 0);
  REQUIRE(run);
  CHECK(fx.count("SELECT count(*) FROM telemetry") == 30);
  CHECK(fx.count("SELECT min(received_ts) FROM telemetry") == kNow - 6 * kDay);
  CHECK(fx.retention->totals().telemetry == 250);
  CHECK(fx.retention->runs() >= 1);
  // Not due again before its period.
  CHECK_FALSE(fx.retention->due(kNow + 1000));
  CHECK(fx.retention->due(kNow + fx.config.retention.period_s * 1000));
}

TEST_CASE("retention forgets old replies, delivered and dead notifications and turn-near marks",
          "[edge][store][retention]") {
  Fixture fx;
  REQUIRE(fx.store->begin());
  REQUIRE(fx.store->save_reply("kiosk-1", "old", "ticket.take", "{}", kNow - 25 * 3600 * 1000));
  REQUIRE(fx.store->save_reply("kiosk-1", "new", "ticket.take", "{}", kNow - 3600 * 1000));
  fx.exec("INSERT INTO notify_outbox(type, body, created_ts, state, next_ts) VALUES"
          "('t', '{}', " + std::to_string(kNow - 8 * kDay) + ", 'delivered', 0),"
          "('t', '{}', " + std::to_string(kNow - 8 * kDay) + ", 'dead', 0),"
          "('t', '{}', " + std::to_string(kNow - 8 * kDay) + ", 'pending', 0),"
          "('t', '{}', " + std::to_string(kNow - 1 * kDay) + ", 'delivered', 0)");
  fx.exec("INSERT INTO turn_near_sent(ticket, ts) VALUES('a', " + std::to_string(kNow - 31 * kDay) + "), ('b', " +
          std::to_string(kNow - kDay) + ")");
  REQUIRE(fx.store->commit());
  auto run = fx.retention->run_all(kNow, 0);
  REQUIRE(run);
  CHECK(run->replies == 1);
  CHECK(run->outbox == 2);
  CHECK(run->turn_near == 1);
  auto kept = fx.store->find_reply("kiosk-1", "new");
  REQUIRE(kept);
  CHECK(kept->has_value());
  CHECK(fx.count("SELECT count(*) FROM notify_outbox WHERE state = 'pending'") == 1);  // never a pending one
  CHECK(fx.count("SELECT count(*) FROM notify_outbox") == 2);
  CHECK(fx.count("SELECT count(*) FROM turn_near_sent WHERE ticket = 'b'") == 1);
}

TEST_CASE("retention clears phone numbers and clear applicant data after the business day, keeping the masks",
          "[edge][store][retention]") {
  Fixture fx;
  fx.config.retention.personal_days = 30;
  auto ticket = [&](const std::string& id, int day) {
    yiban::edge::store::TicketRow t;
    t.id = id;
    t.day = day;
    t.number = "A001";
    t.service = "A";
    t.phone = "13800138000";
    t.state = yiban::edge::store::TicketState::kCompleted;
    REQUIRE(fx.store->insert_ticket(t));
  };
  auto booking = [&](const std::string& code, int day) {
    yiban::edge::store::AppointmentRow a;
    a.code = code;
    a.service = "A";
    a.state = "checked_in";
    a.name = "王芳";
    a.phone = "13800138000";
    a.special_need = "轮椅";
    a.day = day;
    REQUIRE(fx.store->save_appointment(a));
  };
  REQUIRE(fx.store->begin());
  ticket("test-hall:20260501:A001", 20260501);  // 45 days before
  ticket("test-hall:20260610:A001", 20260610);  // 5 days before
  booking("OLD", 20260501);
  booking("NEW", 20260610);
  REQUIRE(fx.store->commit());
  add_case(fx, 1, "completed", kNow - 31 * kDay, {});
  add_case(fx, 2, "completed", kNow - 2 * kDay, {});
  add_case(fx, 3, "accepted", kNow - 100 * kDay, {});  // still open: kept whole

  auto run = fx.retention->run_all(kNow, 0);
  REQUIRE(run);
  CHECK(run->tickets_cleared == 1);
  CHECK(run->bookings_cleared == 1);
  CHECK(run->cases_cleared == 1);
  auto old_ticket = fx.store->ticket_by_id("test-hall:20260501:A001");
  auto new_ticket = fx.store->ticket_by_id("test-hall:20260610:A001");
  REQUIRE(old_ticket);
  REQUIRE(new_ticket);
  CHECK_FALSE((*old_ticket)->phone.has_value());
  CHECK((*new_ticket)->phone == "13800138000");
  auto old_booking = fx.store->appointment("OLD");
  auto new_booking = fx.store->appointment("NEW");
  REQUIRE(old_booking);
  REQUIRE(new_booking);
  CHECK((*old_booking)->name == pc::mask_name("王芳"));
  CHECK_FALSE((*old_booking)->phone.has_value());
  CHECK_FALSE((*old_booking)->special_need.has_value());
  CHECK((*new_booking)->name == "王芳");
  CHECK((*new_booking)->phone == "13800138000");
  auto file_of = [&](int n) {
    auto s = fx.db().prepare("SELECT file FROM cases WHERE id = ?1");
    REQUIRE(s);
    s->bind(1, pc::case_id("test-hall", 20260101, n));
    auto row = s->step();
    REQUIRE(row);
    REQUIRE(*row);
    return s->column_text(0);
  };
  auto cleared = pc::decode_case_file(file_of(1));
  REQUIRE(cleared);
  CHECK(cleared->contact_name == pc::mask_name("王芳"));
  CHECK(cleared->contact_phone.find("0013") == std::string::npos);
  CHECK(cleared->contact_phone.find('*') != std::string::npos);
  CHECK(cleared->note.empty());
  CHECK(cleared->applicant.id_masked == "370***********123X");  // the masks remain
  CHECK(file_of(1).find("13800138000") == std::string::npos);
  CHECK(file_of(2).find("13800138000") != std::string::npos);
  CHECK(file_of(3).find("13800138000") != std::string::npos);
  // A second run finds nothing more to clear.
  auto again = fx.retention->run_all(kNow + 1000, 0);
  REQUIRE(again);
  CHECK(again->total() == 0);
}

TEST_CASE("retention removes old business days' ticket rows, ratings and number series, never the events",
          "[edge][store][retention]") {
  Fixture fx;
  fx.config.retention.tickets_days = 400;
  fx.config.retention.batch_rows = 100;
  // 150 tickets (and ratings, and a number series) on a day 450 days back, 3 on one 10 days back.
  const int old_day = fx.zone.local_day(kNow - 450 * kDay);
  const int recent_day = fx.zone.local_day(kNow - 10 * kDay);
  REQUIRE(fx.store->begin());
  for (auto [day, n, ts] : {std::tuple{old_day, 150, kNow - 450 * kDay}, std::tuple{recent_day, 3, kNow - 10 * kDay}}) {
    for (int i = 0; i < n; ++i) {
      yiban::edge::store::TicketRow t;
      t.id = "test-hall:" + std::to_string(day) + ":A" + std::to_string(100 + i);
      t.day = day;
      t.number = "A" + std::to_string(100 + i);
      t.service = "A";
      t.state = yiban::edge::store::TicketState::kCompleted;
      REQUIRE(fx.store->insert_ticket(t));
      fx.exec("INSERT INTO ratings(ts, counter, ticket, score, device) VALUES(" + std::to_string(ts + i) + ", '1', '" +
              t.id + "', 5, 'rating-1')");
    }
    fx.exec("INSERT INTO day_numbers(day, series, last) VALUES(" + std::to_string(day) + ", 'A', " + std::to_string(n) +
            ")");
    REQUIRE(fx.store->append_event(ts, "ticket.issued", "{}"));
  }
  REQUIRE(fx.store->commit());
  auto run = fx.retention->run_all(kNow, 0);
  REQUIRE(run);
  CHECK(run->ticket_rows == 150 + 150 + 1);  // in batches of 100: two steps for the tickets and ratings
  CHECK(fx.count("SELECT count(*) FROM tickets") == 3);
  CHECK(fx.count("SELECT count(*) FROM tickets WHERE day = " + std::to_string(recent_day)) == 3);
  CHECK(fx.count("SELECT count(*) FROM ratings") == 3);
  CHECK(fx.count("SELECT count(*) FROM day_numbers") == 1);
  CHECK(fx.count("SELECT count(*) FROM events") == 2);  // the log keeps every day
  CHECK_THAT(run->summary(), Catch::Contains("old ticket rows 301"));
  // 0 keeps them for good.
  fx.config.retention.tickets_days = 0;
  fx.exec("UPDATE tickets SET day = " + std::to_string(old_day));
  auto kept = fx.retention->run_all(kNow + 1, 0);
  REQUIRE(kept);
  CHECK(kept->ticket_rows == 0);
  CHECK(fx.count("SELECT count(*) FROM tickets") == 3);
}

TEST_CASE("retention removes a completed case's files after their window, with an audit event",
          "[edge][store][retention]") {
  Fixture fx;
  fx.config.retention.case_files_days = 365;
  const std::string only_old(64, 'b'), shared(64, 'c'), young(64, 'd');
  add_case(fx, 1, "completed", kNow - 366 * kDay, {only_old, shared});
  add_case(fx, 2, "completed", kNow - 10 * kDay, {shared, young});
  auto run = fx.retention->run_all(kNow, 0);
  REQUIRE(run);
  CHECK(run->case_files == 1);
  CHECK_FALSE(fx.blobs->has(only_old));
  CHECK(fx.blobs->has(shared));  // another case still names it
  CHECK(fx.blobs->has(young));
  CHECK(fx.count("SELECT count(*) FROM case_materials WHERE id = '" + pc::case_id("test-hall", 20260101, 1) + "'") ==
        0);
  auto events = fx.store->read_events(0, 10);
  REQUIRE(events);
  REQUIRE(events->size() == 1);
  auto j = nlohmann::json::parse(events->front().text);
  CHECK(j["type"] == "case.files_purged");
  CHECK(j["data"]["case"] == pc::case_id("test-hall", 20260101, 1));
  CHECK(j["data"]["files"] == 2);
  auto again = fx.retention->run_all(kNow + 1000, 0);
  REQUIRE(again);
  CHECK(fx.store->last_seq() == 1);  // audited once
}

TEST_CASE("retention archives acknowledged old events only, and the chain still verifies from the archive",
          "[edge][store][retention]") {
  Fixture fx;
  fx.old_events_then(20);  // 250 events two months back (crossing a month's end), 20 recent ones
  const auto head = fx.store->last_chain();

  // Nothing is archived that central has not acknowledged.
  auto none = fx.retention->run_all(kNow, 0);
  REQUIRE(none);
  CHECK(none->events_archived == 0);
  auto partial = fx.retention->run_all(kNow + 1, 120);
  REQUIRE(partial);
  CHECK(partial->events_archived == 120);
  CHECK(fx.count("SELECT min(seq) FROM events") == 121);
  auto all = fx.retention->run_all(kNow + 2, 270);
  REQUIRE(all);
  CHECK(all->events_archived == 130);  // only the old ones; the last 20 are young
  CHECK(fx.count("SELECT min(seq) FROM events") == 251);
  CHECK(fx.count("SELECT count(*) FROM events") == 20);

  auto check = yiban::edge::store::verify_event_log(fx.db(), fx.dir / "edge.archive");
  REQUIRE(check);
  INFO(check->problem);
  CHECK(check->ok);
  CHECK(check->archived == 250);
  CHECK(check->hot == 20);
  CHECK(check->last_seq == 270);
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(fx.dir / "edge.archive")) {
    ++files;
    struct stat st {};
    REQUIRE(::stat(entry.path().c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
  }
  CHECK(files == 2);  // one per month

  // The store reopens at the same head and appends after it.
  fx.retention.reset();
  fx.store.reset();
  auto reopened = EdgeStore::open((fx.dir / "edge.db").string(), "test-hall");
  REQUIRE(reopened);
  CHECK((*reopened)->last_seq() == 270);
  CHECK((*reopened)->last_chain() == head);
  REQUIRE((*reopened)->begin());
  REQUIRE((*reopened)->append_event(kNow + 5, "ticket.issued", "{}"));
  REQUIRE((*reopened)->commit());
  auto after = yiban::edge::store::verify_event_log((*reopened)->database(), fx.dir / "edge.archive");
  REQUIRE(after);
  CHECK(after->ok);
  CHECK(after->last_seq == 271);

  // A tampered archive line is found.
  auto file = fx.dir / "edge.archive";
  std::filesystem::path first;
  for (const auto& entry : std::filesystem::directory_iterator(file))
    if (first.empty() || entry.path() < first) first = entry.path();
  std::string text = archive_text(first);
  CHECK(std::filesystem::file_size(first) * 3 < text.size());  // compressed
  auto at = text.find(R"({"n":7})");
  REQUIRE(at != std::string::npos);
  text.replace(at, 7, R"({"n":8})");
  std::ofstream(first, std::ios::trunc) << text;
  auto tampered = yiban::edge::store::verify_event_log((*reopened)->database(), fx.dir / "edge.archive");
  REQUIRE(tampered);
  CHECK_FALSE(tampered->ok);
  CHECK(tampered->problem.find("anchor") != std::string::npos);
}

TEST_CASE("the archive reader serves archived events in order across month files with their chain",
          "[edge][store][retention]") {
  Fixture fx;
  fx.old_events_then(1);
  // The texts and chains as the table held them, before they leave it.
  auto before = fx.store->read_events(0, 250);
  REQUIRE(before);
  REQUIRE(before->size() == 250);
  std::vector<yiban::protocol::ChainHash> chains{yiban::protocol::kChainZero};
  for (const auto& e : *before) chains.push_back(yiban::protocol::chain_next(chains.back(), e.text));
  auto run = fx.retention->run_all(kNow, 250);
  REQUIRE(run);
  REQUIRE(run->events_archived == 250);
  const auto dir = fx.dir / "edge.archive";
  auto files = yiban::edge::store::EventArchiveReader::files_of(dir);
  REQUIRE(files);
  CHECK(files->size() == 2);  // the events cross a month's end

  // From the middle: positioned at 101 with chain(100), then batches bounded
  // by items, bytes and the caller's bound, across the file boundary.
  auto reader = yiban::edge::store::EventArchiveReader::open(dir, 101);
  INFO((reader ? std::string() : reader.error().message));
  REQUIRE(reader);
  CHECK(reader->next_seq() == 101);
  CHECK(reader->chain() == chains[100]);
  auto batch = reader->read(250, 60, SIZE_MAX);
  REQUIRE(batch);
  REQUIRE(batch->size() == 60);
  CHECK(batch->front() == (*before)[100].text);
  CHECK(reader->chain() == chains[160]);
  auto small = reader->read(250, 1000, 1);  // one event at least, however small the byte budget
  REQUIRE(small);
  CHECK(small->size() == 1);
  auto rest = reader->read(240, 1000, SIZE_MAX);
  REQUIRE(rest);
  CHECK(rest->size() == 79);  // 162..240: never past the bound
  CHECK(rest->back() == (*before)[239].text);
  CHECK(reader->chain() == chains[240]);
  auto none = reader->read(240, 1000, SIZE_MAX);
  REQUIRE(none);
  CHECK(none->empty());
  // Past the archive's end: an error naming where it ends.
  auto beyond = reader->read(300, 1000, SIZE_MAX);
  REQUIRE_FALSE(beyond);
  CHECK_THAT(beyond.error().message, Catch::Contains("ends at event 250"));
  CHECK_FALSE(yiban::edge::store::EventArchiveReader::open(dir, 252));

  // A missing line (a gap) and a line that is not an event are named.
  std::string text = archive_text(files->front());
  const auto second = text.find('\n') + 1;
  const auto third = text.find('\n', second) + 1;
  std::ofstream(files->front(), std::ios::trunc) << text.substr(0, second) + text.substr(third);
  auto gap = yiban::edge::store::EventArchiveReader::open(dir, 10);
  REQUIRE_FALSE(gap);
  CHECK_THAT(gap.error().message, Catch::Contains("event 3 follows 1"));
  std::ofstream(files->front(), std::ios::trunc) << "not json\n" + text.substr(second);
  auto junk = yiban::edge::store::EventArchiveReader::open(dir, 10);
  REQUIRE_FALSE(junk);
  CHECK_THAT(junk.error().message, Catch::Contains("is not an event"));
}

TEST_CASE("an archive run that crashed before its commit is cut back, not duplicated", "[edge][store][retention]") {
  Fixture fx;
  REQUIRE(fx.store->begin());
  for (int i = 0; i < 50; ++i) REQUIRE(fx.store->append_event(kNow - 60 * kDay + i, "ticket.issued", "{}"));
  REQUIRE(fx.store->append_event(kNow, "ticket.issued", "{}"));
  REQUIRE(fx.store->commit());
  REQUIRE(fx.retention->run_all(kNow, 20));
  // Lines written by a run whose transaction never committed.
  for (const auto& entry : std::filesystem::directory_iterator(fx.dir / "edge.archive"))
    std::ofstream(entry.path(), std::ios::app) << R"({"hall":"test-hall","seq":21,"ts":0,"type":"x","data":{}})" << "\n";
  REQUIRE(fx.retention->run_all(kNow + 1, 50));
  auto check = yiban::edge::store::verify_event_log(fx.db(), fx.dir / "edge.archive");
  REQUIRE(check);
  INFO(check->problem);
  CHECK(check->ok);
  CHECK(check->archived == 50);
  CHECK(check->hot == 1);  // the newest event always stays
}

TEST_CASE("every console and KPI query of a day uses an index, not a scan of events, tickets or telemetry",
          "[edge][store][retention]") {
  Fixture fx;
  // The queries of edge/src/console/console_api.cpp (stats, hall, tickets,
  // bookings, alerts) and of retention, as the console and the job run them.
  const std::vector<std::string> queries{
      "SELECT service, state, issued_ts, called_ts, finished_ts FROM tickets WHERE day = 20260615",
      "SELECT count(*) FROM tickets WHERE day = 20260615 AND state = 'completed'",
      "SELECT type, json_extract(text, '$.data.service'), ts FROM events WHERE ts >= 1 AND type IN "
      "('ticket.called', 'ticket.completed', 'telemetry.summary')",
      "SELECT count(*), coalesce(sum(score >= 4), 0) FROM ratings WHERE ts >= 1",
      "SELECT rowid, id FROM tickets WHERE day = 20260615 AND rowid > 0 AND ('' = '' OR state = '') ORDER BY rowid "
      "LIMIT 100",
      "SELECT code FROM appointments WHERE slot_start >= 1 AND slot_start < 2 ORDER BY slot_start, code LIMIT 2000",
      "SELECT id FROM alerts WHERE ('all' = 'all' OR state != 'resolved') ORDER BY raised_ts DESC LIMIT 500",
      "SELECT seq, type, ts FROM events WHERE seq > 1 ORDER BY seq LIMIT 1000",
      "SELECT id FROM telemetry WHERE received_ts < 1 ORDER BY received_ts LIMIT 10",
      "SELECT rowid FROM tickets WHERE day < 20260101 AND phone IS NOT NULL LIMIT 10",
      "SELECT code FROM appointments WHERE day < 20260101 AND personal_cleared = 0 LIMIT 10",
      "SELECT id FROM notify_outbox WHERE state != 'pending' AND created_ts < 1 LIMIT 10",
      "SELECT ticket FROM turn_near_sent WHERE ts < 1 LIMIT 10",
      "SELECT device, correlation FROM requests WHERE ts < 1 LIMIT 10",
      "SELECT id FROM cases WHERE state IN ('completed', 'rejected') AND updated_ts < 1 AND files_purged = 0 LIMIT 5",
  };
  for (const auto& q : queries) {
    auto s = fx.db().prepare("EXPLAIN QUERY PLAN " + q);
    REQUIRE(s);
    std::string plan;
    for (auto row = s->step(); row && *row; row = s->step()) plan += s->column_text(3) + "; ";
    INFO(q << "\n  plan: " << plan);
    for (const char* table : {"events", "tickets", "telemetry", "ratings", "appointments", "alerts", "notify_outbox",
                              "turn_near_sent", "requests", "cases"}) {
      CHECK(plan.find("SCAN " + std::string(table) + "; ") == std::string::npos);  // a scan of the whole table
    }
  }
}
