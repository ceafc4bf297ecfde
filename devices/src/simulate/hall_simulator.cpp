#include "yiban/devices/hall_simulator.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "yiban/protocol/tokens.h"
#include "yiban/devices/arrival_profile.h"
#include "yiban/devices/device_agent.h"
#include "yiban/devices/kiosk_agent.h"
#include "yiban/devices/sensor_agent.h"
#include "yiban/devices/staff_member.h"

namespace yiban::devices {

namespace {

using protocol::DeviceKind;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr milliseconds kConnectTimeout{20000};
constexpr milliseconds kMaxNap{50};
constexpr milliseconds kEnvironmentPeriod{1000};
// Door counts go out at most every simulated second, and never faster than
// this, so sensors stay under the edge's rate limit (5 samples/s per device).
constexpr milliseconds kMinDoorPeriod{250};

std::optional<long long> parse_number(std::string_view text) {
  long long n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size() || n < 0) return std::nullopt;
  return n;
}

// Simulated time: start_ms plus real time elapsed since construction times speed.
class ScaledClock {
 public:
  ScaledClock(std::int64_t start_ms, double speed)
      : start_ms_(start_ms), speed_(speed), real_start_(steady_clock::now()) {}
  std::int64_t now_ms() const {
    auto real = std::chrono::duration<double, std::milli>(steady_clock::now() - real_start_);
    return start_ms_ + static_cast<std::int64_t>(real.count() * speed_);
  }
  // Sleeps until simulated time sim_ms, waking at least every kMaxNap to
  // look at wake().
  template <class Wake>
  void sleep_until(std::int64_t sim_ms, Wake wake) const {
    while (!wake()) {
      std::int64_t left = sim_ms - now_ms();
      if (left <= 0) return;
      auto real = milliseconds(static_cast<std::int64_t>(static_cast<double>(left) / speed_) + 1);
      std::this_thread::sleep_for(std::min(real, kMaxNap));
    }
  }

 private:
  std::int64_t start_ms_;
  double speed_;
  steady_clock::time_point real_start_;
};

std::int64_t wall_ms() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Device {
  const protocol::DeviceConfig* config = nullptr;
  std::unique_ptr<DeviceAgent> agent;
  std::atomic<bool> failed{false};
  // Held by the thread using the agent for requests, and by the fault
  // injector, so a device fails between requests: a request the edge applied
  // always has its answer counted.
  std::mutex busy;
};

// The hall's sensors; guarded by one mutex because arrivals and staff count
// doors while the sensor thread samples.
class Sensors {
 public:
  void add(Device& device, std::uint64_t seed) {
    entries_.push_back(Entry{&device, SensorAgent(device.config->kind, seed)});
  }
  void door(bool in) {
    std::lock_guard lock(mutex_);
    std::vector<Entry*> doors;
    for (auto& e : entries_)
      if (e.device->config->kind == DeviceKind::kPeopleCounter && !e.device->failed)
        doors.push_back(&e);
    if (doors.empty()) return;
    auto& e = *doors[next_door_++ % doors.size()];
    in ? e.sensor.count_in(1) : e.sensor.count_out(1);
  }
  // Publishes what is due: door counts (when any) if doors_due, environment
  // readings if environment_due.
  void publish(bool doors_due, bool environment_due, int occupancy) {
    std::lock_guard lock(mutex_);
    for (auto& e : entries_) {
      if (e.device->failed) continue;
      bool door = e.device->config->kind == DeviceKind::kPeopleCounter;
      if (door ? !(doors_due && e.sensor.has_counts()) : !environment_due) continue;
      if (!door) e.sensor.set_occupancy(occupancy);
      e.device->agent->publish(e.device->agent->topics().device_telemetry(e.device->config->id),
                               e.sensor.sample(wall_ms()), 0, false);
    }
  }

 private:
  struct Entry {
    Device* device;
    SensorAgent sensor;
  };
  std::mutex mutex_;
  std::vector<Entry> entries_;  // fixed before the threads start
  std::size_t next_door_ = 0;   // guarded by mutex_
};

}  // namespace

protocol::Expected<std::int64_t> parse_time_of_day(std::string_view text) {
  auto colon = text.find(':');
  if (colon != std::string_view::npos) {
    auto h = parse_number(text.substr(0, colon));
    auto m = parse_number(text.substr(colon + 1));
    if (h && m && *h < 24 && *m < 60 && colon + 3 == text.size()) return (*h * 60 + *m) * kMinuteMs;
  }
  return protocol::error("bad time of day '" + std::string(text) + "' (want HH:MM)");
}

