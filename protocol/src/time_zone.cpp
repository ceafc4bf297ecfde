#include "yiban/protocol/time_zone.h"

#include <algorithm>
#include <cstddef>
#include <expected>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <system_error>
#include <utility>

namespace yiban::protocol {
namespace {

constexpr std::size_t kMaxNameLength = 64;
constexpr std::uintmax_t kMaxFileSize = 1 << 20;
constexpr std::int64_t kMsPerDay = 86'400'000;
constexpr std::size_t kHeaderSize = 44;
// RFC 8536 bounds on a local time type's UT offset.
constexpr std::int32_t kMinUtoff = -89'999;
constexpr std::int32_t kMaxUtoff = 93'599;

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if (a % b != 0 && ((a < 0) != (b < 0))) --q;
  return q;
}

std::int64_t floor_mod(std::int64_t a, std::int64_t b) {
  return a - floor_div(a, b) * b;
}

// Saturates instead of overflowing on the far-past sentinels some TZif files carry.
std::int64_t ms_from_s(std::int64_t s) {
  constexpr std::int64_t kLimit = std::numeric_limits<std::int64_t>::max() / 1000;
  if (s > kLimit) return std::numeric_limits<std::int64_t>::max();
  if (s < -kLimit) return std::numeric_limits<std::int64_t>::min();
  return s * 1000;
}

std::int64_t local_days(std::int64_t utc_ms, std::int32_t offset_s) {
  return floor_div(utc_ms + std::int64_t{offset_s} * 1000, kMsPerDay);
}

bool is_ascii_alpha(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}
bool is_ascii_digit(char c) {
  return c >= '0' && c <= '9';
}

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength || name.front() == '/') return false;
  if (name.find("..") != std::string_view::npos) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return is_ascii_alpha(c) || is_ascii_digit(c) || c == '_' || c == '+' || c == '/' || c == '-';
  });
}

// Big-endian reads over a byte string; callers check remaining() before reading.
class ByteReader {
 public:
  explicit ByteReader(std::string_view data) : data_(data) {}

  std::size_t remaining() const { return data_.size() - pos_; }
  std::string_view rest() const { return data_.substr(pos_); }
  void skip(std::size_t n) { pos_ += n; }
  std::string_view take(std::size_t n) {
    std::string_view out = data_.substr(pos_, n);
    pos_ += n;
    return out;
  }
  std::uint8_t u8() { return static_cast<std::uint8_t>(data_[pos_++]); }
  std::uint32_t u32() {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | u8();
    return v;
  }
  std::uint64_t u64() {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | u8();
    return v;
  }
  std::int32_t i32() { return static_cast<std::int32_t>(u32()); }
  std::int64_t i64() { return static_cast<std::int64_t>(u64()); }

 private:
  std::string_view data_;
  std::size_t pos_ = 0;
};

struct Counts {
  char version = '\0';
  std::uint32_t isutcnt = 0;
  std::uint32_t isstdcnt = 0;
  std::uint32_t leapcnt = 0;
  std::uint32_t timecnt = 0;
  std::uint32_t typecnt = 0;
  std::uint32_t charcnt = 0;
};

struct ZoneData {
  std::vector<std::pair<std::int64_t, std::int32_t>> transitions;  // (UTC s, offset), ascending
  std::int32_t initial_offset_s = 0;
  std::int32_t final_offset_s = 0;
};

// Error values below are messages without the zone name; load() prefixes it.
using Parsed = std::expected<ZoneData, std::string>;

std::expected<Counts, std::string> read_header(ByteReader& in) {
  if (in.remaining() < kHeaderSize) return std::unexpected("truncated TZif header");
  if (in.take(4) != "TZif") return std::unexpected("not a TZif file");
  Counts c;
  c.version = static_cast<char>(in.u8());
  if (c.version != '\0' && (c.version < '2' || c.version > '4')) {
    return std::unexpected("unsupported TZif version");
  }
  in.skip(15);
  c.isutcnt = in.u32();
  c.isstdcnt = in.u32();
  c.leapcnt = in.u32();
  c.timecnt = in.u32();
  c.typecnt = in.u32();
  c.charcnt = in.u32();
  if (c.typecnt == 0) return std::unexpected("TZif file has no local time types");
  if ((c.isutcnt != 0 && c.isutcnt != c.typecnt) || (c.isstdcnt != 0 && c.isstdcnt != c.typecnt)) {
    return std::unexpected("inconsistent TZif indicator counts");
  }
  return c;
}

std::uint64_t block_size(const Counts& c, std::uint64_t time_size) {
  return std::uint64_t{c.timecnt} * (time_size + 1) + std::uint64_t{c.typecnt} * 6 + c.charcnt +
         std::uint64_t{c.leapcnt} * (time_size + 4) + c.isstdcnt + c.isutcnt;
}

