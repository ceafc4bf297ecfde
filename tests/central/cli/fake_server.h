#pragma once
// A stand-in for central's (or a hall edge's) HTTP API for the CLI tests: a
// real yiban::runtime::HttpServer on a free port of 127.0.0.1 that answers canned
// replies by "METHOD /path", checks the bearer token and records every
// request. The destructor stops the server and joins its thread, so a
// failing test leaves nothing running.

#include <catch2/catch.hpp>

#include <chrono>
#include <concepts>
#include <type_traits>
#include <map>
#include <mutex>
#include <sstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "cli.h"
#include "yiban/runtime/http_server.h"

namespace yiban::test {

class FakeServer {
 public:
  struct Request {
    std::string method, path, target, body, content_type, authorization;
    std::multimap<std::string, std::string> params;
    // The query parameter's value, or "<none>".
    std::string param(const std::string& key) const {
      auto it = params.find(key);
      return it == params.end() ? std::string("<none>") : it->second;
    }
  };

  const std::string& token() const { return token_; }

  explicit FakeServer(std::string token) : token_(std::move(token)) {
    auto handle = [this](const runtime::HttpRequest& req, runtime::HttpResponse& res) {
      std::lock_guard lock(mutex_);
      Request r{req.method, req.path, req.target, req.body, req.get_header_value("Content-Type"),
                req.get_header_value("Authorization"), {}};
      for (const auto& [k, v] : req.params) r.params.emplace(k, v);
      std::string line = req.method + " " + req.path;
      for (const auto& [k, v] : req.params) line += std::string(line.find('?') == std::string::npos ? "?" : "&") + k + "=" + v;
      requests_.push_back(std::move(r));
      lines_.push_back(line);
      if (requests_.back().authorization != "Bearer " + token_) {
        res.status = 401;
        res.set_content(R"({"error":{"code":"unauthorized","message":"a valid bearer token is needed"}})",
                        "application/json");
        return;
      }
      // A reply for the exact query (params sorted by name) wins over the path's.
      auto it = replies_.find(line);
      if (it == replies_.end()) it = replies_.find(req.method + " " + req.path);
      if (it == replies_.end()) {
        res.status = 404;
        res.set_content(R"({"error":{"code":"not_found","message":"no such path"}})", "application/json");
        return;
      }
      auto& queue = it->second;
      Reply reply = queue.front();
      if (queue.size() > 1) queue.erase(queue.begin());  // the last one repeats
      res.status = reply.status;
      res.set_content(reply.body, reply.type);
    };
    // The fake checks the token itself (its 401 is part of what is tested).
    constexpr std::size_t kMaxBody = 32u << 20;
    server_.Get(".*", handle).open().max_body(kMaxBody);
    server_.Post(".*", handle).open().max_body(kMaxBody);
    server_.Put(".*", handle).open().max_body(kMaxBody);
    server_.Delete(".*", handle).open().max_body(kMaxBody);
    auto port = server_.listen();
    REQUIRE(port);
    port_ = *port;
    server_.start();
  }

  ~FakeServer() { server_.stop(); }

  FakeServer(const FakeServer&) = delete;
  FakeServer& operator=(const FakeServer&) = delete;

  // The reply to method_path: "METHOD /path", or "METHOD /path?k=v&…"
  // (params sorted by name, values decoded) for that query only.
  void reply(const std::string& method_path, int status, std::string body, std::string type = "application/json") {
    std::lock_guard lock(mutex_);
    replies_[method_path] = {{status, std::move(body), std::move(type)}};
  }
  template <class Json>
    requires std::same_as<std::remove_cvref_t<Json>, nlohmann::json>
  void reply(const std::string& method_path, int status, const Json& body) {
    reply(method_path, status, body.dump());
  }
  // Replies given in turn to method_path; the last one then repeats.
  void reply_next(const std::string& method_path, int status, std::string body,
                  std::string type = "application/json") {
    std::lock_guard lock(mutex_);
    replies_[method_path].push_back({status, std::move(body), std::move(type)});
  }

  Request last() {
    std::lock_guard lock(mutex_);
    return requests_.empty() ? Request{} : requests_.back();
  }
  std::vector<Request> requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  // Every request's "METHOD /path?query" so far, oldest first.
  std::vector<std::string> request_lines() {
    std::lock_guard lock(mutex_);
    return lines_;
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  struct Reply {
    int status;
    std::string body, type;
  };
  std::string token_;
  runtime::HttpServer server_{[] {
    runtime::HttpServerOptions options;
    options.who = "the fake server";
    return options;
  }()};
  int port_ = -1;
  std::mutex mutex_;
  std::map<std::string, std::vector<Reply>> replies_;  // guarded by mutex_
  std::vector<Request> requests_;  // guarded by mutex_
  std::vector<std::string> lines_;  // guarded by mutex_
};

// What one run of the yiban CLI gave: exit code, stdout, stderr.
struct CliOutcome {
  int code;
  std::string out;
  std::string err;
};

// Runs the yiban CLI in-process with args (without the program name).
inline CliOutcome run_yiban(std::vector<std::string> args) {
  args.insert(args.begin(), "yiban");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::ostringstream out, err;
  int code = yiban::cli::run(static_cast<int>(args.size()), argv.data(), out, err);
  return {code, out.str(), err.str()};
}

// yiban against the fake server, with its token.
inline CliOutcome yiban_at(const FakeServer& s, std::vector<std::string> args) {
  args.insert(args.begin(), {"--server", s.url(), "--token", s.token()});
  return run_yiban(std::move(args));
}

}  // namespace yiban::test
