#pragma once
// A hall for device agent tests: a real broker and, unless asked not to, a
// real yiban-edge on the test hall config (hall "test-hall").

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

#include "support/edge_process.h"
#include "support/mosquitto_broker.h"
#include "support/test_support.h"
#include "yiban/devices/device_agent.h"

namespace yiban::devices::test {

using yiban::test::kHall;

// The test hall config, parsed (for unit tests that need a HallConfig).
inline protocol::HallConfig load_test_hall() {
  yiban::test::TempDir dir;
  auto hall = protocol::load_hall_config(yiban::test::write_test_hall_config(dir.path()));
  if (!hall) throw std::runtime_error("test hall config: " + hall.error().message);
  return *hall;
}

struct DeviceTestHall {
  yiban::test::TempDir dir;
  yiban::test::MosquittoBroker broker{dir.path()};
  std::filesystem::path config = yiban::test::write_test_hall_config(dir.path());
  yiban::test::EdgeProcess edge{dir.path(), config, broker.uri()};

  explicit DeviceTestHall(bool start_edge = true) {
    if (start_edge) edge.start();
  }

  AgentOptions agent_options(const std::string& device, protocol::DeviceKind kind) const {
    AgentOptions options;
    options.uri = broker.uri();
    options.hall = kHall;
    options.device = device;
    options.kind = kind;
    return options;
  }

  // A started agent, connected (bounded wait).
  std::unique_ptr<DeviceAgent> agent(const std::string& device, protocol::DeviceKind kind) const {
    auto agent = std::make_unique<DeviceAgent>(agent_options(device, kind));
    agent->start();
    agent->wait_connected(std::chrono::seconds(10));
    return agent;
  }
};

}  // namespace yiban::devices::test
