#include "yiban/protocol/requests.h"

#include <array>
#include <nlohmann/json.hpp>
#include <utility>

#include "yiban/protocol/ids.h"
#include "yiban/protocol/utf8.h"

namespace yiban::protocol {
namespace {

using nlohmann::json;

constexpr std::array<std::pair<Op, std::string_view>, 16> kOps{{
    {Op::kTicketTake, "ticket.take"},
    {Op::kAppointmentCheckin, "appointment.checkin"},
    {Op::kCounterOpen, "counter.open"},
    {Op::kCounterPause, "counter.pause"},
    {Op::kCounterClose, "counter.close"},
    {Op::kCounterCallNext, "counter.call_next"},
    {Op::kCounterRecall, "counter.recall"},
    {Op::kCounterStart, "counter.start"},
    {Op::kCounterFinish, "counter.finish"},
    {Op::kCounterNoShow, "counter.no_show"},
    {Op::kCounterTransfer, "counter.transfer"},
    {Op::kRatingSubmit, "rating.submit"},
    {Op::kHelpRequest, "help.request"},
    {Op::kHelpAnswer, "help.answer"},
    {Op::kAlertAck, "alert.ack"},
    {Op::kAlertResolve, "alert.resolve"},
}};

constexpr std::size_t kMaxNeedChars = 200;

// Checks that obj has only the allowed keys.
Result<void> only_fields(const json& obj, std::initializer_list<std::string_view> allowed) {
  for (const auto& [key, value] : obj.items()) {
    bool known = false;
    for (auto a : allowed) known = known || key == a;
    if (!known) {
      // Keys are valid UTF-8 (the payload was checked): cut on a character boundary.
      std::string shown = key;
      if (shown.size() > 40) {
        std::size_t cut = 40;
        while (cut > 0 && (static_cast<unsigned char>(key[cut]) & 0xC0) == 0x80) --cut;
        shown = key.substr(0, cut) + "…";
      }
      return fail(ErrorCode::kBadRequest, "unknown field \"" + shown + "\"");
    }
  }
  return {};
}

Result<std::optional<std::string>> optional_string(const json& obj, const char* field) {
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return std::optional<std::string>{};
  if (!it->is_string()) return fail(ErrorCode::kBadRequest, std::string(field) + ": must be a string");
  return std::optional<std::string>{it->get<std::string>()};
}

Result<std::string> required_string(const json& obj, const char* field) {
  auto value = optional_string(obj, field);
  if (!value) return std::unexpected(value.error());
  if (!*value) return fail(ErrorCode::kBadRequest, std::string(field) + ": required");
  return **value;
}

bool matches(std::string_view s, std::size_t min, std::size_t max, bool (*ok)(char)) {
  if (s.size() < min || s.size() > max) return false;
  for (char c : s) {
    if (!ok(c)) return false;
  }
  return true;
}

bool is_class_char(char c) { return (c >= 'a' && c <= 'z') || c == '_'; }
bool is_code_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}
bool is_phone_digit(char c) { return c >= '0' && c <= '9'; }

Result<RequestBody> decode_take(const json& j) {
  if (auto ok = only_fields(j, {"service", "class", "phone"}); !ok) return std::unexpected(ok.error());
  TicketTake out;
  auto service = required_string(j, "service");
  if (!service) return std::unexpected(service.error());
  if (!is_valid_service_code(*service))
    return fail(ErrorCode::kBadRequest, "service: must be 1-2 capital letters");
  out.service = *service;
  auto cls = optional_string(j, "class");
  if (!cls) return std::unexpected(cls.error());
  if (*cls && !matches(**cls, 1, 32, is_class_char))
    return fail(ErrorCode::kBadRequest, "class: must match [a-z_]{1,32}");
  out.priority_class = *cls;
  auto phone = optional_string(j, "phone");
  if (!phone) return std::unexpected(phone.error());
  if (*phone) {
    std::string_view digits = **phone;
    if (digits.starts_with('+')) digits.remove_prefix(1);
    if (!matches(digits, 5, 20, is_phone_digit))
      return fail(ErrorCode::kBadRequest, "phone: must be 5-20 digits, optionally after '+'");
  }
  out.phone = *phone;
  return out;
}

Result<RequestBody> decode_checkin(const json& j) {
  if (auto ok = only_fields(j, {"code"}); !ok) return std::unexpected(ok.error());
  auto code = required_string(j, "code");
  if (!code) return std::unexpected(code.error());
  if (!matches(*code, 4, 32, is_code_char))
    return fail(ErrorCode::kBadRequest, "code: must match [A-Za-z0-9-]{4,32}");
  return AppointmentCheckin{*code};
}

Result<RequestBody> decode_transfer(const json& j) {
  if (auto ok = only_fields(j, {"service", "counter"}); !ok) return std::unexpected(ok.error());
  CounterTransfer out;
  auto service = optional_string(j, "service");
  if (!service) return std::unexpected(service.error());
  auto counter = optional_string(j, "counter");
  if (!counter) return std::unexpected(counter.error());
  if (service->has_value() == counter->has_value())
    return fail(ErrorCode::kBadRequest, "exactly one of service or counter is required");
  if (*service && !is_valid_service_code(**service))
    return fail(ErrorCode::kBadRequest, "service: must be 1-2 capital letters");
  if (*counter && !is_valid_counter_id(**counter))
    return fail(ErrorCode::kBadRequest, "counter: must match [A-Za-z0-9-]{1,16}");
  out.service = *service;
  out.counter = *counter;
  return out;
}

Result<RequestBody> decode_rating(const json& j) {
  if (auto ok = only_fields(j, {"score", "ticket"}); !ok) return std::unexpected(ok.error());
  auto score = j.find("score");
  if (score == j.end()) return fail(ErrorCode::kBadRequest, "score: required");
  if (!score->is_number_integer()) return fail(ErrorCode::kBadRequest, "score: must be an integer 1..5");
  auto value = score->get<std::int64_t>();
  if (value < 1 || value > 5) return fail(ErrorCode::kBadRequest, "score: must be an integer 1..5");
  RatingSubmit out;
  out.score = static_cast<int>(value);
  auto ticket = optional_string(j, "ticket");
  if (!ticket) return std::unexpected(ticket.error());
  if (*ticket && !parse_ticket_id(**ticket))
    return fail(ErrorCode::kBadRequest, "ticket: must be a ticket id {hall}:{yyyymmdd}:{number}");
  out.ticket = *ticket;
  return out;
}

Result<RequestBody> decode_help(const json& j) {
  if (auto ok = only_fields(j, {"need"}); !ok) return std::unexpected(ok.error());
  auto need = required_string(j, "need");
  if (!need) return std::unexpected(need.error());
  auto chars = utf8_length(*need);
  if (chars == 0 || chars > kMaxNeedChars)
    return fail(ErrorCode::kBadRequest, "need: must be 1-200 characters");
  // C0 controls, DEL and C1 controls (U+0080..U+009F, encoded C2 80..C2 9F).
  for (std::size_t i = 0; i < need->size(); ++i) {
    auto c = static_cast<unsigned char>((*need)[i]);
    bool c1 = c == 0xC2 && i + 1 < need->size() &&
              static_cast<unsigned char>((*need)[i + 1]) < 0xA0;
    if (c < 0x20 || c == 0x7F || c1)
      return fail(ErrorCode::kBadRequest, "need: control characters are not allowed");
  }
  return HelpRequest{*need};
}

bool is_id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == ':';
}

