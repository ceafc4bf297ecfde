#include "store/projector.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <optional>
#include <string>

#include "yiban/protocol/ids.h"

namespace yiban::central::store {
namespace {

using nlohmann::json;
using protocol::Expected;

// Field readers: nullopt/nullptr when the field is missing or of another type.
const std::string* text_field(const json& data, const char* key) {
  auto it = data.find(key);
  if (it == data.end() || !it->is_string()) return nullptr;
  return &it->get_ref<const std::string&>();
}

std::optional<std::string_view> optional_text(const json& data, const char* key) {
  const std::string* s = text_field(data, key);
  if (s == nullptr) return std::nullopt;
  return std::string_view(*s);
}

std::optional<std::int64_t> int_field(const json& data, const char* key) {
  auto it = data.find(key);
  if (it == data.end()) return std::nullopt;
  if (it->is_number_integer()) return it->get<std::int64_t>();
  if (it->is_number_float()) {
    double v = it->get<double>();
    if (std::isfinite(v) && std::fabs(v) < 9e18) return static_cast<std::int64_t>(std::llround(v));
  }
  return std::nullopt;
}

void bind_opt(runtime::Statement& s, int index, std::optional<std::string_view> v) {
  if (v) {
    s.bind(index, *v);
  } else {
    s.bind_null(index);
  }
}

void bind_opt(runtime::Statement& s, int index, std::optional<std::int64_t> v) {
  if (v) {
    s.bind(index, *v);
  } else {
    s.bind_null(index);
  }
}

void skip(std::string_view hall, std::int64_t seq, std::string_view type, std::string_view why) {
  spdlog::debug("hall {} event {} ({}): not projected: {}", hall, seq, type, why);
}

}  // namespace

int china_day_of(std::int64_t ts_ms) {
  // China Standard Time is UTC+8 all year (no daylight saving), so a fixed
  // offset gives the business day without a time-zone database.
  using namespace std::chrono;
  sys_days day = floor<days>(sys_time<milliseconds>(milliseconds(ts_ms) + hours(8)));
  year_month_day ymd(day);
  return static_cast<int>(ymd.year()) * 10000 +
         static_cast<int>(static_cast<unsigned>(ymd.month())) * 100 +
         static_cast<int>(static_cast<unsigned>(ymd.day()));
}

Expected<Projector> Projector::create(runtime::Database& db) {
  Projector p;
  struct Item {
    runtime::Statement* target;
    const char* sql;
  };
  const Item items[] = {
      {&p.insert_ticket_,
       "INSERT INTO tickets(hall, ticket, day, service, number, class, issued_ts, state, recalls, "
       "transfers) "
       "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, 'waiting', 0, 0) ON CONFLICT(hall, ticket) DO NOTHING"},
      // calls in SET and CASE is the value before this call: 0 means first call.
      {&p.call_ticket_,
       "UPDATE tickets SET state = 'called', counter = COALESCE(?3, counter), calls = calls + 1, "
       "waited_ms = CASE WHEN calls = 0 THEN ?5 ELSE waited_ms END, "
       "wait_service = CASE WHEN calls = 0 THEN service ELSE wait_service END, "
       "first_called_ts = CASE WHEN calls = 0 THEN ?4 ELSE first_called_ts END "
       "WHERE hall = ?1 AND ticket = ?2"},
      {&p.recall_ticket_,
       "UPDATE tickets SET recalls = COALESCE(?3, recalls + 1) WHERE hall = ?1 AND ticket = ?2"},
      {&p.serve_ticket_,
       "UPDATE tickets SET state = 'serving', started_ts = ?3, counter = COALESCE(?4, counter) "
       "WHERE hall = ?1 AND ticket = ?2"},
      {&p.complete_ticket_,
       "UPDATE tickets SET state = 'completed', completed_ts = ?3, service_ms = ?4, counter = "
       "COALESCE(?5, counter) "
       "WHERE hall = ?1 AND ticket = ?2"},
      {&p.no_show_ticket_,
       "UPDATE tickets SET state = 'no_show', recalls = COALESCE(?3, recalls), counter = "
       "COALESCE(?4, counter) "
       "WHERE hall = ?1 AND ticket = ?2"},
      {&p.transfer_ticket_,
       "UPDATE tickets SET state = 'waiting', service = COALESCE(?3, service), transfers = "
       "transfers + 1 "
       "WHERE hall = ?1 AND ticket = ?2"},
      {&p.cancel_ticket_, "UPDATE tickets SET state = 'cancelled' WHERE hall = ?1 AND ticket = ?2"},
      // A plain SELECT then UPDATE costs far less than UPDATE … RETURNING in SQLite.
      {&p.ticket_info_, "SELECT day, service, calls FROM tickets WHERE hall = ?1 AND ticket = ?2"},
      {&p.counter_set_ticket_,
       "INSERT INTO counters(hall, counter, state, ticket, since_ts) VALUES(?1, ?2, 'open', ?3, "
       "?4) "
       "ON CONFLICT(hall, counter) DO UPDATE SET ticket = excluded.ticket"},
      {&p.counter_clear_ticket_,
       "UPDATE counters SET ticket = NULL WHERE hall = ?1 AND ticket = ?2"},
      {&p.counter_clear_ticket_at_,
       "UPDATE counters SET ticket = NULL WHERE hall = ?1 AND counter = ?3 AND ticket = ?2"},
      {&p.counter_state_,
       "INSERT INTO counters(hall, counter, state, ticket, since_ts) VALUES(?1, ?2, ?3, NULL, ?4) "
       "ON CONFLICT(hall, counter) DO UPDATE SET state = excluded.state, since_ts = "
       "excluded.since_ts, "
       "ticket = CASE WHEN excluded.state = 'closed' THEN NULL ELSE ticket END"},
      {&p.device_state_,
       "INSERT INTO devices(hall, device, kind, online, since_ts) VALUES(?1, ?2, COALESCE(?3, ''), "
       "?4, ?5) "
       "ON CONFLICT(hall, device) DO UPDATE SET kind = COALESCE(?3, kind), "
       "since_ts = CASE WHEN online = excluded.online THEN since_ts ELSE excluded.since_ts END, "
       "online = excluded.online"},
      {&p.alert_raise_,
       "INSERT INTO alerts(hall, alert, rule, subject, severity, state, message, raised_ts, "
       "acked_ts, acked_by, "
       "resolved_ts) VALUES(?1, ?2, ?3, ?4, ?5, 'raised', ?6, ?7, NULL, NULL, NULL) "
       "ON CONFLICT(hall, alert) DO UPDATE SET rule = excluded.rule, subject = excluded.subject, "
       "severity = excluded.severity, state = 'raised', message = excluded.message, raised_ts = "
       "excluded.raised_ts, "
       "acked_ts = NULL, acked_by = NULL, resolved_ts = NULL"},
      {&p.alert_ack_,
       "UPDATE alerts SET state = 'acknowledged', acked_ts = ?3, acked_by = ?4 "
       "WHERE hall = ?1 AND alert = ?2 AND state = 'raised'"},
      {&p.alert_resolve_,
       "UPDATE alerts SET state = 'resolved', resolved_ts = ?3 WHERE hall = ?1 AND alert = ?2 AND "
       "state != 'resolved'"},
      {&p.alert_escalate_, "UPDATE alerts SET severity = ?3 WHERE hall = ?1 AND alert = ?2"},
      {&p.kpi_add_,
       "INSERT INTO kpi_daily(hall, day, service, issued, served, no_shows, wait_sum_ms, waits, "
       "service_sum_ms, "
       "services, ratings, ratings_good) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) "
       "ON CONFLICT(hall, day, service) DO UPDATE SET issued = issued + excluded.issued, "
       "served = served + excluded.served, no_shows = no_shows + excluded.no_shows, "
       "wait_sum_ms = wait_sum_ms + excluded.wait_sum_ms, waits = waits + excluded.waits, "
       "service_sum_ms = service_sum_ms + excluded.service_sum_ms, services = services + "
       "excluded.services, "
       "ratings = ratings + excluded.ratings, ratings_good = ratings_good + excluded.ratings_good"},
      {&p.occupancy_, "UPDATE halls SET occupancy = ?2, occupancy_ts = ?3 WHERE hall = ?1"},
  };
  for (const auto& item : items) {
    auto s = db.prepare(item.sql);
    if (!s) return std::unexpected(s.error());
    *item.target = std::move(*s);
  }
  p.db_ = &db;
  return p;
}

Expected<void> Projector::apply(std::string_view hall, std::int64_t seq, std::int64_t ts,
                                std::string_view type, const json& data) {
  auto dot = type.find('.');
  std::string_view noun = type.substr(0, dot);
  std::string_view verb = dot == std::string_view::npos ? std::string_view() : type.substr(dot + 1);
  if (noun == "ticket") return apply_ticket(hall, seq, ts, verb, data);
  if (noun == "counter") return apply_counter(hall, seq, ts, verb, data);
  if (type == "device.online") return apply_device(hall, seq, ts, true, data);
  if (type == "device.offline") return apply_device(hall, seq, ts, false, data);
  if (noun == "alert") return apply_alert(hall, seq, ts, verb, data);
  if (type == "rating.submitted") return apply_rating(hall, seq, ts, data);
  if (type == "telemetry.summary") return apply_telemetry(hall, ts, data);
  return {};  // not projected (forward compatible)
}

Expected<void> Projector::apply_ticket(std::string_view hall, std::int64_t seq, std::int64_t ts,
                                       std::string_view verb, const json& data) {
  const std::string* ticket = text_field(data, "ticket");
  if (ticket == nullptr) {
    skip(hall, seq, verb, "no ticket");
    return {};
  }
  if (verb == "issued") {
    const std::string* service = text_field(data, "service");
    auto id = protocol::parse_ticket_id(*ticket);
    if (service == nullptr || !id) {
      skip(hall, seq, "ticket.issued", "no service or malformed ticket id");
      return {};
    }
    auto& s = insert_ticket_;
    s.bind(1, hall).bind(2, *ticket).bind(3, id->day).bind(4, *service);
    bind_opt(s, 5, optional_text(data, "number").value_or(id->number));
    bind_opt(s, 6, optional_text(data, "class"));
    s.bind(7, int_field(data, "issued_ts").value_or(ts));
    if (auto ok = s.run(); !ok) return ok;
    if (db_->changes() == 0) {
      skip(hall, seq, "ticket.issued", "ticket already issued");
      return {};
    }
    return add_kpi(hall, id->day, *service, KpiDelta{.issued = 1});
  }
  if (verb == "called") {
    auto info = ticket_info(hall, *ticket);
    if (!info) return std::unexpected(info.error());
    if (!*info) {
      skip(hall, seq, "ticket.called", "unknown ticket");
      return {};
    }
    auto waited = int_field(data, "waited_ms");
    auto counter = optional_text(data, "counter");
    auto& s = call_ticket_;
    s.bind(1, hall).bind(2, *ticket);
    bind_opt(s, 3, counter);
    s.bind(4, ts);
    bind_opt(s, 5, waited);
    if (auto ok = s.run(); !ok) return ok;
    if (counter) {
      auto& c = counter_set_ticket_;
      c.bind(1, hall).bind(2, *counter).bind(3, *ticket).bind(4, ts);
      if (auto ok = c.run(); !ok) return ok;
    }
    bool first = (*info)->calls == 0;
    if (first && waited)
      return add_kpi(hall, (*info)->day, (*info)->service,
                     KpiDelta{.wait_sum_ms = *waited, .waits = 1});
    return {};
  }
  if (verb == "recalled") {
    auto& s = recall_ticket_;
    s.bind(1, hall).bind(2, *ticket);
    bind_opt(s, 3, int_field(data, "recalls"));
    return s.run();
  }
  if (verb == "serving") {
    auto& s = serve_ticket_;
    s.bind(1, hall).bind(2, *ticket).bind(3, ts);
    bind_opt(s, 4, optional_text(data, "counter"));
    return s.run();
  }
  if (verb == "completed" || verb == "no_show") {
    bool completed = verb == "completed";
    auto& s = completed ? complete_ticket_ : no_show_ticket_;
    s.bind(1, hall).bind(2, *ticket);
    auto service_ms = int_field(data, "service_ms");
    if (completed) {
      s.bind(3, ts);
      bind_opt(s, 4, service_ms);
    } else {
      bind_opt(s, 3, int_field(data, "recalls"));
    }
    bind_opt(s, completed ? 5 : 4, optional_text(data, "counter"));
    auto info = ticket_info(hall, *ticket);
    if (!info) return std::unexpected(info.error());
    if (auto ok = s.run(); !ok) return ok;
    if (auto ok = clear_counter_ticket(hall, *ticket, optional_text(data, "counter")); !ok)
      return ok;
    if (!*info) {
      skip(hall, seq, completed ? "ticket.completed" : "ticket.no_show", "unknown ticket");
      return {};
    }
    KpiDelta delta;
    if (completed) {
      delta.served = 1;
      if (service_ms) {
        delta.service_sum_ms = *service_ms;
        delta.services = 1;
      }
    } else {
      delta.no_shows = 1;
    }
    return add_kpi(hall, (*info)->day, (*info)->service, delta);
  }
  if (verb == "transferred") {
    auto& s = transfer_ticket_;
    s.bind(1, hall).bind(2, *ticket);
    bind_opt(s, 3, optional_text(data, "to_service"));
    if (auto ok = s.run(); !ok) return ok;
    return clear_counter_ticket(hall, *ticket, optional_text(data, "counter"));
  }
  if (verb == "cancelled") {
    auto& s = cancel_ticket_;
    s.bind(1, hall).bind(2, *ticket);
    if (auto ok = s.run(); !ok) return ok;
    return clear_counter_ticket(hall, *ticket, std::nullopt);
  }
  return {};
}

Expected<void> Projector::apply_counter(std::string_view hall, std::int64_t seq, std::int64_t ts,
                                        std::string_view verb, const json& data) {
  std::string_view state;
  if (verb == "opened") {
    state = "open";
  } else if (verb == "paused") {
    state = "paused";
  } else if (verb == "closed") {
    state = "closed";
  } else {
    return {};
  }
  const std::string* counter = text_field(data, "counter");
  if (counter == nullptr) {
    skip(hall, seq, verb, "no counter");
    return {};
  }
  auto& s = counter_state_;
  s.bind(1, hall).bind(2, *counter).bind(3, state).bind(4, ts);
  return s.run();
}

Expected<void> Projector::apply_device(std::string_view hall, std::int64_t seq, std::int64_t ts,
                                       bool online, const json& data) {
  const std::string* device = text_field(data, "device");
  if (device == nullptr) {
    skip(hall, seq, "device", "no device");
    return {};
  }
  auto& s = device_state_;
  s.bind(1, hall).bind(2, *device);
  bind_opt(s, 3, optional_text(data, "kind"));
  s.bind(4, online ? 1 : 0).bind(5, ts);
  return s.run();
}

Expected<void> Projector::apply_alert(std::string_view hall, std::int64_t seq, std::int64_t ts,
                                      std::string_view verb, const json& data) {
  const std::string* alert = text_field(data, "alert");
  if (alert == nullptr) {
    skip(hall, seq, verb, "no alert");
    return {};
  }
  if (verb == "raised") {
    const std::string* rule = text_field(data, "rule");
    const std::string* subject = text_field(data, "subject");
    const std::string* severity = text_field(data, "severity");
    if (rule == nullptr || subject == nullptr || severity == nullptr) {
      skip(hall, seq, "alert.raised", "no rule, subject or severity");
      return {};
    }
    auto& s = alert_raise_;
    s.bind(1, hall).bind(2, *alert).bind(3, *rule).bind(4, *subject).bind(5, *severity);
    s.bind(6, optional_text(data, "message").value_or("")).bind(7, ts);
    return s.run();
  }
  if (verb == "acknowledged") {
    auto& s = alert_ack_;
    s.bind(1, hall).bind(2, *alert).bind(3, ts);
    bind_opt(s, 4, optional_text(data, "by"));
    return s.run();
  }
  if (verb == "resolved") {
    auto& s = alert_resolve_;
    s.bind(1, hall).bind(2, *alert).bind(3, ts);
    return s.run();
  }
  if (verb == "escalated") {
    const std::string* severity = text_field(data, "severity");
    if (severity == nullptr) {
      skip(hall, seq, "alert.escalated", "no severity");
      return {};
    }
    auto& s = alert_escalate_;
    s.bind(1, hall).bind(2, *alert).bind(3, *severity);
    return s.run();
  }
  return {};
}

Expected<void> Projector::apply_rating(std::string_view hall, std::int64_t seq, std::int64_t ts,
                                       const json& data) {
  auto score = int_field(data, "score");
  if (!score) {
    skip(hall, seq, "rating.submitted", "no score");
    return {};
  }
  KpiDelta delta{.ratings = 1, .ratings_good = *score >= 4 ? 1 : 0};
  const std::string* ticket = text_field(data, "ticket");
  if (ticket == nullptr) return add_kpi(hall, china_day_of(ts), "", delta);
  auto id = protocol::parse_ticket_id(*ticket);
  if (!id) {
    skip(hall, seq, "rating.submitted", "malformed ticket id");
    return {};
  }
  auto info = ticket_info(hall, *ticket);
  if (!info) return std::unexpected(info.error());
  return add_kpi(hall, id->day, *info ? (*info)->service : std::string(), delta);
}

Expected<void> Projector::apply_telemetry(std::string_view hall, std::int64_t ts,
                                          const json& data) {
  auto occupancy = int_field(data, "occupancy");
  if (!occupancy) return {};
  auto& s = occupancy_;
  s.bind(1, hall).bind(2, *occupancy).bind(3, ts);
  return s.run();
}

Expected<void> Projector::add_kpi(std::string_view hall, std::int64_t day, std::string_view service,
                                  const KpiDelta& d) {
  auto key = std::make_tuple(std::string(hall), day, std::string(service));
  auto it = pending_kpi_.find(key);
  if (it == pending_kpi_.end()) it = pending_kpi_.emplace(std::move(key), KpiDelta{}).first;
  KpiDelta& sum = it->second;
  sum.issued += d.issued;
  sum.served += d.served;
  sum.no_shows += d.no_shows;
  sum.wait_sum_ms += d.wait_sum_ms;
  sum.waits += d.waits;
  sum.service_sum_ms += d.service_sum_ms;
  sum.services += d.services;
  sum.ratings += d.ratings;
  sum.ratings_good += d.ratings_good;
  return {};
}

Expected<void> Projector::flush() {
  auto& s = kpi_add_;
  for (const auto& [key, d] : pending_kpi_) {
    s.bind(1, std::get<0>(key)).bind(2, std::get<1>(key)).bind(3, std::get<2>(key));
    s.bind(4, d.issued).bind(5, d.served).bind(6, d.no_shows);
    s.bind(7, d.wait_sum_ms).bind(8, d.waits).bind(9, d.service_sum_ms).bind(10, d.services);
    s.bind(11, d.ratings).bind(12, d.ratings_good);
    if (auto ok = s.run(); !ok) {
      pending_kpi_.clear();
      return ok;
    }
  }
  pending_kpi_.clear();
  return {};
}

// The ticket's day, service and call count; nullopt when unknown.
Expected<std::optional<Projector::TicketInfo>> Projector::ticket_info(std::string_view hall,
                                                                      std::string_view ticket) {
  auto& s = ticket_info_;
  s.bind(1, hall).bind(2, ticket);
  auto row = s.step();
  if (!row) return std::unexpected(row.error());
  std::optional<TicketInfo> out;
  if (*row) out = TicketInfo{s.column_int(0), s.column_text(1), s.column_int(2)};
  s.reset();
  return out;
}

Expected<void> Projector::clear_counter_ticket(std::string_view hall, std::string_view ticket,
                                               std::optional<std::string_view> counter) {
  // The counter named by the event holds the ticket; without one, whichever does.
  auto& s = counter ? counter_clear_ticket_at_ : counter_clear_ticket_;
  s.bind(1, hall).bind(2, ticket);
  if (counter) s.bind(3, *counter);
  return s.run();
}

}  // namespace yiban::central::store
