#include "yiban/protocol/hall_config.h"

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/test_support.h"

namespace yiban::protocol {
namespace {

using Json = nlohmann::json;

// The example of ARCHITECTURE §10, verbatim.
constexpr const char* kArchitectureExample = R"({
  "hall": "qd-sn-01", "name": "市南区政务服务中心", "region": "370202",
  "timezone": "Asia/Shanghai", "capacity": 300,
  "priority_classes": ["elderly", "disabled", "pregnant"],
  "recall_limit": 2,
  "services": [
    {"code": "A", "name": "社保医保", "max_wait_min": 30},
    {"code": "B", "name": "不动产登记", "max_wait_min": 45},
    {"code": "C", "name": "综合受理"}
  ],
  "counters": [
    {"id": "1", "name": "1号窗口", "services": ["A"], "backup": ["C"]},
    {"id": "2", "name": "2号窗口", "services": ["B", "C"]}
  ],
  "devices": [
    {"id": "kiosk-1", "kind": "kiosk"},
    {"id": "counter-1", "kind": "counter", "counter": "1"},
    {"id": "rating-1", "kind": "rating", "counter": "1"},
    {"id": "display-main", "kind": "display"},
    {"id": "door-1", "kind": "people_counter"},
    {"id": "env-1", "kind": "environment"}
  ]
})";

// The smallest config that validates: only the required fields.
constexpr const char* kMinimal = R"({
  "hall": "h", "name": "大厅", "region": "370202",
  "services": [{"code": "A", "name": "社保"}],
  "counters": [{"id": "1", "services": ["A"]}],
  "devices": []
})";

Json example() {
  return Json::parse(kArchitectureExample);
}

std::string repeat(std::string_view piece, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) out += piece;
  return out;
}

// Every service code of [A-Z]{1,2}, in order.
std::vector<std::string> all_service_codes() {
  std::vector<std::string> codes;
  for (char a = 'A'; a <= 'Z'; ++a) codes.emplace_back(1, a);
  for (char a = 'A'; a <= 'Z'; ++a) {
    for (char b = 'A'; b <= 'Z'; ++b) codes.push_back(std::string{a, b});
  }
  return codes;
}

using yiban::test::write_file;

struct BadConfig {
  const char* what;
  std::function<void(Json&)> change;
  const char* expected;  // a substring of the error message, starting with the field path
};

}  // namespace

TEST_CASE("the architecture example parses with every value", "[protocol][hall_config]") {
  auto config = parse_hall_config(kArchitectureExample);
  REQUIRE(config.has_value());
  CHECK(config->hall == "qd-sn-01");
  CHECK(config->name == "市南区政务服务中心");
  CHECK(config->region == "370202");
  CHECK(config->timezone == "Asia/Shanghai");
  CHECK(config->capacity == 300);
  CHECK(config->priority_classes == std::vector<std::string>{"elderly", "disabled", "pregnant"});
  CHECK(config->recall_limit == 2);

  REQUIRE(config->services.size() == 3);
  CHECK(config->services[0].code == "A");
  CHECK(config->services[0].name == "社保医保");
  CHECK(config->services[0].max_wait_min == 30);
  CHECK(config->services[0].avg_service_s == 300);
  CHECK(config->services[0].enabled);
  CHECK(config->services[1].max_wait_min == 45);
  CHECK(config->services[2].name == "综合受理");
  CHECK_FALSE(config->services[2].max_wait_min.has_value());

  REQUIRE(config->counters.size() == 2);
  CHECK(config->counters[0].id == "1");
  CHECK(config->counters[0].name == "1号窗口");
  CHECK(config->counters[0].services == std::vector<std::string>{"A"});
  CHECK(config->counters[0].backup == std::vector<std::string>{"C"});
  CHECK(config->counters[1].services == std::vector<std::string>{"B", "C"});
  CHECK(config->counters[1].backup.empty());

  REQUIRE(config->devices.size() == 6);
  CHECK(config->devices[0].id == "kiosk-1");
  CHECK(config->devices[0].kind == DeviceKind::kKiosk);
  CHECK_FALSE(config->devices[0].counter.has_value());
  CHECK(config->devices[1].kind == DeviceKind::kCounter);
  CHECK(config->devices[1].counter == "1");
  CHECK(config->devices[2].kind == DeviceKind::kRating);
  CHECK(config->devices[2].counter == "1");
  CHECK(config->devices[3].kind == DeviceKind::kDisplay);
  CHECK(config->devices[4].kind == DeviceKind::kPeopleCounter);
  CHECK(config->devices[5].kind == DeviceKind::kEnvironment);
}

