// DisplayAgent: the board from the edge's topics and announcements queued in order.

#include "yiban/devices/display_agent.h"

#include <catch2/catch.hpp>

#include "devices/device_test_hall.h"
#include "yiban/devices/counter_agent.h"
#include "yiban/devices/kiosk_agent.h"

using namespace yiban::devices;
using namespace yiban::devices::test;
using namespace std::chrono_literals;
using yiban::protocol::DeviceKind;

TEST_CASE("display renders calls and queues and ignores garbage", "[devices]") {
  yiban::protocol::Topics topics(kHall);
  Announcer announcer([](const std::string&) {});
  DisplayAgent display(topics, announcer);
  auto board =
      display.handle_message(topics.board_calls(), R"([{"number":"A007","counter":"7","ts":1}])");
  REQUIRE(board);
  CHECK(board->find("请 A007 号到 7 号窗口") != std::string::npos);
  board = display.handle_message(
      topics.board_queues(),
      R"({"ts":1,"queues":[{"service":"A","name":"社保医保","waiting":3,"estimated_wait_s":200,"open_counters":2}]})");
  REQUIRE(board);
  CHECK(board->find("A 社保医保  等待 3 人  约 4 分钟  开放窗口 2") != std::string::npos);
  CHECK_FALSE(display.handle_message(topics.board_calls(), "{not json"));
  CHECK_FALSE(display.handle_message(topics.board_queues(), R"({"queues":[{"waiting":1}]})"));
  CHECK_FALSE(display.handle_message(topics.board_announce(), R"({"number":"A1"})"));
  CHECK(display.render().find("A007") != std::string::npos);
  CHECK(announcer.queued().empty());
  // Central's notice is shown on top until cleared.
  board = display.handle_message(topics.board_notice(), R"({"text":"今天16点提前停止取号","ts":1})");
  REQUIRE(board);
  CHECK(board->find("【通知】今天16点提前停止取号") != std::string::npos);
  CHECK_FALSE(display.handle_message(topics.board_notice(), R"({"txt":1})"));
  CHECK(display.render().find("今天16点") != std::string::npos);
  board = display.handle_message(topics.board_notice(), R"({"text":"","ts":2})");
  REQUIRE(board);
  CHECK(board->find("【通知】") == std::string::npos);
}

TEST_CASE("display agent receives a real call and queues its announcement",
          "[devices][integration]") {
  DeviceTestHall hall;
  Announcer announcer([](const std::string&) {});
  auto display_link =
      std::make_unique<DeviceAgent>(hall.agent_options("display-1", DeviceKind::kDisplay));
  DisplayAgent display(display_link->topics(), announcer);
  for (auto& filter : display.subscriptions()) display_link->add_subscription(filter);
  display_link->start();
  REQUIRE(display_link->wait_connected(10s));
  auto kiosk_link = hall.agent("kiosk-1", DeviceKind::kKiosk);
  auto counter_link = hall.agent("counter-1", DeviceKind::kCounter);
  KioskAgent kiosk(*kiosk_link);
  CounterAgent counter(*counter_link);
  REQUIRE(kiosk.handle_line("take A").starts_with("取号成功 A001"));
  REQUIRE(counter.handle_line("open") == "窗口 1 已开放");
  REQUIRE(counter.handle_line("call") == "已叫号 A001");

  std::string last_board;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline && announcer.queued().empty()) {
    auto message = display_link->next_message(100ms);
    if (!message) continue;
    if (auto board = display.handle_message(message->topic, message->payload)) last_board = *board;
  }
  REQUIRE(announcer.queued() == std::vector<std::string>{"请A001号到1号窗口"});
  REQUIRE(announcer.wait_idle(5s));
  CHECK(announcer.spoken() == std::vector<std::string>{"请A001号到1号窗口"});
  // The retained board/calls may arrive after the announcement.
  while (std::chrono::steady_clock::now() < deadline &&
         last_board.find("A001") == std::string::npos) {
    auto message = display_link->next_message(100ms);
    if (!message) continue;
    if (auto board = display.handle_message(message->topic, message->payload)) last_board = *board;
  }
  CHECK(last_board.find("请 A001 号到 1 号窗口") != std::string::npos);
}
