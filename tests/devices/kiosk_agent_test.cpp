// KioskAgent: command parsing and hall-facing text, then against a real edge.

#include "yiban/devices/kiosk_agent.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "devices/device_test_hall.h"
#include "devices/fake_request_sender.h"

using namespace yiban::devices;
using namespace yiban::devices::test;
using nlohmann::json;
using yiban::protocol::DeviceKind;

TEST_CASE("kiosk take sends service, class and phone and prints the ticket", "[devices]") {
  FakeRequestSender sender;
  sender.replies.push_back(
      R"({"ok":true,"ticket":{"id":"h:20260101:A007","number":"A007","service":"A","issued_ts":1,)"
      R"("state":"waiting","waiting_ahead":3,"estimated_wait_s":300}})");
  KioskAgent kiosk(sender);
  CHECK(kiosk.handle_line("take A elderly 13800000000") ==
        "取号成功 A007 前面 3 人 预计等待 5 分钟");
  REQUIRE(sender.requests.size() == 1);
  CHECK(sender.requests[0].first == "ticket.take");
  CHECK(json::parse(sender.requests[0].second) ==
        json{{"service", "A"}, {"class", "elderly"}, {"phone", "13800000000"}});
}

TEST_CASE("kiosk shows refusals, lost replies and usage", "[devices]") {
  FakeRequestSender sender;
  sender.replies.push_back(R"({"ok":false,"error":{"code":"service_closed","message":"closed"}})");
  KioskAgent kiosk(sender);
  CHECK(kiosk.handle_line("take B") == "办理失败：该业务暂停办理 (service_closed)");
  CHECK(kiosk.handle_line("take A").starts_with("网络异常"));
  CHECK(kiosk.handle_line("") == "");
  CHECK(kiosk.handle_line("dance") == KioskAgent::usage());
  CHECK(kiosk.handle_line("help") == KioskAgent::usage());
  CHECK(sender.requests.size() == 2);
}

TEST_CASE("kiosk checkin and help send their ops", "[devices]") {
  FakeRequestSender sender;
  sender.replies.push_back(
      R"({"ok":false,"error":{"code":"bad_request","message":"unknown code"}})");
  sender.replies.push_back(R"({"ok":true,"help":{"id":"H1"}})");
  KioskAgent kiosk(sender);
  kiosk.handle_line("checkin X123");
  CHECK(kiosk.handle_line("help 需要 轮椅") == "已通知工作人员，请稍候 (求助编号 H1)");
  REQUIRE(sender.requests.size() == 2);
  CHECK(sender.requests[0].first == "appointment.checkin");
  CHECK(json::parse(sender.requests[0].second) == json{{"code", "X123"}});
  CHECK(sender.requests[1].first == "help.request");
  CHECK(json::parse(sender.requests[1].second) == json{{"need", "需要 轮椅"}});
}

TEST_CASE("kiosk agent takes a ticket from a real edge", "[devices][integration]") {
  DeviceTestHall hall;
  auto agent = hall.agent("kiosk-1", DeviceKind::kKiosk);
  KioskAgent kiosk(*agent);
  CHECK(kiosk.handle_line("take A") == "取号成功 A001 前面 0 人 预计等待 0 分钟");
  CHECK(kiosk.handle_line("take A").starts_with("取号成功 A002 前面 1 人"));
  CHECK(kiosk.handle_line("take Z") == "办理失败：没有这项业务 (unknown_service)");
  CHECK(yiban::test::query_int(hall.edge.db(), "SELECT count(*) FROM tickets") == 2);
}
