// RatingAgent against a fake and a real edge.

#include "yiban/devices/rating_agent.h"

#include <catch2/catch.hpp>

#include "devices/device_test_hall.h"
#include "devices/fake_request_sender.h"
#include "yiban/devices/counter_agent.h"
#include "yiban/devices/kiosk_agent.h"

using namespace yiban::devices;
using namespace yiban::devices::test;
using yiban::protocol::DeviceKind;

TEST_CASE("rating pad accepts only scores 1 to 5", "[devices]") {
  FakeRequestSender sender;
  sender.replies.push_back(R"({"ok":true})");
  RatingAgent pad(sender);
  CHECK(pad.handle_line("0") == "请输入 1 到 5 的评分");
  CHECK(pad.handle_line("6") == "请输入 1 到 5 的评分");
  CHECK(pad.handle_line("55") == "请输入 1 到 5 的评分");
  CHECK(pad.handle_line(" 4 ") == "感谢您的评价 (4 分)");
  REQUIRE(sender.requests.size() == 1);
  CHECK(sender.requests[0] ==
        std::pair<std::string, std::string>{"rating.submit", R"({"score":4})"});
}

TEST_CASE("rating pad rates the counter's last ticket at a real edge", "[devices][integration]") {
  DeviceTestHall hall;
  auto kiosk_link = hall.agent("kiosk-1", DeviceKind::kKiosk);
  auto counter_link = hall.agent("counter-1", DeviceKind::kCounter);
  auto rating_link = hall.agent("rating-1", DeviceKind::kRating);
  KioskAgent kiosk(*kiosk_link);
  CounterAgent counter(*counter_link);
  RatingAgent pad(*rating_link);
  REQUIRE(kiosk.handle_line("take A").starts_with("取号成功"));
  for (const char* line : {"open", "call", "start", "finish"})
    REQUIRE_FALSE(counter.handle_line(line).starts_with("办理失败"));
  CHECK(pad.handle_line("5") == "感谢您的评价 (5 分)");
  CHECK(yiban::test::query_int(hall.edge.db(), "SELECT count(*) FROM ratings WHERE score = 5") ==
        1);
}
