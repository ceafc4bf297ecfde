// Edge benchmarks (issue 2). Every figure is measured through a real Mosquitto
// broker and a real yiban-edge process (durable commits: synchronous=FULL) in
// a fresh temporary directory, with the example hall deploy/examples/hall.json
// (hall qd-sn-01, kiosk-1..3, counter-1..14, display-main):
//
//   [take]        ticket.take round trip at a steady 200 requests/s for 10 s
//                 (open loop: sent at scheduled times, timed from send to the
//                 reply carrying the same correlation data)
//   [saturation]  ticket.take from 6 kiosk connections (kiosk-1..3, two
//                 connections each) keeping 32 requests outstanding each, 10 s
//   [call]        counter.call_next -> the display's retained board/calls
//                 update whose first entry is the called ticket, 600 calls
//   [rss]         the edge's VmRSS / VmHWM after 100,000 tickets
//
// How to run (not registered with ctest; build with
// `cmake --build build-dev -j2 --target edge_bench yiban-edge`):
//   build-dev/tests/bench/edge_bench             all four, then a summary table
//   build-dev/tests/bench/edge_bench '[bench]'   the same (hidden test cases)
//   build-dev/tests/bench/edge_bench '[call]'    one of [take] [saturation] [call] [rss]
// Under two minutes on a 2-core machine. Figures are printed next to
// their goals, never asserted; a run fails only when the edge answers wrongly.
//
// Clients are raw Paho async_clients (MQTT 5, QoS 1, Response Topic +
// Correlation Data) so that the time is taken right at publish and at
// arrival. Paho C 1.3.12 makes every connect after a process's first one wait
// ~2 s (paho.mqtt.c #1430): all clients connect up front, in parallel threads,
// while the edge starts, before anything is measured. The clients' sockets get
// TCP_NODELAY (Paho never sets it, paho.mqtt.c #530) so that Nagle's delays on
// the bench's side do not count against the edge; the edge's own socket keeps
// whatever the edge chose.

#include <mqtt/async_client.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

// Listeners (the summary table) need Catch2's reporter interfaces.
#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include <catch2/catch.hpp>

#include "support/edge_process.h"
#include "support/mosquitto_broker.h"
#include "support/mqtt_test_client.h"
#include "support/test_support.h"
#include "yiban/runtime/socket_tuning.h"
#include "store/edge_store.h"

namespace yiban::test {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

constexpr const char* kHall = "qd-sn-01";
const std::vector<std::string> kAllServices{"A", "B", "C", "D", "E", "F", "G", "H", "I"};

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now().time_since_epoch())
      .count();
}

std::string printf_to_string(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string printf_to_string(const char* fmt, ...) {
  char buffer[512];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(buffer, sizeof buffer, fmt, args);
  va_end(args);
  return buffer;
}

void say(const std::string& line) {
  std::cout << line << '\n' << std::flush;
}

std::string device_root(const std::string& device) {
  return std::string("yiban/v1/") + kHall + "/devices/" + device;
}

// ---------------------------------------------------------------------------
// Figures and the summary printed at the end of the run.

struct Latency {
  std::size_t count = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double max_ms = 0;
};

Latency summarize(std::vector<std::int64_t> ns) {
  Latency out;
  out.count = ns.size();
  if (ns.empty()) return out;
  std::sort(ns.begin(), ns.end());
  auto at = [&](double p) {
    auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(ns.size())));
    return static_cast<double>(ns[std::clamp<std::size_t>(rank, 1, ns.size()) - 1]) / 1e6;
  };
  out.p50_ms = at(0.50);
  out.p99_ms = at(0.99);
  out.max_ms = static_cast<double>(ns.back()) / 1e6;
  return out;
}

struct Figure {
  std::string what;
  std::string measured;
  std::string goal;  // "" when the figure is for information
  bool met = true;
};

// Filled by the benchmarks (main thread), printed by SummaryListener.
std::vector<Figure>& figures() {
  static std::vector<Figure> all;
  return all;
}

void add_figure(const std::string& what, const std::string& measured, const std::string& goal = "",
                bool met = true) {
  figures().push_back({what, measured, goal, met});
}

std::string first_line_with(const std::filesystem::path& file, const std::string& key) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with(key)) {
      auto colon = line.find(':');
      auto value = colon == std::string::npos ? line : line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(" \t"));
      return value;
    }
  }
  return "?";
}

std::string filesystem_type(const std::filesystem::path& path) {
  struct statfs fs {};
  if (::statfs(path.c_str(), &fs) != 0) return "?";
  switch (static_cast<unsigned long>(fs.f_type)) {
    case 0xEF53:
      return "ext2/3/4";
    case 0x01021994:
      return "tmpfs (fsync is free: durable-commit figures are optimistic)";
    case 0x794c7630:
      return "overlayfs";
    case 0x58465342:
      return "xfs";
    case 0x9123683e:
      return "btrfs";
    default:
      return printf_to_string("0x%lx", static_cast<unsigned long>(fs.f_type));
  }
}

std::string machine_description() {
  utsname un{};
  ::uname(&un);
  const char* tmp = std::getenv("TMPDIR");
  std::filesystem::path temp = (tmp && *tmp) ? tmp : "/tmp";
  return printf_to_string(
      "machine: %ld online CPUs (nproc), CPU \"%s\", Linux %s, %s; temp dirs on %s",
      ::sysconf(_SC_NPROCESSORS_ONLN), first_line_with("/proc/cpuinfo", "model name").c_str(),
      un.release, first_line_with("/proc/meminfo", "MemTotal").c_str(),
      filesystem_type(temp).c_str());
}

