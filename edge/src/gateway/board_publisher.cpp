#include "gateway/board_publisher.h"

#include "yiban/protocol/payloads.h"

namespace yiban::edge::gateway {

BoardPublisher::BoardPublisher(const protocol::Topics& topics, DeviceBus& bus, const queue::QueueEngine& engine)
    : topics_(topics), bus_(bus), engine_(engine) {}

void BoardPublisher::apply(const queue::Changes& changes, std::int64_t now) {
  if (changes.calls) bus_.publish(topics_.board_calls(), protocol::encode_board_calls(engine_.recent_calls()), 1, true);
  for (const auto& a : changes.announcements)
    bus_.publish(topics_.board_announce(), protocol::encode_announcement(a), 1, false);
  if (changes.catalog) {
    const auto& config = engine_.config();
    bus_.publish(topics_.catalog(), protocol::encode_catalog(config.hall, config.name, engine_.catalog()), 1, true);
  }
  if (changes.queues) {
    queues_dirty_ = true;
    tick(now);
  }
}

void BoardPublisher::republish_all(std::int64_t now) {
  queue::Changes all;
  all.calls = all.catalog = true;
  apply(all, now);
  publish_queues(now);
}

void BoardPublisher::publish_queues(std::int64_t now) {
  bus_.publish(topics_.board_queues(), protocol::encode_board_queues(now, engine_.queues()), 1, true);
  queues_dirty_ = false;
  last_queues_ms_ = now;
}

std::int64_t BoardPublisher::tick(std::int64_t now) {
  if (!queues_dirty_) return -1;
  std::int64_t due = last_queues_ms_ + kQueuesIntervalMs;
  if (now >= due || now < last_queues_ms_) {
    publish_queues(now);
    return -1;
  }
  return due - now;
}

}  // namespace yiban::edge::gateway
