#include "yiban/protocol/requests.h"

#include <array>
#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "yiban/protocol/error.h"
#include "yiban/protocol/utf8.h"

namespace yiban::protocol {
namespace {

constexpr std::array<std::string_view, 8> kCounterOps = {
    "counter.open",   "counter.pause", "counter.close",  "counter.call_next",
    "counter.recall", "counter.start", "counter.finish", "counter.no_show"};

std::string repeat(std::string_view piece, std::size_t times) {
  std::string out;
  for (std::size_t i = 0; i < times; ++i) out += piece;
  return out;
}

// A valid JSON object padded with trailing spaces to exactly `bytes` bytes.
std::string padded_take(std::size_t bytes) {
  std::string out = R"({"service":"A"})";
  out.append(bytes - out.size(), ' ');
  return out;
}

struct BadInput {
  std::string op;
  std::string payload;
  ErrorCode code;
  std::string fragment;  // expected in the failure message
};

std::vector<BadInput> bad_inputs() {
  using E = ErrorCode;
  std::vector<BadInput> rows = {
      // unknown_op: checked before the payload is looked at
      {"ticket.give", "{}", E::kUnknownOp, R"(unknown op "ticket.give")"},
      {"", "{}", E::kUnknownOp, R"(unknown op "")"},
      {"Ticket.Take", R"({"service":"A"})", E::kUnknownOp, R"(unknown op "Ticket.Take")"},
      {"ticket.take ", R"({"service":"A"})", E::kUnknownOp, "unknown op"},
      {"ticket", "{}", E::kUnknownOp, "unknown op"},
      {"counter.open/x", "{}", E::kUnknownOp, "unknown op"},
      {"nope", "not json", E::kUnknownOp, R"(unknown op "nope")"},
      {"\xff\xfe", "{}", E::kUnknownOp, R"(unknown op "?")"},
      {std::string(100, 'x'), "{}", E::kUnknownOp, "unknown op \"" + std::string(64, 'x') + "\""},

      // bad_json: not JSON, truncated JSON
      {"ticket.take", "not json", E::kBadJson, "not valid JSON"},
      {"ticket.take", "{", E::kBadJson, "not valid JSON"},
      {"ticket.take", R"({"service":"A")", E::kBadJson, "not valid JSON"},
      {"ticket.take", R"({"service":"A)", E::kBadJson, "not valid JSON"},
      {"ticket.take", R"({"service":)", E::kBadJson, "not valid JSON"},
      {"ticket.take", R"({"service":"A"} x)", E::kBadJson, "not valid JSON"},
      {"ticket.take", R"({} {})", E::kBadJson, "not valid JSON"},
      {"ticket.take", "   ", E::kBadJson, "not valid JSON"},
      {"ticket.take", R"({'service':'A'})", E::kBadJson, "not valid JSON"},
      {"ticket.take", R"({"service":"A",})", E::kBadJson, "not valid JSON"},
      {"help.request", "{\"need\":\"raw\ttab\"}", E::kBadJson, "not valid JSON"},
      {"counter.open", "{", E::kBadJson, "not valid JSON"},
      // bad_json: JSON that is not an object
      {"ticket.take", R"(["A"])", E::kBadJson, "must be a JSON object"},
      {"ticket.take", "[]", E::kBadJson, "must be a JSON object"},
      {"ticket.take", R"("A")", E::kBadJson, "must be a JSON object"},
      {"ticket.take", "42", E::kBadJson, "must be a JSON object"},
      {"ticket.take", "null", E::kBadJson, "must be a JSON object"},
      {"ticket.take", "true", E::kBadJson, "must be a JSON object"},
      {"rating.submit", "5", E::kBadJson, "must be a JSON object"},
      {"counter.call_next", "[]", E::kBadJson, "must be a JSON object"},
      {"counter.finish", "null", E::kBadJson, "must be a JSON object"},
      // bad_json: size, checked before anything is parsed
      {"ticket.take", padded_take(kMaxPayloadBytes + 1), E::kBadJson, "larger than 16 KiB"},
      {"counter.open", std::string(kMaxPayloadBytes + 1, ' '), E::kBadJson, "larger than 16 KiB"},
      {"help.request", std::string(kMaxPayloadBytes * 4, '{'), E::kBadJson, "larger than 16 KiB"},
      // bad_json: invalid UTF-8 bytes, even inside strings
      {"ticket.take", "{\"service\":\"\xff\"}", E::kBadJson, "not valid UTF-8"},
      {"help.request", "{\"need\":\"\xe8\xbd\"}", E::kBadJson, "not valid UTF-8"},
      {"help.request", "{\"need\":\"\xc0\xaf\"}", E::kBadJson, "not valid UTF-8"},
      {"help.request", "{\"need\":\"\xed\xa0\x80\"}", E::kBadJson, "not valid UTF-8"},
      {"counter.open", "\x80", E::kBadJson, "not valid UTF-8"},

      // bad_request, ticket.take: service
      {"ticket.take", "", E::kBadRequest, "service: required"},
      {"ticket.take", "{}", E::kBadRequest, "service: required"},
      {"ticket.take", R"({"service":null})", E::kBadRequest, "service: required"},
      {"ticket.take", R"({"class":"elderly"})", E::kBadRequest, "service: required"},
      {"ticket.take", R"({"service":1})", E::kBadRequest, "service: must be a string"},
      {"ticket.take", R"({"service":["A"]})", E::kBadRequest, "service: must be a string"},
      {"ticket.take", R"({"service":true})", E::kBadRequest, "service: must be a string"},
      {"ticket.take", R"({"service":"a"})", E::kBadRequest, "service: must be 1-2 capital"},
      {"ticket.take", R"({"service":"Ab"})", E::kBadRequest, "service: must be 1-2 capital"},
      {"ticket.take", R"({"service":"ABC"})", E::kBadRequest, "service: must be 1-2 capital"},
      {"ticket.take", R"({"service":""})", E::kBadRequest, "service: must be 1-2 capital"},
      {"ticket.take", R"({"service":"A1"})", E::kBadRequest, "service: must be 1-2 capital"},
      // ticket.take: unknown fields
      {"ticket.take", R"({"service":"A","extra":1})", E::kBadRequest, R"(unknown field "extra")"},
      {"ticket.take", R"({"service":"A","Service":"A"})", E::kBadRequest,
       R"(unknown field "Service")"},
      {"ticket.take", R"({"service":"A","name":"张三"})", E::kBadRequest,
       R"(unknown field "name")"},
      // ticket.take: class
      {"ticket.take", R"({"service":"A","class":"Elderly"})", E::kBadRequest, "class: must match"},
      {"ticket.take", R"({"service":"A","class":""})", E::kBadRequest, "class: must match"},
      {"ticket.take", R"({"service":"A","class":"old-age"})", E::kBadRequest, "class: must match"},
      {"ticket.take", R"({"service":"A","class":"vip1"})", E::kBadRequest, "class: must match"},
      {"ticket.take", R"({"service":"A","class":")" + std::string(33, 'e') + R"("})",
       E::kBadRequest, "class: must match"},
      {"ticket.take", R"({"service":"A","class":1})", E::kBadRequest, "class: must be a string"},
      // ticket.take: phone
      {"ticket.take", R"({"service":"A","phone":"1234"})", E::kBadRequest, "phone: must be"},
      {"ticket.take", R"({"service":"A","phone":")" + std::string(21, '1') + R"("})",
       E::kBadRequest, "phone: must be"},
      {"ticket.take", R"({"service":"A","phone":"+"})", E::kBadRequest, "phone: must be"},
      {"ticket.take", R"({"service":"A","phone":""})", E::kBadRequest, "phone: must be"},
      {"ticket.take", R"({"service":"A","phone":"++8613800000000"})", E::kBadRequest,
       "phone: must be"},
      {"ticket.take", R"({"service":"A","phone":"138-0000-0000"})", E::kBadRequest,
       "phone: must be"},
      {"ticket.take", R"({"service":"A","phone":"138 0000 0000"})", E::kBadRequest,
       "phone: must be"},
      {"ticket.take", R"({"service":"A","phone":"1380000000x"})", E::kBadRequest, "phone: must be"},
      {"ticket.take", R"({"service":"A","phone":13800000000})", E::kBadRequest,
       "phone: must be a string"},

      // bad_request, appointment.checkin
      {"appointment.checkin", "{}", E::kBadRequest, "code: required"},
      {"appointment.checkin", "", E::kBadRequest, "code: required"},
      {"appointment.checkin", R"({"code":1234})", E::kBadRequest, "code: must be a string"},
      {"appointment.checkin", R"({"code":"abc"})", E::kBadRequest, "code: must match"},
      {"appointment.checkin", R"({"code":")" + std::string(33, 'c') + R"("})", E::kBadRequest,
       "code: must match"},
      {"appointment.checkin", R"({"code":"BK 2026"})", E::kBadRequest, "code: must match"},
      {"appointment.checkin", R"({"code":"BK_2026"})", E::kBadRequest, "code: must match"},
      {"appointment.checkin", R"({"code":"预约12345"})", E::kBadRequest, "code: must match"},
      {"appointment.checkin", R"({"code":"BK-2026","service":"A"})", E::kBadRequest,
       R"(unknown field "service")"},

      // bad_request, counter.transfer
      {"counter.transfer", "{}", E::kBadRequest, "exactly one of service or counter"},
      {"counter.transfer", "", E::kBadRequest, "exactly one of service or counter"},
      {"counter.transfer", R"({"service":"B","counter":"9"})", E::kBadRequest,
       "exactly one of service or counter"},
      {"counter.transfer", R"({"service":null,"counter":null})", E::kBadRequest,
       "exactly one of service or counter"},
      {"counter.transfer", R"({"service":"b"})", E::kBadRequest, "service: must be 1-2 capital"},
      {"counter.transfer", R"({"service":"BCD"})", E::kBadRequest, "service: must be 1-2 capital"},
      {"counter.transfer", R"({"service":2})", E::kBadRequest, "service: must be a string"},
      {"counter.transfer", R"({"counter":""})", E::kBadRequest, "counter: must match"},
      {"counter.transfer", R"({"counter":"9 9"})", E::kBadRequest, "counter: must match"},
      {"counter.transfer", R"({"counter":")" + std::string(17, '9') + R"("})", E::kBadRequest,
       "counter: must match"},
      {"counter.transfer", R"({"counter":9})", E::kBadRequest, "counter: must be a string"},
      {"counter.transfer", R"({"service":"B","note":"x"})", E::kBadRequest,
       R"(unknown field "note")"},

      // bad_request, rating.submit: score
      {"rating.submit", "{}", E::kBadRequest, "score: required"},
      {"rating.submit", "", E::kBadRequest, "score: required"},
      {"rating.submit", R"({"ticket":"qd-sn-01:20261126:A007"})", E::kBadRequest,
       "score: required"},
      {"rating.submit", R"({"score":0})", E::kBadRequest, "score: must be an integer 1..5"},
      {"rating.submit", R"({"score":6})", E::kBadRequest, "score: must be an integer 1..5"},
      {"rating.submit", R"({"score":-1})", E::kBadRequest, "score: must be an integer 1..5"},
      {"rating.submit", R"({"score":4294967299})", E::kBadRequest,
       "score: must be an integer 1..5"},
      {"rating.submit", R"({"score":18446744073709551615})", E::kBadRequest,
       "score: must be an integer 1..5"},
      {"rating.submit", R"({"score":"5"})", E::kBadRequest, "score: must be an integer 1..5"},
      {"rating.submit", R"({"score":4.5})", E::kBadRequest, "score: must be an integer 1..5"},
      {"rating.submit", R"({"score":5.0})", E::kBadRequest, "score: must be an integer 1..5"},
      {"rating.submit", R"({"score":true})", E::kBadRequest, "score: must be an integer 1..5"},
      {"rating.submit", R"({"score":null})", E::kBadRequest, "score: must be an integer 1..5"},
      {"rating.submit", R"({"score":[5]})", E::kBadRequest, "score: must be an integer 1..5"},
      // rating.submit: ticket
      {"rating.submit", R"({"score":5,"ticket":"A007"})", E::kBadRequest,
       "ticket: must be a ticket id"},
      {"rating.submit", R"({"score":5,"ticket":""})", E::kBadRequest,
       "ticket: must be a ticket id"},
      {"rating.submit", R"({"score":5,"ticket":"qd-sn-01:20261326:A007"})", E::kBadRequest,
       "ticket: must be a ticket id"},
      {"rating.submit", R"({"score":5,"ticket":"qd-sn-01:20261126:a007"})", E::kBadRequest,
       "ticket: must be a ticket id"},
      {"rating.submit", R"({"score":5,"ticket":"QD:20261126:A007"})", E::kBadRequest,
       "ticket: must be a ticket id"},
      {"rating.submit", R"({"score":5,"ticket":7})", E::kBadRequest, "ticket: must be a string"},
      {"rating.submit", R"({"score":5,"comment":"好"})", E::kBadRequest,
       R"(unknown field "comment")"},

      // bad_request, help.request
      {"help.request", "{}", E::kBadRequest, "need: required"},
      {"help.request", "", E::kBadRequest, "need: required"},
      {"help.request", R"({"need":""})", E::kBadRequest, "need: must be 1-200 characters"},
      {"help.request", R"({"need":")" + repeat("轮", 201) + R"("})", E::kBadRequest,
       "need: must be 1-200 characters"},
      {"help.request", R"({"need":")" + std::string(201, 'w') + R"("})", E::kBadRequest,
       "need: must be 1-200 characters"},
      {"help.request", R"({"need":5})", E::kBadRequest, "need: must be a string"},
      {"help.request", R"({"need":["wheelchair"]})", E::kBadRequest, "need: must be a string"},
      {"help.request", R"({"need":{"text":"wheelchair"}})", E::kBadRequest,
       "need: must be a string"},
      {"help.request", R"({"need":"a\nb"})", E::kBadRequest, "control characters"},
      {"help.request", R"({"need":"tab\there"})", E::kBadRequest, "control characters"},
      {"help.request", R"({"need":"\u0000"})", E::kBadRequest, "control characters"},
      {"help.request", R"({"need":"bell\u0007"})", E::kBadRequest, "control characters"},
      {"help.request", R"({"need":"del\u007f"})", E::kBadRequest, "control characters"},
      {"help.request", R"({"need":"next\u0085line"})", E::kBadRequest, "control characters"},
      {"help.request", R"({"need":"wheelchair","urgent":true})", E::kBadRequest,
       R"(unknown field "urgent")"},
  };
  // Counter actions take no fields at all.
  for (auto op : kCounterOps) {
    rows.push_back({std::string(op), R"({"x":1})", E::kBadRequest, R"(unknown field "x")"});
    rows.push_back(
        {std::string(op), R"({"service":"A"})", E::kBadRequest, R"(unknown field "service")"});
    rows.push_back(
        {std::string(op), R"({"counter":null})", E::kBadRequest, R"(unknown field "counter")"});
  }
  return rows;
}

TEST_CASE("decode_request refuses every kind of bad input with its code and a reason",
          "[protocol][requests]") {
  auto row = GENERATE(from_range(bad_inputs()));
  INFO("op: " << row.op.substr(0, 80));
  INFO("payload: " << row.payload.substr(0, 120));
  auto request = decode_request(row.op, row.payload);
  REQUIRE_FALSE(request);
  CHECK(to_string(request.error().code) == to_string(row.code));
  CHECK_THAT(request.error().message, Catch::Contains(row.fragment));
  CHECK(is_valid_utf8(request.error().message));
}

TEST_CASE("the bad-input table reaches every decoder error code", "[protocol][requests]") {
  std::set<ErrorCode> seen;
  for (const auto& row : bad_inputs()) seen.insert(row.code);
  CHECK(seen ==
        std::set<ErrorCode>{ErrorCode::kUnknownOp, ErrorCode::kBadJson, ErrorCode::kBadRequest});
}

TEST_CASE("an unknown field's name is shortened without breaking UTF-8", "[protocol][requests]") {
  std::string key = repeat("字", 20);  // 60 bytes; a byte cut at 40 or 16 splits a character
  auto request = decode_request("ticket.take", R"({"service":"A",")" + key + R"(":1})");
  REQUIRE_FALSE(request);
  CHECK(request.error().code == ErrorCode::kBadRequest);
  CHECK_THAT(request.error().message, Catch::StartsWith("unknown field \"" + repeat("字", 13)));
  CHECK(is_valid_utf8(request.error().message));
}

template <class Body>
const Body& body_of(const Result<Request>& request) {
  const Body* body = std::get_if<Body>(&request->body);
  if (body == nullptr) FAIL("request body has another type");
  return *body;
}

Result<Request> decode_or_fail(std::string_view op, std::string_view payload) {
  auto request = decode_request(op, payload);
  if (!request) FAIL("refused: " << request.error().message);
  return request;
}

TEST_CASE("ticket.take decodes a service alone", "[protocol][requests]") {
  auto request = decode_or_fail("ticket.take", R"({"service":"A"})");
  CHECK(request->op == Op::kTicketTake);
  const auto& take = body_of<TicketTake>(request);
  CHECK(take.service == "A");
  CHECK_FALSE(take.priority_class);
  CHECK_FALSE(take.phone);
}

TEST_CASE("ticket.take decodes class and phone", "[protocol][requests]") {
  auto request =
      decode_or_fail("ticket.take", R"({"service":"AB","class":"elderly","phone":"13800001234"})");
  const auto& take = body_of<TicketTake>(request);
  CHECK(take.service == "AB");
  CHECK(take.priority_class == "elderly");
  CHECK(take.phone == "13800001234");

  auto plus = decode_or_fail("ticket.take",
                             R"({"phone":"+8613800001234","class":"with_child","service":"Z"})");
  CHECK(body_of<TicketTake>(plus).phone == "+8613800001234");
  CHECK(body_of<TicketTake>(plus).priority_class == "with_child");
}

TEST_CASE("ticket.take accepts field values at their limits", "[protocol][requests]") {
  std::string cls(32, 'e');
  std::string phone = "+" + std::string(20, '9');
  auto request = decode_or_fail(
      "ticket.take", R"({"service":"A","class":")" + cls + R"(","phone":")" + phone + R"("})");
  CHECK(body_of<TicketTake>(request).priority_class == cls);
  CHECK(body_of<TicketTake>(request).phone == phone);
  CHECK(body_of<TicketTake>(decode_or_fail("ticket.take", R"({"service":"A","phone":"12345"})"))
            .phone == "12345");
}

TEST_CASE("optional fields set to null count as absent", "[protocol][requests]") {
  auto request = decode_or_fail("ticket.take", R"({"service":"A","class":null,"phone":null})");
  CHECK_FALSE(body_of<TicketTake>(request).priority_class);
  CHECK_FALSE(body_of<TicketTake>(request).phone);
}

TEST_CASE("a payload of exactly 16 KiB is accepted", "[protocol][requests]") {
  auto request = decode_or_fail("ticket.take", padded_take(kMaxPayloadBytes));
  CHECK(body_of<TicketTake>(request).service == "A");
}

TEST_CASE("appointment.checkin decodes its booking code", "[protocol][requests]") {
  auto request = decode_or_fail("appointment.checkin", R"({"code":"BK-2026-0001"})");
  CHECK(request->op == Op::kAppointmentCheckin);
  CHECK(body_of<AppointmentCheckin>(request).code == "BK-2026-0001");
  CHECK(body_of<AppointmentCheckin>(decode_or_fail("appointment.checkin", R"({"code":"abcd"})"))
            .code == "abcd");
  std::string longest(32, 'Z');
  CHECK(body_of<AppointmentCheckin>(
            decode_or_fail("appointment.checkin", R"({"code":")" + longest + R"("})"))
            .code == longest);
}

TEST_CASE("counter actions decode an empty payload or an empty object", "[protocol][requests]") {
  auto payload = GENERATE(as<std::string>{}, "", "{}", " { } ", "\n{}\n");
  for (auto op : kCounterOps) {
    INFO("op: " << op << ", payload: \"" << payload << "\"");
    auto request = decode_request(op, payload);
    REQUIRE(request);
    CHECK(to_string(request->op) == op);
    CHECK(std::holds_alternative<CounterAction>(request->body));
  }
}

TEST_CASE("counter.transfer decodes a service or a counter", "[protocol][requests]") {
  auto to_service = decode_or_fail("counter.transfer", R"({"service":"B"})");
  CHECK(to_service->op == Op::kCounterTransfer);
  CHECK(body_of<CounterTransfer>(to_service).service == "B");
  CHECK_FALSE(body_of<CounterTransfer>(to_service).counter);

  auto to_counter = decode_or_fail("counter.transfer", R"({"counter":"9"})");
  CHECK(body_of<CounterTransfer>(to_counter).counter == "9");
  CHECK_FALSE(body_of<CounterTransfer>(to_counter).service);

  auto with_null = decode_or_fail("counter.transfer", R"({"service":null,"counter":"VIP-2"})");
  CHECK(body_of<CounterTransfer>(with_null).counter == "VIP-2");
  CHECK_FALSE(body_of<CounterTransfer>(with_null).service);
}

TEST_CASE("rating.submit decodes every score from 1 to 5", "[protocol][requests]") {
  for (int score = 1; score <= 5; ++score) {
    auto request = decode_request("rating.submit", R"({"score":)" + std::to_string(score) + "}");
    REQUIRE(request);
    CHECK(request->op == Op::kRatingSubmit);
    CHECK(body_of<RatingSubmit>(request).score == score);
    CHECK_FALSE(body_of<RatingSubmit>(request).ticket);
  }
}

TEST_CASE("rating.submit decodes an explicit ticket id", "[protocol][requests]") {
  auto request =
      decode_or_fail("rating.submit", R"({"ticket":"qd-sn-01:20261126:A007","score":4})");
  CHECK(body_of<RatingSubmit>(request).score == 4);
  CHECK(body_of<RatingSubmit>(request).ticket == "qd-sn-01:20261126:A007");
}

TEST_CASE("help.request decodes free text up to 200 characters", "[protocol][requests]") {
  auto request = decode_or_fail("help.request", R"({"need":"wheelchair"})");
  CHECK(request->op == Op::kHelpRequest);
  CHECK(body_of<HelpRequest>(request).need == "wheelchair");

  std::string chinese = repeat("轮", 200);  // 600 bytes, 200 characters
  CHECK(body_of<HelpRequest>(decode_or_fail("help.request", R"({"need":")" + chinese + R"("})"))
            .need == chinese);

  std::string ascii(200, 'w');
  CHECK(
      body_of<HelpRequest>(decode_or_fail("help.request", R"({"need":")" + ascii + R"("})")).need ==
      ascii);

  CHECK(body_of<HelpRequest>(decode_or_fail("help.request", R"({"need":"需要轮椅"})")).need ==
        "需要轮椅");
  CHECK(body_of<HelpRequest>(decode_or_fail("help.request", R"({"need":"\u8f6e\u6905"})")).need ==
        "轮椅");
  // Just past the C1 controls: U+00A0 (C2 A0) and U+00E9 (C3 A9) are printable.
  CHECK(
      body_of<HelpRequest>(decode_or_fail("help.request", R"({"need":"caf\u00e9\u00a0~"})")).need ==
      "caf\xc3\xa9\xc2\xa0~");
}

TEST_CASE("every op name of §5 maps to its Op and back", "[protocol][requests]") {
  const std::vector<std::pair<std::string_view, Op>> ops = {
      {"ticket.take", Op::kTicketTake},           {"appointment.checkin", Op::kAppointmentCheckin},
      {"counter.open", Op::kCounterOpen},         {"counter.pause", Op::kCounterPause},
      {"counter.close", Op::kCounterClose},       {"counter.call_next", Op::kCounterCallNext},
      {"counter.recall", Op::kCounterRecall},     {"counter.start", Op::kCounterStart},
      {"counter.finish", Op::kCounterFinish},     {"counter.no_show", Op::kCounterNoShow},
      {"counter.transfer", Op::kCounterTransfer}, {"rating.submit", Op::kRatingSubmit},
      {"help.request", Op::kHelpRequest},
  };
  for (const auto& [name, op] : ops) {
    INFO("op: " << name);
    CHECK(to_string(op) == name);
    REQUIRE(op_from_string(name));
    CHECK(*op_from_string(name) == op);
  }
  CHECK_FALSE(op_from_string("ticket.Take"));
  CHECK_FALSE(op_from_string("counter"));
  CHECK_FALSE(op_from_string(""));
}

TEST_CASE("error codes are exactly the §5.1 names and round-trip", "[protocol][error]") {
  const std::vector<std::pair<std::string_view, ErrorCode>> codes = {
      {"bad_json", ErrorCode::kBadJson},
      {"bad_request", ErrorCode::kBadRequest},
      {"unknown_op", ErrorCode::kUnknownOp},
      {"unknown_device", ErrorCode::kUnknownDevice},
      {"not_allowed", ErrorCode::kNotAllowed},
      {"unknown_service", ErrorCode::kUnknownService},
      {"service_closed", ErrorCode::kServiceClosed},
      {"counter_closed", ErrorCode::kCounterClosed},
      {"queue_empty", ErrorCode::kQueueEmpty},
      {"no_current_ticket", ErrorCode::kNoCurrentTicket},
      {"invalid_state", ErrorCode::kInvalidState},
      {"internal", ErrorCode::kInternal},
  };
  std::set<std::string_view> names;
  for (const auto& [name, code] : codes) {
    INFO("code: " << name);
    CHECK(to_string(code) == name);
    auto parsed = error_code_from_string(name);
    REQUIRE(parsed);
    CHECK(*parsed == code);
    names.insert(to_string(code));
  }
  CHECK(names.size() == codes.size());

  // The enum holds nothing beyond the twelve: its values run kBadJson..kInternal.
  for (int i = static_cast<int>(ErrorCode::kBadJson); i <= static_cast<int>(ErrorCode::kInternal);
       ++i) {
    auto name = to_string(static_cast<ErrorCode>(i));
    INFO("enum value " << i);
    CHECK(names.count(name) == 1);
    CHECK(error_code_from_string(name) == static_cast<ErrorCode>(i));
  }
  CHECK(static_cast<int>(ErrorCode::kInternal) == 11);

  CHECK_FALSE(error_code_from_string(""));
  CHECK_FALSE(error_code_from_string("BAD_JSON"));
  CHECK_FALSE(error_code_from_string("bad-json"));
  CHECK_FALSE(error_code_from_string("bad_json "));
  CHECK_FALSE(error_code_from_string("ok"));
}

}  // namespace
}  // namespace yiban::protocol
