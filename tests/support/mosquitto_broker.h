#pragma once
// A real Mosquitto broker on a free loopback port for tests, with its own
// generated config: an explicit listener line and anonymous access on
// 127.0.0.1, or the security of a `yiban-edge provision` config (password
// file, ACL, no anonymous access, TLS when it has a certificate).

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "support/test_support.h"

namespace yiban::test {

struct BrokerOptions {
  int port = 0;  // 0: a free one
  // A provisioned mosquitto.conf: every line but its listener line is used
  // (the test's own listener takes its place, so certfile/keyfile follow it).
  std::filesystem::path provisioned_config;
};

class MosquittoBroker {
 public:
  // Starts /usr/sbin/mosquitto and returns once it serves MQTT (bounded
  // wait; throws std::runtime_error with the broker's log if it does not start).
  explicit MosquittoBroker(const std::filesystem::path& dir, int port = 0);
  MosquittoBroker(const std::filesystem::path& dir, BrokerOptions options);
  ~MosquittoBroker();

  int port() const { return port_; }
  // The broker's own stderr, appended across restarts.
  std::filesystem::path log_file() const { return dir_ / "mosquitto.log"; }
  // ssl:// when the provisioned config has a certificate.
  std::string uri() const { return (tls_ ? "ssl://127.0.0.1:" : "tcp://127.0.0.1:") + std::to_string(port_); }
  // Kill -9 and start again on the same port (retained messages are lost:
  // no persistence).
  void restart();
  // SIGHUP: the broker reads its password file and ACL again.
  void reload();
  void stop();

 private:
  // Spawns the broker and waits until it serves MQTT. When may_change_port
  // and the port was taken meanwhile, moves to another free port.
  void start(bool may_change_port);
  // Serves MQTT: anonymous brokers accept an anonymous connect, secured ones
  // answer it (refusing), TLS ones accept a TCP connection.
  bool serving() const;
  std::filesystem::path dir_;
  int port_;
  std::string provisioned_;  // the provisioned config's lines but its listener
  bool tls_ = false;
  std::unique_ptr<ChildProcess> process_;
};

// Blocks until an anonymous MQTT connect to uri succeeds or the timeout passes.
bool wait_for_broker(const std::string& uri, std::chrono::milliseconds timeout);
// The CONNACK reason code of an anonymous MQTT 5 connect to a tcp:// uri
// (0 accepted, 0x87 not authorized, ...), or nothing when no CONNACK came.
std::optional<int> anonymous_connack(const std::string& uri, std::chrono::milliseconds timeout);

}  // namespace yiban::test
