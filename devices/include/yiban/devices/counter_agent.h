#pragma once
// The counter terminal's command language (one line each):
//   open | pause | close | call | recall | start | finish | noshow
//   transfer SERVICE | transfer @COUNTER
// Not thread-safe; one caller at a time.

#include <optional>
#include <string>
#include <string_view>

#include "yiban/devices/request_sender.h"

namespace yiban::devices {

class CounterAgent {
 public:
  explicit CounterAgent(RequestSender& sender) : sender_(sender) {}
  // Runs one command and returns what the terminal shows ("" for a blank line).
  std::string handle_line(std::string_view line);
  // Runs one command and returns the edge's reply, for programs (the hall
  // simulator); nothing when the line is not a command.
  std::optional<protocol::Expected<protocol::Reply>> act(std::string_view line);
  static std::string usage();

 private:
  RequestSender& sender_;
};

}  // namespace yiban::devices
