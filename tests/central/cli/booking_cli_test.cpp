// `yiban booking …` against a fake central (a real yiban::runtime::HttpServer on a free
// port answering canned replies), as cli_test.cpp and case_cli_test.cpp do for
// the other commands. Slot times are built with parse_local_minute, so the
// tests hold in any local time zone.

#include "cli.h"


#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fake_server.h"
#include "support/test_support.h"

namespace {

using nlohmann::json;

constexpr const char* kToken = "booking-token";

// Central's booking API as the tests need it (fake_server.h).
struct FakeCentral : yiban::test::FakeServer {
  FakeCentral() : FakeServer(kToken) {}
};

using Outcome = yiban::test::CliOutcome;
using yiban::test::yiban_at;

std::int64_t local_ms(const char* minute) {
  auto ms = yiban::cli::parse_local_minute(minute);
  REQUIRE(ms);
  return *ms;
}

// The whitespace-separated words of each output line.
std::vector<std::vector<std::string>> words(const std::string& text) {
  std::vector<std::vector<std::string>> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::istringstream l(line);
    std::vector<std::string> w;
    for (std::string x; l >> x;) w.push_back(x);
    lines.push_back(w);
  }
  return lines;
}

bool has_line(const std::string& text, const std::vector<std::string>& expected) {
  for (const auto& w : words(text))
    if (w == expected) return true;
  return false;
}

json slot(const char* start, const char* end, int central_quota, int hall_quota, int booked_central,
          int booked_hall, int available) {
  return {{"start", local_ms(start)},         {"end", local_ms(end)},
          {"capacity", 6},                    {"central_quota", central_quota},
          {"hall_quota", hall_quota},         {"booked_central", booked_central},
          {"booked_hall", booked_hall},       {"available", available}};
}

json day_slots() {
  return {{"hall", "qd-sn-01"},
          {"service", "A"},
          {"day", "2026-11-27"},
          {"slots", json::array({slot("2026-11-27T09:00", "2026-11-27T09:30", 4, 2, 4, 1, 0),
                                 slot("2026-11-27T09:30", "2026-11-27T10:00", 4, 2, 1, 0, 3),
                                 slot("2026-11-27T13:30", "2026-11-27T14:00", 3, 3, 0, 2, 3)})}};
}

json booking(const char* code, const char* start, const char* end, const char* state = "booked") {
  return {{"code", code},
          {"hall", "qd-sn-01"},
          {"service", "A"},
          {"slot_start", local_ms(start)},
          {"slot_end", local_ms(end)},
          {"state", state}};
}

const std::vector<std::string> kBookArgs{"booking",        "book",          "--hall",
                                         "qd-sn-01",       "--service",     "A",
                                         "--day",          "2026-11-27",    "--applicant-id",
                                         "11010519491231002X", "--applicant-name", "张小三",
                                         "--phone",        "13800000000"};

std::vector<std::string> with(std::vector<std::string> args, std::vector<std::string> more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

}  // namespace

