#include "support/mqtt_test_client.h"

#include <mqtt/async_client.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "yiban/protocol/mqtt_tls.h"
#include "yiban/runtime/socket_tuning.h"

namespace yiban::test {

MqttTestClient::MqttTestClient(const std::string& uri, const std::string& client_id, const std::string& will_topic,
                               const std::string& will_payload)
    : client_id_(client_id) {
  connect(uri, will_topic, will_payload, MqttLogin{});
}

MqttTestClient::MqttTestClient(const std::string& uri, const std::string& client_id, const MqttLogin& login)
    : client_id_(client_id) {
  connect(uri, "", "", login);
}

void MqttTestClient::connect(const std::string& uri, const std::string& will_topic, const std::string& will_payload,
                             const MqttLogin& login) {
  const std::string& client_id = client_id_;
  mqtt::create_options create(MQTTVERSION_5, 100000);
  client_ = std::make_unique<mqtt::async_client>(uri, client_id, create, nullptr);
  client_->set_message_callback([this](mqtt::const_message_ptr msg) {
    ReceivedMessage m{msg->get_topic(), msg->get_payload_str(), std::nullopt, msg->is_retained()};
    const auto& props = msg->get_properties();
    if (props.contains(mqtt::property::CORRELATION_DATA))
      m.correlation = mqtt::get<std::string>(props, mqtt::property::CORRELATION_DATA);
    {
      std::lock_guard lock(mutex_);
      messages_.push_back(std::move(m));
    }
    arrived_.notify_all();
  });
  mqtt::connect_options options;
  options.set_mqtt_version(MQTTVERSION_5);
  options.set_clean_start(true);
  options.set_connect_timeout(5);
  if (!will_topic.empty()) {
    options.set_will_message(mqtt::make_message(will_topic, will_payload, 1, true));
  }
  if (!login.user.empty()) {
    options.set_user_name(login.user);
    options.set_password(login.password);
  }
  if (auto tls = yiban::protocol::apply_mqtt_tls(options, uri, login.ca_file); !tls)
    throw std::runtime_error(tls.error().message);
  try {
    client_->connect(options)->wait_for(std::chrono::seconds(5));
  } catch (const mqtt::exception& e) {
    throw std::runtime_error("test client " + client_id + " cannot connect to " + uri + ": " + e.what() +
                             " (reason code " + std::to_string(e.get_reason_code()) + ")");
  }
  if (!client_->is_connected()) throw std::runtime_error("test client " + client_id + " did not connect to " + uri);
  yiban::runtime::set_nodelay_towards(uri);
}

MqttTestClient::~MqttTestClient() {
  try {
    if (client_->is_connected()) client_->disconnect()->wait_for(std::chrono::seconds(2));
  } catch (...) {
  }
}

void MqttTestClient::disconnect() {
  try {
    client_->disconnect()->wait_for(std::chrono::seconds(2));
  } catch (const mqtt::exception&) {
  }
}

void MqttTestClient::subscribe(const std::string& filter, int qos) {
  {
    std::lock_guard lock(mutex_);
    if (!subscribed_.insert(filter).second) return;
  }
  client_->subscribe(filter, qos)->wait_for(std::chrono::seconds(5));
}

int MqttTestClient::subscribe_result(const std::string& filter, int qos) {
  try {
    auto token = client_->subscribe(filter, qos);
    if (!token->wait_for(std::chrono::seconds(5))) return -1;
    auto codes = token->get_subscribe_response().get_reason_codes();
    return codes.empty() ? -1 : codes.front();
  } catch (const mqtt::exception& e) {
    return e.get_reason_code();
  }
}

int MqttTestClient::publish_acknowledged(const std::string& topic, const std::string& payload, bool retain) {
  try {
    auto token = client_->publish(mqtt::make_message(topic, payload, 1, retain));
    if (!token->wait_for(std::chrono::seconds(5))) return -1;
    return token->get_reason_code();
  } catch (const mqtt::exception& e) {
    return e.get_reason_code();
  }
}

void MqttTestClient::publish(const std::string& topic, const std::string& payload, int qos, bool retain,
                             const std::optional<std::string>& response_topic,
                             const std::optional<std::string>& correlation) {
  auto msg = mqtt::make_message(topic, payload, qos, retain);
  mqtt::properties props;
  if (response_topic) props.add({mqtt::property::RESPONSE_TOPIC, *response_topic});
  if (correlation) props.add({mqtt::property::CORRELATION_DATA, *correlation});
  msg->set_properties(props);
  client_->publish(msg);
}

std::optional<std::string> MqttTestClient::request(const std::string& hall, const std::string& device,
                                                   const std::string& op, const std::string& payload,
                                                   std::chrono::milliseconds timeout,
                                                   std::optional<std::string> correlation) {
  std::string base = "yiban/v1/" + hall + "/devices/" + device;
  std::string response = base + "/res";
  subscribe(response, 1);
  if (!correlation) {
    std::lock_guard lock(mutex_);
    // Unique across client objects that reuse a client id.
    static std::atomic<std::uint64_t> instance{0};
    correlation = client_id_ + "-" + std::to_string(++instance) + "-" + std::to_string(next_correlation_++);
  }
  std::size_t seen;
  {
    std::lock_guard lock(mutex_);
    seen = messages_.size();
  }
  publish(base + "/req/" + op, payload, 1, false, response, correlation);
  std::unique_lock lock(mutex_);
  std::optional<std::string> reply;
  arrived_.wait_for(lock, timeout, [&] {
    for (std::size_t i = seen; i < messages_.size(); ++i) {
      if (messages_[i].topic == response && messages_[i].correlation == correlation) {
        reply = messages_[i].payload;
        return true;
      }
    }
    return false;
  });
  return reply;
}

std::optional<ReceivedMessage> MqttTestClient::wait_for(const std::function<bool(const ReceivedMessage&)>& pred,
                                                        std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  std::optional<ReceivedMessage> found;
  arrived_.wait_for(lock, timeout, [&] {
    for (const auto& m : messages_) {
      if (pred(m)) {
        found = m;
        return true;
      }
    }
    return false;
  });
  return found;
}

std::vector<ReceivedMessage> MqttTestClient::received() const {
  std::lock_guard lock(mutex_);
  return messages_;
}

void MqttTestClient::clear() {
  std::lock_guard lock(mutex_);
  messages_.clear();
}

bool reply_ok(const std::string& reply) {
  auto j = nlohmann::json::parse(reply, nullptr, false);
  return j.is_object() && j.value("ok", false) == true;
}

std::string reply_error_code(const std::string& reply) {
  auto j = nlohmann::json::parse(reply, nullptr, false);
  if (!j.is_object() || !j.contains("error") || !j["error"].is_object()) return "";
  return j["error"].value("code", "");
}

}  // namespace yiban::test
