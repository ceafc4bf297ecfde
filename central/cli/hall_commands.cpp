#include "hall_commands.h"

#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <set>

namespace yiban::cli::internal {

namespace {

// "A,B" from a JSON array of strings; "-" when empty or missing.
std::string joined(const json& o, const char* key) {
  std::string s;
  for (const auto& v : list(o, key)) {
    if (!s.empty()) s += ',';
    s += v.is_string() ? v.get<std::string>() : v.dump();
  }
  return s.empty() ? "-" : s;
}

// The codes of a comma-separated option value, empty items dropped.
json codes(const std::string& text) {
  json out = json::array();
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    std::string item = text.substr(start, comma - start);
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    if (!item.empty()) out.push_back(item);
    start = comma + 1;
  }
  return out;
}

std::string clock_cell(const json& o, const char* key) {
  auto v = integer(o, key);
  return v ? format_local_clock(*v) : "-";
}

// A business day given as yyyymmdd (a number or its text) as YYYY-MM-DD.
std::string day_cell(const json& o, const char* key) {
  if (auto d = integer(o, key); d && *d > 19700000) return format_day(*d);
  std::string text = cell(o, key);
  if (text.size() == 8 && std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); }))
    return format_day(std::stoll(text));
  return text;
}

std::string path_segment(const po::variables_map& vm, const char* key) {
  return url_encode(vm[key].as<std::string>());
}

// --- status

int cmd_status(Session& s, const po::variables_map&) {
  Reply r = s.api.get("/api/v1/hall");
  if (r.code) return r.code;
  if (s.globals.json) return print_json(s, r.body), kOk;
  const json& h = r.body;
  const json& occupancy = object(h, "occupancy");
  const json& sync = object(h, "sync");

  // pct is a percentage of capacity (0..100), as the hall config's crowding_pct.
  std::string occupancy_text = "-";
  if (integer(occupancy, "value")) {
    occupancy_text = cell(occupancy, "value");
    if (integer(occupancy, "capacity")) occupancy_text += "/" + cell(occupancy, "capacity");
    if (auto pct = number(occupancy, "pct")) occupancy_text += " (" + format_percent(*pct / 100) + ")";
  }
  std::string sync_text = cell(sync, "state");
  if (integer(sync, "acked") || integer(sync, "last_seq"))
    sync_text += fmt::format(", central acked {} of {}", cell(sync, "acked"), cell(sync, "last_seq"));

  Table t({});
  std::string hall = cell(h, "hall");
  if (std::string name = cell(h, "name"); name != "-") hall += "  " + name;
  t.add_row({"Hall", hall});
  t.add_row({"Region", cell(h, "region")});
  t.add_row({"Business day", day_cell(h, "business_day")});
  t.add_row({"Waiting", cell(h, "waiting")});
  t.add_row({"Longest wait", duration_cell(h, "longest_wait_s")});
  t.add_row({"Served today", cell(h, "served_today")});
  t.add_row({"Occupancy", occupancy_text});
  t.add_row({"Alerts active", cell(h, "alerts_active")});
  t.add_row({"Devices", fmt::format("{} online, {} offline", cell(h, "devices_online"),
                                    cell(h, "devices_offline"))});
  t.add_row({"Sync", sync_text});
  t.render(s.out);
  return kOk;
}

// --- queues

int cmd_queues(Session& s, const po::variables_map&) {
  Reply r = s.api.get("/api/v1/queues");
  if (r.code) return r.code;
  if (s.globals.json) return print_json(s, r.body), kOk;
  const json& queues = list(r.body, "queues");
  if (queues.empty()) {
    s.out << "no services\n";
    return kOk;
  }
  Table t({"SERVICE", "NAME", "WAITING", "EST.WAIT", "OLDEST", "OPEN", "ENABLED"},
          {L, L, R, R, R, R, L});
  for (const auto& q : queues)
    t.add_row({cell(q, "service"), cell(q, "name"), cell(q, "waiting"),
               duration_cell(q, "estimated_wait_s"), duration_cell(q, "oldest_wait_s"),
               cell(q, "open_counters"), cell(q, "enabled")});
  t.render(s.out);
  return kOk;
}

// --- counters

