#pragma once
// A real Mosquitto broker on a free loopback port for tests, with its own
// generated config (explicit listener line, anonymous allowed on 127.0.0.1).

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "support/test_support.h"

namespace yiban::test {

class MosquittoBroker {
 public:
  // Starts /usr/sbin/mosquitto and returns once it accepts MQTT connections
  // (bounded wait; throws std::runtime_error with the broker's log if it does not start).
  explicit MosquittoBroker(const std::filesystem::path& dir, int port = 0);
  ~MosquittoBroker();

  int port() const { return port_; }
  // The broker's own stderr, appended across restarts.
  std::filesystem::path log_file() const { return dir_ / "mosquitto.log"; }
  std::string uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
  // Kill -9 and start again on the same port (retained messages are lost:
  // no persistence).
  void restart();
  void stop();

 private:
  // Spawns the broker and waits until it serves MQTT. When may_change_port
  // and the port was taken meanwhile, moves to another free port.
  void start(bool may_change_port);
  std::filesystem::path dir_;
  int port_;
  std::unique_ptr<ChildProcess> process_;
};

// Blocks until an MQTT connect to uri succeeds or the timeout passes.
bool wait_for_broker(const std::string& uri, std::chrono::milliseconds timeout);

}  // namespace yiban::test