TEST_CASE("optional fields take their documented defaults", "[protocol][hall_config]") {
  auto config = parse_hall_config(kMinimal);
  REQUIRE(config.has_value());
  CHECK(config->timezone == "Asia/Shanghai");
  CHECK(config->capacity == 0);
  CHECK(config->priority_classes.empty());
  CHECK(config->recall_limit == 2);
  CHECK(config->services[0].avg_service_s == 300);
  CHECK_FALSE(config->services[0].max_wait_min.has_value());
  CHECK(config->services[0].enabled);
  CHECK(config->counters[0].name == "1号窗口");
  CHECK(config->counters[0].backup.empty());
  CHECK(config->devices.empty());
}

TEST_CASE("service fields convert minutes and flags", "[protocol][hall_config]") {
  Json j = example();
  j["services"][0]["avg_service_min"] = 7.5;
  j["services"][1]["avg_service_min"] = 20;
  j["services"][2]["avg_service_min"] = 0.001;
  j["services"][2]["enabled"] = false;
  auto config = parse_hall_config(j.dump());
  REQUIRE(config.has_value());
  CHECK(config->services[0].avg_service_s == 450);
  CHECK(config->services[1].avg_service_s == 1200);
  CHECK(config->services[2].avg_service_s == 1);  // never zero
  CHECK_FALSE(config->services[2].enabled);
}

TEST_CASE("values at the edges of their ranges are accepted", "[protocol][hall_config]") {
  Json j = example();
  j["hall"] = repeat("a", 32);
  j["name"] = repeat("厅", 100);
  j["capacity"] = 100000;
  j["recall_limit"] = 10;
  j["priority_classes"] = {repeat("z", 32), "a_b"};
  j["services"][0]["max_wait_min"] = 1440;
  j["services"][0]["avg_service_min"] = 240;
  j["services"][0]["name"] = repeat("名", 50);
  j["services"][1]["max_wait_min"] = 1;
  j["counters"][1]["id"] = "Zz-" + repeat("9", 13);
  j["devices"][0]["id"] = repeat("k", 32);
  j["devices"].push_back({{"id", "staff-1"}, {"kind", "staff"}});
  auto config = parse_hall_config(j.dump());
  INFO((config ? std::string() : config.error().message));
  REQUIRE(config.has_value());
  CHECK(config->capacity == 100000);
  CHECK(config->recall_limit == 10);
  CHECK(config->services[0].avg_service_s == 240 * 60);
  CHECK(config->devices.back().kind == DeviceKind::kStaff);

  j["capacity"] = 0;
  j["recall_limit"] = 0;
  CHECK(parse_hall_config(j.dump()).has_value());
}

TEST_CASE("a hall may offer every service code", "[protocol][hall_config]") {
  Json j = example();
  j["services"] = Json::array();
  for (const auto& code : all_service_codes()) {
    j["services"].push_back({{"code", code}, {"name", "业务" + code}});
  }
  REQUIRE(j["services"].size() == 26 * 27);
  auto config = parse_hall_config(j.dump());
  INFO((config ? std::string() : config.error().message));
  REQUIRE(config.has_value());
  CHECK(config->services.size() == 26 * 27);
  CHECK(config->find_service("ZZ") != nullptr);
}

TEST_CASE("time zone names of IANA shape are accepted", "[protocol][hall_config]") {
  for (const char* zone : {"UTC", "Asia/Urumqi", "America/Argentina/Buenos_Aires", "Etc/GMT+8",
                           "Etc/GMT-14", "America/Port-au-Prince"}) {
    Json j = example();
    j["timezone"] = zone;
    auto config = parse_hall_config(j.dump());
    INFO(zone);
    REQUIRE(config.has_value());
    CHECK(config->timezone == zone);
  }
}

