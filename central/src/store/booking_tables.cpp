#include "store/booking_tables.h"

#include <spdlog/spdlog.h>

#include "yiban/runtime/notifier.h"

namespace yiban::central::store {
namespace {

using nlohmann::json;
using protocol::Expected;

constexpr std::string_view kColumns =
    "code, hall, service, slot_start, slot_end, state, name, special_need, source, created_ts, updated_ts, ticket, "
    "id_hash, person_day";

json row_json(runtime::Statement& s) {
  return json{{"code", s.column_text(0)},
              {"hall", s.column_text(1)},
              {"service", s.column_text(2)},
              {"slot_start", s.column_int(3)},
              {"slot_end", s.column_int(4)},
              {"state", s.column_text(5)},
              {"name", s.column_text(6)},
              {"special_need", s.column_is_null(7) ? json(nullptr) : json(s.column_text(7))},
              {"source", s.column_text(8)},
              {"created_ts", s.column_int(9)},
              {"updated_ts", s.column_int(10)},
              {"ticket", s.column_is_null(11) ? json(nullptr) : json(s.column_text(11))}};
}

BookingOutcome refused(int status, std::string code, std::string message) {
  return BookingOutcome{status, std::move(code), std::move(message), {}};
}

}  // namespace

Expected<std::optional<json>> BookingTables::row(std::string_view code) {
  auto s = db_.prepare("SELECT " + std::string(kColumns) + " FROM bookings WHERE code = ?1");
  if (!s) return std::unexpected(s.error());
  s->bind(1, code);
  auto r = s->step();
  if (!r) return std::unexpected(r.error());
  if (!*r) return std::optional<json>();
  json j = row_json(*s);
  j["id_hash"] = s->column_text(12);
  j["person_day"] = s->column_int(13);
  return std::optional<json>(std::move(j));
}

Expected<BookingOutcome> BookingTables::book(const NewBooking& b) {
  // The no-show rule.
  auto ns = db_.prepare("SELECT count(*), coalesce(max(ts), 0) FROM booking_no_shows WHERE id_hash = ?1 AND ts >= ?2");
  if (!ns) return std::unexpected(ns.error());
  ns->bind(1, b.id_hash).bind(2, b.now - b.no_show_within_ms);
  auto r = ns->step();
  if (!r) return std::unexpected(r.error());
  if (ns->column_int(0) >= b.no_show_count && ns->column_int(1) + b.no_show_block_ms > b.now) {
    return refused(403, "blocked",
                   "this person missed " + std::to_string(ns->column_int(0)) +
                       " bookings recently and cannot book until " + std::to_string(ns->column_int(1) + b.no_show_block_ms) +
                       " (ms since the epoch)");
  }
  // One active booking per person, service and day.
  auto dup = db_.prepare(
      "SELECT code FROM bookings WHERE id_hash = ?1 AND service = ?2 AND person_day = ?3 AND state IN ('booked', "
      "'checked_in') AND code != ?4");
  if (!dup) return std::unexpected(dup.error());
  dup->bind(1, b.id_hash).bind(2, b.service).bind(3, b.person_day).bind(4, b.code);
  r = dup->step();
  if (!r) return std::unexpected(r.error());
  if (*r) return refused(409, "duplicate", "this person already has booking " + dup->column_text(0) + " for this service that day");
  // Central's seats in the slot: its quota less what was moved to the hall.
  auto seats = db_.prepare(
      "SELECT (SELECT count(*) FROM bookings WHERE hall = ?1 AND service = ?2 AND slot_start = ?3 AND source = "
      "'central' AND state IN ('booked', 'checked_in') AND code != ?4), coalesce((SELECT moved FROM booking_moves "
      "WHERE hall = ?1 AND service = ?2 AND slot_start = ?3), 0)");
  if (!seats) return std::unexpected(seats.error());
  seats->bind(1, b.hall).bind(2, b.service).bind(3, b.slot_start).bind(4, b.code);
  r = seats->step();
  if (!r) return std::unexpected(r.error());
  const auto taken = seats->column_int(0);
  const auto moved = seats->column_int(1);
  if (taken >= b.central_quota - moved) return refused(409, "full", "no seat left in this slot");
  auto ins = db_.prepare(
      "INSERT INTO bookings(code, hall, service, slot_start, slot_end, id_hash, person_day, name, phone, "
      "special_need, state, source, created_ts, updated_ts) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'booked', "
      "'central', ?11, ?11) ON CONFLICT(code) DO UPDATE SET slot_start = ?4, slot_end = ?5, person_day = ?7, "
      "updated_ts = ?11");
  if (!ins) return std::unexpected(ins.error());
  ins->bind(1, b.code).bind(2, b.hall).bind(3, b.service).bind(4, b.slot_start).bind(5, b.slot_end);
  ins->bind(6, b.id_hash).bind(7, b.person_day).bind(8, b.name);
  if (b.phone.empty()) ins->bind_null(9);
  else ins->bind(9, b.phone);
  if (b.special_need.empty()) ins->bind_null(10);
  else ins->bind(10, b.special_need);
  ins->bind(11, b.now);
  if (auto ok = ins->run(); !ok) return std::unexpected(ok.error());
  auto j = booking_json(b.code);
  if (!j) return std::unexpected(j.error());
  return BookingOutcome{201, {}, {}, j->value_or("{}")};
}

Expected<BookingOutcome> BookingTables::cancel(std::string_view code, std::int64_t now) {
  auto existing = row(code);
  if (!existing) return std::unexpected(existing.error());
  if (!*existing) return refused(404, "not_found", "no booking " + std::string(code));
  const std::string state = (**existing)["state"];
  if (state != "booked") return refused(409, "invalid_state", "booking " + std::string(code) + " is " + state);
  auto u = db_.prepare("UPDATE bookings SET state = 'cancelled', updated_ts = ?2 WHERE code = ?1");
  if (!u) return std::unexpected(u.error());
  if (auto ok = u->bind(1, code).bind(2, now).run(); !ok) return std::unexpected(ok.error());
  auto j = booking_json(code);
  if (!j) return std::unexpected(j.error());
  return BookingOutcome{200, {}, {}, j->value_or("{}")};
}

Expected<BookingOutcome> BookingTables::reschedule(std::string_view code, const NewBooking& to) {
  auto existing = row(code);
  if (!existing) return std::unexpected(existing.error());
  if (!*existing) return refused(404, "not_found", "no booking " + std::string(code));
  const json& e = **existing;
  if (e["state"] != "booked") return refused(409, "invalid_state", "booking " + std::string(code) + " is " + e["state"].get<std::string>());
  if (e["source"] != "central") return refused(409, "invalid_state", "a hall's walk-up booking is changed at the hall");
  NewBooking b = to;
  b.code = std::string(code);
  b.hall = e["hall"];
  b.service = e["service"];
  b.id_hash = e["id_hash"];
  b.name = e["name"];
  return book(b);  // the same checks; the row keeps its code
}

Expected<std::vector<SlotCount>> BookingTables::slot_counts(std::string_view hall, std::string_view service,
                                                            std::int64_t from, std::int64_t to) {
  auto s = db_.prepare(
      "SELECT slot_start, sum(source = 'central'), sum(source = 'hall'), 0 FROM bookings WHERE hall = ?1 AND "
      "service = ?2 AND slot_start >= ?3 AND slot_start < ?4 AND state IN ('booked', 'checked_in') GROUP BY "
      "slot_start UNION ALL SELECT slot_start, 0, 0, moved FROM booking_moves WHERE hall = ?1 AND service = ?2 AND "
      "slot_start >= ?3 AND slot_start < ?4 ORDER BY 1");
  if (!s) return std::unexpected(s.error());
  s->bind(1, hall).bind(2, service).bind(3, from).bind(4, to);
  std::vector<SlotCount> out;
  for (auto r = s->step(); r && *r; r = s->step()) {
    const std::int64_t start = s->column_int(0);
    if (out.empty() || out.back().slot_start != start) out.push_back({start, 0, 0, 0});
    out.back().central += static_cast<int>(s->column_int(1));
    out.back().hall += static_cast<int>(s->column_int(2));
    out.back().moved += static_cast<int>(s->column_int(3));
  }
  return out;
}

Expected<void> BookingTables::add_moved(std::string_view hall, std::string_view service, std::int64_t slot_start,
                                        int seats, std::int64_t now) {
  auto s = db_.prepare(
      "INSERT INTO booking_moves(hall, service, slot_start, moved, ts) VALUES(?1, ?2, ?3, ?4, ?5) "
      "ON CONFLICT(hall, service, slot_start) DO UPDATE SET moved = moved + ?4, ts = ?5");
  if (!s) return std::unexpected(s.error());
  return s->bind(1, hall).bind(2, service).bind(3, slot_start).bind(4, seats).bind(5, now).run();
}

Expected<std::optional<std::string>> BookingTables::booking_json(std::string_view code) {
  auto s = db_.prepare("SELECT " + std::string(kColumns) + " FROM bookings WHERE code = ?1");
  if (!s) return std::unexpected(s.error());
  s->bind(1, code);
  auto r = s->step();
  if (!r) return std::unexpected(r.error());
  if (!*r) return std::optional<std::string>();
  return std::optional<std::string>(row_json(*s).dump());
}

Expected<std::string> BookingTables::bookings_json(const BookingQuery& q) {
  const std::string where =
      " WHERE (?1 IS NULL OR hall = ?1) AND (?2 IS NULL OR state = ?2) AND (?3 = 0 OR slot_start >= ?3) AND (?4 = 0 OR "
      "slot_start < ?4)";
  auto s = db_.prepare("SELECT " + std::string(kColumns) + " FROM bookings" + where +
                       " ORDER BY slot_start, code LIMIT ?5 OFFSET ?6");
  auto c = db_.prepare("SELECT count(*) FROM bookings" + where);
  if (!s) return std::unexpected(s.error());
  if (!c) return std::unexpected(c.error());
  for (auto* st : {&*s, &*c}) st->bind(1, q.hall).bind(2, q.state).bind(3, q.from).bind(4, q.to);
  s->bind(5, q.limit).bind(6, q.offset);
  json list = json::array();
  for (auto r = s->step(); r && *r; r = s->step()) list.push_back(row_json(*s));
  auto r = c->step();
  if (!r) return std::unexpected(r.error());
  return json{{"bookings", std::move(list)}, {"total", c->column_int(0)}}.dump();
}

Expected<void> BookingTables::apply(std::string_view hall, std::int64_t seq, std::int64_t ts, std::string_view type,
                                    const json& data) {
  try {
    return apply_checked(hall, ts, type, data);
  } catch (const json::exception& e) {
    spdlog::warn("hall {} event {} ({}): booking not updated: malformed data: {}", hall, seq, type, e.what());
    return {};
  }
}

Expected<void> BookingTables::apply_checked(std::string_view hall, std::int64_t ts, std::string_view type,
                                            const json& data) {
  if (type == "appointment.quota_added") return relearn_moves(hall, ts, data);
  const std::string code = data.value("appointment", data.value("code", ""));
  if (code.empty()) return {};
  if (type == "appointment.booked") {
    const std::string source = data.value("source", "");
    // Central's own booking, echoed by the hall: known, unless central lost it.
    if (source == "central") return relearn_central_booking(hall, ts, code, data);
    if (source != "hall") return {};
    auto s = db_.prepare(
        "INSERT INTO bookings(code, hall, service, slot_start, slot_end, id_hash, person_day, name, phone, "
        "special_need, state, source, created_ts, updated_ts) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL, ?9, "
        "'booked', 'hall', ?10, ?10) ON CONFLICT(code) DO NOTHING");
    if (!s) return std::unexpected(s.error());
    s->bind(1, code).bind(2, hall).bind(3, data.value("service", "")).bind(4, data.value("slot_start", std::int64_t{0}));
    s->bind(5, data.value("slot_end", std::int64_t{0})).bind(6, data.value("id_hash", ""));
    s->bind(7, data.value("day", std::int64_t{0})).bind(8, data.value("name", ""));
    const std::string need = data.value("special_need", "");
    if (need.empty()) s->bind_null(9);
    else s->bind(9, need);
    s->bind(10, ts);
    return s->run();
  }
  std::string state;
  if (type == "appointment.checked_in") state = "checked_in";
  else if (type == "appointment.no_show") state = "no_show";
  else if (type == "appointment.cancelled") state = "cancelled";
  else return {};
  auto u = db_.prepare(
      "UPDATE bookings SET state = ?3, updated_ts = ?4, ticket = coalesce(?5, ticket) WHERE code = ?1 AND hall = ?2");
  if (!u) return std::unexpected(u.error());
  u->bind(1, code).bind(2, hall).bind(3, state).bind(4, ts);
  if (auto t = data.find("ticket"); t != data.end() && t->is_string()) u->bind(5, t->get<std::string>());
  else u->bind_null(5);
  if (auto ok = u->run(); !ok) return ok;
  if (state != "no_show") return {};
  auto n = db_.prepare(
      "INSERT INTO booking_no_shows(code, id_hash, ts) SELECT code, id_hash, ?2 FROM bookings WHERE code = ?1 "
      "ON CONFLICT(code) DO NOTHING");
  if (!n) return std::unexpected(n.error());
  return n->bind(1, code).bind(2, ts).run();
}

Expected<std::optional<std::string>> BookingTables::setting(const std::string& key) {
  auto s = db_.prepare("SELECT value FROM settings WHERE key = ?1");
  if (!s) return std::unexpected(s.error());
  s->bind(1, key);
  auto r = s->step();
  if (!r) return std::unexpected(r.error());
  if (!*r) return std::optional<std::string>();
  return std::optional<std::string>(s->column_text(0));
}

Expected<void> BookingTables::put_setting(const std::string& key, const std::string& value) {
  auto s = db_.prepare("INSERT INTO settings(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE SET value = ?2");
  if (!s) return std::unexpected(s.error());
  return s->bind(1, key).bind(2, value).run();
}

bool BookingTables::recovering_from(const std::optional<std::string>& epoch_prev,
                                    const std::optional<std::string>& epoch, const std::optional<std::string>& report) {
  if (!epoch_prev || epoch_prev->empty()) return false;  // never restored
  if (!report) return true;
  auto j = json::parse(*report, nullptr, false);
  return !j.is_object() || j.value("caught_up_epoch", "") != epoch.value_or("");
}

Expected<bool> BookingTables::recovering(std::string_view hall) {
  auto prev = setting("down_epoch_prev");
  if (!prev) return std::unexpected(prev.error());
  auto epoch = setting("down_epoch");
  if (!epoch) return std::unexpected(epoch.error());
  auto report = setting(recovery_key(hall));
  if (!report) return std::unexpected(report.error());
  return recovering_from(*prev, *epoch, *report);
}

Expected<void> BookingTables::note_recovery(std::string_view hall, std::int64_t ts, const char* counter, int add,
                                            const std::string& code) {
  const std::string key = recovery_key(hall);
  auto text = setting(key);
  if (!text) return std::unexpected(text.error());
  json j = *text ? json::parse(**text, nullptr, false) : json::object();
  if (!j.is_object()) j = json::object();
  j[counter] = j.value(counter, 0) + add;
  if (!code.empty()) {
    auto& codes = j["lost_booking_codes"];
    if (!codes.is_array()) codes = json::array();
    codes.push_back(code);
    if (codes.size() > 200) codes.erase(codes.begin());
  }
  j["updated_ts"] = ts;
  return put_setting(key, j.dump());
}

// A booking central made that its store does not have: it was made after
// the backup central was restored from. The hall holds it (the person comes
// with its code), so central takes it back as a booking of its own seats, and
// says so; what never left central (the phone number, the ID hash) is gone.
Expected<void> BookingTables::relearn_central_booking(std::string_view hall, std::int64_t ts, const std::string& code,
                                                      const json& data) {
  auto s = db_.prepare("SELECT slot_start, state, source FROM bookings WHERE code = ?1");
  if (!s) return std::unexpected(s.error());
  s->bind(1, code);
  auto r = s->step();
  if (!r) return std::unexpected(r.error());
  const std::int64_t slot_start = data.value("slot_start", std::int64_t{0});
  const std::int64_t slot_end = data.value("slot_end", std::int64_t{0});
  const std::string service = data.value("service", "");
  if (*r) {
    const std::int64_t known_start = s->column_int(0);
    const std::string state = s->column_text(1);
    const std::string source = s->column_text(2);
    s->reset();
    if (known_start == slot_start || state != "booked" || source != "central") return {};
    // A reschedule central lost. Outside a recovery the hall may simply be
    // behind a newer reschedule, so only a recovering hall is believed.
    auto rec = recovering(hall);
    if (!rec) return std::unexpected(rec.error());
    if (!*rec) return {};
    auto u = db_.prepare(
        "UPDATE bookings SET slot_start = ?2, slot_end = ?3, person_day = ?4, updated_ts = ?5 WHERE code = ?1");
    if (!u) return std::unexpected(u.error());
    u->bind(1, code).bind(2, slot_start).bind(3, slot_end).bind(4, data.value("day", std::int64_t{0})).bind(5, ts);
    if (auto ok = u->run(); !ok) return ok;
    spdlog::warn("recovery: hall {} has central's booking {} at slot {} where central's store had {}: the "
                 "reschedule central lost is taken back from the hall's log",
                 hall, code, slot_start, known_start);
    return note_recovery(hall, ts, "relearned_reschedules", 1, "");
  }
  s->reset();
  auto ins = db_.prepare(
      "INSERT INTO bookings(code, hall, service, slot_start, slot_end, id_hash, person_day, name, phone, "
      "special_need, state, source, created_ts, updated_ts) VALUES(?1, ?2, ?3, ?4, ?5, '', ?6, ?7, NULL, ?8, "
      "'booked', 'central', ?9, ?9)");
  if (!ins) return std::unexpected(ins.error());
  ins->bind(1, code).bind(2, hall).bind(3, service).bind(4, slot_start).bind(5, slot_end);
  ins->bind(6, data.value("day", std::int64_t{0})).bind(7, data.value("name", ""));
  const std::string need = data.value("special_need", "");
  if (need.empty()) ins->bind_null(8);
  else ins->bind(8, need);
  ins->bind(9, ts);
  if (auto ok = ins->run(); !ok) return ok;
  spdlog::warn("recovery: hall {} holds central's booking {} ({} at slot {}) that central's store lost (restored "
               "from an older backup?): taken back from the hall's log; its phone number and ID hash are gone",
               hall, code, service, slot_start);
  return note_recovery(hall, ts, "lost_bookings", 1, code);
}

// Seats moved to a hall are owned by the hall: central must never count
// fewer moved seats than the hall's own log says it received, or it would
// sell them again. Normally central's count is ahead (it moves, then the hall
// applies); after a restore the halls' re-sent events bring it back up.
Expected<void> BookingTables::relearn_moves(std::string_view hall, std::int64_t ts, const json& data) {
  const std::string service = data.value("service", "");
  const std::int64_t slot_start = data.value("slot_start", std::int64_t{0});
  const std::int64_t add = data.value("add", std::int64_t{0});
  if (service.empty() || slot_start == 0 || add <= 0) return {};
  const std::string key = "booking_moves_seen:" + std::string(hall);
  auto text = setting(key);
  if (!text) return std::unexpected(text.error());
  json seen = *text ? json::parse(**text, nullptr, false) : json::object();
  if (!seen.is_object()) seen = json::object();
  const std::string slot_key = service + "|" + std::to_string(slot_start);
  const std::int64_t hall_total = seen.value(slot_key, std::int64_t{0}) + add;
  seen[slot_key] = hall_total;
  // Slots that ended more than a day ago no longer matter (kept small).
  for (auto it = seen.begin(); it != seen.end();) {
    auto bar = it.key().rfind('|');
    const std::int64_t start = bar == std::string::npos ? 0 : std::atoll(it.key().c_str() + bar + 1);
    if (start + 86400000 < ts) it = seen.erase(it);
    else ++it;
  }
  if (auto ok = put_setting(key, seen.dump()); !ok) return ok;
  auto m = db_.prepare("SELECT moved FROM booking_moves WHERE hall = ?1 AND service = ?2 AND slot_start = ?3");
  if (!m) return std::unexpected(m.error());
  m->bind(1, hall).bind(2, service).bind(3, slot_start);
  auto r = m->step();
  if (!r) return std::unexpected(r.error());
  const std::int64_t known = *r ? m->column_int(0) : 0;
  m->reset();
  if (hall_total <= known) return {};
  auto up = db_.prepare(
      "INSERT INTO booking_moves(hall, service, slot_start, moved, ts) VALUES(?1, ?2, ?3, ?4, ?5) "
      "ON CONFLICT(hall, service, slot_start) DO UPDATE SET moved = ?4, ts = ?5");
  if (!up) return std::unexpected(up.error());
  if (auto ok = up->bind(1, hall).bind(2, service).bind(3, slot_start).bind(4, hall_total).bind(5, ts).run(); !ok)
    return ok;
  spdlog::warn("recovery: hall {} received {} seats of {} at slot {} where central's store counted {} moved: "
               "central lost {} (restored from an older backup?) and will not sell them again",
               hall, hall_total, service, slot_start, known, hall_total - known);
  return note_recovery(hall, ts, "relearned_moved_seats", static_cast<int>(hall_total - known), "");
}

Expected<int> BookingTables::queue_reminders(std::int64_t now) {
  auto s = db_.prepare(
      "SELECT code, hall, service, slot_start, slot_end, name, phone FROM bookings WHERE state = 'booked' AND "
      "source = 'central' AND phone IS NOT NULL AND reminded_ts IS NULL AND slot_start > ?1 AND slot_start <= ?2 "
      "LIMIT 1000");
  if (!s) return std::unexpected(s.error());
  s->bind(1, now).bind(2, now + std::int64_t{24} * 3600000);
  std::vector<json> due;
  for (auto r = s->step(); r && *r; r = s->step())
    due.push_back({{"code", s->column_text(0)}, {"hall", s->column_text(1)}, {"service", s->column_text(2)},
                   {"slot_start", s->column_int(3)}, {"slot_end", s->column_int(4)}, {"name", s->column_text(5)},
                   {"phone", s->column_text(6)}});
  s->reset();
  auto mark = db_.prepare("UPDATE bookings SET reminded_ts = ?2 WHERE code = ?1");
  if (!mark) return std::unexpected(mark.error());
  for (const auto& b : due) {
    if (auto id = runtime::enqueue_notification(db_, "booking.reminder", b.dump(), now); !id)
      return std::unexpected(id.error());
    if (auto ok = mark->bind(1, b["code"].get<std::string>()).bind(2, now).run(); !ok) return std::unexpected(ok.error());
  }
  return static_cast<int>(due.size());
}

}  // namespace yiban::central::store
