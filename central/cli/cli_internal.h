#pragma once
// Internals of the `yiban` client shared by cli.cpp (central commands, option
// parsing, help) and hall_commands.cpp (commands against a hall's edge).
// Not a public API: only the cli library and its own files include this.

#include <fmt/core.h>

#include <boost/program_options.hpp>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "cli.h"
#include "yiban/runtime/http_client.h"

namespace yiban::cli::internal {

namespace po = boost::program_options;
using nlohmann::json;
using Align = Table::Align;
constexpr Align L = Align::kLeft;
constexpr Align R = Align::kRight;

struct Globals {
  std::string server;  // http(s)://HOST[:PORT][/PREFIX]
  std::string token;
  std::string ca_file;  // https: the CA certificates to trust; "" = the system's
  bool json = false;
  int timeout_s = 10;
};

// The outcome of one API call: exit code kOk with the parsed body, or an
// exit code whose cause has already been reported on err.
struct Reply {
  int code = kOk;
  json body;
};

// Central's or an edge's API over one kept-alive connection (runtime::HttpClient).
class Api {
 public:
  Api(const Globals& g, runtime::HttpClient client, std::ostream& err)
      : globals_(g), err_(err), client_(std::move(client)) {}

  Reply get(const std::string& path) { return finish(client_.get(path, headers())); }
  Reply del(const std::string& path) { return finish(client_.del(path, headers())); }

  Reply post(const std::string& path, const json& body) {
    return finish(client_.post(path, body.dump(-1, ' ', false, json::error_handler_t::replace),
                               "application/json", headers()));
  }

  Reply put(const std::string& path, const json& body) {
    return finish(client_.put(path, body.dump(-1, ' ', false, json::error_handler_t::replace),
                              "application/json", headers()));
  }

  // A raw body (a file) of the given Content-Type; the reply is JSON as above.
  Reply post_bytes(const std::string& path, const std::string& bytes,
                   const std::string& content_type) {
    return finish(client_.post(path, bytes, content_type, headers()));
  }

  // A raw reply body (a file): code kOk with the bytes, or an exit code whose
  // cause (the server's error body, as for JSON calls) has been reported on err.
  struct Bytes {
    int code = kOk;
    std::string body;
  };
  Bytes get_bytes(const std::string& path) {
    auto res = client_.get(path, headers("*/*"));
    Bytes b;
    if (res && res->status >= 200 && res->status < 300) {
      b.body = std::move(res->body);
      return b;
    }
    b.code = finish(res).code;
    return b;
  }

 private:
  runtime::HttpHeaders headers(const char* accept = "application/json") const {
    runtime::HttpHeaders h{{"Accept", accept}};
    if (!globals_.token.empty()) h.emplace_back("Authorization", "Bearer " + globals_.token);
    return h;
  }

  Reply finish(const protocol::Expected<runtime::HttpReply>& res) {
    Reply r;
    if (!res) {
      err_ << fmt::format("yiban: cannot reach the server at {}: {}\n", globals_.server,
                          client_.cause_of(res.error()));
      r.code = kUnreachable;
      return r;
    }
    const int status = res->status;
    r.body = json::parse(res->body, nullptr, false);
    if (status >= 200 && status < 300) {
      if (r.body.is_discarded() || !r.body.is_object()) {
        err_ << fmt::format("yiban: the server's reply is not a JSON object (HTTP {})\n", status);
        r.code = kApiError;
      }
      return r;
    }
    std::string code = "error", message;
    if (!r.body.is_discarded() && r.body.is_object()) {
      auto e = r.body.find("error");
      if (e != r.body.end() && e->is_object()) {
        if (auto c = e->find("code"); c != e->end() && c->is_string()) code = c->get<std::string>();
        if (auto m = e->find("message"); m != e->end() && m->is_string())
          message = m->get<std::string>();
      }
    }
    if (message.empty())
      message = status == 404 ? "not found" : status == 401 ? "unauthorized" : "request failed";
    err_ << fmt::format("yiban: {} ({}, HTTP {})\n", message, code, status);
    if (status == 401 && globals_.token.empty())
      err_ << "yiban: no token given: use --token or set YIBAN_TOKEN\n";
    r.code = status == 401 || status == 403 ? kUnauthorized : status == 404 ? kNotFound : kApiError;
    return r;
  }

