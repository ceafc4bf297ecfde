// The engine's inbox: one bounded lane per producer, so that a flood of
// device messages never blocks central's commands or the console.

#include "gateway/inbox.h"

#include <catch2/catch.hpp>

#include <future>
#include <thread>

using yiban::edge::gateway::BusEvent;
using yiban::edge::gateway::CentralCommand;
using yiban::edge::gateway::Inbox;
using yiban::edge::gateway::InboxItem;
using yiban::edge::gateway::InboxLimits;
using yiban::edge::gateway::InboundMessage;
namespace console = yiban::edge::console;
using namespace std::chrono_literals;

namespace {

InboundMessage from(const std::string& device, std::string payload = "{}") {
  InboundMessage m;
  m.topic = "yiban/v1/test-hall/devices/" + device + "/req/ticket.take";
  m.payload = std::move(payload);
  return m;
}

}  // namespace

TEST_CASE("the inbox finds the device in a topic", "[edge][gateway][inbox]") {
  CHECK(Inbox::device_of("yiban/v1/h/devices/kiosk-1/req/ticket.take") == "kiosk-1");
  CHECK(Inbox::device_of("yiban/v1/h/devices/kiosk-1/status") == "kiosk-1");
  CHECK(Inbox::device_of("yiban/v1/h/devices/") == "");
  CHECK(Inbox::device_of("yiban/v1/h/board/calls") == "");
}

TEST_CASE("one device cannot fill the MQTT lane; the others still get in", "[edge][gateway][inbox]") {
  Inbox inbox(InboxLimits{.mqtt_messages = 100, .mqtt_bytes = 1 << 20, .device_messages = 10});
  int accepted = 0;
  for (int i = 0; i < 1000; ++i) accepted += inbox.push_mqtt(from("kiosk-1")) ? 1 : 0;
  CHECK(accepted == 10);
  CHECK(inbox.push_mqtt(from("kiosk-2")));
  CHECK(inbox.counters().mqtt_dropped == 990);
  // Drained, kiosk-1 has its share again.
  auto items = inbox.pop_batch(0ms, 1000);
  CHECK(items.size() == 11);
  CHECK(inbox.push_mqtt(from("kiosk-1")));
}

TEST_CASE("the MQTT lane is bounded in bytes and never blocks", "[edge][gateway][inbox]") {
  Inbox inbox(InboxLimits{.mqtt_messages = 1000, .mqtt_bytes = 64 * 1024, .device_messages = 1000});
  int accepted = 0;
  for (int i = 0; i < 100; ++i) accepted += inbox.push_mqtt(from("kiosk-" + std::to_string(i), std::string(16000, 'x'))) ? 1 : 0;
  CHECK(accepted == 4);
  CHECK(inbox.counters().mqtt_waiting == 4);
  CHECK(inbox.counters().mqtt_waiting_max == 4);
}

TEST_CASE("a full MQTT lane blocks neither central's commands nor the console", "[edge][gateway][inbox]") {
  Inbox inbox(InboxLimits{.mqtt_messages = 10, .mqtt_bytes = 1 << 20, .device_messages = 10, .commands = 4,
                          .console_requests = 2});
  for (int i = 0; i < 20; ++i) inbox.push_mqtt(from("kiosk-1"));
  // The sync thread's push returns at once although devices filled their lane.
  auto pushed = std::async(std::launch::async, [&] {
    for (int i = 0; i < 4; ++i) inbox.push_command(CentralCommand{"c" + std::to_string(i), nullptr});
  });
  REQUIRE(pushed.wait_for(5s) == std::future_status::ready);
  console::Request r;
  r.action = "counter.open";
  CHECK(inbox.push_console(r));
  CHECK(inbox.push_console(r));
  CHECK_FALSE(inbox.push_console(r));  // the console's own lane is full: refused, not blocked
  CHECK(inbox.counters().console_refused == 1);
  inbox.push_bus_event(BusEvent::kConnected);  // never dropped
  // Bus events, the console and central come before device messages.
  auto items = inbox.pop_batch(0ms, 5);
  REQUIRE(items.size() == 5);
  CHECK(std::holds_alternative<BusEvent>(items[0]));
  CHECK(std::holds_alternative<console::Request>(items[1]));
  CHECK(std::holds_alternative<console::Request>(items[2]));
  CHECK(std::holds_alternative<CentralCommand>(items[3]));
  auto rest = inbox.pop_batch(0ms, 100);
  CHECK(rest.size() == 2 + 10);  // the other two commands, then the devices
}

TEST_CASE("the sync lane blocks only the sync thread, until the engine takes from it", "[edge][gateway][inbox]") {
  Inbox inbox(InboxLimits{.commands = 1});
  inbox.push_command(CentralCommand{"first", nullptr});
  auto second = std::async(std::launch::async, [&] { inbox.push_command(CentralCommand{"second", nullptr}); });
  CHECK(second.wait_for(50ms) == std::future_status::timeout);
  CHECK(inbox.push_mqtt(from("kiosk-1")));  // devices are not held up meanwhile
  auto items = inbox.pop_batch(0ms, 10);
  CHECK(items.size() == 2);
  REQUIRE(second.wait_for(5s) == std::future_status::ready);
  CHECK(inbox.size() == 1);
}
