#pragma once
// DeviceBus over a real MQTT 5 broker with Paho C++.
//
// States: kDisconnected -> (connect) -> kConnecting -> kConnected
//         kConnecting -(failure)-> kWaitingRetry -(back-off elapsed, poll)-> kConnecting
//         kConnected -(lost)-> Paho's automatic reconnect (1 s .. 30 s) -> kConnected
// The session is persistent (clean_start=false, session expiry 1 day), so QoS 1
// requests sent while the edge restarts wait at the broker. Paho's callback
// thread only pushes into the Inbox; all calls into the client come from the
// engine thread.

#include <atomic>
#include <memory>
#include <mqtt/async_client.h>
#include <string>

#include "gateway/device_bus.h"

namespace yiban::edge::gateway {

struct MqttOptions {
  std::string uri = "tcp://127.0.0.1:1883";
  std::string client_id;
  std::string user;
  std::string password;
  std::string ca_file;  // TLS (ssl:// URI): the CA that signed the broker's certificate
  int session_expiry_s = 24 * 3600;
  int keep_alive_s = 10;
};

class MqttBus final : public DeviceBus {
 public:
  MqttBus(MqttOptions options, Inbox& inbox);
  ~MqttBus() override;

  // Starts connecting; returns at once. Failures are retried by poll().
  void start();
  // Disconnects, waiting up to timeout for queued publishes to leave.
  void stop(std::chrono::milliseconds timeout);

  void publish(const std::string& topic, const std::string& payload, int qos, bool retain,
               const std::optional<std::string>& correlation) override;
  void subscribe(const std::vector<std::pair<std::string, int>>& filters) override;
  bool connected() const override { return client_->is_connected(); }
  void poll(std::int64_t now_ms) override;

  std::uint64_t publish_failures() const { return publish_failures_.load(); }

 private:
  class ConnectListener;
  void connect();

  MqttOptions options_;
  Inbox& inbox_;
  std::unique_ptr<mqtt::async_client> client_;
  mqtt::connect_options connect_options_;  // kept alive for Paho (#145, #325)
  std::unique_ptr<ConnectListener> listener_;
  std::atomic<bool> connect_failed_{false};
  std::int64_t next_attempt_ms_ = 0;
  std::int64_t retry_delay_ms_ = 500;
  bool stopping_ = false;
  std::atomic<std::uint64_t> publish_failures_{0};
};

}  // namespace yiban::edge::gateway