TEST_CASE("booking slots prints the day's slots with local times", "[central][cli][booking]") {
  FakeCentral central;
  central.reply("GET /api/v1/booking/slots", 200, day_slots());
  auto r = yiban_at(central, {"booking", "slots", "--hall", "qd-sn-01", "--service", "A", "--day",
                              "2026-11-27"});
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  CHECK(has_line(r.out, {"START", "END", "CAPACITY", "CENTRAL", "HALL", "BOOKED", "AVAILABLE"}));
  CHECK(has_line(r.out, {"09:00", "09:30", "6", "4", "2", "5", "0"}));
  CHECK(has_line(r.out, {"09:30", "10:00", "6", "4", "2", "1", "3"}));
  CHECK(has_line(r.out, {"13:30", "14:00", "6", "3", "3", "2", "3"}));
  CHECK(r.out.find("3 slots, 6 seats still bookable through central") != std::string::npos);
  auto reqs = central.requests();
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].param("hall") == "qd-sn-01");
  CHECK(reqs[0].param("service") == "A");
  CHECK(reqs[0].param("day") == "2026-11-27");

  SECTION("--json prints the reply") {
    auto j = yiban_at(central, {"--json", "booking", "slots", "--hall", "qd-sn-01", "--service", "A",
                                "--day", "2026-11-27"});
    REQUIRE(j.code == 0);
    CHECK(json::parse(j.out) == day_slots());
  }
  SECTION("a day without slots") {
    central.reply("GET /api/v1/booking/slots", 200,
                  json{{"hall", "qd-sn-01"}, {"service", "A"}, {"day", "2026-12-31"}, {"slots", json::array()}});
    auto e = yiban_at(central, {"booking", "slots", "--hall", "qd-sn-01", "--service", "A", "--day",
                                "2026-12-31"});
    REQUIRE(e.code == 0);
    CHECK(e.out == "no slots of A at qd-sn-01 on 2026-12-31 (closed, or a holiday)\n");
  }
  SECTION("a bad or missing day is a usage error, before any request") {
    auto e = yiban_at(central, {"booking", "slots", "--hall", "qd-sn-01", "--service", "A", "--day",
                                "2026-02-30"});
    CHECK(e.code == 2);
    CHECK(e.err.find("--day 2026-02-30") != std::string::npos);
    auto m = yiban_at(central, {"booking", "slots", "--hall", "qd-sn-01", "--service", "A"});
    CHECK(m.code == 2);
    CHECK(m.err.find("--day is required") != std::string::npos);
    CHECK(central.requests().size() == 1);
  }
  SECTION("central without --booking answers 404") {
    FakeCentral bare;
    auto e = yiban_at(bare, {"booking", "slots", "--hall", "qd-sn-01", "--service", "A", "--day",
                             "2026-11-27"});
    CHECK(e.code == 5);
    CHECK(e.err.find("HTTP 404") != std::string::npos);
  }
}

TEST_CASE("booking book resolves HH:MM to the slot's start and posts the exact body",
          "[central][cli][booking]") {
  FakeCentral central;
  central.reply("GET /api/v1/booking/slots", 200, day_slots());
  central.reply("POST /api/v1/bookings", 201,
                booking("K7M2Q9XA", "2026-11-27T09:30", "2026-11-27T10:00"));
  auto r = yiban_at(central, with(kBookArgs, {"--slot", "09:30", "--special-need", "轮椅"}));
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  CHECK(r.out ==
        "booking K7M2Q9XA booked: hall qd-sn-01, service A, slot 2026-11-27 09:30-10:00, state booked\n");
  auto reqs = central.requests();
  REQUIRE(reqs.size() == 2);
  CHECK(reqs[0].method == "GET");
  CHECK(reqs[0].param("day") == "2026-11-27");
  CHECK(reqs[1].method == "POST");
  CHECK(reqs[1].path == "/api/v1/bookings");
  CHECK(json::parse(reqs[1].body) == json{{"hall", "qd-sn-01"},
                                          {"service", "A"},
                                          {"slot_start", local_ms("2026-11-27T09:30")},
                                          {"applicant_id", "11010519491231002X"},
                                          {"applicant_name", "张小三"},
                                          {"phone", "13800000000"},
                                          {"special_need", "轮椅"}});

  SECTION("H:MM works too, and no special need means no field") {
    auto again = yiban_at(central, with(kBookArgs, {"--slot", "9:00"}));
    REQUIRE(again.code == 0);
    auto body = json::parse(central.requests().back().body);
    CHECK(body["slot_start"] == local_ms("2026-11-27T09:00"));
    CHECK_FALSE(body.contains("special_need"));
  }
  SECTION("a time that starts no slot is refused before posting, naming the slots") {
    auto e = yiban_at(central, with(kBookArgs, {"--slot", "10:15"}));
    CHECK(e.code == 2);
    CHECK(e.err.find("09:00 09:30 13:30") != std::string::npos);
    auto all = central.requests();
    REQUIRE(all.size() == 3);  // the two above, and this GET
    CHECK(all.back().method == "GET");
  }
  SECTION("a start in ms needs no --day and is posted as is") {
    std::vector<std::string> args{"booking", "book", "--hall", "qd-sn-01", "--service", "A",
                                  "--slot", std::to_string(local_ms("2026-11-27T13:30")),
                                  "--applicant-id", "X1", "--applicant-name", "李四", "--phone", "1"};
    auto ok = yiban_at(central, args);
    REQUIRE(ok.code == 0);
    auto all = central.requests();
    REQUIRE(all.size() == 3);
    CHECK(json::parse(all.back().body)["slot_start"] == local_ms("2026-11-27T13:30"));
  }
  SECTION("HH:MM without --day is a usage error") {
    std::vector<std::string> args{"booking", "book", "--hall", "qd-sn-01", "--service", "A",
                                  "--slot", "09:30", "--applicant-id", "X1", "--applicant-name",
                                  "李四", "--phone", "1"};
    auto e = yiban_at(central, args);
    CHECK(e.code == 2);
    CHECK(e.err.find("--day is required") != std::string::npos);
  }
  SECTION("a missing applicant field is a usage error") {
    auto e = yiban_at(central, {"booking", "book", "--hall", "qd-sn-01", "--service", "A", "--day",
                                "2026-11-27", "--slot", "09:30"});
    CHECK(e.code == 2);
    CHECK(e.err.find("--applicant-id is required") != std::string::npos);
  }
}

