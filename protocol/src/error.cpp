#include "yiban/protocol/error.h"

#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

namespace yiban::protocol {
namespace {
constexpr std::array<std::pair<ErrorCode, std::string_view>, 12> kNames{{
    {ErrorCode::kBadJson, "bad_json"},
    {ErrorCode::kBadRequest, "bad_request"},
    {ErrorCode::kUnknownOp, "unknown_op"},
    {ErrorCode::kUnknownDevice, "unknown_device"},
    {ErrorCode::kNotAllowed, "not_allowed"},
    {ErrorCode::kUnknownService, "unknown_service"},
    {ErrorCode::kServiceClosed, "service_closed"},
    {ErrorCode::kCounterClosed, "counter_closed"},
    {ErrorCode::kQueueEmpty, "queue_empty"},
    {ErrorCode::kNoCurrentTicket, "no_current_ticket"},
    {ErrorCode::kInvalidState, "invalid_state"},
    {ErrorCode::kInternal, "internal"},
}};
}  // namespace

std::string errno_text() { return std::strerror(errno); }

std::string_view to_string(ErrorCode code) {
  for (const auto& [c, name] : kNames) {
    if (c == code) return name;
  }
  return "internal";
}

std::optional<ErrorCode> error_code_from_string(std::string_view text) {
  for (const auto& [c, name] : kNames) {
    if (name == text) return c;
  }
  return std::nullopt;
}

}  // namespace yiban::protocol
