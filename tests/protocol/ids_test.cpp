#include "yiban/protocol/ids.h"

#include <catch2/catch.hpp>
#include <string>

namespace yiban::protocol {
namespace {

TEST_CASE("hall ids are 1-32 lower-case letters, digits or dashes", "[protocol][ids]") {
  CHECK(is_valid_hall_id("qd-sn-01"));
  CHECK(is_valid_hall_id("a"));
  CHECK(is_valid_hall_id("-"));
  CHECK(is_valid_hall_id(std::string(32, 'h')));

  CHECK_FALSE(is_valid_hall_id(""));
  CHECK_FALSE(is_valid_hall_id(std::string(33, 'h')));
  CHECK_FALSE(is_valid_hall_id("QD-sn-01"));
  CHECK_FALSE(is_valid_hall_id("qd_sn_01"));
  CHECK_FALSE(is_valid_hall_id("qd sn"));
  CHECK_FALSE(is_valid_hall_id("qd:sn"));
  CHECK_FALSE(is_valid_hall_id("qd/sn"));
  CHECK_FALSE(is_valid_hall_id("+"));
  CHECK_FALSE(is_valid_hall_id("#"));
  CHECK_FALSE(is_valid_hall_id("大厅"));
  CHECK_FALSE(is_valid_hall_id(std::string("qd\0sn", 5)));
}

TEST_CASE("device ids follow the same pattern as hall ids", "[protocol][ids]") {
  CHECK(is_valid_device_id("kiosk-1"));
  CHECK(is_valid_device_id("0"));
  CHECK(is_valid_device_id(std::string(32, '9')));

  CHECK_FALSE(is_valid_device_id(""));
  CHECK_FALSE(is_valid_device_id(std::string(33, '9')));
  CHECK_FALSE(is_valid_device_id("Kiosk-1"));
  CHECK_FALSE(is_valid_device_id("kiosk.1"));
  CHECK_FALSE(is_valid_device_id("kiosk/1"));
  CHECK_FALSE(is_valid_device_id("+"));
}

TEST_CASE("region codes are exactly six digits", "[protocol][ids]") {
  CHECK(is_valid_region("370202"));
  CHECK(is_valid_region("000000"));

  CHECK_FALSE(is_valid_region(""));
  CHECK_FALSE(is_valid_region("37020"));
  CHECK_FALSE(is_valid_region("3702021"));
  CHECK_FALSE(is_valid_region("37020a"));
  CHECK_FALSE(is_valid_region("-37020"));
  CHECK_FALSE(is_valid_region(" 370202"));
}

TEST_CASE("service codes are one or two capital letters", "[protocol][ids]") {
  CHECK(is_valid_service_code("A"));
  CHECK(is_valid_service_code("Z"));
  CHECK(is_valid_service_code("AB"));

  CHECK_FALSE(is_valid_service_code(""));
  CHECK_FALSE(is_valid_service_code("ABC"));
  CHECK_FALSE(is_valid_service_code("a"));
  CHECK_FALSE(is_valid_service_code("Ab"));
  CHECK_FALSE(is_valid_service_code("A1"));
  CHECK_FALSE(is_valid_service_code("1"));
  CHECK_FALSE(is_valid_service_code("A-"));
}

TEST_CASE("counter ids are 1-16 letters of either case, digits or dashes", "[protocol][ids]") {
  CHECK(is_valid_counter_id("7"));
  CHECK(is_valid_counter_id("B12"));
  CHECK(is_valid_counter_id("vip-Room"));
  CHECK(is_valid_counter_id(std::string(16, 'x')));

  CHECK_FALSE(is_valid_counter_id(""));
  CHECK_FALSE(is_valid_counter_id(std::string(17, 'x')));
  CHECK_FALSE(is_valid_counter_id("7 "));
  CHECK_FALSE(is_valid_counter_id("7_a"));
  CHECK_FALSE(is_valid_counter_id("7/a"));
  CHECK_FALSE(is_valid_counter_id("七"));
}

TEST_CASE("ticket numbers pad the daily counter to at least three digits", "[protocol][ids]") {
  CHECK(make_ticket_number("A", 1) == "A001");
  CHECK(make_ticket_number("A", 7) == "A007");
  CHECK(make_ticket_number("A", 42) == "A042");
  CHECK(make_ticket_number("A", 999) == "A999");
  CHECK(make_ticket_number("A", 1000) == "A1000");
  CHECK(make_ticket_number("A", 123456) == "A123456");
  CHECK(make_ticket_number("AB", 12) == "AB012");
}

TEST_CASE("ticket ids join hall, day and number with colons", "[protocol][ids]") {
  CHECK(make_ticket_id("qd-sn-01", 20261126, "A007") == "qd-sn-01:20261126:A007");
  CHECK(make_ticket_id("h", 20260101, "AB1000") == "h:20260101:AB1000");
}

TEST_CASE("a ticket id made by make_ticket_id parses back to its parts", "[protocol][ids]") {
  struct Case {
    std::string hall;
    int day;
    std::string number;
  };
  auto c = GENERATE(Case{"qd-sn-01", 20261126, "A007"}, Case{"h", 20260101, "AB012"},
                    Case{"x-1", 20261231, "Z1000"}, Case{"a2", 20240229, "AB999999"});
  auto parsed = parse_ticket_id(make_ticket_id(c.hall, c.day, c.number));
  REQUIRE(parsed);
  CHECK(parsed->hall == c.hall);
  CHECK(parsed->day == c.day);
  CHECK(parsed->number == c.number);
}

TEST_CASE("a ticket number from make_ticket_number is accepted inside a ticket id",
          "[protocol][ids]") {
  for (int n : {1, 7, 999, 1000, 999999}) {
    std::string number = make_ticket_number("AB", n);
    auto parsed = parse_ticket_id(make_ticket_id("qd-sn-01", 20261126, number));
    INFO(number);
    REQUIRE(parsed);
    CHECK(parsed->number == number);
  }
}

TEST_CASE("malformed ticket ids are rejected", "[protocol][ids]") {
  auto id = GENERATE(as<std::string>{},
                     // missing parts
                     "", "qd-sn-01", "qd-sn-01:20261126", "qd-sn-01:20261126:", ":20261126:A007",
                     "qd-sn-01::A007", "qd-sn-01:A007", "20261126:A007",
                     // extra part
                     "qd-sn-01:20261126:A007:x", "qd-sn-01:2026:1126:A007",
                     // bad hall
                     "QD-sn-01:20261126:A007", "qd_sn:20261126:A007",
                     // day: wrong digit count, non-digits, impossible month or day
                     "h:2026112:A007", "h:202611260:A007", "h:2026-11-26:A007", "h:2026112a:A007",
                     "h:20261326:A007", "h:20260026:A007", "h:20261100:A007", "h:20261132:A007",
                     "h:20260231:A007", "h:20260229:A007", "h:21000229:A007", "h:20260431:A007",
                     // number: prefix and digit counts
                     "h:20261126:a007", "h:20261126:Ab007", "h:20261126:007", "h:20261126:ABC007",
                     "h:20261126:A07", "h:20261126:A", "h:20261126:A1234567", "h:20261126:A00x",
                     "h:20261126:A 007", "h:20261126:A-07", "h:20261126:A007 ");
  INFO("id: " << id);
  CHECK_FALSE(parse_ticket_id(id));
}

TEST_CASE("ticket ids accept every real calendar day, leap days included", "[protocol][ids]") {
  for (int day : {20240229, 20000229, 20261231, 20260430, 20260228}) {
    INFO(day);
    CHECK(parse_ticket_id(make_ticket_id("h", day, "A001")));
  }
}

}  // namespace
}  // namespace yiban::protocol