protocol::Expected<DeviceFault> parse_fault(std::string_view text) {
  auto at = text.rfind('@');
  if (at == std::string_view::npos || at == 0)
    return protocol::error("bad --fail-device '" + std::string(text) + "' (want ID@HH:MM)");
  auto time = parse_time_of_day(text.substr(at + 1));
  if (!time) return std::unexpected(time.error());
  return DeviceFault{std::string(text.substr(0, at)), *time};
}

protocol::Expected<std::int64_t> parse_duration(std::string_view text) {
  std::int64_t unit = kMinuteMs;
  std::string_view digits = text;
  if (!text.empty()) {
    switch (text.back()) {
      case 's':
        unit = 1000;
        digits.remove_suffix(1);
        break;
      case 'm':
        unit = kMinuteMs;
        digits.remove_suffix(1);
        break;
      case 'h':
        unit = kHourMs;
        digits.remove_suffix(1);
        break;
      default:
        break;
    }
  }
  auto n = parse_number(digits);
  if (!n || *n == 0 || *n > 7 * 24 * kHourMs / unit)
    return protocol::error("bad duration '" + std::string(text) + "' (e.g. 90s, 10m, 2h)");
  return *n * unit;
}

HallSimulator::HallSimulator(const protocol::HallConfig& hall, SimulatorOptions options)
    : hall_(hall), options_(std::move(options)) {}

