// yiban-edge as a process against a real Mosquitto broker.

#include <catch2/catch.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "support/edge_process.h"
#include "support/mosquitto_broker.h"
#include "support/mqtt_test_client.h"
#include "support/test_support.h"

using namespace yiban::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {


struct RunningHall {
  TempDir dir;
  MosquittoBroker broker{dir.path()};
  std::filesystem::path config = write_test_hall_config(dir.path());
  EdgeProcess edge{dir.path(), config, broker.uri()};
  RunningHall() { edge.start(); }
};

std::string run_command(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe)) out += buffer;
  ::pclose(pipe);
  return out;
}

}  // namespace

TEST_CASE("mosquitto_rr takes a ticket", "[integration][edge][mqtt]") {
  RunningHall hall;
  std::string base = std::string("yiban/v1/") + kHall + "/devices/kiosk-1";
  std::string out = run_command("mosquitto_rr -V 5 -h 127.0.0.1 -p " + std::to_string(hall.broker.port()) + " -t " +
                                base + "/req/ticket.take -e " + base + "/res -m '{\"service\":\"A\"}' -W 10");
  auto reply = json::parse(out, nullptr, false);
  INFO(out);
  REQUIRE(reply.is_object());
  CHECK(reply["ok"] == true);
  CHECK(reply["ticket"]["number"] == "A001");
  CHECK(reply["ticket"]["id"].get<std::string>().starts_with("test-hall:"));
  CHECK(reply["ticket"]["waiting_ahead"] == 0);
  CHECK(query_int(hall.edge.db(), "SELECT count(*) FROM tickets WHERE number = 'A001'") == 1);
}

TEST_CASE("a counter calls a ticket and the display sees the call and the announcement",
          "[integration][edge][mqtt]") {
  RunningHall hall;
  MqttTestClient display(hall.broker.uri(), "display-1");
  display.subscribe(std::string("yiban/v1/") + kHall + "/board/#");
  MqttTestClient kiosk(hall.broker.uri(), "kiosk-1");
  MqttTestClient counter(hall.broker.uri(), "counter-1");

  auto taken = kiosk.request(kHall, "kiosk-1", "ticket.take", R"({"service":"A","class":"elderly"})");
  REQUIRE(taken);
  REQUIRE(reply_ok(*taken));
  auto opened = counter.request(kHall, "counter-1", "counter.open", "{}");
  REQUIRE(opened);
  CHECK(json::parse(*opened)["counter"]["state"] == "open");
  auto called = counter.request(kHall, "counter-1", "counter.call_next", "{}");
  REQUIRE(called);
  auto ticket = json::parse(*called)["ticket"];
  CHECK(ticket["number"] == "A001");
  CHECK(ticket["state"] == "called");
  CHECK(ticket["counter"] == "1");

  auto board = display.wait_for(
      [](const ReceivedMessage& m) {
        if (!m.topic.ends_with("/board/calls")) return false;
        auto calls = json::parse(m.payload, nullptr, false);
        return calls.is_array() && !calls.empty() && calls[0]["number"] == "A001";
      },
      5s);
  REQUIRE(board);
  CHECK(json::parse(board->payload)[0]["counter"] == "1");
  auto announce = display.wait_for([](const ReceivedMessage& m) { return m.topic.ends_with("/board/announce"); }, 5s);
  REQUIRE(announce);
  CHECK(json::parse(announce->payload)["text"] == "请A001号到1号窗口");
  auto queues = display.wait_for(
      [](const ReceivedMessage& m) {
        if (!m.topic.ends_with("/board/queues")) return false;
        auto q = json::parse(m.payload, nullptr, false);
        return q.is_object() && q["queues"][0]["service"] == "A" && q["queues"][0]["open_counters"] == 1 &&
               q["queues"][0]["waiting"] == 0;
      },
      5s);
  CHECK(queues);

  // The rest of the visit: start, finish, rating.
  REQUIRE(reply_ok(*counter.request(kHall, "counter-1", "counter.start", "")));
  REQUIRE(reply_ok(*counter.request(kHall, "counter-1", "counter.finish", "")));
  MqttTestClient pad(hall.broker.uri(), "rating-1");
  REQUIRE(reply_ok(*pad.request(kHall, "rating-1", "rating.submit", R"({"score":5})")));
  CHECK(query_int(hall.edge.db(), "SELECT count(*) FROM ratings WHERE score = 5") == 1);
}

