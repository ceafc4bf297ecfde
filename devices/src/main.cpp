// yiban-devices: runs one real device agent (kiosk, counter, display, rating,
// sensor, staff) against a hall's broker. Reads options, builds the agent,
// wires stdin/stdout to it; all behaviour lives in the yiban_devices library.

#include <poll.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <boost/program_options.hpp>
#include <chrono>
#include <csignal>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "yiban/runtime/logging.h"
#include "yiban/devices/announcer.h"
#include "yiban/devices/counter_agent.h"
#include "yiban/devices/device_agent.h"
#include "yiban/devices/display_agent.h"
#include "yiban/devices/hall_simulator.h"
#include "yiban/devices/kiosk_agent.h"
#include "yiban/devices/rating_agent.h"
#include "yiban/devices/sensor_agent.h"
#include "yiban/devices/staff_agent.h"
#include "yiban/protocol/hall_config.h"
#include "yiban/protocol/tokens.h"

namespace po = boost::program_options;
using yiban::protocol::DeviceKind;

namespace {

std::atomic<bool> g_stop{false};
std::atomic<bool> g_hurry{false};  // a second signal: simulate stops without waiting

void on_signal(int) {
  if (g_stop.exchange(true)) g_hurry.store(true);
}

std::mutex g_out_mutex;

void print(const std::string& text) {
  if (text.empty()) return;
  std::lock_guard lock(g_out_mutex);
  std::cout << text << (text.ends_with('\n') ? "" : "\n") << std::flush;
}

// A secret file's first line (protocol::read_secret_file); throws when unreadable.
std::string read_secret(const std::string& path) {
  auto secret = yiban::protocol::read_secret_file(path);
  if (!secret) throw std::runtime_error(secret.error().message);
  return *secret;
}

bool kind_fits(const std::string& command, DeviceKind kind) {
  if (command == "sensor")
    return kind == DeviceKind::kPeopleCounter || kind == DeviceKind::kEnvironment;
  return command == yiban::protocol::to_string(kind);
}

// Lines from stdin without blocking longer than a timeout, so that the main
// loop notices a signal and ticks sensors. Main thread only.
class LineReader {
 public:
  // A complete line, or nothing when none arrived within timeout or stdin
  // ended (then eof() holds; a last unterminated line is still returned).
  std::optional<std::string> next(std::chrono::milliseconds timeout) {
    if (auto line = take_line()) return line;
    if (eof_) return std::nullopt;
    pollfd pfd{STDIN_FILENO, POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
    char buffer[4096];
    ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
    if (n <= 0) {
      eof_ = true;
      if (!partial_.empty()) return std::exchange(partial_, std::string());
      return std::nullopt;
    }
    partial_.append(buffer, static_cast<std::size_t>(n));
    return take_line();
  }
  bool eof() const { return eof_; }

 private:
  std::optional<std::string> take_line() {
    auto pos = partial_.find('\n');
    if (pos == std::string::npos) return std::nullopt;
    std::string line = partial_.substr(0, pos);
    partial_.erase(0, pos + 1);
    return line;
  }
  std::string partial_;
  bool eof_ = false;
};

// SIGTERM and SIGINT only set flags (on_signal).
void install_signal_handlers() {
  struct sigaction action {};
  action.sa_handler = on_signal;
  ::sigemptyset(&action.sa_mask);
  ::sigaction(SIGTERM, &action, nullptr);
  ::sigaction(SIGINT, &action, nullptr);
}

// false: the level is unknown (said on the log).
bool setup_logging(const po::variables_map& vm) {
  if (auto logging = yiban::runtime::start_logging("devices", vm["log-level"].as<std::string>()); !logging) {
    spdlog::critical("cannot start: {}", logging.error().message);
    return false;
  }
  return true;
}

// yiban-devices simulate: a whole hall (HallSimulator); prints the summary.
int run_simulation(const po::variables_map& vm) {
  if (!setup_logging(vm)) return 2;
  if (!vm.count("hall-config")) {
    spdlog::critical("--hall-config is required");
    return 2;
  }
  auto hall = yiban::protocol::load_hall_config(vm["hall-config"].as<std::string>());
  if (!hall) {
    spdlog::critical("hall config: {}", hall.error().message);
    return 2;
  }
  yiban::devices::SimulatorOptions options;
  options.mqtt_uri = vm["mqtt"].as<std::string>();
  if (vm.count("credentials")) options.credentials_dir = vm["credentials"].as<std::string>();
  if (vm.count("mqtt-ca-file")) options.ca_file = vm["mqtt-ca-file"].as<std::string>();
  options.speed = vm["speed"].as<double>();
  options.seed = vm.count("seed") ? vm["seed"].as<std::uint64_t>() : 1;
  if (vm.count("arrivals-per-hour")) options.peak_per_hour = vm["arrivals-per-hour"].as<double>();
  auto duration = yiban::devices::parse_duration(vm["duration"].as<std::string>());
  auto start = yiban::devices::parse_time_of_day(vm["start"].as<std::string>());
  if (!duration || !start) {
    spdlog::critical("{}", (!duration ? duration.error() : start.error()).message);
    return 2;
  }
  options.duration_ms = *duration;
  options.start_ms = *start;
  if (vm.count("fail-device")) {
    for (const auto& text : vm["fail-device"].as<std::vector<std::string>>()) {
      auto fault = yiban::devices::parse_fault(text);
      if (!fault) {
        spdlog::critical("{}", fault.error().message);
        return 2;
      }
      if (hall->find_device(fault->device) == nullptr) {
        spdlog::critical("--fail-device {}: not in the hall config's devices", fault->device);
        return 2;
      }
      options.faults.push_back(*fault);
    }
  }
  if (options.speed <= 0.0 || options.peak_per_hour < 0.0) {
    spdlog::critical("--speed must be positive and --arrivals-per-hour not negative");
    return 2;
  }

  install_signal_handlers();

  yiban::devices::HallSimulator simulator(*hall, options);
  auto summary = simulator.run(g_stop, g_hurry);
  if (!summary) {
    spdlog::critical("simulate: {}", summary.error().message);
    return 1;
  }
  print(yiban::devices::summary_text(*summary));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  po::options_description options("yiban-devices options");
  auto add = options.add_options();
  add("help,h", "show this help");
  add("config", po::value<std::string>(), "INI file with any of these options (name = value)");
  add("hall-config", po::value<std::string>(), "hall description (hall.json); required");
  add("device", po::value<std::string>(), "this device's id in hall.json; required");
  add("mqtt", po::value<std::string>()->default_value("tcp://127.0.0.1:1883"), "hall broker URI");
  add("mqtt-user", po::value<std::string>(), "broker user name");
  add("mqtt-password-file", po::value<std::string>(), "file whose first line is the password");
  add("mqtt-ca-file", po::value<std::string>(), "with an ssl:// broker: the CA certificate that signed the broker's");
  add("mqtt-client-id", po::value<std::string>(), "MQTT client id (default {hall}-{device}-{pid})");
  add("credentials", po::value<std::string>(),
      "simulate: `yiban-edge provision`'s credentials directory (each device logs in as its id)");
  add("request-timeout-ms", po::value<int>()->default_value(3000), "wait per request attempt");
  add("request-attempts", po::value<int>()->default_value(5),
      "attempts per request (all with the same correlation data)");
  add("interval-ms", po::value<int>()->default_value(1000), "sensor: telemetry period");
  add("seed", po::value<std::uint64_t>(),
      "sensor: random seed of the environment readings; simulate: of the whole run (default 1)");
  add("speak", "display: speak announcements with espeak-ng (Chinese voice) when installed");
  add("exit-on-eof", "stop when stdin ends (default: keep running until SIGTERM/SIGINT)");
  add("speed", po::value<double>()->default_value(60.0),
      "simulate: simulated seconds per real second");
  add("duration", po::value<std::string>()->default_value("10m"),
      "simulate: simulated time to run (90s, 10m, 2h)");
  add("start", po::value<std::string>()->default_value("08:30"),
      "simulate: simulated local time of day at start (HH:MM)");
  add("fail-device", po::value<std::vector<std::string>>()->composing(),
      "simulate: ID@HH:MM drops that device's connection at that simulated time (repeatable)");
  add("arrivals-per-hour", po::value<double>(),
      "simulate: arrivals per hour at the morning peak (default 120)");
  add("log-level", po::value<std::string>()->default_value("info"),
      "trace, debug, info, warn, error");
  po::options_description hidden;
  hidden.add_options()("command", po::value<std::string>(), "subcommand");
  po::options_description all;
  all.add(options).add(hidden);
  po::positional_options_description positional;
  positional.add("command", 1);

  const std::string usage =
      "usage: yiban-devices kiosk|counter|display|rating|sensor|staff --hall-config hall.json "
      "--device ID --mqtt URI [options]\n"
      "       yiban-devices simulate --hall-config hall.json --mqtt URI [--speed 60] [--seed 1] "
      "[--duration 10m] [--start 08:30] [--fail-device ID@HH:MM ...] [--arrivals-per-hour N]\n";
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(), vm);
    if (vm.count("config")) {
      std::ifstream file(vm["config"].as<std::string>());
      if (!file)
        throw std::runtime_error("cannot read config file " + vm["config"].as<std::string>());
      po::store(po::parse_config_file(file, options), vm);
    }
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << "yiban-devices: " << e.what() << "\n"
              << "Try 'yiban-devices --help'.\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << "yiban-devices: runs one hall device agent over MQTT 5.\n"
              << usage << "\n"
              << options << "\n";
    return 0;
  }
  std::string command = vm.count("command") ? vm["command"].as<std::string>() : "";
  if (command == "simulate") return run_simulation(vm);
  static const std::set<std::string> kCommands{"kiosk",  "counter", "display",
                                               "rating", "sensor",  "staff"};
  if (!kCommands.contains(command)) {
    std::cerr << "yiban-devices: "
              << (command.empty() ? "missing subcommand" : "unknown subcommand " + command) << "\n"
              << usage;
    return 2;
  }

