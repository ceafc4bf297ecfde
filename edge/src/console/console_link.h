#pragma once
// What the hall's engine thread and the console API (HTTP worker threads)
// share: a snapshot of the engine's in-memory view, the requests that change
// the hall (applied by the engine thread like device requests, answered after
// the commit), and the "something was committed" signal behind the SSE stream.
// Everything here is thread-safe; nothing else of the engine is touched by
// HTTP threads (they read the store through their own SQLite connection).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "store/retention.h"
#include "yiban/protocol/payloads.h"

namespace yiban::edge::console {

struct CounterSnapshot {
  std::string id;
  std::string name;
  std::string state;  // open, paused, closed
  std::vector<std::string> services;
  std::vector<std::string> backup;
  std::optional<std::string> ticket;  // current ticket id
};

struct ServiceSnapshot {
  protocol::QueueEntry queue;
  bool enabled = true;
  std::optional<std::int64_t> oldest_waiting_ts;
};

struct DeviceSnapshot {
  std::string id;
  std::string kind;
  std::optional<std::string> counter;
};

// The engine's view, rebuilt by the engine thread after every batch and tick
// that changed something.
struct Snapshot {
  std::string hall;
  std::string name;
  std::string region;
  int business_day = 0;
  std::int64_t day_start_ms = 0;  // UTC ms of the business day's local midnight
  std::int32_t utc_offset_s = 0;
  int capacity = 0;
  int occupancy = 0;
  std::vector<ServiceSnapshot> services;
  std::vector<CounterSnapshot> counters;
  std::vector<DeviceSnapshot> devices;  // from the hall config
  std::size_t alerts_open = 0;
  std::int64_t last_seq = 0;
  std::uint64_t requests_answered = 0;  // device requests since start
  std::uint64_t slow_batches = 0;  // batches over 10 ms since start
  // What the device gateway refused since start (edge/README.md, "Broker and
  // rate limits"); filled by the engine thread at least once a second.
  std::uint64_t mqtt_oversize_dropped = 0;  // payloads over 16 KiB (requests answered bad_json)
  std::uint64_t mqtt_retained_requests_dropped = 0;  // retained requests ignored
  std::uint64_t mqtt_inbox_dropped = 0;  // MQTT lane or a device's share of it full
  std::uint64_t requests_rate_limited = 0;  // over limits.requests_per_s: refused, nothing recorded
  std::uint64_t refusals_unanswered = 0;  // refused requests over a device's reply budget
  std::uint64_t status_changes_deferred = 0;  // presence flips held back over limits.status_changes_per_min
  std::uint64_t telemetry_dropped = 0;  // over sensing.max_rate_hz or invalid
  std::uint64_t console_busy = 0;  // console requests refused 503: the console lane was full
  std::size_t mqtt_inbox_waiting = 0;  // device messages waiting for the engine now
  // Retention (store/retention.h): totals since start, runs, failed steps.
  store::RetentionCounts retention;
  std::uint64_t retention_runs = 0;
  std::uint64_t retention_failures = 0;
  double retention_last_run_ms = 0;
};

// A change asked for through the console; the engine answers with an HTTP
// status and a JSON body.
struct Result {
  int status = 200;
  std::string body;
};

struct Request {
  // counter.open|pause|close, counter.services, alert.ack, alert.resolve,
  // case.submit|resubmit|review|complete|viewed
  std::string action;
  std::string target;  // counter id, alert id or case id
  std::vector<std::string> services;  // counter.services
  std::vector<std::string> backup;
  std::string comment;  // case.viewed: the downloaded file's SHA-256 (empty: the detail)
  std::string body;  // case.*: the request body (JSON)
  std::string by;  // ROLE:FINGERPRINT of the token
  std::shared_ptr<std::promise<Result>> done;
};

class Link {
 public:
  void publish(Snapshot s) {
    std::lock_guard lock(mutex_);
    snapshot_ = std::move(s);
    last_seq_ = snapshot_.last_seq;
    changed_.notify_all();
  }
  Snapshot snapshot() const {
    std::lock_guard lock(mutex_);
    return snapshot_;
  }
  // Engine thread: events up to last_seq are committed.
  void committed(std::int64_t last_seq) {
    std::lock_guard lock(mutex_);
    if (last_seq > last_seq_) {
      last_seq_ = last_seq;
      changed_.notify_all();
    }
  }
  // HTTP thread: waits until the log is past seen (or timeout); returns the last seq.
  std::int64_t wait_past(std::int64_t seen, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, timeout, [&] { return last_seq_ > seen || closing_; });
    return last_seq_;
  }
  std::int64_t last_seq() const {
    std::lock_guard lock(mutex_);
    return last_seq_;
  }
  void close() {
    std::lock_guard lock(mutex_);
    closing_ = true;
    changed_.notify_all();
  }
  bool closing() const {
    std::lock_guard lock(mutex_);
    return closing_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;  // guarded by mutex_
  Snapshot snapshot_;  // guarded by mutex_
  std::int64_t last_seq_ = 0;  // guarded by mutex_
  bool closing_ = false;  // guarded by mutex_
};

}  // namespace yiban::edge::console
