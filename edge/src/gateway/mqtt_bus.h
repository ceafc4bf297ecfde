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
//
// What the callback refuses before anything is copied into the inbox
// (edge/README.md, "Broker and rate limits"): payloads over
// protocol::kMaxPayloadBytes (a request is still handed over, without its
// payload, to be answered bad_json; other messages are dropped), and
// retained requests (a device's request is never replayed: the request
// subscription asks for the retain flag as published and for no retained
// messages at subscribe time). Each is counted and logged at most once per
// device per minute.

#include <atomic>
#include <map>
#include <memory>
#include <mqtt/async_client.h>
#include <string>
#include <string_view>

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
  // The request filter (e.g. yiban/v1/{hall}/devices/+/req/+): subscribed
  // with no-local, retain-as-published and no retained messages.
  std::string request_filter;
};

// What the callback thread dropped since start.
struct BusCounters {
  std::uint64_t oversize_dropped = 0;  // over kMaxPayloadBytes (requests: answered without their payload)
  std::uint64_t retained_requests_dropped = 0;
  std::uint64_t publish_failures = 0;
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
  BusCounters counters() const {
    return {oversize_dropped_.load(), retained_requests_dropped_.load(), publish_failures_.load()};
  }

 private:
  class ConnectListener;
  void connect();
  // Callback thread: the message's fate before the inbox.
  void on_message(const mqtt::const_message_ptr& msg);
  // Callback thread: true at most once per (device, what) per minute.
  bool should_log(std::string_view device, std::string_view what, std::int64_t now_ms);

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
  std::atomic<std::uint64_t> oversize_dropped_{0};
  std::atomic<std::uint64_t> retained_requests_dropped_{0};
  std::map<std::string, std::int64_t, std::less<>> logged_ms_;  // callback thread only
};

}  // namespace yiban::edge::gateway
