#include "yiban/runtime/http_client.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <new>
#include <optional>

namespace yiban::runtime {
namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;
using protocol::error;

constexpr std::size_t kMaxReplyHeaderBytes = 64 * 1024;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// What the base URL says.
struct Url {
  bool tls = false;
  std::string host;  // without IPv6 brackets: what is resolved and verified
  bool ip_literal = false;
  std::string port;  // decimal
  std::string authority;  // host:port, [v6]:port
  std::string host_header;  // host, with :port unless the scheme's default
  std::string prefix;  // "" or "/…", as given
};

protocol::Expected<Url> parse_base_url(std::string_view url) {
  auto bad = [&](std::string_view why) {
    return error("url: \"" + std::string(url) + "\" " + std::string(why));
  };
  if (std::any_of(url.begin(), url.end(), [](char c) { return static_cast<unsigned char>(c) <= ' ' || c == 0x7f; }))
    return bad("contains a space or control character");
  Url u;
  std::string_view rest = url;
  if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else if (rest.starts_with("https://")) {
    u.tls = true;
    rest.remove_prefix(8);
  } else {
    return bad("must start with http:// or https://");
  }
  const std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) u.prefix = std::string(rest.substr(slash));
  if (authority.find_first_of("@?#") != std::string_view::npos) return bad("must not carry user information");
  if (u.prefix.find('#') != std::string::npos) return bad("must not have a fragment");
  std::string_view host = authority, port;
  bool bracketed = false;
  if (authority.starts_with('[')) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("has an unclosed [ in its host");
    host = authority.substr(1, close - 1);
    bracketed = true;
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (!after.starts_with(':')) return bad("has something after the ] of its host");
      port = after.substr(1);
      if (port.empty()) return bad("has an empty port");
    }
  } else if (const std::size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (port.empty()) return bad("has an empty port");
  }
  if (host.empty()) return bad("has no host");
  error_code ec;
  const auto address = net::ip::make_address(std::string(host), ec);
  u.ip_literal = !ec;
  if (bracketed && (!u.ip_literal || !address.is_v6())) return bad("has a bad IPv6 address in [ ]");
  if (!bracketed && host.find(':') != std::string_view::npos) return bad("needs [ ] around an IPv6 address");
  int number = u.tls ? 443 : 80;
  if (!port.empty()) {
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return bad("has a port that is not a number");
    number = std::stoi(std::string(port));
    if (number < 1 || number > 65535) return bad("has a port outside 1–65535");
  }
  u.host = std::string(host);
  u.port = std::to_string(number);
  const std::string shown = bracketed ? "[" + u.host + "]" : u.host;
  u.authority = shown + ":" + u.port;
  u.host_header = number == (u.tls ? 443 : 80) ? shown : u.authority;
  return u;
}

bool is_token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string format_timeout(std::chrono::milliseconds t) {
  if (t.count() % 1000 == 0) return std::to_string(t.count() / 1000) + " s";
  return std::to_string(t.count()) + " ms";
}

// "Connection refused" → "connection refused".
std::string lower_first(std::string text) {
  if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  return text;
}

// The peer went away: what a server closing an idle kept-alive connection
// looks like to the next request.
bool closed_by_peer(const error_code& ec) {
  if (ec == net::error::eof || ec == http::error::end_of_stream || ec == net::error::connection_reset ||
      ec == net::error::broken_pipe || ec == net::error::connection_aborted || ec == ssl::error::stream_truncated)
    return true;
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
  if (ec.category() == net::error::get_ssl_category() &&
      ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
    return true;
#endif
  return false;
}

http::verb verb_of(HttpMethod m) {
  switch (m) {
    case HttpMethod::kGet: return http::verb::get;
    case HttpMethod::kPost: return http::verb::post;
    case HttpMethod::kPut: return http::verb::put;
    case HttpMethod::kDelete: return http::verb::delete_;
    case HttpMethod::kPatch: return http::verb::patch;
  }
  return http::verb::get;
}

}  // namespace

std::optional<std::string_view> HttpReply::header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (iequals(n, name)) return std::string_view(v);
  return std::nullopt;
}

