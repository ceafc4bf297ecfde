// Fuzz target: HTTP request bodies of the console and central APIs, DOWN
// command data, and the small values inside them (bookings.h, cases.h,
// commands.h, ids.h). The first byte chooses:
//   0  decode_book              8  decode_case_file (round trip)
//   1  decode_booking_add (rt)  9  decode_step (round trip)
//   2  decode_booking_quota (rt) 10 decode_resubmitted (round trip)
//   3  decode_booking_cancel    11 validate_command_data(type, data), type
//   4  decode_submit               chosen by the second byte
//   5  decode_resubmit          12 decode_notice, 13 decode_alert_action
//   6  decode_review            14.. value checks: phone, ID number, masks,
//   7  decode_complete             case id, booking code, ticket id, sniffing
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.h"
#include "yiban/protocol/bookings.h"
#include "yiban/protocol/cases.h"
#include "yiban/protocol/commands.h"
#include "yiban/protocol/ids.h"

namespace {

using namespace yiban::protocol;
using yiban::fuzz::split_input;

constexpr std::array<std::string_view, 9> kCommandTypes{
    "notice",         "config.set",  "alert.ack",      "alert.resolve", "catalog.set",
    "booking.config", "booking.add", "booking.cancel", "case.assign"};

template <class Value, class Decode, class Encode>
void round_trip(std::string_view text, Decode decode, Encode encode) {
  auto decoded = decode(text);
  if (!decoded) {
    YIBAN_FUZZ_CHECK(!decoded.error().message.empty());
    return;
  }
  const std::string encoded = encode(*decoded);
  auto again = decode(encoded);
  YIBAN_FUZZ_CHECK(again.has_value());
  YIBAN_FUZZ_CHECK(encode(*again) == encoded);
}

void fuzz_values(std::string_view text) {
  if (auto phone = bookings::normalise_phone(text)) {
    YIBAN_FUZZ_CHECK(bookings::normalise_phone(*phone).has_value());
    (void)bookings::mask_phone(*phone);
  }
  (void)bookings::mask_phone(text);
  (void)bookings::valid_booking_code(text);
  if (auto id = cases::normalise_id(text)) {
    auto again = cases::normalise_id(*id);
    YIBAN_FUZZ_CHECK(again.has_value() && *again == *id);
    (void)cases::mask_id(*id);
  }
  (void)cases::mask_id(text);
  (void)cases::mask_name(text);
  if (cases::valid_case_id(text)) YIBAN_FUZZ_CHECK(!cases::origin_of(text).empty());
  (void)cases::origin_of(text);
  (void)cases::sniff_type(text);
  (void)parse_ticket_id(text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto input = split_input(data, size);
  const std::string_view text = input.text;
  switch (input.selector % 15) {
    case 0:
      (void)bookings::decode_book(text);
      break;
    case 1:
      round_trip<bookings::BookingAdd>(text, bookings::decode_booking_add,
                                       bookings::encode_booking_add);
      break;
    case 2:
      round_trip<bookings::BookingQuota>(text, bookings::decode_booking_quota,
                                         bookings::encode_booking_quota);
      break;
    case 3:
      (void)bookings::decode_booking_cancel(text);
      break;
    case 4:
      (void)cases::decode_submit(text);
      break;
    case 5:
      (void)cases::decode_resubmit(text);
      break;
    case 6:
      (void)cases::decode_review(text);
      break;
    case 7:
      (void)cases::decode_complete(text);
      break;
    case 8:
      round_trip<cases::CaseFile>(text, cases::decode_case_file, cases::encode_case_file);
      break;
    case 9:
      round_trip<cases::Step>(text, cases::decode_step, cases::encode_step);
      break;
    case 10:
      round_trip<cases::Resubmission>(
          text, cases::decode_resubmitted, [](const cases::Resubmission& r) {
            return cases::encode_resubmitted(r.id, r.attempt, r.note, r.by, r.added,
                                             r.prereview_due);
          });
      break;
    case 11:
      if (!text.empty()) {
        const auto type = kCommandTypes[static_cast<std::uint8_t>(text[0]) % kCommandTypes.size()];
        (void)validate_command_data(type, text.substr(1));
      }
      break;
    case 12:
      (void)decode_notice(text);
      break;
    case 13:
      (void)decode_alert_action(text);
      break;
    default:
      fuzz_values(text);
      break;
  }
  return 0;
}
