#include "yiban/runtime/http_server.h"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <regex>
#include <spdlog/spdlog.h>
#include <sstream>
#include <thread>
#include <unordered_map>

namespace yiban::runtime {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

constexpr std::string_view kReferrerPolicy = "no-referrer";
// The dashboard and console load their own scripts and styles only; ECharts
// draws on canvas and sets styles from script; downloads go through blob: URLs.
constexpr std::string_view kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'";
constexpr std::size_t kMaxStaticFileBytes = 16 * 1024 * 1024;
constexpr std::size_t kMaxStaticTotalBytes = 48 * 1024 * 1024;
constexpr std::string_view kRefusedResponse =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: 86\r\n\r\n"
    "{\"error\":{\"code\":\"busy\",\"message\":\"too many connections; try again in a moment\"}}\n";

std::string lower(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding (and '+' as space in a query); nothing when a NUL or a
// malformed escape appears.
std::optional<std::string> url_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      int hi = hex_value(text[i + 1]), lo = hex_value(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      c = ' ';
    }
    if (c == '\0') return std::nullopt;
    out += c;
  }
  return out;
}

std::string error_body(std::string_view code, std::string_view message) {
  return nlohmann::json{{"error", {{"code", code}, {"message", message}}}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string content_type_for(const std::filesystem::path& path) {
  const std::string ext = lower(path.extension().string());
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".json") return "application/json";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".woff2") return "font/woff2";
  if (ext == ".txt") return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

struct StaticFile {
  std::string content_type;
  std::string body;
  std::string etag;
};

// web_dir/files.txt: one path per line, relative to web_dir ("#" comments).
protocol::Expected<std::unordered_map<std::string, StaticFile>> load_static_files(const std::string& web_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(web_dir, ec)) return protocol::error("web dir " + web_dir + " is not a directory");
  const fs::path list = fs::path(web_dir) / "files.txt";
  std::ifstream in(list);
  if (!in) return protocol::error("web dir " + web_dir + " has no files.txt (the list of files it serves)");
  std::unordered_map<std::string, StaticFile> files;
  std::size_t total = 0;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    const std::string where = list.string() + " line " + std::to_string(number);
    fs::path rel(line);
    if (rel.is_absolute() || line.find("..") != std::string::npos || line.find('\\') != std::string::npos)
      return protocol::error(where + ": " + line + " must be a relative path inside the web dir");
    const fs::path full = fs::path(web_dir) / rel;
    if (!fs::is_regular_file(full, ec)) return protocol::error(where + ": " + full.string() + " is not a file");
    auto size = fs::file_size(full, ec);
    if (ec || size > kMaxStaticFileBytes)
      return protocol::error(where + ": " + full.string() + " is larger than 16 MiB");
    total += size;
    if (total > kMaxStaticTotalBytes) return protocol::error(list.string() + ": the files add up to more than 48 MiB");
    std::ifstream file(full, std::ios::binary);
    std::string body((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    if (!file && !file.eof()) return protocol::error("cannot read " + full.string());
    std::uint64_t h = 1469598103934665603ull;  // FNV-1a: a validator, not a digest
    for (unsigned char c : body) h = (h ^ c) * 1099511628211ull;
    char etag[24];
    std::snprintf(etag, sizeof etag, "\"%016llx\"", static_cast<unsigned long long>(h));
    files.emplace("/" + rel.generic_string(), StaticFile{content_type_for(rel), std::move(body), etag});
  }
  if (files.contains("/index.html")) files.emplace("/", files.at("/index.html"));
  return files;
}

// Handler threads: a fixed pool with a bounded queue.
class WorkerPool {
 public:
  WorkerPool(int threads, std::size_t max_queue) : max_queue_(max_queue) {
    for (int i = 0; i < std::max(1, threads); ++i) threads_.emplace_back([this] { run(); });
  }
  ~WorkerPool() { stop(); }

  // False when the queue is full or the pool stopped.
  bool submit(std::function<void()> task) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_ || queue_.size() >= max_queue_) return false;
      queue_.push_back(std::move(task));
    }
    cv_.notify_one();
    return true;
  }

  // Runs what is queued, then joins.
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
    threads_.clear();
  }

 private:
  void run() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();
    }
  }

  const std::size_t max_queue_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // guarded by mutex_
  bool stopping_ = false;                    // guarded by mutex_
  std::vector<std::thread> threads_;
};

}  // namespace

// ---- request and response ----

bool HttpRequest::has_param(std::string_view name) const { return params.find(std::string(name)) != params.end(); }

std::string HttpRequest::get_param_value(std::string_view name) const {
  auto it = params.find(std::string(name));
  return it == params.end() ? std::string() : it->second;
}

bool HttpRequest::has_header(std::string_view name) const {
  const std::string key = lower(name);
  return std::any_of(headers.begin(), headers.end(), [&](const auto& h) { return h.first == key; });
}

