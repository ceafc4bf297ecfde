#include "gateway/inbox.h"

namespace yiban::edge::gateway {

std::string_view Inbox::device_of(std::string_view topic) {
  constexpr std::string_view kDevices = "/devices/";
  auto at = topic.find(kDevices);
  if (at == std::string_view::npos) return {};
  auto rest = topic.substr(at + kDevices.size());
  return rest.substr(0, rest.find('/'));
}

bool Inbox::push_mqtt(InboundMessage message) {
  std::size_t bytes = message.topic.size() + message.payload.size() +
                      (message.response_topic ? message.response_topic->size() : 0) +
                      (message.correlation ? message.correlation->size() : 0);
  auto device = device_of(message.topic);
  {
    std::lock_guard lock(mutex_);
    auto share = per_device_.find(device);
    std::size_t waiting = share == per_device_.end() ? 0 : share->second;
    if (mqtt_.size() >= limits_.mqtt_messages || mqtt_bytes_ + bytes > limits_.mqtt_bytes ||
        waiting >= limits_.device_messages) {
      ++counters_.mqtt_dropped;
      return false;
    }
    if (share == per_device_.end()) share = per_device_.emplace(std::string(device), 0).first;
    ++share->second;
    mqtt_bytes_ += bytes;
    mqtt_.push_back({std::move(message), bytes, share->first});
    counters_.mqtt_waiting_max = std::max(counters_.mqtt_waiting_max, mqtt_.size());
  }
  not_empty_.notify_one();
  return true;
}

void Inbox::push_bus_event(BusEvent event) {
  {
    std::lock_guard lock(mutex_);
    bus_events_.push_back(event);
  }
  not_empty_.notify_one();
}

void Inbox::push_command(CentralCommand command) {
  std::unique_lock lock(mutex_);
  commands_not_full_.wait(lock, [&] { return commands_.size() < limits_.commands; });
  commands_.push_back(std::move(command));
  lock.unlock();
  not_empty_.notify_one();
}

bool Inbox::push_console(console::Request& request) {
  {
    std::lock_guard lock(mutex_);
    if (console_.size() >= limits_.console_requests) {
      ++counters_.console_refused;
      return false;
    }
    console_.push_back(std::move(request));
  }
  not_empty_.notify_one();
  return true;
}

void Inbox::take_mqtt_locked(std::vector<InboxItem>& out, std::size_t max) {
  while (!mqtt_.empty() && out.size() < max) {
    auto& front = mqtt_.front();
    mqtt_bytes_ -= front.bytes;
    if (auto share = per_device_.find(front.device); share != per_device_.end() && --share->second == 0)
      per_device_.erase(share);
    out.emplace_back(std::move(front.message));
    mqtt_.pop_front();
  }
}

std::vector<InboxItem> Inbox::pop_batch(std::chrono::milliseconds timeout, std::size_t max) {
  std::vector<InboxItem> out;
  bool freed_commands = false;
  {
    std::unique_lock lock(mutex_);
    not_empty_.wait_for(lock, timeout, [&] {
      return !bus_events_.empty() || !console_.empty() || !commands_.empty() || !mqtt_.empty() || woken_;
    });
    woken_ = false;
    for (; !bus_events_.empty() && out.size() < max; bus_events_.pop_front()) out.emplace_back(bus_events_.front());
    for (; !console_.empty() && out.size() < max; console_.pop_front()) out.emplace_back(std::move(console_.front()));
    for (; !commands_.empty() && out.size() < max; commands_.pop_front()) {
      out.emplace_back(std::move(commands_.front()));
      freed_commands = true;
    }
    take_mqtt_locked(out, max);
  }
  if (freed_commands) commands_not_full_.notify_all();
  return out;
}

void Inbox::wake() {
  {
    std::lock_guard lock(mutex_);
    woken_ = true;
  }
  not_empty_.notify_one();
}

std::size_t Inbox::size() const {
  std::lock_guard lock(mutex_);
  return bus_events_.size() + console_.size() + commands_.size() + mqtt_.size();
}

InboxCounters Inbox::counters() const {
  std::lock_guard lock(mutex_);
  InboxCounters c = counters_;
  c.mqtt_waiting = mqtt_.size();
  return c;
}

}  // namespace yiban::edge::gateway
