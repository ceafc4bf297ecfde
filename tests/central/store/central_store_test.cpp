#include "yiban/central/central_store.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "support/test_support.h"
#include "yiban/protocol/chain.h"
#include "yiban/protocol/event.h"

using nlohmann::json;
using yiban::central::CentralStore;
using yiban::central::KpiQuery;
using yiban::test::TempDir;
namespace protocol = yiban::protocol;

namespace {

// 2025-01-15 09:00 in China (UTC+8).
constexpr std::int64_t kT0 = 1736902800000;

std::unique_ptr<CentralStore> open_store(const TempDir& dir,
                                         const std::string& name = "central.db") {
  auto store = yiban::central::open_sqlite_central_store((dir / name).string());
  REQUIRE(store);
  return std::move(*store);
}

std::int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// A hall's log as the edge would write it: texts, seq and chain.
struct HallLog {
  std::string hall;
  std::vector<std::string> texts;
  protocol::ChainHash chain = protocol::kChainZero;
  std::int64_t ts(std::int64_t seq) const { return kT0 + seq * 10000; }
  std::int64_t next_seq() const { return static_cast<std::int64_t>(texts.size()) + 1; }

  // Adds an event at ts(seq).
  void add(std::string_view type, const json& data) { add_at(type, data, ts(next_seq())); }
  void add_at(std::string_view type, const json& data, std::int64_t at) {
    texts.push_back(protocol::encode_event(hall, next_seq(), at, type, data.dump()));
    chain = protocol::chain_next(chain, texts.back());
  }
  std::string ticket(std::string_view number) const {
    return hall + ":20250115:" + std::string(number);
  }
};

protocol::ChainHash chain_of(const std::vector<std::string>& texts, std::size_t upto) {
  protocol::ChainHash chain = protocol::kChainZero;
  for (std::size_t i = 0; i < upto; ++i) chain = protocol::chain_next(chain, texts[i]);
  return chain;
}

// Appends texts[from-1 .. to-1] in one committed transaction.
protocol::Expected<void> append(CentralStore& store, const HallLog& log, std::int64_t from,
                                std::int64_t to) {
  std::vector<std::string_view> views(log.texts.begin() + (from - 1), log.texts.begin() + to);
  REQUIRE(store.begin());
  auto ok =
      store.append_events(log.hall, from, views, chain_of(log.texts, static_cast<std::size_t>(to)));
  if (!ok) {
    store.rollback();
    return ok;
  }
  REQUIRE(store.commit());
  return {};
}

void append_all(CentralStore& store, const HallLog& log) {
  auto ok = append(store, log, 1, static_cast<std::int64_t>(log.texts.size()));
  INFO((ok ? std::string() : ok.error().message));
  REQUIRE(ok);
}

// A small hall's morning: every projected event type, with the expected
// results worked out by hand in the test below. ts(seq) = kT0 + seq*10 s.
HallLog small_hall_day(const std::string& hall) {
  HallLog log{hall, {}};
  auto t = [&](std::string_view n) { return log.ticket(n); };
  log.add("device.online", {{"device", "kiosk-1"}, {"kind", "kiosk"}});      // 1
  log.add("device.online", {{"device", "counter-1"}, {"kind", "counter"}});  // 2
  log.add("device.online", {{"device", "display-1"}, {"kind", "display"}});  // 3
  log.add("counter.opened", {{"counter", "1"}, {"device", "counter-1"}});    // 4
  log.add("counter.opened", {{"counter", "2"}, {"device", "counter-2"}});    // 5
  auto issue = [&](std::string_view number, std::string_view service) {
    log.add("ticket.issued", {{"ticket", t(number)},
                              {"service", service},
                              {"number", number},
                              {"class", "normal"},
                              {"issued_ts", log.ts(log.next_seq())},
                              {"device", "kiosk-1"},
                              {"waiting_ahead", 0},
                              {"estimated_wait_s", 60}});
  };
  issue("A001", "A");  // 6
  issue("A002", "A");  // 7
  issue("B001", "B");  // 8
  issue("A003", "A");  // 9
  auto call = [&](std::string_view number, std::string_view service, std::string_view counter,
                  int waited) {
    log.add("ticket.called", {{"ticket", t(number)},
                              {"number", number},
                              {"service", service},
                              {"counter", counter},
                              {"device", "counter-1"},
                              {"waited_ms", waited}});
  };
  call("A001", "A", "1", 50000);  // 10
  log.add("ticket.recalled", {{"ticket", t("A001")},
                              {"number", "A001"},
                              {"counter", "1"},
                              {"recalls", 1},
                              {"device", "counter-1"}});  // 11
  call("A001", "A", "1", 70000);  // 12: a later call changes neither first_called_ts nor waited_ms
  log.add("ticket.serving", {{"ticket", t("A001")},
                             {"number", "A001"},
                             {"counter", "1"},
                             {"device", "counter-1"}});  // 13
  log.add("ticket.completed", {{"ticket", t("A001")},
                               {"number", "A001"},
                               {"service", "A"},
                               {"counter", "1"},
                               {"device", "counter-1"},
                               {"service_ms", 120000}});  // 14
  log.add("rating.submitted",
          {{"counter", "1"}, {"ticket", t("A001")}, {"score", 5}, {"device", "rating-1"}});  // 15
  call("A002", "A", "2", 200000);                                                            // 16
  log.add("ticket.no_show", {{"ticket", t("A002")},
                             {"number", "A002"},
                             {"service", "A"},
                             {"counter", "2"},
                             {"recalls", 2},
                             {"device", "counter-2"}});  // 17
  call("B001", "B", "1", 230000);                        // 18
  log.add("ticket.transferred", {{"ticket", t("B001")},
                                 {"number", "B001"},
                                 {"from_service", "B"},
                                 {"counter", "1"},
                                 {"device", "counter-1"},
                                 {"to_service", "A"}});  // 19
  log.add("rating.submitted",
          {{"counter", "1"}, {"ticket", nullptr}, {"score", 2}, {"device", "rating-1"}});  // 20
  log.add("alert.raised", {{"alert", "al-1"},
                           {"rule", "long_wait"},
                           {"subject", "A"},
                           {"severity", "warning"},
                           {"message", "A waits long"}});  // 21
  log.add("device.offline",
          {{"device", "display-1"}, {"kind", "display"}, {"reason", "status"}});  // 22
  log.add("alert.raised", {{"alert", "al-2"},
                           {"rule", "device_offline"},
                           {"subject", "display-1"},
                           {"severity", "warning"},
                           {"message", "display-1 offline"}});            // 23
  log.add("alert.acknowledged", {{"alert", "al-1"}, {"by", "staff-1"}});  // 24
  log.add("alert.escalated",
          {{"alert", "al-2"}, {"severity", "critical"}, {"reason", "unacknowledged"}});  // 25
  log.add("alert.raised", {{"alert", "al-3"},
                           {"rule", "crowding"},
                           {"subject", hall},
                           {"severity", "warning"},
                           {"message", "crowded"}});                 // 26
  log.add("alert.resolved", {{"alert", "al-3"}, {"by", "system"}});  // 27
  log.add("telemetry.summary", {{"device", "pc-1"},
                                {"kind", "people_counter"},
                                {"minute_ts", kT0},
                                {"samples", 12},
                                {"metrics", json::object()},
                                {"occupancy", 42}});                       // 28
  log.add("counter.paused", {{"counter", "2"}, {"device", "counter-2"}});  // 29
  log.add("case.received", {{"case", "c-1"}, {"from_region", "370203"}});  // 30: unknown type
  call("A003", "A", "1", 350000);                                          // 31
  issue("C001", "C");                                                      // 32
  log.add("ticket.cancelled", {{"ticket", t("C001")},
                               {"number", "C001"},
                               {"service", "C"},
                               {"reason", "day_closed"}});  // 33
  return log;
}

KpiQuery query(std::optional<std::string> hall, std::optional<std::string> service, int from_day,
               int to_day) {
  KpiQuery q;
  q.hall = std::move(hall);
  q.service = std::move(service);
  q.from_day = from_day;
  q.to_day = to_day;
  return q;
}

json parse(const protocol::Expected<std::string>& text) {
  REQUIRE(text);
  return json::parse(*text);
}

}  // namespace

