#include "queue/queue_engine.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/test_support.h"
#include "yiban/protocol/hall_config.h"
#include "yiban/protocol/time_zone.h"

using yiban::edge::queue::QueueEngine;
using yiban::edge::store::EdgeStore;
using yiban::protocol::ErrorCode;
using yiban::protocol::TicketTake;

namespace {

// 2026-11-26 09:00 in Asia/Shanghai.
constexpr std::int64_t kMorning = 1795654800000LL;
constexpr std::int64_t kMinute = 60 * 1000;
// 2026-11-27 00:00 in Asia/Shanghai.
constexpr std::int64_t kNextMidnight = 1795708800000LL;

constexpr const char* kHall = R"({
  "hall": "test-hall", "name": "测试大厅", "region": "370202", "timezone": "Asia/Shanghai",
  "capacity": 50, "priority_classes": ["elderly", "disabled"], "recall_limit": 2,
  "services": [
    {"code": "A", "name": "社保医保", "max_wait_min": 30},
    {"code": "B", "name": "不动产登记", "avg_service_min": 10},
    {"code": "C", "name": "综合受理"},
    {"code": "D", "name": "暂停业务", "enabled": false}
  ],
  "counters": [
    {"id": "1", "name": "1号窗口", "services": ["A"], "backup": ["C"]},
    {"id": "2", "name": "2号窗口", "services": ["B", "C"]},
    {"id": "3", "name": "3号窗口", "services": ["A", "B"]}
  ],
  "devices": [
    {"id": "kiosk-1", "kind": "kiosk"},
    {"id": "counter-1", "kind": "counter", "counter": "1"},
    {"id": "display-1", "kind": "display"}
  ]
})";

// A hall's engine over a real SQLite file; every call runs in its own transaction.
struct Hall {
  yiban::test::TempDir dir;
  std::unique_ptr<EdgeStore> store;
  std::unique_ptr<QueueEngine> engine;

  Hall() { reopen(); }

  void reopen() {
    engine.reset();
    store.reset();
    auto config = yiban::protocol::parse_hall_config(kHall);
    REQUIRE(config);
    auto zone = yiban::protocol::TimeZone::load("Asia/Shanghai");
    REQUIRE(zone);
    auto opened = EdgeStore::open((dir / "edge.db").string(), "test-hall");
    REQUIRE(opened);
    store = std::move(*opened);
    engine = std::make_unique<QueueEngine>(*config, *zone, *store);
    REQUIRE(engine->load());
  }

  template <class F>
  auto tx(F f) {
    REQUIRE(store->begin());
    auto result = f(*engine);
    REQUIRE(store->commit());
    return result;
  }

  yiban::protocol::TicketView take(const std::string& service, std::int64_t now,
                                   std::optional<std::string> cls = std::nullopt) {
    auto t = tx([&](QueueEngine& e) { return e.take_ticket(TicketTake{service, cls, std::nullopt}, "kiosk-1", now); });
    REQUIRE(t);
    return *t;
  }
  void open(const std::string& counter, std::int64_t now) {
    REQUIRE(tx([&](QueueEngine& e) { return e.open_counter(counter, "counter-" + counter, now); }));
  }
  yiban::protocol::Result<yiban::protocol::TicketView> call(const std::string& counter, std::int64_t now) {
    return tx([&](QueueEngine& e) { return e.call_next(counter, "counter-" + counter, now); });
  }
  std::string called_number(const std::string& counter, std::int64_t now) {
    auto t = call(counter, now);
    REQUIRE(t);
    return t->number;
  }
  void finish(const std::string& counter, std::int64_t now) {
    REQUIRE(tx([&](QueueEngine& e) { return e.finish(counter, "counter-" + counter, now); }));
  }
  std::vector<nlohmann::json> events_of_type(const std::string& type) {
    auto events = store->read_events(0, 100000);
    REQUIRE(events);
    std::vector<nlohmann::json> out;
    for (const auto& e : *events) {
      auto j = nlohmann::json::parse(e.text);
      if (j["type"] == type) out.push_back(j);
    }
    return out;
  }
};

}  // namespace

