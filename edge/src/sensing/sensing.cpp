#include "sensing/sensing.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "yiban/protocol/event.h"
#include "yiban/protocol/telemetry.h"

namespace yiban::edge::sensing {
namespace {

using nlohmann::json;
using protocol::DeviceKind;
using protocol::ErrorCode;

using store::internal;

bool reports_periodically(DeviceKind kind) {
  return kind == DeviceKind::kPeopleCounter || kind == DeviceKind::kEnvironment;
}

std::int64_t minute_of(std::int64_t ts) { return ts - ts % Sensing::kMinuteMs; }

}  // namespace

Sensing::Sensing(const protocol::HallConfig& config, const protocol::TimeZone& zone, store::EdgeStore& store,
                 queue::QueueEngine& engine)
    : config_(config), zone_(zone), store_(store), engine_(engine) {}

protocol::Expected<void> Sensing::load(std::int64_t now) {
  devices_.clear();
  for (const auto& d : config_.devices) devices_[d.id].last_heard = now;
  auto marks = store_.summary_marks();
  if (!marks) return std::unexpected(marks.error());
  // The samples to summarize again are those after each sensor's mark, from
  // the last minutes the daemon ran before it stopped. Devices without a mark
  // (kiosks, counters: they send no telemetry) and sensors silent for days
  // must not pull the whole raw window (a year-old hall: 12 M rows, 1 GB and
  // 10 s at start): the read goes back at most kReloadWindowMs before the
  // newest mark. Older unsummarized samples (summaries failing for an hour)
  // stay raw only.
  constexpr std::int64_t kReloadWindowMs = 3600 * 1000;
  std::int64_t oldest_mark = 0, newest_mark = 0;
  for (const auto& [device, until] : *marks) {
    auto it = devices_.find(device);
    if (it == devices_.end()) continue;
    it->second.summarized_until = until;
    oldest_mark = oldest_mark == 0 ? until : std::min(oldest_mark, until);
    newest_mark = std::max(newest_mark, until);
  }
  const std::int64_t earliest = newest_mark == 0 ? 0 : std::max(oldest_mark, newest_mark - kReloadWindowMs);
  auto samples = store_.samples_since(earliest);
  if (!samples) return std::unexpected(samples.error());
  for (const auto& s : *samples) {
    auto it = devices_.find(s.device);
    if (it == devices_.end() || s.received_ts < it->second.summarized_until) continue;
    auto j = json::parse(s.metrics_json, nullptr, false);
    if (!j.is_object()) continue;
    std::vector<std::pair<std::string, double>> metrics;
    for (const auto& [name, value] : j.items()) {
      if (value.is_number()) metrics.emplace_back(name, value.get<double>());
    }
    aggregate(it->second, s.received_ts, metrics);
  }
  auto occupancy = store_.get_meta("occupancy");
  auto day = store_.get_meta("occupancy_day");
  if (!occupancy) return std::unexpected(occupancy.error());
  if (!day) return std::unexpected(day.error());
  occupancy_day_ = *day ? std::atoi((*day)->c_str()) : 0;
  occupancy_ = (*occupancy && occupancy_day_ == zone_.local_day(now)) ? std::atoi((*occupancy)->c_str()) : 0;
  return {};
}

void Sensing::heard(std::string_view device, std::int64_t now) {
  auto it = devices_.find(device);
  if (it != devices_.end()) it->second.last_heard = std::max(it->second.last_heard, now);
}

bool Sensing::take_token(DeviceState& state, std::int64_t now) {
  const double rate = config_.sensing.max_rate_hz;
  const double burst = 2 * rate;
  if (state.tokens_at == 0) state.tokens = burst;
  state.tokens = std::min(burst, state.tokens + rate * static_cast<double>(std::max<std::int64_t>(0, now - state.tokens_at)) / 1000.0);
  state.tokens_at = now;
  if (state.tokens < 1.0) return false;
  state.tokens -= 1.0;
  return true;
}

void Sensing::aggregate(DeviceState& state, std::int64_t received_ts,
                        const std::vector<std::pair<std::string, double>>& metrics) {
  Minute& minute = state.minutes[minute_of(received_ts)];
  minute.samples += 1;
  for (const auto& [name, value] : metrics) {
    auto& m = minute.metrics[name];
    if (m.count == 0) {
      m.min = m.max = value;
    } else {
      m.min = std::min(m.min, value);
      m.max = std::max(m.max, value);
    }
    m.sum += value;
    m.last = value;
    m.count += 1;
  }
}

Result<void> Sensing::apply_door_counts(const std::vector<std::pair<std::string, double>>& metrics,
                                        std::int64_t now) {
  double in = 0;
  double out = 0;
  for (const auto& [name, value] : metrics) {
    if (name == "people_in" && value > 0) in += value;
    if (name == "people_out" && value > 0) out += value;
  }
  if (in == 0 && out == 0) return {};
  int today = zone_.local_day(now);
  if (today != occupancy_day_) {
    occupancy_ = 0;
    occupancy_day_ = today;
  }
  occupancy_ = std::max(0, occupancy_ + static_cast<int>(in) - static_cast<int>(out));
  if (auto ok = store_.set_meta("occupancy", std::to_string(occupancy_)); !ok) return internal(ok.error());
  if (auto ok = store_.set_meta("occupancy_day", std::to_string(occupancy_day_)); !ok) return internal(ok.error());
  return {};
}

Result<Sensing::Outcome> Sensing::ingest(std::string_view device, std::string_view payload, std::int64_t now) {
  const auto* config = config_.find_device(device);
  auto it = devices_.find(device);
  if (!config || it == devices_.end()) return Outcome::kUnknownDevice;
  DeviceState& state = it->second;
  DeviceStats& stats = stats_[std::string(device)];
  if (!take_token(state, now)) {
    if (stats.limited++ % 100 == 0)
      spdlog::warn("device {}: telemetry over {} samples/s, dropping ({} dropped so far)", device,
                   config_.sensing.max_rate_hz, stats.limited);
    return Outcome::kRateLimited;
  }
  auto sample = protocol::decode_telemetry(payload);
  if (!sample) {
    if (stats.bad++ % 100 == 0)
      spdlog::warn("device {}: bad telemetry dropped ({} so far): {}", device, stats.bad, sample.error().message);
    return Outcome::kBadSample;
  }
  heard(device, now);
  json metrics = json::object();
  for (const auto& [name, value] : sample->metrics) metrics[name] = value;
  if (auto ok = store_.insert_sample(device, now, sample->ts, metrics.dump()); !ok) return internal(ok.error());
  if (config->kind == DeviceKind::kPeopleCounter) {
    if (auto ok = apply_door_counts(sample->metrics, now); !ok) return std::unexpected(ok.error());
  }
  // A minute already summarized (clock stepped back) still gets a summary of its own later samples.
  aggregate(state, std::max(now, state.summarized_until), sample->metrics);
  for (const auto& [name, value] : sample->metrics) state.latest[name] = value;
  stats.stored += 1;
  return Outcome::kStored;
}

Result<void> Sensing::flush_minute(const std::string& device, DeviceState& state, std::int64_t minute) {
  const Minute& m = state.minutes.at(minute);
  json metrics = json::object();
  for (const auto& [name, a] : m.metrics) {
    metrics[name] = {{"min", a.min}, {"max", a.max}, {"avg", a.sum / static_cast<double>(a.count)}, {"last", a.last}};
  }
  const auto* config = config_.find_device(device);
  json data{{"device", device},
            {"kind", config ? protocol::to_string(config->kind) : "unknown"},
            {"minute_ts", minute},
            {"samples", m.samples},
            {"metrics", metrics}};
  if (config && config->kind == DeviceKind::kPeopleCounter) data["occupancy"] = occupancy_;
  if (auto seq = store_.append_event(minute + kMinuteMs, protocol::event_type::kTelemetrySummary, data.dump()); !seq)
    return internal(seq.error());
  state.summarized_until = minute + kMinuteMs;
  if (auto ok = store_.save_summary_mark(device, state.summarized_until); !ok) return internal(ok.error());
  state.minutes.erase(minute);
  return {};
}

Result<int> Sensing::tick(std::int64_t now) {
  int written = 0;
  if (zone_.local_day(now) != occupancy_day_ && occupancy_ != 0) {
    occupancy_ = 0;
    occupancy_day_ = zone_.local_day(now);
    if (auto ok = store_.set_meta("occupancy", "0"); !ok) return internal(ok.error());
    if (auto ok = store_.set_meta("occupancy_day", std::to_string(occupancy_day_)); !ok)
      return internal(ok.error());
  }
  const std::int64_t silence_ms = static_cast<std::int64_t>(config_.sensing.liveness_s) * 1000;
  for (auto& [device, state] : devices_) {
    while (!state.minutes.empty() && state.minutes.begin()->first + kMinuteMs + kSummaryGraceMs <= now) {
      if (auto ok = flush_minute(device, state, state.minutes.begin()->first); !ok) return std::unexpected(ok.error());
      ++written;
    }
    const auto* config = config_.find_device(device);
    if (!config || !reports_periodically(config->kind)) continue;  // others: their will tells
    bool silent = now - state.last_heard > silence_ms;
    auto online = engine_.device_online(device);
    if (silent && online == true) {
      auto changed = engine_.set_device_presence(device, false, std::nullopt, now, "silent");
      if (!changed) return std::unexpected(changed.error());
      spdlog::warn("device {} silent for {} s: reported offline", device, (now - state.last_heard) / 1000);
      ++written;
    } else if (!silent && online != true && state.last_heard > 0 && stats_[device].stored > 0) {
      auto changed = engine_.set_device_presence(device, true, std::nullopt, now, "heard");
      if (!changed) return std::unexpected(changed.error());
      spdlog::info("device {} heard again: online", device);
      ++written;
    }
  }
  return written;
}

std::optional<double> Sensing::latest(std::string_view device, const std::string& metric) const {
  auto it = devices_.find(device);
  if (it == devices_.end()) return std::nullopt;
  auto m = it->second.latest.find(metric);
  if (m == it->second.latest.end()) return std::nullopt;
  return m->second;
}

Result<int> Sensing::purge(std::int64_t now) {
  const std::int64_t keep_ms = static_cast<std::int64_t>(config_.sensing.retention_days) * 24 * 3600 * 1000;
  auto purged = store_.purge_samples(now - keep_ms, 10000);
  if (!purged) return internal(purged.error());
  return *purged;
}

}  // namespace yiban::edge::sensing