TEST_CASE("a small hall's day is projected into hall, halls, alerts and kpi documents",
          "[central][store]") {
  TempDir dir;
  auto store = open_store(dir);
  HallLog log = small_hall_day("h1");
  REQUIRE(store->begin());
  REQUIRE(store->note_contact("h1", 40, kT0 + 999, true, "Shinan Hall", "370202", 200));
  REQUIRE(store->commit());
  append_all(*store, log);
  const auto ts = [&](std::int64_t seq) { return log.ts(seq); };

  std::int64_t before = wall_ms();
  json hall = json::parse(store->hall_json("h1").value().value());
  json halls = parse(store->halls_json());
  std::int64_t after = wall_ms();
  auto waited_s = [&](std::int64_t since, std::int64_t got) {
    CHECK(got >= (before - since) / 1000);
    CHECK(got <= (after - since) / 1000);
  };

  CHECK(hall["hall"] == "h1");
  CHECK(hall["name"] == "Shinan Hall");
  CHECK(hall["region"] == "370202");
  CHECK(hall["integrity"] == json{{"ok", true}, {"reason", nullptr}, {"ts", nullptr}});
  CHECK(hall["sync"] == json{{"acked_seq", 33},
                             {"edge_last_seq", 40},
                             {"lag_events", 7},
                             {"last_contact_ts", kT0 + 999},
                             {"connected", true},
                             {"down_applied", 0},
                             {"down_last", 0}});
  CHECK(hall["occupancy"] == json{{"value", 42}, {"ts", ts(28)}});
  // B001 was transferred to A and waits again; nothing else waits.
  REQUIRE(hall["queues"].size() == 1);
  CHECK(hall["queues"][0]["service"] == "A");
  CHECK(hall["queues"][0]["waiting"] == 1);
  CHECK(hall["queues"][0]["oldest_issued_ts"] == ts(8));
  waited_s(ts(8), hall["queues"][0]["oldest_wait_s"].get<std::int64_t>());
  CHECK(hall["counters"] == json::array({
                                json{{"counter", "1"},
                                     {"state", "open"},
                                     {"ticket", log.ticket("A003")},
                                     {"number", "A003"},
                                     {"since_ts", ts(4)}},
                                json{{"counter", "2"},
                                     {"state", "paused"},
                                     {"ticket", nullptr},
                                     {"number", nullptr},
                                     {"since_ts", ts(29)}},
                            }));
  CHECK(hall["devices"] == json{{"online", 2},
                                {"offline", 1},
                                {"items", json::array({
                                              json{{"device", "counter-1"},
                                                   {"kind", "counter"},
                                                   {"online", true},
                                                   {"since_ts", ts(2)}},
                                              json{{"device", "display-1"},
                                                   {"kind", "display"},
                                                   {"online", false},
                                                   {"since_ts", ts(22)}},
                                              json{{"device", "kiosk-1"},
                                                   {"kind", "kiosk"},
                                                   {"online", true},
                                                   {"since_ts", ts(1)}},
                                          })}});
  json active = json::array({
      json{{"hall", "h1"},
           {"alert", "al-2"},
           {"rule", "device_offline"},
           {"subject", "display-1"},
           {"severity", "critical"},
           {"state", "raised"},
           {"message", "display-1 offline"},
           {"raised_ts", ts(23)},
           {"acked_ts", nullptr},
           {"acked_by", nullptr}},
      json{{"hall", "h1"},
           {"alert", "al-1"},
           {"rule", "long_wait"},
           {"subject", "A"},
           {"severity", "warning"},
           {"state", "acknowledged"},
           {"message", "A waits long"},
           {"raised_ts", ts(21)},
           {"acked_ts", ts(24)},
           {"acked_by", "staff-1"}},
  });
  CHECK(hall["alerts"] == active);
  CHECK(parse(store->alerts_json(std::nullopt)) == json{{"alerts", active}});
  CHECK(parse(store->alerts_json("h1")) == json{{"alerts", active}});

  REQUIRE(halls["halls"].size() == 1);
  json h = halls["halls"][0];
  waited_s(ts(8), h["longest_wait_s"].get<std::int64_t>());
  h.erase("longest_wait_s");
  CHECK(h == json{{"hall", "h1"},
                  {"name", "Shinan Hall"},
                  {"region", "370202"},
                  {"integrity_ok", true},
                  {"connected", true},
                  {"last_contact_ts", kT0 + 999},
                  {"acked_seq", 33},
                  {"edge_last_seq", 40},
                  {"lag_events", 7},
                  {"waiting", 1},
                  {"occupancy", 42},
                  {"capacity", 200},
                  {"occupancy_pct", 21.0},
                  {"alerts_active", 2},
                  {"devices_offline", 1}});

  // KPIs by hand. A: issued A001 A002 A003; waits 50+200+350 s (B001's wait
  // belongs to B, where it waited); A001 served in 120 s and rated 5; A002
  // no-show. B: B001 issued and waited 230 s. C: C001 issued then cancelled.
  // '': the rating without a ticket (score 2), on its China day.
  json kpi = parse(store->kpi_json(KpiQuery{}));
  auto row = [](std::string service, int issued, int served, int no_shows, json rate,
                json wait_mean, json p90, json service_mean, int ratings, json satisfaction) {
    return json{{"hall", "h1"},         {"day", 20250115},
                {"service", service},   {"issued", issued},
                {"served", served},     {"no_shows", no_shows},
                {"no_show_rate", rate}, {"wait_mean_s", wait_mean},
                {"wait_p90_s", p90},    {"service_mean_s", service_mean},
                {"ratings", ratings},   {"satisfaction", satisfaction}};
  };
  CHECK(kpi["rows"] == json::array({
                           row("", 0, 0, 0, nullptr, nullptr, nullptr, nullptr, 1, 0.0),
                           row("A", 3, 1, 1, 0.5, 200.0, 350.0, 120.0, 1, 1.0),
                           row("B", 1, 0, 0, nullptr, 230.0, 230.0, nullptr, 0, nullptr),
                           row("C", 1, 0, 0, nullptr, nullptr, nullptr, nullptr, 0, nullptr),
                       }));
  CHECK(kpi["total"] == json{{"issued", 5},
                             {"served", 1},
                             {"no_shows", 1},
                             {"no_show_rate", 0.5},
                             {"wait_mean_s", 207.5},
                             {"wait_p90_s", 350.0},
                             {"service_mean_s", 120.0},
                             {"ratings", 2},
                             {"satisfaction", 0.5}});

  json only_b = parse(store->kpi_json(query("h1", "B", 20250115, 20250115)));
  CHECK(only_b["rows"].size() == 1);
  CHECK(only_b["total"]["wait_p90_s"] == 230.0);
  json later = parse(store->kpi_json(query(std::nullopt, std::nullopt, 20250116, 0)));
  CHECK(later["rows"].empty());
  CHECK(later["total"]["issued"] == 0);
  CHECK(later["total"]["wait_mean_s"] == nullptr);

  REQUIRE(store->begin());
  REQUIRE(store->set_integrity("h1", false, "chain mismatch at 34", kT0 + 5));
  REQUIRE(store->commit());
  json broken = json::parse(store->hall_json("h1").value().value());
  CHECK(broken["integrity"] ==
        json{{"ok", false}, {"reason", "chain mismatch at 34"}, {"ts", kT0 + 5}});
  CHECK(parse(store->halls_json())["halls"][0]["integrity_ok"] == false);
  auto sync = store->load_hall("h1");
  REQUIRE(sync);
  REQUIRE(*sync);
  CHECK_FALSE((*sync)->integrity_ok);
  CHECK((*sync)->integrity_reason == "chain mismatch at 34");

  auto unknown = store->hall_json("nowhere");
  REQUIRE(unknown);
  CHECK_FALSE(*unknown);
}

