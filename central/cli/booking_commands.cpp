#include "booking_commands.h"

#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <ctime>
#include <set>
#include <string_view>

namespace yiban::cli::internal {

namespace {

// --- helpers

bool all_digits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](unsigned char c) {
    return std::isdigit(c) != 0;
  });
}

// --day: YYYY-MM-DD, a real date.
std::string day_option(const po::variables_map& vm, bool needed) {
  std::string day = opt(vm, "day");
  if (day.empty()) {
    if (needed) throw UsageError{"--day is required (YYYY-MM-DD)"};
    return day;
  }
  if (day.size() != 10 || !parse_local_minute(day + "T12:00"))
    throw UsageError{fmt::format("--day {}: expected a date YYYY-MM-DD", day)};
  return day;
}

// Local "HH:MM" of epoch ms.
std::string hhmm_cell(const json& o, const char* key) {
  auto v = integer(o, key);
  return v ? format_local_clock(*v).substr(0, 5) : "-";
}

// "YYYY-MM-DD HH:MM-HH:MM" (local) of a booking's or slot's start and end.
std::string slot_text(const json& o, const char* start_key = "slot_start",
                      const char* end_key = "slot_end") {
  auto start = integer(o, start_key);
  if (!start) return "-";
  std::string text = format_local_time(*start).substr(0, 16);
  if (auto end = integer(o, end_key)) text += "-" + format_local_clock(*end).substr(0, 5);
  return text;
}

// A booking code as the server spells it (its alphabet is upper case).
std::string code_arg(const std::string& code) {
  std::string c = code;
  std::transform(c.begin(), c.end(), c.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::toupper(ch)); });
  if (c.size() != 8 || !std::all_of(c.begin(), c.end(), [](unsigned char ch) {
        return std::isalnum(ch) != 0;
      }))
    throw UsageError{fmt::format("'{}' is not a booking code (8 letters and digits)", code)};
  return c;
}

std::string booking_path(const std::string& code) { return "/api/v1/bookings/" + url_encode(code); }

Reply get_slots(Session& s, const std::string& hall, const std::string& service,
                const std::string& day) {
  return s.api.get("/api/v1/booking/slots" +
                   query({{"hall", hall}, {"service", service}, {"day", day}}));
}

// "YYYY-MM-DDTHH:MM[:SS]Z" as epoch ms (UTC); nullopt when it is not that.
std::optional<std::int64_t> parse_utc(std::string_view text) {
  if (!text.ends_with('Z') && !text.ends_with('z')) return std::nullopt;
  text.remove_suffix(1);
  int seconds = 0;
  if (text.size() == 19) {
    if (text[16] != ':' || !all_digits(text.substr(17, 2))) return std::nullopt;
    seconds = (text[17] - '0') * 10 + (text[18] - '0');
    if (seconds > 59) return std::nullopt;
    text = text.substr(0, 16);
  }
  // Parse the fields as local to validate them, then read them as UTC.
  if (!parse_local_minute(text)) return std::nullopt;
  auto field = [&](std::size_t pos, std::size_t len) {
    int v = 0;
    for (std::size_t k = pos; k < pos + len; ++k) v = v * 10 + (text[k] - '0');
    return v;
  };
  std::tm tm{};
  tm.tm_year = field(0, 4) - 1900;
  tm.tm_mon = field(5, 2) - 1;
  tm.tm_mday = field(8, 2);
  tm.tm_hour = field(11, 2);
  tm.tm_min = field(14, 2);
  tm.tm_sec = seconds;
  std::time_t t = timegm(&tm);
  if (t == static_cast<std::time_t>(-1)) return std::nullopt;
  return static_cast<std::int64_t>(t) * 1000;
}

