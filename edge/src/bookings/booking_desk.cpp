#include "bookings/booking_desk.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "console/console_actions.h"
#include "yiban/protocol/bookings.h"
#include "yiban/protocol/cases.h"

namespace yiban::edge::bookings {
namespace {

using nlohmann::json;
namespace pb = protocol::bookings;
using console::error_result;

constexpr std::string_view kBooked = "appointment.booked";
constexpr std::string_view kCancelled = "appointment.cancelled";
constexpr std::string_view kNoShow = "appointment.no_show";
constexpr std::string_view kQuota = "appointment.quota_added";
constexpr std::string_view kSlots = "appointment.slots_updated";

json booked_data(const store::AppointmentRow& a) {
  json j{{"appointment", a.code}, {"service", a.service}, {"slot_start", a.slot_start}, {"slot_end", a.slot_end},
         {"source", a.source}, {"name", a.name}, {"day", a.day}};
  if (a.id_hash) j["id_hash"] = *a.id_hash;
  if (a.special_need && !a.special_need->empty()) j["has_special_need"] = true;
  return j;  // never the phone nor the special need's text: they stay in the hall (issue 15)
}

std::string local_time(std::int64_t ms, const protocol::TimeZone& zone) {
  int m = zone.local_minute_of_day(ms);  // 0..1439
  char b[16];
  std::snprintf(b, sizeof b, "%02d:%02d", m / 60, m % 60);
  return b;
}

}  // namespace

BookingDesk::BookingDesk(store::EdgeStore& store, alerts::AlertEngine& alerts, std::string case_key,
                         const protocol::HallConfig& config, const protocol::TimeZone& zone, std::string public_key,
                         std::string secret_key)
    : store_(store),
      alerts_(alerts),
      case_key_(std::move(case_key)),
      public_key_(std::move(public_key)),
      secret_key_(std::move(secret_key)),
      config_(config),
      zone_(zone) {}

protocol::Expected<void> BookingDesk::special_need_notice(const store::AppointmentRow& a, std::int64_t now) {
  if (!a.special_need || a.special_need->empty()) return {};
  const std::string head = "预约 " + a.code + "（" + local_time(a.slot_start, zone_) + "）";
  auto raised = alerts_.raise("special_need", a.code, head + "需提前准备：" + *a.special_need, zone_.local_day(now),
                              now, head + "有特殊需要，详见本厅预约");
  if (!raised) return protocol::error(raised.error().message);
  return {};
}

protocol::Expected<void> BookingDesk::apply_add(const std::string& data_json, std::int64_t now) {
  auto add = pb::decode_booking_add(data_json);
  if (!add) return std::unexpected(add.error());
  if (!add->sealed.empty()) {
    // Without the phone the booking still holds its seat; only the reminder is lost.
    if (secret_key_.empty())
      spdlog::error("booking {}: its phone is sealed to this hall, but this hall has no --hall-cert", add->code);
    else if (auto opened = pb::open_private(*add, public_key_, secret_key_); !opened)
      spdlog::error("booking {}: {}", add->code, opened.error().message);
  }
  if (!config_.find_service(add->service)) return protocol::error("service " + add->service + " is not offered here");
  auto existing = store_.appointment(add->code);
  if (!existing) return std::unexpected(existing.error());
  store::AppointmentRow a;
  if (*existing) {
    a = **existing;
    if (a.state != "booked") return protocol::error("booking " + a.code + " is " + a.state + "; not moved");
  }
  a.code = add->code;
  a.service = add->service;
  a.slot_start = add->slot_start;
  a.slot_end = add->slot_end;
  a.state = "booked";
  a.name = add->name;
  if (!add->phone.empty()) a.phone = add->phone;
  if (!add->special_need.empty()) a.special_need = add->special_need;
  a.source = "central";
  a.day = zone_.local_day(add->slot_start);
  if (auto ok = store_.save_appointment(a); !ok) return ok;
  if (auto seq = store_.append_event(now, kBooked, booked_data(a).dump()); !seq) return std::unexpected(seq.error());
  if (!*existing) {
    if (auto ok = special_need_notice(a, now); !ok) return ok;
  }
  spdlog::info("booking {} for {} at {} {}", a.code, a.service, local_time(a.slot_start, zone_),
               *existing ? "moved" : "received");
  return {};
}

protocol::Expected<void> BookingDesk::apply_cancel(const std::string& data_json, std::int64_t now) {
  auto code = pb::decode_booking_cancel(data_json);
  if (!code) return std::unexpected(code.error());
  auto existing = store_.appointment(*code);
  if (!existing) return std::unexpected(existing.error());
  if (!*existing) return protocol::error("no booking " + *code + " here");
  auto a = **existing;
  if (a.state != "booked") return protocol::error("booking " + a.code + " is " + a.state);
  a.state = "cancelled";
  if (auto ok = store_.save_appointment(a); !ok) return ok;
  if (auto seq = store_.append_event(now, kCancelled, json{{"appointment", a.code}, {"by", "central"}}.dump()); !seq)
    return std::unexpected(seq.error());
  (void)alerts_.resolve_subject("special_need", a.code, "system", now);
  return {};
}

protocol::Expected<void> BookingDesk::apply_quota(const std::string& data_json, std::int64_t now) {
  auto q = pb::decode_booking_quota(data_json);
  if (!q) return std::unexpected(q.error());
  auto s = store_.database().prepare(
      "INSERT INTO booking_quota(service, slot_start, moved) VALUES(?1, ?2, ?3) ON CONFLICT(service, slot_start) DO "
      "UPDATE SET moved = moved + ?3");
  if (!s) return std::unexpected(s.error());
  if (auto ok = s->bind(1, q->service).bind(2, q->slot_start).bind(3, q->add).run(); !ok) return ok;
  if (auto seq = store_.append_event(now, kQuota, data_json); !seq) return std::unexpected(seq.error());
  return {};
}

protocol::Expected<void> BookingDesk::apply_config(const std::string& data_json, std::int64_t now) {
  auto c = pb::parse_booking_config(data_json);
  if (!c) return std::unexpected(c.error());
  if (!c->find(config_.hall)) return protocol::error("the booking config has no slots for hall " + config_.hall);
  const std::string text = pb::encode_booking_config(*c, config_.hall);
  if (auto ok = store_.set_meta("booking_config", text); !ok) return ok;
  if (auto seq = store_.append_event(now, kSlots, json{{"version", pb::text_version(text)}}.dump()); !seq)
    return std::unexpected(seq.error());
  return {};
}

console::Result BookingDesk::walk_up(const std::string& body, const std::string& by, std::int64_t now) {
  if (case_key_.empty())
    return error_result(503, "no_case_key", "this hall has no case key (--case-key-file), so it cannot hash IDs");
  auto j = json::parse(body, nullptr, false);
  if (!j.is_object()) return error_result(400, "bad_json", "the body must be a JSON object");
  j["hall"] = config_.hall;
  auto r = pb::decode_book(j.dump());
  if (!r) return error_result(400, "bad_request", r.error().message);
  auto stored = store_.get_meta("booking_config");
  if (!stored) return error_result(500, "internal", stored.error().message);
  if (!*stored) return error_result(409, "no_slots", "central has not sent this hall its bookable slots yet");
  auto c = pb::parse_booking_config(**stored);
  const auto* hall = c ? c->find(config_.hall) : nullptr;
  const auto* service = hall ? hall->find(r->service) : nullptr;
  if (!service) return error_result(404, "unknown_service", "service " + r->service + " takes no bookings here");
  auto slot = pb::slot_at(*hall, *service, r->slot_start, zone_);
  if (!slot) return error_result(400, "bad_request", "slot_start: no " + r->service + " slot starts then");
  if (slot->start <= now) return error_result(400, "bad_request", "slot_start: the slot has begun or is past");
  if (slot->start > now + static_cast<std::int64_t>(c->horizon_days) * 86400000)
    return error_result(400, "bad_request", "slot_start: beyond the booking horizon");
  auto id = protocol::cases::normalise_id(r->applicant_id);
  if (!id) return error_result(400, "bad_request", id.error().message);
  auto phone = pb::normalise_phone(r->phone);
  if (!phone) return error_result(400, "bad_request", phone.error().message);
  const std::string id_hash = protocol::cases::keyed_hash(case_key_, *id);
  const int day = zone_.local_day(slot->start);
  auto& db = store_.database();
  auto dup = db.prepare(
      "SELECT code FROM appointments WHERE id_hash = ?1 AND service = ?2 AND day = ?3 AND state IN ('booked', "
      "'checked_in')");
  auto seats = db.prepare(
      "SELECT (SELECT count(*) FROM appointments WHERE service = ?1 AND slot_start = ?2 AND source = 'hall' AND state "
      "IN ('booked', 'checked_in')), coalesce((SELECT moved FROM booking_quota WHERE service = ?1 AND slot_start = ?2), "
      "0)");
  if (!dup || !seats) return error_result(500, "internal", "store: cannot prepare");
  dup->bind(1, id_hash).bind(2, service->code).bind(3, day);
  if (auto row = dup->step(); row && *row)
    return error_result(409, "duplicate", "this person already has booking " + dup->column_text(0) + " for this service that day");
  seats->bind(1, service->code).bind(2, slot->start);
  auto row = seats->step();
  if (!row || !*row) return error_result(500, "internal", "store: cannot count seats");
  if (seats->column_int(0) >= service->hall_quota() + seats->column_int(1))
    return error_result(409, "full", "no seat of this hall left in the slot");
  store::AppointmentRow a;
  for (int attempt = 0; attempt < 3; ++attempt) {
    a.code = pb::booking_code(rng_());
    auto taken = store_.appointment(a.code);
    if (taken && !*taken) break;
    a.code.clear();
  }
  if (a.code.empty()) return error_result(503, "unavailable", "no free booking code; try again");
  a.service = service->code;
  a.slot_start = slot->start;
  a.slot_end = slot->end;
  a.state = "booked";
  a.name = protocol::cases::mask_name(r->applicant_name);
  a.phone = *phone;
  if (!r->special_need.empty()) a.special_need = r->special_need;
  a.source = "hall";
  a.id_hash = id_hash;
  a.day = day;
  if (auto ok = store_.save_appointment(a); !ok) return error_result(500, "internal", ok.error().message);
  json data = booked_data(a);
  data["by"] = by;
  if (auto seq = store_.append_event(now, kBooked, data.dump()); !seq)
    return error_result(500, "internal", seq.error().message);
  if (auto ok = special_need_notice(a, now); !ok) return error_result(500, "internal", ok.error().message);
  spdlog::info("walk-up booking {} for {} at {} by {}", a.code, a.service, local_time(a.slot_start, zone_), by);
  return {201, json{{"code", a.code}, {"service", a.service}, {"slot_start", a.slot_start}, {"slot_end", a.slot_end},
                    {"state", a.state}, {"name", a.name}, {"source", a.source}}
                   .dump()};
}

protocol::Expected<int> BookingDesk::mark_no_shows(std::int64_t now) {
  const std::int64_t late_ms = static_cast<std::int64_t>(config_.appointments.late_min) * 60000;
  auto s = store_.database().prepare(
      "SELECT code FROM appointments WHERE state = 'booked' AND slot_end < ?1 AND slot_start + ?2 < ?1 LIMIT 500");
  if (!s) return std::unexpected(s.error());
  s->bind(1, now).bind(2, late_ms);
  std::vector<std::string> codes;
  for (auto r = s->step(); r && *r; r = s->step()) codes.push_back(s->column_text(0));
  s->reset();
  for (const auto& code : codes) {
    auto found = store_.appointment(code);
    if (!found || !*found) continue;
    auto a = **found;
    a.state = "no_show";
    if (auto ok = store_.save_appointment(a); !ok) return std::unexpected(ok.error());
    if (auto seq = store_.append_event(
            now, kNoShow, json{{"appointment", a.code}, {"service", a.service}, {"slot_start", a.slot_start}}.dump());
        !seq)
      return std::unexpected(seq.error());
    (void)alerts_.resolve_subject("special_need", a.code, "system", now);
  }
  return static_cast<int>(codes.size());
}

}  // namespace yiban::edge::bookings
