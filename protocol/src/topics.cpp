#include "yiban/protocol/topics.h"

#include "yiban/protocol/ids.h"

namespace yiban::protocol {

Topics::Topics(std::string hall) : root_("yiban/v1/" + std::move(hall)) {}

std::string Topics::device_status(std::string_view device) const {
  return root_ + "/devices/" + std::string(device) + "/status";
}
std::string Topics::device_request(std::string_view device, std::string_view op) const {
  return root_ + "/devices/" + std::string(device) + "/req/" + std::string(op);
}
std::string Topics::device_response(std::string_view device) const {
  return root_ + "/devices/" + std::string(device) + "/res";
}
std::string Topics::device_telemetry(std::string_view device) const {
  return root_ + "/devices/" + std::string(device) + "/telemetry";
}
std::string Topics::device_command(std::string_view device) const {
  return root_ + "/devices/" + std::string(device) + "/cmd";
}
std::string Topics::board_calls() const { return root_ + "/board/calls"; }
std::string Topics::board_queues() const { return root_ + "/board/queues"; }
std::string Topics::board_announce() const { return root_ + "/board/announce"; }
std::string Topics::board_notice() const { return root_ + "/board/notice"; }
std::string Topics::catalog() const { return root_ + "/catalog"; }
std::string Topics::alerts() const { return root_ + "/alerts"; }
std::string Topics::all_requests() const { return root_ + "/devices/+/req/+"; }
std::string Topics::all_statuses() const { return root_ + "/devices/+/status"; }
std::string Topics::all_telemetry() const { return root_ + "/devices/+/telemetry"; }

std::optional<DeviceTopic> parse_device_topic(std::string_view hall, std::string_view topic) {
  constexpr std::string_view kPrefix = "yiban/v1/";
  if (!topic.starts_with(kPrefix)) return std::nullopt;
  topic.remove_prefix(kPrefix.size());
  if (!topic.starts_with(hall)) return std::nullopt;
  topic.remove_prefix(hall.size());
  constexpr std::string_view kDevices = "/devices/";
  if (!topic.starts_with(kDevices)) return std::nullopt;
  topic.remove_prefix(kDevices.size());
  auto slash = topic.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::string_view device = topic.substr(0, slash);
  std::string_view rest = topic.substr(slash + 1);
  if (!is_valid_device_id(device)) return std::nullopt;
  DeviceTopic out{std::string(device), DeviceTopicKind::kStatus, {}};
  if (rest == "status") {
    out.kind = DeviceTopicKind::kStatus;
  } else if (rest == "res") {
    out.kind = DeviceTopicKind::kResponse;
  } else if (rest == "telemetry") {
    out.kind = DeviceTopicKind::kTelemetry;
  } else if (rest == "cmd") {
    out.kind = DeviceTopicKind::kCommand;
  } else if (rest.starts_with("req/")) {
    std::string_view op = rest.substr(4);
    // A topic name never holds wildcards; an op with one is not a request.
    if (op.empty() || op.size() > 64 || op.find_first_of("/+#") != std::string_view::npos) {
      return std::nullopt;
    }
    out.kind = DeviceTopicKind::kRequest;
    out.op = std::string(op);
  } else {
    return std::nullopt;
  }
  return out;
}

}  // namespace yiban::protocol