// The start (UTC ms) of the slot --slot names, or nullopt with *code set when
// reading the day's slots failed. HH:MM (local) is looked up among the day's
// slots of hall and service (--day needed); a time (ms since the epoch,
// YYYY-MM-DDTHH:MM local, or …Z UTC) is checked against them when --day is
// given, else sent as is (central checks it).
std::optional<std::int64_t> resolve_slot(Session& s, const po::variables_map& vm,
                                         const std::string& hall, const std::string& service,
                                         int& code) {
  const std::string slot = required(vm, "slot");
  std::optional<std::int64_t> at;
  bool clock = false;
  if (all_digits(slot) && slot.size() >= 10) {
    at = std::stoll(slot);
  } else if ((slot.size() == 5 || slot.size() == 4) && slot[slot.size() - 3] == ':' &&
             all_digits(slot.substr(0, slot.size() - 3)) &&
             all_digits(slot.substr(slot.size() - 2))) {
    clock = true;
  } else if (auto utc = parse_utc(slot)) {
    at = utc;
  } else if (auto local = parse_local_minute(slot)) {
    at = local;
  } else {
    throw UsageError{fmt::format(
        "--slot {}: expected HH:MM (local, with --day), YYYY-MM-DDTHH:MM, an ISO time ending in "
        "Z, or milliseconds since the epoch",
        slot)};
  }
  const std::string day = day_option(vm, clock);
  if (day.empty()) return at;
  Reply r = get_slots(s, hall, service, day);
  if (r.code) {
    code = r.code;
    return std::nullopt;
  }
  const json& slots = list(r.body, "slots");
  const std::string wanted = clock && slot.size() == 4 ? "0" + slot : slot;
  for (const auto& x : slots) {
    auto start = integer(x, "start");
    if (!start) continue;
    if (clock ? hhmm_cell(x, "start") == wanted : *start == *at) return start;
  }
  std::string starts;
  for (const auto& x : slots) starts += (starts.empty() ? "" : " ") + hhmm_cell(x, "start");
  throw UsageError{fmt::format("--slot {}: no slot of {} at {} starts then on {}; its slots: {}",
                               slot, service, hall, day, starts.empty() ? "none" : starts)};
}

// "booking CODE WHAT: hall H, service S, slot …, state S".
int print_booking(Session& s, const Reply& r, const char* what) {
  if (r.code) return r.code;
  if (s.globals.json) return print_json(s, r.body), kOk;
  s.out << fmt::format("booking {} {}: hall {}, service {}, slot {}, state {}\n",
                       cell(r.body, "code"), what, cell(r.body, "hall"), cell(r.body, "service"),
                       slot_text(r.body), cell(r.body, "state"));
  return kOk;
}

// --- actions; args are the arguments after the action word.

int booking_slots(Session& s, const po::variables_map& vm, const std::vector<std::string>&) {
  const std::string hall = required(vm, "hall"), service = required(vm, "service");
  const std::string day = day_option(vm, true);
  Reply r = get_slots(s, hall, service, day);
  if (r.code) return r.code;
  if (s.globals.json) return print_json(s, r.body), kOk;
  const json& slots = list(r.body, "slots");
  if (slots.empty()) {
    s.out << fmt::format("no slots of {} at {} on {} (closed, or a holiday)\n", service, hall, day);
    return kOk;
  }
  Table t({"START", "END", "CAPACITY", "CENTRAL", "HALL", "BOOKED", "AVAILABLE"},
          {L, L, R, R, R, R, R});
  std::int64_t available = 0;
  for (const auto& x : slots) {
    std::string booked = "-";
    auto c = integer(x, "booked_central"), h = integer(x, "booked_hall");
    if (c || h) booked = std::to_string(c.value_or(0) + h.value_or(0));
    available += integer(x, "available").value_or(0);
    t.add_row({hhmm_cell(x, "start"), hhmm_cell(x, "end"), cell(x, "capacity"),
               cell(x, "central_quota"), cell(x, "hall_quota"), booked, cell(x, "available")});
  }
  s.out << fmt::format("{} at {} on {}\n", service, hall, day);
  t.render(s.out);
  s.out << fmt::format("{} slots, {} seats still bookable through central\n", slots.size(),
                       available);
  return kOk;
}

