#include "cli.h"

#include "cli_internal.h"
#include "booking_commands.h"
#include "case_commands.h"
#include "hall_commands.h"

#include <fmt/core.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>

namespace yiban::cli {

// ---------------------------------------------------------------------------
// Pure helpers.

namespace {

// Decodes one UTF-8 sequence at text[i]; advances i. Invalid bytes decode as
// themselves (one byte, width 1).
char32_t next_code_point(std::string_view text, std::size_t& i) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  unsigned char b = byte(i);
  int extra = b < 0x80             ? 0
              : (b & 0xE0) == 0xC0 ? 1
              : (b & 0xF0) == 0xE0 ? 2
              : (b & 0xF8) == 0xF0 ? 3
                                   : -1;
  if (extra <= 0 || i + static_cast<std::size_t>(extra) >= text.size()) {
    ++i;
    return extra == 0 ? b : 0xFFFD;
  }
  char32_t cp = b & (0x3F >> extra);
  for (int k = 1; k <= extra; ++k) {
    unsigned char c = byte(i + k);
    if ((c & 0xC0) != 0x80) {
      ++i;
      return 0xFFFD;
    }
    cp = (cp << 6) | (c & 0x3F);
  }
  i += static_cast<std::size_t>(extra) + 1;
  return cp;
}

bool is_wide(char32_t c) {
  return (c >= 0x1100 && c <= 0x115F) || (c >= 0x2E80 && c <= 0x303E) ||
         (c >= 0x3041 && c <= 0x33FF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xA000 && c <= 0xA4CF) ||
         (c >= 0xAC00 && c <= 0xD7A3) || (c >= 0xF900 && c <= 0xFAFF) ||
         (c >= 0xFE30 && c <= 0xFE4F) || (c >= 0xFF00 && c <= 0xFF60) ||
         (c >= 0xFFE0 && c <= 0xFFE6) || (c >= 0x1F300 && c <= 0x1F64F) ||
         (c >= 0x1F900 && c <= 0x1F9FF) || (c >= 0x20000 && c <= 0x3FFFD);
}

bool is_zero_width(char32_t c) {
  return (c >= 0x0300 && c <= 0x036F) || (c >= 0x200B && c <= 0x200F) ||
         (c >= 0xFE00 && c <= 0xFE0F) || c == 0xFEFF;
}

}  // namespace

std::size_t display_width(std::string_view text) {
  std::size_t width = 0;
  for (std::size_t i = 0; i < text.size();) {
    char32_t c = next_code_point(text, i);
    if (is_zero_width(c)) continue;
    width += is_wide(c) ? 2 : 1;
  }
  return width;
}

std::string pad_right(std::string_view text, std::size_t width) {
  std::string s(text);
  std::size_t w = display_width(text);
  if (w < width) s.append(width - w, ' ');
  return s;
}

std::string pad_left(std::string_view text, std::size_t width) {
  std::size_t w = display_width(text);
  std::string s = w < width ? std::string(width - w, ' ') : std::string();
  s += text;
  return s;
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "-";
  auto total = static_cast<std::int64_t>(std::llround(seconds));
  return fmt::format("{}:{:02}", total / 60, total % 60);
}

std::string format_percent(double ratio) {
  if (!std::isfinite(ratio)) return "-";
  return fmt::format("{:.1f}%", ratio * 100.0);
}