TEST_CASE("a bad config is refused with the offending field's path", "[protocol][hall_config]") {
  const std::vector<BadConfig> cases = {
      // top level
      {"unknown top-level key", [](Json& j) { j["colour"] = "red"; }, "colour: unknown key"},
      {"odd unknown key", [](Json& j) { j["a b"] = 1; }, "[\"a b\"]: unknown key"},
      {"hall missing", [](Json& j) { j.erase("hall"); }, "hall: is required"},
      {"hall upper case", [](Json& j) { j["hall"] = "QD-SN"; }, "hall: must match [a-z0-9-]{1,32}"},
      {"hall too long", [](Json& j) { j["hall"] = repeat("a", 33); },
       "hall: must match [a-z0-9-]{1,32}"},
      {"hall empty", [](Json& j) { j["hall"] = ""; }, "hall: must match [a-z0-9-]{1,32}"},
      {"hall not a string", [](Json& j) { j["hall"] = 5; }, "hall: must be a string"},
      {"name missing", [](Json& j) { j.erase("name"); }, "name: is required"},
      {"name empty", [](Json& j) { j["name"] = ""; }, "name: must not be empty"},
      {"name too long", [](Json& j) { j["name"] = repeat("厅", 101); },
       "name: must be at most 100 characters"},
      {"name with a control character", [](Json& j) { j["name"] = "大\n厅"; },
       "name: must not contain control characters"},
      {"name not a string", [](Json& j) { j["name"] = Json::array(); }, "name: must be a string"},
      {"region missing", [](Json& j) { j.erase("region"); }, "region: is required"},
      {"region five digits", [](Json& j) { j["region"] = "37020"; }, "region: must be six digits"},
      {"region letters", [](Json& j) { j["region"] = "37020a"; }, "region: must be six digits"},
      {"region a number", [](Json& j) { j["region"] = 370202; }, "region: must be a string"},
      {"timezone climbing out", [](Json& j) { j["timezone"] = "../../etc/passwd"; },
       "timezone: must be an IANA zone name"},
      {"timezone absolute", [](Json& j) { j["timezone"] = "/etc/localtime"; },
       "timezone: must be an IANA zone name"},
      {"timezone with a space", [](Json& j) { j["timezone"] = "Asia/Shang hai"; },
       "timezone: must be an IANA zone name"},
      {"timezone empty", [](Json& j) { j["timezone"] = ""; },
       "timezone: must be an IANA zone name"},
      {"timezone empty component", [](Json& j) { j["timezone"] = "Asia//Shanghai"; },
       "timezone: must be an IANA zone name"},
      {"timezone too long", [](Json& j) { j["timezone"] = "Asia/" + repeat("x", 60); },
       "timezone: must be an IANA zone name"},
      {"timezone not a string", [](Json& j) { j["timezone"] = 8; }, "timezone: must be a string"},
      {"capacity negative", [](Json& j) { j["capacity"] = -1; },
       "capacity: must be between 0 and 100000"},
      {"capacity too large", [](Json& j) { j["capacity"] = 100001; },
       "capacity: must be between 0 and 100000"},
      {"capacity huge", [](Json& j) { j["capacity"] = 18446744073709551615ULL; },
       "capacity: must be between 0 and 100000"},
      {"capacity fractional", [](Json& j) { j["capacity"] = 1.5; }, "capacity: must be an integer"},
      {"capacity a string", [](Json& j) { j["capacity"] = "300"; }, "capacity: must be an integer"},
      {"priority_classes not an array", [](Json& j) { j["priority_classes"] = "elderly"; },
       "priority_classes: must be an array"},
      {"priority class upper case", [](Json& j) { j["priority_classes"][1] = "Disabled"; },
       "priority_classes[1]: must match [a-z_]{1,32}"},
      {"priority class empty", [](Json& j) { j["priority_classes"][0] = ""; },
       "priority_classes[0]: must match [a-z_]{1,32}"},
      {"priority class too long", [](Json& j) { j["priority_classes"][2] = repeat("p", 33); },
       "priority_classes[2]: must match [a-z_]{1,32}"},
      {"priority class not a string", [](Json& j) { j["priority_classes"][0] = 1; },
       "priority_classes[0]: must be a string"},
      {"priority class repeated", [](Json& j) { j["priority_classes"][2] = "elderly"; },
       "priority_classes[2]: duplicate priority class \"elderly\""},
      {"recall_limit too large", [](Json& j) { j["recall_limit"] = 11; },
       "recall_limit: must be between 0 and 10"},
      {"recall_limit negative", [](Json& j) { j["recall_limit"] = -1; },
       "recall_limit: must be between 0 and 10"},
      {"recall_limit a bool", [](Json& j) { j["recall_limit"] = true; },
       "recall_limit: must be an integer"},

      // services
      {"services missing", [](Json& j) { j.erase("services"); }, "services: is required"},
      {"services empty", [](Json& j) { j["services"] = Json::array(); },
       "services: must not be empty"},
      {"services an object", [](Json& j) { j["services"] = Json::object(); },
       "services: must be an array"},
      {"too many services",
       [](Json& j) {
         j["services"] = Json::array();
         for (const auto& code : all_service_codes()) {
           j["services"].push_back({{"code", code}, {"name", "x"}});
         }
         j["services"].push_back({{"code", "A"}, {"name", "x"}});
       },
       "services: must have at most 702 entries"},
      {"service not an object", [](Json& j) { j["services"][1] = "B"; },
       "services[1]: must be an object"},
      {"service unknown key", [](Json& j) { j["services"][0]["colour"] = "red"; },
       "services[0].colour: unknown key"},
      {"service code missing", [](Json& j) { j["services"][2].erase("code"); },
       "services[2].code: is required"},
      {"service code lower case", [](Json& j) { j["services"][1]["code"] = "b"; },
       "services[1].code: must match [A-Z]{1,2}"},
      {"service code three letters", [](Json& j) { j["services"][1]["code"] = "ABC"; },
       "services[1].code: must match [A-Z]{1,2}"},
      {"service code a number", [](Json& j) { j["services"][1]["code"] = 1; },
       "services[1].code: must be a string"},
      {"service code repeated", [](Json& j) { j["services"][1]["code"] = "A"; },
       "services[1].code: duplicate code \"A\""},
      {"service name missing", [](Json& j) { j["services"][0].erase("name"); },
       "services[0].name: is required"},
      {"service name empty", [](Json& j) { j["services"][0]["name"] = ""; },
       "services[0].name: must not be empty"},
      {"service name too long", [](Json& j) { j["services"][0]["name"] = repeat("名", 51); },
       "services[0].name: must be at most 50 characters"},
      {"max_wait_min zero", [](Json& j) { j["services"][0]["max_wait_min"] = 0; },
       "services[0].max_wait_min: must be between 1 and 1440"},
      {"max_wait_min over a day", [](Json& j) { j["services"][1]["max_wait_min"] = 1441; },
       "services[1].max_wait_min: must be between 1 and 1440"},
      {"max_wait_min fractional", [](Json& j) { j["services"][1]["max_wait_min"] = 2.5; },
       "services[1].max_wait_min: must be an integer"},
      {"avg_service_min zero", [](Json& j) { j["services"][0]["avg_service_min"] = 0; },
       "services[0].avg_service_min: must be greater than 0 and at most 240"},
      {"avg_service_min negative", [](Json& j) { j["services"][0]["avg_service_min"] = -3; },
       "services[0].avg_service_min: must be greater than 0 and at most 240"},
      {"avg_service_min too large", [](Json& j) { j["services"][2]["avg_service_min"] = 240.5; },
       "services[2].avg_service_min: must be greater than 0 and at most 240"},
      {"avg_service_min a string", [](Json& j) { j["services"][0]["avg_service_min"] = "5"; },
       "services[0].avg_service_min: must be a number"},
      {"enabled a string", [](Json& j) { j["services"][2]["enabled"] = "yes"; },
       "services[2].enabled: must be true or false"},
      {"enabled a number", [](Json& j) { j["services"][2]["enabled"] = 1; },
       "services[2].enabled: must be true or false"},

      // counters
      {"counters missing", [](Json& j) { j.erase("counters"); }, "counters: is required"},
      {"counters empty", [](Json& j) { j["counters"] = Json::array(); },
       "counters: must not be empty"},
      {"too many counters",
       [](Json& j) {
         j["counters"] = Json::array();
         for (int i = 1; i <= 501; ++i) {
           j["counters"].push_back({{"id", std::to_string(i)}, {"services", {"A"}}});
         }
       },
       "counters: must have at most 500 entries"},
      {"counter not an object", [](Json& j) { j["counters"][0] = 1; },
       "counters[0]: must be an object"},
      {"counter unknown key", [](Json& j) { j["counters"][1]["floor"] = 2; },
       "counters[1].floor: unknown key"},
      {"counter id missing", [](Json& j) { j["counters"][1].erase("id"); },
       "counters[1].id: is required"},
      {"counter id with a space", [](Json& j) { j["counters"][1]["id"] = "7 号"; },
       "counters[1].id: must match [A-Za-z0-9-]{1,16}"},
      {"counter id too long", [](Json& j) { j["counters"][1]["id"] = repeat("1", 17); },
       "counters[1].id: must match [A-Za-z0-9-]{1,16}"},
      {"counter id a number", [](Json& j) { j["counters"][1]["id"] = 2; },
       "counters[1].id: must be a string"},
      {"counter id repeated", [](Json& j) { j["counters"][1]["id"] = "1"; },
       "counters[1].id: duplicate id \"1\""},
      {"counter name empty", [](Json& j) { j["counters"][0]["name"] = ""; },
       "counters[0].name: must not be empty"},
      {"counter services missing", [](Json& j) { j["counters"][0].erase("services"); },
       "counters[0].services: is required"},
      {"counter services empty", [](Json& j) { j["counters"][1]["services"] = Json::array(); },
       "counters[1].services: must not be empty"},
      {"counter services a string", [](Json& j) { j["counters"][1]["services"] = "B"; },
       "counters[1].services: must be an array"},
      {"counter unknown service", [](Json& j) { j["counters"][1]["services"][0] = "Z"; },
       "counters[1].services[0]: unknown service \"Z\""},
      {"counter service not a string", [](Json& j) { j["counters"][1]["services"][1] = 3; },
       "counters[1].services[1]: must be a string"},
      {"counter service repeated", [](Json& j) { j["counters"][1]["services"][1] = "B"; },
       "counters[1].services[1]: duplicate service \"B\""},
      {"counter backup a string", [](Json& j) { j["counters"][0]["backup"] = "C"; },
       "counters[0].backup: must be an array"},
      {"counter backup unknown", [](Json& j) { j["counters"][0]["backup"][0] = "Q"; },
       "counters[0].backup[0]: unknown service \"Q\""},
      {"counter backup also main", [](Json& j) { j["counters"][0]["backup"].push_back("A"); },
       "counters[0].backup[1]: service \"A\" is already a main service"},
      {"counter backup repeated", [](Json& j) { j["counters"][0]["backup"].push_back("C"); },
       "counters[0].backup[1]: duplicate service \"C\""},

      // devices
      {"devices missing", [](Json& j) { j.erase("devices"); }, "devices: is required"},
      {"devices an object", [](Json& j) { j["devices"] = Json::object(); },
       "devices: must be an array"},
      {"too many devices",
       [](Json& j) {
         j["devices"] = Json::array();
         for (int i = 0; i <= 2000; ++i) {
           j["devices"].push_back({{"id", "d-" + std::to_string(i)}, {"kind", "display"}});
         }
       },
       "devices: must have at most 2000 entries"},
      {"device not an object", [](Json& j) { j["devices"][0] = Json::array(); },
       "devices[0]: must be an object"},
      {"device unknown key", [](Json& j) { j["devices"][5]["note"] = "x"; },
       "devices[5].note: unknown key"},
      {"device id missing", [](Json& j) { j["devices"][0].erase("id"); },
       "devices[0].id: is required"},
      {"device id upper case", [](Json& j) { j["devices"][0]["id"] = "Kiosk-1"; },
       "devices[0].id: must match [a-z0-9-]{1,32}"},
      {"device id too long", [](Json& j) { j["devices"][0]["id"] = repeat("k", 33); },
       "devices[0].id: must match [a-z0-9-]{1,32}"},
      {"device id repeated", [](Json& j) { j["devices"][3]["id"] = "kiosk-1"; },
       "devices[3].id: duplicate id \"kiosk-1\""},
      {"device kind missing", [](Json& j) { j["devices"][0].erase("kind"); },
       "devices[0].kind: is required"},
      {"device kind unknown", [](Json& j) { j["devices"][0]["kind"] = "printer"; },
       "devices[0].kind: unknown kind \"printer\""},
      {"device kind in another case", [](Json& j) { j["devices"][0]["kind"] = "Kiosk"; },
       "devices[0].kind: unknown kind \"Kiosk\""},
      {"device kind a number", [](Json& j) { j["devices"][0]["kind"] = 1; },
       "devices[0].kind: must be a string"},
      {"counter device without counter", [](Json& j) { j["devices"][1].erase("counter"); },
       "devices[1].counter: is required for kind \"counter\""},
      {"rating device without counter", [](Json& j) { j["devices"][2].erase("counter"); },
       "devices[2].counter: is required for kind \"rating\""},
      {"counter device naming no counter", [](Json& j) { j["devices"][1]["counter"] = "9"; },
       "devices[1].counter: unknown counter \"9\""},
      {"rating device naming no counter", [](Json& j) { j["devices"][2]["counter"] = "3"; },
       "devices[2].counter: unknown counter \"3\""},
      {"device counter a number", [](Json& j) { j["devices"][1]["counter"] = 1; },
       "devices[1].counter: must be a string"},
      {"kiosk with a counter", [](Json& j) { j["devices"][0]["counter"] = "1"; },
       "devices[0].counter: not allowed for kind \"kiosk\""},
      {"display with a counter", [](Json& j) { j["devices"][3]["counter"] = "1"; },
       "devices[3].counter: not allowed for kind \"display\""},
      {"people counter with a counter", [](Json& j) { j["devices"][4]["counter"] = "1"; },
       "devices[4].counter: not allowed for kind \"people_counter\""},
      {"environment sensor with a counter", [](Json& j) { j["devices"][5]["counter"] = "2"; },
       "devices[5].counter: not allowed for kind \"environment\""},
      {"staff device with a counter",
       [](Json& j) {
         j["devices"].push_back({{"id", "staff-1"}, {"kind", "staff"}, {"counter", "1"}});
       },
       "devices[6].counter: not allowed for kind \"staff\""},
  };
  REQUIRE(cases.size() >= 25);

  for (const auto& bad : cases) {
    Json j = example();
    bad.change(j);
    auto config = parse_hall_config(j.dump());
    INFO(bad.what);
    REQUIRE_FALSE(config.has_value());
    INFO(config.error().message);
    CHECK(config.error().message.starts_with(bad.expected));
  }
}