std::string HttpRequest::get_header_value(std::string_view name) const {
  const std::string key = lower(name);
  for (const auto& [k, v] : headers)
    if (k == key) return v;
  return {};
}

void HttpResponse::set_content(std::string content, std::string_view content_type) {
  body = std::move(content);
  set_header("Content-Type", content_type);
}

void HttpResponse::set_header(std::string_view name, std::string_view value) {
  for (auto& [k, v] : headers) {
    if (lower(k) == lower(name)) {
      v = std::string(value);
      return;
    }
  }
  headers.emplace_back(std::string(name), std::string(value));
}

void HttpResponse::stream(std::shared_ptr<SseHub> hub, std::string topic) {
  sse_hub = std::move(hub);
  sse_topic = std::move(topic);
}

// ---- shared conventions ----

void send_json_error(HttpResponse& res, int status, std::string_view code, std::string_view message) {
  res.status = status;
  res.set_content(error_body(code, message), "application/json");
}

std::optional<protocol::TokenGrant> authenticate(const HttpRequest& req, HttpResponse& res,
                                                 const protocol::TokenTable& tokens) {
  if (req.grant) return req.grant;
  auto header = req.get_header_value("Authorization");
  constexpr std::string_view kBearer = "Bearer ";
  if (header.size() <= kBearer.size() || header.compare(0, kBearer.size(), kBearer) != 0) {
    send_json_error(res, 401, "unauthorized", "a bearer token is required (Authorization: Bearer TOKEN)");
    return std::nullopt;
  }
  auto grant = tokens.find(std::string_view(header).substr(kBearer.size()));
  if (!grant) {
    send_json_error(res, 401, "unauthorized", "unknown token");
    return std::nullopt;
  }
  return grant;
}

std::optional<std::int64_t> parse_count(std::string_view text) {
  if (text.empty() || text.size() > 18) return std::nullopt;
  std::int64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

std::optional<std::string> parse_page(const HttpRequest& req, Page& page, int max_limit) {
  if (req.has_param("limit")) {
    auto v = parse_count(req.get_param_value("limit"));
    if (!v || *v == 0 || *v > max_limit) return "limit: 1–" + std::to_string(max_limit);
    page.limit = static_cast<int>(*v);
  }
  if (req.has_param("offset")) {
    auto v = parse_count(req.get_param_value("offset"));
    if (!v || *v > 100000000) return std::string("offset: a count up to 100,000,000");
    page.offset = static_cast<int>(*v);
  }
  return std::nullopt;
}

std::optional<int> parse_day(std::string_view text) {
  std::string digits;
  for (char c : text) {
    if (c == '-') continue;
    if (c < '0' || c > '9') return std::nullopt;
    digits += c;
  }
  if (digits.size() != 8) return std::nullopt;
  if (text.size() == 10 && (text[4] != '-' || text[7] != '-')) return std::nullopt;
  if (text.size() != 8 && text.size() != 10) return std::nullopt;
  int day = std::stoi(digits);
  int month = day / 100 % 100;
  int dom = day % 100;
  if (month < 1 || month > 12 || dom < 1 || dom > 31) return std::nullopt;
  return day;
}

std::string attachment_disposition(std::string_view file_name) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string encoded;
  for (unsigned char c : file_name) {
    if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '.' || c == '-' ||
        c == '_') {
      encoded += static_cast<char>(c);
    } else {
      encoded += '%';
      encoded += kHex[c >> 4];
      encoded += kHex[c & 15];
    }
  }
  return "attachment; filename*=UTF-8''" + encoded;
}

// ---- SSE hub ----

namespace {
bool topic_matches(const std::string& subscriber, const std::string& topic) {
  return subscriber.empty() || topic.empty() || subscriber == topic;
}
}  // namespace

void SseHub::send_locked(const std::string& topic, const std::shared_ptr<const std::string>& text) {
  std::size_t live = 0;
  for (auto& [weak, filter] : subscribers_) {
    auto sink = weak.lock();
    if (!sink) continue;
    subscribers_[live++] = {weak, filter};
    if (topic_matches(filter, topic)) sink->deliver(text);
  }
  subscribers_.resize(live);
}

void SseHub::set_state(const std::string& topic, std::string state, std::string_view broadcast) {
  std::lock_guard lock(mutex_);
  state_[topic] = std::move(state);
  if (!broadcast.empty()) send_locked(topic, std::make_shared<const std::string>(broadcast));
}

void SseHub::publish(const std::string& topic, std::string_view text) {
  if (text.empty()) return;
  std::lock_guard lock(mutex_);
  send_locked(topic, std::make_shared<const std::string>(text));
}

void SseHub::subscribe(const std::shared_ptr<Sink>& sink, const std::string& topic) {
  std::unique_lock lock(mutex_);
  if (closed_) {
    lock.unlock();
    sink->finish();
    return;
  }
  std::string initial;
  for (const auto& [t, text] : state_)
    if (topic_matches(topic, t)) initial += text;
  if (!initial.empty()) sink->deliver(std::make_shared<const std::string>(std::move(initial)));
  subscribers_.emplace_back(sink, topic);
}

