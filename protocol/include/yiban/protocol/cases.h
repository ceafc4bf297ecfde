#pragma once
// Cross-region cases (跨域通办, issue 6; lifecycle in protocol/CASES.md).
//
// A citizen applies at hall A (the origin) for a service the city catalog
// gives to hall B (the handler). Each step is an event in the log of the
// hall that takes it; central routes the steps between the two halls as DOWN
// commands and carries the materials (content-addressed files) through the
// sync protocol's blob transfer.
//
//   submitted --(central → B: case.assign)--> received
//   received  --B--> accepted | more_needed | rejected
//   more_needed --A: resubmitted--> submitted (attempt + 1) --> received …
//   accepted  --B--> completed
//
// Personal data: the applicant's name and ID number never leave hall A in
// clear: events carry masked forms and an HMAC-SHA256 of the ID number under
// the city's case key, so the same person matches across halls. The contact
// and the note travel sealed to the handling hall's CURVE key
// (sealed_box.h): central stores and forwards only the boxes.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "yiban/protocol/error.h"
#include "yiban/protocol/sealed_box.h"
#include "yiban/protocol/time_zone.h"

namespace yiban::protocol::cases {

inline constexpr std::int64_t kMaxMaterialBytes = 20LL * 1024 * 1024;
inline constexpr std::size_t kMaxMaterials = 20;  // per submission
inline constexpr std::size_t kMaxNoteBytes = 1500;  // 500 Chinese characters
inline constexpr std::size_t kMaxFileNameBytes = 200;

enum class State { kSubmitted, kReceived, kMoreNeeded, kAccepted, kRejected, kCompleted };
std::string_view to_string(State state);
std::optional<State> state_from_string(std::string_view text);

// B's pre-review decisions.
enum class Decision { kAccept, kMoreNeeded, kReject };
std::optional<Decision> decision_from_string(std::string_view text);  // accept, more_needed (or more-needed), reject

// Event types (ARCHITECTURE §4 case.*).
namespace event {
inline constexpr std::string_view kSubmitted = "case.submitted";  // at A
inline constexpr std::string_view kResubmitted = "case.resubmitted";  // at A, after more_needed
inline constexpr std::string_view kReceived = "case.received";  // at B (central's case.assign applied)
inline constexpr std::string_view kAccepted = "case.accepted";  // at B
inline constexpr std::string_view kMoreNeeded = "case.more_needed";  // at B
inline constexpr std::string_view kRejected = "case.rejected";  // at B
inline constexpr std::string_view kCompleted = "case.completed";  // at B
inline constexpr std::string_view kUpdated = "case.updated";  // at A (central's case.update applied)
inline constexpr std::string_view kViewed = "case.viewed";  // at A or B: a detail view or a download
}  // namespace event

// DOWN command types.
inline constexpr std::string_view kAssignCommand = "case.assign";  // to B: the case file
inline constexpr std::string_view kUpdateCommand = "case.update";  // to A: one of B's steps

struct Material {
  std::string sha256;  // 64 lower-case hex digits: the file's name everywhere
  std::string name;  // as the citizen's file was called (display only)
  std::string type;  // application/pdf, image/jpeg, image/png
  std::int64_t size = 0;
  int attempt = 1;  // the submission that added it (0: B's result document)
};

struct Applicant {
  std::string name_masked;  // 张*三
  std::string id_masked;  // 370202********1234
  std::string id_hash;  // HMAC-SHA256(case key, ID number), hex
};

// The case as B receives it (case.assign data) and as A submits it
// (case.submitted data).
struct CaseFile {
  std::string id;  // {origin}:{yyyymmdd}:C{nnnn}
  int attempt = 1;
  std::string service;
  std::string service_name;
  std::string origin;  // hall A
  std::string origin_name;
  std::string handler;  // hall B
  std::string handler_region;
  Applicant applicant;
  // Private part: clear only in the halls' own tables (A, and B once it
  // opened `sealed`); never in an event or in what central stores.
  std::string contact_name;  // A's staff member handling the citizen
  std::string contact_phone;  // A's office phone (not the citizen's)
  std::string note;
  std::vector<SealedBox> sealed;  // {"contact","note"} sealed to the handler's keys
  std::string by;  // ROLE:FINGERPRINT of A's token
  std::vector<Material> materials;  // every material of every attempt
  std::int64_t submitted_ts = 0;
  std::int64_t prereview_due = 0;  // UTC ms: B must decide by then
  int complete_days = 10;  // working days from acceptance to completion
};

// One of B's steps as A learns it (case.update data, case.updated data).
struct Step {
  std::string id;
  State state = State::kReceived;  // the case's state after the step
  std::string hall;  // who took it (B)
  std::int64_t ts = 0;
  int attempt = 1;
  std::string by;
  std::string note;
  std::int64_t complete_due = 0;  // accepted: when completion is due
  std::optional<Material> result;  // completed: the result document
};

// ---- values -----------------------------------------------------------------
std::string case_id(std::string_view hall, int day, int number);
bool valid_case_id(std::string_view text);
// The hall part of a case id (its origin).
std::string_view origin_of(std::string_view case_id);

// application/pdf, image/jpeg or image/png from the file's first bytes; nullopt otherwise.
std::optional<std::string_view> sniff_type(std::string_view head);

// 张三 → 张*, 张小三 → 张*三, 欧阳小明 → 欧**明; Latin names likewise by character.
std::string mask_name(std::string_view utf8_name);
// 18-character ID: first 3 and last 4 kept (370***********123X: the birth
// date and the county are hidden); other documents: first 2 and last 2.
std::string mask_id(std::string_view id);
// Checks an ID number: an 18-character resident ID (17 digits and a digit
// or X, ISO 7064 check digit verified) or another document (6–20 letters
// and digits). Returns the normalised (upper-case) form.
Expected<std::string> normalise_id(std::string_view id);
// HMAC-SHA256 of the normalised ID under the case key, hex.
std::string keyed_hash(std::string_view key, std::string_view normalised_id);

// The instant a span of working time ends: Monday–Friday in the hall's
// zone count, Saturdays and Sundays do not.
std::int64_t add_working_hours(std::int64_t start_ms, std::int64_t hours, const TimeZone& zone);

// ---- requests from staff (console API bodies; CLI sends the same) -------------
struct MaterialRef {
  std::string sha256;
  std::string name;
};
struct SubmitRequest {
  std::string service;
  std::string applicant_name;
  std::string applicant_id;
  std::string contact_name;
  std::string contact_phone;
  std::string note;
  std::vector<MaterialRef> materials;
};
// {"service","applicant_name","applicant_id","contact_name"[,"contact_phone","note"],"materials":[{"sha256","name"}]}
Expected<SubmitRequest> decode_submit(std::string_view body);
struct ResubmitRequest {
  std::string note;
  std::vector<MaterialRef> materials;
};
// {"note","materials":[…]}: at least one new material.
Expected<ResubmitRequest> decode_resubmit(std::string_view body);
struct ReviewRequest {
  Decision decision = Decision::kAccept;
  std::string note;  // required for more_needed (what is missing) and reject (why)
};
Expected<ReviewRequest> decode_review(std::string_view body);
struct CompleteRequest {
  std::string note;
  std::optional<MaterialRef> result;
};
Expected<CompleteRequest> decode_complete(std::string_view body);

// ---- wire texts ---------------------------------------------------------------
// The hall's own form (its cases table): the private part in clear, and
// `sealed` when present.
std::string encode_case_file(const CaseFile& file);
// What leaves the hall (case.submitted data, so central's copy and the
// case.assign it forwards): no contact and no note, only `sealed`.
std::string encode_case_file_sealed(const CaseFile& file);
// Strict: every field checked, errors name it. contact and note are optional
// (a sealed file has neither), as is sealed (old events have none).
Expected<CaseFile> decode_case_file(std::string_view json_text);
// Seals {"contact":{"name","phone"},"note"} to the handling hall's keys into file.sealed.
Expected<void> seal_private(CaseFile& file, const std::vector<std::string>& handler_keys);
// At the handling hall: opens file.sealed with this hall's CURVE keypair and
// fills contact_name, contact_phone and note. A file without boxes (an old
// one, which carried them in clear) is left as it is.
Expected<void> open_private(CaseFile& file, std::string_view public_key, std::string_view secret_key);
std::string encode_step(const Step& step);
Expected<Step> decode_step(std::string_view json_text);
std::string encode_material(const Material& m);  // one JSON object
// Event data of case.resubmitted: {"case","attempt","note","by","materials":[new ones]}.
std::string encode_resubmitted(std::string_view id, int attempt, std::string_view note, std::string_view by,
                               const std::vector<Material>& added, std::int64_t prereview_due);
struct Resubmission {
  std::string id;
  int attempt = 0;
  std::string note;
  std::string by;
  std::vector<Material> added;
  std::int64_t prereview_due = 0;
};
Expected<Resubmission> decode_resubmitted(std::string_view json_text);
// Event data of case.received: {"case","attempt","origin","handler","service","prereview_due"}.
std::string encode_received(const CaseFile& file);
// Event data of case.viewed: {"case","by","what"[,"sha256"]}; what: detail, material.
std::string encode_viewed(std::string_view id, std::string_view by, std::string_view what, std::string_view sha256);

}  // namespace yiban::protocol::cases