int booking_book(Session& s, const po::variables_map& vm, const std::vector<std::string>&) {
  const std::string hall = required(vm, "hall"), service = required(vm, "service");
  json body{{"hall", hall},
            {"service", service},
            {"slot_start", nullptr},
            {"applicant_id", required(vm, "applicant-id")},
            {"applicant_name", required(vm, "applicant-name")},
            {"phone", required(vm, "phone")}};
  if (vm.count("special-need")) body["special_need"] = opt(vm, "special-need");
  int code = kOk;
  auto start = resolve_slot(s, vm, hall, service, code);
  if (!start) return code;
  body["slot_start"] = *start;
  return print_booking(s, s.api.post("/api/v1/bookings", body), "booked");
}

int booking_cancel(Session& s, const po::variables_map&, const std::vector<std::string>& args) {
  const std::string code = code_arg(args[0]);
  return print_booking(s, s.api.del(booking_path(code)), "cancelled");
}

int booking_reschedule(Session& s, const po::variables_map& vm,
                       const std::vector<std::string>& args) {
  const std::string code = code_arg(args[0]);
  required(vm, "slot");
  // The booking's hall and service, to look the new slot up among theirs.
  Reply current = s.api.get(booking_path(code));
  if (current.code) return current.code;
  int failed = kOk;
  auto start = resolve_slot(s, vm, cell(current.body, "hall"), cell(current.body, "service"), failed);
  if (!start) return failed;
  return print_booking(
      s, s.api.post(booking_path(code) + "/reschedule", json{{"slot_start", *start}}),
      "rescheduled");
}

int booking_list(Session& s, const po::variables_map& vm, const std::vector<std::string>&) {
  static const std::set<std::string> kStates{"booked", "checked_in", "cancelled", "no_show"};
  std::string state = opt(vm, "state");
  std::replace(state.begin(), state.end(), '-', '_');
  if (vm.count("state") && !kStates.contains(state))
    throw UsageError{"--state: booked, checked_in, cancelled or no_show"};
  std::string limit, offset;
  if (vm.count("limit")) {
    int n = vm["limit"].as<int>();
    if (n < 1 || n > 500) throw UsageError{"--limit: 1 to 500"};
    limit = std::to_string(n);
  }
  if (vm.count("offset")) {
    int n = vm["offset"].as<int>();
    if (n < 0) throw UsageError{"--offset: not negative"};
    offset = std::to_string(n);
  }
  Reply r = s.api.get("/api/v1/bookings" + query({{"hall", opt(vm, "hall")},
                                                   {"day", day_option(vm, false)},
                                                   {"state", state},
                                                   {"limit", limit},
                                                   {"offset", offset}}));
  if (r.code) return r.code;
  if (s.globals.json) return print_json(s, r.body), kOk;
  const json& bookings = list(r.body, "bookings");
  if (bookings.empty()) {
    s.out << "no bookings";
    if (auto total = integer(r.body, "total"); total && *total > 0)
      s.out << fmt::format(" here ({} in total)", *total);
    s.out << '\n';
    return kOk;
  }
  Table t({"CODE", "HALL", "SERVICE", "SLOT", "STATE", "NAME", "SOURCE", "SPECIAL NEED"});
  for (const auto& b : bookings) {
    std::string need = cell(b, "special_need");
    if (need.empty()) need = "-";
    t.add_row({cell(b, "code"), cell(b, "hall"), cell(b, "service"), slot_text(b),
               cell(b, "state"), cell(b, "name"), cell(b, "source"), need});
  }
  t.render(s.out);
  s.out << fmt::format("{} of {} bookings\n", bookings.size(), cell(r.body, "total"));
  return kOk;
}

// --- the command

struct BookingAction {
  const char* name;
  std::vector<const char*> args;     // positional argument names after the action
  std::vector<const char*> options;  // the options it takes
  int (*run)(Session&, const po::variables_map&, const std::vector<std::string>&);
};

const std::vector<BookingAction>& booking_actions() {
  static const std::vector<BookingAction> kActions{
      {"slots", {}, {"hall", "service", "day"}, booking_slots},
      {"book",
       {},
       {"hall", "service", "slot", "day", "applicant-id", "applicant-name", "phone",
        "special-need"},
       booking_book},
      {"cancel", {"CODE"}, {}, booking_cancel},
      {"list", {}, {"hall", "day", "state", "limit", "offset"}, booking_list},
      {"reschedule", {"CODE"}, {"slot", "day"}, booking_reschedule},
  };
  return kActions;
}

