#pragma once
// What both daemons' HTTP APIs share (ARCHITECTURE §8): JSON error bodies
// {"error":{"code","message"}}, bearer-token authentication against the §11
// token file, and one set of server settings (body limit, errors for
// exceptions and unknown paths, 5xx logged), so the hall console and central
// behave alike.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "yiban/db/httplib.h"
#include "yiban/protocol/error.h"
#include "yiban/protocol/tokens.h"

namespace yiban::db {

// Sets status and a JSON error body (invalid UTF-8 in the message is replaced).
void send_json_error(httplib::Response& res, int status, std::string_view code, std::string_view message);

// The grant of the request's bearer token; otherwise answers 401 and returns nothing.
std::optional<protocol::TokenGrant> authenticate(const httplib::Request& req, httplib::Response& res,
                                                 const protocol::TokenTable& tokens);

// Body limit, JSON errors for exceptions (500, logged with `who`), unknown
// paths (404), oversize bodies (413) and malformed requests (400).
void configure_server(httplib::Server& server, std::size_t max_body_bytes, std::string_view who);

// A non-negative decimal count (at most 18 digits), or nothing.
std::optional<std::int64_t> parse_count(std::string_view text);

// limit (1..max_limit, default kept) and offset query parameters; an error
// message naming the parameter when one is malformed.
struct Page {
  int limit = 50;
  int offset = 0;
};
std::optional<std::string> parse_page(const httplib::Request& req, Page& page, int max_limit);

// A day given as YYYY-MM-DD or YYYYMMDD → yyyymmdd; nothing when malformed.
std::optional<int> parse_day(std::string_view text);

// Content-Disposition for a download keeping a UTF-8 file name (RFC 5987).
std::string attachment_disposition(std::string_view file_name);

// Mounts web_dir at / (when set) and binds host:port (0: any free port);
// returns the port. Errors name the directory or the address.
protocol::Expected<int> bind_server(httplib::Server& server, const std::string& host, int port,
                                    const std::string& web_dir);

}  // namespace yiban::db
