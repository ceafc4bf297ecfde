#include "yiban/devices/kiosk_agent.h"

#include <nlohmann/json.hpp>

#include "line_words.h"
#include "yiban/devices/reply_text.h"

namespace yiban::devices {

namespace {

bool looks_like_phone(const std::string& word) {
  std::size_t start = (!word.empty() && word[0] == '+') ? 1 : 0;
  if (word.size() <= start) return false;
  for (std::size_t i = start; i < word.size(); ++i)
    if (word[i] < '0' || word[i] > '9') return false;
  return true;
}

std::string ticket_reply(const protocol::Expected<protocol::Reply>& reply,
                         std::string_view success) {
  if (auto problem = problem_text(reply)) return *problem;
  if (!reply->ticket) return std::string(success);
  return std::string(success) + " " + ticket_text(*reply->ticket);
}

}  // namespace

std::string KioskAgent::usage() {
  return "用法: take 业务代码 [优先类别] [手机号] | checkin 预约码 | help 需要的帮助";
}

protocol::Expected<protocol::Reply> KioskAgent::take(std::string_view service,
                                                     std::optional<std::string> priority_class,
                                                     std::optional<std::string> phone) {
  nlohmann::json body{{"service", service}};
  if (priority_class) body["class"] = *priority_class;
  if (phone) body["phone"] = *phone;
  return sender_.request("ticket.take", body.dump());
}

std::string KioskAgent::handle_line(std::string_view line) {
  auto words = split_words(line);
  if (words.empty()) return "";
  const std::string& command = words[0];
  if (command == "take" && words.size() >= 2 && words.size() <= 4) {
    std::optional<std::string> priority_class;
    std::optional<std::string> phone;
    for (std::size_t i = 2; i < words.size(); ++i)
      (looks_like_phone(words[i]) ? phone : priority_class) = words[i];
    return ticket_reply(take(words[1], priority_class, phone), "取号成功");
  }
  if (command == "checkin" && words.size() == 2) {
    nlohmann::json body{{"code", words[1]}};
    return ticket_reply(sender_.request("appointment.checkin", body.dump()), "签到成功");
  }
  if (command == "help") {
    std::string need = rest_after_first_word(line);
    if (need.empty()) return usage();
    auto reply = sender_.request("help.request", nlohmann::json{{"need", need}}.dump());
    if (auto problem = problem_text(reply)) return *problem;
    return "已通知工作人员，请稍候" +
           (reply->help_id ? " (求助编号 " + *reply->help_id + ")" : std::string());
  }
  return usage();
}

}  // namespace yiban::devices
