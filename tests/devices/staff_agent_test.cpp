// StaffAgent: alert text and the ack / answer ops.

#include "yiban/devices/staff_agent.h"

#include <catch2/catch.hpp>

#include "devices/fake_request_sender.h"

using namespace yiban::devices;
using namespace yiban::devices::test;

TEST_CASE("staff handset sends alert.ack and help.answer", "[devices]") {
  FakeRequestSender sender;
  sender.replies.push_back(R"({"ok":true})");
  sender.replies.push_back(R"({"ok":false,"error":{"code":"unknown_op","message":"no such op"}})");
  StaffAgent staff(sender);
  CHECK(staff.handle_line("ack AL7") == "已确认告警 AL7");
  CHECK(staff.handle_line("answer H1") == "办理失败：暂不支持该操作 (unknown_op)");
  CHECK(staff.handle_line("ack") == StaffAgent::usage());
  REQUIRE(sender.requests.size() == 2);
  CHECK(sender.requests[0] == std::pair<std::string, std::string>{"alert.ack", R"({"id":"AL7"})"});
  CHECK(sender.requests[1] == std::pair<std::string, std::string>{"help.answer", R"({"id":"H1"})"});
}

TEST_CASE("staff handset shows alerts in any of the accepted shapes", "[devices]") {
  CHECK(StaffAgent::alert_text(
            R"({"id":"AL1","severity":"warning","type":"long_wait","message":"A 等待过久"})") ==
        "[告警] warning long_wait A 等待过久 (编号 AL1)");
  CHECK(StaffAgent::alert_text(
            R"({"alerts":[{"id":"1","type":"crowding"},{"id":"2","kind":"help"}]})") ==
        "[告警] crowding (编号 1)\n[告警] help (编号 2)");
  CHECK(StaffAgent::alert_text("[]") == "");
  CHECK(StaffAgent::alert_text("garbage") == "[告警] garbage");
}