Result<RequestBody> decode_staff(const json& j, const char* target_field) {
  if (auto ok = only_fields(j, {target_field, "note"}); !ok) return std::unexpected(ok.error());
  auto target = required_string(j, target_field);
  if (!target) return std::unexpected(target.error());
  if (!matches(*target, 1, 80, is_id_char))
    return fail(ErrorCode::kBadRequest, std::string(target_field) + ": must be an id ([A-Za-z0-9:-], up to 80)");
  auto note = optional_string(j, "note");
  if (!note) return std::unexpected(note.error());
  if (*note && utf8_length(**note) > kMaxNeedChars)
    return fail(ErrorCode::kBadRequest, "note: at most 200 characters");
  return StaffAction{*target, *note};
}

}  // namespace

std::string_view to_string(Op op) {
  for (const auto& [o, name] : kOps) {
    if (o == op) return name;
  }
  return "unknown";
}

std::optional<Op> op_from_string(std::string_view text) {
  for (const auto& [o, name] : kOps) {
    if (name == text) return o;
  }
  return std::nullopt;
}

Result<Request> decode_request(std::string_view op_text, std::string_view payload) {
  auto op = op_from_string(op_text);
  if (!op) {
    std::string_view shown = op_text.substr(0, 64);
    if (!is_valid_utf8(shown)) shown = "?";
    std::string message = "unknown op \"";
    message.append(shown).append("\"");
    return fail(ErrorCode::kUnknownOp, std::move(message));
  }
  if (payload.size() > kMaxPayloadBytes) return fail(ErrorCode::kBadJson, "payload larger than 16 KiB");
  if (!is_valid_utf8(payload)) return fail(ErrorCode::kBadJson, "payload is not valid UTF-8");
  json j = json::object();
  if (!payload.empty()) {
    j = json::parse(payload, nullptr, false);
    if (j.is_discarded()) return fail(ErrorCode::kBadJson, "payload is not valid JSON");
    if (!j.is_object()) return fail(ErrorCode::kBadJson, "payload must be a JSON object");
  }
  Result<RequestBody> body = CounterAction{};
  switch (*op) {
    case Op::kTicketTake:
      body = decode_take(j);
      break;
    case Op::kAppointmentCheckin:
      body = decode_checkin(j);
      break;
    case Op::kCounterTransfer:
      body = decode_transfer(j);
      break;
    case Op::kRatingSubmit:
      body = decode_rating(j);
      break;
    case Op::kHelpRequest:
      body = decode_help(j);
      break;
    case Op::kHelpAnswer:
      body = decode_staff(j, "help");
      break;
    case Op::kAlertAck:
    case Op::kAlertResolve:
      body = decode_staff(j, "alert");
      break;
    default:
      if (auto ok = only_fields(j, {}); !ok) return std::unexpected(ok.error());
      break;
  }
  if (!body) return std::unexpected(body.error());
  return Request{*op, std::move(*body)};
}

}  // namespace yiban::protocol
