#include "yiban/devices/device_agent.h"

#include <mqtt/async_client.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <random>

#include "yiban/protocol/mqtt_tls.h"
#include "yiban/runtime/socket_tuning.h"

namespace mqtt {
// paho.mqtt.cpp 1.2 fills disconnect options from the MQTT 3 C initializer
// (struct_version 0), with which Paho C does not send the reason code; the
// library offers no setter. This class is the friend the library declares for
// its own unit tests, used here only to mark the options as version 1.
class disconnect_options_test {
 public:
  static void use_version_1(disconnect_options& options) { options.opts_.struct_version = 1; }
};
}  // namespace mqtt

namespace yiban::devices {

namespace {

constexpr std::size_t kMaxInbound = 10000;
constexpr std::chrono::milliseconds kFirstRetryDelay{500};
constexpr std::chrono::milliseconds kMaxRetryDelay{30000};

}  // namespace

struct DeviceAgent::Job {
  enum class Type { kConnected, kConnectFailed, kPublish, kStop, kAbort };
  Type type = Type::kPublish;
  std::string topic;
  std::string payload;
  int qos = 1;
  bool retain = false;
  std::optional<std::string> response_topic;
  std::optional<std::string> correlation;

  // A job that carries no message.
  static Job control(Type type) {
    Job job;
    job.type = type;
    return job;
  }
};

namespace {
std::string offline_status() {
  protocol::DeviceStatus status;
  status.state = "offline";
  return protocol::encode_device_status(status);
}
}  // namespace

// Runs on a Paho thread: only hands the outcome to the I/O thread.
class DeviceAgent::ConnectListener final : public mqtt::iaction_listener {
 public:
  explicit ConnectListener(DeviceAgent& agent) : agent_(agent) {}
  void on_failure(const mqtt::token& token) override {
    int code = token.get_return_code();
    auto why = protocol::connect_refusal(code, agent_.options_.user);
    spdlog::warn("mqtt: cannot connect to {} (code {}){}{}; retrying", agent_.options_.uri, code,
                 why.empty() ? "" : ": ", why);
    agent_.push_job(Job::control(Job::Type::kConnectFailed));
  }
  void on_success(const mqtt::token&) override {}

 private:
  DeviceAgent& agent_;
};

DeviceAgent::DeviceAgent(AgentOptions options)
    : options_(std::move(options)),
      topics_(options_.hall),
      status_topic_(topics_.device_status(options_.device)),
      response_topic_(topics_.device_response(options_.device)) {
  if (options_.client_id.empty())
    options_.client_id = options_.hall + "-" + options_.device + "-" + std::to_string(::getpid());
  if (options_.request_attempts < 1) options_.request_attempts = 1;
  correlation_salt_ = std::random_device{}();
  correlation_salt_ = (correlation_salt_ << 32) ^ std::random_device{}();

  mqtt::create_options create(MQTTVERSION_5, 1000);
  create.set_send_while_disconnected(true, true);
  create.set_delete_oldest_messages(true);
  client_ = std::make_unique<mqtt::async_client>(options_.uri, options_.client_id, create, nullptr);
  listener_ = std::make_unique<ConnectListener>(*this);

  std::string offline = offline_status();
  connect_options_ = std::make_unique<mqtt::connect_options>();
  connect_options_->set_mqtt_version(MQTTVERSION_5);
  connect_options_->set_clean_start(true);
  connect_options_->set_keep_alive_interval(options_.keep_alive_s);
  connect_options_->set_connect_timeout(5);
  connect_options_->set_automatic_reconnect(1, 30);
  connect_options_->set_will(mqtt::will_options(status_topic_, offline, 1, true));
  if (!options_.user.empty()) {
    connect_options_->set_user_name(options_.user);
    connect_options_->set_password(options_.password);
  }
  if (auto tls = protocol::apply_mqtt_tls(*connect_options_, options_.uri, options_.ca_file); !tls)
    throw std::runtime_error(tls.error().message);

  client_->set_connected_handler([this](const std::string&) {
    runtime::set_nodelay_towards(options_.uri);
    push_job(Job::control(Job::Type::kConnected));
  });
  client_->set_connection_lost_handler([this](const std::string& cause) {
    spdlog::warn("mqtt: connection to {} lost{}{}", options_.uri, cause.empty() ? "" : ": ", cause);
    std::lock_guard lock(mutex_);
    if (state_ == State::kConnected) state_ = State::kConnecting;
    changed_.notify_all();
  });
  client_->set_message_callback([this](mqtt::const_message_ptr msg) {
    std::lock_guard lock(mutex_);
    if (msg->get_topic() == response_topic_) {
      const auto& props = msg->get_properties();
      if (!props.contains(mqtt::property::CORRELATION_DATA)) return;
      auto correlation = mqtt::get<std::string>(props, mqtt::property::CORRELATION_DATA);
      // A retried request may be answered more than once: the first answer wins.
      if (pending_.contains(correlation) && !replies_.contains(correlation))
        replies_.emplace(std::move(correlation), msg->get_payload_str());
    } else {
      if (inbound_.size() >= kMaxInbound) inbound_.pop_front();
      inbound_.push_back(
          InboundMessage{msg->get_topic(), msg->get_payload_str(), msg->is_retained()});
    }
    changed_.notify_all();
  });
}

DeviceAgent::~DeviceAgent() {
  stop();
}

void DeviceAgent::add_subscription(std::string filter) {
  subscriptions_.push_back(std::move(filter));
}

void DeviceAgent::start() {
  {
    std::lock_guard lock(mutex_);
    if (state_ != State::kIdle) return;
    state_ = State::kConnecting;
  }
  spdlog::info("mqtt: connecting to {} as {}", options_.uri, options_.client_id);
  io_thread_ = std::thread([this] { io_loop(); });
}

void DeviceAgent::stop() {
  shut_down(true);
}

void DeviceAgent::abort() {
  shut_down(false);
}

void DeviceAgent::shut_down(bool clean) {
  {
    std::lock_guard lock(mutex_);
    if (stop_requested_) return;
    stop_requested_ = true;
    if (state_ == State::kIdle) {
      state_ = State::kStopped;
      return;
    }
    jobs_.push_back(Job::control(clean ? Job::Type::kStop : Job::Type::kAbort));
    changed_.notify_all();
  }
  if (io_thread_.joinable()) io_thread_.join();
}

bool DeviceAgent::connected() const {
  std::lock_guard lock(mutex_);
  return state_ == State::kConnected;
}

bool DeviceAgent::wait_connected(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [this] { return state_ == State::kConnected; });
}

