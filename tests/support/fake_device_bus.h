#pragma once
// A DeviceBus that records what would have been published, for unit tests.

#include <string>
#include <vector>

#include "gateway/device_bus.h"

namespace yiban::test {

struct Published {
  std::string topic;
  std::string payload;
  int qos = 0;
  bool retain = false;
  std::optional<std::string> correlation;
};

class FakeDeviceBus final : public edge::gateway::DeviceBus {
 public:
  void publish(const std::string& topic, const std::string& payload, int qos, bool retain,
               const std::optional<std::string>& correlation) override {
    published.push_back({topic, payload, qos, retain, correlation});
  }
  void subscribe(const std::vector<std::pair<std::string, int>>& filters) override {
    for (const auto& f : filters) subscriptions.push_back(f.first);
  }
  bool connected() const override { return true; }
  void poll(std::int64_t) override {}

  std::vector<Published> on(const std::string& topic_suffix) const {
    std::vector<Published> out;
    for (const auto& p : published) {
      if (p.topic.ends_with(topic_suffix)) out.push_back(p);
    }
    return out;
  }

  std::vector<Published> published;
  std::vector<std::string> subscriptions;
};

}  // namespace yiban::test