// Owned by one HttpClient; everything but `cancelled` and the io_context's
// post() is used by the client's thread only.
struct HttpClient::Impl {
  Url url;
  Options options;
  net::io_context ioc{1};
  tcp::resolver resolver{ioc};
  std::optional<ssl::context> tls_context;  // https only
  // The connection: plain or tls is set while connected (never both).
  std::optional<tcp::socket> plain;
  std::optional<ssl::stream<tcp::socket>> tls;
  boost::beast::flat_buffer buffer;  // bytes read past the last reply
  int served = 0;  // replies read on the current connection
  std::atomic<bool> cancelled{false};  // set by cancel(), from any thread

  enum class Wait { kDone, kTimedOut, kCancelled };

  bool connected() const { return plain.has_value() || tls.has_value(); }

  tcp::socket& socket() { return tls ? tls->next_layer() : *plain; }

  void drop() {
    error_code ignored;
    if (tls) tls->next_layer().close(ignored);
    if (plain) plain->close(ignored);
    tls.reset();
    plain.reset();
    buffer.clear();
    served = 0;
  }

  // Makes the pending operation complete now (with operation_aborted or an
  // error): the connection is then unusable.
  void abort_io() {
    error_code ignored;
    resolver.cancel();
    if (connected()) socket().close(ignored);
  }

  // Runs the client's io_context on this thread until the operation started
  // by the caller sets done, or until the deadline or cancel(), which close
  // the socket so that it completes at once.
  Wait wait(const bool& done, Clock::time_point deadline) {
    ioc.restart();
    std::optional<Wait> aborted;
    while (!done) {
      if (!aborted && cancelled.load()) {
        abort_io();
        aborted = Wait::kCancelled;
      }
      const std::size_t ran = aborted ? ioc.run_one() : ioc.run_one_until(deadline);
      if (ran == 0 && !done) {
        if (aborted || ioc.stopped()) break;  // nothing left that could complete it
        abort_io();
        aborted = Wait::kTimedOut;
      }
    }
    return aborted.value_or(Wait::kDone);
  }

  std::unexpected<protocol::Error> fail(const std::string& cause) const { return error(url.authority + ": " + cause); }

  // Resolves, connects and (https) handshakes, within one timeout.
  protocol::Expected<void> connect() {
    drop();
    const auto deadline = Clock::now() + options.timeout;
    const auto timed_out = [&] { return fail("timed out after " + format_timeout(options.timeout) + " connecting"); };
    const auto cancelled_error = [&] { return fail("cancelled"); };

    error_code ec;
    bool done = false;
    tcp::resolver::results_type endpoints;
    resolver.async_resolve(url.host, url.port, tcp::resolver::numeric_service,
                           [&](const error_code& e, tcp::resolver::results_type r) {
                             ec = e;
                             endpoints = std::move(r);
                             done = true;
                           });
    if (auto w = wait(done, deadline); w != Wait::kDone) return w == Wait::kCancelled ? cancelled_error() : timed_out();
    if (ec) {
      if (ec == net::error::host_not_found || ec == net::error::host_not_found_try_again ||
          ec == net::error::no_data)
        return fail("cannot resolve host " + url.host);
      return fail("cannot resolve host " + url.host + ": " + lower_first(ec.message()));
    }

    plain.emplace(ioc);  // before the connect starts, so that abort_io() can close it
    done = false;
    net::async_connect(*plain, endpoints, [&](const error_code& e, const tcp::endpoint&) {
      ec = e;
      done = true;
    });
    if (auto w = wait(done, deadline); w != Wait::kDone) {
      drop();
      return w == Wait::kCancelled ? cancelled_error() : timed_out();
    }
    if (ec) {
      drop();
      return fail(lower_first(ec.message()));
    }
    plain->set_option(tcp::no_delay(true), ec);