void announce_benchmark(const std::string& title) {
  static bool machine_printed = false;
  if (!machine_printed) {
    say(machine_description());
    machine_printed = true;
  }
  say("\n== " + title);
}

class SummaryListener : public Catch::TestEventListenerBase {
 public:
  using TestEventListenerBase::TestEventListenerBase;
  void testRunEnded(const Catch::TestRunStats&) override {
    if (figures().empty()) return;
    say("\n== edge_bench summary (issue 2 goals; figures are informative, not asserted)");
    say(machine_description());
    say(printf_to_string("%-46s %-22s %-12s %s", "figure", "measured", "goal", "meets goal"));
    say(std::string(92, '-'));
    for (const auto& f : figures()) {
      say(printf_to_string("%-46s %-22s %-12s %s", f.what.c_str(), f.measured.c_str(),
                           f.goal.empty() ? "-" : f.goal.c_str(),
                           f.goal.empty() ? "" : (f.met ? "yes" : "NO")));
    }
  }
};
CATCH_REGISTER_LISTENER(SummaryListener)

// ---------------------------------------------------------------------------
// Clients.

// Wakes the sending thread when any client got a reply.
class Doorbell {
 public:
  void ring() {
    {
      std::lock_guard lock(mutex_);
      ++rings_;
    }
    rung_.notify_all();
  }
  std::uint64_t rings() const {
    std::lock_guard lock(mutex_);
    return rings_;
  }
  // Returns when rings() differs from seen, or after timeout.
  void wait_past(std::uint64_t seen, std::chrono::microseconds timeout) {
    std::unique_lock lock(mutex_);
    rung_.wait_for(lock, timeout, [&] { return rings_ != seen; });
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable rung_;  // guarded by mutex_
  std::uint64_t rings_ = 0;       // guarded by mutex_
};

// One MQTT 5 connection playing a device. Requests go to
// …/devices/{device}/req/{op} with QoS 1, Correlation Data "{client id}/{seq}"
// and Response Topic …/devices/{device}/res/{client id}, so that several
// connections may play the same device (the edge takes a request whose device
// and correlation data it already answered for a retry). Also records, when
// subscribed to board/calls, when each ticket number first led the board.
//
// Threads: send() from one thread only (Paho C++ #499); replies are recorded on
// Paho's callback thread; the other accessors are safe from any thread.
class BenchClient {
 public:
  BenchClient(const std::string& uri, std::string client_id, std::string device,
              std::size_t max_requests, Doorbell* doorbell = nullptr)
      : client_id_(std::move(client_id)),
        device_(std::move(device)),
        request_prefix_(device_root(device_) + "/req/"),
        response_topic_(device_root(device_) + "/res/" + client_id_),
        board_calls_topic_(std::string("yiban/v1/") + kHall + "/board/calls"),
        capacity_(max_requests + 1),
        sent_ns_(new std::atomic<std::int64_t>[capacity_]()),
        doorbell_(doorbell) {
    latencies_.reserve(max_requests);
    send_times_.reserve(max_requests);
    client_ = std::make_unique<mqtt::async_client>(
        uri, client_id_, mqtt::create_options(MQTTVERSION_5, 1000), nullptr);
    client_->set_message_callback([this](mqtt::const_message_ptr msg) { on_message(msg); });
    connect_options_.set_mqtt_version(MQTTVERSION_5);
    connect_options_.set_clean_start(true);
    connect_options_.set_connect_timeout(10);
    connect_options_.set_keep_alive_interval(60);
  }

  ~BenchClient() {
    try {
      if (client_->is_connected()) client_->disconnect()->wait_for(2s);
    } catch (...) {
    }
  }

  BenchClient(const BenchClient&) = delete;
  BenchClient& operator=(const BenchClient&) = delete;

  // Connects and subscribes to the response topic; throws std::runtime_error.
  void connect() {
    try {
      client_->connect(connect_options_)->wait_for(15s);
      if (!client_->is_connected()) throw std::runtime_error("not connected after 15 s");
      client_->subscribe(response_topic_, 1)->wait_for(10s);
    } catch (const std::exception& e) {
      throw std::runtime_error("bench client " + client_id_ + ": " + e.what());
    }
  }

  void subscribe(const std::string& filter) { client_->subscribe(filter, 1)->wait_for(10s); }

  // Sends one request and returns its sequence number (from 1).
  std::uint64_t send(std::string_view op, const std::string& payload) {
    std::uint64_t seq = next_seq_++;
    if (seq >= capacity_)
      throw std::logic_error("bench client " + client_id_ + ": more requests than planned");
    auto msg = mqtt::make_message(request_prefix_ + std::string(op), payload, 1, false);
    msg->set_properties(mqtt::properties{
        {mqtt::property::RESPONSE_TOPIC, response_topic_},
        {mqtt::property::CORRELATION_DATA, client_id_ + "/" + std::to_string(seq)}});
    outstanding_.fetch_add(1);
    sent_ns_[seq].store(now_ns(), std::memory_order_release);
    client_->publish(msg);
    return seq;
  }

  // Keep every reply's payload for wait_reply() (set before sending).
  void keep_replies() { keep_replies_ = true; }