TEST_CASE("a retried request is answered identically and applied once", "[integration][edge][mqtt]") {
  RunningHall hall;
  MqttTestClient kiosk(hall.broker.uri(), "kiosk-1");
  std::string corr("retry-\x01\x02", 8);
  auto first = kiosk.request(kHall, "kiosk-1", "ticket.take", R"({"service":"B"})", 5s, corr);
  auto second = kiosk.request(kHall, "kiosk-1", "ticket.take", R"({"service":"B"})", 5s, corr);
  REQUIRE(first);
  REQUIRE(second);
  CHECK(*first == *second);
  CHECK(json::parse(*first)["ticket"]["number"] == "B001");
  auto next = kiosk.request(kHall, "kiosk-1", "ticket.take", R"({"service":"B"})");
  REQUIRE(next);
  CHECK(json::parse(*next)["ticket"]["number"] == "B002");
  CHECK(query_int(hall.edge.db(), "SELECT count(*) FROM tickets") == 2);
  CHECK(query_int(hall.edge.db(), "SELECT count(*) FROM events WHERE type = 'ticket.issued'") == 2);
}

TEST_CASE("bad requests over MQTT get stable error codes and change nothing", "[integration][edge][mqtt]") {
  RunningHall hall;
  MqttTestClient client(hall.broker.uri(), "prober");
  auto code = [&](const std::string& device, const std::string& op, const std::string& payload) {
    auto reply = client.request(kHall, device, op, payload);
    REQUIRE(reply);
    CHECK_FALSE(reply_ok(*reply));
    return reply_error_code(*reply);
  };
  CHECK(code("kiosk-9", "ticket.take", R"({"service":"A"})") == "unknown_device");
  CHECK(code("kiosk-1", "counter.call_next", "{}") == "not_allowed");
  CHECK(code("kiosk-1", "ticket.take", "{not json") == "bad_json");
  CHECK(code("kiosk-1", "ticket.take", R"({"service":5})") == "bad_request");
  CHECK(code("kiosk-1", "ticket.fly", "{}") == "unknown_op");
  CHECK(code("kiosk-1", "ticket.take", R"({"service":"Q"})") == "unknown_service");
  CHECK(code("counter-1", "counter.call_next", "{}") == "counter_closed");
  CHECK(code("counter-1", "counter.finish", "{}") == "no_current_ticket");
  REQUIRE(reply_ok(*client.request(kHall, "counter-1", "counter.open", "{}")));
  CHECK(code("counter-1", "counter.call_next", "{}") == "queue_empty");
  CHECK(code("display-1", "ticket.take", R"({"service":"A"})") == "not_allowed");
  CHECK(query_int(hall.edge.db(), "SELECT count(*) FROM tickets") == 0);
}

TEST_CASE("a reply is never sent onto the hall's board topics", "[integration][edge][mqtt]") {
  RunningHall hall;
  MqttTestClient client(hall.broker.uri(), "sneaky");
  std::string board = std::string("yiban/v1/") + kHall + "/board/calls";
  client.subscribe(std::string("yiban/v1/") + kHall + "/devices/kiosk-1/res");
  client.subscribe(board);
  client.publish(std::string("yiban/v1/") + kHall + "/devices/kiosk-1/req/ticket.take", R"({"service":"A"})", 1,
                 false, board, std::string("c1"));
  auto reply = client.wait_for([](const ReceivedMessage& m) { return m.correlation == std::string("c1"); }, 5s);
  REQUIRE(reply);
  CHECK(reply->topic.ends_with("/devices/kiosk-1/res"));
  CHECK(reply_error_code(reply->payload) == "bad_request");
}