TEST_CASE("a bad event in the middle of a batch keeps nothing of the batch", "[central][store]") {
  TempDir dir;
  auto store = open_store(dir);
  HallLog log = small_hall_day("h1");
  REQUIRE(append(*store, log, 1, 5));
  std::string digest = store->projection_digest().value();

  auto try_batch = [&](std::string bad_text) {
    std::vector<std::string> texts{log.texts[5], std::move(bad_text), log.texts[7]};
    std::vector<std::string_view> views(texts.begin(), texts.end());
    REQUIRE(store->begin());
    auto ok = store->append_events("h1", 6, views, chain_of(log.texts, 8));
    // The caller may still commit its transaction: the batch must be gone anyway.
    REQUIRE(store->commit());
    REQUIRE_FALSE(ok);
    return ok.error().message;
  };
  CHECK(try_batch(protocol::encode_event("x", 7, kT0, "ticket.issued", "{}")) ==
        "event 7: hall is \"x\", expected \"h1\"");
  CHECK(try_batch(protocol::encode_event("h1", 8, kT0, "ticket.issued", "{}")) ==
        "event 7: seq is 8, expected 7");
  CHECK(try_batch(R"({"hall":"h1","seq":7,"ts":1,"type":"Ticket","data":{}})")
            .rfind("event 7: type", 0) == 0);
  CHECK(try_batch(R"({"hall":"h1","seq":7,"ts":1.5,"type":"a.b","data":{}})")
            .rfind("event 7: ts", 0) == 0);
  CHECK(try_batch(R"({"hall":"h1","seq":7,"ts":1,"type":"a.b","data":[]})")
            .rfind("event 7: data", 0) == 0);
  CHECK(try_batch(R"({"hall":"h1","seq":7,"ts":1,"type":"a.b","data":{},"x":1})")
            .rfind("event 7:", 0) == 0);
  CHECK(try_batch(R"({"hall":"h1","seq":7,)").rfind("event 7: not a JSON object", 0) == 0);

  CHECK(store->event_count().value() == 5);
  auto sync = store->load_hall("h1").value().value();
  CHECK(sync.acked == 5);
  CHECK(sync.chain == chain_of(log.texts, 5));
  CHECK(store->projection_digest().value() == digest);
  CHECK(json::parse(store->hall_json("h1").value().value())["queues"].empty());

  SECTION("append_events outside a transaction is refused") {
    std::vector<std::string_view> views{log.texts[5]};
    CHECK_FALSE(store->append_events("h1", 6, views, chain_of(log.texts, 6)));
  }
  SECTION("the good batch still goes in afterwards") {
    REQUIRE(append(*store, log, 6, 33));
    CHECK(store->event_count().value() == 33);
  }
}

