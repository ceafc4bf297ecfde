#pragma once
// Keeps the hall's displays and kiosks up to date (ARCHITECTURE §5):
// retained board/calls (last 10 calls) and catalog on every change,
// board/announce (QoS 1, not retained) once per call or recall, in order,
// and retained board/queues coalesced to at most one update per 200 ms,
// always followed by one carrying the true final state.
// Engine thread only.

#include <cstdint>

#include "gateway/device_bus.h"
#include "queue/queue_engine.h"
#include "yiban/protocol/topics.h"

namespace yiban::edge::gateway {

class BoardPublisher {
 public:
  static constexpr std::int64_t kQueuesIntervalMs = 200;

  BoardPublisher(const protocol::Topics& topics, DeviceBus& bus, const queue::QueueEngine& engine);

  // Publishes what changed; queues are only marked and left to tick().
  void apply(const queue::Changes& changes, std::int64_t now);
  // After a (re)connect: the broker may have lost every retained message.
  void republish_all(std::int64_t now);
  // Publishes board/queues when due. Returns ms until it next needs a tick, or -1.
  std::int64_t tick(std::int64_t now);

 private:
  void publish_queues(std::int64_t now);

  const protocol::Topics& topics_;
  DeviceBus& bus_;
  const queue::QueueEngine& engine_;
  bool queues_dirty_ = false;
  std::int64_t last_queues_ms_ = 0;
};

}  // namespace yiban::edge::gateway
