#pragma once
// Both daemons' HTTP server (ARCHITECTURE §8), made for hostile networks, on
// Boost.Beast over Asio (the implementation stays in http_server.cpp: this
// header includes neither).
//
// What every request meets, in order, before a handler runs:
// - the request line and headers are capped (8 KiB, 64 header lines → 431),
//   and must arrive within the header timeout (slowloris is closed);
// - the route is looked up from the request line; a route needs a known bearer
//   token unless it is open, and a role from its list when it has one: both
//   are checked from the headers, before any body byte is read (401/403 with a
//   small JSON body);
// - compressed bodies (Content-Encoding) are refused (415); the body is capped
//   per route whatever its framing (Content-Length or chunked) → 413, and
//   nothing past the cap is buffered;
// - connections are capped overall and per peer address; idle keep-alive
//   connections are closed after the idle timeout.
// Static files come only from the web directory's own list (files.txt: one
// relative path per line), loaded at start: no directory tree, no source
// maps, no byte ranges. HTML carries a Content-Security-Policy; every
// response carries X-Content-Type-Options and Referrer-Policy.
//
// Threads: `io_threads` run the connections (no thread per connection);
// handlers run on `workers` threads and may block (store reads, waiting for an
// engine's commit). Server-sent event streams hold no thread: a handler turns
// its response into a stream of an SseHub, which any thread publishes to.
//
// Errors keep the §8 shape: {"error":{"code","message"}}.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "yiban/protocol/error.h"
#include "yiban/protocol/tokens.h"

namespace yiban::runtime {

class SseHub;

// A request as a handler sees it: headers, the whole (capped) body, the
// route's regex captures and the decoded query.
struct HttpRequest {
  std::string method;
  std::string path;                  // percent-decoded, without the query
  std::string target;                // as sent: path and query, not decoded
  std::vector<std::string> matches;  // [0] the whole path, [1..] the route's captures
  std::multimap<std::string, std::string> params;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case
  std::string body;
  std::string remote_addr;
  std::optional<protocol::TokenGrant> grant;  // the caller, when the route needs a token

  bool has_param(std::string_view name) const;
  std::string get_param_value(std::string_view name) const;  // the first value, or ""
  bool has_header(std::string_view name) const;              // any case
  std::string get_header_value(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  void set_content(std::string content, std::string_view content_type);
  void set_header(std::string_view name, std::string_view value);

  // Makes this response a text/event-stream of `hub`, filtered to `topic`
  // ("" = every topic): the subscriber first gets the hub's current state,
  // then everything published after it, with nothing lost in between.
  void stream(std::shared_ptr<SseHub> hub, std::string topic = {});

  std::shared_ptr<SseHub> sse_hub;  // set by stream()
  std::string sse_topic;
};

// Sets status and a JSON error body (invalid UTF-8 in the message is replaced).
void send_json_error(HttpResponse& res, int status, std::string_view code, std::string_view message);

// The caller's grant: the one the server checked before the body (routes that
// need a token), or the request's bearer token looked up in `tokens`;
// otherwise answers 401 and returns nothing.
std::optional<protocol::TokenGrant> authenticate(const HttpRequest& req, HttpResponse& res,
                                                 const protocol::TokenTable& tokens);

// A non-negative decimal count (at most 18 digits), or nothing.
std::optional<std::int64_t> parse_count(std::string_view text);

// limit (1..max_limit, default kept) and offset query parameters; an error
// message naming the parameter when one is malformed.
struct Page {
  int limit = 50;
  int offset = 0;
};
std::optional<std::string> parse_page(const HttpRequest& req, Page& page, int max_limit);

// A day given as YYYY-MM-DD or YYYYMMDD → yyyymmdd; nothing when malformed.
std::optional<int> parse_day(std::string_view text);

// Content-Disposition for a download keeping a UTF-8 file name (RFC 5987).
std::string attachment_disposition(std::string_view file_name);

// Fan-out of server-sent events to any number of streams. State entries
// (keyed by topic) are what a new subscriber receives first, in topic order
// ("" first); published text goes to the current subscribers whose topic
// matches ("" on either side matches everything). A subscriber that falls
// more than the server's pending limit behind is disconnected (its browser
// reconnects and gets the state again). Thread-safe.
class SseHub {
 public:
  // What a stream connection implements (the server's side).
  class Sink {
   public:
    virtual ~Sink() = default;
    virtual void deliver(std::shared_ptr<const std::string> text) = 0;  // any thread; must not block
    virtual void finish() = 0;                                          // ends the stream
  };

  // Replaces the state entry of `topic` and sends `broadcast` (when not
  // empty) to the matching subscribers, atomically for new subscribers.
  void set_state(const std::string& topic, std::string state, std::string_view broadcast);
  // Sends text to the matching subscribers.
  void publish(const std::string& topic, std::string_view text);
  // Ends every stream; later subscribers are finished at once.
  void close();
  bool closed() const;
  std::size_t subscribers() const;

