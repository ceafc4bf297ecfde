#pragma once
// A real yiban-edge process for integration tests and benchmarks.

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "support/mqtt_test_client.h"
#include "support/test_support.h"

namespace yiban::test {

class EdgeProcess {
 public:
  EdgeProcess(std::filesystem::path dir, std::filesystem::path hall_config, std::string mqtt_uri,
              std::vector<std::string> extra_args = {});
  ~EdgeProcess();

  // Starts the daemon and waits until it is connected and subscribed (its
  // retained catalog appears on the broker). Throws std::runtime_error with
  // the daemon's log when it does not become ready.
  void start();
  // The login start()'s watcher uses on a provisioned broker (it clears the
  // retained catalog, so it needs the edge's own credentials).
  void watch_as(MqttLogin login) { watcher_login_ = std::move(login); }
  // NAME=VALUE settings for the daemon's environment from the next start()
  // on (it runs through /usr/bin/env, which execs it: same pid).
  void set_env(std::vector<std::string> assignments) { env_ = std::move(assignments); }
  pid_t pid() const { return process_ ? process_->pid() : -1; }
  void kill9();
  // SIGTERM; returns the exit status (or -1 on timeout).
  int terminate();
  bool running();

  std::filesystem::path db() const { return dir_ / "edge.db"; }
  std::filesystem::path log() const { return dir_ / "edge.log"; }
  std::string log_text() const { return read_file(log()); }
  const std::string& hall() const { return hall_; }

 private:
  std::filesystem::path dir_;
  std::filesystem::path hall_config_;
  std::string mqtt_uri_;
  std::vector<std::string> extra_args_;
  std::string hall_;
  std::unique_ptr<ChildProcess> process_;
  MqttLogin watcher_login_;
  std::vector<std::string> env_;
};

// Polls pred every 20 ms until it holds or the timeout passes (for state that
// another process changes and announces nowhere else).
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout);

// Reads a hall config's "hall" field.
std::string hall_id_of(const std::filesystem::path& hall_config);

// Read-only queries on an edge database (safe while the edge runs: WAL).
long long query_int(const std::filesystem::path& db, const std::string& sql);
std::vector<std::string> query_strings(const std::filesystem::path& db, const std::string& sql);

}  // namespace yiban::test