TEST_CASE("booking book shows central's refusals with a non-zero exit", "[central][cli][booking]") {
  FakeCentral central;
  central.reply("GET /api/v1/booking/slots", 200, day_slots());
  SECTION("409 full") {
    central.reply("POST /api/v1/bookings", 409,
                  json{{"error", {{"code", "full"}, {"message", "no seat left in this slot"}}}});
    auto r = yiban_at(central, with(kBookArgs, {"--slot", "09:00"}));
    CHECK(r.code == 1);
    CHECK(r.out.empty());
    CHECK(r.err == "yiban: no seat left in this slot (full, HTTP 409)\n");
  }
  SECTION("409 duplicate") {
    central.reply("POST /api/v1/bookings", 409,
                  json{{"error", {{"code", "duplicate"}, {"message", "one booking per person, service and day"}}}});
    auto r = yiban_at(central, with(kBookArgs, {"--slot", "09:30"}));
    CHECK(r.code == 1);
    CHECK(r.err.find("(duplicate, HTTP 409)") != std::string::npos);
  }
  SECTION("403 blocked") {
    central.reply("POST /api/v1/bookings", 403,
                  json{{"error", {{"code", "blocked"}, {"message", "too many no-shows: blocked until 2026-12-20"}}}});
    auto r = yiban_at(central, with(kBookArgs, {"--slot", "09:30"}));
    CHECK(r.code == 4);
    CHECK(r.err == "yiban: too many no-shows: blocked until 2026-12-20 (blocked, HTTP 403)\n");
  }
}

TEST_CASE("booking list prints the bookings and the total", "[central][cli][booking]") {
  FakeCentral central;
  json b1 = booking("K7M2Q9XA", "2026-11-27T09:30", "2026-11-27T10:00");
  b1["name"] = "张*三";
  b1["special_need"] = "轮椅";
  b1["source"] = "central";
  json b2 = booking("ZZ23AB45", "2026-11-27T13:30", "2026-11-27T14:00", "checked_in");
  b2["name"] = "李*";
  b2["special_need"] = nullptr;
  b2["source"] = "hall";
  central.reply("GET /api/v1/bookings", 200, json{{"bookings", {b1, b2}}, {"total", 7}});
  auto r = yiban_at(central, {"booking", "list", "--hall", "qd-sn-01", "--day", "2026-11-27",
                              "--state", "booked", "--limit", "2", "--offset", "4"});
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  CHECK(has_line(r.out, {"CODE", "HALL", "SERVICE", "SLOT", "STATE", "NAME", "SOURCE", "SPECIAL", "NEED"}));
  CHECK(has_line(r.out, {"K7M2Q9XA", "qd-sn-01", "A", "2026-11-27", "09:30-10:00", "booked", "张*三",
                         "central", "轮椅"}));
  CHECK(has_line(r.out, {"ZZ23AB45", "qd-sn-01", "A", "2026-11-27", "13:30-14:00", "checked_in", "李*",
                         "hall", "-"}));
  CHECK(r.out.find("2 of 7 bookings") != std::string::npos);
  auto q = central.requests().at(0);
  CHECK(q.param("hall") == "qd-sn-01");
  CHECK(q.param("day") == "2026-11-27");
  CHECK(q.param("state") == "booked");
  CHECK(q.param("limit") == "2");
  CHECK(q.param("offset") == "4");

  SECTION("no filters, no parameters") {
    REQUIRE(yiban_at(central, {"booking", "list"}).code == 0);
    CHECK(central.requests().back().params.empty());
  }
  SECTION("a bad state or an option of another action is a usage error") {
    auto e = yiban_at(central, {"booking", "list", "--state", "late"});
    CHECK(e.code == 2);
    auto o = yiban_at(central, {"booking", "list", "--phone", "1"});
    CHECK(o.code == 2);
    CHECK(o.err.find("--phone goes with 'booking book' only") != std::string::npos);
  }
  SECTION("an empty page") {
    central.reply("GET /api/v1/bookings", 200, json{{"bookings", json::array()}, {"total", 0}});
    auto e = yiban_at(central, {"booking", "list"});
    REQUIRE(e.code == 0);
    CHECK(e.out == "no bookings\n");
  }
}