  // The reply to seq, when it arrives within timeout (keep_replies() only).
  std::optional<std::string> wait_reply(std::uint64_t seq, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    std::optional<std::string> out;
    arrived_.wait_for(lock, timeout, [&] {
      auto it = kept_.find(seq);
      if (it == kept_.end()) return false;
      out = std::move(it->second);
      kept_.erase(it);
      return true;
    });
    return out;
  }

  // When the board/calls update led by number first arrived (steady ns).
  std::optional<std::int64_t> wait_first_call(const std::string& number,
                                              std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    std::optional<std::int64_t> out;
    arrived_.wait_for(lock, timeout, [&] {
      auto it = first_calls_.find(number);
      if (it != first_calls_.end()) out = it->second;
      return out.has_value();
    });
    return out;
  }

  // Waits until every request sent has its reply; false on timeout.
  bool wait_all_replies(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return arrived_.wait_for(lock, timeout, [&] { return replies_ >= next_seq_.load() - 1; });
  }

  int outstanding() const { return outstanding_.load(); }
  std::uint64_t sent() const { return next_seq_.load() - 1; }
  std::uint64_t replies() const {
    std::lock_guard lock(mutex_);
    return replies_;
  }
  std::uint64_t failures() const {
    std::lock_guard lock(mutex_);
    return failures_;
  }
  std::string first_failure() const {
    std::lock_guard lock(mutex_);
    return first_failure_;
  }
  std::vector<std::int64_t> latencies() const {
    std::lock_guard lock(mutex_);
    return latencies_;
  }
  // When each reply's request was sent (steady ns), in the order of latencies().
  std::vector<std::int64_t> send_times() const {
    std::lock_guard lock(mutex_);
    return send_times_;
  }
  void clear_latencies() {
    std::lock_guard lock(mutex_);
    latencies_.clear();
    send_times_.clear();
  }
  // When seq was sent (steady ns), once its reply arrived (keep_replies() only).
  std::int64_t sent_at_ns(std::uint64_t seq) const {
    std::lock_guard lock(mutex_);
    return kept_sent_ns_.at(seq);
  }

 private:
  void on_message(const mqtt::const_message_ptr& msg) {
    std::int64_t received = now_ns();
    const std::string& topic = msg->get_topic();
    if (topic == response_topic_) {
      on_reply(*msg, received);
    } else if (topic == board_calls_topic_) {
      on_board_calls(msg->get_payload_str(), received);
    }
  }

  void on_reply(const mqtt::message& msg, std::int64_t received) {
    const auto& props = msg.get_properties();
    std::uint64_t seq = 0;
    if (props.contains(mqtt::property::CORRELATION_DATA)) {
      auto correlation = mqtt::get<std::string>(props, mqtt::property::CORRELATION_DATA);
      if (correlation.size() > client_id_.size() && correlation.starts_with(client_id_) &&
          correlation[client_id_.size()] == '/')
        std::from_chars(correlation.data() + client_id_.size() + 1,
                        correlation.data() + correlation.size(), seq);
    }
    // A reply is counted once: its send time is taken away.
    std::int64_t sent =
        (seq > 0 && seq < capacity_) ? sent_ns_[seq].exchange(0, std::memory_order_acq_rel) : 0;
    std::string payload = msg.get_payload_str();
    bool ok = reply_ok(payload);
    {
      std::lock_guard lock(mutex_);
      if (sent == 0) {
        ++failures_;
        if (first_failure_.empty()) first_failure_ = "unexpected or duplicate reply: " + payload;
      } else {
        latencies_.push_back(received - sent);
        send_times_.push_back(sent);
        ++replies_;
        if (!ok) {
          ++failures_;
          if (first_failure_.empty()) first_failure_ = payload;
        }
        if (keep_replies_) {
          kept_sent_ns_[seq] = sent;
          kept_[seq] = std::move(payload);
        }
        outstanding_.fetch_sub(1);
      }
    }
    arrived_.notify_all();
    if (doorbell_ != nullptr) doorbell_->ring();
  }

  void on_board_calls(const std::string& payload, std::int64_t received) {
    auto calls = nlohmann::json::parse(payload, nullptr, false);
    if (!calls.is_array() || calls.empty() || !calls[0].is_object()) return;
    std::string number = calls[0].value("number", "");
    {
      std::lock_guard lock(mutex_);
      first_calls_.emplace(std::move(number), received);  // keeps the first arrival
    }
    arrived_.notify_all();
  }

  std::string client_id_;
  std::string device_;
  std::string request_prefix_;
  std::string response_topic_;
  std::string board_calls_topic_;
  std::size_t capacity_;
  // Send time of each outstanding request by sequence number, 0 once answered.
  std::unique_ptr<std::atomic<std::int64_t>[]> sent_ns_;
  Doorbell* doorbell_;
  std::unique_ptr<mqtt::async_client> client_;
  mqtt::connect_options connect_options_;   // outlives connect() (Paho C++ #145)
  std::atomic<std::uint64_t> next_seq_{1};  // written by the sending thread only
  std::atomic<int> outstanding_{0};
  bool keep_replies_ = false;  // set before the first send