std::uint64_t DeviceAgent::retries() const {
  std::lock_guard lock(mutex_);
  return retries_;
}

void DeviceAgent::push_job(Job job) {
  std::lock_guard lock(mutex_);
  jobs_.push_back(std::move(job));
  changed_.notify_all();
}

void DeviceAgent::publish(std::string topic, std::string payload, int qos, bool retain) {
  Job job;
  job.topic = std::move(topic);
  job.payload = std::move(payload);
  job.qos = qos;
  job.retain = retain;
  push_job(std::move(job));
}

std::optional<InboundMessage> DeviceAgent::next_message(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  if (!changed_.wait_for(lock, timeout, [this] { return !inbound_.empty() || stop_requested_; }))
    return std::nullopt;
  if (inbound_.empty()) return std::nullopt;
  InboundMessage m = std::move(inbound_.front());
  inbound_.pop_front();
  return m;
}

std::string DeviceAgent::fresh_correlation() {
  std::lock_guard lock(mutex_);
  return options_.client_id + "-" + std::to_string(correlation_salt_ % 1000000007ULL) + "-" +
         std::to_string(next_correlation_++);
}

protocol::Expected<protocol::Reply> DeviceAgent::request(std::string_view op,
                                                         std::string_view payload_json) {
  std::string correlation = fresh_correlation();
  Job job;
  job.topic = topics_.device_request(options_.device, op);
  job.payload = payload_json.empty() ? std::string("{}") : std::string(payload_json);
  job.response_topic = response_topic_;
  job.correlation = correlation;
  {
    std::lock_guard lock(mutex_);
    pending_.emplace(correlation, true);
  }
  std::optional<std::string> payload;
  for (int attempt = 0; attempt < options_.request_attempts && !payload; ++attempt) {
    if (attempt > 0) {
      spdlog::info("request {} ({}): no reply after {} ms, sending again", op, correlation,
                   options_.request_timeout.count());
      std::lock_guard lock(mutex_);
      ++retries_;
    }
    push_job(job);
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, options_.request_timeout,
                      [&] { return replies_.contains(correlation) || stop_requested_; });
    if (auto it = replies_.find(correlation); it != replies_.end()) payload = std::move(it->second);
    if (stop_requested_) break;
  }
  {
    std::lock_guard lock(mutex_);
    pending_.erase(correlation);
    replies_.erase(correlation);
  }
  if (!payload)
    return protocol::error("no reply to " + std::string(op) + " after " +
                           std::to_string(options_.request_attempts) + " attempt(s)");
  return protocol::decode_reply(*payload);
}