std::string ticket_text(const json& c) {
  const json& ticket = object(c, "ticket");
  if (!ticket.is_object()) return "-";
  std::string text = cell(ticket, "number");
  if (text == "-") text = cell(ticket, "id");
  if (std::string state = cell(ticket, "state"); state != "-") text += " (" + state + ")";
  return text;
}

int cmd_counters(Session& s, const po::variables_map&) {
  Reply r = s.api.get("/api/v1/counters");
  if (r.code) return r.code;
  if (s.globals.json) return print_json(s, r.body), kOk;
  const json& counters = list(r.body, "counters");
  if (counters.empty()) {
    s.out << "no counters\n";
    return kOk;
  }
  Table t({"COUNTER", "NAME", "STATE", "SERVICES", "BACKUP", "TICKET"});
  for (const auto& c : counters)
    t.add_row({cell(c, "counter"), cell(c, "name"), cell(c, "state"), joined(c, "services"),
               joined(c, "backup"), ticket_text(c)});
  t.render(s.out);
  return kOk;
}

// --- counter ACTION COUNTER

void counter_options(po::options_description& d) {
  d.add_options()("services", po::value<std::string>()->value_name("A,B"),
                  "services: the service codes the counter serves (required)")(
      "backup", po::value<std::string>()->value_name("C,D"),
      "services: the codes it serves when its own queues are empty (default none)");
}

int cmd_counter(Session& s, const po::variables_map& vm) {
  const std::string action = vm["action"].as<std::string>();
  const std::string id = vm["counter"].as<std::string>();
  const std::string path = "/api/v1/counters/" + path_segment(vm, "counter");
  Reply r;
  if (action == "open" || action == "pause" || action == "close") {
    if (vm.count("services") || vm.count("backup"))
      throw UsageError{"--services and --backup go with 'counter services' only"};
    r = s.api.post(path + "/" + action, json::object());
  } else if (action == "services") {
    if (!vm.count("services")) throw UsageError{"--services is required"};
    json services = codes(opt(vm, "services"));
    if (services.empty()) throw UsageError{"--services: at least one service code"};
    r = s.api.put(path + "/services",
                  json{{"services", services}, {"backup", codes(opt(vm, "backup"))}});
  } else {
    throw UsageError{fmt::format("unknown action '{}': open, pause, close or services", action)};
  }
  if (r.code) return r.code;
  if (s.globals.json) return print_json(s, r.body), kOk;
  const json& c = object(r.body, "counter");
  std::string name = cell(c, "counter");
  if (name == "-") name = id;
  if (action == "services") {
    s.out << fmt::format("counter {} serves {}; backup {}\n", name, joined(c, "services"),
                         joined(c, "backup"));
  } else {
    s.out << fmt::format("counter {} is {}\n", name, cell(c, "state"));
  }
  return kOk;
}

// --- tickets

void tickets_options(po::options_description& d) {
  d.add_options()("state", po::value<std::string>()->value_name("S"),
                  "only tickets in this state (waiting, called, serving, done, …)")(
      "number", po::value<std::string>()->value_name("PREFIX"),
      "only tickets whose number starts with PREFIX (A01)")(
      "limit", po::value<int>()->value_name("N"), "tickets per page, 1..500 (server default 100)")(
      "after", po::value<std::string>()->value_name("CURSOR"),
      "start after this cursor (a previous page's next_after)")(
      "all", "follow the pages to the end (--limit is then the page size)");
}

