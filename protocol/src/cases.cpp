#include "yiban/protocol/cases.h"

#include <openssl/hmac.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "yiban/protocol/chain.h"
#include "yiban/protocol/ids.h"
#include "yiban/protocol/utf8.h"

namespace yiban::protocol::cases {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxBodyBytes = 64 * 1024;

std::vector<std::string_view> characters_of(std::string_view utf8) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < utf8.size()) {
    std::size_t j = i + 1;
    while (j < utf8.size() && (static_cast<unsigned char>(utf8[j]) & 0xC0) == 0x80) ++j;
    out.push_back(utf8.substr(i, j - i));
    i = j;
  }
  return out;
}

// Object field readers; errors name the field as `at.key`.
class Fields {
 public:
  Fields(const json& j, std::string at) : j_(j), at_(std::move(at)) {}
  std::string name(std::string_view key) const { return at_.empty() ? std::string(key) : at_ + "." + std::string(key); }

  Expected<std::string> text(const char* key, std::size_t max_bytes, bool required = true) const {
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) {
      if (required) return error(name(key) + ": missing");
      return std::string();
    }
    if (!it->is_string()) return error(name(key) + ": not a string");
    const auto& s = it->get_ref<const std::string&>();
    if (s.size() > max_bytes) return error(name(key) + ": longer than " + std::to_string(max_bytes) + " bytes");
    if (!is_valid_utf8(s)) return error(name(key) + ": not valid UTF-8");
    if (required && s.empty()) return error(name(key) + ": empty");
    return s;
  }
  Expected<std::int64_t> integer(const char* key, std::int64_t min, std::int64_t max, bool required = true) const {
    auto it = j_.find(key);
    if (it == j_.end()) {
      if (required) return error(name(key) + ": missing");
      return min;
    }
    if (!it->is_number_integer()) return error(name(key) + ": not an integer");
    auto v = it->get<std::int64_t>();
    if (v < min || v > max) return error(name(key) + ": " + std::to_string(v) + " out of range");
    return v;
  }
  Expected<void> only(std::initializer_list<std::string_view> known) const {
    for (const auto& [key, value] : j_.items()) {
      if (std::find(known.begin(), known.end(), key) == known.end()) return error(name(key) + ": unknown field");
    }
    return {};
  }

 private:
  const json& j_;
  std::string at_;
};

Expected<json> parse_object(std::string_view text, std::string_view what) {
  if (text.size() > kMaxBodyBytes) return error(std::string(what) + " larger than 64 KiB");
  auto j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return error(std::string(what) + " is not a JSON object");
  return j;
}

Expected<std::string> file_name(const Fields& f, const char* key) {
  auto name = f.text(key, kMaxFileNameBytes);
  if (!name) return name;
  if (name->find('/') != std::string::npos || name->find('\\') != std::string::npos ||
      std::any_of(name->begin(), name->end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; }))
    return error(f.name(key) + ": a file name without slashes or control characters");
  return name;
}

Expected<std::vector<MaterialRef>> material_refs(const json& j, bool at_least_one) {
  auto it = j.find("materials");
  if (it == j.end()) {
    if (at_least_one) return error("materials: missing");
    return std::vector<MaterialRef>{};
  }
  if (!it->is_array()) return error("materials: not an array");
  if (it->size() > kMaxMaterials) return error("materials: more than " + std::to_string(kMaxMaterials));
  if (at_least_one && it->empty()) return error("materials: at least one is needed");
  std::vector<MaterialRef> out;
  std::set<std::string> seen;
  for (std::size_t i = 0; i < it->size(); ++i) {
    const auto& m = (*it)[i];
    const std::string at = "materials[" + std::to_string(i) + "]";
    if (!m.is_object()) return error(at + ": not an object");
    Fields f(m, at);
    if (auto ok = f.only({"sha256", "name"}); !ok) return std::unexpected(ok.error());
    auto sha = f.text("sha256", 64);
    if (!sha) return std::unexpected(sha.error());
    if (!is_sha256_hex(*sha)) return error(at + ".sha256: not 64 lower-case hex digits");
    auto name = file_name(f, "name");
    if (!name) return std::unexpected(name.error());
    if (!seen.insert(*sha).second) return error(at + ": the same file twice");
    out.push_back({std::move(*sha), std::move(*name)});
  }
  return out;
}

json material_json(const Material& m) {
  return json{{"sha256", m.sha256}, {"name", m.name}, {"type", m.type}, {"size", m.size}, {"attempt", m.attempt}};
}

