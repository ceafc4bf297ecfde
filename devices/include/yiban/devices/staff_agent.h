#pragma once
// The staff handset: shows alerts from yiban/v1/{hall}/alerts and sends
//   ack ID     alert.ack {"id":ID}
//   answer ID  help.answer {"id":ID}
// The alert payload is lenient: an array of alerts, an object with "alerts",
// or one alert object; fields id, severity|level, type|kind, message|text.
// Not thread-safe.

#include <string>
#include <string_view>

#include "yiban/devices/request_sender.h"

namespace yiban::devices {

class StaffAgent {
 public:
  explicit StaffAgent(RequestSender& sender) : sender_(sender) {}
  std::string handle_line(std::string_view line);
  // The text for one message on the alerts topic; "" when no alert is active.
  static std::string alert_text(std::string_view payload);
  static std::string usage();

 private:
  RequestSender& sender_;
};

}  // namespace yiban::devices
