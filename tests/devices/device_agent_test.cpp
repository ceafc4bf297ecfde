// DeviceAgent against a real broker and a real yiban-edge.

#include "yiban/devices/device_agent.h"

#include <catch2/catch.hpp>
#include <csignal>
#include <future>
#include <nlohmann/json.hpp>
#include <set>

#include "devices/device_test_hall.h"
#include "support/mqtt_test_client.h"

using namespace yiban::devices;
using namespace yiban::devices::test;
using namespace yiban::test;
using namespace std::chrono_literals;
using nlohmann::json;
using yiban::protocol::DeviceKind;

namespace {

bool is_status(const ReceivedMessage& m, const std::string& state) {
  auto j = json::parse(m.payload, nullptr, false);
  return j.is_object() && j.value("state", "") == state;
}

}  // namespace

TEST_CASE("an agent's retained status is online while it runs and offline after stop",
          "[devices][integration]") {
  DeviceTestHall hall(false);
  auto agent = hall.agent("kiosk-1", DeviceKind::kKiosk);
  REQUIRE(agent->connected());
  MqttTestClient observer(hall.broker.uri(), "observer");
  std::string status = agent->topics().device_status("kiosk-1");
  observer.subscribe(status);
  auto online =
      observer.wait_for([](const ReceivedMessage& m) { return is_status(m, "online"); }, 10s);
  REQUIRE(online);
  CHECK(online->retained);
  auto j = json::parse(online->payload);
  CHECK(j["kind"] == "kiosk");
  CHECK(j["version"] == "1.0");
  agent->stop();
  CHECK(observer.wait_for([](const ReceivedMessage& m) { return is_status(m, "offline"); }, 10s));
}

TEST_CASE("an aborted agent is reported offline by its will, not by itself",
          "[devices][integration]") {
  DeviceTestHall hall(false);
  auto agent = hall.agent("kiosk-1", DeviceKind::kKiosk);
  REQUIRE(agent->connected());
  MqttTestClient observer(hall.broker.uri(), "observer");
  observer.subscribe(agent->topics().device_status("kiosk-1"));
  REQUIRE(observer.wait_for([](const ReceivedMessage& m) { return is_status(m, "online"); }, 10s));
  agent->abort();
  // abort() publishes nothing itself: this offline status is the broker's will.
  auto offline =
      observer.wait_for([](const ReceivedMessage& m) { return is_status(m, "offline"); }, 10s);
  CHECK(offline);
  CHECK_FALSE(agent->connected());
  CHECK_FALSE(agent->request("ticket.take", R"({"service":"A"})"));
  agent->stop();  // after abort(): nothing more
}

TEST_CASE("a device process killed with SIGKILL is recorded offline through its will",
          "[devices][integration]") {
  DeviceTestHall hall;
  auto count = [&](const std::string& type) {
    return query_int(hall.edge.db(), "SELECT count(*) FROM events WHERE type = '" + type +
                                         "' AND text LIKE '%\"device\":\"kiosk-2\"%'");
  };
  ChildProcess device(YIBAN_DEVICES_BINARY,
                      {"kiosk", "--hall-config", hall.config.string(), "--device", "kiosk-2",
                       "--mqtt", hall.broker.uri()},
                      hall.dir / "kiosk-2.log");
  INFO(read_file(hall.dir / "kiosk-2.log"));
  REQUIRE(eventually([&] { return count("device.online") == 1; }, 10s));
  MqttTestClient observer(hall.broker.uri(), "observer");
  observer.subscribe(std::string("yiban/v1/") + kHall + "/devices/kiosk-2/status");
  REQUIRE(observer.wait_for(
      [](const ReceivedMessage& m) { return m.retained && is_status(m, "online"); }, 10s));
  device.kill_now();
  REQUIRE(eventually([&] { return count("device.offline") == 1; }, 15s));
  CHECK(observer.wait_for([](const ReceivedMessage& m) { return is_status(m, "offline"); }, 5s));
}

TEST_CASE("a request retried after a timeout reuses its correlation data and is applied once",
          "[devices][integration]") {
  DeviceTestHall hall(false);  // the edge is down when the request is made
  MqttTestClient observer(hall.broker.uri(), "observer");
  observer.subscribe(std::string("yiban/v1/") + kHall + "/devices/kiosk-1/req/#");
  AgentOptions options = hall.agent_options("kiosk-1", DeviceKind::kKiosk);
  options.request_timeout = 1000ms;
  options.request_attempts = 30;
  DeviceAgent agent(options);
  agent.start();
  REQUIRE(agent.wait_connected(10s));
  auto reply = std::async(std::launch::async,
                          [&] { return agent.request("ticket.take", R"({"service":"A"})"); });
  REQUIRE(observer.wait_for(
      [](const ReceivedMessage& m) { return m.topic.ends_with("/req/ticket.take"); }, 10s));
  REQUIRE(eventually([&] { return agent.retries() >= 1; }, 10s));
  hall.edge.start();
  auto result = reply.get();
  REQUIRE(result);
  REQUIRE(result->ok);
  REQUIRE(result->ticket);
  CHECK(result->ticket->number == "A001");
  CHECK(agent.retries() >= 1);

  std::set<std::string> correlations;
  int sent = 0;
  for (const auto& m : observer.received()) {
    if (!m.topic.ends_with("/req/ticket.take")) continue;
    ++sent;
    REQUIRE(m.correlation);
    correlations.insert(*m.correlation);
  }
  CHECK(sent >= 2);
  CHECK(correlations.size() == 1);
  CHECK(query_int(hall.edge.db(), "SELECT count(*) FROM tickets") == 1);
  CHECK(query_int(hall.edge.db(), "SELECT count(*) FROM events WHERE type = 'ticket.issued'") == 1);
}

TEST_CASE("a request with no edge at all fails after its attempts", "[devices][integration]") {
  DeviceTestHall hall(false);
  AgentOptions options = hall.agent_options("kiosk-1", DeviceKind::kKiosk);
  options.request_timeout = 200ms;
  options.request_attempts = 3;
  DeviceAgent agent(options);
  agent.start();
  REQUIRE(agent.wait_connected(10s));
  auto result = agent.request("ticket.take", R"({"service":"A"})");
  REQUIRE_FALSE(result);
  CHECK(result.error().message.find("3 attempt") != std::string::npos);
  CHECK(agent.retries() == 2);
}
