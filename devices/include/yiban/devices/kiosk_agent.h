#pragma once
// The kiosk's command language (one line each) and its hall-facing answers:
//   take SERVICE [CLASS] [PHONE]   ticket.take (an argument of digits or +digits is the phone)
//   checkin CODE                   appointment.checkin
//   help TEXT                      help.request
// Not thread-safe; one caller at a time.

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

 private:
  RequestSender& sender_;
};

}  // namespace yiban::devices