TEST_CASE("tickets are numbered per service and day with hall-wide ids", "[edge][queue]") {
  Hall hall;
  auto a1 = hall.take("A", kMorning);
  auto a2 = hall.take("A", kMorning + 1);
  auto b1 = hall.take("B", kMorning + 2);
  CHECK(a1.number == "A001");
  CHECK(a2.number == "A002");
  CHECK(b1.number == "B001");
  CHECK(a1.id == "test-hall:20261126:A001");
  CHECK(a1.state == "waiting");
  CHECK(a1.waiting_ahead == 0);
  CHECK(a2.waiting_ahead == 1);
  CHECK(b1.waiting_ahead == 0);
  auto issued = hall.events_of_type("ticket.issued");
  REQUIRE(issued.size() == 3);
  CHECK(issued[0]["data"]["ticket"] == "test-hall:20261126:A001");
  CHECK(issued[0]["data"]["device"] == "kiosk-1");
}

TEST_CASE("taking a ticket for an unknown or closed service or class changes nothing", "[edge][queue]") {
  Hall hall;
  auto unknown = hall.tx([](QueueEngine& e) { return e.take_ticket({"Z", {}, {}}, "kiosk-1", kMorning); });
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().code == ErrorCode::kUnknownService);
  auto closed = hall.tx([](QueueEngine& e) { return e.take_ticket({"D", {}, {}}, "kiosk-1", kMorning); });
  REQUIRE_FALSE(closed);
  CHECK(closed.error().code == ErrorCode::kServiceClosed);
  auto cls = hall.tx([](QueueEngine& e) { return e.take_ticket({"A", "vip", {}}, "kiosk-1", kMorning); });
  REQUIRE_FALSE(cls);
  CHECK(cls.error().code == ErrorCode::kBadRequest);
  CHECK(hall.events_of_type("ticket.issued").empty());
  CHECK(hall.take("A", kMorning).number == "A001");
}

TEST_CASE("a phone number stays at the hall: events carry only its masked form", "[edge][queue]") {
  Hall hall;
  REQUIRE(hall.tx([](QueueEngine& e) { return e.take_ticket({"A", {}, "13812341234"}, "kiosk-1", kMorning); }));
  auto issued = hall.events_of_type("ticket.issued");
  REQUIRE(issued.size() == 1);
  CHECK(issued[0]["data"]["phone_masked"] == "138****1234");
  CHECK(issued[0].dump().find("13812341234") == std::string::npos);
}

TEST_CASE("a counter calls its main services before its backup services", "[edge][queue]") {
  Hall hall;
  hall.take("C", kMorning);  // backup of counter 1, waiting longest
  hall.take("A", kMorning + kMinute);
  hall.open("1", kMorning);
  CHECK(hall.called_number("1", kMorning + 2 * kMinute) == "A001");
  hall.finish("1", kMorning + 3 * kMinute);
  CHECK(hall.called_number("1", kMorning + 4 * kMinute) == "C001");
}

TEST_CASE("among its main services a counter calls the longest waiting ticket", "[edge][queue]") {
  Hall hall;
  hall.take("B", kMorning);
  hall.take("A", kMorning + kMinute);
  hall.open("3", kMorning);
  CHECK(hall.called_number("3", kMorning + 2 * kMinute) == "B001");
  hall.finish("3", kMorning + 3 * kMinute);
  CHECK(hall.called_number("3", kMorning + 4 * kMinute) == "A001");
}

