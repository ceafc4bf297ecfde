#pragma once
// A hall sensor's readings, by its kind in hall.json:
//   people_counter: operator lines "in N" / "out N" add to the counts; each
//     sample carries people_in / people_out counted since the previous sample
//     (then reset), so the edge can add samples up.
//   environment: a plausible random walk of temp_c, humidity, co2_ppm
//     (repeatable for a given seed) around levels that follow the hall's
//     occupancy when set_occupancy() is told it (co2_ppm rises with people).
// Telemetry payload (ARCHITECTURE §5): {"ts":…, "metrics":{…}}. Not thread-safe.

#include <cstdint>
#include <random>
#include <string>
#include <string_view>

#include "yiban/protocol/hall_config.h"

namespace yiban::devices {

class SensorAgent {
 public:
  // kind must be kPeopleCounter or kEnvironment (std::invalid_argument otherwise).
  SensorAgent(protocol::DeviceKind kind, std::uint64_t seed);

  // Returns what to print (an acknowledgement or usage).
  std::string handle_line(std::string_view line);
  // Door counts for programs (the hall simulator); n is 0..10000.
  void count_in(long long n);
  void count_out(long long n);
  // True when door counts wait to be sent.
  bool has_counts() const { return people_in_ != 0 || people_out_ != 0; }
  // How many people are in the hall now (environment sensors drift towards
  // the levels this many people cause).
  void set_occupancy(int people);
  // The next telemetry payload, stamped ts (ms since the epoch).
  std::string sample(std::int64_t ts);

 private:
  protocol::DeviceKind kind_;
  std::mt19937_64 random_;
  long long people_in_ = 0;
  long long people_out_ = 0;
  double temp_c_ = 22.0;
  double humidity_ = 45.0;
  double co2_ppm_ = 600.0;
  double co2_target_ = 600.0;
  double temp_target_ = 22.0;
};

}  // namespace yiban::devices