void DeviceAgent::connect_now() {
  try {
    client_->connect(*connect_options_, nullptr, *listener_);
  } catch (const mqtt::exception& e) {
    spdlog::warn("mqtt: connect to {} failed: {}", options_.uri, e.what());
    std::lock_guard lock(mutex_);
    jobs_.push_back(Job::control(Job::Type::kConnectFailed));
  }
}

void DeviceAgent::on_connected() {
  for (const auto& filter : subscriptions_) {
    try {
      client_->subscribe(filter, 1);
    } catch (const mqtt::exception& e) {
      spdlog::warn("mqtt: subscribe {} failed: {}", filter, e.what());
    }
  }
  try {
    client_->subscribe(response_topic_, 1);
    protocol::DeviceStatus online;
    online.state = "online";
    online.kind = std::string(protocol::to_string(options_.kind));
    online.version = options_.version;
    client_->publish(
        mqtt::make_message(status_topic_, protocol::encode_device_status(online), 1, true));
  } catch (const mqtt::exception& e) {
    spdlog::warn("mqtt: announcing presence failed: {}", e.what());
  }
  spdlog::info("mqtt: connected to {} as {}", options_.uri, options_.client_id);
  std::lock_guard lock(mutex_);
  state_ = State::kConnected;
  changed_.notify_all();
}

void DeviceAgent::run_job(Job& job) {
  try {
    auto msg = mqtt::make_message(job.topic, job.payload, job.qos, job.retain);
    if (job.response_topic || job.correlation) {
      mqtt::properties props;
      if (job.response_topic) props.add({mqtt::property::RESPONSE_TOPIC, *job.response_topic});
      if (job.correlation) props.add({mqtt::property::CORRELATION_DATA, *job.correlation});
      msg->set_properties(props);
    }
    client_->publish(msg);
  } catch (const mqtt::exception& e) {
    spdlog::warn("mqtt: publish to {} failed: {}", job.topic, e.what());
  }
}

void DeviceAgent::io_loop() {
  auto retry_delay = kFirstRetryDelay;
  // time_point::max(): no connect attempt pending.
  constexpr auto kNoAttempt = std::chrono::steady_clock::time_point::max();
  auto next_attempt = kNoAttempt;
  connect_now();
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mutex_);
      auto ready = [this] { return !jobs_.empty(); };
      if (next_attempt != kNoAttempt) {
        if (!changed_.wait_until(lock, next_attempt, ready)) {
          next_attempt = kNoAttempt;
          state_ = State::kConnecting;
          lock.unlock();
          connect_now();
          continue;
        }
      } else {
        changed_.wait(lock, ready);
      }
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    switch (job.type) {
      case Job::Type::kConnected:
        retry_delay = kFirstRetryDelay;
        on_connected();
        break;
      case Job::Type::kConnectFailed: {
        std::lock_guard lock(mutex_);
        state_ = State::kWaitingRetry;
        next_attempt = std::chrono::steady_clock::now() + retry_delay;
        retry_delay = std::min(retry_delay * 2, kMaxRetryDelay);
        break;
      }
      case Job::Type::kPublish:
        run_job(job);
        break;
      case Job::Type::kStop: {
        try {
          bool was_connected = client_->is_connected();
          if (was_connected) {
            auto token =
                client_->publish(mqtt::make_message(status_topic_, offline_status(), 1, true));
            token->wait_for(std::chrono::seconds(2));
            client_->disconnect(1000)->wait_for(std::chrono::seconds(2));
          } else {
            client_->disconnect(0)->wait_for(std::chrono::seconds(1));
          }
        } catch (const mqtt::exception& e) {
          spdlog::debug("mqtt: stop: {}", e.what());
        }
        std::lock_guard lock(mutex_);
        state_ = State::kStopped;
        changed_.notify_all();
        return;
      }
      case Job::Type::kAbort: {
        try {
          mqtt::disconnect_options options(0);
          mqtt::disconnect_options_test::use_version_1(options);
          options.set_reason_code(mqtt::ReasonCode::DISCONNECT_WITH_WILL_MESSAGE);
          client_->disconnect(options)->wait_for(std::chrono::seconds(1));
        } catch (const mqtt::exception& e) {
          spdlog::debug("mqtt: abort: {}", e.what());
        }
        std::lock_guard lock(mutex_);
        state_ = State::kStopped;
        changed_.notify_all();
        return;
      }
    }
  }
}

}  // namespace yiban::devices
