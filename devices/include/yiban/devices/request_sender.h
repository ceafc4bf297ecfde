#pragma once
// The narrow interface agents use to ask the edge something (ARCHITECTURE §5.1).
// DeviceAgent implements it over MQTT 5; tests plug in fakes.

#include <string>
#include <string_view>

#include "yiban/protocol/error.h"
#include "yiban/protocol/payloads.h"

namespace yiban::devices {

class RequestSender {
 public:
  virtual ~RequestSender() = default;
  // Sends op with a JSON object body and waits for its reply. A refusal by the
  // edge is a Reply with ok == false; an Error means no reply came at all.
  virtual protocol::Expected<protocol::Reply> request(std::string_view op,
                                                      std::string_view payload_json) = 0;
};

}  // namespace yiban::devices
