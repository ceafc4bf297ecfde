#include "yiban/protocol/bookings.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "yiban/protocol/chain.h"
#include "yiban/protocol/ids.h"
#include "yiban/protocol/utf8.h"

namespace yiban::protocol::bookings {
namespace {

using nlohmann::json;

constexpr std::string_view kAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
constexpr const char* kWeekdays[7] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

Expected<int> parse_hhmm(std::string_view t, const std::string& at) {
  if (t.size() != 5 || t[2] != ':' || !std::isdigit(static_cast<unsigned char>(t[0])) ||
      !std::isdigit(static_cast<unsigned char>(t[1])) || !std::isdigit(static_cast<unsigned char>(t[3])) ||
      !std::isdigit(static_cast<unsigned char>(t[4])))
    return error(at + ": expected HH:MM-HH:MM");
  int h = (t[0] - '0') * 10 + (t[1] - '0');
  int m = (t[3] - '0') * 10 + (t[4] - '0');
  if (h > 24 || m > 59 || (h == 24 && m != 0)) return error(at + ": " + std::string(t) + " is not a time of day");
  return h * 60 + m;
}

Expected<int> parse_date(std::string_view t, const std::string& at) {
  if (t.size() != 10 || t[4] != '-' || t[7] != '-') return error(at + ": expected YYYY-MM-DD");
  int v = 0;
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (i == 4 || i == 7) continue;
    if (!std::isdigit(static_cast<unsigned char>(t[i]))) return error(at + ": expected YYYY-MM-DD");
    v = v * 10 + (t[i] - '0');
  }
  int month = v / 100 % 100, dom = v % 100;
  if (month < 1 || month > 12 || dom < 1 || dom > 31) return error(at + ": not a date");
  return v;
}

template <class T>
Expected<T> number(const json& j, const char* key, T min, T max, T fallback, const std::string& at) {
  auto it = j.find(key);
  if (it == j.end()) return fallback;
  if (!it->is_number()) return error(at + "." + key + ": not a number");
  if constexpr (std::is_integral_v<T>) {
    if (!it->is_number_integer()) return error(at + "." + key + ": not an integer");
  }
  T v = it->get<T>();
  if (v < min || v > max) return error(at + "." + key + ": out of range");
  return v;
}

// Days since 1970-01-01 of a yyyymmdd date.
std::int64_t days_of(int day) {
  using namespace std::chrono;
  year_month_day ymd{year(day / 10000), month(static_cast<unsigned>(day / 100 % 100)),
                     std::chrono::day(static_cast<unsigned>(day % 100))};
  return sys_days(ymd).time_since_epoch().count();
}

std::int64_t local_midnight(int day, const TimeZone& zone) {
  const std::int64_t utc_midnight = days_of(day) * 86400000LL;
  std::int64_t guess = utc_midnight - static_cast<std::int64_t>(zone.offset_s(utc_midnight)) * 1000;
  // Correct once for an offset change between the guess and UTC midnight.
  guess = utc_midnight - static_cast<std::int64_t>(zone.offset_s(guess)) * 1000;
  return guess;
}

}  // namespace

int ServiceSlots::hall_quota() const {
  return std::clamp(static_cast<int>(std::lround(capacity * hall_share)), 0, capacity);
}

const ServiceSlots* HallSlots::find(std::string_view service) const {
  for (const auto& s : services)
    if (s.code == service) return &s;
  return nullptr;
}

const HallSlots* BookingConfig::find(std::string_view hall) const {
  for (const auto& h : halls)
    if (h.hall == hall) return &h;
  return nullptr;
}

