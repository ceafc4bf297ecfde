#include "alerts/alert_engine.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "yiban/protocol/event.h"

namespace yiban::edge::alerts {
namespace {

using nlohmann::json;
using protocol::ErrorCode;
using protocol::fail;
namespace ev = protocol::event_type;

using store::internal;

std::string key_of(const std::string& rule, const std::string& subject) { return rule + "/" + subject; }

// Follow-ups are closed by staff, never by a condition clearing.
bool is_follow_up(const std::string& rule) {
  return rule == "bad_rating" || rule == "help" || rule == "special_need";
}

}  // namespace

AlertEngine::AlertEngine(const protocol::HallConfig& config, store::EdgeStore& store)
    : config_(config), store_(store) {}

protocol::Expected<void> AlertEngine::load() {
  auto rows = store_.open_alerts();
  if (!rows) return std::unexpected(rows.error());
  open_ = std::move(*rows);
  trackers_.clear();
  changed_ = true;
  return {};
}

bool AlertEngine::take_changed() { return std::exchange(changed_, false); }

store::AlertRow* AlertEngine::find_open(const std::string& rule, const std::string& subject) {
  auto it = std::find_if(open_.begin(), open_.end(),
                         [&](const store::AlertRow& a) { return a.rule == rule && a.subject == subject; });
  return it == open_.end() ? nullptr : &*it;
}

store::AlertRow* AlertEngine::find_open(const std::string& id) {
  auto it = std::find_if(open_.begin(), open_.end(), [&](const store::AlertRow& a) { return a.id == id; });
  return it == open_.end() ? nullptr : &*it;
}

Result<void> AlertEngine::save(const store::AlertRow& row, std::string_view event_type, const std::string& data_json,
                               std::int64_t now) {
  if (auto ok = store_.save_alert(row); !ok) return internal(ok.error());
  if (auto seq = store_.append_event(now, event_type, data_json); !seq) return internal(seq.error());
  changed_ = true;
  return {};
}

Result<std::string> AlertEngine::raise(const std::string& rule, const std::string& subject,
                                       const std::string& message, int business_day, std::int64_t now,
                                       const std::string& shared_message) {
  if (auto* existing = find_open(rule, subject)) return existing->id;
  auto n = store_.next_number(business_day, "#alert");
  if (!n) return internal(n.error());
  store::AlertRow row;
  row.id = config_.hall + ":" + std::to_string(business_day) + ":AL" + std::to_string(*n);
  row.rule = rule;
  row.subject = subject;
  row.severity = "warning";
  row.state = "raised";
  row.message = message;
  row.raised_ts = now;
  json data{{"alert", row.id}, {"rule", rule}, {"subject", subject}, {"severity", row.severity},
            {"message", shared_message.empty() ? message : shared_message}};
  if (auto ok = save(row, ev::kAlertRaised, data.dump(), now); !ok) return std::unexpected(ok.error());
  spdlog::warn("alert {} raised: {} ({})", row.id, message, rule);
  open_.push_back(row);
  return row.id;
}

Result<store::AlertRow> AlertEngine::acknowledge(const std::string& id, const std::string& by, std::int64_t now) {
  auto* a = find_open(id);
  if (!a) return fail(ErrorCode::kBadRequest, "alert: no open alert \"" + id + "\"");
  if (a->state == "acknowledged") return *a;
  store::AlertRow row = *a;
  row.state = "acknowledged";
  row.acked_ts = now;
  row.acked_by = by;
  json data{{"alert", id}, {"by", by}};
  if (auto ok = save(row, ev::kAlertAcknowledged, data.dump(), now); !ok) return std::unexpected(ok.error());
  *a = row;
  return row;
}

Result<store::AlertRow> AlertEngine::resolve(const std::string& id, const std::string& by,
                                             const std::optional<std::string>& note, std::int64_t now) {
  auto* a = find_open(id);
  if (!a) return fail(ErrorCode::kBadRequest, "alert: no open alert \"" + id + "\"");
  store::AlertRow row = *a;
  row.state = "resolved";
  row.resolved_ts = now;
  row.resolved_by = by;
  json data{{"alert", id}, {"by", by}};
  if (note) data["note"] = *note;
  if (auto ok = save(row, ev::kAlertResolved, data.dump(), now); !ok) return std::unexpected(ok.error());
  spdlog::info("alert {} resolved by {}", id, by);
  // Resolved by hand while its condition still holds: it may come back,
  // but only after holding hold_s again.
  if (!is_follow_up(row.rule) && by != "system") trackers_[key_of(row.rule, row.subject)] = {true, now};
  open_.erase(open_.begin() + (a - open_.data()));
  return row;
}

Result<void> AlertEngine::resolve_subject(const std::string& rule, const std::string& subject, const std::string& by,
                                          std::int64_t now) {
  auto* a = find_open(rule, subject);
  if (!a) return {};
  auto r = resolve(a->id, by, std::nullopt, now);
  if (!r) return std::unexpected(r.error());
  return {};
}

Result<int> AlertEngine::evaluate(const std::vector<Condition>& conditions, int business_day, std::int64_t now) {
  const std::int64_t hold_ms = static_cast<std::int64_t>(config_.alerts.hold_s) * 1000;
  const std::int64_t clear_ms = static_cast<std::int64_t>(config_.alerts.clear_s) * 1000;
  int transitions = 0;
  std::set<std::string> seen;
  auto track = [&](const std::string& key, bool holds) -> Tracker& {
    auto [it, inserted] = trackers_.try_emplace(key, Tracker{holds, now});
    if (!inserted && it->second.holds != holds) it->second = {holds, now};
    return it->second;
  };
  for (const auto& c : conditions) {
    std::string key = key_of(c.rule, c.subject);
    seen.insert(key);
    Tracker& t = track(key, c.holds);
    auto* open = find_open(c.rule, c.subject);
    if (c.holds && !open && now - t.since >= hold_ms) {
      auto raised = raise(c.rule, c.subject, c.message, business_day, now);
      if (!raised) return std::unexpected(raised.error());
      ++transitions;
    } else if (!c.holds && open && now - t.since >= clear_ms) {
      auto resolved = resolve(open->id, "system", std::nullopt, now);
      if (!resolved) return std::unexpected(resolved.error());
      ++transitions;
    }
  }
  // A condition alert whose condition is no longer reported at all (its
  // device or service left the config) counts as clear.
  std::vector<std::string> gone;
  for (const auto& a : open_) {
    if (!is_follow_up(a.rule) && !seen.contains(key_of(a.rule, a.subject))) gone.push_back(a.id);
  }
  for (const auto& id : gone) {
    auto* a = find_open(id);
    Tracker& t = track(key_of(a->rule, a->subject), false);
    if (now - t.since < clear_ms) continue;
    if (auto r = resolve(id, "system", std::nullopt, now); !r) return std::unexpected(r.error());
    ++transitions;
  }
  return transitions;
}

Result<int> AlertEngine::escalate(std::int64_t now) {
  int escalated = 0;
  for (auto& a : open_) {
    if (a.severity == "critical") continue;
    std::string reason;
    const std::int64_t age_ms = now - a.raised_ts;
    if (a.rule == "help" && age_ms >= static_cast<std::int64_t>(config_.alerts.help_unanswered_s) * 1000) {
      reason = "unanswered";
    } else if (a.rule == "bad_rating" && a.state == "raised" &&
               age_ms >= static_cast<std::int64_t>(config_.alerts.rating_ack_s) * 1000) {
      reason = "not_acknowledged";
    } else if (a.rule == "bad_rating" && age_ms >= static_cast<std::int64_t>(config_.alerts.rating_resolve_s) * 1000) {
      reason = "not_resolved";
    }
    if (reason.empty()) continue;
    store::AlertRow row = a;
    row.severity = "critical";
    json data{{"alert", a.id}, {"severity", "critical"}, {"reason", reason}};
    if (auto ok = save(row, ev::kAlertEscalated, data.dump(), now); !ok) return std::unexpected(ok.error());
    spdlog::warn("alert {} escalated to critical: {}", a.id, reason);
    a = row;
    ++escalated;
  }
  return escalated;
}

}  // namespace yiban::edge::alerts
