// CounterAgent: commands to ops, and a whole service round against a real edge.

#include "yiban/devices/counter_agent.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "devices/device_test_hall.h"
#include "devices/fake_request_sender.h"
#include "yiban/devices/kiosk_agent.h"

using namespace yiban::devices;
using namespace yiban::devices::test;
using nlohmann::json;
using yiban::protocol::DeviceKind;

TEST_CASE("counter commands map to their ops", "[devices]") {
  FakeRequestSender sender;
  CounterAgent counter(sender);
  for (const char* line : {"open", "pause", "close", "call", "recall", "start", "finish", "noshow",
                           "transfer B", "transfer @9"})
    counter.handle_line(line);
  std::vector<std::string> ops;
  for (const auto& [op, body] : sender.requests) ops.push_back(op);
  CHECK(ops == std::vector<std::string>{"counter.open", "counter.pause", "counter.close",
                                        "counter.call_next", "counter.recall", "counter.start",
                                        "counter.finish", "counter.no_show", "counter.transfer",
                                        "counter.transfer"});
  CHECK(json::parse(sender.requests[8].second) == json{{"service", "B"}});
  CHECK(json::parse(sender.requests[9].second) == json{{"counter", "9"}});
  CHECK(counter.handle_line("transfer") == CounterAgent::usage());
  CHECK(counter.handle_line("call now") == CounterAgent::usage());
  CHECK(sender.requests.size() == 10);
}

TEST_CASE("counter agent opens and calls a ticket from a real edge", "[devices][integration]") {
  DeviceTestHall hall;
  auto kiosk_link = hall.agent("kiosk-1", DeviceKind::kKiosk);
  auto counter_link = hall.agent("counter-1", DeviceKind::kCounter);
  KioskAgent kiosk(*kiosk_link);
  CounterAgent counter(*counter_link);
  REQUIRE(kiosk.handle_line("take A").starts_with("取号成功 A001"));
  CHECK(counter.handle_line("call") == "办理失败：窗口未开放 (counter_closed)");
  CHECK(counter.handle_line("open") == "窗口 1 已开放");
  CHECK(counter.handle_line("call") == "已叫号 A001");
  CHECK(counter.handle_line("recall") == "重呼 A001");
  CHECK(counter.handle_line("start") == "开始办理 A001");
  CHECK(counter.handle_line("finish") == "办理完成 A001");
  CHECK(counter.handle_line("call") == "办理失败：当前无人排队 (queue_empty)");
  CHECK(yiban::test::query_int(hall.edge.db(),
                               "SELECT count(*) FROM events WHERE type = 'ticket.called'") == 1);
}
