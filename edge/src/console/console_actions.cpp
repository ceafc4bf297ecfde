#include "console/console_actions.h"

#include <nlohmann/json.hpp>

#include "alerts/alert_engine.h"
#include "queue/queue_engine.h"
#include "store/edge_store.h"
#include "yiban/protocol/event.h"

namespace yiban::edge::console {
namespace {

using nlohmann::json;
using protocol::ErrorCode;

json alert_json(const store::AlertRow& a) {
  return json{{"id", a.id},
              {"rule", a.rule},
              {"subject", a.subject},
              {"severity", a.severity},
              {"state", a.state},
              {"message", a.message},
              {"raised_ts", a.raised_ts},
              {"acked_ts", a.acked_ts ? json(*a.acked_ts) : json()},
              {"acked_by", a.acked_by ? json(*a.acked_by) : json()},
              {"resolved_ts", a.resolved_ts ? json(*a.resolved_ts) : json()},
              {"resolved_by", a.resolved_by ? json(*a.resolved_by) : json()}};
}

}  // namespace

Result error_result(int status, std::string_view code, std::string_view message) {
  return {status, json{{"error", {{"code", code}, {"message", message}}}}.dump(-1, ' ', false,
                                                                                json::error_handler_t::replace)};
}

Result failure_result(const protocol::Failure& failure) {
  int status = 400;
  switch (failure.code) {
    case ErrorCode::kInvalidState:
    case ErrorCode::kCounterClosed:
    case ErrorCode::kServiceClosed:
    case ErrorCode::kQueueEmpty:
    case ErrorCode::kNoCurrentTicket:
      status = 409;
      break;
    case ErrorCode::kInternal:
      status = 500;
      break;
    case ErrorCode::kNotAllowed:
      status = 403;
      break;
    default:
      status = 400;
  }
  return error_result(status, protocol::to_string(failure.code), failure.message);
}

std::string counter_body(const queue::QueueEngine& engine, const std::string& id) {
  const auto* config = engine.config().find_counter(id);
  auto view = engine.counter_view(id);
  json c{{"counter", id},
         {"name", config ? config->name : ""},
         {"state", view ? view->state : "closed"},
         {"services", config ? config->services : std::vector<std::string>{}},
         {"backup", config ? config->backup : std::vector<std::string>{}},
         {"ticket", json()}};
  if (view && view->current_ticket) {
    const auto& t = *view->current_ticket;
    c["ticket"] = json{{"id", t}, {"number", t.substr(t.rfind(':') + 1)}};
  }
  return json{{"counter", c}}.dump();
}

std::string audit_data(const Request& request, bool ok) {
  json data{{"by", request.by}, {"action", request.action}, {"target", request.target}, {"device", "console"},
            {"ok", ok}};
  if (!request.comment.empty()) data["comment"] = request.comment;
  if (request.action == "counter.services") {
    data["services"] = request.services;
    data["backup"] = request.backup;
  }
  return data.dump(-1, ' ', false, json::error_handler_t::replace);
}

Applied apply(const Request& request, queue::QueueEngine& engine, alerts::AlertEngine& alerts,
              store::EdgeStore& store, std::int64_t now) {
  const auto& a = request.action;
  if (a == "counter.open" || a == "counter.pause" || a == "counter.close") {
    if (!engine.config().find_counter(request.target))
      return {error_result(404, "not_found", "no counter \"" + request.target + "\" in this hall"), false};
    const std::int64_t before = store.last_seq();
    auto changed = a == "counter.open"    ? engine.open_counter(request.target, "console", now)
                   : a == "counter.pause" ? engine.pause_counter(request.target, "console", now)
                                          : engine.close_counter(request.target, "console", now);
    if (!changed) return {failure_result(changed.error()), false};
    // Already in that state: nothing happened, nothing to audit.
    if (store.last_seq() == before) return {{200, counter_body(engine, request.target)}, false};
  } else if (a == "alert.ack" || a == "alert.resolve") {
    std::optional<std::string> note;
    if (!request.comment.empty()) note = request.comment;
    auto row = a == "alert.ack" ? alerts.acknowledge(request.target, request.by, now)
                                : alerts.resolve(request.target, request.by, note, now);
    if (!row) {
      if (row.error().message.find("no open alert") != std::string::npos)
        return {error_result(404, "not_found", row.error().message), false};
      return {failure_result(row.error()), false};
    }
    if (auto seq = store.append_event(now, protocol::event_type::kActionPerformed, audit_data(request, true)); !seq)
      return {error_result(500, "internal", "store: " + seq.error().message), true};
    return {{200, json{{"alert", alert_json(*row)}}.dump(-1, ' ', false, json::error_handler_t::replace)}, true};
  } else {
    return {error_result(400, "bad_request", "unknown action " + a), false};
  }
  if (auto seq = store.append_event(now, protocol::event_type::kActionPerformed, audit_data(request, true)); !seq)
    return {error_result(500, "internal", "store: " + seq.error().message), true};
  return {{200, counter_body(engine, request.target)}, true};
}

protocol::Expected<std::string> counter_services_sections(const protocol::HallConfig& config,
                                                          const Request& request) {
  if (!config.find_counter(request.target)) return protocol::error("no counter \"" + request.target + "\"");
  json counters = json::array();
  for (const auto& c : config.counters) {
    json j{{"id", c.id}, {"name", c.name}, {"services", c.services}, {"backup", c.backup}};
    if (c.id == request.target) {
      j["services"] = request.services;
      j["backup"] = request.backup;
    }
    counters.push_back(j);
  }
  return json{{"counters", counters}}.dump();
}

}  // namespace yiban::edge::console
