#include "yiban/protocol/ids.h"

#include <charconv>

namespace yiban::protocol {
namespace {

bool all_of(std::string_view s, std::size_t min, std::size_t max, bool (*ok)(char)) {
  if (s.size() < min || s.size() > max) return false;
  for (char c : s) {
    if (!ok(c)) return false;
  }
  return true;
}

bool is_lower_digit_dash(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
bool is_alnum_dash(char c) {
  return is_lower_digit_dash(c) || is_upper(c);
}

}  // namespace

bool is_valid_hall_id(std::string_view id) { return all_of(id, 1, 32, is_lower_digit_dash); }
bool is_valid_device_id(std::string_view id) { return all_of(id, 1, 32, is_lower_digit_dash); }
bool is_valid_region(std::string_view code) { return all_of(code, 6, 6, is_digit); }
bool is_valid_service_code(std::string_view code) { return all_of(code, 1, 2, is_upper); }
bool is_valid_counter_id(std::string_view id) { return all_of(id, 1, 16, is_alnum_dash); }

std::string make_ticket_number(std::string_view service, int daily_number) {
  std::string digits = std::to_string(daily_number);
  std::string out(service);
  if (digits.size() < 3) out.append(3 - digits.size(), '0');
  out += digits;
  return out;
}

std::string make_ticket_id(std::string_view hall, int yyyymmdd, std::string_view number) {
  std::string out;
  out.reserve(hall.size() + number.size() + 10);
  out.append(hall).append(":").append(std::to_string(yyyymmdd)).append(":").append(number);
  return out;
}

std::optional<TicketId> parse_ticket_id(std::string_view id) {
  auto first = id.find(':');
  if (first == std::string_view::npos) return std::nullopt;
  auto second = id.find(':', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  std::string_view hall = id.substr(0, first);
  std::string_view day = id.substr(first + 1, second - first - 1);
  std::string_view number = id.substr(second + 1);
  if (!is_valid_hall_id(hall) || day.size() != 8 || !all_of(day, 8, 8, is_digit)) return std::nullopt;
  std::size_t letters = 0;
  while (letters < number.size() && is_upper(number[letters])) ++letters;
  if (letters < 1 || letters > 2) return std::nullopt;
  std::string_view digits = number.substr(letters);
  if (digits.size() < 3 || digits.size() > 6 || !all_of(digits, 3, 6, is_digit)) return std::nullopt;
  TicketId out{std::string(hall), 0, std::string(number)};
  std::from_chars(day.data(), day.data() + day.size(), out.day);
  int year = out.day / 10000;
  int month = out.day / 100 % 100;
  int dom = out.day % 100;
  if (month < 1 || month > 12 || dom < 1) return std::nullopt;
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (dom > kDays[month - 1] + (month == 2 && leap ? 1 : 0)) return std::nullopt;  // no 31 April, no 29 February 2026
  return out;
}

}  // namespace yiban::protocol