  if (!setup_logging(vm)) return 2;

  if (!vm.count("hall-config") || !vm.count("device")) {
    spdlog::critical("--hall-config and --device are required");
    return 2;
  }
  auto hall = yiban::protocol::load_hall_config(vm["hall-config"].as<std::string>());
  if (!hall) {
    spdlog::critical("hall config: {}", hall.error().message);
    return 2;
  }
  std::string device = vm["device"].as<std::string>();
  const auto* device_config = hall->find_device(device);
  if (device_config == nullptr) {
    spdlog::critical("--device {}: not in the hall config's devices", device);
    return 2;
  }
  if (!kind_fits(command, device_config->kind)) {
    spdlog::critical("--device {} is a {}, not a {}", device,
                     yiban::protocol::to_string(device_config->kind), command);
    return 2;
  }

  yiban::devices::AgentOptions agent_options;
  agent_options.uri = vm["mqtt"].as<std::string>();
  agent_options.hall = hall->hall;
  agent_options.device = device;
  agent_options.kind = device_config->kind;
  agent_options.request_timeout =
      std::chrono::milliseconds(std::max(100, vm["request-timeout-ms"].as<int>()));
  agent_options.request_attempts = std::max(1, vm["request-attempts"].as<int>());
  if (vm.count("mqtt-client-id")) agent_options.client_id = vm["mqtt-client-id"].as<std::string>();
  if (vm.count("mqtt-ca-file")) agent_options.ca_file = vm["mqtt-ca-file"].as<std::string>();
  try {
    if (vm.count("mqtt-user")) agent_options.user = vm["mqtt-user"].as<std::string>();
    if (vm.count("mqtt-password-file"))
      agent_options.password = read_secret(vm["mqtt-password-file"].as<std::string>());
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 2;
  }