  mutable std::mutex mutex_;
  std::condition_variable arrived_;       // guarded by mutex_
  std::vector<std::int64_t> latencies_;   // guarded by mutex_
  std::vector<std::int64_t> send_times_;  // guarded by mutex_
  std::map<std::uint64_t, std::int64_t>
      kept_sent_ns_;                                 // guarded by mutex_; with keep_replies_ only
  std::uint64_t replies_ = 0;                        // guarded by mutex_
  std::uint64_t failures_ = 0;                       // guarded by mutex_
  std::string first_failure_;                        // guarded by mutex_
  std::map<std::uint64_t, std::string> kept_;        // guarded by mutex_
  std::map<std::string, std::int64_t> first_calls_;  // guarded by mutex_
};

// A broker and a yiban-edge in a fresh directory, with the example hall.
class BenchHall {
 public:
  explicit BenchHall(const std::filesystem::path& hall_config = example_hall_config())
      : broker_(dir_.path()), edge_(dir_.path(), hall_config, broker_.uri()) {}

  std::string uri() const { return broker_.uri(); }
  const EdgeProcess& edge() const { return edge_; }
  pid_t edge_pid() const { return edge_pid_; }
  pid_t broker_pid() const { return broker_pid_; }

  // Starts the edge on this thread (which must outlive the hall: the child
  // dies with its creating thread) while the clients connect in parallel.
  void start(const std::vector<BenchClient*>& clients) {
    std::vector<std::exception_ptr> errors(clients.size());
    std::vector<std::thread> threads;
    auto begun = SteadyClock::now();
    for (std::size_t i = 0; i < clients.size(); ++i) {
      threads.emplace_back([&, i] {
        try {
          clients[i]->connect();
        } catch (...) {
          errors[i] = std::current_exception();
        }
      });
    }
    std::exception_ptr edge_error;
    try {
      edge_.start();
    } catch (...) {
      edge_error = std::current_exception();
    }
    for (auto& t : threads) t.join();
    if (edge_error) std::rethrow_exception(edge_error);
    for (auto& e : errors)
      if (e) std::rethrow_exception(e);
    // EdgeProcess and MosquittoBroker keep their ChildProcess private: find
    // them by the files on their command lines.
    edge_pid_ = find_process(YIBAN_EDGE_BINARY, edge_.db().string());
    broker_pid_ = find_process("/usr/sbin/mosquitto", (dir_.path() / "mosquitto.conf").string());
    int nodelay = yiban::runtime::set_nodelay_towards(broker_.uri());
    say(printf_to_string(
        "edge pid %d ready and %zu clients connected in %.1f s (TCP_NODELAY set on %d client "
        "sockets)",
        static_cast<int>(edge_pid_), clients.size(),
        std::chrono::duration<double>(SteadyClock::now() - begun).count(), nodelay));
  }

 private:
  // The process running program with arg among its arguments, or -1.
  static pid_t find_process(const std::string& program, const std::string& arg) {
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
      std::string name = entry.path().filename().string();
      if (name.empty() ||
          !std::all_of(name.begin(), name.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
        continue;
      std::string cmdline = read_file(entry.path() / "cmdline");
      std::vector<std::string> args;
      for (std::size_t start = 0; start < cmdline.size();) {
        auto end = cmdline.find('\0', start);
        if (end == std::string::npos) end = cmdline.size();
        args.push_back(cmdline.substr(start, end - start));
        start = end + 1;
      }
      if (!args.empty() && args[0] == program &&
          std::find(args.begin(), args.end(), arg) != args.end())
        return static_cast<pid_t>(std::stol(name));
    }
    return -1;
  }

  TempDir dir_;
  MosquittoBroker broker_;
  EdgeProcess edge_;
  pid_t edge_pid_ = -1;
  pid_t broker_pid_ = -1;
};

// CPU time (user + system) a process used so far, in seconds; 0 when unknown.
double cpu_seconds(const std::string& proc_dir) {
  std::string stat = read_file(std::filesystem::path(proc_dir) / "stat");
  auto close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close + 2));
  std::vector<std::string> f{std::istream_iterator<std::string>(fields),
                             std::istream_iterator<std::string>()};
  if (f.size() < 13) return 0;  // f[0] is field 3 (state); utime is field 14, stime 15
  return (std::atof(f[11].c_str()) + std::atof(f[12].c_str())) /
         static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// CPU used by the edge, the broker and this bench process during a run.
class CpuMeter {
 public:
  explicit CpuMeter(const BenchHall& hall)
      : edge_("/proc/" + std::to_string(hall.edge_pid())),
        broker_("/proc/" + std::to_string(hall.broker_pid())) {
    start_ = {cpu_seconds(edge_), cpu_seconds(broker_), cpu_seconds("/proc/self")};
  }
  // One line: each process's share of a core and its CPU time per request.
  std::string report(double seconds, std::uint64_t requests) const {
    std::array<double, 3> now{cpu_seconds(edge_), cpu_seconds(broker_), cpu_seconds("/proc/self")};
    const char* names[] = {"edge", "broker", "bench clients"};
    std::string out = "CPU:";
    for (std::size_t i = 0; i < now.size(); ++i) {
      double used = now[i] - start_[i];
      out += printf_to_string(
          " %s %.0f%% of a core (%.0f us/request)%s", names[i], 100.0 * used / seconds,
          1e6 * used / static_cast<double>(std::max<std::uint64_t>(requests, 1)),
          i + 1 < now.size() ? "," : "");
    }
    return out;
  }

