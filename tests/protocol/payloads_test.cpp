#include "yiban/protocol/payloads.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "yiban/protocol/requests.h"
#include "yiban/protocol/utf8.h"

namespace yiban::protocol {
namespace {

using nlohmann::json;

json parse_or_fail(std::string_view text) {
  auto j = json::parse(text, nullptr, false);
  if (j.is_discarded()) FAIL("not JSON: " << text);
  return j;
}

std::set<std::string> keys_of(const json& object) {
  std::set<std::string> keys;
  for (const auto& [key, value] : object.items()) keys.insert(key);
  return keys;
}

Reply decode_reply_or_fail(std::string_view payload) {
  auto reply = decode_reply(payload);
  if (!reply) FAIL("decode_reply refused " << payload << ": " << reply.error().message);
  return *reply;
}

TicketView sample_ticket() {
  TicketView t;
  t.id = "qd-sn-01:20261126:A001";
  t.number = "A001";
  t.service = "A";
  t.priority_class = "elderly";
  t.issued_ts = 1764141802123;
  t.state = "waiting";
  t.waiting_ahead = 3;
  t.estimated_wait_s = 240;
  return t;
}

TEST_CASE("encode_ok is {\"ok\":true} alone", "[protocol][payloads]") {
  CHECK(encode_ok() == R"({"ok":true})");
  auto reply = decode_reply_or_fail(encode_ok());
  CHECK(reply.ok);
  CHECK_FALSE(reply.failure);
  CHECK_FALSE(reply.ticket);
  CHECK_FALSE(reply.counter);
  CHECK_FALSE(reply.help_id);
}

TEST_CASE("encode_ok_ticket has the §5.1 ticket reply shape", "[protocol][payloads]") {
  json j = parse_or_fail(encode_ok_ticket(sample_ticket()));
  CHECK(keys_of(j) == std::set<std::string>{"ok", "ticket"});
  CHECK(j["ok"] == true);
  const json& t = j["ticket"];
  REQUIRE(t.is_object());
  // The §5.1 fields, plus the ticket's state, counter and recall count.
  CHECK(keys_of(t) == std::set<std::string>{"id", "number", "service", "class", "issued_ts",
                                            "waiting_ahead", "estimated_wait_s", "state", "counter",
                                            "recalls"});
  CHECK(t["id"] == "qd-sn-01:20261126:A001");
  CHECK(t["number"] == "A001");
  CHECK(t["service"] == "A");
  CHECK(t["class"] == "elderly");
  CHECK(t["issued_ts"] == 1764141802123);
  CHECK(t["waiting_ahead"] == 3);
  CHECK(t["estimated_wait_s"] == 240);
  CHECK(t["state"] == "waiting");
  CHECK(t["counter"].is_null());
  CHECK(t["recalls"] == 0);
}

TEST_CASE("a ticket without a class has class null; an appointment adds its code",
          "[protocol][payloads]") {
  TicketView ticket = sample_ticket();
  ticket.priority_class.reset();
  SECTION("plain ticket") {
    json t = parse_or_fail(encode_ok_ticket(ticket))["ticket"];
    REQUIRE(t.contains("class"));
    CHECK(t["class"].is_null());
    CHECK_FALSE(t.contains("appointment"));
  }
  SECTION("appointment ticket") {
    ticket.appointment = "BK-2026-0001";
    json t = parse_or_fail(encode_ok_ticket(ticket))["ticket"];
    CHECK(t["appointment"] == "BK-2026-0001");
  }
}

TEST_CASE("encode_ok_counter has the §5.1 counter reply shape", "[protocol][payloads]") {
  json j = parse_or_fail(encode_ok_counter({"7", "open", std::nullopt}));
  CHECK(keys_of(j) == std::set<std::string>{"ok", "counter"});
  CHECK(j["ok"] == true);
  CHECK(keys_of(j["counter"]) == std::set<std::string>{"id", "state", "current_ticket"});
  CHECK(j["counter"]["id"] == "7");
  CHECK(j["counter"]["state"] == "open");
  CHECK(j["counter"]["current_ticket"].is_null());

  json busy = parse_or_fail(encode_ok_counter({"7", "paused", "qd-sn-01:20261126:A001"}));
  CHECK(busy["counter"]["state"] == "paused");
  CHECK(busy["counter"]["current_ticket"] == "qd-sn-01:20261126:A001");
}

TEST_CASE("encode_ok_help has the §5.1 help reply shape", "[protocol][payloads]") {
  json j = parse_or_fail(encode_ok_help("help-42"));
  CHECK(j == json{{"ok", true}, {"help", {{"id", "help-42"}}}});
}

TEST_CASE("encode_failure has the §5.1 error shape for every code", "[protocol][payloads]") {
  auto code =
      GENERATE(ErrorCode::kBadJson, ErrorCode::kBadRequest, ErrorCode::kUnknownOp,
               ErrorCode::kUnknownDevice, ErrorCode::kNotAllowed, ErrorCode::kUnknownService,
               ErrorCode::kServiceClosed, ErrorCode::kCounterClosed, ErrorCode::kQueueEmpty,
               ErrorCode::kNoCurrentTicket, ErrorCode::kInvalidState, ErrorCode::kInternal);
  std::string text = encode_failure({code, "业务已暂停 \"A\""});
  json j = parse_or_fail(text);
  CHECK(keys_of(j) == std::set<std::string>{"ok", "error"});
  CHECK(j["ok"] == false);
  CHECK(keys_of(j["error"]) == std::set<std::string>{"code", "message"});
  CHECK(j["error"]["code"] == std::string(to_string(code)));
  CHECK(j["error"]["message"] == "业务已暂停 \"A\"");

  auto reply = decode_reply_or_fail(text);
  CHECK_FALSE(reply.ok);
  REQUIRE(reply.failure);
  CHECK(reply.failure->code == code);
  CHECK(reply.failure->message == "业务已暂停 \"A\"");
}

TEST_CASE("encode_failure still writes valid JSON when a message holds bad UTF-8",
          "[protocol][payloads]") {
  std::string text = encode_failure({ErrorCode::kBadRequest, "bad \xff byte"});
  CHECK(is_valid_utf8(text));
  json j = parse_or_fail(text);
  CHECK(j["error"]["code"] == "bad_request");
  CHECK_THAT(j["error"]["message"].get<std::string>(), Catch::StartsWith("bad "));
}

TEST_CASE("decode_reply round-trips a ticket reply", "[protocol][payloads]") {
  TicketView sent = sample_ticket();
  sent.appointment = "BK-2026-0001";
  sent.state = "called";
  sent.counter = "7";
  sent.recalls = 2;
  auto reply = decode_reply_or_fail(encode_ok_ticket(sent));
  CHECK(reply.ok);
  CHECK_FALSE(reply.failure);
  REQUIRE(reply.ticket);
  const TicketView& got = *reply.ticket;
  CHECK(got.id == sent.id);
  CHECK(got.number == sent.number);
  CHECK(got.service == sent.service);
  CHECK(got.priority_class == sent.priority_class);
  CHECK(got.appointment == sent.appointment);
  CHECK(got.issued_ts == sent.issued_ts);
  CHECK(got.state == sent.state);
  CHECK(got.counter == sent.counter);
  CHECK(got.recalls == sent.recalls);
  CHECK(got.waiting_ahead == sent.waiting_ahead);
  CHECK(got.estimated_wait_s == sent.estimated_wait_s);

  TicketView plain = sample_ticket();
  plain.priority_class.reset();
  auto plain_reply = decode_reply_or_fail(encode_ok_ticket(plain));
  REQUIRE(plain_reply.ticket);
  CHECK_FALSE(plain_reply.ticket->priority_class);
  CHECK_FALSE(plain_reply.ticket->appointment);
  CHECK_FALSE(plain_reply.ticket->counter);
}

TEST_CASE("decode_reply round-trips counter and help replies", "[protocol][payloads]") {
  auto counter = decode_reply_or_fail(encode_ok_counter({"B-2", "closed", "h:20261126:B010"}));
  CHECK(counter.ok);
  REQUIRE(counter.counter);
  CHECK(counter.counter->id == "B-2");
  CHECK(counter.counter->state == "closed");
  CHECK(counter.counter->current_ticket == "h:20261126:B010");
  CHECK_FALSE(counter.ticket);

  auto idle = decode_reply_or_fail(encode_ok_counter({"7", "open", std::nullopt}));
  REQUIRE(idle.counter);
  CHECK_FALSE(idle.counter->current_ticket);

  auto help = decode_reply_or_fail(encode_ok_help("help-42"));
  CHECK(help.ok);
  CHECK(help.help_id == "help-42");
}

TEST_CASE("decode_reply rejects garbage", "[protocol][payloads]") {
  auto payload = GENERATE(
      as<std::string>{}, "", "not json", "[]", R"("ok")", "true", "{", R"({"ok":true)", "{}",
      R"({"ok":"true"})", R"({"ok":1})", R"({"ok":null})", R"({"ok":false})",
      R"({"ok":false,"error":"queue_empty"})", R"({"ok":false,"error":{}})",
      R"({"ok":false,"error":{"code":"no_such_code","message":"x"}})",
      R"({"ok":false,"error":{"code":"QUEUE_EMPTY","message":"x"}})",
      R"({"ok":false,"error":{"code":7,"message":"x"}})",
      R"({"ok":true,"ticket":{"number":"A001","service":"A"}})",
      R"({"ok":true,"ticket":{"id":"h:20261126:A001","number":1,"service":"A"}})",
      R"({"ok":true,"ticket":{"id":"i","number":"A001","service":"A","waiting_ahead":"3"}})",
      R"({"ok":true,"ticket":{"id":"i","number":"A001","service":"A","issued_ts":"now"}})",
      R"({"ok":true,"counter":{"id":"7"}})", R"({"ok":true,"counter":{"id":7,"state":"open"}})",
      R"({"ok":true,"help":{}})", R"({"ok":true,"help":{"id":42}})",
      R"({"ok":true,"pad":")" + std::string(kMaxPayloadBytes, 'x') + R"("})");
  INFO("payload: " << payload.substr(0, 120));
  CHECK_FALSE(decode_reply(payload));
}

TEST_CASE("board calls are an array of number, counter and ts, newest first",
          "[protocol][payloads]") {
  std::vector<CallEntry> calls = {
      {"A007", "7", 1764141803000}, {"B012", "3", 1764141802000}, {"A006", "7", 1764141801000}};
  std::string text = encode_board_calls(calls);
  json j = parse_or_fail(text);
  REQUIRE(j.is_array());
  REQUIRE(j.size() == 3);
  CHECK(keys_of(j[0]) == std::set<std::string>{"number", "counter", "ts"});
  CHECK(j[0] == json{{"number", "A007"}, {"counter", "7"}, {"ts", 1764141803000}});
  CHECK(j[2]["number"] == "A006");

  auto decoded = decode_board_calls(text);
  REQUIRE(decoded);
  REQUIRE(decoded->size() == 3);
  for (std::size_t i = 0; i < calls.size(); ++i) {
    CHECK((*decoded)[i].number == calls[i].number);
    CHECK((*decoded)[i].counter == calls[i].counter);
    CHECK((*decoded)[i].ts == calls[i].ts);
  }
}

TEST_CASE("an empty board is an empty array", "[protocol][payloads]") {
  CHECK(encode_board_calls({}) == "[]");
  auto decoded = decode_board_calls("[]");
  REQUIRE(decoded);
  CHECK(decoded->empty());
}

TEST_CASE("decode_board_calls rejects anything but an array of complete calls",
          "[protocol][payloads]") {
  auto payload =
      GENERATE(as<std::string>{}, "", "not json", "{}", R"({"calls":[]})", "[",
               R"([{"number":"A007","counter":"7"}])", R"([{"number":"A007","ts":1}])",
               R"([{"counter":"7","ts":1}])", R"([{"number":"A007","counter":"7","ts":"1"}])",
               R"([{"number":7,"counter":"7","ts":1}])", R"(["A007"])", "[null]");
  INFO("payload: " << payload);
  CHECK_FALSE(decode_board_calls(payload));
}

TEST_CASE("board queues carry a timestamp and one entry per service", "[protocol][payloads]") {
  json j = parse_or_fail(
      encode_board_queues(1764141802123, {{"A", "社保", 5, 600, 2}, {"B", "公积金", 0, 0, 0}}));
  CHECK(keys_of(j) == std::set<std::string>{"ts", "queues"});
  CHECK(j["ts"] == 1764141802123);
  REQUIRE(j["queues"].is_array());
  REQUIRE(j["queues"].size() == 2);
  const json& a = j["queues"][0];
  CHECK(keys_of(a) ==
        std::set<std::string>{"service", "name", "waiting", "estimated_wait_s", "open_counters"});
  CHECK(a["service"] == "A");
  CHECK(a["name"] == "社保");
  CHECK(a["waiting"] == 5);
  CHECK(a["estimated_wait_s"] == 600);
  CHECK(a["open_counters"] == 2);
  CHECK(j["queues"][1]["service"] == "B");
  CHECK(j["queues"][1]["open_counters"] == 0);

  CHECK(parse_or_fail(encode_board_queues(5, {})) == json{{"ts", 5}, {"queues", json::array()}});
}

TEST_CASE("announcement text reads 请{number}号到{counter}号窗口", "[protocol][payloads]") {
  CHECK(announcement_text("A007", "7") == "请A007号到7号窗口");
  CHECK(announcement_text("AB1000", "12") == "请AB1000号到12号窗口");
}

TEST_CASE("an announcement has exactly text, number, counter and ts", "[protocol][payloads]") {
  Announcement a{announcement_text("A007", "7"), "A007", "7", 1764141802123};
  json j = parse_or_fail(encode_announcement(a));
  CHECK(keys_of(j) == std::set<std::string>{"text", "number", "counter", "ts"});
  CHECK(j["text"] == "请A007号到7号窗口");
  CHECK(j["number"] == "A007");
  CHECK(j["counter"] == "7");
  CHECK(j["ts"] == 1764141802123);
}

TEST_CASE("the catalog names the hall and lists services with open flags", "[protocol][payloads]") {
  json j = parse_or_fail(encode_catalog("qd-sn-01", "市南区政务服务大厅",
                                        {{"A", "社保", true}, {"B", "公积金", false}}));
  CHECK(keys_of(j) == std::set<std::string>{"hall", "name", "services"});
  CHECK(j["hall"] == "qd-sn-01");
  CHECK(j["name"] == "市南区政务服务大厅");
  REQUIRE(j["services"].is_array());
  REQUIRE(j["services"].size() == 2);
  CHECK(keys_of(j["services"][0]) == std::set<std::string>{"code", "name", "open"});
  CHECK(j["services"][0] == json{{"code", "A"}, {"name", "社保"}, {"open", true}});
  CHECK(j["services"][1] == json{{"code", "B"}, {"name", "公积金"}, {"open", false}});

  CHECK(parse_or_fail(encode_catalog("h", "", {}))["services"] == json::array());
}

TEST_CASE("device status encodes only the fields it has", "[protocol][payloads]") {
  CHECK(parse_or_fail(encode_device_status({"online", "kiosk", "1.0"})) ==
        json{{"state", "online"}, {"kind", "kiosk"}, {"version", "1.0"}});
  CHECK(parse_or_fail(encode_device_status({"offline", std::nullopt, std::nullopt})) ==
        json{{"state", "offline"}});
}

TEST_CASE("device status round-trips through decode_device_status", "[protocol][payloads]") {
  auto online = decode_device_status(encode_device_status({"online", "kiosk", "1.0"}));
  REQUIRE(online);
  CHECK(online->state == "online");
  CHECK(online->kind == "kiosk");
  CHECK(online->version == "1.0");

  auto will = decode_device_status(R"({"state":"offline"})");
  REQUIRE(will);
  CHECK(will->state == "offline");
  CHECK_FALSE(will->kind);
  CHECK_FALSE(will->version);
}

TEST_CASE("decode_device_status ignores extra fields and odd optional ones",
          "[protocol][payloads]") {
  auto status = decode_device_status(
      R"({"state":"online","kind":7,"version":null,"uptime_s":12,"ip":"10.0.0.5"})");
  REQUIRE(status);
  CHECK(status->state == "online");
  CHECK_FALSE(status->kind);
  CHECK_FALSE(status->version);
}

TEST_CASE("decode_device_status bounds kind and version", "[protocol][payloads]") {
  std::string long_kind(40, 'k');
  std::string long_version(33, '1');
  auto status = decode_device_status(R"({"state":"online","kind":")" + long_kind +
                                     R"(","version":")" + long_version + R"("})");
  REQUIRE(status);
  CHECK(status->kind == std::string(32, 'k'));
  CHECK_FALSE(status->version);

