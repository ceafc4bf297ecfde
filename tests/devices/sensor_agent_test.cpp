// SensorAgent: door counts and environment readings as telemetry payloads.

#include "yiban/devices/sensor_agent.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace yiban::devices;
using nlohmann::json;
using yiban::protocol::DeviceKind;

TEST_CASE("people counter samples carry counts since the previous sample", "[devices]") {
  SensorAgent door(DeviceKind::kPeopleCounter, 1);
  CHECK(door.handle_line("in 3") == "进入 3 人");
  CHECK(door.handle_line("out 1") == "离开 1 人");
  CHECK(door.handle_line("in 2") == "进入 2 人");
  CHECK(door.handle_line("in -1").starts_with("用法"));
  CHECK(door.handle_line("in x").starts_with("用法"));
  CHECK(door.handle_line("sideways 1").starts_with("用法"));
  auto first = json::parse(door.sample(1000));
  CHECK(first["ts"] == 1000);
  CHECK(first["metrics"] == json{{"people_in", 5}, {"people_out", 1}});
  auto second = json::parse(door.sample(2000));
  CHECK(second["metrics"] == json{{"people_in", 0}, {"people_out", 0}});
}

TEST_CASE("environment readings are a plausible, repeatable random walk", "[devices]") {
  SensorAgent a(DeviceKind::kEnvironment, 7);
  SensorAgent b(DeviceKind::kEnvironment, 7);
  for (int i = 0; i < 1000; ++i) {
    auto sa = a.sample(i);
    REQUIRE(sa == b.sample(i));
    auto m = json::parse(sa)["metrics"];
    REQUIRE(m["temp_c"].get<double>() >= 10.0);
    REQUIRE(m["temp_c"].get<double>() <= 38.0);
    REQUIRE(m["humidity"].get<double>() >= 15.0);
    REQUIRE(m["co2_ppm"].get<int>() >= 400);
  }
  CHECK_THROWS_AS(SensorAgent(DeviceKind::kKiosk, 1), std::invalid_argument);
}
