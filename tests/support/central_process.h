#pragma once
// A real yiban-central process for integration tests and benchmarks, with
// its keys, allow-list and token file in a temp directory, on free ports.

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/test_support.h"
#include "yiban/runtime/http_client.h"

namespace yiban::test {

inline constexpr const char* kAdminToken = "admin-token-0123456789";
inline constexpr const char* kOperatorToken = "operator-token-0123456789";
inline constexpr const char* kViewerToken = "viewer-token-0123456789";
// A hall-manager token for test-hall.
inline constexpr const char* kHallManagerToken = "manager-token-0123456789";

struct HttpResponse {
  int status = 0;  // 0: no answer
  std::string body;
};
// A client of a daemon's HTTP API on 127.0.0.1:port (kept-alive connection,
// timeout per step); throws std::runtime_error if it cannot be made.
yiban::runtime::HttpClient http_client(int port, std::chrono::milliseconds timeout = std::chrono::seconds(10));
// One request to a daemon on loopback (GET, POST, PUT or DELETE), with a bearer token unless empty.
HttpResponse http_request(int port, const std::string& method, const std::string& path, const std::string& body,
                          const std::string& token);

class CentralProcess {
 public:
  // Generates central's keys and one key per hall (allow-listed).
  CentralProcess(std::filesystem::path dir, std::vector<std::string> halls);
  ~CentralProcess();

  // Options added to every start (e.g. --catalog FILE).
  void add_args(std::vector<std::string> args) { extra_args_.insert(extra_args_.end(), args.begin(), args.end()); }
  // Starts and waits until it serves (throws with its log when it does not).
  void start();
  void kill9();
  int terminate();

  std::string sync_uri() const { return "tcp://127.0.0.1:" + std::to_string(sync_port_); }
  std::string http_url() const { return "http://127.0.0.1:" + std::to_string(http_port_); }
  int http_port() const { return http_port_; }
  pid_t pid() const { return process_ ? process_->pid() : -1; }
  std::filesystem::path db() const { return dir_ / "central.db"; }
  std::filesystem::path log() const { return dir_ / "central.log"; }
  std::string log_text() const { return read_file(log()); }
  // The edge options that connect a hall to this central.
  std::vector<std::string> edge_args(const std::string& hall) const;

  using Response = HttpResponse;
  Response get(const std::string& path, const std::string& token = kAdminToken) const {
    return request("GET", path, "", token);
  }
  Response post(const std::string& path, const std::string& body, const std::string& token = kAdminToken) const {
    return request("POST", path, body, token);
  }
  Response put(const std::string& path, const std::string& body, const std::string& token = kAdminToken) const {
    return request("PUT", path, body, token);
  }
  Response request(const std::string& method, const std::string& path, const std::string& body,
                   const std::string& token) const;

 private:
  std::filesystem::path dir_;
  int sync_port_ = 0;
  int http_port_ = 0;
  std::vector<std::string> extra_args_;
  std::unique_ptr<ChildProcess> process_;
};

// Central holds exactly the hall's log from edge_db (archived events
// included): the same texts in the same order, central's acknowledged chain
// equals the edge's last chain, and both stores pass PRAGMA integrity_check
// (Catch assertions).
void require_same_log(const std::filesystem::path& edge_db, const std::string& hall, const CentralProcess& central);

// The edge's whole log: its archived events (store/event_archive.h) then the
// events table.
std::vector<std::string> edge_log_texts(const std::filesystem::path& edge_db);

}  // namespace yiban::test