void SseHub::close() {
  std::vector<std::shared_ptr<Sink>> sinks;
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
    for (auto& [weak, filter] : subscribers_)
      if (auto s = weak.lock()) sinks.push_back(std::move(s));
    subscribers_.clear();
  }
  for (auto& s : sinks) s->finish();
}

bool SseHub::closed() const {
  std::lock_guard lock(mutex_);
  return closed_;
}

std::size_t SseHub::subscribers() const {
  std::lock_guard lock(mutex_);
  return static_cast<std::size_t>(
      std::count_if(subscribers_.begin(), subscribers_.end(), [](const auto& s) { return !s.first.expired(); }));
}

// ---- the server ----

struct HttpServer::Route::Matcher {
  std::regex regex;
};

namespace {

struct SessionBase {
  virtual ~SessionBase() = default;
  virtual void shutdown() = 0;  // any thread
};

}  // namespace

struct HttpServer::Impl {
  explicit Impl(HttpServerOptions o) : options(std::move(o)) {}

  HttpServerOptions options;
  std::deque<Route> routes;  // stable addresses; fixed once listening
  std::unordered_map<std::string, StaticFile> files;
  net::io_context ioc{std::max(1, options.io_threads)};
  std::optional<ssl::context> tls;
  tcp::acceptor acceptor{ioc};
  net::steady_timer accept_retry{ioc};
  std::unique_ptr<WorkerPool> pool;
  std::vector<std::thread> io_threads;
  int port = 0;
  std::atomic<bool> stopping{false};
  bool started = false;

  struct Counters {
    std::atomic<std::uint64_t> connections_open{0}, connections_refused{0}, requests{0}, refused_headers{0},
        refused_bodies{0}, unauthorized{0}, timeouts{0}, busy{0}, streams_open{0}, streams_dropped{0};
  } counters;

  std::mutex sessions_mutex;
  std::unordered_map<SessionBase*, std::weak_ptr<SessionBase>> sessions;  // guarded by sessions_mutex
  std::unordered_map<std::string, int> per_peer;                          // guarded by sessions_mutex
  std::chrono::steady_clock::time_point last_refusal_log;                 // guarded by sessions_mutex

  void do_accept();
  void on_accept(beast::error_code ec, tcp::socket socket);
  // Admits a connection from `peer` under the limits (counted until release()).
  bool admit(const std::string& peer);
  void release(SessionBase* session, const std::string& peer);
  void add_session(const std::shared_ptr<SessionBase>& s) {
    std::lock_guard lock(sessions_mutex);
    sessions[s.get()] = s;
  }

  const Route* find_route(const std::string& method, const std::string& path, std::vector<std::string>& matches,
                          bool& path_known) const {
    for (const auto& r : routes) {
      std::smatch m;
      if (!std::regex_match(path, m, r.matcher_->regex)) continue;
      path_known = true;
      if (r.method_ != method) continue;
      matches.clear();
      for (const auto& g : m) matches.push_back(g.str());
      return &r;
    }
    return nullptr;
  }
};

namespace {

bool is_timeout(const beast::error_code& ec) { return ec == beast::error::timeout; }

// One connection: reads requests one at a time (header, checks, body), hands
// each to a worker, writes the answer; or becomes an SSE stream. Everything
// runs on the connection's strand.
template <class Stream>
class Session : public SessionBase,
                public SseHub::Sink,
                public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(HttpServer::Impl& server, Stream&& stream, std::string peer)
      : server_(server), stream_(std::move(stream)), peer_(std::move(peer)), timer_(stream_.get_executor()) {}

  ~Session() override { server_.release(this, peer_); }

