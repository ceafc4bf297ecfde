#include "sensing/sensing.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/test_support.h"

using namespace yiban;
using edge::sensing::Sensing;

namespace {

constexpr std::int64_t kMorning = 1795654800000LL;  // 2026-11-26 09:00 Asia/Shanghai, a whole minute
constexpr std::int64_t kNextMidnight = 1795708800000LL;

constexpr const char* kHall = R"({
  "hall": "test-hall", "name": "测试大厅", "region": "370202", "capacity": 50,
  "sensing": {"liveness_s": 10, "max_rate_hz": 2},
  "services": [{"code": "A", "name": "社保医保"}],
  "counters": [{"id": "1", "services": ["A"]}],
  "devices": [
    {"id": "door-1", "kind": "people_counter"},
    {"id": "env-1", "kind": "environment"},
    {"id": "display-1", "kind": "display"}
  ]
})";

struct Hall {
  test::TempDir dir;
  protocol::HallConfig config = *protocol::parse_hall_config(kHall);
  protocol::TimeZone zone = *protocol::TimeZone::load("Asia/Shanghai");
  std::unique_ptr<edge::store::EdgeStore> store;
  std::unique_ptr<edge::queue::QueueEngine> engine;
  std::unique_ptr<Sensing> sensing;

  Hall() { reopen(kMorning); }
  void reopen(std::int64_t now) {
    sensing.reset();
    engine.reset();
    store.reset();
    store = std::move(*edge::store::EdgeStore::open((dir / "edge.db").string(), "test-hall"));
    engine = std::make_unique<edge::queue::QueueEngine>(config, zone, *store);
    REQUIRE(engine->load());
    sensing = std::make_unique<Sensing>(engine->config(), zone, *store, *engine);
    REQUIRE(sensing->load(now));
  }
  Sensing::Outcome ingest(const std::string& device, const std::string& payload, std::int64_t now) {
    REQUIRE(store->begin());
    auto r = sensing->ingest(device, payload, now);
    REQUIRE(store->commit());
    REQUIRE(r);
    return *r;
  }
  int tick(std::int64_t now) {
    REQUIRE(store->begin());
    auto r = sensing->tick(now);
    REQUIRE(store->commit());
    REQUIRE(r);
    return *r;
  }
  std::vector<nlohmann::json> events(const std::string& type) {
    std::vector<nlohmann::json> out;
    auto stored = store->read_events(0, 100000);
    REQUIRE(stored);
    for (const auto& e : *stored) {
      auto j = nlohmann::json::parse(e.text);
      if (j["type"] == type) out.push_back(j["data"]);
    }
    return out;
  }
};

std::string sample(const std::string& metrics) { return R"({"ts":1,"metrics":)" + metrics + "}"; }

}  // namespace

TEST_CASE("each device's minute becomes one summary with min, max, avg and last", "[edge][sensing]") {
  Hall h;
  CHECK(h.ingest("env-1", sample(R"({"temp_c":20,"co2_ppm":600})"), kMorning + 1000) == Sensing::Outcome::kStored);
  CHECK(h.ingest("env-1", sample(R"({"temp_c":24,"co2_ppm":700})"), kMorning + 2000) == Sensing::Outcome::kStored);
  CHECK(h.ingest("env-1", sample(R"({"temp_c":22})"), kMorning + 3000) == Sensing::Outcome::kStored);
  CHECK(h.tick(kMorning + 61000) == 0);  // the minute is over, but within the grace
  CHECK(h.tick(kMorning + 62000) == 1);
  auto summaries = h.events("telemetry.summary");
  REQUIRE(summaries.size() == 1);
  const auto& s = summaries[0];
  CHECK(s["device"] == "env-1");
  CHECK(s["minute_ts"] == kMorning);
  CHECK(s["samples"] == 3);
  CHECK(s["metrics"]["temp_c"]["min"] == 20);
  CHECK(s["metrics"]["temp_c"]["max"] == 24);
  CHECK(s["metrics"]["temp_c"]["avg"] == 22);
  CHECK(s["metrics"]["temp_c"]["last"] == 22);
  CHECK(s["metrics"]["co2_ppm"]["avg"] == 650);
  CHECK(h.tick(kMorning + 200000) == 0);  // written once
}