  // 11 three-byte characters: a cut at byte 32 would split the eleventh.
  std::string chinese_kind = "自助取号机自助取号机自";
  auto wide = decode_device_status(R"({"state":"online","kind":")" + chinese_kind + R"("})");
  REQUIRE(wide);
  REQUIRE(wide->kind);
  CHECK(is_valid_utf8(*wide->kind));
  CHECK(*wide->kind == "自助取号机自助取号机");
}

TEST_CASE("decode_device_status rejects bad state, non-JSON and invalid UTF-8",
          "[protocol][payloads]") {
  auto payload = GENERATE(
      as<std::string>{}, "", "online", "not json", R"({"state":"online")", "[]", R"(["online"])",
      R"("online")", "{}", R"({"kind":"kiosk"})", R"({"state":"Online"})", R"({"state":"OFFLINE"})",
      R"({"state":"busy"})", R"({"state":""})", R"({"state":1})", R"({"state":true})",
      R"({"state":null})", R"({"state":["online"]})", "{\"state\":\"online\",\"kind\":\"\xff\"}",
      "{\"state\":\"online\xc0\xaf\"}", "{\"state\":\"offline\",\"kind\":\"\xe8\xbd\"}",
      R"({"state":"online","pad":")" + std::string(kMaxPayloadBytes, 'x') + R"("})");
  INFO("payload: " << payload.substr(0, 120));
  CHECK_FALSE(decode_device_status(payload));
}

}  // namespace
}  // namespace yiban::protocol
