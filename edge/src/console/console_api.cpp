#include "console/console_api.h"

#include "yiban/runtime/http_server.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <thread>

#include "console/case_routes.h"
#include "console/console_actions.h"
#include "yiban/runtime/sqlite.h"
#include "yiban/protocol/city_catalog.h"
#include "yiban/protocol/ids.h"

namespace yiban::edge::console {
namespace {

using nlohmann::json;
using protocol::Role;

constexpr std::size_t kMaxBodyBytes = 16 * 1024;

void send(runtime::HttpResponse& res, const Result& r) {
  res.status = r.status;
  res.set_content(r.body, "application/json");
}

void send_error(runtime::HttpResponse& res, int status, std::string_view code, std::string_view message) {
  send(res, error_result(status, code, message));
}

json opt(const std::optional<std::int64_t>& v) { return v ? json(*v) : json(); }
json opt(const std::optional<std::string>& v) { return v ? json(*v) : json(); }

}  // namespace

struct Api::Impl {
  ApiOptions options;
  Link& link;
  std::function<void(Request)> submit;
  std::function<SyncView()> sync_view;
  runtime::HttpServer server;
  int port = 0;
  std::mutex db_mutex;
  runtime::Database db;  // guarded by db_mutex
  // The consoles' stream: one feeder reads each committed batch of events once
  // and publishes it; streams hold no thread.
  std::shared_ptr<runtime::SseHub> hub = std::make_shared<runtime::SseHub>();
  std::thread feeder;

  Impl(ApiOptions o, Link& l, std::function<void(Request)> s, std::function<SyncView()> v)
      : options(std::move(o)), link(l), submit(std::move(s)), sync_view(std::move(v)), server(server_options()) {}

  runtime::HttpServerOptions server_options() {
    runtime::HttpServerOptions s = options.http;
    s.who = "the hall";
    s.host = options.host;
    s.port = options.port;
    s.web_dir = options.web_dir;
    s.tokens = &options.tokens;
    s.max_body_bytes = kMaxBodyBytes;
    // A hall manager's token from another hall is refused before any body.
    s.admit = [this](const protocol::TokenGrant& g) -> std::optional<std::string> {
      if (g.role == Role::kHallManager && g.hall != link.snapshot().hall)
        return "this token covers hall " + g.hall + ", not this one";
      return std::nullopt;
    };
    return s;
  }

  std::optional<protocol::TokenGrant> authenticate(const runtime::HttpRequest& req, runtime::HttpResponse& res) {
    auto grant = runtime::authenticate(req, res, options.tokens);
    if (grant && grant->role == Role::kHallManager && grant->hall != link.snapshot().hall) {
      send_error(res, 403, "forbidden", "this token covers hall " + grant->hall + ", not this one");
      return std::nullopt;
    }
    return grant;
  }

  std::optional<protocol::TokenGrant> authenticate_change(const runtime::HttpRequest& req, runtime::HttpResponse& res) {
    auto g = authenticate(req, res);
    if (!g) return std::nullopt;
    if (g->role == Role::kViewer) {
      send_error(res, 403, "forbidden", "a viewer token cannot change the hall");
      return std::nullopt;
    }
    return g;
  }

  // Hands a change to the engine and waits for its answer (after the commit).
  Result ask(Request request) {
    if (link.closing()) return error_result(503, "unavailable", "the hall is stopping");
    request.done = std::make_shared<std::promise<Result>>();
    auto answer = request.done->get_future();
    submit(std::move(request));
    if (answer.wait_for(std::chrono::seconds(10)) != std::future_status::ready)
      return error_result(503, "unavailable", "the hall did not answer within 10 s");
    return answer.get();
  }
  void change(Request request, runtime::HttpResponse& res) { send(res, ask(std::move(request))); }

