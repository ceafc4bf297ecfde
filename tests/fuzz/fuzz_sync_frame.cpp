// Fuzz target: edge ⇄ central sync frames (ARCHITECTURE §6, sync.h) and the
// payload items they carry. The first byte chooses:
//   0..9   the header decoder of HELLO, WELCOME, EVENTS, ACK, DOWN, DOWN_ACK,
//          ERROR, BLOB_GET, BLOB_DATA, BLOB_MISSING; a header that decodes is
//          encoded again and must decode to the same text
//   10     parse_event (an EVENTS item), round trip through encode_event, and
//          the chain step over its text
//   11     parse_command (a DOWN item), round trip through encode_command
//   12..   verb_from_string (frame 0) and chain_from_hex
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.h"
#include "yiban/protocol/chain.h"
#include "yiban/protocol/commands.h"
#include "yiban/protocol/event.h"
#include "yiban/protocol/sync.h"

namespace {

using namespace yiban::protocol;
using yiban::fuzz::split_input;

// decode, encode, decode again: both decodes succeed and encode is stable.
template <class Decode>
void round_trip(std::string_view header, Decode decode) {
  auto decoded = decode(header);
  if (!decoded) {
    YIBAN_FUZZ_CHECK(!decoded.error().message.empty());
    return;
  }
  const std::string text = sync::encode(*decoded);
  YIBAN_FUZZ_CHECK(text.size() <= sync::kMaxHeaderBytes || header.size() <= sync::kMaxHeaderBytes);
  auto again = decode(text);
  YIBAN_FUZZ_CHECK(again.has_value());
  YIBAN_FUZZ_CHECK(sync::encode(*again) == text);
}

void fuzz_header(std::uint8_t which, std::string_view header) {
  switch (which) {
    case 0:
      round_trip(header, sync::decode_hello);
      break;
    case 1:
      round_trip(header, sync::decode_welcome);
      break;
    case 2: {
      auto events = sync::decode_events(header);
      if (events) YIBAN_FUZZ_CHECK(events->from <= events->to);
      round_trip(header, sync::decode_events);
      break;
    }
    case 3:
      round_trip(header, sync::decode_ack);
      break;
    case 4:
      round_trip(header, sync::decode_down);
      break;
    case 5:
      round_trip(header, sync::decode_down_ack);
      break;
    case 6:
      round_trip(header, sync::decode_error);
      break;
    case 7:
      round_trip(header, sync::decode_blob_get);
      break;
    case 8:
      round_trip(header, sync::decode_blob_data);
      break;
    default:
      round_trip(header, sync::decode_blob_missing);
      break;
  }
}

void fuzz_event(std::string_view text) {
  auto event = parse_event(text);
  if (!event) return;
  YIBAN_FUZZ_CHECK(is_valid_event_type(event->type));
  (void)chain_next(kChainZero, text);
  const std::string encoded =
      encode_event(event->hall, event->seq, event->ts, event->type, event->data_json);
  auto again = parse_event(encoded);
  YIBAN_FUZZ_CHECK(again.has_value());
  YIBAN_FUZZ_CHECK(again->hall == event->hall && again->seq == event->seq &&
                   again->ts == event->ts && again->type == event->type &&
                   again->data_json == event->data_json);
}

void fuzz_command(std::string_view text) {
  auto command = parse_command(text);
  if (!command) return;
  const std::string encoded = encode_command(*command);
  auto again = parse_command(encoded);
  YIBAN_FUZZ_CHECK(again.has_value());
  YIBAN_FUZZ_CHECK(again->down_seq == command->down_seq && again->ts == command->ts &&
                   again->type == command->type && again->data_json == command->data_json);
  YIBAN_FUZZ_CHECK(encode_command(*again) == encoded);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto input = split_input(data, size);
  if (input.selector < 10) {
    fuzz_header(input.selector, input.text);
  } else if (input.selector == 10) {
    fuzz_event(input.text);
  } else if (input.selector == 11) {
    fuzz_command(input.text);
  } else {
    if (auto verb = sync::verb_from_string(input.text))
      YIBAN_FUZZ_CHECK(sync::to_string(*verb) == input.text);
    if (auto hash = chain_from_hex(input.text)) YIBAN_FUZZ_CHECK(to_hex(*hash).size() == 64);
  }
  return 0;
}