TEST_CASE("priority-class tickets are called first, oldest first", "[edge][queue]") {
  Hall hall;
  hall.take("A", kMorning);
  auto p1 = hall.take("A", kMorning + kMinute, "elderly");
  auto p2 = hall.take("A", kMorning + 2 * kMinute, "disabled");
  CHECK(p1.waiting_ahead == 0);
  CHECK(p2.waiting_ahead == 1);
  CHECK(p1.priority_class == "elderly");
  hall.open("1", kMorning);
  CHECK(hall.called_number("1", kMorning + 3 * kMinute) == "A002");
  hall.finish("1", kMorning + 4 * kMinute);
  CHECK(hall.called_number("1", kMorning + 5 * kMinute) == "A003");
  hall.finish("1", kMorning + 6 * kMinute);
  CHECK(hall.called_number("1", kMorning + 7 * kMinute) == "A001");
}

TEST_CASE("calling follows the order rules of the counter", "[edge][queue]") {
  Hall hall;
  auto closed = hall.call("1", kMorning);
  REQUIRE_FALSE(closed);
  CHECK(closed.error().code == ErrorCode::kCounterClosed);
  hall.open("1", kMorning);
  auto empty = hall.call("1", kMorning);
  REQUIRE_FALSE(empty);
  CHECK(empty.error().code == ErrorCode::kQueueEmpty);
  hall.take("A", kMorning);
  hall.take("A", kMorning + 1);
  REQUIRE(hall.call("1", kMorning + kMinute));
  auto busy = hall.call("1", kMorning + kMinute);
  REQUIRE_FALSE(busy);
  CHECK(busy.error().code == ErrorCode::kInvalidState);
  auto close = hall.tx([](QueueEngine& e) { return e.close_counter("1", "counter-1", kMorning); });
  REQUIRE_FALSE(close);
  CHECK(close.error().code == ErrorCode::kInvalidState);
  REQUIRE(hall.tx([](QueueEngine& e) { return e.pause_counter("1", "counter-1", kMorning); }));
  auto paused = hall.call("1", kMorning + 2 * kMinute);
  REQUIRE_FALSE(paused);
  CHECK(paused.error().code == ErrorCode::kCounterClosed);
  // The current ticket can still be finished while paused.
  hall.finish("1", kMorning + 3 * kMinute);
  auto closed_now = hall.tx([](QueueEngine& e) { return e.close_counter("1", "counter-1", kMorning); });
  REQUIRE(closed_now);
  CHECK(closed_now->state == "closed");
  auto pause_closed = hall.tx([](QueueEngine& e) { return e.pause_counter("1", "counter-1", kMorning); });
  REQUIRE_FALSE(pause_closed);
  CHECK(pause_closed.error().code == ErrorCode::kCounterClosed);
}

TEST_CASE("recall is allowed up to the limit, then only no-show", "[edge][queue]") {
  Hall hall;
  hall.take("A", kMorning);
  hall.open("1", kMorning);
  REQUIRE(hall.call("1", kMorning + 1));
  auto r1 = hall.tx([](QueueEngine& e) { return e.recall("1", "counter-1", kMorning + 2); });
  auto r2 = hall.tx([](QueueEngine& e) { return e.recall("1", "counter-1", kMorning + 3); });
  REQUIRE(r1);
  REQUIRE(r2);
  CHECK(r2->recalls == 2);
  auto r3 = hall.tx([](QueueEngine& e) { return e.recall("1", "counter-1", kMorning + 4); });
  REQUIRE_FALSE(r3);
  CHECK(r3.error().code == ErrorCode::kInvalidState);
  auto gone = hall.tx([](QueueEngine& e) { return e.no_show("1", "counter-1", kMorning + 5); });
  REQUIRE(gone);
  CHECK(gone->state == "no_show");
  auto none = hall.tx([](QueueEngine& e) { return e.recall("1", "counter-1", kMorning + 6); });
  REQUIRE_FALSE(none);
  CHECK(none.error().code == ErrorCode::kNoCurrentTicket);
  CHECK(hall.events_of_type("ticket.recalled").size() == 2);
  CHECK(hall.events_of_type("ticket.no_show").size() == 1);
}