Expected<Material> material_from(const json& m, const std::string& at) {
  if (!m.is_object()) return error(at + ": not an object");
  Fields f(m, at);
  if (auto ok = f.only({"sha256", "name", "type", "size", "attempt"}); !ok) return std::unexpected(ok.error());
  Material out;
  auto sha = f.text("sha256", 64);
  if (!sha) return std::unexpected(sha.error());
  if (!is_sha256_hex(*sha)) return error(at + ".sha256: not 64 lower-case hex digits");
  auto name = file_name(f, "name");
  auto type = f.text("type", 64);
  auto size = f.integer("size", 1, kMaxMaterialBytes);
  auto attempt = f.integer("attempt", 0, 1000);
  if (!name) return std::unexpected(name.error());
  if (!type) return std::unexpected(type.error());
  if (*type != "application/pdf" && *type != "image/jpeg" && *type != "image/png")
    return error(at + ".type: " + *type + " is not PDF, JPEG or PNG");
  if (!size) return std::unexpected(size.error());
  if (!attempt) return std::unexpected(attempt.error());
  out.sha256 = std::move(*sha);
  out.name = std::move(*name);
  out.type = std::move(*type);
  out.size = *size;
  out.attempt = static_cast<int>(*attempt);
  return out;
}

Expected<std::vector<Material>> materials_from(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_array()) return error(std::string(key) + ": missing or not an array");
  if (it->size() > kMaxMaterials * 50) return error(std::string(key) + ": too many");
  std::vector<Material> out;
  for (std::size_t i = 0; i < it->size(); ++i) {
    auto m = material_from((*it)[i], std::string(key) + "[" + std::to_string(i) + "]");
    if (!m) return std::unexpected(m.error());
    out.push_back(std::move(*m));
  }
  return out;
}

bool is_hall(std::string_view h) { return is_valid_hall_id(h); }

}  // namespace

std::string_view to_string(State state) {
  switch (state) {
    case State::kSubmitted: return "submitted";
    case State::kReceived: return "received";
    case State::kMoreNeeded: return "more_needed";
    case State::kAccepted: return "accepted";
    case State::kRejected: return "rejected";
    case State::kCompleted: return "completed";
  }
  return "?";
}

std::optional<State> state_from_string(std::string_view text) {
  for (auto s : {State::kSubmitted, State::kReceived, State::kMoreNeeded, State::kAccepted, State::kRejected,
                 State::kCompleted}) {
    if (to_string(s) == text) return s;
  }
  return std::nullopt;
}

std::optional<Decision> decision_from_string(std::string_view text) {
  if (text == "accept") return Decision::kAccept;
  if (text == "more_needed" || text == "more-needed") return Decision::kMoreNeeded;
  if (text == "reject") return Decision::kReject;
  return std::nullopt;
}

std::string case_id(std::string_view hall, int day, int number) {
  char tail[16];
  std::snprintf(tail, sizeof tail, ":C%04d", number);
  return std::string(hall) + ":" + std::to_string(day) + tail;
}