TEST_CASE("booking cancel deletes the booking", "[central][cli][booking]") {
  FakeCentral central;
  central.reply("DELETE /api/v1/bookings/K7M2Q9XA", 200,
                booking("K7M2Q9XA", "2026-11-27T09:30", "2026-11-27T10:00", "cancelled"));
  auto r = yiban_at(central, {"booking", "cancel", "k7m2q9xa"});
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  CHECK(r.out ==
        "booking K7M2Q9XA cancelled: hall qd-sn-01, service A, slot 2026-11-27 09:30-10:00, state cancelled\n");
  auto reqs = central.requests();
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].method == "DELETE");
  CHECK(reqs[0].path == "/api/v1/bookings/K7M2Q9XA");

  SECTION("errors") {
    central.reply("DELETE /api/v1/bookings/ZZ23AB45", 409,
                  json{{"error", {{"code", "invalid_state"}, {"message", "booking ZZ23AB45 is cancelled"}}}});
    auto e = yiban_at(central, {"booking", "cancel", "ZZ23AB45"});
    CHECK(e.code == 1);
    CHECK(e.err == "yiban: booking ZZ23AB45 is cancelled (invalid_state, HTTP 409)\n");
    auto n = yiban_at(central, {"booking", "cancel", "ABCDEFGH"});
    CHECK(n.code == 5);
    auto bad = yiban_at(central, {"booking", "cancel", "nope"});
    CHECK(bad.code == 2);
    auto none = yiban_at(central, {"booking", "cancel"});
    CHECK(none.code == 2);
  }
}

TEST_CASE("booking reschedule looks the new slot up among the booking's service's",
          "[central][cli][booking]") {
  FakeCentral central;
  central.reply("GET /api/v1/bookings/K7M2Q9XA", 200,
                booking("K7M2Q9XA", "2026-11-27T09:30", "2026-11-27T10:00"));
  central.reply("GET /api/v1/booking/slots", 200, day_slots());
  central.reply("POST /api/v1/bookings/K7M2Q9XA/reschedule", 200,
                booking("K7M2Q9XA", "2026-11-27T13:30", "2026-11-27T14:00"));
  auto r = yiban_at(central, {"booking", "reschedule", "K7M2Q9XA", "--slot", "13:30", "--day",
                              "2026-11-27"});
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  CHECK(r.out.find("booking K7M2Q9XA rescheduled") != std::string::npos);
  CHECK(r.out.find("2026-11-27 13:30-14:00") != std::string::npos);
  auto reqs = central.requests();
  REQUIRE(reqs.size() == 3);
  CHECK(reqs[1].param("hall") == "qd-sn-01");
  CHECK(reqs[1].param("service") == "A");
  CHECK(reqs[2].path == "/api/v1/bookings/K7M2Q9XA/reschedule");
  CHECK(json::parse(reqs[2].body) == json{{"slot_start", local_ms("2026-11-27T13:30")}});
}
