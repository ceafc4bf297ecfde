#pragma once
// The edge's link to its devices: an MQTT 5 broker in production, a fake in
// unit tests. Inbound traffic is handed to the hall's engine thread through an
// Inbox; publish() is called only from that thread.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gateway/inbox.h"

namespace yiban::edge::gateway {

class DeviceBus {
 public:
  virtual ~DeviceBus() = default;
  // Asynchronous; QoS 0 or 1. A message published while the broker is away is
  // buffered and sent after the reconnect.
  virtual void publish(const std::string& topic, const std::string& payload, int qos, bool retain,
                       const std::optional<std::string>& correlation = std::nullopt) = 0;
  virtual void subscribe(const std::vector<std::pair<std::string, int>>& filters) = 0;
  virtual bool connected() const = 0;
  // Called by the engine thread on every tick: reconnects when needed.
  virtual void poll(std::int64_t now_ms) = 0;
};

}  // namespace yiban::edge::gateway