  void run() {
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      read_header();
    } else {
      beast::get_lowest_layer(stream_).expires_after(server_.options.header_timeout);
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (ec) {
                                  if (is_timeout(ec)) ++self->server_.counters.timeouts;
                                  spdlog::debug("http: TLS handshake with {} failed: {}", self->peer_, ec.message());
                                  return self->close();
                                }
                                self->read_header();
                              });
    }
  }

  void shutdown() override {
    net::post(stream_.get_executor(), [self = this->shared_from_this()] {
      self->closing_ = true;
      if (!self->busy_) self->close();
    });
  }

  void deliver(std::shared_ptr<const std::string> text) override {
    net::post(stream_.get_executor(), [self = this->shared_from_this(), text = std::move(text)] {
      if (self->closed_) return;
      self->pending_bytes_ += text->size();
      self->pending_.push_back(text);
      // The first delivery is the hub's state (every hall's row at a large
      // central): it is owed whole; the cap applies to what follows.
      const bool initial = !self->delivered_;
      self->delivered_ = true;
      if (!initial && self->pending_bytes_ > self->server_.options.sse_max_pending_bytes) {
        ++self->server_.counters.streams_dropped;
        spdlog::info("http: event stream to {} dropped: {} bytes behind (limit {})", self->peer_,
                     self->pending_bytes_, self->server_.options.sse_max_pending_bytes);
        return self->close();
      }
      if (!self->writing_) self->write_stream();
    });
  }

  void finish() override {
    net::post(stream_.get_executor(), [self = this->shared_from_this()] {
      if (self->closed_) return;
      self->finishing_ = true;
      if (!self->writing_) self->write_stream();
    });
  }

 private:
  void read_header() {
    if (closing_ || server_.stopping) return close();
    busy_ = false;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_.options.max_header_bytes));
    // The body's cap is the route's, set once the route is known (a
    // Content-Length over it is refused before reading).
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    beast::get_lowest_layer(stream_).expires_after(first_ ? server_.options.header_timeout
                                                          : server_.options.idle_timeout);
    first_ = false;
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                              self->on_header(ec);
                            });
  }

  void on_header(beast::error_code ec) {
    busy_ = true;
    if (ec == http::error::end_of_stream || ec == net::error::eof || ec == net::error::operation_aborted ||
        ec == net::error::connection_reset)
      return close();
    if (is_timeout(ec)) {
      ++server_.counters.timeouts;
      spdlog::debug("http: {} sent no complete request in time; closed", peer_);
      return close();
    }
    if (ec == http::error::header_limit) {
      ++server_.counters.refused_headers;
      return refuse(431, "headers_too_large",
                    "request line and headers over " + std::to_string(server_.options.max_header_bytes / 1024) +
                        " KiB");
    }
    if (ec) return refuse(400, "bad_request", "malformed HTTP request: " + ec.message());
    ++server_.counters.requests;
    auto& h = parser_->get();
    if (std::distance(h.begin(), h.end()) > server_.options.max_headers) {
      ++server_.counters.refused_headers;
      return refuse(431, "headers_too_large", "more than " + std::to_string(server_.options.max_headers) + " headers");
    }
    keep_alive_ = h.keep_alive();
    version_ = h.version();

    req_ = HttpRequest{};
    req_.method = std::string(h.method_string());
    req_.remote_addr = peer_;
    for (const auto& f : h) req_.headers.emplace_back(lower(f.name_string()), std::string(f.value()));
    std::string_view target = h.target();
    req_.target = std::string(target);
    std::string_view raw_path = target.substr(0, target.find('?'));
    auto path = url_decode(raw_path, false);
    if (!path || path->empty() || (*path)[0] != '/') return refuse(400, "bad_request", "malformed request path");
    req_.path = std::move(*path);
    if (auto q = target.find('?'); q != std::string_view::npos) {
      std::string_view query = target.substr(q + 1);
      while (!query.empty()) {
        auto amp = query.find('&');
        std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        if (pair.empty()) continue;
        auto eq = pair.find('=');
        auto key = url_decode(pair.substr(0, eq), true);
        auto value = url_decode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1), true);
        if (!key || !value) return refuse(400, "bad_request", "malformed query string");
        req_.params.emplace(std::move(*key), std::move(*value));
      }
    }

    bool path_known = false;
    route_ = server_.find_route(req_.method, req_.path, req_.matches, path_known);
    const bool has_body = !parser_->is_done();
    if (!route_) {
      if (req_.method == "GET" && !has_body) {
        if (auto f = server_.files.find(req_.path); f != server_.files.end()) return serve_file(f->second);
      }
      if (path_known) return refuse(405, "method_not_allowed", req_.method + " is not allowed on " + req_.path);
      return refuse(404, "not_found", "no such path");
    }

    if (!route_->open_) {
      HttpResponse res;
      const protocol::TokenTable empty;
      auto grant = authenticate(req_, res, server_.options.tokens ? *server_.options.tokens : empty);
      if (!grant) {
        ++server_.counters.unauthorized;
        return refuse(res.status, "unauthorized", res.body, true);
      }
      if (!route_->roles_.empty() &&
          std::find(route_->roles_.begin(), route_->roles_.end(), grant->role) == route_->roles_.end()) {
        ++server_.counters.unauthorized;
        std::string allowed;
        for (auto r : route_->roles_) allowed += (allowed.empty() ? "" : ", ") + std::string(protocol::to_string(r));
        return refuse(403, "forbidden",
                      "role " + std::string(protocol::to_string(grant->role)) + " may not " + req_.method + " " +
                          req_.path + " (allowed: " + allowed + ")");
      }
      if (server_.options.admit) {
        if (auto refusal = server_.options.admit(*grant)) {
          ++server_.counters.unauthorized;
          return refuse(403, "forbidden", *refusal);
        }
      }
      req_.grant = std::move(grant);
    }

    if (auto enc = h[http::field::content_encoding]; !enc.empty() && lower(enc) != "identity") {
      ++server_.counters.refused_bodies;
      return refuse(415, "unsupported_encoding", "compressed request bodies are not accepted");
    }
    const std::size_t limit = route_->max_body_.value_or(server_.options.max_body_bytes);
    if (auto length = parser_->content_length(); length && *length > limit) {
      ++server_.counters.refused_bodies;
      return refuse(413, "too_large", "body larger than " + std::to_string(limit / 1024) + " KiB");
    }
    if (!has_body) return dispatch();
    parser_->body_limit(limit);
    body_limit_ = limit;
    if (lower(h[http::field::expect]) == "100-continue") {
      auto cont = std::make_shared<std::string>("HTTP/1.1 100 Continue\r\n\r\n");
      beast::get_lowest_layer(stream_).expires_after(server_.options.write_timeout);
      net::async_write(stream_, net::buffer(*cont),
                       [self = this->shared_from_this(), cont](beast::error_code wec, std::size_t) {
                         if (wec) return self->close();
                         self->read_body();
                       });
      return;
    }
    read_body();
  }

  void read_body() {
    beast::get_lowest_layer(stream_).expires_after(server_.options.body_timeout);
    http::async_read(stream_, buffer_, *parser_, [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec == http::error::body_limit) {
        ++self->server_.counters.refused_bodies;
        return self->refuse(413, "too_large", "body larger than " + std::to_string(self->body_limit_ / 1024) + " KiB");
      }
      if (is_timeout(ec)) {
        ++self->server_.counters.timeouts;
        spdlog::debug("http: {} did not send its body in time; closed", self->peer_);
        return self->close();
      }
      if (ec) return self->close();
      self->req_.body = std::move(self->parser_->get().body());
      self->dispatch();
    });
  }

  void dispatch() {
    beast::get_lowest_layer(stream_).expires_never();
    auto self = this->shared_from_this();
    const HttpServer::Route* route = route_;
    auto request = std::make_shared<HttpRequest>(std::move(req_));
    const std::string who = server_.options.who;
    bool queued = server_.pool->submit([self, route, request, who] {
      auto res = std::make_shared<HttpResponse>();
      try {
        route->handler_(*request, *res);
      } catch (const std::exception& e) {
        spdlog::error("{}: {} {} failed: {}", who, request->method, request->path, e.what());
        *res = HttpResponse{};
        send_json_error(*res, 500, "internal", "the request failed inside " + who);
      }
      if (res->status >= 500) spdlog::warn("{}: {} {} -> {}", who, request->method, request->path, res->status);
      net::post(self->stream_.get_executor(), [self, res] { self->respond(*res); });
    });
    if (!queued) {
      ++server_.counters.busy;
      refuse(503, "busy", "the server is busy; try again in a moment");
    }
  }

  static void common_headers(http::response<http::string_body>& r) {
    r.set("X-Content-Type-Options", "nosniff");
    r.set("Referrer-Policy", kReferrerPolicy);
  }

  void respond(HttpResponse& res) {
    if (res.sse_hub) return start_stream(res);
    auto r = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(res.status), version_);
    for (const auto& [k, v] : res.headers) r->set(k, v);
    if (!r->count(http::field::content_type)) r->set(http::field::content_type, "application/json");
    common_headers(*r);
    r->body() = std::move(res.body);
    write(r, keep_alive_);
  }

  void serve_file(const StaticFile& f) {
    auto r = std::make_shared<http::response<http::string_body>>(http::status::ok, version_);
    common_headers(*r);
    r->set(http::field::etag, f.etag);
    r->set(http::field::cache_control, "no-cache");
    r->set(http::field::accept_ranges, "none");
    if (f.content_type.starts_with("text/html")) {
      r->set("Content-Security-Policy", kContentSecurityPolicy);
      r->set("X-Frame-Options", "DENY");
    }
    if (req_.get_header_value("If-None-Match") == f.etag) {
      r->result(http::status::not_modified);
    } else {
      r->set(http::field::content_type, f.content_type);
      r->body() = f.body;
    }
    write(r, keep_alive_);
  }

  // An error answered at once; the connection closes afterwards unless the
  // request had no body left unread.
  void refuse(int status, std::string_view code, const std::string& message, bool body_is_json = false) {
    auto r = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(status),
                                                                  version_ ? version_ : 11);
    r->set(http::field::content_type, "application/json");
    common_headers(*r);
    r->body() = body_is_json ? message : error_body(code, message);
    const bool clean = parser_ && parser_->is_header_done() && parser_->is_done() && status != 400 && status != 431;
    write(r, keep_alive_ && clean);
  }

  void write(const std::shared_ptr<http::response<http::string_body>>& r, bool keep_alive) {
    keep_alive = keep_alive && !closing_ && !server_.stopping;
    r->keep_alive(keep_alive);
    r->prepare_payload();
    beast::get_lowest_layer(stream_).expires_after(server_.options.write_timeout);
    http::async_write(stream_, *r,
                      [self = this->shared_from_this(), r, keep_alive](beast::error_code ec, std::size_t) {
                        if (ec) {
                          if (is_timeout(ec)) ++self->server_.counters.timeouts;
                          return self->close();
                        }
                        if (keep_alive) return self->read_header();
                        self->close();
                      });
  }

  // ---- event stream ----

  void start_stream(HttpResponse& res) {
    beast::get_lowest_layer(stream_).expires_never();
    streaming_ = true;
    ++server_.counters.streams_open;
    std::string head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nCache-Control: no-cache\r\n"
                       "X-Accel-Buffering: no\r\nX-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n";
    pending_.push_back(std::make_shared<const std::string>(std::move(head)));
    head_pending_ = true;
    pending_bytes_ = 0;
    write_stream();
    watch_peer();
    auto self = this->shared_from_this();
    res.sse_hub->subscribe(std::shared_ptr<SseHub::Sink>(self, static_cast<SseHub::Sink*>(this)), res.sse_topic);
  }

  // The client sends nothing on a stream: any byte or the end closes it.
  void watch_peer() {
    stream_.async_read_some(net::buffer(peer_byte_),
                            [self = this->shared_from_this()](beast::error_code, std::size_t) { self->close(); });
  }

  void write_stream() {
    if (closed_) return;
    if (pending_.empty()) {
      if (finishing_) {
        finishing_ = false;
        out_ = "0\r\n\r\n";
        writing_ = true;
        arm_write_deadline();
        net::async_write(stream_, net::buffer(out_), [self = this->shared_from_this()](beast::error_code, std::size_t) {
          self->close();
        });
      }
      return;
    }
    out_.clear();
    std::size_t i = 0;
    if (head_pending_) {
      out_ = *pending_.front();
      head_pending_ = false;
      i = 1;
    }
    std::string chunk;
    for (; i < pending_.size(); ++i) chunk += *pending_[i];
    pending_.clear();
    pending_bytes_ = 0;
    if (!chunk.empty()) {
      char size[20];
      std::snprintf(size, sizeof size, "%zx\r\n", chunk.size());
      out_ += size;
      out_ += chunk;
      out_ += "\r\n";
    }
    writing_ = true;
    arm_write_deadline();
    net::async_write(stream_, net::buffer(out_), [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
      self->timer_.cancel();
      self->writing_ = false;
      if (ec) return self->close();
      self->write_stream();
    });
  }

  void arm_write_deadline() {
    timer_.expires_after(server_.options.write_timeout);
    timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec) return;  // cancelled: the write finished
      ++self->server_.counters.timeouts;
      spdlog::info("http: event stream to {} closed: a write took over {} ms", self->peer_,
                   self->server_.options.write_timeout.count());
      self->close();
    });
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    if (streaming_) --server_.counters.streams_open;
    beast::error_code ec;
    auto& socket = beast::get_lowest_layer(stream_).socket();
    socket.shutdown(tcp::socket::shutdown_both, ec);
    socket.close(ec);
    timer_.cancel();
    pending_.clear();
  }

  HttpServer::Impl& server_;
  Stream stream_;
  const std::string peer_;
  net::steady_timer timer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  HttpRequest req_;
  const HttpServer::Route* route_ = nullptr;
  std::size_t body_limit_ = 0;
  unsigned version_ = 11;
  bool keep_alive_ = false;
  bool first_ = true;
  bool busy_ = false;     // a request is being read, handled or answered
  bool closing_ = false;  // the server stops: no further request
  bool closed_ = false;
  // Stream state.
  bool streaming_ = false;
  bool writing_ = false;
  bool finishing_ = false;
  bool head_pending_ = false;
  std::deque<std::shared_ptr<const std::string>> pending_;
  std::size_t pending_bytes_ = 0;
  bool delivered_ = false;
  std::string out_;
  char peer_byte_[1];
};

}  // namespace