TEST_CASE("acked seq and chain survive reopening and events come back verbatim",
          "[central][store]") {
  TempDir dir;
  HallLog log = small_hall_day("h1");
  {
    auto store = open_store(dir);
    auto none = store->load_hall("h1");
    REQUIRE(none);
    CHECK_FALSE(*none);
    REQUIRE(append(*store, log, 1, 20));
    REQUIRE(append(*store, log, 21, 33));
  }
  auto store = open_store(dir);
  auto halls = store->load_halls();
  REQUIRE(halls);
  REQUIRE(halls->size() == 1);
  const auto& h = halls->front();
  CHECK(h.hall == "h1");
  CHECK(h.acked == 33);
  CHECK(h.chain == log.chain);
  CHECK(h.edge_last_seq == 33);  // never below acked
  CHECK(h.down_applied == 0);
  CHECK(h.down_last == 0);
  CHECK(h.integrity_ok);
  auto texts = store->events_after("h1", 30, 100);
  REQUIRE(texts);
  CHECK(*texts == std::vector<std::string>(log.texts.begin() + 30, log.texts.end()));
  CHECK(store->events_after("h1", 0, 2).value() ==
        std::vector<std::string>(log.texts.begin(), log.texts.begin() + 2));
  CHECK(store->event_count().value() == 33);
}

