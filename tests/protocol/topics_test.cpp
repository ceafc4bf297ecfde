#include "yiban/protocol/topics.h"

#include <catch2/catch.hpp>
#include <string>

namespace yiban::protocol {
namespace {

constexpr const char* kHall = "qd-sn-01";

TEST_CASE("topic builders give the exact ARCHITECTURE §5 topics", "[protocol][topics]") {
  Topics topics(kHall);
  CHECK(topics.root() == "yiban/v1/qd-sn-01");
  CHECK(topics.device_status("kiosk-1") == "yiban/v1/qd-sn-01/devices/kiosk-1/status");
  CHECK(topics.device_request("kiosk-1", "ticket.take") ==
        "yiban/v1/qd-sn-01/devices/kiosk-1/req/ticket.take");
  CHECK(topics.device_response("kiosk-1") == "yiban/v1/qd-sn-01/devices/kiosk-1/res");
  CHECK(topics.device_telemetry("sensor-2") == "yiban/v1/qd-sn-01/devices/sensor-2/telemetry");
  CHECK(topics.device_command("display-3") == "yiban/v1/qd-sn-01/devices/display-3/cmd");
  CHECK(topics.board_calls() == "yiban/v1/qd-sn-01/board/calls");
  CHECK(topics.board_queues() == "yiban/v1/qd-sn-01/board/queues");
  CHECK(topics.board_announce() == "yiban/v1/qd-sn-01/board/announce");
  CHECK(topics.catalog() == "yiban/v1/qd-sn-01/catalog");
}

TEST_CASE("subscription filters use single-level wildcards for device and op",
          "[protocol][topics]") {
  Topics topics(kHall);
  CHECK(topics.all_requests() == "yiban/v1/qd-sn-01/devices/+/req/+");
  CHECK(topics.all_statuses() == "yiban/v1/qd-sn-01/devices/+/status");
  CHECK(topics.all_telemetry() == "yiban/v1/qd-sn-01/devices/+/telemetry");
}

TEST_CASE("parse_device_topic reads every device topic the builders make", "[protocol][topics]") {
  Topics topics(kHall);

  auto status = parse_device_topic(kHall, topics.device_status("kiosk-1"));
  REQUIRE(status);
  CHECK(status->device == "kiosk-1");
  CHECK(status->kind == DeviceTopicKind::kStatus);
  CHECK(status->op.empty());

  auto request = parse_device_topic(kHall, topics.device_request("counter-7", "counter.call_next"));
  REQUIRE(request);
  CHECK(request->device == "counter-7");
  CHECK(request->kind == DeviceTopicKind::kRequest);
  CHECK(request->op == "counter.call_next");

  auto response = parse_device_topic(kHall, topics.device_response("kiosk-1"));
  REQUIRE(response);
  CHECK(response->device == "kiosk-1");
  CHECK(response->kind == DeviceTopicKind::kResponse);

  auto telemetry = parse_device_topic(kHall, topics.device_telemetry("sensor-2"));
  REQUIRE(telemetry);
  CHECK(telemetry->device == "sensor-2");
  CHECK(telemetry->kind == DeviceTopicKind::kTelemetry);

  auto command = parse_device_topic(kHall, topics.device_command("display-3"));
  REQUIRE(command);
  CHECK(command->device == "display-3");
  CHECK(command->kind == DeviceTopicKind::kCommand);
}

TEST_CASE("parse_device_topic passes an unknown op through for the decoder to refuse",
          "[protocol][topics]") {
  auto topic = parse_device_topic(kHall, "yiban/v1/qd-sn-01/devices/k1/req/no.such_op");
  REQUIRE(topic);
  CHECK(topic->kind == DeviceTopicKind::kRequest);
  CHECK(topic->op == "no.such_op");
}

TEST_CASE("parse_device_topic accepts device ids and ops at their length limits",
          "[protocol][topics]") {
  std::string device(32, 'd');
  std::string op(64, 'o');
  auto topic = parse_device_topic(kHall, "yiban/v1/qd-sn-01/devices/" + device + "/req/" + op);
  REQUIRE(topic);
  CHECK(topic->device == device);
  CHECK(topic->op == op);
}

TEST_CASE("parse_device_topic rejects topics that are not this hall's device topics",
          "[protocol][topics]") {
  auto topic =
      GENERATE(as<std::string>{},
               // other halls, other roots
               "yiban/v1/qd-sn-02/devices/k1/status", "yiban/v1/qd-sn-0/devices/k1/status",
               "yiban/v1/qd-sn-01x/devices/k1/status", "yiban/v1/QD-SN-01/devices/k1/status",
               "yiban/v2/qd-sn-01/devices/k1/status", "/yiban/v1/qd-sn-01/devices/k1/status",
               "yiban/v1//qd-sn-01/devices/k1/status", "other/v1/qd-sn-01/devices/k1/status",
               // not device topics
               "yiban/v1/qd-sn-01/board/calls", "yiban/v1/qd-sn-01/catalog", "yiban/v1/qd-sn-01",
               "yiban/v1/qd-sn-01/devices", "yiban/v1/qd-sn-01/devices/",
               "yiban/v1/qd-sn-01/device/k1/status",
               // bad device ids
               "yiban/v1/qd-sn-01/devices//status", "yiban/v1/qd-sn-01/devices/Kiosk/status",
               "yiban/v1/qd-sn-01/devices/kiosk_1/status",
               "yiban/v1/qd-sn-01/devices/" + std::string(33, 'd') + "/status",
               "yiban/v1/qd-sn-01/devices/k1",
               // unknown, missing or extra levels
               "yiban/v1/qd-sn-01/devices/k1/", "yiban/v1/qd-sn-01/devices/k1/state",
               "yiban/v1/qd-sn-01/devices/k1/STATUS", "yiban/v1/qd-sn-01/devices/k1/status/",
               "yiban/v1/qd-sn-01/devices/k1/status/x", "yiban/v1/qd-sn-01/devices/k1/res/x",
               "yiban/v1/qd-sn-01/devices/k1/cmd/x", "yiban/v1/qd-sn-01/devices/k1/telemetry/x",
               "yiban/v1/qd-sn-01/devices/k1/req", "yiban/v1/qd-sn-01/devices/k1/req/",
               "yiban/v1/qd-sn-01/devices/k1/req/ticket.take/x",
               "yiban/v1/qd-sn-01/devices/k1/req/ticket.take/",
               "yiban/v1/qd-sn-01/devices/k1/req/" + std::string(65, 'o'),
               // wildcards anywhere
               "yiban/v1/+/devices/k1/status", "yiban/v1/#", "yiban/v1/qd-sn-01/devices/+/status",
               "yiban/v1/qd-sn-01/devices/#", "yiban/v1/qd-sn-01/devices/+/req/+",
               "yiban/v1/qd-sn-01/devices/k1/req/+", "yiban/v1/qd-sn-01/devices/k1/req/#",
               "yiban/v1/qd-sn-01/devices/k1/req/ticket.+", "yiban/v1/qd-sn-01/devices/k1/+",
               "yiban/v1/qd-sn-01/devices/k1/#");
  INFO("topic: " << topic);
  CHECK_FALSE(parse_device_topic(kHall, topic));
}

}  // namespace
}  // namespace yiban::protocol