    if (!url.tls) return {};
    tls.emplace(std::move(*plain), *tls_context);
    plain.reset();
    SSL* ssl_handle = tls->native_handle();
    if (url.ip_literal) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_handle), url.host.c_str());
    } else {
      SSL_set_tlsext_host_name(ssl_handle, url.host.c_str());
      SSL_set1_host(ssl_handle, url.host.c_str());
    }
    done = false;
    tls->async_handshake(ssl::stream_base::client, [&](const error_code& e) {
      ec = e;
      done = true;
    });
    if (auto w = wait(done, deadline); w != Wait::kDone) {
      drop();
      return w == Wait::kCancelled ? cancelled_error() : timed_out();
    }
    if (ec) {
      const long verify = SSL_get_verify_result(ssl_handle);
      drop();
      if (verify != X509_V_OK)
        return fail(std::string("TLS: the server's certificate is not trusted: ") +
                    X509_verify_cert_error_string(verify));
      return fail("TLS handshake failed: " + lower_first(ec.message()));
    }
    return {};
  }

  // A kept connection that has something to read before we asked (the
  // server's FIN, an error, stray bytes) is closed rather than reused. TLS
  // may legitimately have records pending (session tickets): there the
  // retry below covers a closed connection.
  bool idle_connection_stale() {
    if (buffer.size() > 0) return true;
    if (!plain) return false;
    pollfd p{plain->native_handle(), POLLIN, 0};
    return ::poll(&p, 1, 0) != 0;
  }

  template <class F>
  void with_stream(F&& f) {
    if (tls)
      f(*tls);
    else
      f(*plain);
  }

  enum class Step { kOk, kRetry, kFailed, kStopped };

  // One attempt on the current connection: writes req, then reads the reply
  // into parser; before(parser) runs before each read, after(parser) after
  // each and may stop the reading (kStopped; the connection is closed).
  // reused: the connection served a reply before, so a close before the
  // first reply byte is kRetry.
  template <class Parser, class Before, class After>
  Step exchange(http::request<http::string_body>& req, bool reused, Parser& parser, Before&& before, After&& after,
                protocol::Error& failure) {
    const auto failed = [&](const std::string& cause) {
      failure = fail(cause).error();
      drop();
      return Step::kFailed;
    };
    error_code ec;
    bool done = false;
    with_stream([&](auto& s) {
      http::async_write(s, req, [&](const error_code& e, std::size_t) {
        ec = e;
        done = true;
      });
    });
    auto w = wait(done, Clock::now() + options.timeout);
    if (w == Wait::kCancelled) return failed("cancelled");
    if (w == Wait::kTimedOut) return failed("timed out after " + format_timeout(options.timeout) + " sending the request");
    // A failed write may have met a server that answered early (401, 413
    // before reading the body) and closed: that reply is read if it came.
    const error_code write_error = ec;

    parser.header_limit(kMaxReplyHeaderBytes);
    while (!parser.is_done()) {
      before(parser);
      done = false;
      with_stream([&](auto& s) {
        http::async_read_some(s, buffer, parser, [&](const error_code& e, std::size_t) {
          ec = e;
          done = true;
        });
      });
      w = wait(done, Clock::now() + options.timeout);
      if (w == Wait::kCancelled) return failed("cancelled");
      if (w == Wait::kTimedOut)
        return failed("timed out after " + format_timeout(options.timeout) + " waiting for the reply");
      if (ec == http::error::need_buffer) ec = {};  // a buffer_body's buffer is full
      if (ec && tls && closed_by_peer(ec) && parser.got_some() && parser.need_eof()) {
        // A reply delimited by the end of the connection, without TLS's close_notify.
        ec = {};
        parser.put_eof(ec);
      }
      if (ec && write_error) {
        if (reused && !parser.got_some() && closed_by_peer(write_error)) {
          drop();
          return Step::kRetry;
        }
        return failed("sending the request failed: " + lower_first(write_error.message()));
      }
      if (!ec) {
        if (!after(parser)) {
          drop();
          return Step::kStopped;
        }
        continue;
      }
      if (reused && !parser.got_some() && closed_by_peer(ec)) {
        drop();
        return Step::kRetry;
      }
      if (ec == http::error::body_limit)
        return failed("the reply's body is larger than " + std::to_string(options.max_body_bytes) + " bytes");
      if (ec == http::error::header_limit)
        return failed("the reply's header is larger than " + std::to_string(kMaxReplyHeaderBytes) + " bytes");
      if (!parser.got_some() && closed_by_peer(ec)) return failed("the server closed the connection before a reply");
      if (ec == http::error::partial_message || closed_by_peer(ec))
        return failed("the server closed the connection in the middle of the reply");
      if (ec.category() == http::make_error_code(http::error::bad_version).category())
        return failed("malformed reply: " + ec.message());
      return failed("reading the reply failed: " + lower_first(ec.message()));
    }
    if (options.keep_alive && parser.get().keep_alive() && !parser.need_eof())
      ++served;
    else
      drop();
    return Step::kOk;
  }

  template <class Body>
  static void take_head(http::response<Body>& res, HttpReply& reply) {
    reply.status = static_cast<int>(res.result_int());
    reply.headers.clear();
    for (const auto& field : res) reply.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }

  protocol::Expected<http::request<http::string_body>> make_request(HttpMethod method, std::string_view target,
                                                                    const HttpHeaders& headers, std::string_view body,
                                                                    std::string_view content_type) {
    if (!target.empty() && !target.starts_with('/')) return error("request target \"" + std::string(target) + "\": must start with /");
    if (std::any_of(target.begin(), target.end(), [](char c) { return static_cast<unsigned char>(c) <= ' ' || c == 0x7f; }))
      return error("request target: contains a space or control character");
    std::string full = url.prefix;
    if (full.ends_with('/') && target.starts_with('/')) full.pop_back();
    full += target;
    if (full.empty()) full = "/";

    http::request<http::string_body> req{verb_of(method), full, 11};
    req.set(http::field::host, url.host_header);
    req.set(http::field::user_agent, "yiban");
    req.set(http::field::accept, "*/*");
    if (!options.keep_alive) req.set(http::field::connection, "close");
    std::vector<std::string_view> replaced;
    for (const auto& [name, value] : headers) {
      if (name.empty() || !std::all_of(name.begin(), name.end(), is_token_char))
        return error("request header \"" + name + "\": not a valid field name");
      if (std::any_of(value.begin(), value.end(), [](char c) { return c == '\r' || c == '\n' || c == '\0'; }))
        return error("request header " + name + ": its value holds a line break or NUL");
      if (iequals(name, "Content-Length") || iequals(name, "Transfer-Encoding"))
        return error("request header " + name + ": set by the client");
      if (std::none_of(replaced.begin(), replaced.end(), [&](std::string_view r) { return iequals(r, name); })) {
        req.erase(name);
        replaced.push_back(name);
      }
      req.insert(name, value);
    }
    if (!content_type.empty()) req.set(http::field::content_type, content_type);
    req.body().assign(body);
    req.prepare_payload();
    return req;
  }

  // Sends req on the kept connection (or a new one), with the one retry;
  // make_parser() gives a fresh parser for each attempt.
  template <class MakeParser, class Before, class After, class Finish>
  protocol::Expected<HttpReply> run(http::request<http::string_body>& req, MakeParser&& make_parser, Before&& before,
                                    After&& after, Finish&& finish) {
    for (int attempt = 0;; ++attempt) {
      if (cancelled.load()) return fail("cancelled");
      if (connected() && idle_connection_stale()) drop();
      const bool reused = connected();
      if (!reused)
        if (auto ok = connect(); !ok) return std::unexpected(ok.error());
      auto parser = make_parser();
      protocol::Error failure;
      switch (exchange(req, reused && attempt == 0, *parser, before, after, failure)) {
        case Step::kOk:
        case Step::kStopped: return finish(*parser);
        case Step::kFailed: return std::unexpected(std::move(failure));
        case Step::kRetry: continue;
      }
    }
  }

  protocol::Expected<HttpReply> request(HttpMethod method, std::string_view target, const HttpHeaders& headers,
                                        std::string_view body, std::string_view content_type) {
    if (cancelled.load()) return fail("cancelled");
    auto req = make_request(method, target, headers, body, content_type);
    if (!req) return std::unexpected(req.error());
    using Parser = http::response_parser<http::string_body>;
    return run(
        *req,
        [&] {
          auto p = std::make_unique<Parser>();
          p->body_limit(options.max_body_bytes);
          return p;
        },
        [](Parser&) {}, [](Parser&) { return true; },
        [](Parser& p) -> protocol::Expected<HttpReply> {
          HttpReply reply;
          take_head(p.get(), reply);
          reply.body = std::move(p.get().body());
          return reply;
        });
  }

  protocol::Expected<HttpReply> stream(HttpMethod method, std::string_view target, const HttpHeaders& headers,
                                       const std::function<bool(std::string_view)>& on_data) {
    if (cancelled.load()) return fail("cancelled");
    auto req = make_request(method, target, headers, {}, {});
    if (!req) return std::unexpected(req.error());
    using Parser = http::response_parser<http::buffer_body>;
    std::vector<char> chunk(16 * 1024);
    return run(
        *req,
        [&] {
          auto p = std::make_unique<Parser>();
          // Not boost::none: Beast 1.74 compares a Content-Length with it as
          // with 0 (its optional's "none < n"), refusing every length.
          p->body_limit(std::numeric_limits<std::uint64_t>::max());
          return p;
        },
        [&](Parser& p) {
          p.get().body().data = chunk.data();
          p.get().body().size = chunk.size();
        },
        [&](Parser& p) {
          const std::size_t n = chunk.size() - p.get().body().size;
          return n == 0 || on_data(std::string_view(chunk.data(), n));
        },
        [](Parser& p) -> protocol::Expected<HttpReply> {
          HttpReply reply;
          take_head(p.get(), reply);
          return reply;
        });
  }
};

