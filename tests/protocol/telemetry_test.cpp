#include "yiban/protocol/telemetry.h"

#include <catch2/catch.hpp>

using yiban::protocol::decode_telemetry;

TEST_CASE("telemetry samples decode strictly", "[protocol][telemetry]") {
  auto ok = decode_telemetry(R"({"ts":1764141802123,"metrics":{"people_in":3,"temp_c":22.5}})");
  REQUIRE(ok);
  CHECK(ok->ts == 1764141802123);
  REQUIRE(ok->metrics.size() == 2);
  CHECK(ok->metrics[0].first == "people_in");
  CHECK(ok->metrics[1].second == Approx(22.5));
  auto again = decode_telemetry(yiban::protocol::encode_telemetry(*ok));
  REQUIRE(again);
  CHECK(again->metrics == ok->metrics);

  const std::vector<std::pair<std::string, std::string>> bad{
      {"not json", "JSON object"},
      {"[]", "JSON object"},
      {R"({"metrics":{"a":1}})", "telemetry.ts"},
      {R"({"ts":-1,"metrics":{"a":1}})", "telemetry.ts"},
      {R"({"ts":1.5,"metrics":{"a":1}})", "telemetry.ts"},
      {R"({"ts":1})", "telemetry.metrics"},
      {R"({"ts":1,"metrics":{}})", "1 to 32"},
      {R"({"ts":1,"metrics":{"a":"1"}})", "must be a number"},
      {R"({"ts":1,"metrics":{"a":1e12}})", "out of range"},
      {R"({"ts":1,"metrics":{"Temp":1}})", "[a-z0-9_]"},
      {R"({"ts":1,"metrics":{"a":1},"x":2})", "unknown field"},
      {"{\"ts\":1,\"metrics\":{\"a\":1}}\xff", "UTF-8"},
      {std::string(17 * 1024, ' '), "16 KiB"},
  };
  for (const auto& [payload, fragment] : bad) {
    auto r = decode_telemetry(payload);
    INFO(payload.substr(0, 60));
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains(fragment));
  }
  std::string many = R"({"ts":1,"metrics":{)";
  for (int i = 0; i < 33; ++i) many += (i ? "," : "") + std::string("\"m") + std::to_string(i) + "\":1";
  many += "}}";
  CHECK_FALSE(decode_telemetry(many));
}