  // The server's side: registers a sink and hands it the current state.
  void subscribe(const std::shared_ptr<Sink>& sink, const std::string& topic);

 private:
  void send_locked(const std::string& topic, const std::shared_ptr<const std::string>& text);

  mutable std::mutex mutex_;
  std::map<std::string, std::string> state_;                              // guarded by mutex_
  std::vector<std::pair<std::weak_ptr<Sink>, std::string>> subscribers_;  // guarded by mutex_
  bool closed_ = false;                                                   // guarded by mutex_
};

struct HttpServerOptions {
  std::string who = "the server";  // in logs and 500 bodies
  std::string host = "127.0.0.1";
  int port = 0;  // 0: any free port
  std::string web_dir;  // static app when set (files listed in web_dir/files.txt)
  std::string tls_cert, tls_key;  // PEM files: HTTPS when both are set
  // Who holds a bearer token (consulted before the body is read).
  const protocol::TokenTable* tokens = nullptr;
  // A further check of a known token before the body (e.g. a hall manager's
  // token from another hall): a refusal message answers 403.
  std::function<std::optional<std::string>(const protocol::TokenGrant&)> admit;

  std::size_t max_body_bytes = 64 * 1024;  // per route unless the route says otherwise
  std::size_t max_header_bytes = 8 * 1024;
  int max_headers = 64;
  std::chrono::milliseconds header_timeout{10000};  // from connect (or the last response) to the end of the headers
  std::chrono::milliseconds idle_timeout{10000};    // a keep-alive connection waiting for its next request
  std::chrono::milliseconds body_timeout{60000};
  std::chrono::milliseconds write_timeout{30000};
  int max_connections = 4096;
  int max_connections_per_peer = 128;
  int io_threads = 2;
  int workers = 16;
  std::size_t max_queued_requests = 1024;               // handlers waiting for a worker; more → 503
  std::size_t sse_max_pending_bytes = 1024 * 1024;      // a stream further behind is disconnected
};

// Counters since start (any thread).
struct HttpStats {
  std::uint64_t connections_open = 0;
  std::uint64_t connections_refused = 0;  // over the overall or per-peer limit
  std::uint64_t requests = 0;
  std::uint64_t refused_headers = 0;  // 431
  std::uint64_t refused_bodies = 0;   // 413, 415
  std::uint64_t unauthorized = 0;     // 401, 403 before the body
  std::uint64_t timeouts = 0;         // header, idle, body or write timeouts that closed a connection
  std::uint64_t busy = 0;             // 503: every worker busy and the queue full
  std::uint64_t streams_open = 0;
  std::uint64_t streams_dropped = 0;  // too far behind
};

class HttpServer {
 public:
  using Handler = std::function<void(const HttpRequest&, HttpResponse&)>;

  // A route's access and body rules; every route needs a token unless open().
  class Route {
   public:
    Route& open() {
      open_ = true;
      return *this;
    }
    Route& roles(std::initializer_list<protocol::Role> allowed) {
      roles_.assign(allowed);
      return *this;
    }
    Route& max_body(std::size_t bytes) {
      max_body_ = bytes;
      return *this;
    }

    // What the server reads (set through the calls above).
    struct Matcher;
    std::string method_;
    std::string pattern_;
    std::shared_ptr<Matcher> matcher_;
    Handler handler_;
    bool open_ = false;
    std::vector<protocol::Role> roles_;
    std::optional<std::size_t> max_body_;
  };

  explicit HttpServer(HttpServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Routes are matched in the order added (std::regex, whole path). Add them
  // before listen().
  Route& Get(std::string pattern, Handler handler);
  Route& Post(std::string pattern, Handler handler);
  Route& Put(std::string pattern, Handler handler);
  Route& Delete(std::string pattern, Handler handler);
  Route& Patch(std::string pattern, Handler handler);

  // Loads the static files and TLS material, binds; returns the port. Errors
  // name the file, the directory or the address.
  protocol::Expected<int> listen();
  // Starts the I/O and worker threads.
  void start();
  // Stops accepting, answers the requests in flight (up to ~2 s), ends
  // streams, joins every thread. Idempotent.
  void stop();

  int port() const;
  bool tls() const;
  HttpStats stats() const;
  const HttpServerOptions& options() const;

  struct Impl;

 private:
  Route& add(std::string method, std::string pattern, Handler handler);
  std::unique_ptr<Impl> impl_;
};

// The server's counters in Prometheus text format, prefixed (e.g. "yiban_central_http").
std::string http_metrics_text(const HttpStats& stats, std::string_view prefix);

}  // namespace yiban::runtime