TEST_CASE("an unfinished minute survives a restart and is summarized once", "[edge][sensing]") {
  Hall h;
  h.ingest("env-1", sample(R"({"temp_c":20})"), kMorning + 1000);
  h.reopen(kMorning + 30000);
  h.ingest("env-1", sample(R"({"temp_c":30})"), kMorning + 40000);
  h.tick(kMorning + 70000);
  auto summaries = h.events("telemetry.summary");
  REQUIRE(summaries.size() == 1);
  CHECK(summaries[0]["samples"] == 2);
  CHECK(summaries[0]["metrics"]["temp_c"]["avg"] == 25);
  h.reopen(kMorning + 80000);
  h.tick(kMorning + 200000);
  CHECK(h.events("telemetry.summary").size() == 1);
}

TEST_CASE("bad and flooding telemetry is counted and dropped", "[edge][sensing]") {
  Hall h;
  CHECK(h.ingest("env-1", "garbage", kMorning) == Sensing::Outcome::kBadSample);
  CHECK(h.ingest("env-1", sample(R"({"temp_c":"hot"})"), kMorning) == Sensing::Outcome::kBadSample);
  CHECK(h.ingest("ghost", sample(R"({"temp_c":1})"), kMorning) == Sensing::Outcome::kUnknownDevice);
  // max_rate_hz 2: a burst of 4, then 2 per second.
  int stored = 0;
  int limited = 0;
  for (int i = 0; i < 20; ++i) {
    auto o = h.ingest("door-1", sample(R"({"people_in":1})"), kMorning + 1000 + i);
    stored += o == Sensing::Outcome::kStored;
    limited += o == Sensing::Outcome::kRateLimited;
  }
  CHECK(stored == 4);  // the burst; 20 ms refill nothing
  CHECK(limited == 16);
  CHECK(h.sensing->stats().at("env-1").bad == 2);
  CHECK(h.sensing->stats().at("door-1").limited == 16);
  // A second later two more fit.
  CHECK(h.ingest("door-1", sample(R"({"people_in":1})"), kMorning + 2100) == Sensing::Outcome::kStored);
  CHECK(h.events("telemetry.summary").empty());
}

TEST_CASE("occupancy follows door counts, never below zero, and resets at day start", "[edge][sensing]") {
  Hall h;
  h.ingest("door-1", sample(R"({"people_in":5,"people_out":0})"), kMorning);
  h.ingest("door-1", sample(R"({"people_in":0,"people_out":2})"), kMorning + 1000);
  CHECK(h.sensing->occupancy() == 3);
  h.ingest("door-1", sample(R"({"people_out":7})"), kMorning + 2000);
  CHECK(h.sensing->occupancy() == 0);
  h.ingest("door-1", sample(R"({"people_in":4})"), kMorning + 3000);
  h.reopen(kMorning + 4000);
  CHECK(h.sensing->occupancy() == 4);
  h.tick(kNextMidnight + 1);
  CHECK(h.sensing->occupancy() == 0);
}

TEST_CASE("a silent sensor is reported offline and online again when heard", "[edge][sensing]") {
  Hall h;
  REQUIRE(h.store->begin());
  REQUIRE(h.engine->set_device_presence("env-1", true, "1.0", kMorning));
  REQUIRE(h.engine->set_device_presence("display-1", true, "1.0", kMorning));
  REQUIRE(h.store->commit());
  h.ingest("env-1", sample(R"({"temp_c":20})"), kMorning + 1000);
  CHECK(h.tick(kMorning + 11000) == 0);  // 10 s of silence is allowed
  h.tick(kMorning + 11001 + 1000);
  auto offline = h.events("device.offline");
  REQUIRE(offline.size() == 1);
  CHECK(offline[0]["device"] == "env-1");
  CHECK(offline[0]["reason"] == "silent");
  CHECK(h.engine->device_online("display-1") == true);  // displays are judged by their will only
  h.ingest("env-1", sample(R"({"temp_c":20})"), kMorning + 30000);
  h.tick(kMorning + 30001);
  auto online = h.events("device.online");
  REQUIRE(online.size() == 3);
  CHECK(online[2]["reason"] == "heard");
}

TEST_CASE("raw samples are purged after the retention", "[edge][sensing]") {
  Hall h;
  h.ingest("env-1", sample(R"({"temp_c":20})"), kMorning);
  REQUIRE(h.store->begin());
  auto kept = h.sensing->purge(kMorning + 6LL * 24 * 3600 * 1000);
  auto purged = h.sensing->purge(kMorning + 8LL * 24 * 3600 * 1000);
  REQUIRE(h.store->commit());
  CHECK(*kept == 0);
  CHECK(*purged == 1);
}
