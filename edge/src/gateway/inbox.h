#pragma once
// Hands inbound MQTT traffic from Paho's callback thread to the hall's engine
// thread.

#include <chrono>
#include <cstdint>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "console/console_link.h"
#include "sync/sync_step.h"

namespace yiban::edge::gateway {

struct InboundMessage {
  std::string topic;
  std::string payload;
  std::optional<std::string> response_topic;
  std::optional<std::string> correlation;  // MQTT 5 Correlation Data, binary
  bool retained = false;
  std::int64_t received_ns = 0;  // steady clock, when Paho handed it over
  // A request whose payload was over the limit: payload is empty, this is
  // its size (the engine answers bad_json without ever holding the bytes).
  std::size_t oversize_bytes = 0;
};

enum class BusEvent { kConnected, kConnectionLost };

// A command from central (sync DOWN), its exact text, for the engine thread.
struct CentralCommand {
  std::string text;
  // Set instead of text: a store step from the sync client (re-base, adopt).
  std::shared_ptr<const sync::SyncStep> step;
};

using InboxItem = std::variant<InboundMessage, BusEvent, CentralCommand, console::Request>;

// How much each producer may have waiting for the engine thread.
struct InboxLimits {
  std::size_t mqtt_messages = 20000;  // device messages, all devices
  std::size_t mqtt_bytes = 32 * 1024 * 1024;  // their topics, payloads and properties
  std::size_t device_messages = 2000;  // one device's share of mqtt_messages
  std::size_t commands = 10000;  // central's commands
  std::size_t console_requests = 256;
};

// What the inbox refused since start (read by the engine thread for /metrics).
struct InboxCounters {
  std::uint64_t mqtt_dropped = 0;  // lane or the device's share full
  std::uint64_t console_refused = 0;  // console lane full: answered 503
  std::size_t mqtt_waiting = 0;  // messages in the MQTT lane now
  std::size_t mqtt_waiting_max = 0;  // the most there ever were
};

// The hall engine's inbox: one bounded lane per producer, drained by one
// consumer (the engine thread), so that no producer's pressure blocks another:
//   MQTT    (Paho's callback thread) never blocks: a message over the lane's
//           bounds, or over its device's share, is dropped and counted. Bus
//           events (connected, lost) are never dropped.
//   sync    (the sync client's thread) blocks while its own lane is full.
//   console (HTTP threads) never blocks: refused when its lane is full.
// pop_batch() takes bus events, console requests and commands before device
// messages.
class Inbox {
 public:
  explicit Inbox(InboxLimits limits = {}) : limits_(limits) {}

  // Paho's callback thread. False when the message was dropped.
  bool push_mqtt(InboundMessage message);
  void push_bus_event(BusEvent event);
  // The sync thread; blocks while the command lane is full.
  void push_command(CentralCommand command);
  // HTTP threads. False when the console lane is full (request untouched:
  // the caller answers it).
  bool push_console(console::Request& request);

  // Waits up to timeout for at least one item, then takes up to max items.
  std::vector<InboxItem> pop_batch(std::chrono::milliseconds timeout, std::size_t max);
  // Wakes a waiting pop_batch.
  void wake();
  std::size_t size() const;
  InboxCounters counters() const;

  // The device id in ".../devices/{device}/..." ("" for other topics).
  static std::string_view device_of(std::string_view topic);

 private:
  struct Waiting {
    InboundMessage message;
    std::size_t bytes;
    std::string device;
  };
  void take_mqtt_locked(std::vector<InboxItem>& out, std::size_t max);

  const InboxLimits limits_;
  mutable std::mutex mutex_;
  std::condition_variable not_empty_;  // guarded by mutex_
  std::condition_variable commands_not_full_;  // guarded by mutex_
  std::deque<BusEvent> bus_events_;  // guarded by mutex_
  std::deque<console::Request> console_;  // guarded by mutex_
  std::deque<CentralCommand> commands_;  // guarded by mutex_
  std::deque<Waiting> mqtt_;  // guarded by mutex_
  std::size_t mqtt_bytes_ = 0;  // guarded by mutex_
  std::map<std::string, std::size_t, std::less<>> per_device_;  // waiting per device, no zeros; guarded by mutex_
  InboxCounters counters_;  // guarded by mutex_
  bool woken_ = false;  // guarded by mutex_
};

}  // namespace yiban::edge::gateway