bool valid_case_id(std::string_view text) {
  auto first = text.find(':');
  if (first == std::string_view::npos) return false;
  auto second = text.find(':', first + 1);
  if (second == std::string_view::npos) return false;
  auto hall = text.substr(0, first);
  auto day = text.substr(first + 1, second - first - 1);
  auto number = text.substr(second + 1);
  if (!is_hall(hall) || day.size() != 8 || number.size() < 5 || number.size() > 8 || number[0] != 'C') return false;
  auto digits = [](std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  return digits(day) && digits(number.substr(1));
}

std::string_view origin_of(std::string_view id) { return id.substr(0, id.find(':')); }

std::optional<std::string_view> sniff_type(std::string_view head) {
  if (head.starts_with("%PDF-")) return "application/pdf";
  if (head.size() >= 3 && static_cast<unsigned char>(head[0]) == 0xFF && static_cast<unsigned char>(head[1]) == 0xD8 &&
      static_cast<unsigned char>(head[2]) == 0xFF)
    return "image/jpeg";
  if (head.starts_with(std::string_view("\x89PNG\r\n\x1a\n", 8))) return "image/png";
  return std::nullopt;
}

std::string mask_name(std::string_view utf8_name) {
  auto chars = characters_of(utf8_name);
  if (chars.empty()) return "";
  if (chars.size() == 1) return "*";
  std::string out(chars.front());
  if (chars.size() == 2) return out + "*";
  for (std::size_t i = 1; i + 1 < chars.size(); ++i) out += '*';
  out += chars.back();
  return out;
}

std::string mask_id(std::string_view id) {
  std::size_t head = id.size() == 18 ? 3 : 2;
  std::size_t tail = id.size() == 18 ? 4 : 2;
  if (id.size() <= head + tail) return std::string(id.size(), '*');
  return std::string(id.substr(0, head)) + std::string(id.size() - head - tail, '*') +
         std::string(id.substr(id.size() - tail));
}

Expected<std::string> normalise_id(std::string_view id) {
  std::string n(id);
  std::transform(n.begin(), n.end(), n.begin(), [](char c) { return c >= 'a' && c <= 'z' ? c - 32 : c; });
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (n.size() == 18 && std::all_of(n.begin(), n.begin() + 17, digit)) {
    static constexpr int kWeights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
    static constexpr char kCheck[11] = {'1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'};
    int sum = 0;
    for (int i = 0; i < 17; ++i) sum += (n[static_cast<std::size_t>(i)] - '0') * kWeights[i];
    if (n[17] != kCheck[sum % 11]) return error("applicant_id: the check digit of this 18-digit ID does not match");
    return n;
  }
  if (n.size() < 6 || n.size() > 20 ||
      !std::all_of(n.begin(), n.end(), [&](char c) { return digit(c) || (c >= 'A' && c <= 'Z'); }))
    return error("applicant_id: an 18-digit resident ID or a document number of 6–20 letters and digits");
  return n;
}

std::string keyed_hash(std::string_view key, std::string_view normalised_id) {
  ChainHash mac{};
  unsigned int size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(normalised_id.data()), normalised_id.size(), mac.data(), &size);
  return to_hex(mac);
}

std::int64_t add_working_hours(std::int64_t start_ms, std::int64_t hours, const TimeZone& zone) {
  std::int64_t remaining = hours * 3600 * 1000;
  std::int64_t t = start_ms;
  // Bounded: each turn ends a local day; a year of turns is far beyond any SLA.
  for (int guard = 0; remaining > 0 && guard < 4000; ++guard) {
    std::int64_t local_ms = t + static_cast<std::int64_t>(zone.offset_s(t)) * 1000;
    std::int64_t days = local_ms >= 0 ? local_ms / 86400000 : (local_ms - 86399999) / 86400000;
    int weekday = static_cast<int>(((days % 7) + 7 + 4) % 7);  // 1970-01-01 was a Thursday; 0 = Sunday
    std::int64_t day_end = zone.next_midnight_ms(t);
    if (weekday == 0 || weekday == 6) {
      t = day_end;
      continue;
    }
    std::int64_t step = std::min(remaining, day_end - t);
    t += step;
    remaining -= step;
  }
  return t;
}

Expected<SubmitRequest> decode_submit(std::string_view body) {
  auto j = parse_object(body, "case");
  if (!j) return std::unexpected(j.error());
  Fields f(*j, "");
  if (auto ok = f.only({"service", "applicant_name", "applicant_id", "contact_name", "contact_phone", "note",
                        "materials"});
      !ok)
    return std::unexpected(ok.error());
  SubmitRequest r;
  auto service = f.text("service", 8);
  if (!service) return std::unexpected(service.error());
  auto name = f.text("applicant_name", 64);
  if (!name) return std::unexpected(name.error());
  auto id = f.text("applicant_id", 32);
  if (!id) return std::unexpected(id.error());
  auto contact = f.text("contact_name", 64);
  if (!contact) return std::unexpected(contact.error());
  auto phone = f.text("contact_phone", 32, false);
  if (!phone) return std::unexpected(phone.error());
  auto note = f.text("note", kMaxNoteBytes, false);
  if (!note) return std::unexpected(note.error());
  auto materials = material_refs(*j, true);
  if (!materials) return std::unexpected(materials.error());
  r.service = std::move(*service);
  r.applicant_name = std::move(*name);
  r.applicant_id = std::move(*id);
  r.contact_name = std::move(*contact);
  r.contact_phone = std::move(*phone);
  r.note = std::move(*note);
  r.materials = std::move(*materials);
  return r;
}