bool HttpServer::Impl::admit(const std::string& peer) {
  std::lock_guard lock(sessions_mutex);
  auto& count = per_peer[peer];
  const bool over_total = static_cast<int>(counters.connections_open.load()) >= options.max_connections;
  const bool over_peer = count >= options.max_connections_per_peer;
  if (over_total || over_peer) {
    if (count == 0) per_peer.erase(peer);
    ++counters.connections_refused;
    auto now = std::chrono::steady_clock::now();
    if (now - last_refusal_log > std::chrono::seconds(60)) {
      last_refusal_log = now;
      spdlog::warn("http: {} refused a connection from {}: {} (more refusals this minute are counted, not logged)",
                   options.who, peer,
                   over_total ? "already " + std::to_string(options.max_connections) + " connections open"
                              : "that address already has " + std::to_string(count) + " open");
    }
    return false;
  }
  ++count;
  ++counters.connections_open;
  return true;
}

void HttpServer::Impl::release(SessionBase* session, const std::string& peer) {
  std::lock_guard lock(sessions_mutex);
  sessions.erase(session);
  if (auto it = per_peer.find(peer); it != per_peer.end() && --it->second <= 0) per_peer.erase(it);
  --counters.connections_open;
}

void HttpServer::Impl::do_accept() {
  acceptor.async_accept(net::make_strand(ioc),
                        [this](beast::error_code ec, tcp::socket socket) { on_accept(ec, std::move(socket)); });
}

