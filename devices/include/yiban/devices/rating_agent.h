#pragma once
// The rating pad: a line holding a score 1..5 submits it (rating.submit) for
// the counter's last finished ticket. Not thread-safe.

#include <string>
#include <string_view>

#include "yiban/devices/request_sender.h"

namespace yiban::devices {

class RatingAgent {
 public:
  explicit RatingAgent(RequestSender& sender) : sender_(sender) {}
  // Returns what the pad shows ("" for a blank line).
  std::string handle_line(std::string_view line);
  // rating.submit of score (1..5) for programs (the hall simulator).
  protocol::Expected<protocol::Reply> submit(int score);

 private:
  RequestSender& sender_;
};

}  // namespace yiban::devices
