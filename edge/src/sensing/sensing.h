#pragma once
// The hall sensing itself (issue 3, item 3): validated telemetry with a
// per-device rate limit, raw samples kept for the configured retention,
// per-device per-minute telemetry.summary events, occupancy from door counts,
// and liveness (a device silent for liveness_s is reported offline).
//
// Contract as for QueueEngine: engine thread only; ingest() and tick() run
// inside the caller's open transaction; after a store failure (kInternal)
// the caller rolls back and calls load() again.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "queue/queue_engine.h"
#include "store/edge_store.h"
#include "yiban/protocol/hall_config.h"
#include "yiban/protocol/time_zone.h"

namespace yiban::edge::sensing {

using protocol::Result;

struct DeviceStats {
  std::uint64_t stored = 0;
  std::uint64_t bad = 0;  // failed validation
  std::uint64_t limited = 0;  // over max_rate_hz
};

class Sensing {
 public:
  static constexpr std::int64_t kMinuteMs = 60'000;
  // A minute's summary is written this long after the minute ends.
  static constexpr std::int64_t kSummaryGraceMs = 2'000;

  Sensing(const protocol::HallConfig& config, const protocol::TimeZone& zone, store::EdgeStore& store,
          queue::QueueEngine& engine);

  // Rebuilds occupancy and the unfinished minutes from the store. Every
  // device counts as heard at `now` (a restart gives each a full liveness_s).
  protocol::Expected<void> load(std::int64_t now);

  enum class Outcome { kStored, kBadSample, kRateLimited, kUnknownDevice };
  // One telemetry message from a device.
  Result<Outcome> ingest(std::string_view device, std::string_view payload, std::int64_t now);
  // Any sign of life from a device (a request, a telemetry message).
  void heard(std::string_view device, std::int64_t now);
  // Writes minutes that are complete, reports silent devices offline and
  // heard-again devices online. Returns how many events it wrote.
  Result<int> tick(std::int64_t now);
  // Deletes raw samples older than the retention (bounded per call).
  Result<int> purge(std::int64_t now);

  // The last value a device reported for a metric (this run only).
  std::optional<double> latest(std::string_view device, const std::string& metric) const;
  int occupancy() const { return occupancy_; }
  int capacity() const { return config_.capacity; }
  const std::map<std::string, DeviceStats, std::less<>>& stats() const { return stats_; }

 private:
  struct MetricAggregate {
    double min = 0;
    double max = 0;
    double sum = 0;
    double last = 0;
    std::int64_t count = 0;
  };
  struct Minute {
    std::int64_t samples = 0;
    std::map<std::string, MetricAggregate> metrics;
  };
  struct DeviceState {
    std::int64_t last_heard = 0;
    double tokens = 0;
    std::int64_t tokens_at = 0;
    std::int64_t summarized_until = 0;
    std::map<std::int64_t, Minute> minutes;  // by minute start
    std::map<std::string, double> latest;
  };

  void aggregate(DeviceState& state, std::int64_t received_ts, const std::vector<std::pair<std::string, double>>& metrics);
  Result<void> flush_minute(const std::string& device, DeviceState& state, std::int64_t minute);
  Result<void> apply_door_counts(const std::vector<std::pair<std::string, double>>& metrics, std::int64_t now);
  bool take_token(DeviceState& state, std::int64_t now);

  const protocol::HallConfig& config_;
  const protocol::TimeZone& zone_;
  store::EdgeStore& store_;
  queue::QueueEngine& engine_;
  std::map<std::string, DeviceState, std::less<>> devices_;
  std::map<std::string, DeviceStats, std::less<>> stats_;
  int occupancy_ = 0;
  int occupancy_day_ = 0;
};

}  // namespace yiban::edge::sensing
