#include "yiban/protocol/time_zone.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "support/test_support.h"

namespace yiban::protocol {
namespace {

// Expected instants below are UTC epoch seconds, checked by hand with
// `date -u -d 2026-11-25T16:00:00Z +%s` and `TZ=<zone> date -d @<seconds>`.
constexpr std::int64_t ms(std::int64_t epoch_s) {
  return epoch_s * 1000;
}
constexpr std::int32_t kHour = 3600;

TimeZone load_or_fail(std::string_view name,
                      const std::filesystem::path& root = "/usr/share/zoneinfo") {
  auto zone = TimeZone::load(name, root);
  if (!zone) FAIL(zone.error().message);
  return *zone;
}

void write_zone_file(const std::filesystem::path& path, std::string_view bytes) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

struct FakeType {
  std::int32_t utoff;
  bool isdst;
};

struct FakeTransition {
  std::int64_t at_s;
  std::uint8_t type;
};

void put_be(std::string& out, std::uint64_t value, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

// A TZif file per RFC 8536. version '\0' writes a v1 file (no 64-bit block, no footer).
std::string make_tzif(char version, const std::vector<FakeTransition>& transitions,
                      const std::vector<FakeType>& types, std::string_view footer) {
  std::string out;
  auto block = [&](int time_size) {
    out += "TZif";
    out.push_back(version);
    out.append(15, '\0');
    for (std::uint64_t count :
         {std::uint64_t{0}, std::uint64_t{0}, std::uint64_t{0}, std::uint64_t{transitions.size()},
          std::uint64_t{types.size()}, std::uint64_t{4}}) {
      put_be(out, count, 4);
    }
    for (const auto& t : transitions) put_be(out, static_cast<std::uint64_t>(t.at_s), time_size);
    for (const auto& t : transitions) out.push_back(static_cast<char>(t.type));
    for (const auto& type : types) {
      put_be(out, static_cast<std::uint32_t>(type.utoff), 4);
      out.push_back(type.isdst ? 1 : 0);
      out.push_back(0);
    }
    out.append("ZZZ\0", 4);
  };
  block(4);
  if (version != '\0') {
    block(8);
    out += '\n';
    out += footer;
    out += '\n';
  }
  return out;
}

}  // namespace

TEST_CASE("Asia/Shanghai is UTC+8 and its day starts at 16:00 UTC", "[protocol][time_zone]") {
  const TimeZone zone = load_or_fail("Asia/Shanghai");
  CHECK(zone.name() == "Asia/Shanghai");
  CHECK(zone.offset_s(ms(1'782'864'000)) == 8 * kHour);  // 2026-07-01T00:00Z
  CHECK(zone.offset_s(ms(1'795'622'400)) == 8 * kHour);  // 2026-11-25T16:00Z

  // 2026-11-25T15:59:59.999Z is 23:59:59.999 local; 16:00:00Z is the next local midnight.
  CHECK(zone.local_day(ms(1'795'622'399) + 999) == 20261125);
  CHECK(zone.local_day(ms(1'795'622'400)) == 20261126);
  CHECK(zone.local_minute_of_day(ms(1'795'622'399) + 999) == 23 * 60 + 59);
  CHECK(zone.local_minute_of_day(ms(1'795'622'400)) == 0);
  CHECK(zone.local_minute_of_day(ms(1'795'600'800)) == 18 * 60);  // 10:00Z

  CHECK(zone.next_midnight_ms(ms(1'795'600'800)) == ms(1'795'622'400));
  CHECK(zone.next_midnight_ms(ms(1'795'622'399) + 999) == ms(1'795'622'400));
  // Strictly after: from a midnight itself, the following one (2026-11-26T16:00Z).
  CHECK(zone.next_midnight_ms(ms(1'795'622'400)) == ms(1'795'708'800));
}

TEST_CASE("Asia/Shanghai had daylight saving time from 1986 to 1991", "[protocol][time_zone]") {
  const TimeZone zone = load_or_fail("Asia/Shanghai");
  CHECK(zone.offset_s(ms(515'527'199)) == 8 * kHour);  // 1986-05-03T17:59:59Z
  CHECK(zone.offset_s(ms(515'527'200)) == 9 * kHour);  // 1986-05-03T18:00Z, DST begins
  CHECK(zone.offset_s(ms(583'718'400)) == 9 * kHour);  // 1988-07-01T00:00Z
  CHECK(zone.offset_s(ms(567'993'600)) == 8 * kHour);  // 1988-01-01T00:00Z
  CHECK(zone.offset_s(ms(684'867'600)) == 8 * kHour);  // 1991-09-14T17:00Z, last DST ended
}

TEST_CASE("Europe/Berlin follows both 2026 daylight saving changes", "[protocol][time_zone]") {
  const TimeZone zone = load_or_fail("Europe/Berlin");

  SECTION("spring forward on 2026-03-29 at 01:00 UTC") {
    CHECK(zone.offset_s(ms(1'774'745'999)) == 1 * kHour);
    CHECK(zone.offset_s(ms(1'774'746'000)) == 2 * kHour);
    CHECK(zone.local_minute_of_day(ms(1'774'745'999)) == 1 * 60 + 59);
    CHECK(zone.local_minute_of_day(ms(1'774'746'000)) == 3 * 60);
    // 2026-03-28T12:00Z (CET) -> 2026-03-29 00:00 CET = 2026-03-28T23:00Z.
    CHECK(zone.next_midnight_ms(ms(1'774'699'200)) == ms(1'774'738'800));
    // The 23-hour day: 2026-03-29 00:00 CET -> 2026-03-30 00:00 CEST = 2026-03-29T22:00Z.
    CHECK(zone.next_midnight_ms(ms(1'774'738'800)) == ms(1'774'821'600));
    CHECK(zone.next_midnight_ms(ms(1'774'785'600)) == ms(1'774'821'600));
    CHECK(zone.local_day(ms(1'774'821'600) - 1) == 20260329);
    CHECK(zone.local_day(ms(1'774'821'600)) == 20260330);
  }

  SECTION("fall back on 2026-10-25 at 01:00 UTC") {
    CHECK(zone.offset_s(ms(1'792'889'999)) == 2 * kHour);
    CHECK(zone.offset_s(ms(1'792'890'000)) == 1 * kHour);
    CHECK(zone.local_minute_of_day(ms(1'792'889'999)) == 2 * 60 + 59);
    CHECK(zone.local_minute_of_day(ms(1'792'890'000)) == 2 * 60);
    // The 25-hour day: 2026-10-25 00:00 CEST = 2026-10-24T22:00Z -> 2026-10-26 00:00 CET
    // = 2026-10-25T23:00Z.
    CHECK(zone.local_day(ms(1'792'879'200)) == 20261025);
    CHECK(zone.next_midnight_ms(ms(1'792'879'200)) == ms(1'792'969'200));
    CHECK(zone.next_midnight_ms(ms(1'792'890'000)) == ms(1'792'969'200));
  }

  SECTION("far future stays sane") {
    const std::int32_t summer = zone.offset_s(ms(4'118'083'200));  // 2100-07-01T00:00Z
    CHECK((summer == 1 * kHour || summer == 2 * kHour));
    CHECK(zone.offset_s(ms(4'102'444'800)) == 1 * kHour);  // 2100-01-01T00:00Z
    CHECK(zone.local_day(ms(4'102'444'800)) == 21000101);
    CHECK(zone.next_midnight_ms(ms(4'102'444'800)) == ms(4'102'444'800 + 23 * kHour));
  }
}

TEST_CASE("America/New_York follows the 2026 US daylight saving rules", "[protocol][time_zone]") {
  const TimeZone zone = load_or_fail("America/New_York");
  CHECK(zone.offset_s(ms(1'772'953'199)) == -5 * kHour);  // 2026-03-08T06:59:59Z
  CHECK(zone.offset_s(ms(1'772'953'200)) == -4 * kHour);  // 2026-03-08T07:00Z
  CHECK(zone.offset_s(ms(1'793'512'799)) == -4 * kHour);  // 2026-11-01T05:59:59Z
  CHECK(zone.offset_s(ms(1'793'512'800)) == -5 * kHour);  // 2026-11-01T06:00Z

  CHECK(zone.local_day(ms(1'783'137'599)) == 20260703);  // 2026-07-04T03:59:59Z
  CHECK(zone.local_day(ms(1'783'137'600)) == 20260704);  // 2026-07-04T04:00Z
  // 2026-03-08 00:00 EST = 05:00Z; the next midnight is 2026-03-09 00:00 EDT = 04:00Z.
  CHECK(zone.local_day(ms(1'772'946'000)) == 20260308);
  CHECK(zone.next_midnight_ms(ms(1'772'946'000)) == ms(1'773'028'800));
}

TEST_CASE("UTC loaded and fixed zones agree", "[protocol][time_zone]") {
  const TimeZone loaded = load_or_fail("UTC");
  const TimeZone fixed = TimeZone::fixed("UTC", 0);
  CHECK(fixed.name() == "UTC");
  for (const TimeZone* zone : {&loaded, &fixed}) {
    CHECK(zone->offset_s(ms(1'782'864'000)) == 0);
    CHECK(zone->local_day(0) == 19700101);
    CHECK(zone->local_day(-1) == 19691231);
    CHECK(zone->local_minute_of_day(-1) == 23 * 60 + 59);
    CHECK(zone->next_midnight_ms(-1) == 0);
    CHECK(zone->next_midnight_ms(0) == 86'400'000);
    CHECK(zone->local_day(ms(946'684'800)) == 20000101);
  }
}

TEST_CASE("A fixed zone shifts the local date by its offset", "[protocol][time_zone]") {
  const TimeZone zone = TimeZone::fixed("Test/Minus0930", -(9 * kHour + 30 * 60));
  CHECK(zone.offset_s(0) == -(9 * kHour + 30 * 60));
  CHECK(zone.local_day(0) == 19691231);
  CHECK(zone.local_minute_of_day(0) == 14 * 60 + 30);
  CHECK(zone.next_midnight_ms(0) == ms(9 * kHour + 30 * 60));
}

TEST_CASE("Zone names that are malformed or unknown are refused", "[protocol][time_zone]") {
  const std::vector<std::string> names = {"../etc/passwd",     "Nowhere/City",     "/etc/passwd",
                                          "Asia/Shang hai",    "Europe/Berlin;rm", "Europe",
                                          std::string(65, 'A')};
  for (const std::string& name : names) {
    INFO(name);
    const auto zone = TimeZone::load(name);
    REQUIRE_FALSE(zone.has_value());
    CHECK_THAT(zone.error().message, Catch::Contains(name));
  }
  const auto empty = TimeZone::load("");
  REQUIRE_FALSE(empty.has_value());
  CHECK_THAT(empty.error().message, Catch::Contains("time zone ''"));
}

TEST_CASE("Truncated or corrupted TZif files fail cleanly", "[protocol][time_zone]") {
  const yiban::test::TempDir dir;
  const std::string good = read_bytes("/usr/share/zoneinfo/Europe/Berlin");
  REQUIRE(good.size() > 100);
  const std::filesystem::path path = dir / "Test/Zone";
  write_zone_file(path, good);
  REQUIRE(TimeZone::load("Test/Zone", dir.path()).has_value());

  SECTION("every truncation") {
    for (std::size_t size = 0; size < good.size(); ++size) {
      write_zone_file(path, std::string_view(good).substr(0, size));
      const auto zone = TimeZone::load("Test/Zone", dir.path());
      INFO("size " << size);
      REQUIRE_FALSE(zone.has_value());
      CHECK_THAT(zone.error().message, Catch::Contains("Test/Zone"));
    }
  }

  SECTION("bad magic") {
    std::string bad = good;
    bad[0] = 'X';
    write_zone_file(path, bad);
    const auto zone = TimeZone::load("Test/Zone", dir.path());
    REQUIRE_FALSE(zone.has_value());
    CHECK_THAT(zone.error().message, Catch::Contains("Test/Zone"));
  }

  SECTION("a huge transition count") {
    std::string bad = good;
    for (std::size_t i = 32; i < 36; ++i) bad[i] = '\xff';  // v1 timecnt
    write_zone_file(path, bad);
    REQUIRE_FALSE(TimeZone::load("Test/Zone", dir.path()).has_value());
  }

  SECTION("a transition naming a missing type") {
    const std::string bad = make_tzif('2', {{0, 3}}, {{3600, false}}, "ZZZ-1");
    write_zone_file(path, bad);
    REQUIRE_FALSE(TimeZone::load("Test/Zone", dir.path()).has_value());
  }

  SECTION("a malformed footer") {
    write_zone_file(path, make_tzif('2', {}, {{3600, false}}, "!!"));
    REQUIRE_FALSE(TimeZone::load("Test/Zone", dir.path()).has_value());
  }

  SECTION("a file over 1 MiB") {
    write_zone_file(path, good + std::string(std::size_t{1} << 20, '\0'));
    REQUIRE_FALSE(TimeZone::load("Test/Zone", dir.path()).has_value());
  }
}

TEST_CASE("The POSIX footer gives the offset after the last transition", "[protocol][time_zone]") {
  const yiban::test::TempDir dir;
  // Type 0 is DST, so the initial offset is the first standard type's (type 1).
  const std::vector<FakeType> types = {{2 * kHour, true}, {1 * kHour, false}};
  // POSIX signs are inverted: "ZZZ-8" is UTC+8, "<-0330>3:30" is UTC-3:30.
  write_zone_file(dir / "Test/Fixed", make_tzif('2', {{1000, 0}}, types, "ZZZ-8"));
  write_zone_file(dir / "Test/West", make_tzif('3', {}, types, "<-0330>3:30"));
  write_zone_file(dir / "Test/Dst", make_tzif('2', {{1000, 0}}, types, "ZZZ-1YYY,M3.5.0,M10.5.0/3"));
  write_zone_file(dir / "Test/V1", make_tzif('\0', {{1000, 0}}, types, ""));

  const TimeZone fixed = load_or_fail("Test/Fixed", dir.path());
  CHECK(fixed.offset_s(ms(999)) == 1 * kHour);
  CHECK(fixed.offset_s(ms(1'000'000)) == 8 * kHour);
  CHECK(load_or_fail("Test/West", dir.path()).offset_s(ms(1'782'864'000)) == -(3 * kHour + 1800));
  const TimeZone dst = load_or_fail("Test/Dst", dir.path());
  CHECK(dst.offset_s(ms(999)) == 1 * kHour);
  CHECK(dst.offset_s(ms(1'000'000)) == 2 * kHour);
  const TimeZone v1 = load_or_fail("Test/V1", dir.path());
  CHECK(v1.offset_s(ms(999)) == 1 * kHour);
  CHECK(v1.offset_s(ms(1'000'000)) == 2 * kHour);
}

TEST_CASE("next_midnight_ms handles transitions across local midnight", "[protocol][time_zone]") {
  const yiban::test::TempDir dir;
  // Day boundary: 1970-01-02T00:00Z = 86400 s. Both transitions at 23:30Z on 1970-01-01.
  const std::int64_t transition_s = 86'400 - 1800;
  // Back: +1h -> 0h, so 1970-01-02 00:30 local becomes 1970-01-01 23:30 again.
  write_zone_file(dir / "Test/Back",
             make_tzif('2', {{transition_s, 1}}, {{kHour, false}, {0, false}}, "ZZZ0"));
  // Forward: 0h -> +1h, so 23:30 local jumps to 00:30 and local midnight never happens.
  write_zone_file(dir / "Test/Forward",
             make_tzif('2', {{transition_s, 1}}, {{0, false}, {kHour, false}}, "ZZZ-1"));

  const TimeZone back = load_or_fail("Test/Back", dir.path());
  CHECK(back.next_midnight_ms(ms(86'400 - 2 * kHour)) == ms(86'400 - kHour));
  CHECK(back.local_day(ms(86'400 - kHour)) == 19700102);
  CHECK(back.next_midnight_ms(ms(86'400 - kHour)) == ms(transition_s));
  CHECK(back.local_day(ms(transition_s)) == 19700101);
  CHECK(back.next_midnight_ms(ms(transition_s)) == ms(86'400));

  const TimeZone forward = load_or_fail("Test/Forward", dir.path());
  CHECK(forward.next_midnight_ms(ms(86'400 - 2 * kHour)) == ms(transition_s));
  CHECK(forward.local_day(ms(transition_s)) == 19700102);
  CHECK(forward.next_midnight_ms(ms(transition_s)) == ms(2 * 86'400 - kHour));
}

TEST_CASE("Civil dates convert to days and back", "[protocol][time_zone]") {
  CHECK(days_from_civil(1970, 1, 1) == 0);
  CHECK(days_from_civil(2000, 1, 1) == 10'957);  // 946684800 / 86400
  CHECK(days_from_civil(1969, 12, 31) == -1);
  CHECK(days_from_civil(1900, 1, 1) == -25'567);                           // -2208988800 / 86400
  CHECK(days_from_civil(2000, 3, 1) - days_from_civil(2000, 2, 28) == 2);  // 2000 is leap
  CHECK(days_from_civil(1900, 3, 1) - days_from_civil(1900, 2, 28) == 1);  // 1900 is not
  CHECK(days_from_civil(2024, 3, 1) - days_from_civil(2024, 2, 28) == 2);
  CHECK(yyyymmdd_from_days(0) == 19700101);
  CHECK(yyyymmdd_from_days(-1) == 19691231);
  CHECK(yyyymmdd_from_days(20'454) == 20260101);  // 1767225600 / 86400
  CHECK(yyyymmdd_from_days(11'016) == 20000229);

  // Every day from 1600-01-01 to 2400-12-31 round-trips and follows its predecessor.
  const std::int64_t first = days_from_civil(1600, 1, 1);
  const std::int64_t last = days_from_civil(2400, 12, 31);
  CHECK(last - first == 800 * 365 + 194 + 365);  // 194 leap days in 1600..2399, 2400 leap
  int previous = yyyymmdd_from_days(first - 1);
  CHECK(previous == 15991231);
  for (std::int64_t d = first; d <= last; ++d) {
    const int ymd = yyyymmdd_from_days(d);
    const int year = ymd / 10000;
    const unsigned month = static_cast<unsigned>(ymd / 100 % 100);
    const unsigned day = static_cast<unsigned>(ymd % 100);
    if (days_from_civil(year, month, day) != d) FAIL("round trip failed at " << ymd);
    const bool next_day = ymd == previous + 1;
    const bool next_month = day == 1 && (month == static_cast<unsigned>(previous / 100 % 100) + 1);
    const bool next_year = ymd == (previous / 10000 + 1) * 10000 + 101 && previous % 10000 == 1231;
    if (!(next_day || next_month || next_year)) FAIL(previous << " is followed by " << ymd);
    previous = ymd;
  }
  CHECK(previous == 24001231);
}

}  // namespace yiban::protocol
