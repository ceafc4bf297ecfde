#pragma once
// IANA time zones read from the system's compiled zoneinfo (TZif) files, so
// each hall's business day follows its own local midnight without touching the
// process-wide TZ. g++ 12's <chrono> has no tzdb, hence this small reader.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "yiban/protocol/error.h"

namespace yiban::protocol {

class TimeZone {
 public:
  // name: e.g. "Asia/Shanghai". Fails with a message naming the zone when the
  // name is malformed or no valid TZif file exists for it.
  static Expected<TimeZone> load(std::string_view name,
                                 const std::filesystem::path& zoneinfo_root = "/usr/share/zoneinfo");
  // A fixed offset zone (tests, and "UTC" without a zoneinfo file).
  static TimeZone fixed(std::string name, std::int32_t offset_s);

  const std::string& name() const { return name_; }
  // Seconds east of UTC in effect at the given instant.
  std::int32_t offset_s(std::int64_t utc_ms) const;
  // Local calendar date as yyyymmdd.
  int local_day(std::int64_t utc_ms) const;
  // The first instant (UTC ms) strictly after utc_ms at which the local date changes.
  std::int64_t next_midnight_ms(std::int64_t utc_ms) const;
  // Local hour:minute of the day, in minutes since local midnight.
  int local_minute_of_day(std::int64_t utc_ms) const;

 private:
  struct Transition {
    std::int64_t at_s;  // UTC seconds
    std::int32_t offset_s;  // in effect from at_s on
  };
  std::string name_;
  std::int32_t initial_offset_s_ = 0;  // before the first transition
  std::vector<Transition> transitions_;  // ascending
  // After the last transition: a fixed offset, or (DST rule in the footer)
  // the offset of the last transition. Debian ships "fat" files listing
  // transitions up to 2037, so this only matters beyond that year.
  std::int32_t final_offset_s_ = 0;
};

// Civil date helpers (proleptic Gregorian, days since 1970-01-01).
std::int64_t days_from_civil(int year, unsigned month, unsigned day);
int yyyymmdd_from_days(std::int64_t days);

}  // namespace yiban::protocol