  const Globals& globals_;
  std::ostream& err_;
  runtime::HttpClient client_;
};

// JSON field helpers for table cells (all accept a non-object and answer
// "-", nullopt, false or an empty array/null).
std::string cell(const json& o, const char* key);  // "-" when missing or null
std::optional<double> number(const json& o, const char* key);
std::optional<std::int64_t> integer(const json& o, const char* key);
bool flag(const json& o, const char* key);
std::string time_cell(const json& o, const char* key);      // local date and time
std::string duration_cell(const json& o, const char* key);  // m:ss
std::string percent_cell(const json& o, const char* key);   // a 0..1 ratio as %
const json& list(const json& o, const char* key);
const json& object(const json& o, const char* key);
// "?k=v&…" of the non-empty values, values percent-encoded; "" when none.
std::string query(const std::vector<std::pair<std::string, std::string>>& params);
// A string option's value, "" when not given.
std::string opt(const po::variables_map& vm, const char* key);
// A string option that must be given (UsageError "--KEY is required").
std::string required(const po::variables_map& vm, const char* key);

// One invocation's state, shared by the command handlers.
struct Session {
  Globals globals;
  std::ostream& out;
  std::ostream& err;
  Api& api;
};

struct UsageError {
  std::string message;
};

// A command: its options, positional arguments and handler.
struct Command {
  const char* name;
  const char* synopsis;  // after "yiban NAME"
  const char* summary;   // one line for `yiban --help`
  const char* details;   // paragraph for `yiban NAME --help`
  void (*options)(po::options_description&);
  // The last may be "TEXT..." (takes the rest), or "[TEXT...]" (takes the
  // rest, may be empty). "ID" and "HALL" are stored under the key "hall", any
  // other NAME under its lower-cased name.
  std::vector<const char*> positionals;
  int (*handler)(Session&, const po::variables_map&);
  // Talks to a hall's edge, not to central: listed under "hall" in the help,
  // and the server defaults to the edge's http://127.0.0.1:8080.
  bool edge = false;
  // When set, decides `edge` (the default server) from the parsed arguments:
  // for a command whose actions go to an edge or to central (`case`).
  bool (*edge_for)(const po::variables_map&) = nullptr;
};

void print_json(Session& s, const json& body);
// A table of central's or an edge's alert objects (an edge's carry "id"
// instead of "alert"); with_hall adds a HALL column first.
void print_alerts(std::ostream& out, const json& alerts, bool with_hall);

// For commands made of actions (`case submit`, `booking book`): every option
// given must be one the chosen action takes; otherwise a usage error naming
// the actions that take it. Action has .name and .options (long names).
template <class Action>
void check_action_options(const boost::program_options::variables_map& vm,
                          const boost::program_options::options_description& all, std::string_view command,
                          const Action& chosen, const std::vector<Action>& actions) {
  for (const auto& o : all.options()) {
    const std::string key = o->long_name();
    if (!vm.count(key)) continue;
    auto takes = [&](const Action& a) {
      return std::any_of(a.options.begin(), a.options.end(), [&](const char* k) { return key == k; });
    };
    if (takes(chosen)) continue;
    std::string takers;
    for (const auto& other : actions) {
      if (!takes(other)) continue;
      takers += std::string(takers.empty() ? "" : ", ") + "'" + std::string(command) + " " + other.name + "'";
    }
    throw UsageError{fmt::format("--{} goes with {} only", key, takers)};
  }
}

}  // namespace yiban::cli::internal
