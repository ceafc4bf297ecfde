#pragma once
// Turns one device request (ARCHITECTURE §5, §5.1) into exactly one reply:
// who is asking (device id in the topic, bound by the hall config), whether
// that kind of device may do it, the strict payload decode, the retry check
// against replies recorded per (device, correlation data), and the queue
// engine call. Runs on the engine thread inside the caller's open transaction.

#include <cstdint>
#include <optional>
#include <string>

#include "gateway/device_bus.h"
#include "gateway/device_limiter.h"
#include "alerts/alert_engine.h"
#include "queue/queue_engine.h"
#include "store/edge_store.h"
#include "yiban/protocol/hall_config.h"
#include "yiban/protocol/topics.h"

namespace yiban::edge::gateway {

struct Outgoing {
  std::string topic;
  std::string payload;
  int qos = 1;
  bool retain = false;
  std::optional<std::string> correlation;
};

class RequestHandler {
 public:
  RequestHandler(const protocol::HallConfig& config, const protocol::Topics& topics, store::EdgeStore& store,
                 queue::QueueEngine& engine, alerts::AlertEngine& alerts);

  struct Handled {
    Outgoing reply;
    bool wrote = false;  // the reply depends on this transaction's commit
    queue::Changes changes;  // for boards, valid only once committed
    bool limited = false;  // over the device's request rate: nothing applied
    bool answer = true;  // false: publish nothing (over the device's reply budget)
  };
  Handled handle(const protocol::DeviceTopic& topic, const InboundMessage& message, std::int64_t now);
  // A reply refusing the request without looking at it (e.g. the store is down).
  Outgoing refusal(const protocol::DeviceTopic& topic, const InboundMessage& message,
                   const protocol::Failure& failure) const;

  // Per-device rate limits (hall config "limits"): with a limiter, a valid
  // request over the device's rate is refused bad_request "rate limit"
  // before anything is looked up or applied, and refused requests beyond
  // the device's reply budget go unanswered. The limiter outlives this.
  void set_limiter(DeviceLimiter* limiter) { limiter_ = limiter; }

  // Whether a device of this kind may send this op.
  static bool allowed(protocol::DeviceKind kind, protocol::Op op);

 private:
  protocol::Result<std::string> staff(const protocol::DeviceConfig& device, const protocol::Request& request,
                                      std::int64_t now);
  protocol::Result<std::string> dispatch(const protocol::DeviceConfig& device, const protocol::Request& request,
                                         std::int64_t now);
  std::string reply_topic(const protocol::DeviceTopic& topic, const InboundMessage& message, bool& refused) const;

  const protocol::HallConfig& config_;
  const protocol::Topics& topics_;
  store::EdgeStore& store_;
  queue::QueueEngine& engine_;
  alerts::AlertEngine& alerts_;
  DeviceLimiter* limiter_ = nullptr;
  void reload();
  // Logs a device's refusals, at most once a minute per device.
  void log_limited(const std::string& device, std::int64_t now);
};

}  // namespace yiban::edge::gateway