TEST_CASE("each call and recall is announced in Chinese and shown on the call board", "[edge][queue]") {
  Hall hall;
  hall.take("A", kMorning);
  hall.open("1", kMorning);
  (void)hall.engine->take_changes();
  REQUIRE(hall.call("1", kMorning + 1));
  REQUIRE(hall.tx([](QueueEngine& e) { return e.recall("1", "counter-1", kMorning + 2); }));
  auto changes = hall.engine->take_changes();
  CHECK(changes.calls);
  REQUIRE(changes.announcements.size() == 2);
  CHECK(changes.announcements[0].text == "请A001号到1号窗口");
  CHECK(changes.announcements[1].number == "A001");
  auto calls = hall.engine->recent_calls();
  REQUIRE(calls.size() == 1);  // the recall moved A001 to the top; the board lists distinct calls by ticket
}

TEST_CASE("a served ticket cannot be recalled or marked no-show", "[edge][queue]") {
  Hall hall;
  hall.take("A", kMorning);
  hall.open("1", kMorning);
  REQUIRE(hall.call("1", kMorning + 1));
  REQUIRE(hall.tx([](QueueEngine& e) { return e.start("1", "counter-1", kMorning + 2); }));
  auto again = hall.tx([](QueueEngine& e) { return e.start("1", "counter-1", kMorning + 3); });
  REQUIRE_FALSE(again);
  CHECK(again.error().code == ErrorCode::kInvalidState);
  auto recall = hall.tx([](QueueEngine& e) { return e.recall("1", "counter-1", kMorning + 3); });
  REQUIRE_FALSE(recall);
  CHECK(recall.error().code == ErrorCode::kInvalidState);
  auto no_show = hall.tx([](QueueEngine& e) { return e.no_show("1", "counter-1", kMorning + 3); });
  REQUIRE_FALSE(no_show);
  CHECK(no_show.error().code == ErrorCode::kInvalidState);
  auto done = hall.tx([](QueueEngine& e) { return e.finish("1", "counter-1", kMorning + 4); });
  REQUIRE(done);
  CHECK(done->state == "completed");
}

TEST_CASE("a ticket transferred to another service keeps its place by issue time", "[edge][queue]") {
  Hall hall;
  hall.take("A", kMorning);  // A001, earliest
  hall.take("B", kMorning + kMinute);  // B001
  hall.open("1", kMorning);
  hall.open("2", kMorning);
  REQUIRE(hall.call("1", kMorning + 2 * kMinute));
  auto moved = hall.tx([](QueueEngine& e) {
    return e.transfer("1", yiban::protocol::CounterTransfer{"B", std::nullopt}, "counter-1", kMorning + 3 * kMinute);
  });
  REQUIRE(moved);
  CHECK(moved->service == "B");
  CHECK(moved->number == "A001");
  CHECK(moved->state == "waiting");
  CHECK(hall.engine->waiting_count("B") == 2);
  // Counter 2 serves B: A001 was issued before B001, so it goes first.
  CHECK(hall.called_number("2", kMorning + 4 * kMinute) == "A001");
  auto transferred = hall.events_of_type("ticket.transferred");
  REQUIRE(transferred.size() == 1);
  CHECK(transferred[0]["data"]["to_service"] == "B");
}

TEST_CASE("a ticket transferred to a counter is called only by that counter", "[edge][queue]") {
  Hall hall;
  hall.take("A", kMorning);
  hall.take("A", kMorning + kMinute);
  hall.open("1", kMorning);
  hall.open("3", kMorning);
  REQUIRE(hall.call("1", kMorning + 2 * kMinute));  // A001 at counter 1
  auto moved = hall.tx([](QueueEngine& e) {
    return e.transfer("1", yiban::protocol::CounterTransfer{std::nullopt, "2"}, "counter-1", kMorning + 3 * kMinute);
  });
  REQUIRE(moved);
  CHECK(moved->counter == "2");
  // Counter 3 serves A but does not get A001, which now waits for counter 2.
  CHECK(hall.called_number("3", kMorning + 4 * kMinute) == "A002");
  hall.open("2", kMorning);
  CHECK(hall.called_number("2", kMorning + 5 * kMinute) == "A001");
  auto bad = hall.tx([](QueueEngine& e) {
    return e.transfer("2", yiban::protocol::CounterTransfer{std::nullopt, "99"}, "counter-2", kMorning);
  });
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == ErrorCode::kBadRequest);
}