Expected<BookingConfig> parse_booking_config(std::string_view text) {
  if (text.size() > kMaxBookingConfigBytes) return error("booking config larger than 1 MiB");
  if (!is_valid_utf8(text)) return error("booking config is not valid UTF-8");
  auto j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return error("booking config is not a JSON object");
  static const std::set<std::string> kTop{"timezone", "horizon_days", "no_show_limit", "rebalance_before_min", "halls"};
  for (const auto& [k, v] : j.items())
    if (!kTop.contains(k)) return error("unknown field " + k);
  BookingConfig c;
  if (auto tz = j.find("timezone"); tz != j.end()) {
    if (!tz->is_string() || tz->get<std::string>().empty()) return error("timezone: not a zone name");
    c.timezone = tz->get<std::string>();
  }
  auto horizon = number<int>(j, "horizon_days", 1, 90, 7, "");
  if (!horizon) return error("horizon_days: 1–90");
  c.horizon_days = *horizon;
  auto rebalance = number<int>(j, "rebalance_before_min", 0, 7 * 24 * 60, 120, "");
  if (!rebalance) return error("rebalance_before_min: 0–10080");
  c.rebalance_before_min = *rebalance;
  if (auto n = j.find("no_show_limit"); n != j.end()) {
    if (!n->is_object()) return error("no_show_limit: not an object");
    auto count = number<int>(*n, "count", 1, 100, 3, "no_show_limit");
    auto within = number<int>(*n, "within_days", 1, 365, 30, "no_show_limit");
    auto block = number<int>(*n, "block_days", 1, 365, 30, "no_show_limit");
    if (!count) return std::unexpected(count.error());
    if (!within) return std::unexpected(within.error());
    if (!block) return std::unexpected(block.error());
    c.no_show_limit = {*count, *within, *block};
  }
  auto halls = j.find("halls");
  if (halls == j.end() || !halls->is_array()) return error("halls: missing or not an array");
  std::set<std::string> seen_halls;
  for (std::size_t i = 0; i < halls->size(); ++i) {
    const auto& h = (*halls)[i];
    const std::string at = "halls[" + std::to_string(i) + "]";
    if (!h.is_object()) return error(at + ": not an object");
    HallSlots hall;
    auto id = h.find("hall");
    if (id == h.end() || !id->is_string() || !is_valid_hall_id(id->get<std::string>()))
      return error(at + ".hall: not a hall id");
    hall.hall = id->get<std::string>();
    if (!seen_halls.insert(hall.hall).second) return error(at + ".hall: " + hall.hall + " twice");
    for (const auto& [k, v] : h.items())
      if (k != "hall" && k != "holidays" && k != "services") return error(at + ": unknown field " + k);
    if (auto hol = h.find("holidays"); hol != h.end()) {
      if (!hol->is_array()) return error(at + ".holidays: not an array");
      for (std::size_t d = 0; d < hol->size(); ++d) {
        const std::string dat = at + ".holidays[" + std::to_string(d) + "]";
        if (!(*hol)[d].is_string()) return error(dat + ": not a date");
        auto day = parse_date((*hol)[d].get<std::string>(), dat);
        if (!day) return std::unexpected(day.error());
        hall.holidays.push_back(*day);
      }
    }
    auto services = h.find("services");
    if (services == h.end() || !services->is_array()) return error(at + ".services: missing or not an array");
    for (std::size_t s = 0; s < services->size(); ++s) {
      const auto& sj = (*services)[s];
      const std::string sat = at + ".services[" + std::to_string(s) + "]";
      if (!sj.is_object()) return error(sat + ": not an object");
      for (const auto& [k, v] : sj.items())
        if (k != "code" && k != "slot_min" && k != "capacity" && k != "hall_share" && k != "hours")
          return error(sat + ": unknown field " + k);
      ServiceSlots svc;
      auto code = sj.find("code");
      if (code == sj.end() || !code->is_string() || !is_valid_service_code(code->get<std::string>()))
        return error(sat + ".code: not a service code");
      svc.code = code->get<std::string>();
      if (hall.find(svc.code)) return error(sat + ".code: " + svc.code + " twice");
      auto slot = number<int>(sj, "slot_min", 5, 480, 30, sat);
      auto cap = number<int>(sj, "capacity", 1, 1000, 1, sat);
      auto share = number<double>(sj, "hall_share", 0.0, 1.0, 0.3, sat);
      if (!slot) return std::unexpected(slot.error());
      if (!cap) return std::unexpected(cap.error());
      if (!share) return std::unexpected(share.error());
      svc.slot_min = *slot;
      svc.capacity = *cap;
      svc.hall_share = *share;
      auto hours = sj.find("hours");
      if (hours == sj.end() || !hours->is_object()) return error(sat + ".hours: missing or not an object");
      for (const auto& [k, v] : hours->items()) {
        auto wd = std::find(std::begin(kWeekdays), std::end(kWeekdays), k);
        if (wd == std::end(kWeekdays)) return error(sat + ".hours: " + k + " is not mon…sun");
        if (!v.is_array()) return error(sat + ".hours." + k + ": not an array");
        auto& list = svc.hours[wd - std::begin(kWeekdays)];
        for (std::size_t r = 0; r < v.size(); ++r) {
          const std::string rat = sat + ".hours." + k + "[" + std::to_string(r) + "]";
          if (!v[r].is_string() || v[r].get<std::string>().size() != 11 || v[r].get<std::string>()[5] != '-')
            return error(rat + ": expected HH:MM-HH:MM");
          const std::string range = v[r].get<std::string>();
          auto from = parse_hhmm(std::string_view(range).substr(0, 5), rat);
          auto to = parse_hhmm(std::string_view(range).substr(6, 5), rat);
          if (!from) return std::unexpected(from.error());
          if (!to) return std::unexpected(to.error());
          if (*to <= *from) return error(rat + ": ends before it begins");
          if (!list.empty() && *from < list.back().to_min) return error(rat + ": overlaps the one before");
          list.push_back({*from, *to});
        }
      }
      hall.services.push_back(std::move(svc));
    }
    c.halls.push_back(std::move(hall));
  }
  return c;
}

