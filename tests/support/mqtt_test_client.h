#pragma once
// A real MQTT 5 client for tests: plays any device (kiosk, counter, display)
// against the edge through a real broker. Thread-safe.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace mqtt {
class async_client;
}

namespace yiban::test {

struct ReceivedMessage {
  std::string topic;
  std::string payload;
  std::optional<std::string> correlation;
  bool retained = false;
};

// A broker login: user name and password, and the CA of a TLS broker.
struct MqttLogin {
  std::string user;
  std::string password;
  std::string ca_file;
};

class MqttTestClient {
 public:
  // Connects with a login; throws std::runtime_error (naming the reason
  // code) when the broker refuses or cannot be reached.
  MqttTestClient(const std::string& uri, const std::string& client_id, const MqttLogin& login);
  // Connects (MQTT 5, clean start); throws std::runtime_error when it cannot.
  // With will_topic set, registers that will (retained) before connecting.
  MqttTestClient(const std::string& uri, const std::string& client_id, const std::string& will_topic = "",
                 const std::string& will_payload = "");
  ~MqttTestClient();
  MqttTestClient(const MqttTestClient&) = delete;
  MqttTestClient& operator=(const MqttTestClient&) = delete;

  void subscribe(const std::string& filter, int qos = 1);
  // Subscribes and returns the broker's SUBACK reason code (0x01 granted QoS 1,
  // 0x87 not authorized), or -1 when no SUBACK came.
  int subscribe_result(const std::string& filter, int qos = 1);
  // Publishes QoS 1 and returns the broker's PUBACK reason code (0 accepted,
  // 0x10 no subscribers, 0x87 not authorized), or -1 when none came.
  int publish_acknowledged(const std::string& topic, const std::string& payload, bool retain = false);
  void publish(const std::string& topic, const std::string& payload, int qos = 1, bool retain = false,
               const std::optional<std::string>& response_topic = std::nullopt,
               const std::optional<std::string>& correlation = std::nullopt);

  // Publishes a request for device in hall and waits for the reply carrying
  // the same correlation data (a fresh one unless given).
  std::optional<std::string> request(const std::string& hall, const std::string& device, const std::string& op,
                                     const std::string& payload,
                                     std::chrono::milliseconds timeout = std::chrono::seconds(5),
                                     std::optional<std::string> correlation = std::nullopt);

  // Waits for a received message (past or future) matching pred.
  std::optional<ReceivedMessage> wait_for(const std::function<bool(const ReceivedMessage&)>& pred,
                                          std::chrono::milliseconds timeout);
  std::vector<ReceivedMessage> received() const;
  void clear();
  void disconnect();

 private:
  void connect(const std::string& uri, const std::string& will_topic, const std::string& will_payload,
               const MqttLogin& login);
  std::unique_ptr<mqtt::async_client> client_;
  mutable std::mutex mutex_;
  std::condition_variable arrived_;  // guarded by mutex_
  std::vector<ReceivedMessage> messages_;  // guarded by mutex_
  std::set<std::string> subscribed_;  // guarded by mutex_
  std::uint64_t next_correlation_ = 1;  // guarded by mutex_
  std::string client_id_;
};

// Parses a reply and returns its "ok" field (false on garbage).
bool reply_ok(const std::string& reply);
// The error code of a failure reply, or "".
std::string reply_error_code(const std::string& reply);

}  // namespace yiban::test