protocol::Expected<SimulationSummary> HallSimulator::run(const std::atomic<bool>& stop,
                                                         const std::atomic<bool>& hurry) {
  if (options_.speed <= 0.0) return protocol::error("--speed must be positive");
  for (const auto& fault : options_.faults)
    if (hall_.find_device(fault.device) == nullptr)
      return protocol::error("--fail-device " + fault.device + ": not in the hall config");

  // Agents: every one starts its own I/O thread and connects at once, so the
  // connects overlap (Paho makes each connect after a process's first slow).
  std::vector<std::unique_ptr<Device>> devices;
  for (const auto& config : hall_.devices) {
    if (config.kind == DeviceKind::kDisplay || config.kind == DeviceKind::kStaff) continue;
    auto device = std::make_unique<Device>();
    device->config = &config;
    AgentOptions agent;
    agent.uri = options_.mqtt_uri;
    agent.hall = hall_.hall;
    agent.device = config.id;
    agent.kind = config.kind;
    agent.request_timeout = milliseconds(2000);
    agent.ca_file = options_.ca_file;
    if (!options_.credentials_dir.empty()) {
      auto path = options_.credentials_dir / (config.id + ".password");
      auto password = protocol::read_secret_file(path);
      if (!password || password->empty())
        return protocol::error("device " + config.id + ": cannot read its password from " + path.string() +
                               " (run yiban-edge provision for this hall config)");
      agent.user = config.id;
      agent.password = *password;
    }
    try {
      device->agent = std::make_unique<DeviceAgent>(agent);
    } catch (const std::exception& e) {
      return protocol::error("device " + config.id + ": " + e.what());
    }
    device->agent->start();
    devices.push_back(std::move(device));
  }
  auto deadline = steady_clock::now() + kConnectTimeout;
  for (auto& device : devices) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - steady_clock::now());
    if (!device->agent->wait_connected(std::max(left, milliseconds(1))))
      return protocol::error("device " + device->config->id + " cannot connect to " +
                             options_.mqtt_uri);
  }
  spdlog::info("simulate: {} devices of hall {} connected; speed {}, seed {}", devices.size(),
               hall_.hall, options_.speed, options_.seed);

  SimulationLedger ledger;
  Sensors sensors;
  std::vector<Device*> kiosks;
  std::map<std::string, Device*> terminals;  // counter id -> counter device
  std::map<std::string, Device*> pads;       // counter id -> rating device
  std::uint64_t stream = 0;
  for (auto& device : devices) {
    const auto& config = *device->config;
    ++stream;
    if (config.kind == DeviceKind::kKiosk) kiosks.push_back(device.get());
    if (config.kind == DeviceKind::kCounter && config.counter &&
        !terminals.contains(*config.counter))
      terminals[*config.counter] = device.get();
    if (config.kind == DeviceKind::kRating && config.counter && !pads.contains(*config.counter))
      pads[*config.counter] = device.get();
    if (config.kind == DeviceKind::kPeopleCounter || config.kind == DeviceKind::kEnvironment)
      sensors.add(*device, options_.seed * 1000 + stream);
  }

  ScaledClock clock(options_.start_ms, options_.speed);
  const std::int64_t end_ms = options_.start_ms + options_.duration_ms;
  std::atomic<bool> arrivals_over{false};
  std::atomic<bool> staff_over{false};
  std::atomic<bool> sensors_over{false};

  std::thread arrivals([&] {
    ArrivalStream stream(hall_, ArrivalProfile(options_.peak_per_hour), options_.seed,
                         options_.start_ms);
    std::size_t next_kiosk = 0;
    for (;;) {
      Arrival arrival = stream.next();
      clock.sleep_until(arrival.time_ms, [&] { return arrivals_over.load(); });
      if (arrivals_over || arrival.time_ms >= end_ms) return;
      Device* kiosk = nullptr;
      for (std::size_t i = 0; i < kiosks.size() && !kiosk; ++i) {
        Device* candidate = kiosks[(next_kiosk + i) % kiosks.size()];
        if (!candidate->failed) {
          kiosk = candidate;
          next_kiosk = (next_kiosk + i + 1) % kiosks.size();
        }
      }
      if (kiosk == nullptr) continue;  // every kiosk is down: the citizen leaves
      std::unique_lock busy(kiosk->busy);
      if (kiosk->failed) continue;  // failed just now: the citizen leaves
      sensors.door(true);
      auto reply = KioskAgent(*kiosk->agent).take(arrival.service, arrival.priority_class);
      busy.unlock();
      if (reply && reply->ok && reply->ticket) {
        ledger.issued(reply->ticket->id, clock.now_ms(), arrival.service_min);
      } else {
        sensors.door(false);  // no ticket: walks out again
        spdlog::info("simulate: {} could not take a {} ticket: {}", kiosk->config->id,
                     arrival.service,
                     !reply           ? reply.error().message
                     : reply->failure ? reply->failure->message
                                      : std::string("no ticket"));
      }
    }
  });

  std::vector<std::thread> staff;
  std::uint64_t staff_seed = 0;
  for (auto& [counter, terminal] : terminals) {
    Device* pad = pads.contains(counter) ? pads[counter] : nullptr;
    staff.emplace_back([&, counter = counter, terminal = terminal, pad, seed = ++staff_seed] {
      StaffMember member(hall_, counter, *terminal->agent, pad ? pad->agent.get() : nullptr, ledger,
                         options_.seed * 7919 + seed);
      bool draining = false;
      std::int64_t due = 0;
      while (!member.done()) {
        if (terminal->failed) return;
        if (staff_over && !draining) {
          member.drain();
          draining = true;
        }
        std::int64_t now = clock.now_ms();
        if (draining && hurry) now = std::max(now, due);
        {
          std::unique_lock terminal_busy(terminal->busy);
          if (terminal->failed) return;
          std::unique_lock<std::mutex> pad_busy;
          if (pad != nullptr) pad_busy = std::unique_lock(pad->busy);
          due = member.step(now);
        }
        if (member.done()) return;
        clock.sleep_until(due, [&] { return (staff_over && !draining) || (draining && hurry); });
      }
    });
  }

  std::thread sensor_thread([&] {
    auto door_period =
        std::max(kMinDoorPeriod, milliseconds(static_cast<std::int64_t>(1000.0 / options_.speed)));
    auto next_door = steady_clock::now();
    auto next_environment = steady_clock::now();
    long long departed = 0;  // served and no-shows already counted out
    for (;;) {
      auto totals = ledger.summary();
      for (; departed < totals.served + totals.no_shows; ++departed) sensors.door(false);
      bool over = sensors_over.load();
      auto now = steady_clock::now();
      bool doors_due = now >= next_door || over;
      bool environment_due = now >= next_environment;
      if (doors_due) next_door = now + door_period;
      if (environment_due) next_environment = now + kEnvironmentPeriod;
      sensors.publish(doors_due, environment_due, ledger.occupancy());
      if (over) return;
      std::this_thread::sleep_for(std::min({door_period, kEnvironmentPeriod, kMaxNap}));
    }
  });

  // The caller's thread: faults, the end of the day, a stop request.
  std::vector<DeviceFault> faults = options_.faults;
  while (!stop.load() && clock.now_ms() < end_ms) {
    std::int64_t now = clock.now_ms();
    for (auto it = faults.begin(); it != faults.end();) {
      if (it->at_ms > now) {
        ++it;
        continue;
      }
      for (auto& device : devices)
        if (device->config->id == it->device && !device->failed) {
          std::lock_guard busy(device->busy);
          spdlog::warn("simulate: device {} fails (connection dropped, will published)",
                       it->device);
          device->failed = true;
          device->agent->abort();
        }
      it = faults.erase(it);
    }
    std::this_thread::sleep_for(kMaxNap);
  }
  spdlog::info("simulate: closing: no more arrivals; counters finish their tickets");
  arrivals_over = true;
  arrivals.join();
  staff_over = true;
  for (auto& thread : staff) thread.join();
  sensors_over = true;
  sensor_thread.join();
  for (auto& device : devices)
    if (!device->failed) device->agent->stop();
  return ledger.summary();
}

}  // namespace yiban::devices