void HttpServer::Impl::on_accept(beast::error_code ec, tcp::socket socket) {
  if (stopping || !acceptor.is_open()) return;
  if (ec) {
    // Out of descriptors (or a transient error): wait a little instead of spinning.
    spdlog::warn("http: {} cannot accept a connection: {}", options.who, ec.message());
    accept_retry.expires_after(std::chrono::milliseconds(100));
    accept_retry.async_wait([this](beast::error_code) {
      if (!stopping) do_accept();
    });
    return;
  }
  beast::error_code peer_ec;
  auto endpoint = socket.remote_endpoint(peer_ec);
  std::string peer = peer_ec ? std::string("?") : endpoint.address().to_string();
  if (!admit(peer)) {
    if (!tls) {
      auto s = std::make_shared<tcp::socket>(std::move(socket));
      s->non_blocking(true, peer_ec);
      net::async_write(*s, net::buffer(kRefusedResponse), [s](beast::error_code, std::size_t) {
        beast::error_code ignored;
        s->shutdown(tcp::socket::shutdown_both, ignored);
        s->close(ignored);
      });
    }
    return do_accept();
  }
  socket.set_option(tcp::no_delay(true), peer_ec);
  if (tls) {
    auto s = std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
        *this, beast::ssl_stream<beast::tcp_stream>(beast::tcp_stream(std::move(socket)), *tls), peer);
    add_session(s);
    s->run();
  } else {
    auto s = std::make_shared<Session<beast::tcp_stream>>(*this, beast::tcp_stream(std::move(socket)), peer);
    add_session(s);
    s->run();
  }
  do_accept();
}