TEST_CASE("rebuild gives the same projections as incremental ingest", "[central][store]") {
  TempDir dir;
  HallLog h1 = small_hall_day("h1");
  HallLog h2 = small_hall_day("h2");
  std::string digest;
  {
    auto store = open_store(dir);
    // Interleave the halls' batches as the sync server would.
    REQUIRE(append(*store, h1, 1, 10));
    REQUIRE(append(*store, h2, 1, 17));
    REQUIRE(append(*store, h1, 11, 33));
    REQUIRE(append(*store, h2, 18, 33));
    REQUIRE(store->begin());
    REQUIRE(store->note_contact("h1", 50, kT0, true, "one", "370202"));
    REQUIRE(store->set_integrity("h2", false, "gap", kT0));
    REQUIRE(store->commit());
    digest = store->projection_digest().value();
    std::string kpi = store->kpi_json(KpiQuery{}).value();
    REQUIRE(store->rebuild());
    CHECK(store->projection_digest().value() == digest);
    CHECK(store->kpi_json(KpiQuery{}).value() == kpi);
    // Liveness and sync columns are kept by rebuild.
    auto sync = store->load_hall("h2").value().value();
    CHECK(sync.acked == 33);
    CHECK_FALSE(sync.integrity_ok);
    CHECK(json::parse(store->hall_json("h1").value().value())["sync"]["edge_last_seq"] == 50);
  }
  auto store = open_store(dir);
  CHECK(store->projection_digest().value() == digest);
  REQUIRE(store->rebuild());
  CHECK(store->projection_digest().value() == digest);

  // The digest does see projection changes.
  h1.add("ticket.cancelled", {{"ticket", h1.ticket("A003")}, {"number", "A003"}, {"service", "A"}});
  REQUIRE(append(*store, h1, 34, 34));
  CHECK(store->projection_digest().value() != digest);

  // And a fresh store fed the same logs in other batches agrees.
  auto other = open_store(dir, "other.db");
  REQUIRE(append(*other, h2, 1, 33));
  REQUIRE(append(*other, h1, 1, 34));
  CHECK(other->projection_digest().value() == store->projection_digest().value());
}

TEST_CASE("commands are queued per hall with down_seq 1, 2, … and confirmed by down_applied",
          "[central][store]") {
  TempDir dir;
  auto store = open_store(dir);
  REQUIRE(store->begin());
  CHECK(
      store->enqueue_command("h1", 1000, "config.services", R"({"services":["A","B"]})").value() ==
      1);
  CHECK(store->enqueue_command("h1", 1001, "notice.broadcast", R"({"text":"closing at 17:00"})")
            .value() == 2);
  CHECK(store->enqueue_command("h2", 1002, "notice.broadcast", "{}").value() == 1);
  CHECK_FALSE(store->enqueue_command("h1", 1003, "Notice", "{}"));
  CHECK_FALSE(store->enqueue_command("h1", 1003, "notice.", "{}"));
  CHECK_FALSE(store->enqueue_command("h1", 1003, "notice.broadcast", "[1]"));
  CHECK_FALSE(store->enqueue_command("h1", 1003, "notice.broadcast", "{"));
  REQUIRE(store->commit());

  auto all = store->commands_after("h1", 0, 10).value();
  REQUIRE(all.size() == 2);
  CHECK(all[0].down_seq == 1);
  CHECK(all[0].text ==
        R"({"down_seq":1,"ts":1000,"type":"config.services","data":{"services":["A","B"]}})");
  CHECK(all[1].text ==
        R"({"down_seq":2,"ts":1001,"type":"notice.broadcast","data":{"text":"closing at 17:00"}})");
  auto rest = store->commands_after("h1", 1, 10).value();
  REQUIRE(rest.size() == 1);
  CHECK(rest[0].down_seq == 2);
  CHECK(store->commands_after("h1", 0, 1).value().size() == 1);
  CHECK(store->commands_after("h2", 0, 10).value().size() == 1);

  REQUIRE(store->begin());
  REQUIRE(store->set_down_applied("h1", 1));
  REQUIRE(store->commit());
  auto h1 = store->load_hall("h1").value().value();
  CHECK(h1.down_applied == 1);
  CHECK(h1.down_last == 2);
  auto h2 = store->load_hall("h2").value().value();
  CHECK(h2.down_applied == 0);
  CHECK(h2.down_last == 1);
  json sync = json::parse(store->hall_json("h1").value().value())["sync"];
  CHECK(sync["down_applied"] == 1);
  CHECK(sync["down_last"] == 2);
}

TEST_CASE("two halls' projections are kept apart", "[central][store]") {
  TempDir dir;
  auto store = open_store(dir);
  append_all(*store, small_hall_day("h1"));
  HallLog h2{"h2", {}};
  h2.add("ticket.issued", {{"ticket", h2.ticket("A001")},
                           {"service", "A"},
                           {"number", "A001"},
                           {"issued_ts", h2.ts(1)}});
  h2.add("device.offline", {{"device", "kiosk-1"}, {"kind", "kiosk"}});
  append_all(*store, h2);

  json halls = parse(store->halls_json());
  REQUIRE(halls["halls"].size() == 2);
  CHECK(halls["halls"][0]["hall"] == "h1");
  CHECK(halls["halls"][0]["waiting"] == 1);
  CHECK(halls["halls"][0]["devices_offline"] == 1);
  CHECK(halls["halls"][0]["alerts_active"] == 2);
  CHECK(halls["halls"][1]["hall"] == "h2");
  CHECK(halls["halls"][1]["waiting"] == 1);
  CHECK(halls["halls"][1]["devices_offline"] == 1);
  CHECK(halls["halls"][1]["alerts_active"] == 0);
  CHECK(halls["halls"][1]["occupancy"] == nullptr);
  CHECK(halls["halls"][1]["acked_seq"] == 2);

  json d2 = json::parse(store->hall_json("h2").value().value());
  CHECK(d2["devices"]["items"].size() == 1);
  CHECK(d2["devices"]["items"][0]["online"] == false);
  CHECK(d2["counters"].empty());
  CHECK(d2["alerts"].empty());
  CHECK(d2["occupancy"] == nullptr);
  CHECK(parse(store->alerts_json("h2"))["alerts"].empty());
  CHECK(parse(store->alerts_json(std::nullopt))["alerts"].size() == 2);

  json kpi = parse(store->kpi_json(query("h2", std::nullopt, 0, 0)));
  REQUIRE(kpi["rows"].size() == 1);
  CHECK(kpi["rows"][0]["hall"] == "h2");
  CHECK(kpi["rows"][0]["issued"] == 1);
  CHECK(kpi["total"]["issued"] == 1);
  CHECK(parse(store->kpi_json(query(std::nullopt, "A", 0, 0)))["total"]["issued"] == 4);
  CHECK(store->events_after("h2", 0, 100).value().size() == 2);
  CHECK(store->event_count().value() == 35);
}

