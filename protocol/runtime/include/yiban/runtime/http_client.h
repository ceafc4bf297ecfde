#pragma once
// A synchronous HTTP/1.1 client (Boost.Beast over Asio, TLS through OpenSSL)
// for the yiban CLI, the webhook notifier and the tests: one base URL, one
// kept-alive connection to it, every failure returned as a value.
//
// Base URL: http://HOST[:PORT][/PREFIX] or https://HOST[:PORT][/PREFIX], HOST
// a name, an IPv4 literal or a bracketed IPv6 literal ([::1]); the prefix (no
// trailing slash kept) goes before every request target. https verifies the
// server's certificate chain against Options::ca_file (PEM; one or more CA
// certificates) or, when that is empty, the system's default CA paths, and
// the certificate's name against HOST (DNS name or IP address); SNI is sent
// for names.
//
// Transport failures (no connection, timeout, TLS, a reply over the body
// cap, a malformed reply) come back as an Error whose message is
// "<authority()>: <cause>", e.g. "127.0.0.1:8090: connection refused" —
// callers that already name the server print cause_of(error) alone. An HTTP
// error status is not a failure: it is a reply.
//
// Connections: the connection is kept after a reply that allows it
// (HTTP/1.1 without "Connection: close") and reused by the next request. When
// a reused connection turns out closed by the server (the write fails, or the
// read ends before a single byte of the reply), the client reconnects and
// sends the request once more; a reply cut short after its first byte is an
// error, never retried.
//
// Threads: thread-compatible — one thread at a time per client (one client
// per thread); only cancel() may be called from any thread at any time. No
// exception escapes (Boost's are caught and returned as Error), except
// std::bad_alloc.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "yiban/protocol/error.h"

namespace yiban::runtime {

// Header fields in order; names compare case-insensitively where looked up.
using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

enum class HttpMethod { kGet, kPost, kPut, kDelete, kPatch };

struct HttpReply {
  int status = 0;
  std::string body;  // decoded from chunked transfer coding when it was chunked
  HttpHeaders headers;  // as received
  // The first value of header `name` (case-insensitive); nullopt when absent.
  // The view points into headers.
  std::optional<std::string_view> header(std::string_view name) const;
};

class HttpClient {
 public:
  struct Options {
    // Each of: resolve + connect + TLS handshake; writing the request; each
    // read of the reply (the wait for its next bytes).
    std::chrono::milliseconds timeout{10000};
    // Decoded reply body; a longer one is an error (and the connection closed).
    std::size_t max_body_bytes = 64u << 20;
    // PEM file of the CA certificates https trusts; "" = system default paths.
    std::string ca_file;
    // false: "Connection: close" on every request, a new connection each time.
    bool keep_alive = true;
  };

  // Checks base_url (an error "url: …" names what is wrong) and, for https,
  // loads the CA file (an error "ca_file: FILE: …" when it is missing or holds
  // no certificate). Does not connect.
  static protocol::Expected<HttpClient> create(std::string_view base_url, Options options);
  static protocol::Expected<HttpClient> create(std::string_view base_url) { return create(base_url, Options{}); }

  HttpClient(HttpClient&&) noexcept;
  HttpClient& operator=(HttpClient&&) noexcept;
  ~HttpClient();  // closes the connection; never throws

  // One request. target is the path and query ("/api/v1/halls?x=1"), put
  // after the base URL's prefix; it must start with '/' and hold no space or
  // control character. headers are sent as given (they replace the client's
  // Host, User-Agent and Accept; Content-Length and Transfer-Encoding are the
  // client's and refused here). content_type, when not empty, is sent as
  // Content-Type. Returns the reply, or an Error as described above.
  protocol::Expected<HttpReply> request(HttpMethod method, std::string_view target, const HttpHeaders& headers = {},
                                        std::string_view body = {}, std::string_view content_type = {});

  protocol::Expected<HttpReply> get(std::string_view target, const HttpHeaders& headers = {}) {
    return request(HttpMethod::kGet, target, headers);
  }
  protocol::Expected<HttpReply> del(std::string_view target, const HttpHeaders& headers = {}) {
    return request(HttpMethod::kDelete, target, headers);
  }
  protocol::Expected<HttpReply> post(std::string_view target, std::string_view body, std::string_view content_type,
                                     const HttpHeaders& headers = {}) {
    return request(HttpMethod::kPost, target, headers, body, content_type);
  }
  protocol::Expected<HttpReply> put(std::string_view target, std::string_view body, std::string_view content_type,
                                    const HttpHeaders& headers = {}) {
    return request(HttpMethod::kPut, target, headers, body, content_type);
  }
  protocol::Expected<HttpReply> patch(std::string_view target, std::string_view body, std::string_view content_type,
                                      const HttpHeaders& headers = {}) {
    return request(HttpMethod::kPatch, target, headers, body, content_type);
  }

  // A request whose reply body is handed to on_data piece by piece as it
  // arrives (an event stream, a download too large to hold): returns the
  // reply's status and headers, with an empty body, once the body has ended
  // or on_data returned false (the connection is then closed). The body cap
  // does not apply; the timeout does, to each wait for the next bytes.
  // Retried as request() is; on_data has seen nothing before a retry.
  protocol::Expected<HttpReply> stream(HttpMethod method, std::string_view target, const HttpHeaders& headers,
                                       const std::function<bool(std::string_view)>& on_data);

  // Take effect from the next request.
  void set_timeout(std::chrono::milliseconds timeout);
  void set_max_body_bytes(std::size_t bytes);

  // Drops the kept connection, if any.
  void close();

  // Safe from any thread, at any time while the client exists: aborts the
  // request in flight (its socket is shut down within a few milliseconds; the
  // request returns an Error "…: cancelled") and makes every later request
  // fail the same way without connecting. Permanent for this client.
  void cancel() noexcept;

  // "host:port" of the base URL ("[::1]:8080" for IPv6), as errors name it.
  const std::string& authority() const;

  // The cause part of a transport error of this client: message without its
  // leading "<authority()>: " (the whole message when it has none).
  std::string_view cause_of(const protocol::Error& error) const;

 private:
  struct Impl;
  explicit HttpClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace yiban::runtime