TEST_CASE("estimated wait uses the default until services are timed, then their moving average",
          "[edge][queue]") {
  Hall hall;
  hall.open("2", kMorning);
  hall.open("3", kMorning);
  hall.take("B", kMorning);
  auto second = hall.take("B", kMorning + 1);
  // B's configured average is 10 min; one ahead, two open counters serve B.
  CHECK(second.waiting_ahead == 1);
  CHECK(second.estimated_wait_s == 300);
  REQUIRE(hall.call("2", kMorning + kMinute));
  REQUIRE(hall.tx([](QueueEngine& e) { return e.start("2", "counter-2", kMorning + kMinute); }));
  hall.finish("2", kMorning + 3 * kMinute);  // 2 minutes of service
  REQUIRE(hall.call("2", kMorning + 4 * kMinute));
  REQUIRE(hall.tx([](QueueEngine& e) { return e.start("2", "counter-2", kMorning + 4 * kMinute); }));
  hall.finish("2", kMorning + 8 * kMinute);  // 4 minutes
  hall.take("B", kMorning + 9 * kMinute);
  hall.take("B", kMorning + 9 * kMinute);
  auto fourth = hall.take("B", kMorning + 9 * kMinute);
  // Average 3 min, two ahead, two counters: 3 min.
  CHECK(fourth.waiting_ahead == 2);
  CHECK(fourth.estimated_wait_s == 180);
  auto queues = hall.engine->queues();
  auto b = std::find_if(queues.begin(), queues.end(), [](const auto& q) { return q.service == "B"; });
  REQUIRE(b != queues.end());
  CHECK(b->waiting == 3);
  CHECK(b->open_counters == 2);
  CHECK(b->estimated_wait_s == 270);
}

TEST_CASE("at local midnight waiting tickets are cancelled and numbering restarts", "[edge][queue]") {
  Hall hall;
  hall.take("A", kMorning);
  hall.take("A", kMorning + 1);
  hall.open("1", kMorning);
  REQUIRE(hall.call("1", kMorning + kMinute));  // A001 stays current over midnight
  auto cancelled = hall.tx([](QueueEngine& e) { return e.roll_day(kNextMidnight - 1); });
  REQUIRE(cancelled);
  CHECK(*cancelled == 0);
  cancelled = hall.tx([](QueueEngine& e) { return e.roll_day(kNextMidnight); });
  REQUIRE(cancelled);
  CHECK(*cancelled == 1);
  CHECK(hall.engine->business_day() == 20261127);
  auto events = hall.events_of_type("ticket.cancelled");
  REQUIRE(events.size() == 1);
  CHECK(events[0]["data"]["ticket"] == "test-hall:20261126:A002");
  CHECK(events[0]["data"]["reason"] == "day_closed");
  CHECK(hall.engine->waiting_count("A") == 0);
  auto next = hall.take("A", kNextMidnight + 9 * 3600 * 1000LL);
  CHECK(next.number == "A001");
  CHECK(next.id == "test-hall:20261127:A001");
  hall.finish("1", kNextMidnight + 1);  // yesterday's called ticket can still be finished
}

TEST_CASE("a ticket taken after midnight closes the old day first", "[edge][queue]") {
  Hall hall;
  hall.take("A", kMorning);
  auto next = hall.take("A", kNextMidnight + 5);
  CHECK(next.number == "A001");
  CHECK(next.waiting_ahead == 0);
  CHECK(hall.events_of_type("ticket.cancelled").size() == 1);
}