TEST_CASE("text that is not one JSON object is refused", "[protocol][hall_config]") {
  struct Raw {
    std::string text;
    const char* expected;
  };
  std::string example_text = kArchitectureExample;
  std::string duplicate_top = "{\"hall\": \"x\", " + example_text.substr(1);
  std::string duplicate_nested = example_text;
  duplicate_nested.replace(duplicate_nested.find("\"services\": [\"B\", \"C\"]"), 0,
                           "\"services\": [\"B\"], ");
  const std::vector<Raw> cases = {
      {"", "invalid JSON"},
      {"not json", "invalid JSON"},
      {example_text + " {}", "invalid JSON"},
      {example_text.substr(0, example_text.size() - 1), "invalid JSON"},
      {"\"\xff\"", "invalid JSON"},
      {"[]", "top level: must be a JSON object"},
      {"42", "top level: must be a JSON object"},
      {"null", "top level: must be a JSON object"},
      {duplicate_top, "hall: duplicate key"},
      {duplicate_nested, "counters[1].services: duplicate key"},
      {std::string(kMaxHallConfigBytes + 1, ' '), "larger than 1048576 bytes"},
  };
  for (const auto& raw : cases) {
    auto config = parse_hall_config(raw.text);
    INFO(raw.text.substr(0, 80));
    REQUIRE_FALSE(config.has_value());
    INFO(config.error().message);
    CHECK(config.error().message.starts_with(raw.expected));
  }
}