HttpServer::HttpServer(HttpServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

HttpServer::~HttpServer() { stop(); }

HttpServer::Route& HttpServer::add(std::string method, std::string pattern, Handler handler) {
  Route& r = impl_->routes.emplace_back();
  r.method_ = std::move(method);
  r.matcher_ = std::make_shared<Route::Matcher>(Route::Matcher{std::regex(pattern)});
  r.pattern_ = std::move(pattern);
  r.handler_ = std::move(handler);
  return r;
}

HttpServer::Route& HttpServer::Get(std::string pattern, Handler handler) {
  return add("GET", std::move(pattern), std::move(handler));
}
HttpServer::Route& HttpServer::Post(std::string pattern, Handler handler) {
  return add("POST", std::move(pattern), std::move(handler));
}
HttpServer::Route& HttpServer::Put(std::string pattern, Handler handler) {
  return add("PUT", std::move(pattern), std::move(handler));
}
HttpServer::Route& HttpServer::Delete(std::string pattern, Handler handler) {
  return add("DELETE", std::move(pattern), std::move(handler));
}
HttpServer::Route& HttpServer::Patch(std::string pattern, Handler handler) {
  return add("PATCH", std::move(pattern), std::move(handler));
}

protocol::Expected<int> HttpServer::listen() {
  auto& o = impl_->options;
  if (!o.web_dir.empty()) {
    auto files = load_static_files(o.web_dir);
    if (!files) return std::unexpected(files.error());
    impl_->files = std::move(*files);
  }
  if (o.tls_cert.empty() != o.tls_key.empty())
    return protocol::error("HTTPS needs both a certificate and a key (--http-tls-cert and --http-tls-key)");
  if (!o.tls_cert.empty()) {
    try {
      ssl::context ctx(ssl::context::tls_server);
      ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                      ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
      try {
        ctx.use_certificate_chain_file(o.tls_cert);
      } catch (const std::exception& e) {
        return protocol::error("HTTPS certificate " + o.tls_cert + ": " + e.what());
      }
      try {
        ctx.use_private_key_file(o.tls_key, ssl::context::pem);
      } catch (const std::exception& e) {
        return protocol::error("HTTPS key " + o.tls_key + ": " + e.what());
      }
      impl_->tls.emplace(std::move(ctx));
    } catch (const std::exception& e) {
      return protocol::error(std::string("HTTPS: ") + e.what());
    }
  }
  // Each connection is a descriptor: take what the system allows, and keep
  // the connection cap under it.
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0) {
    if (lim.rlim_cur < lim.rlim_max) {
      lim.rlim_cur = lim.rlim_max;
      setrlimit(RLIMIT_NOFILE, &lim);
      getrlimit(RLIMIT_NOFILE, &lim);
    }
    const auto room = lim.rlim_cur > 512 ? static_cast<long long>(lim.rlim_cur) - 256 : 256;
    if (o.max_connections > room) {
      spdlog::warn("http: {} allows {} open files: connections capped at {} instead of {}", o.who,
                   static_cast<long long>(lim.rlim_cur), room, o.max_connections);
      o.max_connections = static_cast<int>(room);
    }
  }
  const std::string where = o.host + ":" + std::to_string(o.port);
  try {
    beast::error_code ec;
    auto address = net::ip::make_address(o.host == "localhost" ? "127.0.0.1" : o.host, ec);
    if (ec) return protocol::error("http: cannot listen on " + where + ": not an IP address");
    tcp::endpoint endpoint(address, static_cast<unsigned short>(o.port));
    impl_->acceptor.open(endpoint.protocol());
    impl_->acceptor.set_option(net::socket_base::reuse_address(true));
    impl_->acceptor.bind(endpoint);
    impl_->acceptor.listen(1024);
    impl_->port = impl_->acceptor.local_endpoint().port();
  } catch (const std::exception& e) {
    return protocol::error("http: cannot listen on " + where + ": " + e.what());
  }
  return impl_->port;
}