HttpClient::HttpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpClient::HttpClient(HttpClient&&) noexcept = default;
HttpClient& HttpClient::operator=(HttpClient&&) noexcept = default;
HttpClient::~HttpClient() {
  if (impl_) impl_->drop();
}

protocol::Expected<HttpClient> HttpClient::create(std::string_view base_url, Options options) {
  auto url = parse_base_url(base_url);
  if (!url) return std::unexpected(url.error());
  if (options.timeout.count() < 1) return error("timeout: must be at least 1 ms");
  try {
    auto impl = std::make_unique<Impl>();
    impl->url = std::move(*url);
    impl->options = std::move(options);
    if (impl->url.tls) {
      auto& ctx = impl->tls_context.emplace(ssl::context::tls_client);
      SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
      ctx.set_verify_mode(ssl::verify_peer);
      error_code ec;
      const std::string& ca = impl->options.ca_file;
      if (!ca.empty()) {
        std::error_code fs_ec;
        if (!std::filesystem::is_regular_file(ca, fs_ec)) return error("ca_file: " + ca + ": no such file");
        if (!std::ifstream(ca)) return error("ca_file: " + ca + ": cannot be read");
        ctx.load_verify_file(ca, ec);
        if (ec) return error("ca_file: " + ca + ": holds no PEM certificate (" + ec.message() + ")");
      } else {
        ctx.set_default_verify_paths(ec);
        if (ec) return error("the system's CA certificates cannot be loaded: " + ec.message());
      }
    }
    return HttpClient(std::move(impl));
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    return error(std::string("HTTP client: ") + e.what());
  }
}

