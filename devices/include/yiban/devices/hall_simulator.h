#pragma once
// A whole hall from its hall.json driving the real edge through the real
// broker: one DeviceAgent per kiosk, counter terminal, rating pad, people
// counter and environment sensor; arrivals from an ArrivalStream, staff as
// StaffMembers, door counts and environment readings as telemetry, injected
// device faults. Simulated time runs `speed` times faster than real time.
//
// Threads (all started and joined by run()): the caller's thread watches the
// clock, faults and the end; one arrival thread uses the kiosks; one thread per
// staffed counter; one sensor thread publishes telemetry. The agents' own I/O
// threads do all the publishing.

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "yiban/devices/simulation_ledger.h"
#include "yiban/protocol/error.h"
#include "yiban/protocol/hall_config.h"

namespace yiban::devices {

struct DeviceFault {
  std::string device;
  std::int64_t at_ms = 0;  // simulated, since local midnight
};

struct SimulatorOptions {
  std::string mqtt_uri = "tcp://127.0.0.1:1883";
  // `yiban-edge provision`'s credentials directory: each device logs in as
  // its id with the password in {id}.password. Empty: no user name.
  std::filesystem::path credentials_dir;
  std::string ca_file;  // TLS (ssl:// URI): the CA of the broker's certificate
  double speed = 60.0;  // simulated seconds per real second
  std::uint64_t seed = 1;
  std::int64_t duration_ms = 10 * 60'000;               // simulated
  std::int64_t start_ms = 8 * 3'600'000 + 30 * 60'000;  // simulated local time of day
  double peak_per_hour = 120.0;                         // arrivals per hour at the morning peak
  std::vector<DeviceFault> faults;
};

// "10:15" -> ms since midnight; "kiosk-2@10:15" -> a fault; "10m", "90s",
// "2h", "30" (minutes) -> a duration in ms. Errors name the bad text.
protocol::Expected<std::int64_t> parse_time_of_day(std::string_view text);
protocol::Expected<DeviceFault> parse_fault(std::string_view text);
protocol::Expected<std::int64_t> parse_duration(std::string_view text);

class HallSimulator {
 public:
  // hall must outlive the simulator.
  HallSimulator(const protocol::HallConfig& hall, SimulatorOptions options);

  // Connects every agent (in parallel), runs until the simulated duration has
  // passed or stop becomes true, then stops arrivals, lets counters finish
  // their current tickets and disconnects. When hurry becomes true while they
  // finish, they skip the rest of the current service time (a second Ctrl-C).
  // An error when agents cannot connect.
  protocol::Expected<SimulationSummary> run(const std::atomic<bool>& stop,
                                            const std::atomic<bool>& hurry);

 private:
  const protocol::HallConfig& hall_;
  SimulatorOptions options_;
};

}  // namespace yiban::devices
