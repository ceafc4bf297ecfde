#pragma once
// Device requests over MQTT (ARCHITECTURE §5.1): ops, their bodies and a strict
// decoder. Validation here covers form (size, UTF-8, JSON types, ranges,
// unknown fields); what a request means in the hall's state is the queue
// engine's business.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "yiban/protocol/error.h"

namespace yiban::protocol {

inline constexpr std::size_t kMaxPayloadBytes = 16 * 1024;

enum class Op {
  kTicketTake,
  kAppointmentCheckin,
  kCounterOpen,
  kCounterPause,
  kCounterClose,
  kCounterCallNext,
  kCounterRecall,
  kCounterStart,
  kCounterFinish,
  kCounterNoShow,
  kCounterTransfer,
  kRatingSubmit,
  kHelpRequest,
  kHelpAnswer,  // staff
  kAlertAck,  // staff
  kAlertResolve,  // staff
};

std::string_view to_string(Op op);
std::optional<Op> op_from_string(std::string_view text);

struct TicketTake {
  std::string service;
  std::optional<std::string> priority_class;  // "class" on the wire
  std::optional<std::string> phone;  // digits, optional leading '+'; kept at the hall
};

struct AppointmentCheckin {
  std::string code;
};

// counter.open/pause/close/call_next/recall/start/finish/no_show: body is {}.
struct CounterAction {};

struct CounterTransfer {  // exactly one of the two
  std::optional<std::string> service;
  std::optional<std::string> counter;
};

struct RatingSubmit {
  int score = 0;  // 1..5
  std::optional<std::string> ticket;
};

struct HelpRequest {
  std::string need;  // 1..200 characters
};

// help.answer {"help":id}, alert.ack {"alert":id}, alert.resolve {"alert":id}; each with an optional "note".
struct StaffAction {
  std::string target;  // the help or alert id
  std::optional<std::string> note;  // up to 200 characters
};

using RequestBody = std::variant<TicketTake, AppointmentCheckin, CounterAction, CounterTransfer, RatingSubmit,
                                 HelpRequest, StaffAction>;

struct Request {
  Op op;
  RequestBody body;
};

// op is the topic's last level; payload the raw MQTT payload (an empty payload
// counts as {}). Errors: unknown_op, bad_json (size, UTF-8, syntax, not an
// object), bad_request (fields: missing, unknown, wrong type, out of range).
Result<Request> decode_request(std::string_view op, std::string_view payload);

}  // namespace yiban::protocol
