#pragma once
// MQTT topic builders and parsers for ARCHITECTURE §5. Root: yiban/v1/{hall}.

#include <optional>
#include <string>
#include <string_view>

namespace yiban::protocol {

class Topics {
 public:
  explicit Topics(std::string hall);

  const std::string& root() const { return root_; }
  std::string device_status(std::string_view device) const;
  std::string device_request(std::string_view device, std::string_view op) const;
  std::string device_response(std::string_view device) const;
  std::string device_telemetry(std::string_view device) const;
  std::string device_command(std::string_view device) const;
  std::string board_calls() const;
  std::string board_queues() const;
  std::string board_announce() const;
  std::string board_notice() const;  // central's notice for the displays (retained)
  std::string catalog() const;
  std::string alerts() const;

  // Subscription filters the edge uses.
  std::string all_requests() const;  // …/devices/+/req/+
  std::string all_statuses() const;  // …/devices/+/status
  std::string all_telemetry() const;  // …/devices/+/telemetry

 private:
  std::string root_;
};

enum class DeviceTopicKind { kStatus, kRequest, kResponse, kTelemetry, kCommand };

struct DeviceTopic {
  std::string device;
  DeviceTopicKind kind;
  std::string op;  // only for kRequest
};

// Parses yiban/v1/{hall}/devices/{device}/{status|req/{op}|res|telemetry|cmd}
// for the given hall. Returns nothing for any other topic or a malformed device id.
std::optional<DeviceTopic> parse_device_topic(std::string_view hall, std::string_view topic);

}  // namespace yiban::protocol