TEST_CASE("the queue is rebuilt identically from the store", "[edge][queue]") {
  Hall hall;
  hall.take("A", kMorning);
  hall.take("A", kMorning + 1, "elderly");
  hall.take("B", kMorning + 2);
  hall.take("C", kMorning + 3);
  hall.open("1", kMorning);
  hall.open("2", kMorning);
  REQUIRE(hall.call("1", kMorning + kMinute));  // the elderly A002
  hall.reopen();
  CHECK(hall.engine->waiting_count("A") == 1);
  CHECK(hall.engine->waiting_count("B") == 1);
  CHECK(hall.engine->waiting_count("C") == 1);
  auto view = hall.engine->counter_view("1");
  REQUIRE(view);
  CHECK(view->state == "open");
  CHECK(view->current_ticket == "test-hall:20261126:A002");
  auto calls = hall.engine->recent_calls();
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].number == "A002");
  hall.finish("1", kMorning + 2 * kMinute);
  CHECK(hall.called_number("1", kMorning + 3 * kMinute) == "A001");
  CHECK(hall.take("A", kMorning + 4 * kMinute).number == "A003");
}

TEST_CASE("a rating goes to the counter's last finished ticket, once", "[edge][queue]") {
  Hall hall;
  hall.take("A", kMorning);
  hall.open("1", kMorning);
  REQUIRE(hall.call("1", kMorning + 1));
  hall.finish("1", kMorning + 2);
  auto rated = hall.tx([](QueueEngine& e) { return e.submit_rating("1", {5, std::nullopt}, "rating-1", kMorning + 3); });
  REQUIRE(rated);
  auto twice = hall.tx([](QueueEngine& e) { return e.submit_rating("1", {1, std::nullopt}, "rating-1", kMorning + 4); });
  REQUIRE_FALSE(twice);
  CHECK(twice.error().code == ErrorCode::kInvalidState);
  auto elsewhere = hall.tx([](QueueEngine& e) {
    return e.submit_rating("2", {4, std::string("test-hall:20261126:A001")}, "rating-2", kMorning + 4);
  });
  REQUIRE_FALSE(elsewhere);
  CHECK(elsewhere.error().code == ErrorCode::kInvalidState);
  auto events = hall.events_of_type("rating.submitted");
  REQUIRE(events.size() == 1);
  CHECK(events[0]["data"]["score"] == 5);
  CHECK(events[0]["data"]["ticket"] == "test-hall:20261126:A001");
}

TEST_CASE("device presence is recorded only when it changes and only for known devices", "[edge][queue]") {
  Hall hall;
  CHECK(*hall.tx([](QueueEngine& e) { return e.set_device_presence("kiosk-1", true, "1.0", kMorning); }));
  CHECK_FALSE(*hall.tx([](QueueEngine& e) { return e.set_device_presence("kiosk-1", true, "1.0", kMorning + 1); }));
  CHECK(*hall.tx([](QueueEngine& e) { return e.set_device_presence("kiosk-1", false, std::nullopt, kMorning + 2); }));
  CHECK_FALSE(*hall.tx([](QueueEngine& e) { return e.set_device_presence("stranger", true, std::nullopt, kMorning); }));
  CHECK(hall.events_of_type("device.online").size() == 1);
  CHECK(hall.events_of_type("device.offline").size() == 1);
  hall.reopen();
  CHECK(hall.engine->device_online("kiosk-1") == false);
}

TEST_CASE("a help request gets a daily id and an event", "[edge][queue]") {
  Hall hall;
  auto id = hall.tx([](QueueEngine& e) {
    return e.request_help("kiosk-1", std::nullopt, yiban::protocol::HelpRequest{"轮椅"}, kMorning);
  });
  REQUIRE(id);
  CHECK(*id == "test-hall:20261126:H1");
  auto events = hall.events_of_type("help.requested");
  REQUIRE(events.size() == 1);
  CHECK_FALSE(events[0]["data"].contains("need"));  // the citizen's words stay in the hall's help table
}