protocol::Expected<HttpReply> HttpClient::stream(HttpMethod method, std::string_view target,
                                                 const HttpHeaders& headers,
                                                 const std::function<bool(std::string_view)>& on_data) {
  try {
    return impl_->stream(method, target, headers, on_data);
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    impl_->drop();
    return impl_->fail(std::string("unexpected error: ") + e.what());
  }
}

protocol::Expected<HttpReply> HttpClient::request(HttpMethod method, std::string_view target,
                                                  const HttpHeaders& headers, std::string_view body,
                                                  std::string_view content_type) {
  try {
    return impl_->request(method, target, headers, body, content_type);
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    impl_->drop();
    return impl_->fail(std::string("unexpected error: ") + e.what());
  }
}

void HttpClient::set_timeout(std::chrono::milliseconds timeout) {
  impl_->options.timeout = std::max(timeout, std::chrono::milliseconds(1));
}

void HttpClient::set_max_body_bytes(std::size_t bytes) { impl_->options.max_body_bytes = bytes; }

void HttpClient::close() { impl_->drop(); }

void HttpClient::cancel() noexcept {
  if (!impl_) return;
  impl_->cancelled.store(true);
  try {
    net::post(impl_->ioc, [] {});  // wakes the client's thread out of run_one()
  } catch (...) {
    // The request in flight then ends at its timeout; later ones see the flag.
  }
}

const std::string& HttpClient::authority() const { return impl_->url.authority; }

std::string_view HttpClient::cause_of(const protocol::Error& e) const {
  std::string_view m = e.message;
  const std::string& a = impl_->url.authority;
  if (m.size() > a.size() + 2 && m.starts_with(a) && m.substr(a.size(), 2) == ": ") m.remove_prefix(a.size() + 2);
  return m;
}

}  // namespace yiban::runtime