std::string encode_booking_config(const BookingConfig& c, std::string_view only_hall) {
  auto hhmm = [](int m) {
    char b[24];  // sized for any int: the compiler cannot know m < 1440
    std::snprintf(b, sizeof b, "%02d:%02d", m / 60, m % 60);
    return std::string(b);
  };
  json halls = json::array();
  for (const auto& h : c.halls) {
    if (!only_hall.empty() && h.hall != only_hall) continue;
    json holidays = json::array();
    for (int d : h.holidays) {
      char b[40];  // sized for any int
      std::snprintf(b, sizeof b, "%04d-%02d-%02d", d / 10000, d / 100 % 100, d % 100);
      holidays.push_back(b);
    }
    json services = json::array();
    for (const auto& s : h.services) {
      json hours = json::object();
      for (int wd = 0; wd < 7; ++wd) {
        if (s.hours[wd].empty()) continue;
        json list = json::array();
        for (const auto& iv : s.hours[wd]) list.push_back(hhmm(iv.from_min) + "-" + hhmm(iv.to_min));
        hours[kWeekdays[wd]] = std::move(list);
      }
      services.push_back({{"code", s.code}, {"slot_min", s.slot_min}, {"capacity", s.capacity},
                          {"hall_share", s.hall_share}, {"hours", std::move(hours)}});
    }
    halls.push_back({{"hall", h.hall}, {"holidays", std::move(holidays)}, {"services", std::move(services)}});
  }
  return json{{"timezone", c.timezone},
              {"horizon_days", c.horizon_days},
              {"rebalance_before_min", c.rebalance_before_min},
              {"no_show_limit",
               {{"count", c.no_show_limit.count}, {"within_days", c.no_show_limit.within_days},
                {"block_days", c.no_show_limit.block_days}}},
              {"halls", std::move(halls)}}
      .dump();
}

std::string text_version(std::string_view text) { return sha256_hex(text); }

std::vector<Slot> slots_of_day(const HallSlots& hall, const ServiceSlots& service, int day, const TimeZone& zone) {
  std::vector<Slot> out;
  if (std::find(hall.holidays.begin(), hall.holidays.end(), day) != hall.holidays.end()) return out;
  const std::int64_t days = days_of(day);
  const int weekday = static_cast<int>(((days % 7) + 7 + 4) % 7);
  const std::int64_t midnight = local_midnight(day, zone);
  const std::int64_t step = static_cast<std::int64_t>(service.slot_min) * 60000;
  for (const auto& iv : service.hours[weekday]) {
    for (std::int64_t s = midnight + iv.from_min * 60000LL; s + step <= midnight + iv.to_min * 60000LL; s += step)
      out.push_back({s, s + step});
  }
  return out;
}

