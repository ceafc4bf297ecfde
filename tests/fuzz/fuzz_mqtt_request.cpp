// Fuzz target: what devices send over MQTT (ARCHITECTURE §5, §5.1) and what
// device clients decode from the edge. The first byte chooses:
//   0..16   decode_request(op, payload), op one of the 16 ops or an unknown one
//   17      parse_device_topic(hall, topic)   (hall NUL topic)
//   18      decode_reply, re-encoded through encode_ok_* and decoded again
//   19      decode_board_calls, round trip through encode_board_calls
//   20..    decode_device_status, round trip through encode_device_status
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.h"
#include "yiban/protocol/payloads.h"
#include "yiban/protocol/requests.h"
#include "yiban/protocol/topics.h"

namespace {

using namespace yiban::protocol;
using yiban::fuzz::split_at_nul;
using yiban::fuzz::split_input;

constexpr std::array<std::string_view, 17> kOps{
    "ticket.take",    "appointment.checkin", "counter.open",     "counter.pause",
    "counter.close",  "counter.call_next",   "counter.recall",   "counter.start",
    "counter.finish", "counter.no_show",     "counter.transfer", "rating.submit",
    "help.request",   "help.answer",         "alert.ack",        "alert.resolve",
    "no.such_op"};

void fuzz_request(std::string_view op, std::string_view payload) {
  auto request = decode_request(op, payload);
  if (request) {
    YIBAN_FUZZ_CHECK(to_string(request->op) == op);
  } else {
    YIBAN_FUZZ_CHECK(!to_string(request.error().code).empty());
  }
}

// A reply's parts re-encoded must decode to the same parts.
void fuzz_reply(std::string_view payload) {
  auto reply = decode_reply(payload);
  if (!reply) return;
  if (reply->ticket) {
    const std::string text = encode_ok_ticket(*reply->ticket);
    auto again = decode_reply(text);
    YIBAN_FUZZ_CHECK(again.has_value() && again->ticket.has_value());
    YIBAN_FUZZ_CHECK(encode_ok_ticket(*again->ticket) == text);
  }
  if (reply->counter) {
    const std::string text = encode_ok_counter(*reply->counter);
    auto again = decode_reply(text);
    YIBAN_FUZZ_CHECK(again.has_value() && again->counter.has_value());
    YIBAN_FUZZ_CHECK(encode_ok_counter(*again->counter) == text);
  }
  if (reply->help_id) {
    auto again = decode_reply(encode_ok_help(*reply->help_id));
    YIBAN_FUZZ_CHECK(again.has_value() && again->help_id == reply->help_id);
  }
  if (reply->failure) {
    auto again = decode_reply(encode_failure(*reply->failure));
    YIBAN_FUZZ_CHECK(again.has_value() && again->failure.has_value());
    YIBAN_FUZZ_CHECK(again->failure->code == reply->failure->code);
  }
}

void fuzz_board_calls(std::string_view payload) {
  auto calls = decode_board_calls(payload);
  if (!calls) return;
  const std::string text = encode_board_calls(*calls);
  auto again = decode_board_calls(text);
  YIBAN_FUZZ_CHECK(again.has_value());
  YIBAN_FUZZ_CHECK(encode_board_calls(*again) == text);
}

void fuzz_device_status(std::string_view payload) {
  auto status = decode_device_status(payload);
  if (!status) return;
  const std::string text = encode_device_status(*status);
  auto again = decode_device_status(text);
  YIBAN_FUZZ_CHECK(again.has_value());
  YIBAN_FUZZ_CHECK(encode_device_status(*again) == text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto input = split_input(data, size);
  if (size == 0) return 0;
  if (input.selector < kOps.size()) {
    fuzz_request(kOps[input.selector], input.text);
  } else if (input.selector == 17) {
    const auto parts = split_at_nul(input.text);
    (void)parse_device_topic(parts.has_second ? parts.first : "qd-sn-01",
                             parts.has_second ? parts.second : parts.first);
  } else if (input.selector == 18) {
    fuzz_reply(input.text);
  } else if (input.selector == 19) {
    fuzz_board_calls(input.text);
  } else {
    fuzz_device_status(input.text);
  }
  return 0;
}