TEST_CASE("unknown event types and events missing fields are stored but not projected",
          "[central][store]") {
  TempDir dir;
  auto store = open_store(dir);
  HallLog log{"h3", {}};
  log.add("case.received", {{"case", "c-1"}});
  log.add("queue.rebalanced.v_two", {{"anything", true}});
  log.add("ticket.called", {{"counter", "1"}});  // no ticket
  log.add("ticket.issued", {{"ticket", "not-a-ticket-id"}, {"service", "A"}});
  log.add("alert.raised", {{"alert", "a-1"}});         // no rule/subject/severity
  log.add("rating.submitted", {{"ticket", nullptr}});  // no score
  log.add("ticket.completed",
          {{"ticket", log.ticket("A404")}, {"service_ms", 1}});  // unknown ticket
  append_all(*store, log);
  CHECK(store->event_count().value() == 7);
  CHECK(store->events_after("h3", 0, 100).value() == log.texts);
  CHECK(store->load_hall("h3").value().value().acked == 7);
  json hall = json::parse(store->hall_json("h3").value().value());
  CHECK(hall["queues"].empty());
  CHECK(hall["counters"].empty());
  CHECK(hall["devices"]["items"].empty());
  CHECK(hall["alerts"].empty());
  CHECK(parse(store->kpi_json(KpiQuery{}))["rows"].empty());
  std::string digest = store->projection_digest().value();
  REQUIRE(store->rebuild());
  CHECK(store->projection_digest().value() == digest);
}

