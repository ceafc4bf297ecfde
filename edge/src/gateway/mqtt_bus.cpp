#include "gateway/mqtt_bus.h"

#include <spdlog/spdlog.h>

#include "yiban/protocol/mqtt_tls.h"
#include "yiban/protocol/requests.h"
#include "yiban/runtime/socket_tuning.h"

namespace yiban::edge::gateway {

class MqttBus::ConnectListener final : public mqtt::iaction_listener {
 public:
  explicit ConnectListener(MqttBus& bus) : bus_(bus) {}
  void on_failure(const mqtt::token& token) override {
    int code = token.get_return_code();
    auto why = protocol::connect_refusal(code, bus_.options_.user);
    spdlog::warn("mqtt: cannot connect to {} (code {}){}{}; retrying", bus_.options_.uri, code, why.empty() ? "" : ": ",
                 why);
    bus_.connect_failed_ = true;
  }
  void on_success(const mqtt::token&) override {}

 private:
  MqttBus& bus_;
};

MqttBus::MqttBus(MqttOptions options, Inbox& inbox) : options_(std::move(options)), inbox_(inbox) {
  mqtt::create_options create(MQTTVERSION_5, 200000);
  create.set_send_while_disconnected(true, true);
  create.set_delete_oldest_messages(true);
  client_ = std::make_unique<mqtt::async_client>(options_.uri, options_.client_id, create, nullptr);
  listener_ = std::make_unique<ConnectListener>(*this);

  connect_options_.set_mqtt_version(MQTTVERSION_5);
  connect_options_.set_clean_start(false);
  connect_options_.set_properties(
      mqtt::properties{{mqtt::property::SESSION_EXPIRY_INTERVAL, options_.session_expiry_s}});
  connect_options_.set_keep_alive_interval(options_.keep_alive_s);
  connect_options_.set_connect_timeout(5);
  connect_options_.set_automatic_reconnect(1, 30);
  connect_options_.set_max_inflight(65535);
  if (!options_.user.empty()) {
    connect_options_.set_user_name(options_.user);
    connect_options_.set_password(options_.password);
  }
  if (auto tls = protocol::apply_mqtt_tls(connect_options_, options_.uri, options_.ca_file); !tls)
    throw std::runtime_error(tls.error().message);

  client_->set_connected_handler([this](const std::string&) {
    int tuned = runtime::set_nodelay_towards(options_.uri);
    spdlog::info("mqtt: connected to {} as {} (TCP_NODELAY on {} socket{})", options_.uri, options_.client_id, tuned,
                 tuned == 1 ? "" : "s");
    inbox_.push_bus_event(BusEvent::kConnected);
  });
  client_->set_connection_lost_handler([this](const std::string& cause) {
    spdlog::warn("mqtt: connection to {} lost{}{}", options_.uri, cause.empty() ? "" : ": ", cause);
    inbox_.push_bus_event(BusEvent::kConnectionLost);
  });
  client_->set_message_callback([this](mqtt::const_message_ptr msg) { on_message(msg); });
}

bool MqttBus::should_log(std::string_view device, std::string_view what, std::int64_t now_ms) {
  constexpr std::int64_t kLogEveryMs = 60'000;
  constexpr std::size_t kMaxRemembered = 4096;  // device ids come from topics: bound the map
  std::string key = std::string(what) + " " + std::string(device);
  auto it = logged_ms_.find(key);
  if (it != logged_ms_.end() && now_ms - it->second < kLogEveryMs && now_ms >= it->second) return false;
  if (it == logged_ms_.end()) {
    if (logged_ms_.size() >= kMaxRemembered) logged_ms_.clear();
    it = logged_ms_.emplace(std::move(key), now_ms).first;
  }
  it->second = now_ms;
  return true;
}

void MqttBus::on_message(const mqtt::const_message_ptr& msg) {
  const auto now = std::chrono::steady_clock::now().time_since_epoch();
  const std::string& topic = msg->get_topic();
  const std::size_t size = msg->get_payload().size();  // a reference: nothing copied yet
  auto device = Inbox::device_of(topic);
  const bool request = !device.empty() && std::string_view(topic)
                                              .substr(static_cast<std::size_t>(device.data() - topic.data()) +
                                                      device.size())
                                              .starts_with("/req/");
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now).count();
  if (request && msg->is_retained()) {
    auto n = ++retained_requests_dropped_;
    if (should_log(device, "retained", now_ms))
      spdlog::warn("device {}: ignoring a retained request on {} (requests are never replayed; {} ignored so far)",
                   device, topic, n);
    return;
  }
  InboundMessage m;
  if (size > protocol::kMaxPayloadBytes) {
    auto n = ++oversize_dropped_;
    if (should_log(device, "oversize", now_ms))
      spdlog::warn("device {}: {} bytes on {}, over the {}-byte limit: {} ({} so far)", device, size, topic,
                   protocol::kMaxPayloadBytes, request ? "answered bad_json" : "dropped", n);
    if (!request) return;
    m.oversize_bytes = size;
  } else {
    m.payload = msg->get_payload_str();
  }
  m.topic = topic;
  m.retained = msg->is_retained();
  m.received_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now).count();
  const auto& props = msg->get_properties();
  if (props.contains(mqtt::property::RESPONSE_TOPIC))
    m.response_topic = mqtt::get<std::string>(props, mqtt::property::RESPONSE_TOPIC);
  if (props.contains(mqtt::property::CORRELATION_DATA))
    m.correlation = mqtt::get<std::string>(props, mqtt::property::CORRELATION_DATA);
  if (!inbox_.push_mqtt(std::move(m)) && should_log(device, "inbox", now_ms))
    spdlog::warn("device {}: the inbox is full for it ({} waiting at most); dropping its messages (counted in "
                 "/metrics)", device, inbox_.counters().mqtt_waiting_max);
}