Expected<ResubmitRequest> decode_resubmit(std::string_view body) {
  auto j = parse_object(body, "resubmission");
  if (!j) return std::unexpected(j.error());
  Fields f(*j, "");
  if (auto ok = f.only({"note", "materials"}); !ok) return std::unexpected(ok.error());
  auto note = f.text("note", kMaxNoteBytes, false);
  if (!note) return std::unexpected(note.error());
  auto materials = material_refs(*j, true);
  if (!materials) return std::unexpected(materials.error());
  return ResubmitRequest{std::move(*note), std::move(*materials)};
}

Expected<ReviewRequest> decode_review(std::string_view body) {
  auto j = parse_object(body, "review");
  if (!j) return std::unexpected(j.error());
  Fields f(*j, "");
  if (auto ok = f.only({"decision", "note"}); !ok) return std::unexpected(ok.error());
  auto decision = f.text("decision", 16);
  if (!decision) return std::unexpected(decision.error());
  auto d = decision_from_string(*decision);
  if (!d) return error("decision: " + *decision + " is not accept, more_needed or reject");
  auto note = f.text("note", kMaxNoteBytes, false);
  if (!note) return std::unexpected(note.error());
  if (*d != Decision::kAccept && note->empty())
    return error(*d == Decision::kMoreNeeded ? "note: say which materials are missing"
                                             : "note: say why the case is rejected");
  return ReviewRequest{*d, std::move(*note)};
}

Expected<CompleteRequest> decode_complete(std::string_view body) {
  auto j = parse_object(body, "completion");
  if (!j) return std::unexpected(j.error());
  Fields f(*j, "");
  if (auto ok = f.only({"note", "result"}); !ok) return std::unexpected(ok.error());
  auto note = f.text("note", kMaxNoteBytes, false);
  if (!note) return std::unexpected(note.error());
  CompleteRequest r;
  r.note = std::move(*note);
  if (auto it = j->find("result"); it != j->end() && !it->is_null()) {
    json wrapped{{"materials", json::array({*it})}};
    auto refs = material_refs(wrapped, true);
    if (!refs) return error("result: " + refs.error().message.substr(refs.error().message.find(':') + 2));
    r.result = std::move(refs->front());
  }
  return r;
}

std::string encode_material(const Material& m) { return material_json(m).dump(); }

namespace {

json case_file_json(const CaseFile& c, bool with_private) {
  json materials = json::array();
  for (const auto& m : c.materials) materials.push_back(material_json(m));
  json j{{"case", c.id},
              {"attempt", c.attempt},
              {"service", c.service},
              {"service_name", c.service_name},
              {"origin", c.origin},
              {"origin_name", c.origin_name},
              {"handler", c.handler},
              {"handler_region", c.handler_region},
              {"applicant", {{"name", c.applicant.name_masked}, {"id", c.applicant.id_masked},
                             {"id_hash", c.applicant.id_hash}}},
              {"by", c.by},
              {"materials", std::move(materials)},
              {"submitted_ts", c.submitted_ts},
              {"prereview_due", c.prereview_due},
              {"complete_days", c.complete_days}};
  if (with_private) {
    j["contact"] = {{"name", c.contact_name}, {"phone", c.contact_phone}};
    j["note"] = c.note;
  }
  if (!c.sealed.empty()) j["sealed"] = json::parse(encode_sealed(c.sealed));
  return j;
}

}  // namespace

std::string encode_case_file(const CaseFile& c) { return case_file_json(c, true).dump(); }

std::string encode_case_file_sealed(const CaseFile& c) { return case_file_json(c, false).dump(); }

Expected<void> seal_private(CaseFile& c, const std::vector<std::string>& handler_keys) {
  const std::string plain =
      json{{"contact", {{"name", c.contact_name}, {"phone", c.contact_phone}}}, {"note", c.note}}.dump();
  auto boxes = seal_to(handler_keys, plain);
  if (!boxes) return std::unexpected(boxes.error());
  c.sealed = std::move(*boxes);
  return {};
}