TEST_CASE("device kinds round-trip through their wire names", "[protocol][hall_config]") {
  const std::vector<std::pair<DeviceKind, std::string_view>> kinds = {
      {DeviceKind::kKiosk, "kiosk"},
      {DeviceKind::kCounter, "counter"},
      {DeviceKind::kRating, "rating"},
      {DeviceKind::kDisplay, "display"},
      {DeviceKind::kPeopleCounter, "people_counter"},
      {DeviceKind::kEnvironment, "environment"},
      {DeviceKind::kStaff, "staff"},
  };
  for (const auto& [kind, name] : kinds) {
    CHECK(to_string(kind) == name);
    CHECK(device_kind_from_string(name) == kind);
  }
  CHECK_FALSE(device_kind_from_string("").has_value());
  CHECK_FALSE(device_kind_from_string("Kiosk").has_value());
  CHECK_FALSE(device_kind_from_string("people-counter").has_value());
}

TEST_CASE("find helpers look up by id or return null", "[protocol][hall_config]") {
  auto config = parse_hall_config(kArchitectureExample);
  REQUIRE(config.has_value());

  REQUIRE(config->find_service("B") != nullptr);
  CHECK(config->find_service("B")->name == "不动产登记");
  CHECK(config->find_service("Z") == nullptr);
  CHECK(config->find_service("") == nullptr);

  REQUIRE(config->find_counter("2") != nullptr);
  CHECK(config->find_counter("2")->name == "2号窗口");
  CHECK(config->find_counter("3") == nullptr);

  REQUIRE(config->find_device("rating-1") != nullptr);
  CHECK(config->find_device("rating-1")->kind == DeviceKind::kRating);
  CHECK(config->find_device("rating-2") == nullptr);

  CHECK(config->has_priority_class("pregnant"));
  CHECK_FALSE(config->has_priority_class("military"));
  CHECK_FALSE(config->has_priority_class(""));
}