void booking_options(po::options_description& d) {
  d.add_options()("hall", po::value<std::string>()->value_name("H"),
                  "slots, book: the hall (required); list: only this hall's bookings")(
      "service", po::value<std::string>()->value_name("S"), "slots, book: the service code (required)")(
      "day", po::value<std::string>()->value_name("YYYY-MM-DD"),
      "slots: the day (required); book, reschedule: the day of --slot (required with HH:MM); "
      "list: only bookings of this day")(
      "slot", po::value<std::string>()->value_name("HH:MM|TIME"),
      "book, reschedule: the slot, by its local start HH:MM (with --day), or its start as "
      "YYYY-MM-DDTHH:MM (local), an ISO time ending in Z, or ms since the epoch (required)")(
      "applicant-id", po::value<std::string>()->value_name("ID"),
      "book: the applicant's ID number (required)")(
      "applicant-name", po::value<std::string>()->value_name("N"),
      "book: the applicant's name (required)")(
      "phone", po::value<std::string>()->value_name("P"), "book: the applicant's phone (required)")(
      "special-need", po::value<std::string>()->value_name("T"),
      "book: a special need the hall prepares for (wheelchair, interpreter, ...)")(
      "state", po::value<std::string>()->value_name("S"),
      "list: only bookings in this state (booked, checked_in, cancelled, no_show)")(
      "limit", po::value<int>()->value_name("N"), "list: at most N bookings (1 to 500)")(
      "offset", po::value<int>()->value_name("N"), "list: skip the first N bookings");
}

int cmd_booking(Session& s, const po::variables_map& vm) {
  const std::string name = vm["action"].as<std::string>();
  const BookingAction* a = nullptr;
  for (const auto& x : booking_actions())
    if (name == x.name) a = &x;
  if (!a)
    throw UsageError{
        fmt::format("unknown action '{}': slots, book, cancel, list or reschedule", name)};
  std::vector<std::string> args =
      vm.count("args") ? vm["args"].as<std::vector<std::string>>() : std::vector<std::string>{};
  if (args.size() < a->args.size())
    throw UsageError{fmt::format("booking {}: missing {}", name, a->args[args.size()])};
  if (args.size() > a->args.size())
    throw UsageError{fmt::format("booking {}: too many arguments", name)};

  po::options_description all;
  booking_options(all);
  check_action_options(vm, all, "booking", *a, booking_actions());
  return a->run(s, vm, args);
}

}  // namespace

const std::vector<Command>& booking_commands() {
  static const std::vector<Command> kCommands{
      {"booking",
       "slots|book|cancel|list|reschedule [ARGS] [options]",
       "appointments: slots, book, cancel, list, reschedule",
       "Appointments (青易约) at central (needs central running with --booking):\n"
       "  booking slots --hall H --service S --day YYYY-MM-DD\n"
       "      the day's slots: local start and end, capacity, central's and the hall's quota,\n"
       "      seats booked (both sides) and still bookable through central\n"
       "  booking book --hall H --service S --slot HH:MM|TIME [--day YYYY-MM-DD]\n"
       "               --applicant-id ID --applicant-name N --phone P [--special-need T]\n"
       "      books a seat; HH:MM is a slot's local start on --day; prints the booking code\n"
       "  booking cancel CODE\n"
       "  booking list [--hall H] [--day YYYY-MM-DD] [--state S] [--limit N] [--offset N]\n"
       "  booking reschedule CODE --slot HH:MM|TIME [--day YYYY-MM-DD]\n"
       "      moves a booking made through central to another slot of its service (same code)\n"
       "book, cancel and reschedule need a central-operator token; times are local.",
       booking_options,
       {"ACTION", "[ARGS...]"},
       cmd_booking},
  };
  return kCommands;
}

}  // namespace yiban::cli::internal
