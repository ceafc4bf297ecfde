// Help requests and alerts between kiosks, counters and staff handsets, through
// a real broker and yiban-edge.

#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/edge_process.h"
#include "support/mosquitto_broker.h"
#include "support/mqtt_test_client.h"
#include "support/test_support.h"

using namespace yiban::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// The retained alerts board as a staff handset sees it, once it matches pred.
std::optional<json> alerts_board(MqttTestClient& staff, const std::function<bool(const json&)>& pred) {
  auto m = staff.wait_for(
      [&](const ReceivedMessage& r) {
        if (!r.topic.ends_with("/alerts")) return false;
        auto j = json::parse(r.payload, nullptr, false);
        return j.is_object() && j["alerts"].is_array() && pred(j["alerts"]);
      },
      10s);
  if (!m) return std::nullopt;
  return json::parse(m->payload)["alerts"];
}

}  // namespace

TEST_CASE("a help request reaches staff handsets as an alert and an answer closes it", "[integration][edge][alerts]") {
  TempDir dir;
  MosquittoBroker broker(dir.path());
  auto config = dir / "hall.json";
  {
    auto j = json::parse(read_file(write_test_hall_config(dir.path())));
    j["devices"].push_back({{"id", "staff-1"}, {"kind", "staff"}});
    std::ofstream(config) << j.dump();
  }
  EdgeProcess edge(dir.path(), config, broker.uri());
  edge.start();
  MqttTestClient staff(broker.uri(), "staff-1");
  staff.subscribe("yiban/v1/test-hall/alerts");
  MqttTestClient hall(broker.uri(), "devices");

  auto help = hall.request("test-hall", "kiosk-1", "help.request", R"({"need":"轮椅"})");
  REQUIRE(help);
  REQUIRE(reply_ok(*help));
  std::string help_id = json::parse(*help)["help"]["id"];
  auto raised = alerts_board(staff, [&](const json& a) { return a.size() == 1 && a[0]["rule"] == "help"; });
  REQUIRE(raised);
  CHECK((*raised)[0]["subject"] == help_id);
  CHECK((*raised)[0]["state"] == "raised");
  CHECK((*raised)[0]["message"].get<std::string>().find("轮椅") != std::string::npos);

  auto refused = hall.request("test-hall", "kiosk-1", "help.answer", json{{"help", help_id}}.dump());
  REQUIRE(refused);
  CHECK(reply_error_code(*refused) == "not_allowed");
  auto answered = staff.request("test-hall", "staff-1", "help.answer", json{{"help", help_id}}.dump());
  REQUIRE(answered);
  CHECK(reply_ok(*answered));
  CHECK(alerts_board(staff, [](const json& a) { return a.empty(); }));
  auto twice = staff.request("test-hall", "staff-1", "help.answer", json{{"help", help_id}}.dump());
  REQUIRE(twice);
  CHECK(reply_error_code(*twice) == "invalid_state");

  // A bad rating is a follow-up the staff acknowledge.
  REQUIRE(reply_ok(*hall.request("test-hall", "kiosk-1", "ticket.take", R"({"service":"A"})")));
  REQUIRE(reply_ok(*hall.request("test-hall", "counter-1", "counter.open", "{}")));
  REQUIRE(reply_ok(*hall.request("test-hall", "counter-1", "counter.call_next", "{}")));
  REQUIRE(reply_ok(*hall.request("test-hall", "counter-1", "counter.finish", "{}")));
  REQUIRE(reply_ok(*hall.request("test-hall", "rating-1", "rating.submit", R"({"score":1})")));
  auto bad = alerts_board(staff, [](const json& a) { return a.size() == 1 && a[0]["rule"] == "bad_rating"; });
  REQUIRE(bad);
  std::string alert_id = (*bad)[0]["id"];
  auto acked = staff.request("test-hall", "staff-1", "alert.ack", json{{"alert", alert_id}}.dump());
  REQUIRE(acked);
  CHECK(json::parse(*acked)["alert"]["state"] == "acknowledged");
  CHECK(alerts_board(staff, [](const json& a) { return a.size() == 1 && a[0]["state"] == "acknowledged"; }));
  CHECK(query_int(edge.db(), "SELECT count(*) FROM events WHERE type LIKE 'alert.%'") == 4);
  CHECK(query_int(edge.db(), "SELECT count(*) FROM events WHERE type = 'help.answered'") == 1);
  CHECK(edge.terminate() == 0);
}
