#include "api/http_api.h"

#include "yiban/runtime/http_server.h"
#include "api/case_routes.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <thread>

#include "yiban/protocol/city_catalog.h"
#include "yiban/protocol/ids.h"
#include "yiban/protocol/personal_data.h"

namespace yiban::central::api {
namespace {

using nlohmann::json;
using protocol::Role;

constexpr int kMaxEventsPage = 1000;
constexpr std::size_t kMaxBodyBytes = 64 * 1024;

void send_error(runtime::HttpResponse& res, int status, std::string_view code, std::string_view message) {
  runtime::send_json_error(res, status, code, message);
}

void send_json(runtime::HttpResponse& res, std::string body, int status = 200) {
  res.status = status;
  res.set_content(std::move(body), "application/json");
}

}  // namespace

struct HttpApi::Impl {
  HttpApiOptions options;
  std::unique_ptr<CentralStore> reader;
  std::mutex reader_mutex;  // guards reader (one SQLite connection)
  sync::SyncServer& sync;
  runtime::HttpServer server;
  int port = 0;
  // The dashboards' stream: one feeder reads the halls after each change and
  // publishes only the halls whose row changed; streams hold no thread.
  std::shared_ptr<runtime::SseHub> hub = std::make_shared<runtime::SseHub>();
  std::thread feeder;
  std::mutex catalog_mutex;
  std::string catalog_text;  // guarded by catalog_mutex
  std::mutex rate_mutex;
  std::uint64_t rate_events = 0;  // guarded by rate_mutex
  std::chrono::steady_clock::time_point rate_ts = std::chrono::steady_clock::now();  // guarded by rate_mutex
  double last_rate = 0;  // guarded by rate_mutex

  std::unique_ptr<runtime::BlobStore> blobs;  // case files (null: none kept)

  Impl(HttpApiOptions o, std::unique_ptr<CentralStore> r, sync::SyncServer& s)
      : options(std::move(o)), reader(std::move(r)), sync(s), server(server_options(options)),
        catalog_text(options.catalog_text) {
    if (!options.blob_dir.empty()) {
      if (auto b = runtime::BlobStore::open(options.blob_dir)) blobs = std::make_unique<runtime::BlobStore>(std::move(*b));
    }
  }

  // The caller's grant, or an error response already sent (401).
  std::optional<protocol::TokenGrant> authenticate(const runtime::HttpRequest& req, runtime::HttpResponse& res) {
    return runtime::authenticate(req, res, options.tokens);
  }

  // May this grant see the hall? Sends 403 when not.
  static bool may_read(const protocol::TokenGrant& g, std::string_view hall, runtime::HttpResponse& res) {
    if (g.role != Role::kHallManager || g.hall == hall) return true;
    send_error(res, 403, "forbidden", "this token covers hall " + g.hall + " only");
    return false;
  }

  static bool may_command(const protocol::TokenGrant& g, std::string_view hall, runtime::HttpResponse& res) {
    if (g.role == Role::kCentralOperator || g.role == Role::kAdmin) return true;
    if (g.role == Role::kHallManager && g.hall == hall) {
      send_error(res, 403, "forbidden", "commands for a hall are sent by central operators");
      return false;
    }
    send_error(res, 403, "forbidden", "role " + std::string(protocol::to_string(g.role)) + " cannot send commands");
    return false;
  }

  static runtime::HttpServerOptions server_options(const HttpApiOptions& o) {
    runtime::HttpServerOptions s = o.http;
    s.who = "central";
    s.host = o.host;
    s.port = o.port;
    s.web_dir = o.web_dir;
    s.tokens = &o.tokens;
    s.max_body_bytes = kMaxBodyBytes;
    return s;
  }