TEST_CASE("loading a missing hall config names the path", "[protocol][hall_config]") {
  test::TempDir dir;
  auto path = dir / "no-such-hall.json";
  auto config = load_hall_config(path);
  REQUIRE_FALSE(config.has_value());
  CHECK(config.error().message.find(path.string()) != std::string::npos);
  CHECK(config.error().message.find("No such file") != std::string::npos);
}

TEST_CASE("loading refuses directories, oversized and invalid files", "[protocol][hall_config]") {
  test::TempDir dir;

  auto not_a_file = load_hall_config(dir.path());
  REQUIRE_FALSE(not_a_file.has_value());
  CHECK(not_a_file.error().message == dir.path().string() + ": not a regular file");

  auto big = dir / "big.json";
  write_file(big, std::string(kMaxHallConfigBytes + 1, ' '));
  auto too_big = load_hall_config(big);
  REQUIRE_FALSE(too_big.has_value());
  CHECK(too_big.error().message == big.string() + ": larger than 1048576 bytes");

  auto bad = dir / "bad.json";
  Json j = example();
  j["counters"][1]["services"][0] = "Z";
  write_file(bad, j.dump(2));
  auto invalid = load_hall_config(bad);
  REQUIRE_FALSE(invalid.has_value());
  CHECK(invalid.error().message ==
        bad.string() + ": counters[1].services[0]: unknown service \"Z\"");
}

