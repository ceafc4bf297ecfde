#pragma once
// The kiosk's command language (one line each) and its hall-facing answers:
//   take SERVICE [CLASS] [PHONE]   ticket.take (an argument of digits or +digits is the phone)
//   checkin CODE                   appointment.checkin
//   help TEXT                      help.request
// Not thread-safe; one caller at a time.

#include <optional>
#include <string>
#include <string_view>

#include "yiban/devices/request_sender.h"

namespace yiban::devices {

class KioskAgent {
 public:
  explicit KioskAgent(RequestSender& sender) : sender_(sender) {}
  // Runs one command and returns what the kiosk shows ("" for a blank line).
  std::string handle_line(std::string_view line);
  static std::string usage();
  // ticket.take for programs (the hall simulator): the edge's reply.
  protocol::Expected<protocol::Reply> take(std::string_view service,
                                           std::optional<std::string> priority_class,
                                           std::optional<std::string> phone = std::nullopt);

 private:
  RequestSender& sender_;
};

}  // namespace yiban::devices