MqttBus::~MqttBus() {
  if (!stopping_) stop(std::chrono::milliseconds(500));
}

void MqttBus::connect() {
  connect_failed_ = false;
  try {
    client_->connect(connect_options_, nullptr, *listener_);
  } catch (const mqtt::exception& e) {
    spdlog::warn("mqtt: connect to {} failed: {}", options_.uri, e.what());
    connect_failed_ = true;
  }
}

void MqttBus::start() {
  spdlog::info("mqtt: connecting to {} as {}", options_.uri, options_.client_id);
  connect();
}

void MqttBus::poll(std::int64_t now_ms) {
  if (stopping_ || !connect_failed_) return;
  if (next_attempt_ms_ == 0) {
    next_attempt_ms_ = now_ms + retry_delay_ms_;
    return;
  }
  if (now_ms < next_attempt_ms_) return;
  retry_delay_ms_ = std::min<std::int64_t>(retry_delay_ms_ * 2, 30000);
  next_attempt_ms_ = 0;
  connect();
}

void MqttBus::stop(std::chrono::milliseconds timeout) {
  stopping_ = true;
  try {
    if (client_->is_connected()) {
      client_->disconnect(static_cast<int>(timeout.count()))->wait_for(timeout + std::chrono::milliseconds(200));
    }
  } catch (const mqtt::exception& e) {
    spdlog::warn("mqtt: disconnect: {}", e.what());
  }
}

void MqttBus::publish(const std::string& topic, const std::string& payload, int qos, bool retain,
                      const std::optional<std::string>& correlation) {
  try {
    auto msg = mqtt::make_message(topic, payload, qos, retain);
    if (correlation) {
      mqtt::properties props;
      props.add({mqtt::property::CORRELATION_DATA, *correlation});
      msg->set_properties(props);
    }
    client_->publish(msg);
  } catch (const mqtt::exception& e) {
    ++publish_failures_;
    spdlog::warn("mqtt: publish to {} failed: {}", topic, e.what());
  }
}

void MqttBus::subscribe(const std::vector<std::pair<std::string, int>>& filters) {
  for (const auto& [filter, qos] : filters) {
    try {
      if (filter == options_.request_filter)
        client_->subscribe(filter, qos,
                           mqtt::subscribe_options(true, mqtt::subscribe_options::RETAIN_AS_PUBLISHED,
                                                   mqtt::subscribe_options::DONT_SEND_RETAINED));
      else
        client_->subscribe(filter, qos);
    } catch (const mqtt::exception& e) {
      spdlog::warn("mqtt: subscribe {} failed: {}", filter, e.what());
    }
  }
}

}  // namespace yiban::edge::gateway