TEST_CASE("the shipped example hall config loads", "[protocol][hall_config]") {
  auto config = load_hall_config(YIBAN_SOURCE_DIR "/deploy/examples/hall.json");
  INFO((config ? std::string() : config.error().message));
  REQUIRE(config.has_value());
  CHECK(config->hall == "qd-sn-01");
  CHECK(config->region == "370202");
  CHECK(config->timezone == "Asia/Shanghai");
  CHECK(config->capacity == 300);
  CHECK(config->recall_limit == 2);
  CHECK(config->priority_classes ==
        std::vector<std::string>{"elderly", "disabled", "pregnant", "military"});
  CHECK(config->services.size() == 9);
  CHECK(config->counters.size() == 14);
  CHECK(config->devices.size() == 3 + 14 + 14 + 2 + 2 + 2);

  REQUIRE(config->find_service("I") != nullptr);
  CHECK(config->find_service("I")->name == "综合受理");
  for (const auto& counter : config->counters) {
    INFO(counter.id);
    CHECK(!counter.services.empty());
    CHECK(counter.services.size() <= 3);
    const auto* terminal = config->find_device("counter-" + counter.id);
    REQUIRE(terminal != nullptr);
    CHECK(terminal->kind == DeviceKind::kCounter);
    CHECK(terminal->counter == counter.id);
    const auto* rating = config->find_device("rating-" + counter.id);
    REQUIRE(rating != nullptr);
    CHECK(rating->kind == DeviceKind::kRating);
    CHECK(rating->counter == counter.id);
  }
  // Every service is someone's main service.
  for (const auto& service : config->services) {
    INFO(service.code);
    bool served = false;
    for (const auto& counter : config->counters) {
      for (const auto& code : counter.services) served = served || code == service.code;
    }
    CHECK(served);
  }
  for (const char* id : {"kiosk-1", "kiosk-2", "kiosk-3", "display-main", "display-2f", "door-1",
                         "door-2", "env-1", "env-2"}) {
    INFO(id);
    CHECK(config->find_device(id) != nullptr);
  }
}

