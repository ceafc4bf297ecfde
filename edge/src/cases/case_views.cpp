#include "cases/case_views.h"

#include <nlohmann/json.hpp>

namespace yiban::edge::cases {
namespace {

using nlohmann::json;

constexpr std::string_view kColumns =
    "id, role, state, attempt, file, updated_ts, prereview_due, complete_due, result";

bool is_late(const std::string& state, const json& prereview_due, const json& complete_due, std::int64_t now) {
  if (now <= 0) return false;
  if (state == "received" || state == "submitted")
    return prereview_due.is_number_integer() && now > prereview_due.get<std::int64_t>();
  if (state == "accepted") return complete_due.is_number_integer() && now > complete_due.get<std::int64_t>();
  return false;
}

// A summary from one row of kColumns.
json summary(runtime::Statement& s, std::int64_t now, json* file_out = nullptr) {
  json file = json::parse(s.column_text(4), nullptr, false);
  if (!file.is_object()) file = json::object();
  json prereview = s.column_is_null(6) ? json(nullptr) : json(s.column_int(6));
  json complete = s.column_is_null(7) ? json(nullptr) : json(s.column_int(7));
  std::string state = s.column_text(2);
  json applicant = json::object();
  if (auto a = file.find("applicant"); a != file.end() && a->is_object())
    applicant = {{"name", a->value("name", "")}, {"id", a->value("id", "")}};
  json out{{"case", s.column_text(0)},
           {"role", s.column_text(1)},
           {"service", file.value("service", "")},
           {"service_name", file.value("service_name", "")},
           {"origin", file.value("origin", "")},
           {"origin_name", file.value("origin_name", "")},
           {"handler", file.value("handler", "")},
           {"state", state},
           {"attempt", s.column_int(3)},
           {"applicant", std::move(applicant)},
           {"submitted_ts", file.value("submitted_ts", std::int64_t{0})},
           {"updated_ts", s.column_int(5)},
           {"prereview_due", prereview},
           {"complete_due", complete},
           {"late", is_late(state, prereview, complete, now)}};
  if (file_out) *file_out = std::move(file);
  return out;
}

}  // namespace

protocol::Expected<std::string> list_cases_json(runtime::Database& db, const CaseQuery& q) {
  std::string where = " WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR role = ?2)";
  auto s = db.prepare("SELECT " + std::string(kColumns) + " FROM cases" + where +
                      " ORDER BY submitted_ts DESC, id DESC LIMIT ?3 OFFSET ?4");
  auto count = db.prepare("SELECT count(*) FROM cases" + where);
  if (!s) return std::unexpected(s.error());
  if (!count) return std::unexpected(count.error());
  s->bind(1, q.state).bind(2, q.role).bind(3, q.limit).bind(4, q.offset);
  json cases = json::array();
  for (auto r = s->step(); r && *r; r = s->step()) cases.push_back(summary(*s, q.now));
  count->bind(1, q.state).bind(2, q.role);
  auto r = count->step();
  if (!r) return std::unexpected(r.error());
  std::int64_t total = *r ? count->column_int(0) : 0;
  return json{{"cases", std::move(cases)}, {"total", total}}.dump();
}

protocol::Expected<std::optional<std::string>> case_detail_json(runtime::Database& db, const std::string& id,
                                                                const runtime::BlobStore& blobs, std::int64_t now) {
  auto s = db.prepare("SELECT " + std::string(kColumns) + " FROM cases WHERE id = ?1");
  if (!s) return std::unexpected(s.error());
  s->bind(1, id);
  auto r = s->step();
  if (!r) return std::unexpected(r.error());
  if (!*r) return std::optional<std::string>();
  json file;
  json out = summary(*s, now, &file);
  out["contact"] = file.value("contact", json::object());
  out["note"] = file.value("note", "");
  out["complete_days"] = file.value("complete_days", std::int64_t{0});
  out["result"] = s->column_is_null(8) ? json(nullptr) : json::parse(s->column_text(8), nullptr, false);
  json timeline = json::array();
  auto steps = db.prepare("SELECT ts, step, hall, by_whom, note, attempt FROM case_steps WHERE id = ?1 ORDER BY n");
  if (!steps) return std::unexpected(steps.error());
  steps->bind(1, id);
  for (auto row = steps->step(); row && *row; row = steps->step()) {
    timeline.push_back({{"ts", steps->column_int(0)},
                        {"step", steps->column_text(1)},
                        {"hall", steps->column_text(2)},
                        {"by", steps->column_text(3)},
                        {"note", steps->column_text(4)},
                        {"attempt", steps->column_int(5)}});
  }
  out["timeline"] = std::move(timeline);
  json materials = json::array();
  auto m = db.prepare(
      "SELECT sha256, name, type, size, attempt FROM case_materials WHERE id = ?1 ORDER BY attempt = 0, attempt, name");
  if (!m) return std::unexpected(m.error());
  m->bind(1, id);
  for (auto row = m->step(); row && *row; row = m->step()) {
    std::string sha = m->column_text(0);
    materials.push_back({{"sha256", sha},
                         {"name", m->column_text(1)},
                         {"type", m->column_text(2)},
                         {"size", m->column_int(3)},
                         {"attempt", m->column_int(4)},
                         {"present", blobs.has(sha)}});
  }
  out["materials"] = std::move(materials);
  return std::optional<std::string>(out.dump());
}

protocol::Expected<std::optional<MaterialInfo>> case_material(runtime::Database& db, const std::string& id,
                                                              const std::string& sha256) {
  auto s = db.prepare("SELECT name, type FROM case_materials WHERE id = ?1 AND sha256 = ?2");
  if (!s) return std::unexpected(s.error());
  s->bind(1, id).bind(2, sha256);
  auto r = s->step();
  if (!r) return std::unexpected(r.error());
  if (!*r) return std::optional<MaterialInfo>();
  return std::optional<MaterialInfo>(MaterialInfo{s->column_text(0), s->column_text(1)});
}

}  // namespace yiban::edge::cases
