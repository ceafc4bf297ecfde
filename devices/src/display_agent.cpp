#include "yiban/devices/display_agent.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

namespace yiban::devices {

namespace {

constexpr std::size_t kCallsShown = 8;
using nlohmann::json;

}  // namespace

std::vector<std::string> DisplayAgent::subscriptions() const {
  return {topics_.board_calls(), topics_.board_queues(), topics_.board_announce(),
          topics_.board_notice(), topics_.catalog()};
}

std::optional<std::string> DisplayAgent::handle_message(std::string_view topic,
                                                        std::string_view payload) {
  if (topic == topics_.board_announce()) {
    json j = json::parse(payload, nullptr, false);
    if (!j.is_object() || !j.contains("text") || !j["text"].is_string()) {
      spdlog::warn("display: malformed announcement ignored");
      return std::nullopt;
    }
    announcer_.enqueue(j["text"].get<std::string>());
    return std::nullopt;
  }
  if (topic == topics_.board_calls()) {
    auto calls = protocol::decode_board_calls(payload);
    if (!calls) {
      spdlog::warn("display: malformed board/calls ignored: {}", calls.error().message);
      return std::nullopt;
    }
    calls_ = std::move(*calls);
    return render();
  }
  if (topic == topics_.board_notice()) {
    // Central's notice; an empty retained message or text clears it.
    json n = json::parse(payload, nullptr, false);
    if (payload.empty()) {
      notice_.clear();
    } else if (n.is_object() && n.contains("text") && n["text"].is_string()) {
      notice_ = n["text"].get<std::string>();
    } else {
      spdlog::warn("display: malformed notice ignored");
      return std::nullopt;
    }
    return render();
  }
  json j = json::parse(payload, nullptr, false);
  try {
    if (topic == topics_.board_queues() && j.is_object()) {
      std::vector<Queue> queues;
      for (const auto& q : j.at("queues"))
        queues.push_back(Queue{q.at("service").get<std::string>(), q.value("name", ""),
                               q.value("waiting", 0), q.value("estimated_wait_s", 0),
                               q.value("open_counters", 0)});
      queues_ = std::move(queues);
      return render();
    }
    if (topic == topics_.catalog() && j.is_object()) {
      std::vector<Service> services;
      for (const auto& s : j.at("services"))
        services.push_back(
            Service{s.at("code").get<std::string>(), s.value("name", ""), s.value("open", true)});
      services_ = std::move(services);
      hall_name_ = j.value("name", "");
      return render();
    }
  } catch (const json::exception& e) {
    spdlog::warn("display: malformed {} ignored: {}", topic, e.what());
    return std::nullopt;
  }
  spdlog::warn("display: unexpected message on {} ignored", topic);
  return std::nullopt;
}

std::string DisplayAgent::render() const {
  std::string out = "==== " + (hall_name_.empty() ? std::string("叫号屏") : hall_name_) + " ====\n";
  if (!notice_.empty()) out += "【通知】" + notice_ + "\n";
  out += "-- 叫号 --\n";
  if (calls_.empty()) out += "  (暂无)\n";
  for (std::size_t i = 0; i < calls_.size() && i < kCallsShown; ++i)
    out += "  请 " + calls_[i].number + " 号到 " + calls_[i].counter + " 号窗口\n";
  out += "-- 排队 --\n";
  if (queues_.empty()) out += "  (暂无)\n";
  for (const auto& q : queues_) {
    out += "  " + q.service + " " + q.name + "  等待 " + std::to_string(q.waiting) + " 人  约 " +
           std::to_string((q.estimated_wait_s + 59) / 60) + " 分钟  开放窗口 " +
           std::to_string(q.open_counters) + "\n";
  }
  bool any_closed = false;
  for (const auto& s : services_) any_closed = any_closed || !s.open;
  if (any_closed) {
    out += "-- 暂停办理 --\n";
    for (const auto& s : services_)
      if (!s.open) out += "  " + s.code + " " + s.name + "\n";
  }
  return out;
}

}  // namespace yiban::devices