  void routes();
  void feed();
  void publish_halls(std::map<std::string, std::string>& sent);
  std::string metrics_text();
};

HttpApi::HttpApi(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpApi::~HttpApi() { stop(); }

protocol::Expected<std::unique_ptr<HttpApi>> HttpApi::create(HttpApiOptions options,
                                                             std::unique_ptr<CentralStore> reader,
                                                             sync::SyncServer& sync) {
  auto impl = std::make_unique<Impl>(std::move(options), std::move(reader), sync);
  impl->routes();
  const auto& o = impl->options;
  auto port = impl->server.listen();
  if (!port) return std::unexpected(port.error());
  impl->port = *port;
  spdlog::info("http: API on {}://{}:{}/api/v1/ ({} tokens)", impl->server.tls() ? "https" : "http", o.host,
               impl->port, o.tokens.size());
  return std::unique_ptr<HttpApi>(new HttpApi(std::move(impl)));
}

int HttpApi::port() const { return impl_->port; }

void HttpApi::start() {
  impl_->server.start();
  impl_->feeder = std::thread([impl = impl_.get()] { impl->feed(); });
}

void HttpApi::stop() {
  if (!impl_) return;
  impl_->sync.close_feeds();
  if (impl_->feeder.joinable()) impl_->feeder.join();
  impl_->hub->close();
  impl_->server.stop();
}

void HttpApi::Impl::feed() {
  hub->set_state("", "event: hello\ndata: {}\n\n", "");
  std::map<std::string, std::string> sent;  // hall → its row as last published, without ages
  std::uint64_t version = sync.wait_for_change(~std::uint64_t{0}, std::chrono::milliseconds(0));
  publish_halls(sent);
  // At most one read of the halls per interval, however many commits and streams.
  constexpr auto kMinInterval = std::chrono::milliseconds(100);
  auto last = std::chrono::steady_clock::now();
  while (!sync.feeds_closed()) {
    std::uint64_t v = sync.wait_for_change(version, std::chrono::seconds(15));
    if (sync.feeds_closed()) break;
    if (v == version) {
      hub->publish("", ": keepalive\n\n");
      continue;
    }
    auto since = std::chrono::steady_clock::now() - last;
    if (since < kMinInterval) std::this_thread::sleep_for(kMinInterval - since);
    version = sync.wait_for_change(~std::uint64_t{0}, std::chrono::milliseconds(0));
    publish_halls(sent);
    last = std::chrono::steady_clock::now();
  }
}

void HttpApi::Impl::publish_halls(std::map<std::string, std::string>& sent) {
  protocol::Expected<std::string> body;
  {
    std::lock_guard lock(reader_mutex);
    body = reader->halls_json();
  }
  if (!body) {
    spdlog::warn("http: the dashboard stream cannot read the halls: {}", body.error().message);
    return;
  }
  auto j = json::parse(*body, nullptr, false);
  if (!j.is_object()) return;
  for (auto& h : j["halls"]) {
    const std::string id = h.value("hall", "");
    // Ages alone (longest wait, last contact) are not a change.
    json key = h;
    key.erase("longest_wait_s");
    key.erase("last_contact_ts");
    std::string k = key.dump();
    auto& last = sent[id];
    if (last == k) continue;
    last = std::move(k);
    std::string text = "event: hall\ndata: " + h.dump() + "\n\n";
    hub->set_state(id, text, text);
  }
}

void HttpApi::Impl::routes() {
  add_case_routes(server, CaseRouteContext{
                              [this](const runtime::HttpRequest& req, runtime::HttpResponse& res) { return authenticate(req, res); },
                              &reader_mutex, reader.get(), &sync, blobs.get()});
  if (options.bookings) {
    options.bookings->add_routes(
        server, [this](const runtime::HttpRequest& req, runtime::HttpResponse& res) { return authenticate(req, res); },
        booking::ReaderAccess{&reader_mutex, reader.get()});
  }

  server.Get("/healthz", [](const runtime::HttpRequest&, runtime::HttpResponse& res) {
    send_json(res, R"({"ok":true})");
  }).open();

  server.Get("/metrics", [this](const runtime::HttpRequest& req, runtime::HttpResponse& res) {
    if (!authenticate(req, res)) return;
    res.set_content(metrics_text() + runtime::http_metrics_text(server.stats(), "yiban_central_http"),
                    "text/plain; version=0.0.4");
  });

  server.Get("/api/v1/halls", [this](const runtime::HttpRequest& req, runtime::HttpResponse& res) {
    auto g = authenticate(req, res);
    if (!g) return;
    protocol::Expected<std::string> body;
    {
      std::lock_guard lock(reader_mutex);
      body = reader->halls_json();
    }
    if (!body) return send_error(res, 500, "internal", body.error().message);
    // Filtering and paging (the list is ordered by hall id): q matches the id
    // or the name, after is the last hall id of the previous page.
    std::string q = req.has_param("q") ? req.get_param_value("q") : "";
    std::string after = req.has_param("after") ? req.get_param_value("after") : "";
    std::int64_t limit = 1000;
    if (req.has_param("limit")) {
      auto v = runtime::parse_count(req.get_param_value("limit"));
      if (!v || *v < 1 || *v > 5000) return send_error(res, 400, "bad_request", "limit: an integer from 1 to 5000");
      limit = *v;
    }
    if (g->role != Role::kHallManager && q.empty() && after.empty() && !req.has_param("limit"))
      return send_json(res, std::move(*body));
    auto j = json::parse(*body);
    json kept = json::array();
    json next;
    for (auto& h : j["halls"]) {
      const std::string id = h.value("hall", "");
      if (g->role == Role::kHallManager && id != g->hall) continue;
      if (!after.empty() && id <= after) continue;
      if (!q.empty() && id.find(q) == std::string::npos && h.value("name", "").find(q) == std::string::npos) continue;
      if (static_cast<std::int64_t>(kept.size()) == limit) {
        next = kept.back()["hall"];
        break;
      }
      kept.push_back(h);
    }
    send_json(res, json{{"halls", kept}, {"next_after", next}}.dump());
  });

  server.Get("/api/v1/catalog", [this](const runtime::HttpRequest& req, runtime::HttpResponse& res) {
    if (!authenticate(req, res)) return;
    std::string text;
    {
      std::lock_guard lock(catalog_mutex);
      text = catalog_text;
    }
    json out{{"version", nullptr}, {"services", json::array()}};
    if (auto catalog = protocol::parse_city_catalog(text)) {
      out = json::parse(text);
      out["version"] = protocol::catalog_version(*catalog);
    }
    send_json(res, out.dump());
  });

  server.Put("/api/v1/catalog", [this](const runtime::HttpRequest& req, runtime::HttpResponse& res) {
    auto g = authenticate(req, res);
    if (!g) return;
    if (g->role != Role::kAdmin) return send_error(res, 403, "forbidden", "only an admin changes the city catalog");
    auto catalog = protocol::parse_city_catalog(req.body);
    if (!catalog) return send_error(res, 400, "bad_request", catalog.error().message);
    const std::string text = protocol::encode_city_catalog(*catalog);
    const std::string version = protocol::catalog_version(*catalog);
    if (!options.catalog_path.empty()) {
      // The file stays the truth: written whole, then renamed over the old one.
      const std::string tmp = options.catalog_path + ".tmp";
      std::ofstream out(tmp, std::ios::trunc);
      out << json::parse(text).dump(2) << "\n";
      out.close();
      if (!out || std::rename(tmp.c_str(), options.catalog_path.c_str()) != 0)
        return send_error(res, 500, "internal", "cannot write the catalog file " + options.catalog_path);
    }
    auto queued = sync.push_catalog(text, version).get();
    if (!queued) return send_error(res, 503, "unavailable", queued.error().message);
    {
      std::lock_guard lock(catalog_mutex);
      catalog_text = text;
    }
    spdlog::info("http: city catalog {} ({} services) set by {}; sent to {} halls", version.substr(0, 12),
                 catalog->services.size(), protocol::holder_of(*g), *queued);
    send_json(res, json{{"version", version}, {"services", catalog->services.size()}, {"halls_queued", *queued}}.dump());
  }).roles({Role::kAdmin});

  server.Get("/api/v1/whoami", [this](const runtime::HttpRequest& req, runtime::HttpResponse& res) {
    auto g = authenticate(req, res);
    if (!g) return;
    json j{{"mode", "city"}, {"role", protocol::to_string(g->role)}};
    if (!g->hall.empty()) j["hall"] = g->hall;
    send_json(res, j.dump());
  });

  server.Get(R"(/api/v1/halls/([^/]+)/series)", [this](const runtime::HttpRequest& req, runtime::HttpResponse& res) {
    auto g = authenticate(req, res);
    if (!g) return;
    const std::string hall = req.matches[1];
    if (!protocol::is_valid_hall_id(hall)) return send_error(res, 400, "bad_request", "not a valid hall id");
    if (!may_read(*g, hall, res)) return;
    int day = 0;
    if (req.has_param("day") && !req.get_param_value("day").empty()) {
      auto d = runtime::parse_day(req.get_param_value("day"));
      if (!d) return send_error(res, 400, "bad_request", "day: a date as YYYY-MM-DD");
      day = *d;
    }
    protocol::Expected<std::optional<std::string>> body;
    {
      std::lock_guard lock(reader_mutex);
      body = reader->hall_series_json(hall, day);
    }
    if (!body) return send_error(res, 500, "internal", body.error().message);
    if (!*body) return send_error(res, 404, "not_found", "hall " + hall + " is unknown to central");
    send_json(res, std::move(**body));
  });

  server.Get("/api/v1/kpi/charts", [this](const runtime::HttpRequest& req, runtime::HttpResponse& res) {
    auto g = authenticate(req, res);
    if (!g) return;
    KpiQuery q;
    if (req.has_param("hall") && !req.get_param_value("hall").empty()) q.hall = req.get_param_value("hall");
    if (g->role == Role::kHallManager) {
      if (q.hall && *q.hall != g->hall) return send_error(res, 403, "forbidden", "this token covers hall " + g->hall);
      q.hall = g->hall;
    }
    for (auto [name, field] : {std::pair{"from", &q.from_day}, std::pair{"to", &q.to_day}}) {
      if (!req.has_param(name) || req.get_param_value(name).empty()) continue;
      auto day = runtime::parse_day(req.get_param_value(name));
      if (!day) return send_error(res, 400, "bad_request", std::string(name) + ": a date as YYYY-MM-DD");
      *field = *day;
    }
    protocol::Expected<std::string> body;
    {
      std::lock_guard lock(reader_mutex);
      body = reader->kpi_charts_json(q);
    }
    if (!body) return send_error(res, 500, "internal", body.error().message);
    send_json(res, std::move(*body));
  });

  server.Post(R"(/api/v1/halls/([^/]+)/alerts/([^/]+)/(ack|resolve))", [this](const runtime::HttpRequest& req,
                                                                              runtime::HttpResponse& res) {
    auto g = authenticate(req, res);
    if (!g) return;
    const std::string hall = req.matches[1];
    const std::string alert = req.matches[2];
    if (!protocol::is_valid_hall_id(hall)) return send_error(res, 400, "bad_request", "not a valid hall id");
    if (!may_command(*g, hall, res)) return;
    json data{{"alert", alert}, {"by", protocol::holder_of(*g)}};
    if (!req.body.empty()) {
      auto body = json::parse(req.body, nullptr, false);
      if (body.is_discarded() || !body.is_object()) return send_error(res, 400, "bad_json", "the body must be {\"comment\":\"…\"}");
      if (auto c = body.find("comment"); c != body.end()) {
        if (!c->is_string()) return send_error(res, 400, "bad_request", "comment: not a string");
        if (!c->get<std::string>().empty()) data["comment"] = *c;
      }
    }
    const std::string type = std::string("alert.") + std::string(req.matches[3]);
    auto queued = sync.enqueue_command(hall, type, data.dump()).get();
    if (!queued) {
      const auto& m = queued.error().message;
      if (m.find("unknown") != std::string::npos) return send_error(res, 404, "not_found", m);
      return send_error(res, 400, "bad_request", m);
    }
    spdlog::info("http: {} of alert {} in hall {} sent down as command {}", type, alert, hall, *queued);
    send_json(res, json{{"hall", hall}, {"alert", alert}, {"down_seq", *queued}, {"state", "queued"}}.dump(), 202);
  }).roles({Role::kCentralOperator, Role::kAdmin});

  server.Get("/api/v1/stream", [this](const runtime::HttpRequest& req, runtime::HttpResponse& res) {
    auto g = authenticate(req, res);
    if (!g) return;
    // A hall manager's stream carries its own hall only.
    res.stream(hub, g->role == Role::kHallManager ? g->hall : "");
  });

  server.Get(R"(/api/v1/halls/([^/]+))", [this](const runtime::HttpRequest& req, runtime::HttpResponse& res) {
    auto g = authenticate(req, res);
    if (!g) return;
    const std::string hall = req.matches[1];
    if (!protocol::is_valid_hall_id(hall)) return send_error(res, 400, "bad_request", "not a valid hall id");
    if (!may_read(*g, hall, res)) return;
    protocol::Expected<std::optional<std::string>> body;
    {
      std::lock_guard lock(reader_mutex);
      body = reader->hall_json(hall);
    }
    if (!body) return send_error(res, 500, "internal", body.error().message);
    if (!*body) return send_error(res, 404, "not_found", "hall " + hall + " is unknown to central");
    send_json(res, std::move(**body));
  });

  server.Get(R"(/api/v1/halls/([^/]+)/events)", [this](const runtime::HttpRequest& req, runtime::HttpResponse& res) {
    auto g = authenticate(req, res);
    if (!g) return;
    const std::string hall = req.matches[1];
    if (!protocol::is_valid_hall_id(hall)) return send_error(res, 400, "bad_request", "not a valid hall id");
    if (!may_read(*g, hall, res)) return;
    std::int64_t after = 0;
    std::int64_t limit = 100;
    if (req.has_param("after")) {
      auto v = runtime::parse_count(req.get_param_value("after"));
      if (!v) return send_error(res, 400, "bad_request", "after: not a non-negative integer");
      after = *v;
    }
    if (req.has_param("limit")) {
      auto v = runtime::parse_count(req.get_param_value("limit"));
      if (!v || *v < 1 || *v > kMaxEventsPage)
        return send_error(res, 400, "bad_request", "limit: an integer from 1 to 1000");
      limit = *v;
    }
    protocol::Expected<std::vector<std::string>> events;
    protocol::Expected<std::optional<std::string>> known;
    {
      std::lock_guard lock(reader_mutex);
      known = reader->hall_json(hall);
      events = reader->events_after(hall, after, static_cast<int>(limit));
    }
    if (!events || !known) return send_error(res, 500, "internal", "reading events failed");
    if (!*known) return send_error(res, 404, "not_found", "hall " + hall + " is unknown to central");
    // Every read is audited (issue 15), like a case view: no record, no events.
    auto recorded = sync.record_case_access("events:" + hall, "central:" + protocol::holder_of(*g),
                                            "events after=" + std::to_string(after) + " limit=" + std::to_string(limit),
                                            "")
                        .get();
    if (!recorded)
      return send_error(res, 503, "unavailable", "the read could not be audited, so it is not served: " +
                                                     recorded.error().message);
    // Events are passed on exactly as stored, never re-serialised, except an
    // old event (before issue 15) carrying a citizen's data in clear: that one
    // is re-written without it and marked "redacted":true.
    std::string body = R"({"hall":")" + hall + R"(","events":[)";
    for (std::size_t i = 0; i < events->size(); ++i) {
      if (i) body += ',';
      if (auto redacted = protocol::redact_personal((*events)[i])) body += *redacted;
      else body += (*events)[i];
    }
    std::int64_t next = events->empty() ? after : after + static_cast<std::int64_t>(events->size());
    body += "],\"next_after\":" + std::to_string(next) + "}";
    send_json(res, std::move(body));
  }).roles({Role::kCentralOperator, Role::kAdmin});

  server.Get("/api/v1/kpi", [this](const runtime::HttpRequest& req, runtime::HttpResponse& res) {
    auto g = authenticate(req, res);
    if (!g) return;
    KpiQuery q;
    if (req.has_param("hall") && !req.get_param_value("hall").empty()) {
      q.hall = req.get_param_value("hall");
      if (!protocol::is_valid_hall_id(*q.hall)) return send_error(res, 400, "bad_request", "hall: not a valid id");
    }
    if (g->role == Role::kHallManager) {
      if (q.hall && *q.hall != g->hall) return send_error(res, 403, "forbidden", "this token covers hall " + g->hall);
      q.hall = g->hall;
    }
    if (req.has_param("service") && !req.get_param_value("service").empty()) {
      q.service = req.get_param_value("service");
      if (!protocol::is_valid_service_code(*q.service))
        return send_error(res, 400, "bad_request", "service: not a valid service code");
    }
    for (auto [name, field] : {std::pair{"from", &q.from_day}, std::pair{"to", &q.to_day}}) {
      if (!req.has_param(name) || req.get_param_value(name).empty()) continue;
      auto day = runtime::parse_day(req.get_param_value(name));
      if (!day) return send_error(res, 400, "bad_request", std::string(name) + ": a date as YYYY-MM-DD");
      *field = *day;
    }
    if (q.from_day && q.to_day && q.from_day > q.to_day)
      return send_error(res, 400, "bad_request", "from is after to");
    protocol::Expected<std::string> body;
    {
      std::lock_guard lock(reader_mutex);
      body = reader->kpi_json(q);
    }
    if (!body) return send_error(res, 500, "internal", body.error().message);
    send_json(res, std::move(*body));
  });

  server.Get("/api/v1/alerts", [this](const runtime::HttpRequest& req, runtime::HttpResponse& res) {
    auto g = authenticate(req, res);
    if (!g) return;
    std::optional<std::string> hall;
    if (req.has_param("hall") && !req.get_param_value("hall").empty()) hall = req.get_param_value("hall");
    if (g->role == Role::kHallManager) {
      if (hall && *hall != g->hall) return send_error(res, 403, "forbidden", "this token covers hall " + g->hall);
      hall = g->hall;
    }
    protocol::Expected<std::string> body;
    {
      std::lock_guard lock(reader_mutex);
      body = hall ? reader->alerts_json(std::string_view(*hall)) : reader->alerts_json(std::nullopt);
    }
    if (!body) return send_error(res, 500, "internal", body.error().message);
    send_json(res, std::move(*body));
  });

  server.Post(R"(/api/v1/halls/([^/]+)/commands)", [this](const runtime::HttpRequest& req, runtime::HttpResponse& res) {
    auto g = authenticate(req, res);
    if (!g) return;
    const std::string hall = req.matches[1];
    if (!protocol::is_valid_hall_id(hall)) return send_error(res, 400, "bad_request", "not a valid hall id");
    if (!may_command(*g, hall, res)) return;
    auto body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object())
      return send_error(res, 400, "bad_json", "the body must be a JSON object {\"type\",\"data\"}");
    auto type = body.find("type");
    auto data = body.find("data");
    if (type == body.end() || !type->is_string()) return send_error(res, 400, "bad_request", "type: missing");
    if (data == body.end() || !data->is_object()) return send_error(res, 400, "bad_request", "data: not an object");
    for (const auto& [key, value] : body.items()) {
      if (key != "type" && key != "data") return send_error(res, 400, "bad_request", "unknown field " + key);
    }
    const std::string& type_text = type->get_ref<const std::string&>();
    if (type_text.starts_with("case.") || type_text.starts_with("booking.") || type_text == "catalog.set")
      return send_error(res, 400, "bad_request",
                        type_text + " commands are sent by central itself (case routing, PUT /api/v1/catalog)");
    auto queued = sync.enqueue_command(hall, type->get<std::string>(), data->dump()).get();
    if (!queued) {
      const auto& m = queued.error().message;
      if (m.find("unknown") != std::string::npos && m.find("hall") != std::string::npos)
        return send_error(res, 404, "not_found", m);
      if (m.find("store") != std::string::npos || m.find("stopping") != std::string::npos)
        return send_error(res, 503, "unavailable", m);
      return send_error(res, 400, "bad_request", m);
    }
    spdlog::info("http: command {} for hall {} ({}) queued by a {} token", *queued, hall, type->get<std::string>(),
                 protocol::to_string(g->role));
    send_json(res, json{{"hall", hall}, {"down_seq", *queued}, {"state", "queued"}}.dump(), 202);
  }).roles({Role::kCentralOperator, Role::kAdmin});

  server.Post(R"(/api/v1/halls/([^/]+)/integrity/clear)", [this](const runtime::HttpRequest& req,
                                                                  runtime::HttpResponse& res) {
    auto g = authenticate(req, res);
    if (!g) return;
    const std::string hall = req.matches[1];
    if (!protocol::is_valid_hall_id(hall)) return send_error(res, 400, "bad_request", "not a valid hall id");
    if (g->role != Role::kAdmin) return send_error(res, 403, "forbidden", "only an admin clears an integrity mark");
    auto done = sync.clear_integrity(hall, "admin").get();
    if (!done) {
      if (done.error().message.find("unknown") != std::string::npos)
        return send_error(res, 404, "not_found", done.error().message);
      return send_error(res, 503, "unavailable", done.error().message);
    }
    send_json(res, json{{"hall", hall}, {"integrity", "ok"}}.dump());
  }).roles({Role::kAdmin});

  server.Post(R"(/api/v1/halls/([^/]+)/accept-store)", [this](const runtime::HttpRequest& req, runtime::HttpResponse& res) {
    auto g = authenticate(req, res);
    if (!g) return;
    const std::string hall = req.matches[1];
    if (!protocol::is_valid_hall_id(hall)) return send_error(res, 400, "bad_request", "not a valid hall id");
    if (g->role != Role::kAdmin) return send_error(res, 403, "forbidden", "only an admin accepts a hall's new store");
    auto done = sync.accept_store(hall, "central:" + protocol::holder_of(*g)).get();
    if (!done) {
      const auto& m = done.error().message;
      if (m.find("unknown") != std::string::npos) return send_error(res, 404, "not_found", m);
      if (m.find("no refused") != std::string::npos) return send_error(res, 409, "conflict", m);
      return send_error(res, 503, "unavailable", m);
    }
    spdlog::warn("http: admin accepted store {} for hall {}", *done, hall);
    send_json(res, json{{"hall", hall}, {"store", *done}, {"state", "accepted"}}.dump());
  }).roles({Role::kAdmin});

}

std::string HttpApi::Impl::metrics_text() {
  auto m = sync.metrics();
  double rate;
  {
    std::lock_guard lock(rate_mutex);
    auto now = std::chrono::steady_clock::now();
    double seconds = std::chrono::duration<double>(now - rate_ts).count();
    if (seconds >= 1.0) {
      last_rate = static_cast<double>(m.events_ingested - rate_events) / seconds;
      rate_events = m.events_ingested;
      rate_ts = now;
    }
    rate = last_rate;
  }
  std::string out;
  auto counter = [&](const char* name, const char* help, std::uint64_t value) {
    out += fmt::format("# HELP {0} {1}\n# TYPE {0} counter\n{0} {2}\n", name, help, value);
  };
  counter("yiban_central_events_ingested_total", "Events stored from all halls.", m.events_ingested);
  counter("yiban_central_batches_total", "EVENTS batches stored.", m.batches);
  counter("yiban_central_commits_total", "Store commits (each groups many batches).", m.commits);
  counter("yiban_central_sync_errors_sent_total", "ERROR replies sent to halls.", m.errors_sent);
  counter("yiban_central_sync_store_changed_total", "HELLOs refused because the hall's store changed (store_changed).",
          m.store_changed_refused);
  counter("yiban_central_sync_commands_lost_total",
          "Commands halls had applied that this central's store no longer holds (told by their sync.rebased events).",
          m.commands_lost);
  out += "# HELP yiban_central_retention_removed_total Rows central's retention removed (central keeps every event).\n"
         "# TYPE yiban_central_retention_removed_total counter\n";
  out += fmt::format("yiban_central_retention_removed_total{{kind=\"commands\"}} {}\n", m.retention_commands);
  out += fmt::format("yiban_central_retention_removed_total{{kind=\"notifications\"}} {}\n", m.retention_outbox);
  out += fmt::format("yiban_central_retention_removed_total{{kind=\"tickets\"}} {}\n", m.retention_tickets);
  counter("yiban_central_sync_log_events_served_total", "Events sent back to halls whose store was behind (LOG).",
          m.log_events_served);
  counter("yiban_central_refused_connections_total", "Connections refused by the allow-list.",
          m.refused_connections);
  counter("yiban_central_case_files_received_total", "Case files fetched from halls and verified.", m.files_received);
  counter("yiban_central_case_chunks_served_total", "Case file chunks sent to halls.", m.chunks_served);
  counter("yiban_central_case_bad_chunks_total", "Damaged case file chunks refused (asked again).", m.bad_chunks);
  counter("yiban_central_cases_routed_total", "Case steps forwarded to the other hall.", m.cases_routed);
  out += "# HELP yiban_central_sync_refused_total Messages from halls refused, by limit.\n"
         "# TYPE yiban_central_sync_refused_total counter\n";
  for (auto [reason, value] : {std::pair{"message_frames", m.refused_message_frames},
                               std::pair{"message_bytes", m.refused_message_bytes},
                               std::pair{"events_in_flight", m.refused_events_in_flight},
                               std::pair{"blob_get_rate", m.refused_blob_gets},
                               std::pair{"blob_bytes_rate", m.refused_blob_bytes},
                               std::pair{"blob_denied", m.refused_blob_denied}})
    out += fmt::format("yiban_central_sync_refused_total{{reason=\"{}\"}} {}\n", reason, value);
  counter("yiban_central_sync_send_queue_full_total",
          "Halls disconnected because their send queue was full (not reading).", m.send_queue_full);
  counter("yiban_central_sync_replies_dropped_total", "Replies to halls not sent (queue full or connection gone).",
          m.replies_dropped);
  out += fmt::format(
      "# HELP yiban_central_ingest_rate_events_per_second Events stored per second since the previous scrape.\n"
      "# TYPE yiban_central_ingest_rate_events_per_second gauge\nyiban_central_ingest_rate_events_per_second {:.1f}\n",
      rate);
  auto per_hall = [&](const char* name, const char* help, auto value_of) {
    out += fmt::format("# HELP {0} {1}\n# TYPE {0} gauge\n", name, help);
    for (const auto& h : m.halls) out += fmt::format("{}{{hall=\"{}\"}} {}\n", name, h.hall, value_of(h));
  };
  using H = sync::SyncMetrics::Hall;
  per_hall("yiban_central_hall_connected", "1 while the hall's sync link is up.",
           [](const H& h) { return h.connected ? 1 : 0; });
  per_hall("yiban_central_hall_lag_events", "Events the hall has that central has not stored.",
           [](const H& h) { return std::max<std::int64_t>(0, h.edge_last_seq - h.acked); });
  per_hall("yiban_central_hall_acked_seq", "Highest event seq stored for the hall.",
           [](const H& h) { return h.acked; });
  per_hall("yiban_central_hall_commands_pending", "Commands queued for the hall and not yet applied.",
           [](const H& h) { return h.down_pending; });
  per_hall("yiban_central_hall_integrity_ok", "0 when the hall's log failed verification.",
           [](const H& h) { return h.integrity_ok ? 1 : 0; });
  if (options.bookings) out += options.bookings->metrics_text();
  return out;
}

}  // namespace yiban::central::api