std::optional<Slot> slot_at(const HallSlots& hall, const ServiceSlots& service, std::int64_t start,
                            const TimeZone& zone) {
  for (const auto& s : slots_of_day(hall, service, zone.local_day(start), zone))
    if (s.start == start) return s;
  return std::nullopt;
}

std::string booking_code(std::uint64_t bits) {
  std::string out;
  for (int i = 0; i < 8; ++i) {
    out += kAlphabet[bits & 31];
    bits >>= 5;
  }
  return out;
}

bool valid_booking_code(std::string_view code) {
  return code.size() == 8 &&
         std::all_of(code.begin(), code.end(), [](char c) { return kAlphabet.find(c) != std::string_view::npos; });
}

Expected<std::string> normalise_phone(std::string_view phone) {
  std::string digits;
  for (char c : phone) {
    if (c >= '0' && c <= '9') digits += c;
    else if (c != ' ' && c != '-') return error("phone: digits only");
  }
  if (digits.size() != 11 || digits[0] != '1') return error("phone: an 11-digit mobile number starting with 1");
  return digits;
}

std::string mask_phone(std::string_view phone) {
  if (phone.size() != 11) return std::string(phone.size(), '*');
  return std::string(phone.substr(0, 3)) + "****" + std::string(phone.substr(7));
}

Expected<BookRequest> decode_book(std::string_view body) {
  if (body.size() > 4096) return error("booking larger than 4 KiB");
  auto j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return error("the body must be a JSON object");
  static const std::set<std::string> kKnown{"hall", "service", "slot_start", "applicant_id", "applicant_name",
                                            "phone", "special_need"};
  for (const auto& [k, v] : j.items())
    if (!kKnown.contains(k)) return error("unknown field " + k);
  BookRequest r;
  auto text = [&](const char* key, std::string& into, std::size_t max, bool required) -> Expected<void> {
    auto it = j.find(key);
    if (it == j.end()) {
      if (required) return error(std::string(key) + ": missing");
      return {};
    }
    if (!it->is_string()) return error(std::string(key) + ": not a string");
    into = it->get<std::string>();
    if (into.size() > max || !is_valid_utf8(into)) return error(std::string(key) + ": too long or not UTF-8");
    if (required && into.empty()) return error(std::string(key) + ": empty");
    return {};
  };
  for (auto [key, into, max, required] :
       {std::tuple{"hall", &r.hall, 32, true}, std::tuple{"service", &r.service, 8, true},
        std::tuple{"applicant_id", &r.applicant_id, 32, true}, std::tuple{"applicant_name", &r.applicant_name, 64, true},
        std::tuple{"phone", &r.phone, 20, true}, std::tuple{"special_need", &r.special_need, 300, false}}) {
    if (auto ok = text(key, *into, static_cast<std::size_t>(max), required); !ok) return std::unexpected(ok.error());
  }
  if (!is_valid_hall_id(r.hall)) return error("hall: not a hall id");
  auto start = j.find("slot_start");
  if (start == j.end() || !start->is_number_integer() || start->get<std::int64_t>() <= 0)
    return error("slot_start: missing or not a time (UTC ms)");
  r.slot_start = start->get<std::int64_t>();
  return r;
}

std::string encode_booking_add(const BookingAdd& a) {
  json j{{"code", a.code}, {"service", a.service}, {"slot_start", a.slot_start}, {"slot_end", a.slot_end},
         {"name", a.name}};
  if (!a.sealed.empty()) {
    j["sealed"] = json::parse(encode_sealed(a.sealed));
    return j.dump();
  }
  if (!a.phone.empty()) j["phone"] = a.phone;
  if (!a.special_need.empty()) j["special_need"] = a.special_need;
  return j.dump();
}

