#include "yiban/protocol/personal_data.h"

#include <nlohmann/json.hpp>

namespace yiban::protocol {

bool redact_personal_data(std::string_view type, nlohmann::json& data) {
  if (!data.is_object()) return false;
  bool changed = false;
  auto drop = [&](const char* key) {
    if (data.erase(key) > 0) changed = true;
  };
  if (type == "case.submitted") {
    drop("contact");
    drop("note");
  } else if (type == "help.requested") {
    drop("need");
  } else if (type == "appointment.booked") {
    if (data.contains("special_need")) {
      drop("special_need");
      data["has_special_need"] = true;
    }
  } else if (type == "alert.raised") {
    // Old messages quoted the citizen after a full-width colon ("求助：…", "需提前准备：…").
    const auto rule = data.value("rule", std::string());
    const auto message = data.value("message", std::string());
    if ((rule == "help" || rule == "special_need") && message.find("：") != std::string::npos) {
      data["message"] = rule == "help" ? "求助（详情在本厅）" : "预约有特殊需要（详情在本厅）";
      changed = true;
    }
  }
  return changed;
}

std::optional<std::string> redact_personal(std::string_view text) {
  // Cheap test first: most events are tickets and telemetry.
  static constexpr std::string_view kTypes[] = {"\"case.submitted\"", "\"help.requested\"", "\"appointment.booked\"",
                                                 "\"alert.raised\""};
  bool maybe = false;
  for (auto t : kTypes) maybe = maybe || text.find(t) != std::string_view::npos;
  if (!maybe) return std::nullopt;
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("data") || !j.value("type", nlohmann::json()).is_string())
    return std::nullopt;
  if (!redact_personal_data(j["type"].get<std::string>(), j["data"])) return std::nullopt;
  j["redacted"] = true;
  return j.dump();
}

}  // namespace yiban::protocol
