#include "cases/case_desk.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "cases/case_views.h"
#include "console/console_actions.h"
#include "yiban/protocol/cases.h"
#include "yiban/protocol/city_catalog.h"

namespace yiban::edge::cases {
namespace {

using nlohmann::json;
namespace pc = protocol::cases;
using console::error_result;

constexpr std::string_view kOrigin = "origin";
constexpr std::string_view kHandler = "handler";

console::Result store_failure(const protocol::Error& e) {
  spdlog::error("cases: store: {}", e.message);
  return error_result(500, "internal", "the hall could not record this case step; try again");
}

}  // namespace

struct CaseDesk::Row {
  std::string id;
  std::string role;
  pc::State state = pc::State::kSubmitted;
  pc::CaseFile file;
  std::int64_t updated_ts = 0;
  std::int64_t complete_due = 0;
  std::optional<std::string> result;  // material JSON
};

CaseDesk::CaseDesk(store::EdgeStore& store, const runtime::BlobStore& blobs, std::string case_key,
                   const protocol::HallConfig& config, const protocol::TimeZone& zone, std::string public_key,
                   std::string secret_key)
    : store_(store),
      blobs_(blobs),
      case_key_(std::move(case_key)),
      public_key_(std::move(public_key)),
      secret_key_(std::move(secret_key)),
      config_(config),
      zone_(zone) {}

protocol::Expected<std::optional<CaseDesk::Row>> CaseDesk::load(const std::string& id) {
  auto s = store_.database().prepare("SELECT role, state, file, updated_ts, complete_due, result FROM cases WHERE id = ?1");
  if (!s) return std::unexpected(s.error());
  s->bind(1, id);
  auto r = s->step();
  if (!r) return std::unexpected(r.error());
  if (!*r) return std::optional<Row>();
  Row row;
  row.id = id;
  row.role = s->column_text(0);
  auto state = pc::state_from_string(s->column_text(1));
  auto file = pc::decode_case_file(s->column_text(2));
  if (!state || !file) return protocol::error("case " + id + ": stored row unreadable");
  row.state = *state;
  row.file = std::move(*file);
  row.updated_ts = s->column_int(3);
  row.complete_due = s->column_optional_int(4).value_or(0);
  row.result = s->column_optional_text(5);
  return std::optional<Row>(std::move(row));
}

protocol::Expected<void> CaseDesk::save(const Row& row) {
  auto s = store_.database().prepare(
      "INSERT INTO cases(id, role, state, attempt, file, service, origin, handler, submitted_ts, updated_ts, "
      "prereview_due, complete_due, result) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) "
      "ON CONFLICT(id) DO UPDATE SET state = ?3, attempt = ?4, file = ?5, updated_ts = ?10, prereview_due = ?11, "
      "complete_due = ?12, result = ?13");
  if (!s) return std::unexpected(s.error());
  const auto& f = row.file;
  s->bind(1, row.id).bind(2, row.role).bind(3, pc::to_string(row.state)).bind(4, f.attempt);
  s->bind(5, pc::encode_case_file(f)).bind(6, f.service).bind(7, f.origin).bind(8, f.handler);
  s->bind(9, f.submitted_ts).bind(10, row.updated_ts).bind(11, f.prereview_due);
  if (row.complete_due > 0) s->bind(12, row.complete_due);
  else s->bind_null(12);
  s->bind(13, row.result);
  return s->run();
}

protocol::Expected<void> CaseDesk::add_step(const std::string& id, std::int64_t ts, std::string_view step,
                                            const std::string& hall, const std::string& by, const std::string& note,
                                            int attempt) {
  auto s = store_.database().prepare(
      "INSERT INTO case_steps(id, n, ts, step, hall, by_whom, note, attempt) "
      "VALUES(?1, (SELECT coalesce(max(n), 0) + 1 FROM case_steps WHERE id = ?1), ?2, ?3, ?4, ?5, ?6, ?7)");
  if (!s) return std::unexpected(s.error());
  s->bind(1, id).bind(2, ts).bind(3, step).bind(4, hall).bind(5, by).bind(6, note).bind(7, attempt);
  return s->run();
}

protocol::Expected<void> CaseDesk::add_material(const std::string& id, const std::string& sha,
                                                const std::string& name, const std::string& type,
                                                std::int64_t size, int attempt) {
  auto s = store_.database().prepare(
      "INSERT INTO case_materials(id, sha256, name, type, size, attempt) VALUES(?1, ?2, ?3, ?4, ?5, ?6) "
      "ON CONFLICT(id, sha256) DO NOTHING");
  if (!s) return std::unexpected(s.error());
  s->bind(1, id).bind(2, sha).bind(3, name).bind(4, type).bind(5, size).bind(6, attempt);
  return s->run();
}

console::Result CaseDesk::detail(const std::string& id, std::int64_t now) {
  auto body = case_detail_json(store_.database(), id, blobs_, now);
  if (!body) return store_failure(body.error());
  if (!*body) return error_result(404, "not_found", "no case " + id + " at this hall");
  return {200, **body};
}

namespace {

// A file the staff uploaded, as a material: it must be here, and its type
// is read from its content.
protocol::Expected<pc::Material> material_of(const runtime::BlobStore& blobs, const pc::MaterialRef& ref, int attempt,
                                             const std::string& at) {
  if (!blobs.has(ref.sha256))
    return protocol::error(at + ": file " + ref.sha256.substr(0, 12) + "… was not uploaded to this hall (POST /api/v1/blobs)");
  auto size = blobs.size_of(ref.sha256);
  auto head = blobs.read(ref.sha256, 0, 16);
  if (!size || !head) return protocol::error(at + ": file " + ref.sha256.substr(0, 12) + "… cannot be read");
  auto type = pc::sniff_type(*head);
  if (!type) return protocol::error(at + ": file is not a PDF, JPEG or PNG");
  return pc::Material{ref.sha256, ref.name, std::string(*type), *size, attempt};
}

}  // namespace

console::Result CaseDesk::submit(const std::string& body, const std::string& by, std::int64_t now) {
  if (case_key_.empty())
    return error_result(503, "no_case_key",
                        "this hall has no case key (--case-key-file), so it cannot hash applicants' IDs");
  auto request = pc::decode_submit(body);
  if (!request) return error_result(400, "bad_request", request.error().message);
  auto stored = store_.get_meta("city_catalog");
  if (!stored) return store_failure(stored.error());
  if (!*stored) return error_result(409, "no_catalog", "the city service catalog has not reached this hall yet");
  auto catalog = protocol::parse_city_catalog(**stored);
  if (!catalog) return store_failure(protocol::Error{"stored catalog: " + catalog.error().message});
  const auto* service = catalog->find(request->service);
  if (!service)
    return error_result(404, "unknown_service", "service " + request->service + " is not in the city catalog");
  if (service->hall == config_.hall)
    return error_result(409, "handled_here",
                        "service " + request->service + " is handled by this hall; serve it at a counter");
  auto id_number = pc::normalise_id(request->applicant_id);
  if (!id_number) return error_result(400, "bad_request", id_number.error().message);
  // The contact and the note leave sealed to the handling hall (issue 15).
  auto handler_keys = catalog->hall_keys.find(service->hall);
  if (handler_keys == catalog->hall_keys.end() || handler_keys->second.empty())
    return error_result(409, "no_handler_key",
                        "the city catalog this hall holds has no key of hall " + service->hall +
                            ", so the contact cannot be sealed to it; wait for central to resend the catalog");

  pc::CaseFile f;
  for (std::size_t i = 0; i < request->materials.size(); ++i) {
    auto m = material_of(blobs_, request->materials[i], 1, "materials[" + std::to_string(i) + "]");
    if (!m) return error_result(400, "bad_request", m.error().message);
    f.materials.push_back(std::move(*m));
  }
  const int day = zone_.local_day(now);
  auto n = store_.next_number(day, "#case");
  if (!n) return store_failure(n.error());
  f.id = pc::case_id(config_.hall, day, *n);
  f.attempt = 1;
  f.service = service->code;
  f.service_name = service->name;
  f.origin = config_.hall;
  f.origin_name = config_.name;
  f.handler = service->hall;
  f.handler_region = service->region;
  f.applicant = {pc::mask_name(request->applicant_name), pc::mask_id(*id_number),
                 pc::keyed_hash(case_key_, *id_number)};
  f.contact_name = request->contact_name;
  f.contact_phone = request->contact_phone;
  f.note = request->note;
  f.by = by;
  f.submitted_ts = now;
  f.prereview_due = pc::add_working_hours(now, service->prereview_h, zone_);
  f.complete_days = service->complete_days;
  if (auto sealed = pc::seal_private(f, handler_keys->second); !sealed)
    return error_result(409, "no_handler_key", "hall " + service->hall + ": " + sealed.error().message);

  Row row;
  row.id = f.id;
  row.role = kOrigin;
  row.state = pc::State::kSubmitted;
  row.file = f;
  row.updated_ts = now;
  auto ok = save(row);
  for (const auto& m : f.materials) {
    if (ok) ok = add_material(f.id, m.sha256, m.name, m.type, m.size, 1);
  }
  if (ok) ok = add_step(f.id, now, "submitted", config_.hall, by, f.note, 1);
  if (ok) {
    auto seq = store_.append_event(now, pc::event::kSubmitted, pc::encode_case_file_sealed(f));
    if (!seq) ok = std::unexpected(seq.error());
  }
  if (!ok) return store_failure(ok.error());
  spdlog::info("case {} submitted by {}: service {} to hall {}, {} materials", f.id, by, f.service, f.handler,
               f.materials.size());
  auto d = detail(f.id, now);
  if (d.status == 200) d.status = 201;
  return d;
}

console::Result CaseDesk::resubmit(const std::string& id, const std::string& body, const std::string& by,
                                   std::int64_t now) {
  auto request = pc::decode_resubmit(body);
  if (!request) return error_result(400, "bad_request", request.error().message);
  auto row = load(id);
  if (!row) return store_failure(row.error());
  if (!*row || (*row)->role != kOrigin) return error_result(404, "not_found", "no case " + id + " submitted here");
  Row r = std::move(**row);
  if (r.state != pc::State::kMoreNeeded)
    return error_result(409, "invalid_state",
                        "case " + id + " is " + std::string(pc::to_string(r.state)) +
                            "; materials are added only when the handling hall asked for more");
  const int attempt = r.file.attempt + 1;
  std::vector<pc::Material> added;
  for (std::size_t i = 0; i < request->materials.size(); ++i) {
    auto m = material_of(blobs_, request->materials[i], attempt, "materials[" + std::to_string(i) + "]");
    if (!m) return error_result(400, "bad_request", m.error().message);
    added.push_back(std::move(*m));
  }
  // The pre-review clock starts again: the catalog's span, or the first one's.
  std::int64_t hours = std::max<std::int64_t>(1, (r.file.prereview_due - r.file.submitted_ts) / 3600000);
  if (auto stored = store_.get_meta("city_catalog"); stored && *stored) {
    if (auto catalog = protocol::parse_city_catalog(**stored); catalog) {
      if (const auto* s = catalog->find(r.file.service)) hours = s->prereview_h;
    }
  }
  r.file.attempt = attempt;
  r.file.prereview_due = pc::add_working_hours(now, hours, zone_);
  for (const auto& m : added) r.file.materials.push_back(m);
  r.state = pc::State::kSubmitted;
  r.updated_ts = now;
  auto ok = save(r);
  for (const auto& m : added) {
    if (ok) ok = add_material(id, m.sha256, m.name, m.type, m.size, attempt);
  }
  if (ok) ok = add_step(id, now, "resubmitted", config_.hall, by, request->note, attempt);
  if (ok) {
    auto seq = store_.append_event(
        now, pc::event::kResubmitted, pc::encode_resubmitted(id, attempt, request->note, by, added, r.file.prereview_due));
    if (!seq) ok = std::unexpected(seq.error());
  }
  if (!ok) return store_failure(ok.error());
  spdlog::info("case {} resubmitted by {} (attempt {}, {} new materials)", id, by, attempt, added.size());
  return detail(id, now);
}

console::Result CaseDesk::review(const std::string& id, const std::string& body, const std::string& by,
                                 std::int64_t now) {
  auto request = pc::decode_review(body);
  if (!request) return error_result(400, "bad_request", request.error().message);
  auto row = load(id);
  if (!row) return store_failure(row.error());
  if (!*row || (*row)->role != kHandler) return error_result(404, "not_found", "no case " + id + " handled here");
  Row r = std::move(**row);
  if (r.state != pc::State::kReceived)
    return error_result(409, "invalid_state",
                        "case " + id + " is " + std::string(pc::to_string(r.state)) + "; only a received case is reviewed");
  pc::Step step;
  step.id = id;
  step.hall = config_.hall;
  step.ts = now;
  step.attempt = r.file.attempt;
  step.by = by;
  step.note = request->note;
  std::string_view type;
  switch (request->decision) {
    case pc::Decision::kAccept:
      step.state = pc::State::kAccepted;
      step.complete_due = pc::add_working_hours(now, static_cast<std::int64_t>(r.file.complete_days) * 24, zone_);
      r.complete_due = step.complete_due;
      type = pc::event::kAccepted;
      break;
    case pc::Decision::kMoreNeeded:
      step.state = pc::State::kMoreNeeded;
      type = pc::event::kMoreNeeded;
      break;
    case pc::Decision::kReject:
      step.state = pc::State::kRejected;
      type = pc::event::kRejected;
      break;
  }
  r.state = step.state;
  r.updated_ts = now;
  auto ok = save(r);
  if (ok) ok = add_step(id, now, pc::to_string(step.state), config_.hall, by, step.note, step.attempt);
  if (ok) {
    auto seq = store_.append_event(now, type, pc::encode_step(step));
    if (!seq) ok = std::unexpected(seq.error());
  }
  if (!ok) return store_failure(ok.error());
  spdlog::info("case {} {} by {}", id, pc::to_string(step.state), by);
  return detail(id, now);
}

console::Result CaseDesk::complete(const std::string& id, const std::string& body, const std::string& by,
                                   std::int64_t now) {
  auto request = pc::decode_complete(body);
  if (!request) return error_result(400, "bad_request", request.error().message);
  auto row = load(id);
  if (!row) return store_failure(row.error());
  if (!*row || (*row)->role != kHandler) return error_result(404, "not_found", "no case " + id + " handled here");
  Row r = std::move(**row);
  if (r.state != pc::State::kAccepted)
    return error_result(409, "invalid_state",
                        "case " + id + " is " + std::string(pc::to_string(r.state)) + "; only an accepted case is completed");
  pc::Step step;
  step.id = id;
  step.state = pc::State::kCompleted;
  step.hall = config_.hall;
  step.ts = now;
  step.attempt = r.file.attempt;
  step.by = by;
  step.note = request->note;
  if (request->result) {
    auto m = material_of(blobs_, *request->result, 0, "result");
    if (!m) return error_result(400, "bad_request", m.error().message);
    step.result = std::move(*m);
    r.result = pc::encode_material(*step.result);
  }
  r.state = pc::State::kCompleted;
  r.updated_ts = now;
  auto ok = save(r);
  if (ok && step.result)
    ok = add_material(id, step.result->sha256, step.result->name, step.result->type, step.result->size, 0);
  if (ok) ok = add_step(id, now, "completed", config_.hall, by, step.note, step.attempt);
  if (ok) {
    auto seq = store_.append_event(now, pc::event::kCompleted, pc::encode_step(step));
    if (!seq) ok = std::unexpected(seq.error());
  }
  if (!ok) return store_failure(ok.error());
  spdlog::info("case {} completed by {}{}", id, by, step.result ? " with a result document" : "");
  return detail(id, now);
}

console::Result CaseDesk::viewed(const std::string& id, const std::string& by, const std::string& sha256,
                                 std::int64_t now) {
  auto seq = store_.append_event(now, pc::event::kViewed,
                                 pc::encode_viewed(id, by, sha256.empty() ? "detail" : "material", sha256));
  if (!seq) return store_failure(seq.error());
  return {200, "{}"};
}

protocol::Expected<void> CaseDesk::apply_assign(const std::string& data_json, std::int64_t now) {
  auto f = pc::decode_case_file(data_json);
  if (!f) return std::unexpected(f.error());
  if (f->handler != config_.hall) return protocol::error("case " + f->id + " is for hall " + f->handler);
  auto existing = load(f->id);
  if (!existing) return std::unexpected(existing.error());
  Row r;
  if (*existing) {
    r = std::move(**existing);
    if (r.role != kHandler) return protocol::error("case " + f->id + " was submitted here, not assigned");
    if (r.file.attempt >= f->attempt) return {};  // this attempt is here already
    if (r.state != pc::State::kMoreNeeded)
      return protocol::error("case " + f->id + " is " + std::string(pc::to_string(r.state)) +
                             "; a new attempt fits only after asking for more materials");
  } else {
    r.id = f->id;
    r.role = kHandler;
  }
  const bool first = r.file.id.empty();
  if (!f->sealed.empty()) {
    // The case is taken even when its box does not open: the materials and
    // the review do not need the contact, and staff can ask the origin.
    if (secret_key_.empty()) {
      spdlog::error("case {}: its contact is sealed to this hall, but this hall has no --hall-cert to open it", f->id);
    } else if (auto opened = pc::open_private(*f, public_key_, secret_key_); !opened) {
      spdlog::error("case {}: the contact and note cannot be opened: {}", f->id, opened.error().message);
    }
  }
  r.file = std::move(*f);
  r.state = pc::State::kReceived;
  r.updated_ts = now;
  auto ok = save(r);
  // The handling hall's timeline starts with the submission at the origin.
  if (ok && first) ok = add_step(r.id, r.file.submitted_ts, "submitted", r.file.origin, r.file.by, r.file.note, 1);
  for (const auto& m : r.file.materials) {
    if (ok) ok = add_material(r.id, m.sha256, m.name, m.type, m.size, m.attempt);
  }
  if (ok) ok = add_step(r.id, now, "received", config_.hall, "", "", r.file.attempt);
  if (ok) {
    auto seq = store_.append_event(now, pc::event::kReceived, pc::encode_received(r.file));
    if (!seq) ok = std::unexpected(seq.error());
  }
  if (!ok) return ok;
  spdlog::info("case {} received from hall {}: service {}, attempt {}, {} materials", r.id, r.file.origin,
               r.file.service, r.file.attempt, r.file.materials.size());
  return {};
}

protocol::Expected<void> CaseDesk::apply_update(const std::string& data_json, std::int64_t now) {
  auto step = pc::decode_step(data_json);
  if (!step) return std::unexpected(step.error());
  auto existing = load(step->id);
  if (!existing) return std::unexpected(existing.error());
  if (!*existing || (*existing)->role != kOrigin)
    return protocol::error("case " + step->id + " was not submitted at this hall");
  Row r = std::move(**existing);
  if (step->hall != r.file.handler) return protocol::error("case " + step->id + " is handled by " + r.file.handler);
  if (step->attempt != r.file.attempt) {
    // A step about an earlier attempt (e.g. its received) is kept in the
    // timeline but does not move the case.
    spdlog::info("case {}: step {} of attempt {} arrived after attempt {} left", step->id,
                 pc::to_string(step->state), step->attempt, r.file.attempt);
  } else {
    r.state = step->state;
    if (step->complete_due > 0) r.complete_due = step->complete_due;
    if (step->result) r.result = pc::encode_material(*step->result);
  }
  r.updated_ts = now;
  auto ok = save(r);
  if (ok && step->result)
    ok = add_material(r.id, step->result->sha256, step->result->name, step->result->type, step->result->size, 0);
  if (ok) ok = add_step(r.id, step->ts, pc::to_string(step->state), step->hall, step->by, step->note, step->attempt);
  if (ok) {
    auto seq = store_.append_event(now, pc::event::kUpdated, pc::encode_step(*step));
    if (!seq) ok = std::unexpected(seq.error());
  }
  if (!ok) return ok;
  spdlog::info("case {}: hall {} says {}", r.id, step->hall, pc::to_string(step->state));
  return {};
}

std::vector<alerts::Condition> CaseDesk::late_conditions(std::int64_t now) {
  std::vector<alerts::Condition> out;
  auto s = store_.database().prepare(
      "SELECT id, state, prereview_due, complete_due FROM cases WHERE role = 'handler' AND state IN ('received', "
      "'accepted')");
  if (!s) return out;
  for (auto r = s->step(); r && *r; r = s->step()) {
    std::string id = s->column_text(0);
    std::string state = s->column_text(1);
    if (state == "received") {
      auto due = s->column_optional_int(2);
      out.push_back({"case_prereview_late", id, due && now > *due,
                     "跨域案件 " + id + " 预审已超时，请尽快预审"});
    } else {
      auto due = s->column_optional_int(3);
      out.push_back({"case_completion_late", id, due && now > *due,
                     "跨域案件 " + id + " 办理已超时，请尽快办结"});
    }
  }
  return out;
}

}  // namespace yiban::edge::cases
