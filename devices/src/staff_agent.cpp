#include "yiban/devices/staff_agent.h"

#include <nlohmann/json.hpp>

#include "line_words.h"
#include "yiban/devices/reply_text.h"

namespace yiban::devices {

namespace {

using nlohmann::json;

std::string field(const json& j, std::initializer_list<const char*> names) {
  for (const char* name : names) {
    auto it = j.find(name);
    if (it == j.end()) continue;
    if (it->is_string()) return it->get<std::string>();
    if (!it->is_null()) return it->dump();
  }
  return "";
}

std::string one_alert(const json& a) {
  std::string text = "[告警]";
  for (const auto& part : {field(a, {"severity", "level"}), field(a, {"type", "kind", "rule"}),
                           field(a, {"message", "text", "need"})})
    if (!part.empty()) text += " " + part;
  std::string id = field(a, {"id"});
  if (!id.empty()) text += " (编号 " + id + ")";
  return text;
}

}  // namespace

std::string StaffAgent::usage() {
  return "用法: ack 告警编号 | answer 求助编号";
}

std::string StaffAgent::alert_text(std::string_view payload) {
  json j = json::parse(payload, nullptr, false);
  if (j.is_discarded()) return "[告警] " + std::string(payload);
  if (j.is_object() && j.contains("alerts")) j = j["alerts"];
  if (j.is_object()) return one_alert(j);
  if (!j.is_array()) return "[告警] " + std::string(payload);
  std::string text;
  for (const auto& a : j) {
    if (!a.is_object()) continue;
    if (!text.empty()) text += "\n";
    text += one_alert(a);
  }
  return text;
}

std::string StaffAgent::handle_line(std::string_view line) {
  auto words = split_words(line);
  if (words.empty()) return "";
  if (words.size() != 2 || (words[0] != "ack" && words[0] != "answer")) return usage();
  bool ack = words[0] == "ack";
  auto reply = sender_.request(ack ? "alert.ack" : "help.answer", json{{"id", words[1]}}.dump());
  if (auto problem = problem_text(reply)) return *problem;
  return (ack ? "已确认告警 " : "已响应求助 ") + words[1];
}

}  // namespace yiban::devices
