// Telemetry and liveness against a real yiban-edge and broker.

#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/edge_process.h"
#include "support/mosquitto_broker.h"
#include "support/mqtt_test_client.h"
#include "support/test_support.h"

using namespace yiban::test;
using namespace std::chrono_literals;

TEST_CASE("door counts become occupancy and a silent sensor is reported offline within liveness_s + 2 s",
          "[integration][edge][sensing]") {
  TempDir dir;
  MosquittoBroker broker(dir.path());
  auto config = dir / "hall.json";
  {
    auto j = nlohmann::json::parse(read_file(write_test_hall_config(dir.path())));
    j["sensing"] = {{"liveness_s", 5}};
    j["devices"].push_back({{"id", "door-1"}, {"kind", "people_counter"}});
    j["devices"].push_back({{"id", "env-1"}, {"kind", "environment"}});
    std::ofstream(config) << j.dump();
  }
  EdgeProcess edge(dir.path(), config, broker.uri());
  edge.start();
  const std::string root = "yiban/v1/test-hall/devices/";
  MqttTestClient door(broker.uri(), "door-1");
  door.publish(root + "door-1/status", R"({"state":"online","kind":"people_counter"})", 1, true);
  door.publish(root + "door-1/telemetry", R"({"ts":1,"metrics":{"people_in":7,"people_out":2}})");
  door.publish(root + "door-1/telemetry", R"({"ts":2,"metrics":{"people_in":"many"}})");  // dropped
  door.publish(root + "door-1/telemetry", R"({"ts":3,"metrics":{"people_out":1}})");
  REQUIRE(eventually([&] { return query_int(edge.db(), "SELECT count(*) FROM telemetry") == 2; }, 10s));
  CHECK(query_strings(edge.db(), "SELECT value FROM meta WHERE key = 'occupancy'") ==
        std::vector<std::string>{"4"});
  auto offline = [&] {
    return query_int(edge.db(),
                     "SELECT count(*) FROM events WHERE type = 'device.offline' AND text LIKE '%door-1%silent%'");
  };
  REQUIRE(eventually([&] { return query_int(edge.db(), "SELECT count(*) FROM events WHERE type = 'device.online' "
                                                       "AND text LIKE '%door-1%'") == 1; },
                     10s));
  auto last_sample = std::chrono::steady_clock::now();
  // The sensor stays connected but says nothing more.
  REQUIRE(eventually([&] { return offline() == 1; }, 15s));
  auto silent_for = std::chrono::steady_clock::now() - last_sample;
  CHECK(silent_for <= 5s + 2s + 500ms);
  CHECK(silent_for >= 4s);
  // It speaks again: online.
  door.publish(root + "door-1/telemetry", R"({"ts":4,"metrics":{"people_in":1}})");
  REQUIRE(eventually([&] { return query_int(edge.db(), "SELECT count(*) FROM events WHERE type = 'device.online' "
                                                       "AND text LIKE '%door-1%heard%'") == 1; },
                     10s));
  CHECK(edge.terminate() == 0);
}
