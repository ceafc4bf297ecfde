#include "store/case_tables.h"

#include <spdlog/spdlog.h>

#include <set>

#include "yiban/protocol/cases.h"

namespace yiban::central::store {
namespace {

using nlohmann::json;
using protocol::Expected;
namespace pc = protocol::cases;

void skip_case_event(std::string_view hall, std::int64_t seq, std::string_view type, const std::string& why) {
  spdlog::warn("hall {} event {} ({}): case not projected: {}", hall, seq, type, why);
}

bool late(const std::string& state, std::optional<std::int64_t> prereview, std::optional<std::int64_t> complete,
          std::int64_t now) {
  if (now <= 0) return false;
  if (state == "submitted" || state == "received") return prereview && now > *prereview;
  if (state == "accepted") return complete && now > *complete;
  return false;
}

constexpr std::string_view kCaseColumns =
    "id, origin, handler, state, attempt, file, updated_ts, prereview_due, complete_due, result";

json summary_of(runtime::Statement& s, std::int64_t now, json* file_out = nullptr) {
  json file = json::parse(s.column_text(5), nullptr, false);
  if (!file.is_object()) file = json::object();
  auto prereview = s.column_optional_int(7);
  auto complete = s.column_optional_int(8);
  std::string state = s.column_text(3);
  json applicant = json::object();
  if (auto a = file.find("applicant"); a != file.end() && a->is_object())
    applicant = {{"name", a->value("name", "")}, {"id", a->value("id", "")}};
  json out{{"case", s.column_text(0)},
           {"service", file.value("service", "")},
           {"service_name", file.value("service_name", "")},
           {"origin", s.column_text(1)},
           {"origin_name", file.value("origin_name", "")},
           {"handler", s.column_text(2)},
           {"state", state},
           {"attempt", s.column_int(4)},
           {"applicant", std::move(applicant)},
           {"submitted_ts", file.value("submitted_ts", std::int64_t{0})},
           {"updated_ts", s.column_int(6)},
           {"prereview_due", prereview ? json(*prereview) : json()},
           {"complete_due", complete ? json(*complete) : json()},
           {"late", late(state, prereview, complete, now)}};
  if (file_out) *file_out = std::move(file);
  return out;
}

}  // namespace



const std::vector<std::string_view>& CaseTables::projection_resets() {
  static const std::vector<std::string_view> kResets{"DELETE FROM cases", "DELETE FROM case_steps",
                                                     "DELETE FROM case_materials", "DELETE FROM case_access"};
  return kResets;
}

Expected<void> CaseTables::add_forward(std::string_view hall, std::int64_t seq, const std::string& id,
                                       const std::string& to_hall, std::string_view type, const std::string& data,
                                       const std::vector<std::string>& needs) {
  auto s = db_.prepare(
      "INSERT INTO case_forwards(hall, seq, case_id, to_hall, type, data, needs) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) "
      "ON CONFLICT(hall, seq) DO NOTHING");
  if (!s) return std::unexpected(s.error());
  s->bind(1, hall).bind(2, seq).bind(3, id).bind(4, to_hall).bind(5, type).bind(6, data).bind(7, json(needs).dump());
  return s->run();
}

Expected<void> CaseTables::add_material(const std::string& id, const json& m, std::string_view source) {
  auto s = db_.prepare(
      "INSERT INTO case_materials(id, sha256, name, type, size, attempt, source) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) "
      "ON CONFLICT(id, sha256) DO NOTHING");
  auto b = db_.prepare("INSERT INTO blobs(sha256, size, source) VALUES(?1, ?2, ?3) ON CONFLICT(sha256) DO NOTHING");
  if (!s) return std::unexpected(s.error());
  if (!b) return std::unexpected(b.error());
  const std::string sha = m.value("sha256", "");
  const std::int64_t size = m.value("size", std::int64_t{0});
  s->bind(1, id).bind(2, sha).bind(3, m.value("name", "")).bind(4, m.value("type", "")).bind(5, size);
  s->bind(6, m.value("attempt", std::int64_t{0})).bind(7, source);
  if (auto ok = s->run(); !ok) return ok;
  b->bind(1, sha).bind(2, size).bind(3, source);
  return b->run();
}

Expected<void> CaseTables::add_step(const std::string& id, std::string_view hall, std::int64_t seq, std::int64_t ts,
                                    std::string_view step, const std::string& by, const std::string& note,
                                    std::int64_t attempt) {
  auto s = db_.prepare(
      "INSERT INTO case_steps(id, hall, seq, ts, step, by_whom, note, attempt) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
      "ON CONFLICT DO NOTHING");
  if (!s) return std::unexpected(s.error());
  s->bind(1, id).bind(2, hall).bind(3, seq).bind(4, ts).bind(5, step).bind(6, by).bind(7, note).bind(8, attempt);
  return s->run();
}

Expected<void> CaseTables::apply(std::string_view hall, std::int64_t seq, std::int64_t ts, std::string_view type,
                                 const json& data) {
  // A hall's data of the wrong JSON type must never stop ingest.
  try {
    return apply_checked(hall, seq, ts, type, data);
  } catch (const json::exception& e) {
    skip_case_event(hall, seq, type, std::string("malformed data: ") + e.what());
    return {};
  }
}

Expected<void> CaseTables::apply_checked(std::string_view hall, std::int64_t seq, std::int64_t ts,
                                         std::string_view type, const json& data) {
  const std::string text = data.dump();
  if (type == pc::event::kSubmitted) {
    auto f = pc::decode_case_file(text);
    if (!f) return skip_case_event(hall, seq, type, f.error().message), Expected<void>{};
    if (f->origin != hall) return skip_case_event(hall, seq, type, "submitted by a hall that is not its origin"), Expected<void>{};
    auto s = db_.prepare(
        "INSERT INTO cases(id, origin, handler, service, state, attempt, file, submitted_ts, updated_ts, prereview_due) "
        "VALUES(?1, ?2, ?3, ?4, 'submitted', ?5, ?6, ?7, ?8, ?9) ON CONFLICT(id) DO NOTHING");
    if (!s) return std::unexpected(s.error());
    s->bind(1, f->id).bind(2, f->origin).bind(3, f->handler).bind(4, f->service).bind(5, f->attempt).bind(6, text);
    s->bind(7, f->submitted_ts).bind(8, ts).bind(9, f->prereview_due);
    if (auto ok = s->run(); !ok) return ok;
    if (db_.changes() == 0) return skip_case_event(hall, seq, type, "case " + f->id + " exists already"), Expected<void>{};
    std::vector<std::string> needs;
    for (const auto& m : data["materials"]) {
      if (auto ok = add_material(f->id, m, hall); !ok) return ok;
      needs.push_back(m["sha256"]);
    }
    if (auto ok = add_step(f->id, hall, seq, ts, "submitted", f->by, f->note, f->attempt); !ok) return ok;
    return add_forward(hall, seq, f->id, f->handler, pc::kAssignCommand, text, needs);
  }
  if (type == pc::event::kResubmitted) {
    auto r = pc::decode_resubmitted(text);
    if (!r) return skip_case_event(hall, seq, type, r.error().message), Expected<void>{};
    auto s = db_.prepare("SELECT origin, file FROM cases WHERE id = ?1");
    if (!s) return std::unexpected(s.error());
    s->bind(1, r->id);
    auto row = s->step();
    if (!row) return std::unexpected(row.error());
    if (!*row || s->column_text(0) != hall) return skip_case_event(hall, seq, type, "not a case of this hall"), Expected<void>{};
    json file = json::parse(s->column_text(1), nullptr, false);
    s->reset();
    if (!file.is_object()) return skip_case_event(hall, seq, type, "stored case file unreadable"), Expected<void>{};
    for (const auto& m : data["materials"]) file["materials"].push_back(m);
    file["attempt"] = r->attempt;
    file["prereview_due"] = r->prereview_due;
    const std::string file_text = file.dump();
    auto u = db_.prepare(
        "UPDATE cases SET state = 'submitted', attempt = ?2, file = ?3, updated_ts = ?4, prereview_due = ?5 WHERE id = ?1");
    if (!u) return std::unexpected(u.error());
    u->bind(1, r->id).bind(2, r->attempt).bind(3, file_text).bind(4, ts).bind(5, r->prereview_due);
    if (auto ok = u->run(); !ok) return ok;
    std::vector<std::string> needs;
    for (const auto& m : file["materials"]) {
      if (auto ok = add_material(r->id, m, hall); !ok) return ok;
      needs.push_back(m.value("sha256", ""));
    }
    if (auto ok = add_step(r->id, hall, seq, ts, "resubmitted", r->by, r->note, r->attempt); !ok) return ok;
    return add_forward(hall, seq, r->id, file.value("handler", ""), pc::kAssignCommand, file_text, needs);
  }
  if (type == pc::event::kViewed) {
    auto id = data.value("case", "");
    auto s = db_.prepare(
        "INSERT INTO case_access(id, hall, seq, ts, by_whom, what, sha256) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) "
        "ON CONFLICT DO NOTHING");
    if (!s) return std::unexpected(s.error());
    s->bind(1, id).bind(2, hall).bind(3, seq).bind(4, ts).bind(5, data.value("by", "")).bind(6, data.value("what", ""));
    if (auto sha = data.find("sha256"); sha != data.end() && sha->is_string()) s->bind(7, sha->get<std::string>());
    else s->bind_null(7);
    return s->run();
  }
  if (type == pc::event::kUpdated) return {};  // the origin applied a step it was sent
  // B's steps: received, accepted, more_needed, rejected, completed.
  std::string id = data.value("case", "");
  auto s = db_.prepare("SELECT handler, origin, attempt, state FROM cases WHERE id = ?1");
  if (!s) return std::unexpected(s.error());
  s->bind(1, id);
  auto row = s->step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return skip_case_event(hall, seq, type, "no case " + id), Expected<void>{};
  const std::string handler = s->column_text(0);
  const std::string origin = s->column_text(1);
  const std::int64_t attempt = s->column_int(2);
  s->reset();
  if (handler != hall) return skip_case_event(hall, seq, type, "hall does not handle case " + id), Expected<void>{};
  pc::Step step;
  if (type == pc::event::kReceived) {
    step.id = id;
    step.state = pc::State::kReceived;
    step.hall = std::string(hall);
    step.ts = ts;
    step.attempt = static_cast<int>(data.value("attempt", std::int64_t{1}));
  } else {
    auto decoded = pc::decode_step(text);
    if (!decoded) return skip_case_event(hall, seq, type, decoded.error().message), Expected<void>{};
    step = std::move(*decoded);
    if (step.hall != hall || "case." + std::string(pc::to_string(step.state)) != type)
      return skip_case_event(hall, seq, type, "step does not match its event"), Expected<void>{};
  }
  std::vector<std::string> needs;
  if (step.attempt == attempt) {
    auto u = db_.prepare(
        "UPDATE cases SET state = ?2, updated_ts = ?3, complete_due = coalesce(?4, complete_due), "
        "result = coalesce(?5, result) WHERE id = ?1");
    if (!u) return std::unexpected(u.error());
    u->bind(1, id).bind(2, pc::to_string(step.state)).bind(3, ts);
    if (step.complete_due > 0) u->bind(4, step.complete_due);
    else u->bind_null(4);
    if (step.result) u->bind(5, pc::encode_material(*step.result));
    else u->bind_null(5);
    if (auto ok = u->run(); !ok) return ok;
  }
  if (step.result) {
    if (auto ok = add_material(id, json::parse(pc::encode_material(*step.result)), hall); !ok) return ok;
    needs.push_back(step.result->sha256);
  }
  if (auto ok = add_step(id, hall, seq, ts, pc::to_string(step.state), step.by, step.note, step.attempt); !ok)
    return ok;
  return add_forward(hall, seq, id, origin, pc::kUpdateCommand, pc::encode_step(step), needs);
}

Expected<std::vector<RoutedCommand>> CaseTables::route(
    std::int64_t ts, const std::function<bool(std::string_view)>& known_hall,
    const std::function<Expected<std::int64_t>(std::string_view, std::string_view, std::string_view)>& enqueue) {
  (void)ts;
  std::vector<RoutedCommand> out;
  struct Pending {
    std::string hall, case_id, to_hall, type, data, needs;
    std::int64_t seq;
  };
  std::vector<Pending> pending;
  auto s = db_.prepare(
      "SELECT hall, seq, case_id, to_hall, type, data, needs FROM case_forwards WHERE down_seq IS NULL "
      "ORDER BY case_id, to_hall, hall, seq");
  if (!s) return std::unexpected(s.error());
  for (auto r = s->step(); r && *r; r = s->step()) {
    pending.push_back({s->column_text(0), s->column_text(2), s->column_text(3), s->column_text(4), s->column_text(5),
                       s->column_text(6), s->column_int(1)});
  }
  s.value().reset();
  auto present = db_.prepare("SELECT present FROM blobs WHERE sha256 = ?1");
  auto mark = db_.prepare("UPDATE case_forwards SET down_seq = ?3 WHERE hall = ?1 AND seq = ?2");
  if (!present) return std::unexpected(present.error());
  if (!mark) return std::unexpected(mark.error());
  std::set<std::pair<std::string, std::string>> blocked;  // (case, to_hall) waiting for an earlier forward
  for (const auto& p : pending) {
    auto key = std::make_pair(p.case_id, p.to_hall);
    if (blocked.contains(key)) continue;
    bool ready = !p.to_hall.empty() && known_hall(p.to_hall);
    json needs = json::parse(p.needs, nullptr, false);
    if (ready && needs.is_array()) {
      for (const auto& sha : needs) {
        if (!sha.is_string()) continue;
        present->bind(1, sha.get<std::string>());
        auto r = present->step();
        bool here = r && *r && present->column_int(0) == 1;
        present->reset();
        if (!here) {
          ready = false;
          break;
        }
      }
    }
    if (!ready) {
      blocked.insert(key);
      continue;
    }
    auto down = enqueue(p.to_hall, p.type, p.data);
    if (!down) return std::unexpected(down.error());
    mark->bind(1, p.hall).bind(2, p.seq).bind(3, *down);
    if (auto ok = mark->run(); !ok) return std::unexpected(ok.error());
    out.push_back({p.to_hall, *down});
    spdlog::info("cases: {} of case {} sent to hall {} as command {}", p.type, p.case_id, p.to_hall, *down);
  }
  return out;
}

Expected<void> CaseTables::set_blob_present(std::string_view sha256, std::int64_t ts) {
  auto s = db_.prepare("UPDATE blobs SET present = 1, present_ts = ?2 WHERE sha256 = ?1");
  if (!s) return std::unexpected(s.error());
  return s->bind(1, sha256).bind(2, ts).run();
}

Expected<int> CaseTables::sweep_sla(std::int64_t now) {
  int changed = 0;
  auto raise = db_.prepare(
      "INSERT INTO case_alerts(case_id, rule, hall, message, raised_ts) "
      "SELECT id, 'case_prereview_late', handler, '跨域案件 ' || id || ' 预审已超时', ?1 FROM cases "
      "WHERE state IN ('submitted', 'received') AND prereview_due < ?1 "
      "UNION ALL SELECT id, 'case_completion_late', handler, '跨域案件 ' || id || ' 办理已超时', ?1 FROM cases "
      "WHERE state = 'accepted' AND complete_due < ?1 "
      "ON CONFLICT(case_id, rule) DO NOTHING");
  if (!raise) return std::unexpected(raise.error());
  if (auto ok = raise->bind(1, now).run(); !ok) return std::unexpected(ok.error());
  changed += db_.changes();
  auto resolve = db_.prepare(
      "UPDATE case_alerts SET resolved_ts = ?1 WHERE resolved_ts IS NULL AND NOT EXISTS (SELECT 1 FROM cases c WHERE "
      "c.id = case_alerts.case_id AND ((case_alerts.rule = 'case_prereview_late' AND c.state IN ('submitted', "
      "'received')) OR (case_alerts.rule = 'case_completion_late' AND c.state = 'accepted')))");
  if (!resolve) return std::unexpected(resolve.error());
  if (auto ok = resolve->bind(1, now).run(); !ok) return std::unexpected(ok.error());
  changed += db_.changes();
  return changed;
}

Expected<std::vector<json>> CaseTables::open_alerts(std::optional<std::string_view> hall) {
  auto s = db_.prepare(
      "SELECT case_id, rule, hall, message, raised_ts FROM case_alerts WHERE resolved_ts IS NULL AND (?1 IS NULL OR "
      "hall = ?1) ORDER BY raised_ts");
  if (!s) return std::unexpected(s.error());
  if (hall) s->bind(1, *hall);
  else s->bind_null(1);
  std::vector<json> out;
  for (auto r = s->step(); r && *r; r = s->step()) {
    std::string id = s->column_text(0);
    std::string rule = s->column_text(1);
    out.push_back({{"hall", s->column_text(2)},
                   {"alert", "central:" + rule + ":" + id},
                   {"rule", rule},
                   {"subject", id},
                   {"severity", "critical"},
                   {"state", "raised"},
                   {"message", s->column_text(3)},
                   {"raised_ts", s->column_int(4)},
                   {"acked_ts", nullptr},
                   {"acked_by", nullptr},
                   {"source", "central"}});
  }
  return out;
}

Expected<void> CaseTables::record_access(std::string_view id, std::int64_t ts, std::string_view by,
                                         std::string_view what, std::string_view sha256) {
  auto s = db_.prepare("INSERT INTO central_access(id, ts, by_whom, what, sha256) VALUES(?1, ?2, ?3, ?4, ?5)");
  if (!s) return std::unexpected(s.error());
  s->bind(1, id).bind(2, ts).bind(3, by).bind(4, what);
  if (sha256.empty()) s->bind_null(5);
  else s->bind(5, sha256);
  return s->run();
}

Expected<std::vector<WantedBlob>> CaseTables::wanted_from(std::string_view hall) {
  auto s = db_.prepare("SELECT sha256, size FROM blobs WHERE present = 0 AND source = ?1 ORDER BY sha256");
  if (!s) return std::unexpected(s.error());
  s->bind(1, hall);
  std::vector<WantedBlob> out;
  for (auto r = s->step(); r && *r; r = s->step()) out.push_back({s->column_text(0), s->column_int(1)});
  return out;
}

Expected<bool> CaseTables::allowed(std::string_view hall, std::string_view sha256) {
  auto s = db_.prepare(
      "SELECT 1 FROM case_materials m JOIN cases c ON c.id = m.id WHERE m.sha256 = ?1 AND (c.origin = ?2 OR "
      "c.handler = ?2) LIMIT 1");
  if (!s) return std::unexpected(s.error());
  s->bind(1, sha256).bind(2, hall);
  auto r = s->step();
  if (!r) return std::unexpected(r.error());
  return *r;
}

Expected<std::optional<CaseParties>> CaseTables::parties(std::string_view id) {
  auto s = db_.prepare("SELECT origin, handler FROM cases WHERE id = ?1");
  if (!s) return std::unexpected(s.error());
  s->bind(1, id);
  auto r = s->step();
  if (!r) return std::unexpected(r.error());
  if (!*r) return std::optional<CaseParties>();
  return std::optional<CaseParties>(CaseParties{s->column_text(0), s->column_text(1)});
}

Expected<std::string> CaseTables::list_json(const CaseQuery& q) {
  const std::string where =
      " WHERE (?1 IS NULL OR origin = ?1 OR handler = ?1) AND (?2 IS NULL OR state = ?2) AND (?3 = 0 OR "
      "(state IN ('submitted', 'received') AND prereview_due < ?4) OR (state = 'accepted' AND complete_due < ?4))";
  auto s = db_.prepare("SELECT " + std::string(kCaseColumns) + " FROM cases" + where +
                       " ORDER BY submitted_ts DESC, id DESC LIMIT ?5 OFFSET ?6");
  auto count = db_.prepare("SELECT count(*) FROM cases" + where);
  if (!s) return std::unexpected(s.error());
  if (!count) return std::unexpected(count.error());
  for (auto* st : {&*s, &*count}) {
    st->bind(1, q.hall).bind(2, q.state).bind(3, q.late_only ? 1 : 0).bind(4, q.now);
  }
  s->bind(5, q.limit).bind(6, q.offset);
  json cases = json::array();
  for (auto r = s->step(); r && *r; r = s->step()) cases.push_back(summary_of(*s, q.now));
  auto r = count->step();
  if (!r) return std::unexpected(r.error());
  return json{{"cases", std::move(cases)}, {"total", *r ? count->column_int(0) : 0}}.dump();
}

Expected<std::optional<std::string>> CaseTables::detail_json(std::string_view id, std::int64_t now) {
  auto s = db_.prepare("SELECT " + std::string(kCaseColumns) + " FROM cases WHERE id = ?1");
  if (!s) return std::unexpected(s.error());
  s->bind(1, id);
  auto r = s->step();
  if (!r) return std::unexpected(r.error());
  if (!*r) return std::optional<std::string>();
  json file;
  json out = summary_of(*s, now, &file);
  // Central holds the contact and the note only sealed to the handling hall
  // (issue 15): shown as null; "sealed" says the halls have them.
  out["contact"] = file.value("contact", json(nullptr));
  out["note"] = file.value("note", "");
  out["sealed"] = file.contains("sealed");
  out["complete_days"] = file.value("complete_days", std::int64_t{0});
  out["result"] = s->column_is_null(9) ? json(nullptr) : json::parse(s->column_text(9), nullptr, false);
  json timeline = json::array();
  auto t = db_.prepare("SELECT ts, step, hall, by_whom, note, attempt FROM case_steps WHERE id = ?1 ORDER BY ts, hall, seq");
  if (!t) return std::unexpected(t.error());
  t->bind(1, id);
  for (auto row = t->step(); row && *row; row = t->step())
    timeline.push_back({{"ts", t->column_int(0)}, {"step", t->column_text(1)}, {"hall", t->column_text(2)},
                        {"by", t->column_text(3)}, {"note", t->column_text(4)}, {"attempt", t->column_int(5)}});
  out["timeline"] = std::move(timeline);
  json materials = json::array();
  auto m = db_.prepare(
      "SELECT m.sha256, m.name, m.type, m.size, m.attempt, coalesce(b.present, 0) FROM case_materials m LEFT JOIN "
      "blobs b ON b.sha256 = m.sha256 WHERE m.id = ?1 ORDER BY m.attempt = 0, m.attempt, m.name");
  if (!m) return std::unexpected(m.error());
  m->bind(1, id);
  for (auto row = m->step(); row && *row; row = m->step())
    materials.push_back({{"sha256", m->column_text(0)}, {"name", m->column_text(1)}, {"type", m->column_text(2)},
                         {"size", m->column_int(3)}, {"attempt", m->column_int(4)}, {"present", m->column_int(5) == 1}});
  out["materials"] = std::move(materials);
  json access = json::array();
  auto a = db_.prepare(
      "SELECT ts, hall, by_whom, what, sha256 FROM case_access WHERE id = ?1 UNION ALL SELECT ts, 'central', by_whom, "
      "what, sha256 FROM central_access WHERE id = ?1 ORDER BY 1");
  if (!a) return std::unexpected(a.error());
  a->bind(1, id);
  for (auto row = a->step(); row && *row; row = a->step())
    access.push_back({{"ts", a->column_int(0)}, {"hall", a->column_text(1)}, {"by", a->column_text(2)},
                      {"what", a->column_text(3)},
                      {"sha256", a->column_is_null(4) ? json(nullptr) : json(a->column_text(4))}});
  out["access"] = std::move(access);
  return std::optional<std::string>(out.dump());
}

Expected<std::optional<std::pair<std::string, std::string>>> CaseTables::material(std::string_view id,
                                                                                  std::string_view sha256) {
  auto s = db_.prepare("SELECT name, type FROM case_materials WHERE id = ?1 AND sha256 = ?2");
  if (!s) return std::unexpected(s.error());
  s->bind(1, id).bind(2, sha256);
  auto r = s->step();
  if (!r) return std::unexpected(r.error());
  if (!*r) return std::optional<std::pair<std::string, std::string>>();
  return std::optional<std::pair<std::string, std::string>>(std::make_pair(s->column_text(0), s->column_text(1)));
}

}  // namespace yiban::central::store