TEST_CASE("check-in of a booking: inside its window an appointment ticket; outside refused or a normal ticket as "
          "the hall says (fake clock)",
          "[edge][queue][bookings]") {
  auto run = [](bool normal_ticket_outside) {
    yiban::test::TempDir dir;
    auto j = nlohmann::json::parse(kHall);
    j["appointments"] = {{"early_min", 30}, {"late_min", 15},
                         {"outside_window", normal_ticket_outside ? "normal_ticket" : "refuse"}};
    auto config = yiban::protocol::parse_hall_config(j.dump());
    REQUIRE(config);
    auto zone = yiban::protocol::TimeZone::load("Asia/Shanghai");
    REQUIRE(zone);
    auto store = std::move(*EdgeStore::open((dir / "edge.db").string(), "test-hall"));
    QueueEngine engine(*config, *zone, *store);
    REQUIRE(engine.load());
    const std::int64_t slot = kMorning + 60 * kMinute;  // 10:00
    auto book = [&](const std::string& code, const std::string& state) {
      yiban::edge::store::AppointmentRow a;
      a.code = code;
      a.service = "A";
      a.slot_start = slot;
      a.slot_end = slot + 30 * kMinute;
      a.state = state;
      a.phone = "13800138000";
      REQUIRE(store->begin());
      REQUIRE(store->save_appointment(a));
      REQUIRE(store->commit());
    };
    auto check_in = [&](const std::string& code, std::int64_t now) {
      REQUIRE(store->begin());
      auto r = engine.check_in(yiban::protocol::AppointmentCheckin{code}, "kiosk-1", now);
      REQUIRE(store->commit());
      return r;
    };
    book("EARLY234", "booked");
    book("INSIDE23", "booked");
    book("LATE2345", "booked");
    book("GONE2345", "cancelled");
    auto early = check_in("EARLY234", slot - 31 * kMinute);
    auto inside = check_in("INSIDE23", slot - 30 * kMinute);
    auto late = check_in("LATE2345", slot + 15 * kMinute + 1);
    REQUIRE(inside);
    CHECK(inside->appointment == "INSIDE23");
    CHECK_FALSE(inside->message);
    auto again = check_in("INSIDE23", slot);
    REQUIRE_FALSE(again);
    CHECK_THAT(again.error().message, Catch::Contains("already checked in"));
    auto cancelled = check_in("GONE2345", slot);
    REQUIRE_FALSE(cancelled);
    CHECK_THAT(cancelled.error().message, Catch::Contains("cancelled"));
    auto unknown = check_in("ZZZZ2345", slot);
    REQUIRE_FALSE(unknown);
    CHECK(unknown.error().code == ErrorCode::kBadRequest);
    if (normal_ticket_outside) {
      REQUIRE(early);
      CHECK_FALSE(early->appointment);
      CHECK_THAT(*early->message, Catch::Contains("未到预约签到时间"));
      REQUIRE(late);
      CHECK_FALSE(late->appointment);
      CHECK_THAT(*late->message, Catch::Contains("已过预约签到时间"));
      // The bookings outside their window stay booked (they become no-shows if nobody comes back).
      CHECK(store->appointment("EARLY234").value()->state == "booked");
    } else {
      REQUIRE_FALSE(early);
      CHECK(early.error().code == ErrorCode::kInvalidState);
      CHECK_THAT(early.error().message, Catch::Contains("too early"));
      REQUIRE_FALSE(late);
      CHECK_THAT(late.error().message, Catch::Contains("too late"));
    }
    CHECK(store->appointment("INSIDE23").value()->state == "checked_in");
  };
  SECTION("refuse") { run(false); }
  SECTION("normal ticket") { run(true); }
}