// Reads one data block whose transition times are time_size (4 or 8) bytes wide.
Parsed read_block(ByteReader& in, const Counts& c, std::size_t time_size) {
  if (block_size(c, time_size) > in.remaining()) return std::unexpected("truncated TZif data");
  std::vector<std::int64_t> times(c.timecnt);
  for (std::size_t i = 0; i < times.size(); ++i) {
    times[i] = time_size == 8 ? in.i64() : std::int64_t{in.i32()};
    if (i > 0 && times[i] <= times[i - 1]) {
      return std::unexpected("TZif transition times are not ascending");
    }
  }
  std::vector<std::uint8_t> type_of(c.timecnt);
  for (auto& index : type_of) {
    index = in.u8();
    if (index >= c.typecnt) return std::unexpected("TZif transition names a missing type");
  }
  struct Type {
    std::int32_t utoff;
    bool isdst;
  };
  std::vector<Type> types(c.typecnt);
  for (auto& type : types) {
    type.utoff = in.i32();
    const std::uint8_t isdst = in.u8();
    const std::uint8_t desigidx = in.u8();
    if (type.utoff < kMinUtoff || type.utoff > kMaxUtoff || isdst > 1 || desigidx >= c.charcnt) {
      return std::unexpected("invalid TZif local time type");
    }
    type.isdst = isdst == 1;
  }
  in.skip(c.charcnt + std::size_t{c.leapcnt} * (time_size + 4) + c.isstdcnt + c.isutcnt);

  ZoneData zone;
  const auto first_std =
      std::find_if(types.begin(), types.end(), [](const Type& t) { return !t.isdst; });
  zone.initial_offset_s = first_std != types.end() ? first_std->utoff : types.front().utoff;
  zone.transitions.reserve(times.size());
  for (std::size_t i = 0; i < times.size(); ++i) {
    zone.transitions.emplace_back(times[i], types[type_of[i]].utoff);
  }
  zone.final_offset_s =
      zone.transitions.empty() ? zone.initial_offset_s : zone.transitions.back().second;
  return zone;
}

// Parses a POSIX TZ string such as "CST-8" or "CET-1CEST,M3.5.0,M10.5.0/3". Returns the UT
// offset when the string has no DST part, nullopt when it has one (its rule is not evaluated).
std::expected<std::optional<std::int32_t>, std::string> parse_posix_tz(std::string_view tz) {
  const std::unexpected<std::string> bad("malformed TZif footer");
  std::size_t i = 0;
  if (tz.empty()) return bad;
  if (tz[0] == '<') {
    i = tz.find('>');
    if (i == std::string_view::npos || i < 2) return bad;
    ++i;
  } else {
    while (i < tz.size() && is_ascii_alpha(tz[i])) ++i;
    if (i < 3) return bad;
  }
  std::int32_t sign = 1;
  if (i < tz.size() && (tz[i] == '+' || tz[i] == '-')) sign = tz[i++] == '-' ? -1 : 1;
  auto number = [&](std::int32_t max) -> std::optional<std::int32_t> {
    std::int32_t value = 0;
    std::size_t digits = 0;
    while (i < tz.size() && is_ascii_digit(tz[i]) && digits < 2) {
      value = value * 10 + (tz[i++] - '0');
      ++digits;
    }
    if (digits == 0 || value > max) return std::nullopt;
    return value;
  };
  std::int32_t seconds = 0;
  std::int32_t scale = 3600;
  for (std::int32_t max : {24, 59, 59}) {
    const auto part = number(max);
    if (!part) return bad;
    seconds += *part * scale;
    scale /= 60;
    if (scale == 0 || i >= tz.size() || tz[i] != ':') break;
    ++i;
  }
  if (i == tz.size()) return std::optional<std::int32_t>(-sign * seconds);
  if (tz[i] == '<' || is_ascii_alpha(tz[i])) return std::optional<std::int32_t>();
  return bad;
}

// The footer of a v2+ file: '\n', a POSIX TZ string (possibly empty), '\n'.
std::expected<std::optional<std::int32_t>, std::string> read_footer(ByteReader& in) {
  if (in.remaining() < 1 || in.u8() != '\n') return std::unexpected("missing TZif footer");
  const std::string_view rest = in.rest();
  const std::size_t end = rest.find('\n');
  if (end == std::string_view::npos) return std::unexpected("unterminated TZif footer");
  if (end == 0) return std::optional<std::int32_t>();
  return parse_posix_tz(rest.substr(0, end));
}

Parsed parse_tzif(std::string_view data) {
  ByteReader in(data);
  const auto v1 = read_header(in);
  if (!v1) return std::unexpected(v1.error());
  if (v1->version == '\0') return read_block(in, *v1, 4);
  const std::uint64_t v1_size = block_size(*v1, 4);
  if (v1_size > in.remaining()) return std::unexpected("truncated TZif data");
  in.skip(static_cast<std::size_t>(v1_size));
  const auto v2 = read_header(in);
  if (!v2) return std::unexpected(v2.error());
  if (v2->version == '\0') return std::unexpected("TZif version mismatch");
  auto zone = read_block(in, *v2, 8);
  if (!zone) return zone;
  const auto footer = read_footer(in);
  if (!footer) return std::unexpected(footer.error());
  if (*footer) zone->final_offset_s = **footer;
  return zone;
}

}  // namespace