void HttpServer::start() {
  if (impl_->started) return;
  impl_->started = true;
  impl_->pool = std::make_unique<WorkerPool>(impl_->options.workers, impl_->options.max_queued_requests);
  impl_->do_accept();
  for (int i = 0; i < std::max(1, impl_->options.io_threads); ++i)
    impl_->io_threads.emplace_back([this] {
      for (;;) {
        try {
          impl_->ioc.run();
          return;
        } catch (const std::exception& e) {
          spdlog::error("http: {} I/O thread: {}", impl_->options.who, e.what());
        }
      }
    });
}

void HttpServer::stop() {
  if (!impl_ || !impl_->started || impl_->stopping.exchange(true)) return;
  net::post(impl_->ioc, [impl = impl_.get()] {
    beast::error_code ec;
    impl->acceptor.close(ec);
    impl->accept_retry.cancel();
  });
  std::vector<std::shared_ptr<SessionBase>> live;
  {
    std::lock_guard lock(impl_->sessions_mutex);
    for (auto& [p, weak] : impl_->sessions)
      if (auto s = weak.lock()) live.push_back(std::move(s));
  }
  for (auto& s : live) s->shutdown();
  live.clear();
  impl_->pool->stop();  // the requests in flight are answered
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (impl_->counters.connections_open.load() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  impl_->ioc.stop();
  for (auto& t : impl_->io_threads)
    if (t.joinable()) t.join();
}

int HttpServer::port() const { return impl_->port; }
bool HttpServer::tls() const { return impl_->tls.has_value(); }
const HttpServerOptions& HttpServer::options() const { return impl_->options; }

HttpStats HttpServer::stats() const {
  const auto& c = impl_->counters;
  HttpStats s;
  s.connections_open = c.connections_open;
  s.connections_refused = c.connections_refused;
  s.requests = c.requests;
  s.refused_headers = c.refused_headers;
  s.refused_bodies = c.refused_bodies;
  s.unauthorized = c.unauthorized;
  s.timeouts = c.timeouts;
  s.busy = c.busy;
  s.streams_open = c.streams_open;
  s.streams_dropped = c.streams_dropped;
  return s;
}

std::string http_metrics_text(const HttpStats& s, std::string_view prefix) {
  std::ostringstream out;
  auto metric = [&](const char* name, const char* type, const char* help, std::uint64_t value) {
    out << "# HELP " << prefix << "_" << name << " " << help << "\n# TYPE " << prefix << "_" << name << " " << type
        << "\n"
        << prefix << "_" << name << " " << value << "\n";
  };
  metric("connections_open", "gauge", "HTTP connections open now", s.connections_open);
  metric("connections_refused_total", "counter", "HTTP connections refused over the overall or per-address limit",
         s.connections_refused);
  metric("requests_total", "counter", "HTTP requests whose headers were read", s.requests);
  metric("refused_headers_total", "counter", "requests refused for oversize request lines or headers (431)",
         s.refused_headers);
  metric("refused_bodies_total", "counter", "requests refused for oversize or compressed bodies (413, 415)",
         s.refused_bodies);
  metric("unauthorized_total", "counter", "requests refused before their body for a missing token or role (401, 403)",
         s.unauthorized);
  metric("timeouts_total", "counter", "connections closed for a header, idle, body or write timeout", s.timeouts);
  metric("busy_total", "counter", "requests answered 503 because every worker was busy", s.busy);
  metric("streams_open", "gauge", "server-sent event streams open now", s.streams_open);
  metric("streams_dropped_total", "counter", "event streams disconnected for falling too far behind",
         s.streams_dropped);
  return out.str();
}

}  // namespace yiban::runtime