TEST_CASE("device presence from retained status and will becomes events", "[integration][edge][mqtt]") {
  RunningHall hall;
  std::string status = std::string("yiban/v1/") + kHall + "/devices/kiosk-2/status";
  auto count = [&](const std::string& type) {
    return query_int(hall.edge.db(), "SELECT count(*) FROM events WHERE type = '" + type +
                                         "' AND text LIKE '%\"device\":\"kiosk-2\"%'");
  };
  // A device process with a will, killed without a word.
  ChildProcess device("/usr/bin/mosquitto_sub",
                      {"-V", "5", "-h", "127.0.0.1", "-p", std::to_string(hall.broker.port()), "-i", "kiosk-2", "-t",
                       std::string("yiban/v1/") + kHall + "/devices/kiosk-2/cmd", "--will-topic", status,
                       "--will-payload", R"({"state":"offline"})", "--will-retain", "--will-qos", "1"},
                      hall.dir / "kiosk-2.log");
  MqttTestClient publisher(hall.broker.uri(), "kiosk-2-status");
  publisher.publish(status, R"({"state":"online","kind":"kiosk","version":"1.0"})", 1, true);
  REQUIRE(eventually([&] { return count("device.online") == 1; }, 10s));
  // A retained command reaching the device proves its session (and will) is up.
  std::string cmd = std::string("yiban/v1/") + kHall + "/devices/kiosk-2/cmd";
  publisher.publish(cmd, "ping", 1, true);
  REQUIRE(eventually([&] { return read_file(hall.dir / "kiosk-2.log").find("ping") != std::string::npos; }, 10s));
  publisher.publish(cmd, "", 1, true);
  device.kill_now();
  REQUIRE(eventually([&] { return count("device.offline") == 1; }, 10s));
  CHECK(count("device.online") == 1);
}

TEST_CASE("a broker restart costs the hall nothing", "[integration][edge][mqtt]") {
  RunningHall hall;
  {
    MqttTestClient kiosk(hall.broker.uri(), "kiosk-1");
    REQUIRE(reply_ok(*kiosk.request(kHall, "kiosk-1", "ticket.take", R"({"service":"A"})")));
  }
  hall.broker.restart();
  // The broker lost its retained messages; the edge reconnects, resubscribes and republishes them.
  MqttTestClient display(hall.broker.uri(), "display-1");
  display.subscribe(std::string("yiban/v1/") + kHall + "/catalog");
  auto catalog = display.wait_for([](const ReceivedMessage& m) { return !m.payload.empty(); }, 40s);
  REQUIRE(catalog);
  MqttTestClient kiosk(hall.broker.uri(), "kiosk-1");
  auto second = kiosk.request(kHall, "kiosk-1", "ticket.take", R"({"service":"A"})", 10s);
  REQUIRE(second);
  CHECK(json::parse(*second)["ticket"]["number"] == "A002");
  CHECK(json::parse(*second)["ticket"]["waiting_ahead"] == 1);
}

TEST_CASE("SIGTERM stops the edge cleanly", "[integration][edge]") {
  RunningHall hall;
  CHECK(hall.edge.terminate() == 0);
  CHECK_THAT(hall.edge.log_text(), Catch::Contains("stopped cleanly"));
}

TEST_CASE("an invalid hall config is refused at start naming the field", "[integration][edge]") {
  TempDir dir;
  auto config = dir / "hall.json";
  {
    auto j = json::parse(read_file(write_test_hall_config(dir.path())));
    j["counters"][1]["services"][0] = "Z";
    std::FILE* f = std::fopen(config.c_str(), "w");
    std::fputs(j.dump().c_str(), f);
    std::fclose(f);
  }
  ChildProcess edge(YIBAN_EDGE_BINARY, {"--hall-config", config.string(), "--db", (dir / "edge.db").string()},
                    dir / "edge.log");
  int status = edge.wait_exit(10s);
  CHECK(status != 0);
  CHECK(status != -1);
  CHECK_THAT(read_file(dir / "edge.log"), Catch::Contains("counters[1].services[0]"));
  CHECK_FALSE(std::filesystem::exists(dir / "edge.db"));
}
