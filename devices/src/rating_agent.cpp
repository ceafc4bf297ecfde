#include "yiban/devices/rating_agent.h"

#include <nlohmann/json.hpp>

#include "line_words.h"
#include "yiban/devices/reply_text.h"

namespace yiban::devices {

protocol::Expected<protocol::Reply> RatingAgent::submit(int score) {
  return sender_.request("rating.submit", nlohmann::json{{"score", score}}.dump());
}

std::string RatingAgent::handle_line(std::string_view line) {
  auto words = split_words(line);
  if (words.empty()) return "";
  if (words.size() != 1 || words[0].size() != 1 || words[0][0] < '1' || words[0][0] > '5')
    return "请输入 1 到 5 的评分";
  int score = words[0][0] - '0';
  auto reply = submit(score);
  if (auto problem = problem_text(reply)) return *problem;
  return "感谢您的评价 (" + std::to_string(score) + " 分)";
}

}  // namespace yiban::devices
