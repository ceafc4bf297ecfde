#include <mqtt/async_client.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <fstream>

#include "support/mosquitto_broker.h"
#include "support/test_support.h"

namespace yiban::test {
namespace {

using namespace std::chrono_literals;

mqtt::connect_options v5_options() {
  return mqtt::connect_options_builder()
      .mqtt_version(MQTTVERSION_5)
      .clean_start(true)
      .connect_timeout(5s)
      .finalize();
}

TEST_CASE("TempDir creates a fresh directory and removes it with its contents", "[support]") {
  std::filesystem::path kept;
  {
    TempDir dir;
    kept = dir.path();
    REQUIRE(std::filesystem::is_directory(kept));
    CHECK(kept.filename().string().starts_with("yiban-test-"));
    std::filesystem::create_directories(dir / "a/b");
    std::ofstream(dir / "a/b/file.txt") << "x";
    CHECK(read_file(dir / "a/b/file.txt") == "x");
  }
  CHECK_FALSE(std::filesystem::exists(kept));
}

TEST_CASE("free_tcp_port returns a loopback port that can be bound", "[support]") {
  int port = free_tcp_port();
  CHECK(port > 0);
  CHECK(port < 65536);
}

TEST_CASE("read_file returns an empty string for a missing file", "[support]") {
  TempDir dir;
  CHECK(read_file(dir / "missing").empty());
}

TEST_CASE("write_test_hall_config writes the small test hall", "[support]") {
  TempDir dir;
  auto path = write_test_hall_config(dir.path());
  CHECK(path == dir / "hall.json");
  std::string text = read_file(path);
  CHECK(text.starts_with(R"({"hall":"test-hall","name":"测试大厅",)"));
  CHECK(text.find(R"({"id":"display-1","kind":"display"}],)") != std::string::npos);
  // Load tests drive one kiosk far over the per-device default rate.
  CHECK(text.ends_with(R"("limits":{"requests_per_s":5000,"request_burst":20000}})"));
  CHECK(example_hall_config().filename() == "hall.json");
}

TEST_CASE("ChildProcess reports a normal exit status", "[support][integration]") {
  TempDir dir;
  ChildProcess child("/bin/sh", {"-c", "echo hello; exit 3"}, dir / "child.log");
  CHECK(child.pid() > 0);
  CHECK(child.wait_exit(10s) == 3);
  CHECK_FALSE(child.running());
  CHECK(read_file(dir / "child.log") == "hello\n");
}

TEST_CASE("ChildProcess reports death by signal and kill_now reaps", "[support][integration]") {
  TempDir dir;
  ChildProcess child("/bin/sleep", {"100"}, dir / "sleep.log");
  CHECK(child.running());
  CHECK(child.wait_exit(20ms) == -1);
  child.signal(SIGKILL);
  CHECK(child.wait_exit(10s) == 128 + SIGKILL);
  CHECK_FALSE(child.running());

  ChildProcess other("/bin/sleep", {"100"}, dir / "sleep.log");
  CHECK(other.running());
  other.kill_now();
  CHECK_FALSE(other.running());
  CHECK(other.wait_exit(0ms) == 128 + SIGKILL);
}

TEST_CASE("ChildProcess logs an exec failure and exits 127", "[support][integration]") {
  TempDir dir;
  ChildProcess child("/nonexistent/program", {}, dir / "fail.log");
  CHECK(child.wait_exit(10s) == 127);
  CHECK(read_file(dir / "fail.log").find("/nonexistent/program") != std::string::npos);
}

TEST_CASE("MosquittoBroker carries MQTT 5 messages and survives a restart",
          "[support][integration]") {
  TempDir dir;
  MosquittoBroker broker(dir.path());
  REQUIRE(broker.port() > 0);
  REQUIRE(read_file(dir / "mosquitto.conf")
              .find("listener " + std::to_string(broker.port()) + " 127.0.0.1\n") !=
          std::string::npos);

  auto options = v5_options();
  mqtt::async_client subscriber(broker.uri(), "support-sub", mqtt::create_options(MQTTVERSION_5));
  subscriber.start_consuming();
  REQUIRE(subscriber.connect(options)->wait_for(5s));
  REQUIRE(subscriber.subscribe("yiban/test/#", 1)->wait_for(5s));

  mqtt::async_client publisher(broker.uri(), "support-pub", mqtt::create_options(MQTTVERSION_5));
  REQUIRE(publisher.connect(options)->wait_for(5s));
  REQUIRE(publisher.publish("yiban/test/hello", "payload", 1, false)->wait_for(5s));

  mqtt::const_message_ptr msg;
  REQUIRE(subscriber.try_consume_message_for(&msg, 5s));
  REQUIRE(msg);
  CHECK(msg->get_topic() == "yiban/test/hello");
  CHECK(msg->to_string() == "payload");

  int port = broker.port();
  broker.restart();
  CHECK(broker.port() == port);
  CHECK(wait_for_broker(broker.uri(), 5s));

  mqtt::async_client again(broker.uri(), "support-again", mqtt::create_options(MQTTVERSION_5));
  REQUIRE(again.connect(options)->wait_for(5s));
  CHECK(again.is_connected());
  again.disconnect()->wait_for(5s);

  broker.stop();
  CHECK_FALSE(wait_for_broker(broker.uri(), 100ms));
}

}  // namespace
}  // namespace yiban::test
