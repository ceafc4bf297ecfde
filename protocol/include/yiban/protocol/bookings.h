#pragma once
// Appointments (issue 7, protocol/BOOKINGS.md): the booking configuration,
// slot arithmetic, booking codes, request bodies and DOWN command data.
// No I/O.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "yiban/protocol/error.h"
#include "yiban/protocol/sealed_box.h"
#include "yiban/protocol/time_zone.h"

namespace yiban::protocol::bookings {

struct Interval {
  int from_min = 0;  // minutes after local midnight
  int to_min = 0;
};

struct ServiceSlots {
  std::string code;
  int slot_min = 30;
  int capacity = 1;
  double hall_share = 0.3;
  std::vector<Interval> hours[7];  // by weekday, 0 = Sunday
  int hall_quota() const;
  int central_quota() const { return capacity - hall_quota(); }
};

struct HallSlots {
  std::string hall;
  std::vector<int> holidays;  // yyyymmdd
  std::vector<ServiceSlots> services;
  const ServiceSlots* find(std::string_view service) const;
};

struct NoShowLimit {
  int count = 3;
  int within_days = 30;
  int block_days = 30;
};

struct BookingConfig {
  std::string timezone = "Asia/Shanghai";
  int horizon_days = 7;
  NoShowLimit no_show_limit;
  int rebalance_before_min = 120;
  std::vector<HallSlots> halls;
  const HallSlots* find(std::string_view hall) const;
};

inline constexpr std::size_t kMaxBookingConfigBytes = 1024 * 1024;

// Strict: errors name the field (halls[0].services[1].hours.mon[0]: …).
Expected<BookingConfig> parse_booking_config(std::string_view json_text);
// Canonical text (parse_booking_config reads it back); with `only_hall`, the
// config as one hall receives it (`booking.config` command data).
std::string encode_booking_config(const BookingConfig& config, std::string_view only_hall = {});
// SHA-256 (hex) of a text: the version of a config sent to a hall.
std::string text_version(std::string_view text);
inline constexpr std::string_view kConfigCommand = "booking.config";

struct Slot {
  std::int64_t start = 0;  // UTC ms
  std::int64_t end = 0;
};
// The slots of a service on a local day (yyyymmdd) in the zone; none on a holiday.
std::vector<Slot> slots_of_day(const HallSlots& hall, const ServiceSlots& service, int day, const TimeZone& zone);
// The slot starting at start, if the service has one there.
std::optional<Slot> slot_at(const HallSlots& hall, const ServiceSlots& service, std::int64_t start,
                            const TimeZone& zone);

// 8 characters of 23456789ABCDEFGHJKLMNPQRSTUVWXYZ from 40 random bits.
std::string booking_code(std::uint64_t random_bits);
bool valid_booking_code(std::string_view code);

struct BookRequest {
  std::string hall;
  std::string service;
  std::int64_t slot_start = 0;
  std::string applicant_id;
  std::string applicant_name;
  std::string phone;
  std::string special_need;
};
// {"hall","service","slot_start","applicant_id","applicant_name","phone"[,"special_need"]}
Expected<BookRequest> decode_book(std::string_view body);
// 11-digit mobile number starting with 1; returns it normalised (digits only).
Expected<std::string> normalise_phone(std::string_view phone);
// 138****1234
std::string mask_phone(std::string_view phone);

// DOWN command data.
struct BookingAdd {
  std::string code;
  std::string service;
  std::int64_t slot_start = 0;
  std::int64_t slot_end = 0;
  std::string name;  // masked
  std::string phone;  // may be empty
  std::string special_need;
  // {"phone","special_need"} sealed to the hall's CURVE keys (issue 15):
  // when present, encode writes it instead of the two clear fields, so
  // central's command log never holds them.
  std::vector<SealedBox> sealed;
};
std::string encode_booking_add(const BookingAdd& add);
Expected<BookingAdd> decode_booking_add(std::string_view json_text);
// Seals phone and special_need to the hall's keys (and clears neither: the
// caller's copy stays whole; encode leaves them out once sealed).
Expected<void> seal_private(BookingAdd& add, const std::vector<std::string>& hall_keys);
// At the hall: opens add.sealed into phone and special_need (no-op without boxes).
Expected<void> open_private(BookingAdd& add, std::string_view public_key, std::string_view secret_key);
struct BookingQuota {
  std::string service;
  std::int64_t slot_start = 0;
  int add = 0;
};
std::string encode_booking_quota(const BookingQuota& q);
Expected<BookingQuota> decode_booking_quota(std::string_view json_text);
Expected<std::string> decode_booking_cancel(std::string_view json_text);  // the code

inline constexpr std::string_view kAddCommand = "booking.add";
inline constexpr std::string_view kCancelCommand = "booking.cancel";
inline constexpr std::string_view kQuotaCommand = "booking.quota";

}  // namespace yiban::protocol::bookings