TEST_CASE("central store ingest speed", "[.][bench]") {
  TempDir dir;
  auto store = open_store(dir);
  constexpr int kBatch = 1000;
  // YIBAN_BENCH_EVENTS overrides the count (whole batches), e.g. for callgrind.
  const char* env_events = std::getenv("YIBAN_BENCH_EVENTS");
  const int kEvents =
      env_events != nullptr ? std::max(1, std::atoi(env_events) / kBatch) * kBatch : 200000;
  // A realistic mix: each ticket issued, called, served and completed, a
  // rating for every third, a telemetry summary every 40 events.
  HallLog log{"bench-hall", {}};
  log.texts.reserve(kEvents);
  int ticket_index = 0;
  while (log.next_seq() <= kEvents) {
    if (log.next_seq() % 40 == 0) {
      log.add("telemetry.summary",
              {{"device", "pc-1"},
               {"kind", "people_counter"},
               {"minute_ts", kT0},
               {"samples", 60},
               {"metrics", {{"people_in", {{"min", 0}, {"max", 3}, {"avg", 1.2}, {"last", 1}}}}},
               {"occupancy", ticket_index % 80}});
      continue;
    }
    int i = ticket_index++;
    char letter = "ABCD"[i % 4];
    std::string service(1, letter);
    int per_service = i / 4;
    int day = 20250101 + per_service / 999;
    char number[32];
    std::snprintf(number, sizeof number, "%c%03d", letter, per_service % 999 + 1);
    std::string ticket = log.hall + ":" + std::to_string(day) + ":" + number;
    std::string counter = std::to_string(i % 8 + 1);
    log.add("ticket.issued", {{"ticket", ticket},
                              {"service", service},
                              {"number", number},
                              {"class", "normal"},
                              {"issued_ts", log.ts(log.next_seq())},
                              {"device", "kiosk-1"},
                              {"waiting_ahead", 3},
                              {"estimated_wait_s", 240}});
    log.add("ticket.called", {{"ticket", ticket},
                              {"number", number},
                              {"service", service},
                              {"counter", counter},
                              {"device", "counter-" + counter},
                              {"waited_ms", 60000 + i % 600000}});
    log.add("ticket.serving", {{"ticket", ticket},
                               {"number", number},
                               {"counter", counter},
                               {"device", "counter-" + counter}});
    log.add("ticket.completed", {{"ticket", ticket},
                                 {"number", number},
                                 {"service", service},
                                 {"counter", counter},
                                 {"device", "counter-" + counter},
                                 {"service_ms", 180000 + i % 300000}});
    if (i % 3 == 0)
      log.add("rating.submitted", {{"counter", counter},
                                   {"ticket", ticket},
                                   {"score", i % 5 + 1},
                                   {"device", "rating-" + counter}});
  }
  log.texts.resize(kEvents);
  std::vector<protocol::ChainHash> chains;
  chains.reserve(kEvents / kBatch);
  protocol::ChainHash chain = protocol::kChainZero;
  for (int i = 0; i < kEvents; ++i) {
    chain = protocol::chain_next(chain, log.texts[static_cast<std::size_t>(i)]);
    if ((i + 1) % kBatch == 0) chains.push_back(chain);
  }
  std::vector<std::string_view> views(log.texts.begin(), log.texts.end());

  auto start = std::chrono::steady_clock::now();
  std::clock_t cpu_start = std::clock();
  for (int b = 0; b < kEvents / kBatch; ++b) {
    REQUIRE(store->begin());
    auto ok = store->append_events(log.hall, b * kBatch + 1,
                                   std::span<const std::string_view>(views).subspan(
                                       static_cast<std::size_t>(b) * kBatch, kBatch),
                                   chains[static_cast<std::size_t>(b)]);
    INFO((ok ? std::string() : ok.error().message));
    REQUIRE(ok);
    REQUIRE(store->commit());
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double cpu_seconds = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
  std::printf(
      "central store: %d events in %.2f s = %.0f events/s (%.2f s CPU = %.0f events per CPU "
      "second)\n",
      kEvents, seconds, kEvents / seconds, cpu_seconds, kEvents / cpu_seconds);
  CHECK(store->event_count().value() == kEvents);
}

TEST_CASE("a rating without a ticket counts on its day in China time", "[central][store]") {
  TempDir dir;
  auto store = open_store(dir);
  HallLog log{"h4", {}};
  // 2025-01-15 15:59:59.999 UTC is 23:59:59.999 in China; one ms later is the 16th.
  constexpr std::int64_t kLastMs = 1736956799999;
  log.add_at("rating.submitted",
             {{"counter", "1"}, {"ticket", nullptr}, {"score", 4}, {"device", "r"}}, kLastMs);
  log.add_at("rating.submitted",
             {{"counter", "1"}, {"ticket", nullptr}, {"score", 1}, {"device", "r"}}, kLastMs + 1);
  append_all(*store, log);
  json kpi = parse(store->kpi_json(KpiQuery{}));
  REQUIRE(kpi["rows"].size() == 2);
  CHECK(kpi["rows"][0]["day"] == 20250115);
  CHECK(kpi["rows"][0]["service"] == "");
  CHECK(kpi["rows"][0]["satisfaction"] == 1.0);
  CHECK(kpi["rows"][1]["day"] == 20250116);
  CHECK(kpi["rows"][1]["satisfaction"] == 0.0);
  CHECK(kpi["total"]["satisfaction"] == 0.5);
}

TEST_CASE("case events: projected from the right party only, forwarded once their files are here, SLA alerts",
          "[central][store][cases]") {
  TempDir dir;
  auto store = open_store(dir);
  const std::string sha(64, 'a');
  const std::string id = "hall-a:20250115:C0001";
  json file{{"case", id},
            {"attempt", 1},
            {"service", "X01"},
            {"service_name", "跨区户口迁移"},
            {"origin", "hall-a"},
            {"origin_name", "A"},
            {"handler", "hall-b"},
            {"handler_region", "370212"},
            {"applicant", {{"name", "张*三"}, {"id", "110105********002X"}, {"id_hash", std::string(64, 'c')}}},
            {"contact", {{"name", "王芳"}, {"phone", ""}}},
            {"note", ""},
            {"by", "hall-manager:1"},
            {"materials", {{{"sha256", sha}, {"name", "a.pdf"}, {"type", "application/pdf"}, {"size", 1000}, {"attempt", 1}}}},
            {"submitted_ts", kT0},
            {"prereview_due", kT0 + 3600000},
            {"complete_days", 5}};
  HallLog a{"hall-a", {}};
  a.add("case.submitted", file);
  a.add("case.viewed", {{"case", id}, {"by", 17}, {"what", "detail"}});  // malformed: skipped, not an ingest error
  append_all(*store, a);
  HallLog c{"hall-c", {}};
  c.add("case.accepted", {{"case", id}, {"state", "accepted"}, {"hall", "hall-c"}, {"ts", kT0}, {"attempt", 1},
                          {"by", "x"}, {"note", ""}});  // not the handler: skipped
  append_all(*store, c);
  auto detail = [&] { return json::parse(store->case_json(id, kT0).value().value()); };
  CHECK(detail()["state"] == "submitted");
  CHECK(detail()["materials"][0]["present"] == false);
  CHECK(store->blobs_wanted_from("hall-a").value().size() == 1);
  CHECK(store->blob_allowed("hall-b", sha).value());
  CHECK_FALSE(store->blob_allowed("hall-c", sha).value());
  CHECK_FALSE(store->case_parties("hall-c:20250115:C0001").value());

  auto route = [&] {
    REQUIRE(store->begin());
    auto r = store->route_cases(kT0, [](std::string_view) { return true; });
    REQUIRE(store->commit());
    return r.value();
  };
  CHECK(route().empty());  // the file is not here yet
  REQUIRE(store->begin());
  REQUIRE(store->set_blob_present(sha, kT0));
  REQUIRE(store->commit());
  auto routed = route();
  REQUIRE(routed.size() == 1);
  CHECK(routed[0].hall == "hall-b");
  CHECK(route().empty());  // once
  auto commands = store->commands_after("hall-b", 0, 10).value();
  REQUIRE(commands.size() == 1);
  CHECK_THAT(commands[0].text, Catch::Contains(R"("type":"case.assign")"));

  // Late pre-review: central raises its own alert, and resolves it when B accepts.
  auto sweep = [&](std::int64_t now) {
    REQUIRE(store->begin());
    auto n = store->sweep_case_sla(now).value();
    REQUIRE(store->commit());
    return n;
  };
  CHECK(sweep(kT0 + 1000) == 0);
  CHECK(sweep(kT0 + 3600000 + 1000) == 1);
  CHECK_THAT(store->alerts_json(std::nullopt).value(), Catch::Contains("case_prereview_late"));
  HallLog b{"hall-b", {}};
  b.add("case.received", {{"case", id}, {"attempt", 1}, {"origin", "hall-a"}, {"handler", "hall-b"},
                          {"service", "X01"}, {"prereview_due", kT0 + 3600000}});
  b.add("case.accepted", {{"case", id}, {"state", "accepted"}, {"hall", "hall-b"}, {"ts", kT0 + 7200000},
                          {"attempt", 1}, {"by", "hall-manager:2"}, {"note", ""}, {"complete_due", kT0 + 86400000}});
  append_all(*store, b);
  CHECK(detail()["state"] == "accepted");
  CHECK(sweep(kT0 + 7300000) == 1);  // resolved
  CHECK_THAT(store->alerts_json(std::nullopt).value(), !Catch::Contains("case_prereview_late"));
  CHECK(route().size() == 2);  // received and accepted go to A
  // The projection is rebuilt identically; forwards are not made again.
  auto before = store->projection_digest().value();
  REQUIRE(store->rebuild());
  CHECK(store->projection_digest().value() == before);
  CHECK(route().empty());
}

TEST_CASE("bookings: one seat of central's quota, one per person and day, blocked after repeated no-shows, KPIs",
          "[central][store][bookings]") {
  TempDir dir;
  auto store = open_store(dir);
  auto booking = [&](const std::string& code, const std::string& person, std::int64_t slot, int quota = 2) {
    yiban::central::NewBooking b;
    b.code = code;
    b.hall = "hall-a";
    b.service = "A";
    b.slot_start = slot;
    b.slot_end = slot + 1800000;
    b.person_day = 20250115;
    b.id_hash = person;
    b.name = "张*三";
    b.phone = "13800138000";
    b.now = kT0;
    b.central_quota = quota;
    b.no_show_count = 2;
    b.no_show_within_ms = 30LL * 86400000;
    b.no_show_block_ms = 30LL * 86400000;
    REQUIRE(store->begin());
    auto o = store->book(b);
    REQUIRE(store->commit());
    REQUIRE(o);
    return *o;
  };
  const std::int64_t slot = kT0 + 3600000;
  CHECK(booking("AAAAAAA2", "p1", slot).status == 201);
  CHECK(booking("AAAAAAA3", "p1", slot + 1800000).error == "duplicate");  // same person, service, day
  CHECK(booking("AAAAAAA4", "p2", slot).status == 201);
  CHECK(booking("AAAAAAA5", "p3", slot).error == "full");  // central's two seats are taken
  REQUIRE(store->begin());
  REQUIRE(store->add_moved_seats("hall-a", "A", slot + 1800000, 2, kT0));
  REQUIRE(store->commit());
  CHECK(booking("AAAAAAA6", "p3", slot + 1800000).error == "full");  // its seats went to the hall
  // The hall reports p1 checked in and p2 a no-show.
  HallLog a{"hall-a", {}};
  a.add("appointment.checked_in", {{"appointment", "AAAAAAA2"}, {"ticket", "hall-a:20250115:A001"}});
  a.add("appointment.no_show", {{"appointment", "AAAAAAA4"}, {"service", "A"}, {"slot_start", slot}});
  append_all(*store, a);
  auto kpi = json::parse(store->kpi_json(KpiQuery{}).value());
  CHECK(kpi["appointments"]["booked"] == 2);
  CHECK(kpi["appointments"]["checked_in"] == 1);
  CHECK(kpi["appointments"]["no_shows"] == 1);
  CHECK(kpi["appointments"]["no_show_rate"] == 0.5);
  // A second no-show of p2 (on another day) blocks p2.
  auto second = booking("AAAAAAA7", "p2", slot + 86400000);
  REQUIRE(second.status == 201);
  HallLog a2 = a;
  a2.add("appointment.no_show", {{"appointment", "AAAAAAA7"}, {"service", "A"}, {"slot_start", slot + 86400000}});
  REQUIRE(append(*store, a2, 3, 3));
  auto blocked = booking("AAAAAAA8", "p2", slot + 2 * 86400000);
  CHECK(blocked.status == 403);
  CHECK(blocked.error == "blocked");
}