  void routes();
  void feed();
  json hall_json();
  json stats_json();
};

Api::Api(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Api::~Api() { stop(); }

protocol::Expected<std::unique_ptr<Api>> Api::create(ApiOptions options, Link& link,
                                                     std::function<void(Request)> submit,
                                                     std::function<SyncView()> sync_view) {
  auto impl = std::make_unique<Impl>(std::move(options), link, std::move(submit), std::move(sync_view));
  auto db = runtime::Database::open(impl->options.db_path);
  if (!db) return protocol::error("console: cannot open " + impl->options.db_path + ": " + db.error().message);
  impl->db = std::move(*db);
  (void)impl->db.exec("PRAGMA busy_timeout=5000");
  (void)impl->db.exec("PRAGMA query_only=1");
  // Today's KPI rows lie scattered among a day's ~30,000 telemetry summaries
  // (2,000 pages for /api/v1/stats): a 32 MiB page cache keeps them, so a
  // repeated stats call reads no pages from the file (year soak: p99 47 ms
  // with SQLite's default 2 MiB).
  (void)impl->db.exec("PRAGMA cache_size=-32768");
  impl->routes();
  const auto& o = impl->options;
  auto port = impl->server.listen();
  if (!port) return std::unexpected(port.error());
  impl->port = *port;
  spdlog::info("console: API on {}://{}:{}/api/v1/ ({} tokens){}", impl->server.tls() ? "https" : "http", o.host,
               impl->port, o.tokens.size(), o.web_dir.empty() ? "" : ", console at /");
  return std::unique_ptr<Api>(new Api(std::move(impl)));
}

int Api::port() const { return impl_->port; }

void Api::start() {
  impl_->server.start();
  impl_->feeder = std::thread([impl = impl_.get()] { impl->feed(); });
}

void Api::stop() {
  if (!impl_) return;
  impl_->link.close();
  if (impl_->feeder.joinable()) impl_->feeder.join();
  impl_->hub->close();
  impl_->server.stop();
}

void Api::Impl::feed() {
  std::int64_t seen = link.last_seq();
  auto hello = [](std::int64_t seq) { return "event: hello\ndata: {\"last_seq\":" + std::to_string(seq) + "}\n\n"; };
  hub->set_state("", hello(seen), "");
  while (!link.closing()) {
    std::int64_t last = link.wait_past(seen, std::chrono::seconds(15));
    if (link.closing()) break;
    if (last <= seen) {
      hub->publish("", ": keepalive\n\n");
      continue;
    }
    std::string out;
    {
      std::lock_guard lock(db_mutex);
      auto st = db.prepare("SELECT seq, type, ts FROM events WHERE seq > ?1 ORDER BY seq LIMIT 1000");
      if (!st) {
        spdlog::warn("console: the event stream cannot read the log: {}", st.error().message);
        continue;
      }
      st->bind(1, seen);
      for (auto row = st->step(); row && *row; row = st->step()) {
        seen = st->column_int(0);
        out += "event: change\ndata: {\"seq\":" + std::to_string(seen) + ",\"type\":\"" + st->column_text(1) +
               "\",\"ts\":" + std::to_string(st->column_int(2)) + "}\n\n";
      }
    }
    hub->set_state("", hello(seen), out);
  }
}

json Api::Impl::hall_json() {
  auto s = link.snapshot();
  const std::int64_t now =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  int waiting = 0;
  std::optional<std::int64_t> oldest;
  for (const auto& svc : s.services) {
    waiting += svc.queue.waiting;
    if (svc.oldest_waiting_ts && (!oldest || *svc.oldest_waiting_ts < *oldest)) oldest = svc.oldest_waiting_ts;
  }
  std::int64_t served = 0, online = 0, offline = 0;
  {
    std::lock_guard lock(db_mutex);
    if (auto st = db.prepare("SELECT count(*) FROM tickets WHERE day = ?1 AND state = 'completed'")) {
      st->bind(1, s.business_day);
      if (auto row = st->step(); row && *row) served = st->column_int(0);
    }
    if (auto st = db.prepare("SELECT coalesce(sum(online), 0), count(*) - coalesce(sum(online), 0) FROM devices")) {
      if (auto row = st->step(); row && *row) {
        online = st->column_int(0);
        offline = st->column_int(1);
      }
    }
  }
  // Devices in the config that never spoke count as offline.
  std::int64_t known = online + offline;
  if (static_cast<std::int64_t>(s.devices.size()) > known) offline += static_cast<std::int64_t>(s.devices.size()) - known;
  auto sync = sync_view();
  json occupancy{{"value", s.occupancy}, {"capacity", s.capacity},
                 {"pct", s.capacity > 0 ? json(100.0 * s.occupancy / s.capacity) : json()}};
  return json{{"hall", s.hall},
              {"name", s.name},
              {"region", s.region},
              {"business_day", s.business_day},
              {"now", now},
              {"occupancy", occupancy},
              {"waiting", waiting},
              {"longest_wait_s", oldest ? std::max<std::int64_t>(0, (now - *oldest) / 1000) : 0},
              {"served_today", served},
              {"alerts_active", s.alerts_open},
              {"devices_online", online},
              {"devices_offline", offline},
              {"sync", {{"state", sync.state}, {"acked", sync.acked}, {"last_seq", s.last_seq}}}};
}

json Api::Impl::stats_json() {
  auto s = link.snapshot();
  const std::int64_t now =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  struct Ticket {
    std::string service;
    std::string state;
    std::int64_t issued = 0;
    std::optional<std::int64_t> called;
    std::optional<std::int64_t> finished;
  };
  std::vector<Ticket> tickets;
  std::vector<std::pair<std::string, std::int64_t>> waits;  // service, waited_ms at the first call
  std::vector<std::int64_t> service_ms;
  std::vector<std::pair<std::int64_t, std::int64_t>> occupancy;  // ts, value
  std::int64_t ratings = 0, good = 0;
  {
    std::lock_guard lock(db_mutex);
    if (auto st = db.prepare("SELECT service, state, issued_ts, called_ts, finished_ts FROM tickets WHERE day = ?1")) {
      st->bind(1, s.business_day);
      for (auto row = st->step(); row && *row; row = st->step())
        tickets.push_back({st->column_text(0), st->column_text(1), st->column_int(2), st->column_optional_int(3),
                           st->column_optional_int(4)});
    }
    // Today's calls and completions through events_type_ts (never the whole log).
    if (auto st = db.prepare(
            "SELECT type, json_extract(text, '$.data.service'), json_extract(text, '$.data.waited_ms'), "
            "json_extract(text, '$.data.service_ms') FROM events "
            "WHERE ts >= ?1 AND type IN ('ticket.called', 'ticket.completed')")) {
      st->bind(1, s.day_start_ms);
      for (auto row = st->step(); row && *row; row = st->step()) {
        auto type = st->column_text(0);
        if (type == "ticket.called" && !st->column_is_null(2)) waits.emplace_back(st->column_text(1), st->column_int(2));
        if (type == "ticket.completed" && !st->column_is_null(3)) service_ms.push_back(st->column_int(3));
      }
    }
    // Occupancy only where the 15-minute series below samples it: the first
    // door summary of the day, then the last one at or before each point
    // (a hall's sensors write ~30,000 summaries a day; reading them all
    // took 200 ms on a year's database).
    auto first_occ = db.prepare(
        "SELECT ts, json_extract(text, '$.data.occupancy') FROM events WHERE type = 'telemetry.summary' AND ts >= ?1 "
        "AND json_extract(text, '$.data.occupancy') IS NOT NULL ORDER BY ts LIMIT 1");
    auto occ_at = db.prepare(
        "SELECT ts, json_extract(text, '$.data.occupancy') FROM events WHERE type = 'telemetry.summary' AND ts >= ?1 "
        "AND ts <= ?2 AND json_extract(text, '$.data.occupancy') IS NOT NULL ORDER BY ts DESC LIMIT 1");
    if (first_occ && occ_at) {
      first_occ->bind(1, s.day_start_ms);
      if (auto row = first_occ->step(); row && *row) {
        occupancy.emplace_back(first_occ->column_int(0), first_occ->column_int(1));
        std::int64_t first = std::min(now, occupancy.front().first);
        for (const auto& t : tickets) first = std::min(first, t.issued);
        constexpr std::int64_t kStep = 15 * 60 * 1000;
        std::int64_t start = s.day_start_ms + (std::max(first, s.day_start_ms) - s.day_start_ms) / kStep * kStep;
        for (std::int64_t t = start, points = 0; t <= now + kStep - 1 && points <= 100; t += kStep, ++points) {
          occ_at->reset();
          occ_at->bind(1, s.day_start_ms).bind(2, std::min(t, now));
          if (auto at = occ_at->step(); at && *at && occ_at->column_int(0) > occupancy.back().first)
            occupancy.emplace_back(occ_at->column_int(0), occ_at->column_int(1));
        }
      }
    }
    if (auto st = db.prepare("SELECT count(*), coalesce(sum(score >= 4), 0) FROM ratings WHERE ts >= ?1")) {
      st->bind(1, s.day_start_ms);
      if (auto row = st->step(); row && *row) {
        ratings = st->column_int(0);
        good = st->column_int(1);
      }
    }
  }
  auto mean_s = [](const std::vector<std::int64_t>& v) -> json {
    if (v.empty()) return json();
    double sum = 0;
    for (auto x : v) sum += static_cast<double>(x);
    return sum / static_cast<double>(v.size()) / 1000.0;
  };
  std::vector<std::int64_t> all_waits;
  for (const auto& [svc, w] : waits) all_waits.push_back(w);
  json p90;
  if (!all_waits.empty()) {
    auto sorted = all_waits;
    std::sort(sorted.begin(), sorted.end());
    std::size_t rank = (sorted.size() * 9 + 9) / 10;  // nearest rank
    p90 = static_cast<double>(sorted[std::min(sorted.size(), std::max<std::size_t>(rank, 1)) - 1]) / 1000.0;
  }
  std::int64_t issued = static_cast<std::int64_t>(tickets.size()), served = 0, no_shows = 0, waiting = 0;
  for (const auto& t : tickets) {
    served += t.state == "completed";
    no_shows += t.state == "no_show";
    waiting += t.state == "waiting";
  }
  json per_service = json::array();
  for (const auto& svc : s.services) {
    std::int64_t si = 0, ss = 0, sn = 0;
    for (const auto& t : tickets) {
      if (t.service != svc.queue.service) continue;
      ++si;
      ss += t.state == "completed";
      sn += t.state == "no_show";
    }
    std::vector<std::int64_t> w;
    for (const auto& [code, ms] : waits)
      if (code == svc.queue.service) w.push_back(ms);
    per_service.push_back({{"service", svc.queue.service}, {"name", svc.queue.name}, {"issued", si}, {"served", ss},
                           {"no_shows", sn}, {"wait_mean_s", mean_s(w)}});
  }
  auto hour_of = [&](std::int64_t ts) { return static_cast<int>(((ts - s.day_start_ms) / 3600000) % 24); };
  json per_hour = json::array();
  for (int h = 0; h < 24; ++h) {
    std::int64_t hi = 0, hs = 0;
    for (const auto& t : tickets) {
      hi += hour_of(t.issued) == h;
      hs += t.state == "completed" && t.finished && hour_of(*t.finished) == h;
    }
    if (hi || hs) per_hour.push_back({{"hour", h}, {"issued", hi}, {"served", hs}});
  }
  // Waiting and occupancy every 15 minutes since the first ticket or sample.
  json series = json::array();
  std::int64_t first = now;
  for (const auto& t : tickets) first = std::min(first, t.issued);
  if (!occupancy.empty()) first = std::min(first, occupancy.front().first);
  constexpr std::int64_t kStep = 15 * 60 * 1000;
  std::int64_t start = s.day_start_ms + (std::max(first, s.day_start_ms) - s.day_start_ms) / kStep * kStep;
  std::size_t occ_i = 0;
  json last_occ;
  for (std::int64_t t = start; t <= now + kStep - 1; t += kStep) {
    std::int64_t at = std::min(t, now);
    std::int64_t w = 0;
    for (const auto& tk : tickets) {
      if (tk.issued > at) continue;
      bool left = (tk.called && *tk.called <= at) || (tk.finished && *tk.finished <= at);
      w += !left;
    }
    while (occ_i < occupancy.size() && occupancy[occ_i].first <= at) last_occ = occupancy[occ_i++].second;
    series.push_back({{"ts", at}, {"waiting", w}, {"occupancy", last_occ}});
    if (series.size() > 100) break;
  }
  return json{{"day", s.business_day},
              {"issued", issued},
              {"served", served},
              {"no_shows", no_shows},
              {"waiting", waiting},
              {"wait_mean_s", mean_s(all_waits)},
              {"wait_p90_s", p90},
              {"service_mean_s", mean_s(service_ms)},
              {"ratings", ratings},
              {"satisfaction", ratings ? json(static_cast<double>(good) / static_cast<double>(ratings)) : json()},
              {"per_service", per_service},
              {"per_hour", per_hour},
              {"series", series}};
}

void Api::Impl::routes() {
  // Bodies are small (kMaxBodyBytes) except material uploads (their route's own cap).
  add_case_routes(server, CaseRouteContext{
                              [this](const runtime::HttpRequest& req, runtime::HttpResponse& res) { return authenticate(req, res); },
                              [this](Request r) { return ask(std::move(r)); }, &db_mutex, &db, options.blobs});

  server.Get("/healthz", [](const runtime::HttpRequest&, runtime::HttpResponse& res) {
    res.set_content(R"({"ok":true})", "application/json");
  }).open();

  server.Get("/metrics", [this](const runtime::HttpRequest& req, runtime::HttpResponse& res) {
    if (!authenticate(req, res)) return;
    auto s = link.snapshot();
    auto sync = sync_view();
    auto hall = hall_json();
    std::string out;
    auto metric = [&](const char* name, const char* type, const char* help, auto value) {
      out += fmt::format("# HELP {0} {1}\n# TYPE {0} {2}\n{0} {3}\n", name, help, type, value);
    };
    metric("yiban_edge_events_total", "counter", "Events in the hall's log.", s.last_seq);
    metric("yiban_edge_requests_answered_total", "counter", "Device requests answered since start.",
           s.requests_answered);
    metric("yiban_edge_slow_batches_total", "counter", "Batches that took over 10 ms (apply + commit).",
           s.slow_batches);
    metric("yiban_edge_occupancy", "gauge", "People in the hall (door counts).", s.occupancy);
    metric("yiban_edge_alerts_open", "gauge", "Alerts raised or acknowledged.", s.alerts_open);
    metric("yiban_edge_devices_offline", "gauge", "Devices of the hall config not online.",
           hall["devices_offline"].get<std::int64_t>());
    metric("yiban_edge_sync_acked_seq", "gauge", "Highest event central confirmed (0 without central).", sync.acked);
    metric("yiban_edge_sync_lag_events", "gauge", "Events central has not confirmed yet.",
           sync.state == "off" ? 0 : std::max<std::int64_t>(0, s.last_seq - sync.acked));
    out += "# HELP yiban_edge_waiting People waiting per service.\n# TYPE yiban_edge_waiting gauge\n";
    for (const auto& svc : s.services)
      out += fmt::format("yiban_edge_waiting{{service=\"{}\"}} {}\n", svc.queue.service, svc.queue.waiting);
    metric("yiban_edge_sync_refused_messages_total", "counter",
           "Messages from central refused for more frames or bytes than a message may carry.",
           sync.refused_messages);
    metric("yiban_edge_sync_send_queue_full_total", "counter",
           "Links to central dropped because central was not taking our messages.", sync.send_queue_full);
    metric("yiban_edge_mqtt_oversize_dropped_total", "counter",
           "Device payloads over 16 KiB dropped before the inbox (requests answered bad_json).",
           s.mqtt_oversize_dropped);
    metric("yiban_edge_mqtt_retained_requests_dropped_total", "counter", "Retained device requests ignored.",
           s.mqtt_retained_requests_dropped);
    metric("yiban_edge_mqtt_inbox_dropped_total", "counter",
           "Device messages dropped because the MQTT lane, or the device's share of it, was full.",
           s.mqtt_inbox_dropped);
    metric("yiban_edge_requests_rate_limited_total", "counter",
           "Device requests refused over limits.requests_per_s; nothing recorded.", s.requests_rate_limited);
    metric("yiban_edge_refusals_unanswered_total", "counter",
           "Refused device requests left unanswered over the device's reply budget.", s.refusals_unanswered);
    metric("yiban_edge_status_changes_deferred_total", "counter",
           "Device presence changes held back over limits.status_changes_per_min.", s.status_changes_deferred);
    metric("yiban_edge_telemetry_dropped_total", "counter",
           "Telemetry samples dropped (over sensing.max_rate_hz or invalid).", s.telemetry_dropped);
    metric("yiban_edge_console_busy_total", "counter",
           "Console requests refused 503 because the console lane was full.", s.console_busy);
    metric("yiban_edge_mqtt_inbox_waiting", "gauge", "Device messages waiting for the engine thread.",
           s.mqtt_inbox_waiting);
    metric("yiban_edge_retention_runs_total", "counter", "Retention runs finished since start.", s.retention_runs);
    metric("yiban_edge_retention_failures_total", "counter", "Retention steps that failed (retried next period).",
           s.retention_failures);
    metric("yiban_edge_retention_last_run_ms", "gauge", "Time the last retention run spent in its transactions.",
           s.retention_last_run_ms);
    out += "# HELP yiban_edge_retention_removed_total Rows removed or cleared by retention since start, by kind.\n"
           "# TYPE yiban_edge_retention_removed_total counter\n";
    for (auto [kind, n] : {std::pair<const char*, std::uint64_t>{"telemetry", s.retention.telemetry},
                           {"replies", s.retention.replies},
                           {"outbox", s.retention.outbox},
                           {"turn_near", s.retention.turn_near},
                           {"ticket_phones", s.retention.tickets_cleared},
                           {"booking_contacts", s.retention.bookings_cleared},
                           {"case_contacts", s.retention.cases_cleared},
                           {"case_files", s.retention.case_files},
                           {"events_archived", s.retention.events_archived},
                           {"ticket_rows", s.retention.ticket_rows}})
      out += fmt::format("yiban_edge_retention_removed_total{{kind=\"{}\"}} {}\n", kind, n);
    out += runtime::http_metrics_text(server.stats(), "yiban_edge_http");
    res.set_content(out, "text/plain; version=0.0.4");
  });

  server.Get("/api/v1/whoami", [this](const runtime::HttpRequest& req, runtime::HttpResponse& res) {
    auto g = authenticate(req, res);
    if (!g) return;
    auto s = link.snapshot();
    res.set_content(json{{"mode", "hall"}, {"hall", s.hall}, {"name", s.name}, {"role", protocol::to_string(g->role)}}
                        .dump(),
                    "application/json");
  });

  server.Get("/api/v1/hall", [this](const runtime::HttpRequest& req, runtime::HttpResponse& res) {
    if (!authenticate(req, res)) return;
    res.set_content(hall_json().dump(), "application/json");
  });

  server.Get("/api/v1/queues", [this](const runtime::HttpRequest& req, runtime::HttpResponse& res) {
    if (!authenticate(req, res)) return;
    auto s = link.snapshot();
    const std::int64_t now =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    json queues = json::array();
    for (const auto& svc : s.services) {
      const auto& q = svc.queue;
      queues.push_back({{"service", q.service},
                        {"name", q.name},
                        {"enabled", svc.enabled},
                        {"waiting", q.waiting},
                        {"estimated_wait_s", q.estimated_wait_s},
                        {"open_counters", q.open_counters},
                        {"oldest_wait_s", svc.oldest_waiting_ts ? std::max<std::int64_t>(0, (now - *svc.oldest_waiting_ts) / 1000) : 0}});
    }
    res.set_content(json{{"queues", queues}}.dump(), "application/json");
  });

  server.Get("/api/v1/counters", [this](const runtime::HttpRequest& req, runtime::HttpResponse& res) {
    if (!authenticate(req, res)) return;
    auto s = link.snapshot();
    json counters = json::array();
    for (const auto& c : s.counters) {
      json ticket;
      if (c.ticket) ticket = {{"id", *c.ticket}, {"number", c.ticket->substr(c.ticket->rfind(':') + 1)}};
      counters.push_back({{"counter", c.id}, {"name", c.name}, {"state", c.state}, {"services", c.services},
                          {"backup", c.backup}, {"ticket", ticket}});
    }
    res.set_content(json{{"counters", counters}}.dump(), "application/json");
  });

  server.Post(R"(/api/v1/counters/([^/]+)/(open|pause|close))", [this](const runtime::HttpRequest& req,
                                                                      runtime::HttpResponse& res) {
    auto g = authenticate_change(req, res);
    if (!g) return;
    Request r;
    r.action = "counter." + std::string(req.matches[2]);
    r.target = req.matches[1];
    r.by = protocol::holder_of(*g);
    if (!protocol::is_valid_counter_id(r.target)) return send_error(res, 400, "bad_request", "not a valid counter id");
    change(std::move(r), res);
  }).roles({Role::kHallManager, Role::kCentralOperator, Role::kAdmin});

  server.Put(R"(/api/v1/counters/([^/]+)/services)", [this](const runtime::HttpRequest& req, runtime::HttpResponse& res) {
    auto g = authenticate_change(req, res);
    if (!g) return;
    Request r;
    r.action = "counter.services";
    r.target = req.matches[1];
    r.by = protocol::holder_of(*g);
    if (!protocol::is_valid_counter_id(r.target)) return send_error(res, 400, "bad_request", "not a valid counter id");
    auto body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object())
      return send_error(res, 400, "bad_json", "the body must be {\"services\":[…],\"backup\":[…]}");
    for (const auto& [key, value] : body.items()) {
      if (key != "services" && key != "backup") return send_error(res, 400, "bad_request", "unknown field " + key);
      if (!value.is_array()) return send_error(res, 400, "bad_request", key + ": not an array");
      for (const auto& v : value) {
        if (!v.is_string() || !protocol::is_valid_service_code(v.get<std::string>()))
          return send_error(res, 400, "bad_request", key + ": service codes expected");
        (key == "services" ? r.services : r.backup).push_back(v.get<std::string>());
      }
    }
    if (r.services.empty()) return send_error(res, 400, "bad_request", "services: at least one");
    change(std::move(r), res);
  }).roles({Role::kHallManager, Role::kCentralOperator, Role::kAdmin});

  server.Get("/api/v1/tickets", [this](const runtime::HttpRequest& req, runtime::HttpResponse& res) {
    if (!authenticate(req, res)) return;
    std::int64_t limit = 100, after = 0;
    if (req.has_param("limit")) {
      auto v = runtime::parse_count(req.get_param_value("limit"));
      if (!v || *v < 1 || *v > 500) return send_error(res, 400, "bad_request", "limit: an integer from 1 to 500");
      limit = *v;
    }
    if (req.has_param("after")) {
      auto v = runtime::parse_count(req.get_param_value("after"));
      if (!v) return send_error(res, 400, "bad_request", "after: not a non-negative integer");
      after = *v;
    }
    std::string state = req.has_param("state") ? req.get_param_value("state") : "";
    static const std::vector<std::string> kStates{"waiting", "called", "serving", "completed", "no_show", "cancelled"};
    if (!state.empty() && std::find(kStates.begin(), kStates.end(), state) == kStates.end())
      return send_error(res, 400, "bad_request", "state: one of waiting, called, serving, completed, no_show, cancelled");
    std::string number = req.has_param("number") ? req.get_param_value("number") : "";
    if (number.size() > 8 || !std::all_of(number.begin(), number.end(), [](char c) {
          return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        }))
      return send_error(res, 400, "bad_request", "number: a ticket number or its beginning, like A01");
    auto s = link.snapshot();
    json tickets = json::array();
    json next;
    {
      std::lock_guard lock(db_mutex);
      auto st = db.prepare(
          "SELECT rowid, id, number, service, class, state, issued_ts, called_ts, counter, finished_ts, recalls "
          "FROM tickets WHERE day = ?1 AND rowid > ?2 AND (?3 = '' OR state = ?3) AND (?4 = '' OR number LIKE ?4 || '%') "
          "ORDER BY rowid LIMIT ?5");
      if (!st) return send_error(res, 500, "internal", st.error().message);
      st->bind(1, s.business_day).bind(2, after).bind(3, state).bind(4, number).bind(5, limit + 1);
      for (auto row = st->step(); row && *row; row = st->step()) {
        if (static_cast<std::int64_t>(tickets.size()) == limit) {
          next = tickets.back()["rowid"];
          break;
        }
        tickets.push_back({{"rowid", st->column_int(0)},
                           {"id", st->column_text(1)},
                           {"number", st->column_text(2)},
                           {"service", st->column_text(3)},
                           {"class", opt(st->column_optional_text(4))},
                           {"state", st->column_text(5)},
                           {"issued_ts", st->column_int(6)},
                           {"called_ts", opt(st->column_optional_int(7))},
                           {"counter", opt(st->column_optional_text(8))},
                           {"finished_ts", opt(st->column_optional_int(9))},
                           {"recalls", st->column_int(10)}});
      }
    }
    for (auto& t : tickets) t.erase("rowid");
    res.set_content(json{{"tickets", tickets}, {"next_after", next}}.dump(), "application/json");
  });

  server.Get("/api/v1/devices", [this](const runtime::HttpRequest& req, runtime::HttpResponse& res) {
    if (!authenticate(req, res)) return;
    auto s = link.snapshot();
    std::map<std::string, std::tuple<bool, std::optional<std::string>, std::int64_t>> seen;
    {
      std::lock_guard lock(db_mutex);
      if (auto st = db.prepare("SELECT id, online, version, last_seen FROM devices")) {
        for (auto row = st->step(); row && *row; row = st->step())
          seen[st->column_text(0)] = {st->column_int(1) != 0, st->column_optional_text(2), st->column_int(3)};
      }
    }
    json devices = json::array();
    for (const auto& d : s.devices) {
      auto it = seen.find(d.id);
      bool online = it != seen.end() && std::get<0>(it->second);
      devices.push_back({{"device", d.id},
                         {"kind", d.kind},
                         {"counter", opt(d.counter)},
                         {"online", online},
                         {"last_seen", it != seen.end() ? json(std::get<2>(it->second)) : json()},
                         {"version", it != seen.end() ? opt(std::get<1>(it->second)) : json()}});
    }
    res.set_content(json{{"devices", devices}}.dump(), "application/json");
  });

  server.Get("/api/v1/alerts", [this](const runtime::HttpRequest& req, runtime::HttpResponse& res) {
    if (!authenticate(req, res)) return;
    std::string state = req.has_param("state") ? req.get_param_value("state") : "open";
    if (state != "open" && state != "all") return send_error(res, 400, "bad_request", "state: open or all");
    json alerts = json::array();
    {
      std::lock_guard lock(db_mutex);
      auto st = db.prepare(
          "SELECT id, rule, subject, severity, state, message, raised_ts, acked_ts, acked_by, resolved_ts, resolved_by "
          "FROM alerts WHERE (?1 = 'all' OR state != 'resolved') ORDER BY raised_ts DESC LIMIT 500");
      if (!st) return send_error(res, 500, "internal", st.error().message);
      st->bind(1, state);
      for (auto row = st->step(); row && *row; row = st->step())
        alerts.push_back({{"id", st->column_text(0)},
                          {"rule", st->column_text(1)},
                          {"subject", st->column_text(2)},
                          {"severity", st->column_text(3)},
                          {"state", st->column_text(4)},
                          {"message", st->column_text(5)},
                          {"raised_ts", st->column_int(6)},
                          {"acked_ts", opt(st->column_optional_int(7))},
                          {"acked_by", opt(st->column_optional_text(8))},
                          {"resolved_ts", opt(st->column_optional_int(9))},
                          {"resolved_by", opt(st->column_optional_text(10))}});
    }
    res.set_content(json{{"alerts", alerts}}.dump(), "application/json");
  });

  server.Post(R"(/api/v1/alerts/([^/]+)/(ack|resolve))", [this](const runtime::HttpRequest& req, runtime::HttpResponse& res) {
    auto g = authenticate_change(req, res);
    if (!g) return;
    Request r;
    r.action = std::string("alert.") + std::string(req.matches[2]);
    r.target = req.matches[1];
    r.by = protocol::holder_of(*g);
    if (r.target.empty() || r.target.size() > 64) return send_error(res, 400, "bad_request", "not an alert id");
    if (!req.body.empty()) {
      auto body = json::parse(req.body, nullptr, false);
      if (body.is_discarded() || !body.is_object()) return send_error(res, 400, "bad_json", "the body must be {\"comment\":\"…\"}");
      for (const auto& [key, value] : body.items()) {
        if (key != "comment") return send_error(res, 400, "bad_request", "unknown field " + key);
        if (!value.is_string() || value.get<std::string>().size() > 500)
          return send_error(res, 400, "bad_request", "comment: a text of at most 500 bytes");
        r.comment = value.get<std::string>();
      }
    }
    change(std::move(r), res);
  }).roles({Role::kHallManager, Role::kCentralOperator, Role::kAdmin});

  server.Get("/api/v1/catalog", [this](const runtime::HttpRequest& req, runtime::HttpResponse& res) {
    if (!authenticate(req, res)) return;
    std::optional<std::string> text;
    {
      std::lock_guard lock(db_mutex);
      if (auto st = db.prepare("SELECT value FROM meta WHERE key = 'city_catalog'")) {
        if (auto row = st->step(); row && *row) text = st->column_text(0);
      }
    }
    json out{{"version", nullptr}, {"services", json::array()}};
    if (text) {
      if (auto catalog = protocol::parse_city_catalog(*text)) {
        out = json::parse(*text);
        out["version"] = protocol::catalog_version(*catalog);
      }
    }
    res.set_content(out.dump(), "application/json");
  });

  // Appointments (protocol/BOOKINGS.md): walk-up bookings against the hall's seats, and the day's bookings.
  server.Post("/api/v1/bookings", [this](const runtime::HttpRequest& req, runtime::HttpResponse& res) {
    auto g = authenticate_change(req, res);
    if (!g) return;
    Request r;
    r.action = "booking.walk_up";
    r.body = req.body;
    r.by = protocol::holder_of(*g);
    change(std::move(r), res);
  }).roles({Role::kHallManager, Role::kCentralOperator, Role::kAdmin});

  server.Get("/api/v1/bookings", [this](const runtime::HttpRequest& req, runtime::HttpResponse& res) {
    auto g = authenticate(req, res);
    if (!g) return;
    if (g->role == Role::kViewer) return send_error(res, 403, "forbidden", "bookings hold personal data");
    std::int64_t from = 0, to = INT64_MAX;
    if (req.has_param("day")) {
      auto s = link.snapshot();
      auto day = runtime::parse_day(req.get_param_value("day"));
      if (!day) return send_error(res, 400, "bad_request", "day: YYYY-MM-DD");
      std::tm tm{};
      tm.tm_year = *day / 10000 - 1900;
      tm.tm_mon = *day / 100 % 100 - 1;
      tm.tm_mday = *day % 100;
      // The hall's local day: its midnight is UTC midnight less the zone's offset.
      from = static_cast<std::int64_t>(timegm(&tm)) * 1000 - static_cast<std::int64_t>(s.utc_offset_s) * 1000;
      to = from + 86400000;
    }
    json list = json::array();
    {
      std::lock_guard lock(db_mutex);
      auto st = db.prepare(
          "SELECT code, service, slot_start, slot_end, state, ticket, name, special_need, source FROM appointments "
          "WHERE slot_start >= ?1 AND slot_start < ?2 ORDER BY slot_start, code LIMIT 2000");
      if (!st) return send_error(res, 500, "internal", st.error().message);
      st->bind(1, from).bind(2, to);
      for (auto row = st->step(); row && *row; row = st->step()) {
        list.push_back({{"code", st->column_text(0)},
                        {"service", st->column_text(1)},
                        {"slot_start", st->column_int(2)},
                        {"slot_end", st->column_int(3)},
                        {"state", st->column_text(4)},
                        {"ticket", opt(st->column_optional_text(5))},
                        {"name", st->column_text(6)},
                        {"special_need", opt(st->column_optional_text(7))},
                        {"source", st->column_text(8)}});
      }
    }
    res.set_content(json{{"bookings", std::move(list)}}.dump(), "application/json");
  });

  server.Get("/api/v1/stats", [this](const runtime::HttpRequest& req, runtime::HttpResponse& res) {
    if (!authenticate(req, res)) return;
    res.set_content(stats_json().dump(), "application/json");
  });

  server.Get("/api/v1/stream", [this](const runtime::HttpRequest& req, runtime::HttpResponse& res) {
    if (!authenticate(req, res)) return;
    res.stream(hub);
  });
}

}  // namespace yiban::edge::console
