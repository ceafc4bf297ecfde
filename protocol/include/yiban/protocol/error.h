#pragma once
// Errors shared by every part of yiban: the stable device-facing error codes of
// ARCHITECTURE §5.1 and a plain error for configuration and I/O failures.

#include <expected>
#include <optional>
#include <string>
#include <string_view>

namespace yiban::protocol {

// Stable snake_case codes sent to devices in {"ok":false,"error":{"code":...}}.
enum class ErrorCode {
  kBadJson,
  kBadRequest,
  kUnknownOp,
  kUnknownDevice,
  kNotAllowed,
  kUnknownService,
  kServiceClosed,
  kCounterClosed,
  kQueueEmpty,
  kNoCurrentTicket,
  kInvalidState,
  kInternal,
};

std::string_view to_string(ErrorCode code);
std::optional<ErrorCode> error_code_from_string(std::string_view text);

// A refused request: the code a device can branch on and a message a person reads.
struct Failure {
  ErrorCode code;
  std::string message;
};

template <class T>
using Result = std::expected<T, Failure>;

inline std::unexpected<Failure> fail(ErrorCode code, std::string message) {
  return std::unexpected(Failure{code, std::move(message)});
}

// A failure that is not a device's fault: bad config file, I/O, broker.
struct Error {
  std::string message;
};

template <class T>
using Expected = std::expected<T, Error>;

// strerror(errno), for messages about a failed system call.
std::string errno_text();

inline std::unexpected<Error> error(std::string message) {
  return std::unexpected(Error{std::move(message)});
}

}  // namespace yiban::protocol
