#include "yiban/protocol/telemetry.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "yiban/protocol/requests.h"
#include "yiban/protocol/utf8.h"

namespace yiban::protocol {
namespace {

bool is_metric_name(std::string_view name) {
  if (name.empty() || name.size() > 32) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

}  // namespace

Expected<TelemetrySample> decode_telemetry(std::string_view payload) {
  if (payload.size() > kMaxPayloadBytes) return error("telemetry larger than 16 KiB");
  if (!is_valid_utf8(payload)) return error("telemetry is not valid UTF-8");
  auto j = nlohmann::json::parse(payload, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return error("telemetry is not a JSON object");
  for (const auto& [key, value] : j.items()) {
    if (key != "ts" && key != "metrics") return error("telemetry: unknown field");
  }
  auto ts = j.find("ts");
  if (ts == j.end() || !ts->is_number_integer() || ts->get<std::int64_t>() < 0)
    return error("telemetry.ts: missing or not a non-negative integer (ms)");
  auto metrics = j.find("metrics");
  if (metrics == j.end() || !metrics->is_object()) return error("telemetry.metrics: missing or not an object");
  if (metrics->empty() || metrics->size() > kMaxMetrics) return error("telemetry.metrics: 1 to 32 metrics");
  TelemetrySample out;
  out.ts = ts->get<std::int64_t>();
  for (const auto& [name, value] : metrics->items()) {
    if (!is_metric_name(name)) return error("telemetry.metrics: names must match [a-z0-9_]{1,32}");
    if (!value.is_number()) return error("telemetry.metrics." + name + ": must be a number");
    double v = value.get<double>();
    if (!std::isfinite(v) || std::fabs(v) > kMaxMetricMagnitude)
      return error("telemetry.metrics." + name + ": out of range");
    out.metrics.emplace_back(name, v);
  }
  return out;
}

std::string encode_telemetry(const TelemetrySample& sample) {
  nlohmann::json metrics = nlohmann::json::object();
  for (const auto& [name, value] : sample.metrics) {
    // Counts stay integers on the wire (3, not 3.0).
    if (value == std::trunc(value)) {
      metrics[name] = static_cast<std::int64_t>(value);
    } else {
      metrics[name] = value;
    }
  }
  return nlohmann::json{{"ts", sample.ts}, {"metrics", metrics}}.dump();
}

}  // namespace yiban::protocol