Expected<void> seal_private(BookingAdd& a, const std::vector<std::string>& hall_keys) {
  if (a.phone.empty() && a.special_need.empty()) return {};
  auto boxes = seal_to(hall_keys, json{{"phone", a.phone}, {"special_need", a.special_need}}.dump());
  if (!boxes) return std::unexpected(boxes.error());
  a.sealed = std::move(*boxes);
  return {};
}

Expected<void> open_private(BookingAdd& a, std::string_view public_key, std::string_view secret_key) {
  if (a.sealed.empty()) return {};
  auto plain = open_sealed(a.sealed, public_key, secret_key);
  if (!plain) return error("booking.add.sealed: " + plain.error().message);
  auto j = json::parse(*plain, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.value("phone", json()).is_string() ||
      !j.value("special_need", json()).is_string())
    return error("booking.add.sealed: not {\"phone\",\"special_need\"} inside");
  a.phone = j["phone"].get<std::string>();
  a.special_need = j["special_need"].get<std::string>();
  if (a.phone.size() > 20 || a.special_need.size() > 300 || !is_valid_utf8(a.phone) || !is_valid_utf8(a.special_need))
    return error("booking.add.sealed: phone or special_need too long or not UTF-8");
  return {};
}

Expected<BookingAdd> decode_booking_add(std::string_view text) {
  auto j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return error("booking.add: not a JSON object");
  BookingAdd a;
  auto str = [&](const char* key, std::string& into, bool required) -> bool {
    auto it = j.find(key);
    if (it == j.end()) return !required;
    if (!it->is_string()) return false;
    into = it->get<std::string>();
    return true;
  };
  if (!str("code", a.code, true) || !valid_booking_code(a.code)) return error("booking.add.code: not a booking code");
  if (!str("service", a.service, true) || !is_valid_service_code(a.service))
    return error("booking.add.service: not a service code");
  if (!str("name", a.name, true)) return error("booking.add.name: missing");
  if (!str("phone", a.phone, false)) return error("booking.add.phone: not a string");
  if (!str("special_need", a.special_need, false)) return error("booking.add.special_need: not a string");
  if (auto sealed = j.find("sealed"); sealed != j.end()) {
    auto boxes = decode_sealed(sealed->dump(), "booking.add.sealed");
    if (!boxes) return std::unexpected(boxes.error());
    a.sealed = std::move(*boxes);
  }
  for (auto [key, into] : {std::pair{"slot_start", &a.slot_start}, std::pair{"slot_end", &a.slot_end}}) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number_integer()) return error(std::string("booking.add.") + key + ": not a time");
    *into = it->get<std::int64_t>();
  }
  if (a.slot_end <= a.slot_start) return error("booking.add: the slot ends before it begins");
  return a;
}

std::string encode_booking_quota(const BookingQuota& q) {
  return json{{"service", q.service}, {"slot_start", q.slot_start}, {"add", q.add}}.dump();
}

Expected<BookingQuota> decode_booking_quota(std::string_view text) {
  auto j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return error("booking.quota: not a JSON object");
  auto service = j.find("service");
  auto start = j.find("slot_start");
  auto add = j.find("add");
  if (service == j.end() || !service->is_string() || !is_valid_service_code(service->get<std::string>()))
    return error("booking.quota.service: not a service code");
  if (start == j.end() || !start->is_number_integer()) return error("booking.quota.slot_start: not a time");
  if (add == j.end() || !add->is_number_integer() || add->get<std::int64_t>() < 1 ||
      add->get<std::int64_t>() > 1000)
    return error("booking.quota.add: 1–1000");
  return BookingQuota{service->get<std::string>(), start->get<std::int64_t>(), add->get<int>()};
}

Expected<std::string> decode_booking_cancel(std::string_view text) {
  auto j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return error("booking.cancel: not a JSON object");
  auto code = j.find("code");
  if (code == j.end() || !code->is_string() || !valid_booking_code(code->get<std::string>()))
    return error("booking.cancel.code: not a booking code");
  return code->get<std::string>();
}

}  // namespace yiban::protocol::bookings