  install_signal_handlers();

  std::optional<yiban::devices::DeviceAgent> agent_holder;
  try {
    agent_holder.emplace(agent_options);
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 2;
  }
  auto& agent = *agent_holder;
  std::optional<yiban::devices::Announcer> announcer;
  std::optional<yiban::devices::DisplayAgent> display;
  if (command == "display") {
    announcer.emplace(yiban::devices::make_console_speaker(vm.count("speak") > 0, print));
    display.emplace(agent.topics(), *announcer);
    for (auto& filter : display->subscriptions()) agent.add_subscription(filter);
  }
  if (command == "staff") agent.add_subscription(agent.topics().root() + "/alerts");
  agent.start();
  spdlog::info("{} {} of hall {} via {}", command, device, hall->hall, agent_options.uri);

  // Subscribed messages are handled on this thread, stdin on the main thread.
  std::thread pump;
  if (display || command == "staff") {
    pump = std::thread([&] {
      while (!g_stop.load()) {
        auto message = agent.next_message(std::chrono::milliseconds(200));
        if (!message) continue;
        if (display) {
          if (auto board = display->handle_message(message->topic, message->payload)) print(*board);
        } else {
          print(yiban::devices::StaffAgent::alert_text(message->payload));
        }
      }
    });
  }

  yiban::devices::KioskAgent kiosk(agent);
  yiban::devices::CounterAgent counter(agent);
  yiban::devices::RatingAgent rating(agent);
  yiban::devices::StaffAgent staff(agent);
  std::optional<yiban::devices::SensorAgent> sensor;
  if (command == "sensor") {
    std::uint64_t seed = vm.count("seed") ? vm["seed"].as<std::uint64_t>() : std::random_device{}();
    sensor.emplace(device_config->kind, seed);
  }
  auto interval = std::chrono::milliseconds(std::max(10, vm["interval-ms"].as<int>()));
  auto next_sample = std::chrono::steady_clock::now() + interval;
  bool exit_on_eof = vm.count("exit-on-eof") > 0;

  LineReader reader;
  while (!g_stop.load()) {
    auto wait = std::chrono::milliseconds(200);
    if (sensor) {
      auto now = std::chrono::steady_clock::now();
      if (now >= next_sample) {
        auto ts = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
        agent.publish(agent.topics().device_telemetry(device), sensor->sample(ts), 0, false);
        next_sample += interval;
        if (next_sample < now) next_sample = now + interval;
      }
      wait =
          std::min(wait, std::chrono::duration_cast<std::chrono::milliseconds>(next_sample - now));
    }
    if (reader.eof() || display) {
      if (reader.eof() && exit_on_eof) break;
      std::this_thread::sleep_for(wait);
      continue;
    }
    auto line = reader.next(wait);
    if (!line) continue;
    if (command == "kiosk")
      print(kiosk.handle_line(*line));
    else if (command == "counter")
      print(counter.handle_line(*line));
    else if (command == "rating")
      print(rating.handle_line(*line));
    else if (command == "staff")
      print(staff.handle_line(*line));
    else if (sensor)
      print(sensor->handle_line(*line));
  }
  g_stop.store(true);
  if (pump.joinable()) pump.join();
  agent.stop();
  spdlog::info("stopped");
  return 0;
}
