#include "yiban/protocol/event.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace yiban::protocol {
namespace {

constexpr std::string_view kData = R"({"ticket":"h:20261126:A007","service":"A","number":"A007"})";
constexpr std::string_view kText =
    R"({"hall":"h","seq":1,"ts":2,"type":"ticket.issued",)"
    R"("data":{"ticket":"h:20261126:A007","service":"A","number":"A007"}})";

TEST_CASE("encode_event writes the envelope fields in a fixed order", "[protocol][event]") {
  CHECK(encode_event("h", 1, 2, "ticket.issued", kData) == kText);
  CHECK(encode_event("qd-sn-01", 1042, 1764141802123, "counter.opened", "{}") ==
        R"({"hall":"qd-sn-01","seq":1042,"ts":1764141802123,"type":"counter.opened","data":{}})");
}

TEST_CASE("encode_event copies the data text byte for byte", "[protocol][event]") {
  // Spacing, key order and non-ASCII text survive: the text is what gets hashed.
  constexpr std::string_view kOdd = R"({ "z" : 1,"a":"请A007号到7号窗口" })";
  std::string text = encode_event("h", 3, 4, "help.requested", kOdd);
  CHECK(text == std::string(R"({"hall":"h","seq":3,"ts":4,"type":"help.requested","data":)") +
                    std::string(kOdd) + "}");
}

TEST_CASE("every core event type is a valid event type", "[protocol][event]") {
  namespace t = event_type;
  auto type =
      GENERATE(t::kTicketIssued, t::kTicketCalled, t::kTicketRecalled, t::kTicketServing,
               t::kTicketTransferred, t::kTicketCompleted, t::kTicketNoShow, t::kTicketCancelled,
               t::kCounterOpened, t::kCounterPaused, t::kCounterClosed, t::kRatingSubmitted,
               t::kDeviceOnline, t::kDeviceOffline, t::kTelemetrySummary, t::kAlertRaised,
               t::kAlertAcknowledged, t::kAlertResolved, t::kAppointmentCheckedIn,
               t::kHelpRequested, t::kHelpAnswered, t::kCommandApplied);
  INFO("type: " << type);
  CHECK(is_valid_event_type(type));
}

TEST_CASE("event types are dotted lower-case noun.verb_past", "[protocol][event]") {
  CHECK(is_valid_event_type("case.received"));
  CHECK(is_valid_event_type("a.b"));
  CHECK(is_valid_event_type("a." + std::string(62, 'b')));

  CHECK_FALSE(is_valid_event_type(""));
  CHECK_FALSE(is_valid_event_type("ticket"));
  CHECK_FALSE(is_valid_event_type(".issued"));
  CHECK_FALSE(is_valid_event_type("ticket."));
  CHECK_FALSE(is_valid_event_type("."));
  CHECK_FALSE(is_valid_event_type("ticket..issued"));
  CHECK_FALSE(is_valid_event_type("ticket.issued.again"));
  CHECK_FALSE(is_valid_event_type("Ticket.issued"));
  CHECK_FALSE(is_valid_event_type("ticket.Issued"));
  CHECK_FALSE(is_valid_event_type("ticket.issued2"));
  CHECK_FALSE(is_valid_event_type("ticket-x.issued"));
  CHECK_FALSE(is_valid_event_type("ticket.issued "));
  CHECK_FALSE(is_valid_event_type("ticket issued"));
  CHECK_FALSE(is_valid_event_type("ticket.*"));
  CHECK_FALSE(is_valid_event_type("a." + std::string(63, 'b')));
}

TEST_CASE("parse_event reads an envelope that encode_event wrote", "[protocol][event]") {
  auto event = parse_event(kText);
  REQUIRE(event);
  CHECK(event->hall == "h");
  CHECK(event->seq == 1);
  CHECK(event->ts == 2);
  CHECK(event->type == "ticket.issued");
  CHECK(nlohmann::json::parse(event->data_json) == nlohmann::json::parse(kData));
}

TEST_CASE("parse_event accepts large seq and ts, any key order and empty data",
          "[protocol][event]") {
  auto event =
      parse_event(R"({"data":{},"type":"alert.raised","ts":1764141802123,"seq":9007199254740993,)"
                  R"("hall":"qd-sn-01"})");
  REQUIRE(event);
  CHECK(event->hall == "qd-sn-01");
  CHECK(event->seq == 9007199254740993);
  CHECK(event->ts == 1764141802123);
  CHECK(event->type == "alert.raised");
  CHECK(event->data_json == "{}");
}

std::string padded_event(std::size_t total_bytes) {
  std::string shell = encode_event("h", 1, 2, "ticket.issued", R"({"pad":""})");
  REQUIRE(total_bytes >= shell.size());
  std::string pad(total_bytes - shell.size(), 'x');
  std::string text = encode_event("h", 1, 2, "ticket.issued", R"({"pad":")" + pad + R"("})");
  REQUIRE(text.size() == total_bytes);
  return text;
}

TEST_CASE("parse_event accepts exactly 64 KiB and refuses one byte more", "[protocol][event]") {
  CHECK(parse_event(padded_event(kMaxEventBytes)));
  auto too_big = parse_event(padded_event(kMaxEventBytes + 1));
  REQUIRE_FALSE(too_big);
  CHECK_THAT(too_big.error().message, Catch::Contains("64 KiB"));
}

struct BadEvent {
  std::string text;
  std::string fragment;  // expected in the error message
};

TEST_CASE("parse_event rejects malformed envelopes with a reason", "[protocol][event]") {
  auto bad = GENERATE(
      // not an object at all
      BadEvent{"", "not a JSON object"}, BadEvent{"not json", "not a JSON object"},
      BadEvent{R"({"hall":"h","seq":1)", "not a JSON object"}, BadEvent{"[]", "not a JSON object"},
      BadEvent{R"("text")", "not a JSON object"}, BadEvent{"42", "not a JSON object"},
      // invalid UTF-8 anywhere
      BadEvent{"{\"hall\":\"h\",\"seq\":1,\"ts\":2,\"type\":\"ticket.issued\","
               "\"data\":{\"n\":\"\xe4\xb8\"}}",
               "UTF-8"},
      BadEvent{"{\"hall\":\"h\",\"seq\":1,\"ts\":2,\"type\":\"ticket.issued\","
               "\"data\":{\"n\":\"\xc0\xaf\"}}",
               "UTF-8"},
      // missing fields
      BadEvent{R"({"seq":1,"ts":2,"type":"ticket.issued","data":{}})", "event.hall"},
      BadEvent{R"({"hall":"h","ts":2,"type":"ticket.issued","data":{}})", "event.seq"},
      BadEvent{R"({"hall":"h","seq":1,"type":"ticket.issued","data":{}})", "event.ts"},
      BadEvent{R"({"hall":"h","seq":1,"ts":2,"data":{}})", "event.type"},
      BadEvent{R"({"hall":"h","seq":1,"ts":2,"type":"ticket.issued"})", "event.data"},
      // extra fields
      BadEvent{R"({"hall":"h","seq":1,"ts":2,"type":"ticket.issued","data":{},"x":0})",
               "unexpected fields"},
      BadEvent{R"({"hall":"h","seq":1,"ts":2,"type":"ticket.issued","data":{},"chain":"00"})",
               "unexpected fields"},
      // wrong types
      BadEvent{R"({"hall":7,"seq":1,"ts":2,"type":"ticket.issued","data":{}})", "event.hall"},
      BadEvent{R"({"hall":null,"seq":1,"ts":2,"type":"ticket.issued","data":{}})", "event.hall"},
      BadEvent{R"({"hall":"h","seq":"1","ts":2,"type":"ticket.issued","data":{}})", "event.seq"},
      BadEvent{R"({"hall":"h","seq":1.0,"ts":2,"type":"ticket.issued","data":{}})", "event.seq"},
      BadEvent{R"({"hall":"h","seq":1.5,"ts":2,"type":"ticket.issued","data":{}})", "event.seq"},
      BadEvent{R"({"hall":"h","seq":true,"ts":2,"type":"ticket.issued","data":{}})", "event.seq"},
      BadEvent{R"({"hall":"h","seq":1,"ts":"2","type":"ticket.issued","data":{}})", "event.ts"},
      BadEvent{R"({"hall":"h","seq":1,"ts":2.5,"type":"ticket.issued","data":{}})", "event.ts"},
      BadEvent{R"({"hall":"h","seq":1,"ts":2,"type":1,"data":{}})", "event.type"},
      BadEvent{R"({"hall":"h","seq":1,"ts":2,"type":["ticket.issued"],"data":{}})", "event.type"},
      // seq and ts out of range
      BadEvent{R"({"hall":"h","seq":0,"ts":2,"type":"ticket.issued","data":{}})", "event.seq"},
      BadEvent{R"({"hall":"h","seq":-1,"ts":2,"type":"ticket.issued","data":{}})", "event.seq"},
      BadEvent{R"({"hall":"h","seq":18446744073709551615,"ts":2,"type":"ticket.issued",)"
               R"("data":{}})",
               "event.seq"},
      BadEvent{R"({"hall":"h","seq":1,"ts":-2,"type":"ticket.issued","data":{}})", "event.ts"},
      // bad hall, bad type
      BadEvent{R"({"hall":"","seq":1,"ts":2,"type":"ticket.issued","data":{}})", "event.hall"},
      BadEvent{R"({"hall":"QD","seq":1,"ts":2,"type":"ticket.issued","data":{}})", "event.hall"},
      BadEvent{R"({"hall":"qd/sn","seq":1,"ts":2,"type":"ticket.issued","data":{}})", "event.hall"},
      BadEvent{R"({"hall":")" + std::string(33, 'h') +
                   R"(","seq":1,"ts":2,"type":"ticket.issued","data":{}})",
               "event.hall"},
      BadEvent{R"({"hall":"h","seq":1,"ts":2,"type":"Ticket.Issued","data":{}})", "event.type"},
      BadEvent{R"({"hall":"h","seq":1,"ts":2,"type":"ticket","data":{}})", "event.type"},
      BadEvent{R"({"hall":"h","seq":1,"ts":2,"type":"","data":{}})", "event.type"},
      // data that is not an object
      BadEvent{R"({"hall":"h","seq":1,"ts":2,"type":"ticket.issued","data":[]})", "event.data"},
      BadEvent{R"({"hall":"h","seq":1,"ts":2,"type":"ticket.issued","data":"{}"})", "event.data"},
      BadEvent{R"({"hall":"h","seq":1,"ts":2,"type":"ticket.issued","data":null})", "event.data"},
      BadEvent{R"({"hall":"h","seq":1,"ts":2,"type":"ticket.issued","data":3})", "event.data"});
  INFO("text: " << bad.text);
  auto event = parse_event(bad.text);
  REQUIRE_FALSE(event);
  CHECK_THAT(event.error().message, Catch::Contains(bad.fragment));
}

}  // namespace
}  // namespace yiban::protocol