 private:
  std::string edge_;
  std::string broker_;
  std::array<double, 3> start_{};
};

struct Memory {
  double rss_mb = 0;
  double hwm_mb = 0;
};

Memory memory_of(pid_t pid) {
  auto status = std::filesystem::path("/proc") / std::to_string(pid) / "status";
  auto kb = [&](const char* key) { return std::atof(first_line_with(status, key).c_str()); };
  return {kb("VmRSS:") / 1024.0, kb("VmHWM:") / 1024.0};
}

std::vector<std::string> take_payloads(const std::vector<std::string>& services) {
  std::vector<std::string> out;
  for (const auto& s : services) out.push_back(R"({"service":")" + s + R"("})");
  return out;
}

void require_all_ok(const std::vector<BenchClient*>& clients) {
  for (auto* c : clients) {
    INFO("first bad reply: " << c->first_failure());
    REQUIRE(c->failures() == 0);
    REQUIRE(c->replies() == c->sent());
  }
}

std::vector<std::int64_t> all_latencies(const std::vector<BenchClient*>& clients) {
  std::vector<std::int64_t> out;
  for (auto* c : clients) {
    auto l = c->latencies();
    out.insert(out.end(), l.begin(), l.end());
  }
  return out;
}

struct LoadResult {
  std::uint64_t replies = 0;
  double seconds = 0;
  double per_second = 0;
  Latency latency;
};

// Keeps `window` ticket.take requests outstanding on every client (services
// round-robin) until `duration` has passed or `total` requests were sent, then
// waits for the last replies. Sends from the calling thread only; the rate
// counts from the first request to the last reply.
LoadResult run_windowed(const std::vector<BenchClient*>& clients, Doorbell& bell, int window,
                        const std::vector<std::string>& services,
                        std::chrono::milliseconds duration, std::uint64_t total) {
  auto payloads = take_payloads(services);
  for (auto* c : clients) c->clear_latencies();
  std::uint64_t before = 0;
  for (auto* c : clients) before += c->replies();
  std::uint64_t sent = 0;
  std::size_t next = 0;
  auto start = SteadyClock::now();
  auto deadline = start + duration;
  while (sent < total && SteadyClock::now() < deadline) {
    auto seen = bell.rings();
    bool any = false;
    for (auto* c : clients) {
      while (c->outstanding() < window && sent < total) {
        c->send("ticket.take", payloads[next++ % payloads.size()]);
        ++sent;
        any = true;
      }
    }
    if (!any) bell.wait_past(seen, 2ms);
  }
  for (auto* c : clients) c->wait_all_replies(30s);
  LoadResult out;
  out.seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  for (auto* c : clients) out.replies += c->replies();
  out.replies -= before;
  out.per_second = static_cast<double>(out.replies) / out.seconds;
  out.latency = summarize(all_latencies(clients));
  return out;
}

// Where the tail comes from: how many requests took over threshold_ns, and
// when (seconds into the run) the slowest of them were sent.
std::string slow_requests(const std::vector<std::int64_t>& latencies,
                          const std::vector<std::int64_t>& sent, SteadyClock::time_point start,
                          std::int64_t threshold_ns) {
  std::vector<std::size_t> slow;
  for (std::size_t i = 0; i < latencies.size() && i < sent.size(); ++i)
    if (latencies[i] > threshold_ns) slow.push_back(i);
  std::sort(slow.begin(), slow.end(),
            [&](std::size_t a, std::size_t b) { return latencies[a] > latencies[b]; });
  std::int64_t start_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(start.time_since_epoch()).count();
  std::string out = printf_to_string("%zu requests over %.1f ms", slow.size(),
                                     static_cast<double>(threshold_ns) / 1e6);
  if (!slow.empty()) out += "; slowest sent at";
  for (std::size_t k = 0; k < slow.size() && k < 8; ++k) {
    out += printf_to_string(" %.2fs (%.1f ms)", static_cast<double>(sent[slow[k]] - start_ns) / 1e9,
                            static_cast<double>(latencies[slow[k]]) / 1e6);
  }
  return out;
}

// Sends n ticket.take requests one at a time (edge warm-up, not measured).
void warm_up(BenchClient& kiosk, int n) {
  for (int i = 0; i < n; ++i) {
    kiosk.send("ticket.take", R"({"service":"A"})");
    REQUIRE(kiosk.wait_all_replies(5s));
  }
  kiosk.clear_latencies();
}

// ---------------------------------------------------------------------------
// The benchmarks.

void bench_take_at_200_per_second() {
  constexpr int kRate = 200;
  constexpr auto kDuration = 10s;
  constexpr int kRequests = kRate * static_cast<int>(kDuration.count());
  constexpr int kWarmUp = 50;
  announce_benchmark(
      "ticket.take round trip at a steady 200 requests/s (open loop, 10 s, QoS 1, kiosk-1)");
  BenchHall hall;
  BenchClient kiosk(hall.uri(), "bench-take-kiosk-1", "kiosk-1", kRequests + kWarmUp);
  hall.start({&kiosk});
  warm_up(kiosk, kWarmUp);

  auto payloads = take_payloads(kAllServices);
  auto interval = std::chrono::nanoseconds(1'000'000'000 / kRate);
  CpuMeter cpu(hall);
  auto start = SteadyClock::now() + 10ms;
  std::int64_t max_lag_ns = 0;
  for (int i = 0; i < kRequests; ++i) {
    auto due = start + i * interval;
    std::this_thread::sleep_until(due);
    max_lag_ns = std::max<std::int64_t>(max_lag_ns, (SteadyClock::now() - due).count());
    kiosk.send("ticket.take", payloads[static_cast<std::size_t>(i) % payloads.size()]);
  }
  double seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  REQUIRE(kiosk.wait_all_replies(10s));
  say(cpu.report(seconds, kRequests));
  require_all_ok({&kiosk});

  auto latencies = kiosk.latencies();
  auto l = summarize(latencies);
  say(printf_to_string("%zu requests in %.2f s (%.1f/s); send schedule kept within %.3f ms",
                       l.count, seconds, static_cast<double>(kRequests) / seconds,
                       static_cast<double>(max_lag_ns) / 1e6));
  say(printf_to_string("round trip: p50 %.3f ms  p99 %.3f ms  max %.3f ms", l.p50_ms, l.p99_ms,
                       l.max_ms));
  say(slow_requests(latencies, kiosk.send_times(), start, 2'000'000));
  add_figure("ticket.take p50 @ 200/s", printf_to_string("%.3f ms", l.p50_ms), "<= 0.5 ms",
             l.p50_ms <= 0.5);
  add_figure("ticket.take p99 @ 200/s", printf_to_string("%.3f ms", l.p99_ms), "<= 2 ms",
             l.p99_ms <= 2.0);
  add_figure("ticket.take max @ 200/s", printf_to_string("%.3f ms", l.max_ms));
}

// count connections spread over kiosk-1..3 (devices are named by topic, so
// several connections may share one), each expecting up to max_replies.
std::vector<std::unique_ptr<BenchClient>> kiosk_connections(const BenchHall& hall, Doorbell& bell,
                                                            const std::string& prefix, int count,
                                                            std::size_t max_replies) {
  std::vector<std::unique_ptr<BenchClient>> out;
  for (int i = 0; i < count; ++i) {
    std::string device = "kiosk-" + std::to_string(i % 3 + 1);
    out.push_back(std::make_unique<BenchClient>(hall.uri(), prefix + std::to_string(i) + "-" + device, device,
                                                max_replies, &bell));
  }
  return out;
}

std::vector<BenchClient*> pointers(const std::vector<std::unique_ptr<BenchClient>>& owned) {
  std::vector<BenchClient*> out;
  for (const auto& c : owned) out.push_back(c.get());
  return out;
}

void bench_take_saturation() {
  constexpr int kConnections = 6;
  constexpr int kWindow = 32;
  constexpr auto kDuration = 10s;
  constexpr std::size_t kMaxPerClient = 200'000;
  announce_benchmark(
      "ticket.take at saturation: 6 connections (kiosk-1..3 x 2), 32 outstanding each, 10 s");
  BenchHall hall;
  Doorbell bell;
  auto owned = kiosk_connections(hall, bell, "bench-sat-", kConnections, kMaxPerClient);
  auto kiosks = pointers(owned);
  hall.start(kiosks);
  warm_up(*kiosks[0], 50);

  CpuMeter cpu(hall);
  auto r = run_windowed(kiosks, bell, kWindow, kAllServices, kDuration,
                        kMaxPerClient * kConnections - 1000);
  say(cpu.report(r.seconds, r.replies));
  require_all_ok(kiosks);
  say(printf_to_string("%llu takes in %.2f s: %.0f takes/s",
                       static_cast<unsigned long long>(r.replies), r.seconds, r.per_second));
  say(printf_to_string("round trip: p50 %.3f ms  p99 %.3f ms  max %.3f ms", r.latency.p50_ms,
                       r.latency.p99_ms, r.latency.max_ms));
  add_figure("saturation takes/s (6 conn x 32)", printf_to_string("%.0f /s", r.per_second),
             ">= 3000 /s", r.per_second >= 3000);
  add_figure("saturation round trip p50 / p99",
             printf_to_string("%.2f / %.2f ms", r.latency.p50_ms, r.latency.p99_ms));
}

void bench_call_to_display() {
  constexpr int kCalls = 600;
  const std::vector<std::pair<std::string, std::string>> kCounters{
      {"counter-1", "A"}, {"counter-4", "B"}, {"counter-7", "C"}, {"counter-10", "E"}};
  constexpr int kTicketsPerService = kCalls / 4 + 10;
  announce_benchmark(
      "counter.call_next -> display board/calls (counters 1, 4, 7, 10; 600 calls, one at a time)");
  BenchHall hall;
  Doorbell bell;
  BenchClient kiosk(hall.uri(), "bench-call-kiosk-1", "kiosk-1", 4 * kTicketsPerService + 100,
                    &bell);
  BenchClient display(hall.uri(), "bench-call-display-main", "display-main", 1);
  std::vector<std::unique_ptr<BenchClient>> counters;
  std::vector<BenchClient*> all{&kiosk, &display};
  for (const auto& [device, service] : kCounters) {
    counters.push_back(
        std::make_unique<BenchClient>(hall.uri(), "bench-call-" + device, device, 2 * kCalls + 10));
    counters.back()->keep_replies();
    all.push_back(counters.back().get());
  }
  hall.start(all);
  display.subscribe(std::string("yiban/v1/") + kHall + "/board/calls");

  std::vector<std::string> services;
  for (const auto& c : kCounters) services.push_back(c.second);
  run_windowed({&kiosk}, bell, 32, services, 60s, 4 * kTicketsPerService);
  require_all_ok({&kiosk});
  for (auto& c : counters) {
    auto opened = c->wait_reply(c->send("counter.open", "{}"), 5s);
    REQUIRE(opened);
    REQUIRE(reply_ok(*opened));
  }

  std::vector<std::int64_t> to_display;
  std::vector<std::int64_t> to_reply;
  for (int i = 0; i < kCalls; ++i) {
    BenchClient& counter = *counters[static_cast<std::size_t>(i) % counters.size()];
    auto seq = counter.send("counter.call_next", "{}");
    auto called = counter.wait_reply(seq, 5s);
    REQUIRE(called);
    INFO(*called);
    REQUIRE(reply_ok(*called));
    std::string number = nlohmann::json::parse(*called)["ticket"]["number"].get<std::string>();
    std::int64_t sent = counter.sent_at_ns(seq);
    auto shown = display.wait_first_call(number, 5s);
    INFO("display never saw " << number << " lead board/calls");
    REQUIRE(shown);
    to_display.push_back(*shown - sent);
    to_reply.push_back(counter.latencies().back());
    auto finished = counter.wait_reply(counter.send("counter.finish", "{}"), 5s);
    REQUIRE(finished);
    REQUIRE(reply_ok(*finished));
  }
  std::vector<BenchClient*> counter_ptrs;
  for (auto& c : counters) counter_ptrs.push_back(c.get());
  require_all_ok(counter_ptrs);

  auto d = summarize(to_display);
  auto r = summarize(to_reply);
  say(printf_to_string(
      "%zu calls; call_next -> display board/calls: p50 %.3f ms  p99 %.3f ms  max %.3f ms", d.count,
      d.p50_ms, d.p99_ms, d.max_ms));
  say(printf_to_string(
      "(call_next -> its own reply:         p50 %.3f ms  p99 %.3f ms  max %.3f ms)", r.p50_ms,
      r.p99_ms, r.max_ms));
  add_figure("call_next -> display p50", printf_to_string("%.3f ms", d.p50_ms));
  add_figure("call_next -> display p99", printf_to_string("%.3f ms", d.p99_ms), "<= 2 ms",
             d.p99_ms <= 2.0);
  add_figure("call_next -> display max", printf_to_string("%.3f ms", d.max_ms));
}

void bench_rss_after_100k_tickets() {
  constexpr int kConnections = 6;
  constexpr int kWindow = 32;
  constexpr std::uint64_t kTickets = 100'000;
  announce_benchmark(
      "edge memory after 100,000 tickets (services A..I, 6 connections x 32 outstanding)");
  BenchHall hall;
  Doorbell bell;
  auto owned = kiosk_connections(hall, bell, "bench-rss-", kConnections, kTickets);
  auto kiosks = pointers(owned);
  hall.start(kiosks);
  REQUIRE(hall.edge_pid() > 0);
  Memory idle = memory_of(hall.edge_pid());

  CpuMeter cpu(hall);
  auto r = run_windowed(kiosks, bell, kWindow, kAllServices, 150s, kTickets);
  say(cpu.report(r.seconds, r.replies));
  require_all_ok(kiosks);
  REQUIRE(r.replies == kTickets);
  std::this_thread::sleep_for(500ms);  // the last coalesced board/queues update
  Memory loaded = memory_of(hall.edge_pid());
  long long tickets = query_int(hall.edge().db(), "SELECT count(*) FROM tickets");
  REQUIRE(tickets == static_cast<long long>(kTickets));
  double db_mb =
      static_cast<double>(std::filesystem::file_size(hall.edge().db())) / (1024.0 * 1024.0);

  say(printf_to_string("%llu tickets in %.1f s (%.0f takes/s); database %.1f MB",
                       static_cast<unsigned long long>(r.replies), r.seconds, r.per_second, db_mb));
  say(printf_to_string("edge VmRSS %.1f MB (VmHWM %.1f MB); at start VmRSS %.1f MB", loaded.rss_mb,
                       loaded.hwm_mb, idle.rss_mb));
  add_figure("edge VmRSS after 100k tickets", printf_to_string("%.1f MB", loaded.rss_mb),
             "<= 30 MB", loaded.rss_mb <= 30.0);
  add_figure("edge VmHWM after 100k tickets", printf_to_string("%.1f MB", loaded.hwm_mb));
  add_figure("edge VmRSS at start", printf_to_string("%.1f MB", idle.rss_mb));
  add_figure("takes/s while taking 100k", printf_to_string("%.0f /s", r.per_second));
}

// The floor under ticket.take: one durable SQLite commit (synchronous=FULL,
// WAL) of a ticket-sized change through the edge's own store, at the same
// 200/s spacing, on the same file system. No broker, no MQTT.
void bench_commit_floor() {
  constexpr int kRate = 200;
  constexpr int kCommits = 2000;
  announce_benchmark("durable commit alone (EdgeStore, synchronous=FULL) at 200 commits/s, 10 s");
  TempDir dir;
  auto opened = yiban::edge::store::EdgeStore::open((dir / "edge.db").string(), kHall);
  REQUIRE(opened);
  auto& store = **opened;
  auto interval = std::chrono::nanoseconds(1'000'000'000 / kRate);
  std::vector<std::int64_t> ns;
  auto start = SteadyClock::now();
  for (int i = 0; i < kCommits; ++i) {
    std::this_thread::sleep_until(start + i * interval);
    auto begun = SteadyClock::now();
    REQUIRE(store.begin());
    yiban::edge::store::TicketRow t;
    t.number = printf_to_string("A%03d", i + 1);
    t.id = printf_to_string("%s:20261126:%s", kHall, t.number.c_str());
    t.day = 20261126;
    t.service = "A";
    REQUIRE(store.next_number(20261126, "A"));
    REQUIRE(store.insert_ticket(t));
    REQUIRE(store.append_event(1, "ticket.issued", R"({"ticket":")" + t.id + R"("})"));
    REQUIRE(store.save_reply("kiosk-1", printf_to_string("c%d", i), "ticket.take", R"({"ok":true})", 1));
    REQUIRE(store.commit());
    ns.push_back((SteadyClock::now() - begun).count());
  }
  auto l = summarize(ns);
  say(printf_to_string("commit: p50 %.3f ms  p99 %.3f ms  max %.3f ms", l.p50_ms, l.p99_ms, l.max_ms));
  add_figure("durable commit alone @ 200/s p50 / p99",
             printf_to_string("%.3f / %.3f ms", l.p50_ms, l.p99_ms));
}

// Telemetry ingestion: 100 environment sensors allowed 100 samples/s each,
// offered together at 10,000 samples/s (QoS 0, two connections) for 10 s;
// the rate is what the edge stored, measured until its backlog drained.
void bench_telemetry_ingestion() {
  constexpr int kSensors = 100;
  constexpr int kPerSensorHz = 100;
  constexpr auto kDuration = 10s;
  announce_benchmark("telemetry ingestion: 100 sensors x 100 samples/s offered, QoS 0, 10 s");
  TempDir config_dir;
  auto hall_json = nlohmann::json::parse(read_file(example_hall_config()));
  hall_json["sensing"] = {{"max_rate_hz", kPerSensorHz}};
  for (int i = 1; i <= kSensors; ++i)
    hall_json["devices"].push_back({{"id", "env-bench-" + std::to_string(i)}, {"kind", "environment"}});
  std::ofstream(config_dir / "hall.json") << hall_json.dump();
  BenchHall hall(config_dir / "hall.json");
  hall.start({});
  std::vector<std::unique_ptr<MqttTestClient>> clients;
  clients.push_back(std::make_unique<MqttTestClient>(hall.uri(), "bench-telemetry-1"));
  clients.push_back(std::make_unique<MqttTestClient>(hall.uri(), "bench-telemetry-2"));
  CpuMeter cpu(hall);
  const std::string root = std::string("yiban/v1/") + kHall + "/devices/env-bench-";
  std::atomic<std::uint64_t> offered{0};
  auto start = SteadyClock::now();
  std::vector<std::thread> threads;
  for (std::size_t c = 0; c < clients.size(); ++c) {
    threads.emplace_back([&, c] {
      // Each connection sends for half of the sensors, one round of them every 10 ms.
      const auto round = std::chrono::milliseconds(1000 / kPerSensorHz);
      for (int r = 0; SteadyClock::now() - start < kDuration; ++r) {
        std::this_thread::sleep_until(start + r * round);
        for (int s = static_cast<int>(c) + 1; s <= kSensors; s += static_cast<int>(clients.size())) {
          std::string payload = R"({"ts":)" + std::to_string(r) + R"(,"metrics":{"temp_c":)" +
                                std::to_string(20 + r % 5) + R"(,"co2_ppm":)" + std::to_string(600 + r % 50) + "}}";
          clients[c]->publish(root + std::to_string(s) + "/telemetry", payload, 0, false);
          ++offered;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  long long stored = 0;
  auto last_change = SteadyClock::now();
  while (SteadyClock::now() - last_change < 1s) {
    std::this_thread::sleep_for(100ms);
    long long now_stored = query_int(hall.edge().db(), "SELECT count(*) FROM telemetry");
    if (now_stored != stored) {
      stored = now_stored;
      last_change = SteadyClock::now();
    }
  }
  double seconds = std::chrono::duration<double>(last_change - start).count();
  say(cpu.report(seconds, static_cast<std::uint64_t>(stored)));
  say(printf_to_string("offered %llu samples, stored %lld in %.2f s: %.0f samples/s",
                       static_cast<unsigned long long>(offered.load()), stored, seconds,
                       static_cast<double>(stored) / seconds));
  add_figure("telemetry stored/s (100 sensors, QoS 0)", printf_to_string("%.0f /s", stored / seconds),
             ">= 5000 /s", stored / seconds >= 5000);
}

}  // namespace

TEST_CASE("edge bench: telemetry ingestion", "[.bench][telemetry]") {
  bench_telemetry_ingestion();
}

TEST_CASE("edge bench: a durable commit alone at 200/s", "[.bench][commit]") {
  bench_commit_floor();
}

// Hidden: run with '[bench]' or one benchmark's own tag.
TEST_CASE("edge bench: ticket.take round trip at 200 requests/s", "[.bench][take]") {
  bench_take_at_200_per_second();
}
TEST_CASE("edge bench: ticket.take throughput at saturation", "[.bench][saturation]") {
  bench_take_saturation();
}
TEST_CASE("edge bench: counter.call_next to the display's board", "[.bench][call]") {
  bench_call_to_display();
}
TEST_CASE("edge bench: edge memory after 100,000 tickets", "[.bench][rss]") {
  bench_rss_after_100k_tickets();
}

// What `edge_bench` without arguments runs: every benchmark, in order.
TEST_CASE("edge bench: all benchmarks", "[bench-all]") {
  bench_take_at_200_per_second();
  bench_take_saturation();
  bench_call_to_display();
  bench_rss_after_100k_tickets();
  bench_commit_floor();
  bench_telemetry_ingestion();
}

}  // namespace yiban::test
