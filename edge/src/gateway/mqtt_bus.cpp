#include "gateway/mqtt_bus.h"

#include <spdlog/spdlog.h>

#include "yiban/protocol/mqtt_tls.h"
#include "yiban/protocol/socket_tuning.h"

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
    int tuned = protocol::set_nodelay_towards(options_.uri);
    spdlog::info("mqtt: connected to {} as {} (TCP_NODELAY on {} socket{})", options_.uri, options_.client_id, tuned,
                 tuned == 1 ? "" : "s");
    inbox_.push(BusEvent::kConnected);
  });
  client_->set_connection_lost_handler([this](const std::string& cause) {
    spdlog::warn("mqtt: connection to {} lost{}{}", options_.uri, cause.empty() ? "" : ": ", cause);
    inbox_.push(BusEvent::kConnectionLost);
  });
  client_->set_message_callback([this](mqtt::const_message_ptr msg) {
    InboundMessage m;
    m.topic = msg->get_topic();
    m.payload = msg->get_payload_str();
    m.retained = msg->is_retained();
    m.received_ns = std::chrono::steady_clock::now().time_since_epoch().count();
    const auto& props = msg->get_properties();
    if (props.contains(mqtt::property::RESPONSE_TOPIC))
      m.response_topic = mqtt::get<std::string>(props, mqtt::property::RESPONSE_TOPIC);
    if (props.contains(mqtt::property::CORRELATION_DATA))
      m.correlation = mqtt::get<std::string>(props, mqtt::property::CORRELATION_DATA);
    inbox_.push(std::move(m));
  });
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
      client_->subscribe(filter, qos);
    } catch (const mqtt::exception& e) {
      spdlog::warn("mqtt: subscribe {} failed: {}", filter, e.what());
    }
  }
}

}  // namespace yiban::edge::gateway