Expected<void> open_private(CaseFile& c, std::string_view public_key, std::string_view secret_key) {
  if (c.sealed.empty()) return {};
  auto plain = open_sealed(c.sealed, public_key, secret_key);
  if (!plain) return error("case " + c.id + ": sealed: " + plain.error().message);
  auto j = json::parse(*plain, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return error("case " + c.id + ": sealed: not a JSON object inside");
  Fields f(j, "sealed");
  auto note = f.text("note", kMaxNoteBytes, false);
  if (!note) return std::unexpected(note.error());
  auto contact = j.find("contact");
  if (contact == j.end() || !contact->is_object()) return error("sealed.contact: missing or not an object");
  Fields ct(*contact, "sealed.contact");
  auto cn = ct.text("name", 64, false);
  auto cp = ct.text("phone", 32, false);
  if (!cn) return std::unexpected(cn.error());
  if (!cp) return std::unexpected(cp.error());
  c.contact_name = std::move(*cn);
  c.contact_phone = std::move(*cp);
  c.note = std::move(*note);
  return {};
}

Expected<CaseFile> decode_case_file(std::string_view text) {
  auto j = parse_object(text, "case file");
  if (!j) return std::unexpected(j.error());
  Fields f(*j, "");
  if (auto ok = f.only({"case", "attempt", "service", "service_name", "origin", "origin_name", "handler",
                        "handler_region", "applicant", "contact", "note", "by", "materials", "submitted_ts",
                        "prereview_due", "complete_days", "sealed"});
      !ok)
    return std::unexpected(ok.error());
  CaseFile c;
  auto id = f.text("case", 64);
  if (!id) return std::unexpected(id.error());
  if (!valid_case_id(*id)) return error("case: " + *id + " is not a case id");
  c.id = std::move(*id);
  auto attempt = f.integer("attempt", 1, 1000);
  if (!attempt) return std::unexpected(attempt.error());
  c.attempt = static_cast<int>(*attempt);
  for (auto [key, into, max, required] :
       {std::tuple{"service", &c.service, 8, true}, std::tuple{"service_name", &c.service_name, 256, true},
        std::tuple{"origin", &c.origin, 32, true}, std::tuple{"origin_name", &c.origin_name, 256, false},
        std::tuple{"handler", &c.handler, 32, true}, std::tuple{"handler_region", &c.handler_region, 16, false},
        std::tuple{"note", &c.note, static_cast<int>(kMaxNoteBytes), false}, std::tuple{"by", &c.by, 64, false}}) {
    auto v = f.text(key, static_cast<std::size_t>(max), required);
    if (!v) return std::unexpected(v.error());
    *into = std::move(*v);
  }
  if (!is_hall(c.origin) || origin_of(c.id) != c.origin) return error("origin: does not match the case id");
  if (!is_hall(c.handler)) return error("handler: not a hall id");
  auto applicant = j->find("applicant");
  if (applicant == j->end() || !applicant->is_object()) return error("applicant: missing or not an object");
  Fields a(*applicant, "applicant");
  if (auto ok = a.only({"name", "id", "id_hash"}); !ok) return std::unexpected(ok.error());
  auto an = a.text("name", 64);
  auto ai = a.text("id", 32);
  auto ah = a.text("id_hash", 64);
  if (!an) return std::unexpected(an.error());
  if (!ai) return std::unexpected(ai.error());
  if (!ah) return std::unexpected(ah.error());
  if (!is_sha256_hex(*ah)) return error("applicant.id_hash: not 64 lower-case hex digits");
  c.applicant = {std::move(*an), std::move(*ai), std::move(*ah)};
  if (auto contact = j->find("contact"); contact != j->end()) {
    if (!contact->is_object()) return error("contact: not an object");
    Fields ct(*contact, "contact");
    if (auto ok = ct.only({"name", "phone"}); !ok) return std::unexpected(ok.error());
    auto cn = ct.text("name", 64, false);
    auto cp = ct.text("phone", 32, false);
    if (!cn) return std::unexpected(cn.error());
    if (!cp) return std::unexpected(cp.error());
    c.contact_name = std::move(*cn);
    c.contact_phone = std::move(*cp);
  }
  if (auto sealed = j->find("sealed"); sealed != j->end()) {
    auto boxes = decode_sealed(sealed->dump(), "sealed");
    if (!boxes) return std::unexpected(boxes.error());
    c.sealed = std::move(*boxes);
  }
  auto materials = materials_from(*j, "materials");
  if (!materials) return std::unexpected(materials.error());
  c.materials = std::move(*materials);
  auto submitted = f.integer("submitted_ts", 0, INT64_MAX);
  auto due = f.integer("prereview_due", 0, INT64_MAX);
  auto days = f.integer("complete_days", 1, 365);
  if (!submitted) return std::unexpected(submitted.error());
  if (!due) return std::unexpected(due.error());
  if (!days) return std::unexpected(days.error());
  c.submitted_ts = *submitted;
  c.prereview_due = *due;
  c.complete_days = static_cast<int>(*days);
  return c;
}

std::string encode_step(const Step& s) {
  json j{{"case", s.id},   {"state", to_string(s.state)}, {"hall", s.hall}, {"ts", s.ts},
         {"attempt", s.attempt}, {"by", s.by},        {"note", s.note}};
  if (s.complete_due > 0) j["complete_due"] = s.complete_due;
  if (s.result) j["result"] = material_json(*s.result);
  return j.dump();
}

Expected<Step> decode_step(std::string_view text) {
  auto j = parse_object(text, "case step");
  if (!j) return std::unexpected(j.error());
  Fields f(*j, "");
  if (auto ok = f.only({"case", "state", "hall", "ts", "attempt", "by", "note", "complete_due", "result"}); !ok)
    return std::unexpected(ok.error());
  Step s;
  auto id = f.text("case", 64);
  if (!id) return std::unexpected(id.error());
  if (!valid_case_id(*id)) return error("case: " + *id + " is not a case id");
  s.id = std::move(*id);
  auto state = f.text("state", 16);
  if (!state) return std::unexpected(state.error());
  auto st = state_from_string(*state);
  if (!st || *st == State::kSubmitted) return error("state: " + *state + " is not a step of the handling hall");
  s.state = *st;
  auto hall = f.text("hall", 32);
  if (!hall) return std::unexpected(hall.error());
  if (!is_hall(*hall)) return error("hall: not a hall id");
  s.hall = std::move(*hall);
  auto ts = f.integer("ts", 0, INT64_MAX);
  auto attempt = f.integer("attempt", 1, 1000);
  auto by = f.text("by", 64, false);
  auto note = f.text("note", kMaxNoteBytes, false);
  auto due = f.integer("complete_due", 0, INT64_MAX, false);
  if (!ts) return std::unexpected(ts.error());
  if (!attempt) return std::unexpected(attempt.error());
  if (!by) return std::unexpected(by.error());
  if (!note) return std::unexpected(note.error());
  if (!due) return std::unexpected(due.error());
  s.ts = *ts;
  s.attempt = static_cast<int>(*attempt);
  s.by = std::move(*by);
  s.note = std::move(*note);
  s.complete_due = *due;
  if (auto it = j->find("result"); it != j->end()) {
    auto m = material_from(*it, "result");
    if (!m) return std::unexpected(m.error());
    s.result = std::move(*m);
  }
  return s;
}

std::string encode_resubmitted(std::string_view id, int attempt, std::string_view note, std::string_view by,
                               const std::vector<Material>& added, std::int64_t prereview_due) {
  json materials = json::array();
  for (const auto& m : added) materials.push_back(material_json(m));
  return json{{"case", id}, {"attempt", attempt}, {"note", note}, {"by", by}, {"materials", std::move(materials)},
              {"prereview_due", prereview_due}}
      .dump();
}

Expected<Resubmission> decode_resubmitted(std::string_view text) {
  auto j = parse_object(text, "resubmission");
  if (!j) return std::unexpected(j.error());
  Fields f(*j, "");
  Resubmission r;
  auto id = f.text("case", 64);
  if (!id) return std::unexpected(id.error());
  if (!valid_case_id(*id)) return error("case: " + *id + " is not a case id");
  auto attempt = f.integer("attempt", 2, 1000);
  auto note = f.text("note", kMaxNoteBytes, false);
  auto by = f.text("by", 64, false);
  auto due = f.integer("prereview_due", 0, INT64_MAX, false);
  if (!attempt) return std::unexpected(attempt.error());
  if (!note) return std::unexpected(note.error());
  if (!by) return std::unexpected(by.error());
  if (!due) return std::unexpected(due.error());
  auto materials = materials_from(*j, "materials");
  if (!materials) return std::unexpected(materials.error());
  r.id = std::move(*id);
  r.attempt = static_cast<int>(*attempt);
  r.note = std::move(*note);
  r.by = std::move(*by);
  r.added = std::move(*materials);
  r.prereview_due = *due;
  return r;
}

std::string encode_received(const CaseFile& c) {
  return json{{"case", c.id},         {"attempt", c.attempt}, {"origin", c.origin},
              {"handler", c.handler}, {"service", c.service}, {"prereview_due", c.prereview_due}}
      .dump();
}

std::string encode_viewed(std::string_view id, std::string_view by, std::string_view what, std::string_view sha256) {
  json j{{"case", id}, {"by", by}, {"what", what}};
  if (!sha256.empty()) j["sha256"] = sha256;
  return j.dump();
}

}  // namespace yiban::protocol::cases