int cmd_tickets(Session& s, const po::variables_map& vm) {
  std::string limit;
  if (vm.count("limit")) {
    int n = vm["limit"].as<int>();
    if (n < 1 || n > 500) throw UsageError{"--limit: from 1 to 500"};
    limit = std::to_string(n);
  }
  const bool all = vm.count("all") > 0;
  std::string after = opt(vm, "after");
  json tickets = json::array();
  json next_after = nullptr;
  std::set<std::string> seen;  // cursors already followed: a looping server ends the walk
  for (;;) {
    Reply r = s.api.get("/api/v1/tickets" + query({{"state", opt(vm, "state")},
                                                    {"number", opt(vm, "number")},
                                                    {"after", after},
                                                    {"limit", limit}}));
    if (r.code) return r.code;
    for (const auto& t : list(r.body, "tickets")) tickets.push_back(t);
    auto it = r.body.find("next_after");
    next_after = it != r.body.end() ? *it : json(nullptr);
    if (!all || next_after.is_null()) break;
    std::string cursor = next_after.is_string() ? next_after.get<std::string>() : next_after.dump();
    if (list(r.body, "tickets").empty() || !seen.insert(cursor).second) break;
    after = cursor;
  }
  if (s.globals.json) {
    print_json(s, json{{"tickets", tickets}, {"next_after", next_after}});
    return kOk;
  }
  if (tickets.empty()) {
    s.out << "no tickets\n";
  } else {
    Table t({"NUMBER", "SERVICE", "STATE", "ISSUED", "CALLED", "COUNTER", "RECALLS"},
            {L, L, L, L, L, L, R});
    for (const auto& k : tickets)
      t.add_row({cell(k, "number"), cell(k, "service"), cell(k, "state"),
                 clock_cell(k, "issued_ts"), clock_cell(k, "called_ts"), cell(k, "counter"),
                 cell(k, "recalls")});
    t.render(s.out);
  }
  if (!all && !next_after.is_null())
    s.err << fmt::format("yiban: more tickets: use --all, or --after {}\n",
                         next_after.is_string() ? next_after.get<std::string>() : next_after.dump());
  return kOk;
}

// --- ack / resolve ALERT_ID

void comment_options(po::options_description& d) {
  d.add_options()("comment", po::value<std::string>()->value_name("TEXT"),
                  "a note kept with the alert");
}

int alert_action(Session& s, const po::variables_map& vm, const char* action, const char* done) {
  json body = json::object();
  if (vm.count("comment")) body["comment"] = opt(vm, "comment");
  Reply r = s.api.post(
      fmt::format("/api/v1/alerts/{}/{}", path_segment(vm, "alert_id"), action), body);
  if (r.code) return r.code;
  if (s.globals.json) return print_json(s, r.body), kOk;
  const json& a = object(r.body, "alert");
  std::string id = cell(a, "id");
  if (id == "-") id = vm["alert_id"].as<std::string>();
  s.out << fmt::format("alert {} {} (state {})\n", id, done, cell(a, "state"));
  return kOk;
}

int cmd_ack(Session& s, const po::variables_map& vm) {
  return alert_action(s, vm, "ack", "acknowledged");
}

int cmd_resolve(Session& s, const po::variables_map& vm) {
  return alert_action(s, vm, "resolve", "resolved");
}

// --- devices

int cmd_devices(Session& s, const po::variables_map&) {
  Reply r = s.api.get("/api/v1/devices");
  if (r.code) return r.code;
  if (s.globals.json) return print_json(s, r.body), kOk;
  // Offline devices first, each group in the server's order.
  std::vector<json> devices;
  for (bool online : {false, true})
    for (const auto& d : list(r.body, "devices"))
      if (flag(d, "online") == online) devices.push_back(d);
  if (devices.empty()) {
    s.out << "no devices\n";
    return kOk;
  }
  Table t({"DEVICE", "KIND", "COUNTER", "ONLINE", "LAST SEEN", "VERSION"});
  for (const auto& d : devices)
    t.add_row({cell(d, "device"), cell(d, "kind"), cell(d, "counter"),
               flag(d, "online") ? "yes" : "NO", time_cell(d, "last_seen"), cell(d, "version")});
  t.render(s.out);
  return kOk;
}

// --- stats

