#pragma once
// Hands inbound MQTT traffic from Paho's callback thread to the hall's engine
// thread.

#include <chrono>
#include <cstdint>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "console/console_link.h"

namespace yiban::edge::gateway {

struct InboundMessage {
  std::string topic;
  std::string payload;
  std::optional<std::string> response_topic;
  std::optional<std::string> correlation;  // MQTT 5 Correlation Data, binary
  bool retained = false;
  std::int64_t received_ns = 0;  // steady clock, when Paho handed it over
};

enum class BusEvent { kConnected, kConnectionLost };

// A command from central (sync DOWN), its exact text, for the engine thread.
struct CentralCommand {
  std::string text;
};

using InboxItem = std::variant<InboundMessage, BusEvent, CentralCommand, console::Request>;

// A bounded multi-producer queue drained by one consumer. push() blocks while
// the inbox is full, which holds the broker back instead of growing memory.
class Inbox {
 public:
  explicit Inbox(std::size_t capacity = 20000) : capacity_(capacity) {}

  void push(InboxItem item);
  // Waits up to timeout for at least one item, then takes up to max items.
  std::vector<InboxItem> pop_batch(std::chrono::milliseconds timeout, std::size_t max);
  // Wakes a waiting pop_batch.
  void wake();
  std::size_t size() const;

 private:
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable not_empty_;  // guarded by mutex_
  std::condition_variable not_full_;  // guarded by mutex_
  std::deque<InboxItem> items_;  // guarded by mutex_
  bool woken_ = false;  // guarded by mutex_
};

}  // namespace yiban::edge::gateway