TEST_CASE("the retention section takes its defaults, its values, and refuses bad ones", "[protocol][hall_config]") {
  auto defaults = parse_hall_config(kMinimal);
  REQUIRE(defaults);
  CHECK(defaults->retention.telemetry_days == 7);
  CHECK(defaults->retention.replies_h == 24);
  CHECK(defaults->retention.outbox_days == 7);
  CHECK(defaults->retention.personal_days == 30);
  CHECK(defaults->retention.case_files_days == 365);
  CHECK(defaults->retention.events_days == 30);
  CHECK(defaults->retention.tickets_days == 400);
  CHECK(defaults->retention.period_s == 300);
  CHECK(defaults->retention.batch_rows == 5000);

  Json j = example();
  j["sensing"] = {{"retention_days", 3}};  // the old name still sets the telemetry window
  auto legacy = parse_hall_config(j.dump());
  REQUIRE(legacy);
  CHECK(legacy->retention.telemetry_days == 3);

  j["retention"] = {{"telemetry_days", 2},  {"replies_h", 6},    {"outbox_days", 3},    {"personal_days", 10},
                    {"case_files_days", 90}, {"events_days", 0}, {"period_s", 60}, {"batch_rows", 1000}};
  auto set = parse_hall_config(j.dump());
  INFO((set ? std::string() : set.error().message));
  REQUIRE(set);
  CHECK(set->retention.telemetry_days == 2);
  CHECK(set->retention.replies_h == 6);
  CHECK(set->retention.outbox_days == 3);
  CHECK(set->retention.personal_days == 10);
  CHECK(set->retention.case_files_days == 90);
  CHECK(set->retention.events_days == 0);
  CHECK(set->retention.period_s == 60);
  CHECK(set->retention.batch_rows == 1000);

  for (auto [key, value, expected] :
       {std::tuple{"telemetry_days", Json(0), "retention.telemetry_days: must be between 1 and 365"},
        std::tuple{"period_s", Json(5), "retention.period_s: must be between 10 and 86400"},
        std::tuple{"batch_rows", Json(10), "retention.batch_rows: must be between 100 and 1000000"},
        std::tuple{"personal_days", Json("30"), "retention.personal_days: must be an integer"},
        std::tuple{"events_days", Json(-1), "retention.events_days: must be between 0 and 36500"},
        std::tuple{"tickets_days", Json(36501), "retention.tickets_days: must be between 0 and 36500"},
        std::tuple{"forever", Json(1), "retention.forever: unknown key"}}) {
    Json bad = example();
    bad["retention"] = {{key, value}};
    auto config = parse_hall_config(bad.dump());
    REQUIRE_FALSE(config.has_value());
    INFO(config.error().message);
    CHECK(config.error().message.starts_with(expected));
  }
  Json not_object = example();
  not_object["retention"] = 30;
  auto config = parse_hall_config(not_object.dump());
  REQUIRE_FALSE(config.has_value());
  CHECK(config.error().message.starts_with("retention: must be an object"));
}

}  // namespace yiban::protocol