int cmd_stats(Session& s, const po::variables_map&) {
  Reply r = s.api.get("/api/v1/stats");
  if (r.code) return r.code;
  if (s.globals.json) return print_json(s, r.body), kOk;
  const json& st = r.body;
  Table totals({});
  totals.add_row({"Day", day_cell(st, "day")});
  totals.add_row({"Issued", cell(st, "issued")});
  totals.add_row({"Served", cell(st, "served")});
  totals.add_row({"No-shows", cell(st, "no_shows")});
  totals.add_row({"Waiting", cell(st, "waiting")});
  totals.add_row({"Mean wait", duration_cell(st, "wait_mean_s")});
  totals.add_row({"P90 wait", duration_cell(st, "wait_p90_s")});
  totals.add_row({"Mean service", duration_cell(st, "service_mean_s")});
  totals.add_row({"Ratings", cell(st, "ratings")});
  totals.add_row({"Satisfaction", percent_cell(st, "satisfaction")});
  totals.render(s.out);

  const json& per_service = list(st, "per_service");
  s.out << "\nPer service" << (per_service.empty() ? ": none\n" : "\n");
  if (!per_service.empty()) {
    Table t({"SERVICE", "NAME", "ISSUED", "SERVED", "NO-SHOWS", "WAIT"}, {L, L, R, R, R, R});
    for (const auto& p : per_service)
      t.add_row({cell(p, "service"), cell(p, "name"), cell(p, "issued"), cell(p, "served"),
                 cell(p, "no_shows"), duration_cell(p, "wait_mean_s")});
    t.render(s.out);
  }
  return kOk;
}

}  // namespace

const std::vector<Command>& hall_commands() {
  static const std::vector<Command> kCommands{
      {"status",
       "",
       "the hall now: waiting, longest wait, occupancy, alerts, devices, sync",
       "Shows the hall's state now: business day, people waiting and the longest wait,\n"
       "tickets served today, occupancy against capacity, active alerts, devices online and\n"
       "offline, and the sync link to central (state, events central acked of the last).",
       nullptr,
       {},
       cmd_status,
       true},
      {"queues",
       "",
       "each service's queue: waiting, estimated and oldest wait",
       "One line per service: people waiting, the estimated wait for a new ticket, the\n"
       "oldest ticket's wait (m:ss), open counters serving it, and whether it issues tickets.",
       nullptr,
       {},
       cmd_queues,
       true},
      {"counters",
       "",
       "each counter: state, services, backup, current ticket",
       "One line per counter: its state, the services it serves and its backup services,\n"
       "and the ticket it has called or is serving.",
       nullptr,
       {},
       cmd_counters,
       true},
      {"counter",
       "open|pause|close|services COUNTER [--services A,B] [--backup C]",
       "open, pause or close a counter, or set its services",
       "open, pause, close: changes COUNTER's state as its terminal would and prints the new\n"
       "state; a change the counter's state forbids fails (exit 1) with the server's message.\n"
       "services: replaces the services COUNTER serves (--services, required) and its backup\n"
       "services (--backup; none when not given).",
       counter_options,
       {"ACTION", "COUNTER"},
       cmd_counter,
       true},
      {"tickets",
       "[--state S] [--number PREFIX] [--limit N] [--after CURSOR] [--all]",
       "today's tickets, oldest first",
       "Lists today's tickets, oldest first: number, service, state, local issue and call\n"
       "times, counter and recalls. One page unless --all (a note on stderr tells the cursor\n"
       "of the next page); with --json and --all, the pages' tickets are joined.",
       tickets_options,
       {},
       cmd_tickets,
       true},
      {"ack",
       "ALERT_ID [--comment TEXT]",
       "acknowledge an alert",
       "Acknowledges the alert ALERT_ID (as 'yiban alerts' lists it), with an optional\n"
       "comment. Use -- before an id starting with '-'.",
       comment_options,
       {"ALERT_ID"},
       cmd_ack,
       true},
      {"resolve",
       "ALERT_ID [--comment TEXT]",
       "resolve an alert",
       "Marks the alert ALERT_ID resolved, with an optional comment.",
       comment_options,
       {"ALERT_ID"},
       cmd_resolve,
       true},
      {"devices",
       "",
       "the hall's devices, offline first",
       "One line per device (kiosk, counter terminal, display, sensor, …): its counter,\n"
       "whether it is online, when it was last seen (local time) and its software version.\n"
       "Offline devices come first.",
       nullptr,
       {},
       cmd_devices,
       true},
      {"stats",
       "",
       "today's figures, in total and per service",
       "Today's totals (tickets issued and served, no-shows, waiting now, mean and 90th\n"
       "percentile wait, mean service time, ratings and satisfaction) and a line per service.",
       nullptr,
       {},
       cmd_stats,
       true},
  };
  return kCommands;
}

}  // namespace yiban::cli::internal
