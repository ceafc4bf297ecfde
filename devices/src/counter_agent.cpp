#include "yiban/devices/counter_agent.h"

#include <array>
#include <nlohmann/json.hpp>

#include "line_words.h"
#include "yiban/devices/reply_text.h"

namespace yiban::devices {

namespace {

struct Command {
  std::string_view word;
  std::string_view op;
  std::string_view done;  // shown before the ticket number on success
};

constexpr std::array<Command, 8> kCommands{{
    {"open", "counter.open", ""},
    {"pause", "counter.pause", ""},
    {"close", "counter.close", ""},
    {"call", "counter.call_next", "已叫号"},
    {"recall", "counter.recall", "重呼"},
    {"start", "counter.start", "开始办理"},
    {"finish", "counter.finish", "办理完成"},
    {"noshow", "counter.no_show", "过号"},
}};

std::string_view state_text(std::string_view state) {
  if (state == "open") return "开放";
  if (state == "paused") return "暂停";
  if (state == "closed") return "关闭";
  return state;
}

std::string result_text(const protocol::Expected<protocol::Reply>& reply, std::string_view done) {
  if (auto problem = problem_text(reply)) return *problem;
  if (reply->counter)
    return "窗口 " + reply->counter->id + " 已" + std::string(state_text(reply->counter->state));
  if (reply->ticket) return std::string(done) + " " + reply->ticket->number;
  return std::string(done);
}

}  // namespace

std::string CounterAgent::usage() {
  return "用法: open | pause | close | call | recall | start | finish | noshow | transfer 业务代码 "
         "| transfer @窗口";
}

std::optional<protocol::Expected<protocol::Reply>> CounterAgent::act(std::string_view line) {
  auto words = split_words(line);
  if (words.size() == 1) {
    for (const auto& command : kCommands)
      if (words[0] == command.word) return sender_.request(command.op, "{}");
  }
  if (words.size() == 2 && words[0] == "transfer" && words[1] != "@") {
    nlohmann::json body;
    if (words[1].starts_with('@'))
      body["counter"] = words[1].substr(1);
    else
      body["service"] = words[1];
    return sender_.request("counter.transfer", body.dump());
  }
  return std::nullopt;
}

std::string CounterAgent::handle_line(std::string_view line) {
  auto words = split_words(line);
  if (words.empty()) return "";
  std::string_view done = words[0] == "transfer" ? "已转出" : "";
  for (const auto& command : kCommands)
    if (words[0] == command.word) done = command.done;
  auto reply = act(line);
  if (!reply) return usage();
  return result_text(*reply, done);
}

}  // namespace yiban::devices
