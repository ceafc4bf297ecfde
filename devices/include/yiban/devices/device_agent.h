#pragma once
// One device's MQTT 5 link to its hall (ARCHITECTURE §5): presence, requests
// with retry, and the messages it subscribed to.
//
// Link states (owned by the I/O thread):
//   kIdle -(start)-> kConnecting -(connected)-> kConnected
//   kConnecting -(connect failed)-> kWaitingRetry -(back-off 0.5 s .. 30 s)-> kConnecting
//   kConnected -(lost)-> Paho's automatic reconnect (1 s .. 30 s) -> kConnected
//   any -(stop)-> kStopped
// On every (re)connect the I/O thread resubscribes, publishes the retained
// status {"state":"online",...} and sets TCP_NODELAY. The will is the same
// topic with {"state":"offline"}, retained; stop() publishes it itself.
//
// Threads: Paho's callback threads only hand events to the I/O thread or to
// the reply table; the I/O thread alone calls into the Paho client (publish
// from one thread, paho.mqtt.cpp #499). request(), next_message() and stop()
// may be called from any thread.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "yiban/devices/request_sender.h"
#include "yiban/protocol/hall_config.h"
#include "yiban/protocol/topics.h"

namespace mqtt {
class async_client;
class connect_options;
}  // namespace mqtt

namespace yiban::devices {

struct AgentOptions {
  std::string uri = "tcp://127.0.0.1:1883";
  std::string hall;
  std::string device;
  protocol::DeviceKind kind = protocol::DeviceKind::kKiosk;
  std::string client_id;  // default {hall}-{device}-{pid}
  std::string user;
  std::string password;
  std::string ca_file;  // TLS (ssl:// URI): the CA that signed the broker's certificate
  std::string version = "1.0";
  std::chrono::milliseconds request_timeout{3000};  // per attempt
  int request_attempts = 5;                         // same correlation data on every attempt
  int keep_alive_s = 10;
};

// A message from a subscription other than the device's own reply topic.
struct InboundMessage {
  std::string topic;
  std::string payload;
  bool retained = false;
};

class DeviceAgent final : public RequestSender {
 public:
  explicit DeviceAgent(AgentOptions options);
  ~DeviceAgent() override;  // stop() unless stopped
  DeviceAgent(const DeviceAgent&) = delete;
  DeviceAgent& operator=(const DeviceAgent&) = delete;

  // Filters (QoS 1) subscribed on every connect besides the reply topic.
  // Call before start().
  void add_subscription(std::string filter);
  // Starts the I/O thread and the first connect; returns at once.
  void start();
  // Publishes the retained offline status, disconnects (bounded wait) and
  // joins the I/O thread. Idempotent.
  void stop();
  // Simulates a device dying: ends the session with MQTT 5 reason code 0x04
  // (disconnect with will message), so the broker publishes the will
  // {"state":"offline"} exactly as for a dropped connection; no offline status
  // of its own. Pending request() calls return an error. Idempotent; after
  // stop() it does nothing.
  void abort();

  bool connected() const;
  // Waits until the link is up (true) or timeout passes (false).
  bool wait_connected(std::chrono::milliseconds timeout);

  // Publishes to …/req/{op} with Response Topic …/devices/{device}/res and a
  // fresh Correlation Data; when no reply comes within request_timeout the
  // same message (same correlation data) is sent again, up to
  // request_attempts times. Thread-safe; blocks the caller.
  protocol::Expected<protocol::Reply> request(std::string_view op,
                                              std::string_view payload_json) override;

  // Queued QoS 0/1 publish (telemetry and the like); never blocks on the network.
  void publish(std::string topic, std::string payload, int qos = 0, bool retain = false);

  // The next message from add_subscription() filters, or nothing after timeout.
  std::optional<InboundMessage> next_message(std::chrono::milliseconds timeout);

  const protocol::Topics& topics() const { return topics_; }
  const AgentOptions& options() const { return options_; }
  // How many times a request was sent again after a timeout (for tests and logs).
  std::uint64_t retries() const;

 private:
  struct Job;
  class ConnectListener;
  enum class State { kIdle, kConnecting, kConnected, kWaitingRetry, kStopped };

  // stop() (clean) and abort(): asks the I/O thread to end, then joins it.
  void shut_down(bool clean);
  void push_job(Job job);
  void io_loop();
  void run_job(Job& job);
  void on_connected();
  void connect_now();
  std::string fresh_correlation();

  AgentOptions options_;
  protocol::Topics topics_;
  std::string status_topic_;
  std::string response_topic_;
  std::vector<std::string> subscriptions_;  // fixed after start()
  std::unique_ptr<mqtt::async_client> client_;
  std::unique_ptr<mqtt::connect_options> connect_options_;  // kept alive for Paho (#145, #325)
  std::unique_ptr<ConnectListener> listener_;
  std::thread io_thread_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;             // any of the fields below changed
  std::deque<Job> jobs_;                        // guarded by mutex_
  State state_ = State::kIdle;                  // guarded by mutex_
  std::map<std::string, std::string> replies_;  // correlation -> payload; guarded by mutex_
  std::map<std::string, bool> pending_;         // correlations awaited; guarded by mutex_
  std::deque<InboundMessage> inbound_;          // guarded by mutex_
  std::uint64_t next_correlation_ = 1;          // guarded by mutex_
  std::uint64_t retries_ = 0;                   // guarded by mutex_
  std::uint64_t correlation_salt_ = 0;          // set once in the constructor
  bool stop_requested_ = false;                 // guarded by mutex_
};

}  // namespace yiban::devices
