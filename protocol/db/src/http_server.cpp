#include "yiban/db/http_server.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace yiban::db {

void send_json_error(httplib::Response& res, int status, std::string_view code, std::string_view message) {
  res.status = status;
  res.set_content(nlohmann::json{{"error", {{"code", code}, {"message", message}}}}.dump(
                      -1, ' ', false, nlohmann::json::error_handler_t::replace),
                  "application/json");
}

std::optional<protocol::TokenGrant> authenticate(const httplib::Request& req, httplib::Response& res,
                                                 const protocol::TokenTable& tokens) {
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

void configure_server(httplib::Server& server, std::size_t max_body_bytes, std::string_view who) {
  server.set_payload_max_length(max_body_bytes);
  // A worker stays with an idle keep-alive connection this long: short, so a
  // client pool holding many connections open cannot starve the others.
  server.set_keep_alive_timeout(1);
  // Debian builds cpp-httplib as a library: its worker count is fixed there,
  // whatever a header macro says; the pool is set here instead.
  server.new_task_queue = [] { return new httplib::ThreadPool(64); };
  // httplib writes a response's head and body separately; without this, on
  // a keep-alive connection the body waited for the client's delayed ACK
  // (40 ms per request).
  server.set_tcp_nodelay(true);
  std::string name(who);
  server.set_exception_handler([name](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    }
    spdlog::error("{}: {} {} failed: {}", name, req.method, req.path, what);
    send_json_error(res, 500, "internal", "the request failed inside " + name);
  });
  server.set_error_handler([max_body_bytes](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 404) send_json_error(res, 404, "not_found", "no such path");
    else if (res.status == 413)
      send_json_error(res, 413, "too_large", "body larger than " + std::to_string(max_body_bytes / 1024) + " KiB");
    else if (res.status == 400)
      send_json_error(res, 400, "bad_request", "malformed HTTP request (a POST needs Content-Length, even when empty)");
    else send_json_error(res, res.status, "error", "request refused");
  });
  server.set_logger([name](const httplib::Request& req, const httplib::Response& res) {
    if (res.status >= 500) spdlog::warn("{}: {} {} -> {}", name, req.method, req.path, res.status);
  });
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

std::optional<std::string> parse_page(const httplib::Request& req, Page& page, int max_limit) {
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

protocol::Expected<int> bind_server(httplib::Server& server, const std::string& host, int port,
                                    const std::string& web_dir) {
  if (!web_dir.empty() && !server.set_mount_point("/", web_dir))
    return protocol::error("web dir " + web_dir + " is not a directory");
  int bound = port == 0 ? server.bind_to_any_port(host) : (server.bind_to_port(host, port) ? port : -1);
  if (bound <= 0) return protocol::error("http: cannot listen on " + host + ":" + std::to_string(port));
  return bound;
}

}  // namespace yiban::db