std::string format_local_time(std::int64_t epoch_ms) {
  if (epoch_ms <= 0) return "-";
  std::time_t t = static_cast<std::time_t>(epoch_ms / 1000);
  std::tm tm{};
  if (!localtime_r(&t, &tm)) return "-";
  return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02}", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string format_local_clock(std::int64_t epoch_ms) {
  if (epoch_ms <= 0) return "-";
  std::time_t t = static_cast<std::time_t>(epoch_ms / 1000);
  std::tm tm{};
  if (!localtime_r(&t, &tm)) return "-";
  return fmt::format("{:02}:{:02}:{:02}", tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::optional<std::int64_t> parse_local_minute(std::string_view text) {
  // YYYY-MM-DDTHH:MM
  if (text.size() != 16 || text[4] != '-' || text[7] != '-' ||
      (text[10] != 'T' && text[10] != ' ') || text[13] != ':')
    return std::nullopt;
  auto number = [&](std::size_t pos, std::size_t len) -> std::optional<int> {
    int v = 0;
    for (std::size_t k = pos; k < pos + len; ++k) {
      if (text[k] < '0' || text[k] > '9') return std::nullopt;
      v = v * 10 + (text[k] - '0');
    }
    return v;
  };
  auto year = number(0, 4), month = number(5, 2), day = number(8, 2), hour = number(11, 2),
       minute = number(14, 2);
  if (!year || !month || !day || !hour || !minute) return std::nullopt;
  if (*year < 1970 || *month < 1 || *month > 12 || *day < 1 || *day > 31 || *hour > 23 ||
      *minute > 59)
    return std::nullopt;
  std::tm tm{};
  tm.tm_year = *year - 1900;
  tm.tm_mon = *month - 1;
  tm.tm_mday = *day;
  tm.tm_hour = *hour;
  tm.tm_min = *minute;
  tm.tm_isdst = -1;
  std::time_t t = std::mktime(&tm);
  if (t == static_cast<std::time_t>(-1)) return std::nullopt;
  // mktime normalises 31 February into March: refuse such dates.
  if (tm.tm_mday != *day || tm.tm_mon != *month - 1) return std::nullopt;
  return static_cast<std::int64_t>(t) * 1000;
}

std::string format_day(std::int64_t yyyymmdd) {
  return fmt::format("{:04}-{:02}-{:02}", yyyymmdd / 10000, yyyymmdd / 100 % 100, yyyymmdd % 100);
}

std::string url_encode(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

Table::Table(std::vector<std::string> headers, std::vector<Align> align)
    : headers_(std::move(headers)), align_(std::move(align)) {}

void Table::add_row(std::vector<std::string> cells) {
  rows_.push_back(std::move(cells));
}

void Table::render(std::ostream& out) const {
  std::size_t columns = headers_.size();
  for (const auto& r : rows_) columns = std::max(columns, r.size());
  std::vector<std::size_t> widths(columns, 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (std::size_t c = 0; c < row.size(); ++c)
      widths[c] = std::max(widths[c], display_width(row[c]));
  };
  measure(headers_);
  for (const auto& r : rows_) measure(r);

  auto line = [&](const std::vector<std::string>& row) {
    std::string s;
    for (std::size_t c = 0; c < columns; ++c) {
      const std::string cell = c < row.size() ? row[c] : std::string();
      bool right = c < align_.size() && align_[c] == Align::kRight;
      if (c) s += "  ";
      s += right ? pad_left(cell, widths[c]) : pad_right(cell, widths[c]);
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
    out << s << '\n';
  };
  if (!headers_.empty()) line(headers_);
  for (const auto& r : rows_) line(r);
}

// ---------------------------------------------------------------------------
// The program.

namespace internal {

constexpr const char* kDefaultServer = "http://127.0.0.1:8090";
constexpr const char* kDefaultEdgeServer = "http://127.0.0.1:8080";

// Text of a JSON field for a table cell: "-" when missing or null.
std::string cell(const json& o, const char* key) {
  if (!o.is_object()) return "-";
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return "-";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_boolean()) return it->get<bool>() ? "yes" : "no";
  if (it->is_number_float()) return fmt::format("{}", it->get<double>());
  return it->dump(-1, ' ', false, json::error_handler_t::replace);
}

std::optional<double> number(const json& o, const char* key) {
  if (!o.is_object()) return std::nullopt;
  auto it = o.find(key);
  if (it == o.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

std::optional<std::int64_t> integer(const json& o, const char* key) {
  auto v = number(o, key);
  if (!v) return std::nullopt;
  return static_cast<std::int64_t>(*v);
}

bool flag(const json& o, const char* key) {
  if (!o.is_object()) return false;
  auto it = o.find(key);
  return it != o.end() && it->is_boolean() && it->get<bool>();
}

std::string time_cell(const json& o, const char* key) {
  auto v = integer(o, key);
  return v ? format_local_time(*v) : "-";
}

std::string duration_cell(const json& o, const char* key) {
  auto v = number(o, key);
  return v ? format_duration(*v) : "-";
}

std::string percent_cell(const json& o, const char* key) {
  auto v = number(o, key);
  return v ? format_percent(*v) : "-";
}

const json& list(const json& o, const char* key) {
  static const json kEmpty = json::array();
  if (!o.is_object()) return kEmpty;
  auto it = o.find(key);
  return it != o.end() && it->is_array() ? *it : kEmpty;
}

const json& object(const json& o, const char* key) {
  static const json kNull = nullptr;
  if (!o.is_object()) return kNull;
  auto it = o.find(key);
  return it != o.end() && it->is_object() ? *it : kNull;
}

std::string query(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string q;
  for (const auto& [k, v] : params) {
    if (v.empty()) continue;
    q += q.empty() ? '?' : '&';
    q += k + "=" + url_encode(v);
  }
  return q;
}


std::string positional_key(const char* name) {
  std::string k(name);
  if (k == "ID" || k == "HALL") return "hall";
  if (k.starts_with('[') && k.ends_with(']')) k = k.substr(1, k.size() - 2);
  if (k.ends_with("...")) k.resize(k.size() - 3);
  std::transform(k.begin(), k.end(), k.begin(), [](unsigned char c) { return std::tolower(c); });
  return k;
}

std::string path_hall(const po::variables_map& vm) {
  return url_encode(vm["hall"].as<std::string>());
}

void print_json(Session& s, const json& body) {
  s.out << body.dump(2, ' ', false, json::error_handler_t::replace) << '\n';
}

void print_alerts(std::ostream& out, const json& alerts, bool with_hall) {
  std::vector<std::string> headers{"ALERT",   "SEVERITY", "STATE", "RULE",
                                   "SUBJECT", "RAISED",   "ACKED", "MESSAGE"};
  if (with_hall) headers.insert(headers.begin(), "HALL");
  Table t(headers);
  for (const auto& a : alerts) {
    std::string acked = "-";
    if (auto ts = integer(a, "acked_ts"); ts && *ts > 0)
      acked = cell(a, "acked_by") + " " + format_local_time(*ts);
    std::string id = cell(a, "alert");
    if (id == "-") id = cell(a, "id");
    std::vector<std::string> row{id,
                                 cell(a, "severity"),
                                 cell(a, "state"),
                                 cell(a, "rule"),
                                 cell(a, "subject"),
                                 time_cell(a, "raised_ts"),
                                 acked,
                                 cell(a, "message")};
    if (with_hall) row.insert(row.begin(), cell(a, "hall"));
    t.add_row(std::move(row));
  }
  t.render(out);
}

// --- halls

int cmd_halls(Session& s, const po::variables_map&) {
  Reply r = s.api.get("/api/v1/halls");
  if (r.code) return r.code;
  if (s.globals.json) return print_json(s, r.body), kOk;
  const json& halls = list(r.body, "halls");
  if (halls.empty()) {
    s.out << "no halls known to central\n";
    return kOk;
  }
  Table t({"HALL", "NAME", "LINK", "INTEGRITY", "LAG", "WAITING", "LONGEST", "OCCUPANCY", "ALERTS",
           "OFFLINE"},
          {L, L, L, L, R, R, R, R, R, R});
  for (const auto& h : halls) {
    t.add_row({cell(h, "hall"), cell(h, "name"), flag(h, "connected") ? "up" : "down",
               flag(h, "integrity_ok") ? "ok" : "BROKEN", cell(h, "lag_events"), cell(h, "waiting"),
               duration_cell(h, "longest_wait_s"), cell(h, "occupancy"), cell(h, "alerts_active"),
               cell(h, "devices_offline")});
  }
  t.render(s.out);
  return kOk;
}

// --- hall ID

// 'yiban hall accept-store ID': an admin accepts the store a hall was
// refused with (store_changed).
int cmd_accept_store(Session& s, const std::string& hall) {
  Reply r = s.api.post("/api/v1/halls/" + url_encode(hall) + "/accept-store", json::object());
  if (r.code) return r.code;
  if (s.globals.json) return print_json(s, r.body), kOk;
  s.out << fmt::format("store {} accepted for hall {}: its next connection is welcomed\n", cell(r.body, "store"),
                       hall);
  return kOk;
}

int cmd_hall(Session& s, const po::variables_map& vm) {
  if (vm.count("target")) {
    if (vm["hall"].as<std::string>() != "accept-store") {
      s.err << "yiban: hall takes one ID (or: hall accept-store ID)\n";
      return kUsage;
    }
    return cmd_accept_store(s, vm["target"].as<std::string>());
  }
  Reply r = s.api.get("/api/v1/halls/" + path_hall(vm));
  if (r.code) return r.code;
  if (s.globals.json) return print_json(s, r.body), kOk;
  const json& h = r.body;
  const json& integrity = object(h, "integrity");
  const json& sync = object(h, "sync");
  const json& occupancy = object(h, "occupancy");
  const json& devices = object(h, "devices");

  std::string integrity_text = "ok";
  if (!flag(integrity, "ok")) {
    integrity_text = "BROKEN";
    if (std::string why = cell(integrity, "reason"); why != "-") integrity_text += ": " + why;
    if (auto ts = integer(integrity, "ts"); ts && *ts > 0)
      integrity_text += " (since " + format_local_time(*ts) + ")";
  }
  std::string link = flag(sync, "connected") ? "up" : "down";
  std::string sync_text =
      fmt::format("acked {} of {} (lag {}); commands applied {} of {}", cell(sync, "acked_seq"),
                  cell(sync, "edge_last_seq"), cell(sync, "lag_events"), cell(sync, "down_applied"),
                  cell(sync, "down_last"));
  std::string occupancy_text = "-";
  if (occupancy.is_object() && integer(occupancy, "value"))
    occupancy_text = cell(occupancy, "value") + " at " + time_cell(occupancy, "ts");

  Table header({}, {});
  header.add_row({"Hall", cell(h, "hall") + "  " + cell(h, "name")});
  header.add_row({"Region", cell(h, "region")});
  header.add_row({"Link", link});
  header.add_row({"Last contact", time_cell(sync, "last_contact_ts")});
  header.add_row({"Integrity", integrity_text});
  header.add_row({"Sync", sync_text});
  header.add_row({"Occupancy", occupancy_text});
  header.add_row({"Devices", fmt::format("{} online, {} offline", cell(devices, "online"),
                                         cell(devices, "offline"))});
  header.render(s.out);

  const json& queues = list(h, "queues");
  s.out << "\nQueues" << (queues.empty() ? ": none\n" : "\n");
  if (!queues.empty()) {
    Table t({"SERVICE", "WAITING", "OLDEST ISSUED", "OLDEST WAIT"}, {L, R, L, R});
    for (const auto& q : queues)
      t.add_row({cell(q, "service"), cell(q, "waiting"), time_cell(q, "oldest_issued_ts"),
                 duration_cell(q, "oldest_wait_s")});
    t.render(s.out);
  }

  const json& counters = list(h, "counters");
  s.out << "\nCounters" << (counters.empty() ? ": none\n" : "\n");
  if (!counters.empty()) {
    Table t({"COUNTER", "STATE", "TICKET", "SINCE"});
    for (const auto& c : counters) {
      std::string ticket = cell(c, "number");
      if (ticket == "-") ticket = cell(c, "ticket");
      t.add_row({cell(c, "counter"), cell(c, "state"), ticket, time_cell(c, "since_ts")});
    }
    t.render(s.out);
  }

  const json& alerts = list(h, "alerts");
  s.out << "\nAlerts" << (alerts.empty() ? ": none\n" : "\n");
  if (!alerts.empty()) print_alerts(s.out, alerts, false);

  Table offline({"DEVICE", "KIND", "SINCE"});
  for (const auto& d : list(devices, "items")) {
    if (d.is_object() && !flag(d, "online"))
      offline.add_row({cell(d, "device"), cell(d, "kind"), time_cell(d, "since_ts")});
  }
  s.out << "\nOffline devices" << (offline.empty() ? ": none\n" : "\n");
  if (!offline.empty()) offline.render(s.out);
  return kOk;
}

// --- kpi

void kpi_options(po::options_description& d) {
  d.add_options()("hall", po::value<std::string>()->value_name("H"), "only this hall")(
      "service", po::value<std::string>()->value_name("S"), "only this service code")(
      "from", po::value<std::string>()->value_name("DAY"), "first day, YYYY-MM-DD (inclusive)")(
      "to", po::value<std::string>()->value_name("DAY"), "last day, YYYY-MM-DD (inclusive)");
}

bool is_day(const std::string& d) {
  if (d.size() != 10 || d[4] != '-' || d[7] != '-') return false;
  for (std::size_t i = 0; i < d.size(); ++i)
    if (i != 4 && i != 7 && (d[i] < '0' || d[i] > '9')) return false;
  return true;
}

std::string opt(const po::variables_map& vm, const char* key) {
  return vm.count(key) ? vm[key].as<std::string>() : std::string();
}

std::string required(const po::variables_map& vm, const char* key) {
  std::string v = opt(vm, key);
  if (v.empty()) throw UsageError{fmt::format("--{} is required", key)};
  return v;
}

int cmd_kpi(Session& s, const po::variables_map& vm) {
  for (const char* key : {"from", "to"}) {
    if (vm.count(key) && !is_day(opt(vm, key)))
      throw UsageError{fmt::format("--{}: a date as YYYY-MM-DD", key)};
  }
  Reply r = s.api.get("/api/v1/kpi" + query({{"hall", opt(vm, "hall")},
                                             {"service", opt(vm, "service")},
                                             {"from", opt(vm, "from")},
                                             {"to", opt(vm, "to")}}));
  if (r.code) return r.code;
  if (s.globals.json) return print_json(s, r.body), kOk;
  Table t({"HALL", "DAY", "SERVICE", "ISSUED", "SERVED", "NO-SHOWS", "NO-SHOW%", "WAIT", "WAIT-P90",
           "SERVICE-TIME", "RATINGS", "SATISFIED"},
          {L, L, L, R, R, R, R, R, R, R, R, R});
  auto figures = [](const json& k) {
    return std::vector<std::string>{cell(k, "issued"),
                                    cell(k, "served"),
                                    cell(k, "no_shows"),
                                    percent_cell(k, "no_show_rate"),
                                    duration_cell(k, "wait_mean_s"),
                                    duration_cell(k, "wait_p90_s"),
                                    duration_cell(k, "service_mean_s"),
                                    cell(k, "ratings"),
                                    percent_cell(k, "satisfaction")};
  };
  for (const auto& row : list(r.body, "rows")) {
    auto day = integer(row, "day");
    std::vector<std::string> cells{cell(row, "hall"), day ? format_day(*day) : "-",
                                   cell(row, "service")};
    auto f = figures(row);
    cells.insert(cells.end(), f.begin(), f.end());
    t.add_row(std::move(cells));
  }
  std::vector<std::string> total{"TOTAL", "", ""};
  auto f = figures(object(r.body, "total"));
  total.insert(total.end(), f.begin(), f.end());
  t.add_row(std::move(total));
  t.render(s.out);
  return kOk;
}

// --- alerts

void alerts_options(po::options_description& d) {
  d.add_options()("hall", po::value<std::string>()->value_name("H"), "only this hall's alerts")(
      "state", po::value<std::string>()->value_name("open|all"),
      "open alerts only, or all of them (the server's default when not given)");
}

int cmd_alerts(Session& s, const po::variables_map& vm) {
  const std::string state = opt(vm, "state");
  if (vm.count("state") && state != "open" && state != "all")
    throw UsageError{"--state: open or all"};
  Reply r =
      s.api.get("/api/v1/alerts" + query({{"hall", opt(vm, "hall")}, {"state", state}}));
  if (r.code) return r.code;
  if (s.globals.json) return print_json(s, r.body), kOk;
  const json& alerts = list(r.body, "alerts");
  if (alerts.empty()) {
    s.out << "no alerts\n";
    return kOk;
  }
  // Central's alerts name their hall; an edge's (one hall) do not.
  bool with_hall = std::any_of(alerts.begin(), alerts.end(),
                               [](const json& a) { return a.is_object() && a.contains("hall"); });
  print_alerts(s.out, alerts, with_hall);
  return kOk;
}

// --- events

void events_options(po::options_description& d) {
  d.add_options()("after", po::value<std::int64_t>()->default_value(0)->value_name("N"),
                  "events with seq greater than N")(
      "limit", po::value<int>()->default_value(100)->value_name("M"), "at most M events (1..1000)");
}

int cmd_events(Session& s, const po::variables_map& vm) {
  auto after = vm["after"].as<std::int64_t>();
  int limit = vm["limit"].as<int>();
  if (after < 0) throw UsageError{"--after: a non-negative sequence number"};
  if (limit < 1 || limit > 1000) throw UsageError{"--limit: from 1 to 1000"};
  Reply r = s.api.get("/api/v1/halls/" + path_hall(vm) + "/events" +
                      query({{"after", std::to_string(after)}, {"limit", std::to_string(limit)}}));
  if (r.code) return r.code;
  if (s.globals.json) return print_json(s, r.body), kOk;
  Table t({}, {R, L, L, L});
  for (const auto& e : list(r.body, "events")) {
    std::string data = "-";
    if (e.is_object() && e.contains("data"))
      data = e["data"].dump(-1, ' ', false, json::error_handler_t::replace);
    t.add_row({cell(e, "seq"), time_cell(e, "ts"), cell(e, "type"), data});
  }
  t.render(s.out);
  return kOk;
}

// --- notice

void notice_options(po::options_description& d) {
  d.add_options()("until", po::value<std::string>()->value_name("TIME"),
                  "show it until this local time, YYYY-MM-DDTHH:MM");
}

int queued(Session& s, const Reply& r, const std::string& what, const std::string& hall) {
  if (r.code) return r.code;
  if (s.globals.json) return print_json(s, r.body), kOk;
  s.out << fmt::format("{} queued for {} as command {}\n", what, hall, cell(r.body, "down_seq"));
  return kOk;
}

int cmd_notice(Session& s, const po::variables_map& vm) {
  std::string text;
  for (const auto& word : vm["text"].as<std::vector<std::string>>()) {
    if (!text.empty()) text += ' ';
    text += word;
  }
  if (text.empty()) throw UsageError{"the notice text is empty"};
  json data{{"text", text}};
  if (vm.count("until")) {
    auto until = parse_local_minute(opt(vm, "until"));
    if (!until) throw UsageError{"--until: a local time as YYYY-MM-DDTHH:MM"};
    data["until_ts"] = *until;
  }
  const std::string hall = vm["hall"].as<std::string>();
  Reply r = s.api.post("/api/v1/halls/" + path_hall(vm) + "/commands",
                       json{{"type", "notice"}, {"data", data}});
  return queued(s, r, "notice", hall);
}

// --- config-set

void config_set_options(po::options_description& d) {
  d.add_options()("file", po::value<std::string>()->value_name("FILE"),
                  "a JSON object of hall-config sections (required)");
}

int cmd_config_set(Session& s, const po::variables_map& vm) {
  if (!vm.count("file")) throw UsageError{"--file is required"};
  const std::string file = opt(vm, "file");
  std::ifstream in(file, std::ios::binary);
  if (!in) throw UsageError{fmt::format("cannot read {}", file)};
  std::stringstream text;
  text << in.rdbuf();
  json data = json::parse(text.str(), nullptr, false);
  if (data.is_discarded()) throw UsageError{fmt::format("{} is not valid JSON", file)};
  if (!data.is_object()) throw UsageError{fmt::format("{} must hold a JSON object", file)};
  const std::string hall = vm["hall"].as<std::string>();
  Reply r = s.api.post("/api/v1/halls/" + path_hall(vm) + "/commands",
                       json{{"type", "config.set"}, {"data", data}});
  return queued(s, r, "config.set", hall);
}

// --- clear-integrity

int cmd_clear_integrity(Session& s, const po::variables_map& vm) {
  const std::string hall = vm["hall"].as<std::string>();
  Reply r = s.api.post("/api/v1/halls/" + path_hall(vm) + "/integrity/clear", json::object());
  if (r.code) return r.code;
  if (s.globals.json) return print_json(s, r.body), kOk;
  s.out << fmt::format("integrity mark cleared for {}\n", hall);
  return kOk;
}

const std::vector<Command>& central_commands() {
  static const std::vector<Command> kCommands{
      {"halls",
       "",
       "every hall: link, integrity, lag, queues, alerts",
       "Lists every hall central knows: whether its sync link is up, whether its event chain\n"
       "verified, how many events central lags behind, people waiting, the longest wait,\n"
       "occupancy, active alerts and offline devices.",
       nullptr,
       {},
       cmd_halls},
      {"hall",
       "ID | accept-store ID",
       "one hall in detail: sync, queues, counters, alerts, devices",
       "Shows one hall: region, link and last contact, integrity (with the reason when broken),\n"
       "sync figures, then its queues, counters, active alerts and offline devices.\n"
       "'hall accept-store ID' (admin) accepts the new store of a hall central refuses with\n"
       "store_changed (the hall was re-installed, or its disk restored from another box):\n"
       "central keeps the hall's log and the hall continues it.",
       nullptr,
       {"ID", "[TARGET]"},
       cmd_hall},
      {"kpi",
       "[--hall H] [--service S] [--from DAY] [--to DAY]",
       "daily service figures and their total",
       "Daily KPIs per hall and service: tickets issued and served, no-shows, mean and 90th\n"
       "percentile wait, mean service time, ratings and satisfaction, with a TOTAL line.\n"
       "Rates are percentages, times m:ss; \"-\" means no data.",
       kpi_options,
       {},
       cmd_kpi},
      {"alerts",
       "[--hall H] [--state open|all]",
       "alerts across halls (or, against an edge, the hall's)",
       "Lists alerts, of every hall or of one. Also works against a hall's edge (give its\n"
       "--server), listing that hall's alerts; acknowledge or resolve them with 'yiban ack'\n"
       "and 'yiban resolve'.",
       alerts_options,
       {},
       cmd_alerts},
      {"events",
       "HALL [--after N] [--limit M]",
       "a page of a hall's replicated event log",
       "Prints one line per event of HALL's log as replicated to central: sequence number,\n"
       "local time, type and data. Page on with --after set to the last sequence shown.",
       events_options,
       {"HALL"},
       cmd_events},
      {"notice",
       "HALL TEXT... [--until YYYY-MM-DDTHH:MM]",
       "queue a notice for a hall's displays",
       "Queues a notice command for HALL; its displays show TEXT (the words joined by spaces)\n"
       "until the given local time, or until replaced. Use -- before text starting with '-'.",
       notice_options,
       {"HALL", "TEXT..."},
       cmd_notice},
      {"config-set",
       "HALL --file sections.json",
       "queue a hall-config change",
       "Queues a config.set command for HALL carrying the JSON object in the file (hall-config\n"
       "sections to replace). The hall validates and applies it.",
       config_set_options,
       {"HALL"},
       cmd_config_set},
      {"clear-integrity",
       "HALL",
       "clear a hall's broken-integrity mark (admin)",
       "Clears the mark central sets when a hall's event chain fails to verify, so its events\n"
       "are accepted again. Needs an admin token.",
       nullptr,
       {"HALL"},
       cmd_clear_integrity},
  };
  return kCommands;
}

const std::vector<Command>& commands() {
  static const std::vector<Command> kAll = [] {
    std::vector<Command> all = central_commands();
    const auto& cases = case_commands();
    all.insert(all.end(), cases.begin(), cases.end());
    const auto& bookings = booking_commands();
    all.insert(all.end(), bookings.begin(), bookings.end());
    const auto& hall = hall_commands();
    all.insert(all.end(), hall.begin(), hall.end());
    return all;
  }();
  return kAll;
}

po::options_description global_options() {
  po::options_description d("global options");
  d.add_options()("server", po::value<std::string>()->value_name("URL"),
                  "the API, http:// or https:// (default $YIBAN_SERVER, else central's "
                  "http://127.0.0.1:8090, or for hall commands the edge's http://127.0.0.1:8080)")(
      "token", po::value<std::string>()->value_name("T"), "bearer token (default $YIBAN_TOKEN)")(
      "ca-file", po::value<std::string>()->value_name("FILE"),
      "for https: the PEM CA certificates that sign the server's (default $YIBAN_CA_FILE, "
      "else the system's)")(
      "json", "print the server's JSON reply, pretty-printed")(
      "timeout", po::value<int>()->default_value(10)->value_name("SECONDS"),
      "seconds to wait for the server")("help,h", "this help");
  return d;
}

constexpr const char* kExitCodes =
    "exit codes: 0 ok, 1 server error, 2 usage error, 3 cannot reach the server,\n"
    "            4 unauthorized or forbidden, 5 not found\n";

void print_main_help(std::ostream& out) {
  out << "usage: yiban [--server URL] [--token T] [--ca-file FILE] [--json] [--timeout SECONDS]\n"
         "             COMMAND [ARGS]\n\n"
         "The client of yiban central (for central staff) and of a hall's edge (for hall\n"
         "managers).\n";
  // Both groups' summaries start at the same column.
  std::vector<std::pair<std::string, std::string>> central{{"help", "help on a command"}}, hall;
  for (const auto& c : commands()) {
    auto& group = c.edge ? hall : central;
    group.emplace_back(c.name, c.summary);
  }
  std::rotate(central.begin(), central.begin() + 1, central.end());  // help last
  hall.emplace(hall.begin(), "alerts", "a hall's alerts, with --server at its edge (see above)");
  hall.emplace(hall.begin() + 1, "case",
               "submit, review, complete, resubmit cases at the hall's edge (see above)");
  std::size_t width = 0;
  for (const auto* group : {&central, &hall})
    for (const auto& [name, summary] : *group) width = std::max(width, display_width(name));
  auto print = [&](const char* heading, const auto& group) {
    out << '\n' << heading << '\n';
    for (const auto& [name, summary] : group)
      out << "  " << pad_right(name, width) << "  " << summary << '\n';
  };
  print("central commands (against central's API):", central);
  print("hall commands (against a hall's edge: --server http://EDGE:8080):", hall);
  out << '\n'
      << global_options() << "\nRun 'yiban COMMAND --help' for a command's arguments and options.\n"
      << kExitCodes;
}

po::options_description command_options(const Command& c) {
  po::options_description d("options");
  if (c.options) c.options(d);
  d.add_options()("json", "print the server's JSON reply (as the global --json)")("help,h",
                                                                                  "this help");
  return d;
}

void print_command_help(const Command& c, std::ostream& out) {
  out << "usage: yiban [global options] " << c.name << (*c.synopsis ? " " : "") << c.synopsis
      << "\n\n"
      << c.details << "\n\n"
      << command_options(c) << '\n'
      << kExitCodes;
}

const Command* find_command(std::string_view name) {
  for (const auto& c : commands())
    if (name == c.name) return &c;
  return nullptr;
}

int usage_error(std::ostream& err, const std::string& message, const char* command = nullptr) {
  err << "yiban: " << message << '\n';
  if (command)
    err << "run 'yiban " << command << " --help' for usage\n";
  else
    err << "run 'yiban --help' for usage\n";
  return kUsage;
}

// Index of the command word in argv: the first argument that is neither a
// global option nor the value of one.
int find_command_index(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--") return i + 1 < argc ? i + 1 : argc;
    if (!a.starts_with('-')) return i;
    if (a == "--server" || a == "--token" || a == "--ca-file" || a == "--timeout") ++i;
  }
  return argc;
}

int run_command(const Command& c, const std::vector<std::string>& args, Globals globals,
                std::ostream& out, std::ostream& err) {
  po::options_description visible = command_options(c);
  po::options_description all;
  all.add(visible);
  po::positional_options_description positional;
  for (std::size_t i = 0; i < c.positionals.size(); ++i) {
    std::string key = positional_key(c.positionals[i]);
    bool rest = std::string_view(c.positionals[i]).ends_with("...") ||
                std::string_view(c.positionals[i]).ends_with("...]");
    if (rest) {
      all.add_options()(key.c_str(), po::value<std::vector<std::string>>());
      positional.add(key.c_str(), -1);
    } else {
      all.add_options()(key.c_str(), po::value<std::string>());
      positional.add(key.c_str(), 1);
    }
  }
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(all).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::too_many_positional_options_error&) {
    return usage_error(err, "too many arguments", c.name);
  } catch (const po::error& e) {
    return usage_error(err, e.what(), c.name);
  }
  if (vm.count("help")) {
    print_command_help(c, out);
    return kOk;
  }
  for (const char* p : c.positionals) {
    if (*p != '[' && !vm.count(positional_key(p)))
      return usage_error(err, fmt::format("missing {}", p), c.name);
  }
  if (vm.count("json")) globals.json = true;
  const bool edge = c.edge_for ? c.edge_for(vm) : c.edge;
  if (globals.server.empty()) globals.server = edge ? kDefaultEdgeServer : kDefaultServer;

  runtime::HttpClient::Options http;
  http.timeout = std::chrono::seconds(globals.timeout_s);
  http.ca_file = globals.ca_file;
  auto client = runtime::HttpClient::create(globals.server, http);
  if (!client) {
    // "url: …" and "ca_file: …" name the options they came from.
    std::string_view why = client.error().message;
    if (why.starts_with("url: ")) return usage_error(err, "--server " + std::string(why.substr(5)));
    if (why.starts_with("ca_file: ")) return usage_error(err, "--ca-file " + std::string(why.substr(9)));
    return usage_error(err, std::string(why));
  }
  Api api(globals, std::move(*client), err);
  Session session{globals, out, err, api};
  try {
    return c.handler(session, vm);
  } catch (const UsageError& e) {
    return usage_error(err, e.message, c.name);
  } catch (const json::exception& e) {
    err << "yiban: unexpected reply from the server: " << e.what() << '\n';
    return kApiError;
  }
}

}  // namespace internal

using namespace internal;

int run(int argc, char** argv, std::ostream& out, std::ostream& err) {
  const int command_at = find_command_index(argc, argv);
  std::vector<std::string> global_args(argv + std::min(1, argc), argv + command_at);
  if (!global_args.empty() && global_args.back() == "--") global_args.pop_back();

  po::variables_map vm;
  try {
    po::store(po::command_line_parser(global_args).options(global_options()).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return usage_error(err, e.what());
  }
  if (vm.count("help")) {
    print_main_help(out);
    return kOk;
  }
  if (command_at >= argc) {
    err << "yiban: no command given\n";
    print_main_help(err);
    return kUsage;
  }

  Globals g;
  if (vm.count("server")) {
    g.server = vm["server"].as<std::string>();
  } else if (const char* env = std::getenv("YIBAN_SERVER"); env && *env) {
    g.server = env;
  }  // else the command's default, set in run_command
  if (vm.count("token")) {
    g.token = vm["token"].as<std::string>();
  } else if (const char* env = std::getenv("YIBAN_TOKEN"); env) {
    g.token = env;
  }
  if (vm.count("ca-file")) {
    g.ca_file = vm["ca-file"].as<std::string>();
  } else if (const char* env = std::getenv("YIBAN_CA_FILE"); env) {
    g.ca_file = env;
  }
  g.json = vm.count("json") > 0;
  g.timeout_s = vm["timeout"].as<int>();
  if (g.timeout_s < 1 || g.timeout_s > 3600)
    return usage_error(err, "--timeout: seconds from 1 to 3600");

  const std::string name = argv[command_at];
  std::vector<std::string> args(argv + command_at + 1, argv + argc);
  if (name == "help") {
    if (args.empty()) {
      print_main_help(out);
      return kOk;
    }
    const Command* c = find_command(args.front());
    if (!c) return usage_error(err, fmt::format("unknown command '{}'", args.front()));
    print_command_help(*c, out);
    return kOk;
  }
  const Command* c = find_command(name);
  if (!c) return usage_error(err, fmt::format("unknown command '{}'", name));
  return run_command(*c, args, std::move(g), out, err);
}

}  // namespace yiban::cli