Expected<TimeZone> TimeZone::load(std::string_view name,
                                  const std::filesystem::path& zoneinfo_root) {
  auto fail = [&](const std::string& what) {
    return error("time zone '" + std::string(name) + "': " + what);
  };
  if (!valid_name(name)) return fail("malformed name");
  const std::filesystem::path path = zoneinfo_root / std::string(name);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return fail("no zoneinfo file " + path.string());
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) return fail("cannot read " + path.string() + ": " + ec.message());
  if (size > kMaxFileSize) return fail("zoneinfo file too large");
  std::string data(static_cast<std::size_t>(size), '\0');
  std::ifstream file(path, std::ios::binary);
  if (!file.read(data.data(), static_cast<std::streamsize>(data.size()))) {
    return fail("cannot read " + path.string());
  }
  const auto parsed = parse_tzif(data);
  if (!parsed) return fail(parsed.error());

  TimeZone zone;
  zone.name_ = std::string(name);
  zone.initial_offset_s_ = parsed->initial_offset_s;
  zone.final_offset_s_ = parsed->final_offset_s;
  zone.transitions_.reserve(parsed->transitions.size());
  for (const auto& [at_s, offset_s] : parsed->transitions) {
    zone.transitions_.push_back(Transition{at_s, offset_s});
  }
  return zone;
}

TimeZone TimeZone::fixed(std::string name, std::int32_t offset_s) {
  TimeZone zone;
  zone.name_ = std::move(name);
  zone.initial_offset_s_ = offset_s;
  zone.final_offset_s_ = offset_s;
  return zone;
}

std::int32_t TimeZone::offset_s(std::int64_t utc_ms) const {
  if (transitions_.empty()) return final_offset_s_;
  const std::int64_t t = floor_div(utc_ms, 1000);
  const auto it =
      std::upper_bound(transitions_.begin(), transitions_.end(), t,
                       [](std::int64_t s, const Transition& tr) { return s < tr.at_s; });
  if (it == transitions_.begin()) return initial_offset_s_;
  if (it == transitions_.end()) return final_offset_s_;
  return std::prev(it)->offset_s;
}

int TimeZone::local_day(std::int64_t utc_ms) const {
  return yyyymmdd_from_days(local_days(utc_ms, offset_s(utc_ms)));
}

std::int64_t TimeZone::next_midnight_ms(std::int64_t utc_ms) const {
  // Walks spans of constant offset: within one, the next change is the next local midnight;
  // at a span's end the date may also change (a transition across midnight).
  const std::int64_t day = local_days(utc_ms, offset_s(utc_ms));
  std::int64_t t = utc_ms;
  for (;;) {
    const std::int32_t offset = offset_s(t);
    const auto next = std::upper_bound(
        transitions_.begin(), transitions_.end(), t,
        [](std::int64_t ms, const Transition& tr) { return ms < ms_from_s(tr.at_s); });
    const std::int64_t span_end = next == transitions_.end()
                                      ? std::numeric_limits<std::int64_t>::max()
                                      : ms_from_s(next->at_s);
    const std::int64_t midnight =
        (local_days(t, offset) + 1) * kMsPerDay - std::int64_t{offset} * 1000;
    if (midnight < span_end) return midnight;
    t = span_end;
    if (local_days(t, offset_s(t)) != day) return t;
  }
}

int TimeZone::local_minute_of_day(std::int64_t utc_ms) const {
  const std::int64_t local_ms = utc_ms + std::int64_t{offset_s(utc_ms)} * 1000;
  return static_cast<int>(floor_mod(local_ms, kMsPerDay) / 60'000);
}

std::int64_t days_from_civil(int year, unsigned month, unsigned day) {
  const std::int64_t y = std::int64_t{year} - (month <= 2 ? 1 : 0);
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const std::int64_t yoe = y - era * 400;
  const std::int64_t mp = month > 2 ? month - 3 : month + 9;
  const std::int64_t doy = (153 * mp + 2) / 5 + day - 1;
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146'097 + doe - 719'468;
}

int yyyymmdd_from_days(std::int64_t days) {
  const std::int64_t z = days + 719'468;
  const std::int64_t era = (z >= 0 ? z : z - 146'096) / 146'097;
  const std::int64_t doe = z - era * 146'097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36'524 - doe / 146'096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  const std::int64_t day = doy - (153 * mp + 2) / 5 + 1;
  const std::int64_t month = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  return static_cast<int>(year * 10'000 + month * 100 + day);
}

}  // namespace yiban::protocol
