#pragma once
// What one device may cost the hall (hall config "limits", edge/README.md
// "Broker and rate limits"): per device, a token bucket on requests that get
// as far as being applied, one on presence changes, and a budget of replies
// to refused requests (so that a device sending garbage costs a bounded
// number of publishes). Every refusal is counted; the log says so at most
// once per device per minute.
//
// Engine thread only (the RequestHandler and the daemon call it inside
// process() and tick()). Devices are keyed by id; ids not in the hall config
// share one entry, so the map never outgrows the config.

#include <algorithm>
#include <climits>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "gateway/token_bucket.h"
#include "yiban/protocol/hall_config.h"

namespace yiban::edge::gateway {

struct LimiterCounters {
  std::uint64_t requests_limited = 0;  // requests refused over requests_per_s
  std::uint64_t limited_replies = 0;  // of those, answered with "rate limit"
  std::uint64_t refusals_unanswered = 0;  // refused requests over the reply budget, not answered
  std::uint64_t status_changes_deferred = 0;  // presence changes held back over status_changes_per_min
};

class DeviceLimiter {
 public:
  static constexpr std::int64_t kLimitedReplyEveryMs = 1000;
  static constexpr std::int64_t kLogEveryMs = 60'000;
  // Replies to refused (malformed, not allowed…) requests: twice the request
  // rate, at least 20/s, burst as the requests'.
  static constexpr int kMinRefusalsPerS = 20;

  explicit DeviceLimiter(const protocol::HallConfig& config) : config_(config) {}

  // A request about to be applied (validated, allowed). False: refuse it,
  // record nothing. `reply` then says whether this refusal gets its
  // "rate limit" answer (at most one a second per device).
  bool admit_request(std::string_view device, std::int64_t now_ms, bool& reply) {
    auto& d = entry(device);
    reply = false;
    if (d.requests.take(now_ms)) return true;
    ++counters_.requests_limited;
    ++d.limited;
    if (now_ms - d.last_limited_reply_ms >= kLimitedReplyEveryMs || now_ms < d.last_limited_reply_ms) {
      d.last_limited_reply_ms = now_ms;
      reply = true;
      ++counters_.limited_replies;
    }
    return false;
  }
  // Whether a refused request still gets its error reply.
  bool answer_refusal(std::string_view device, std::int64_t now_ms) {
    auto& d = entry(device);
    if (d.refusals.take(now_ms)) return true;
    ++counters_.refusals_unanswered;
    ++d.unanswered;
    return false;
  }
  // A presence change about to be recorded. False: hold it back.
  bool admit_status(std::string_view device, std::int64_t now_ms) {
    auto& d = entry(device);
    if (d.statuses.take(now_ms)) return true;
    ++counters_.status_changes_deferred;
    ++d.deferred;
    return false;
  }
  // Whether admit_status would succeed now (takes nothing).
  bool status_ready(std::string_view device, std::int64_t now_ms) { return entry(device).statuses.ready(now_ms); }

  // True at most once per device per minute: the caller logs then, with
  // the device's totals from device_totals().
  bool should_log(std::string_view device, std::int64_t now_ms) {
    auto& d = entry(device);
    if (d.logged_ms != kNever && now_ms - d.logged_ms < kLogEveryMs && now_ms >= d.logged_ms) return false;
    d.logged_ms = now_ms;
    return true;
  }
  struct DeviceTotals {
    std::uint64_t limited = 0;
    std::uint64_t unanswered = 0;
    std::uint64_t deferred = 0;
  };
  DeviceTotals device_totals(std::string_view device) {
    auto& d = entry(device);
    return {d.limited, d.unanswered, d.deferred};
  }

  // The hall config changed (config.set): new rates for every device.
  void reconfigure() {
    for (auto& [id, d] : devices_) d.configure(config_.limits);
  }
  const LimiterCounters& counters() const { return counters_; }

 private:
  static constexpr std::int64_t kNever = INT64_MIN;
  static double refusal_rate(const protocol::LimitsConfig& l) {
    return l.requests_per_s == 0 ? 0 : std::max(kMinRefusalsPerS, 2 * l.requests_per_s);
  }
  static double refusal_burst(const protocol::LimitsConfig& l) { return std::max(l.request_burst, kMinRefusalsPerS); }
  struct Device {
    explicit Device(const protocol::LimitsConfig& l)
        : requests(l.requests_per_s, l.request_burst),
          refusals(refusal_rate(l), refusal_burst(l)),
          statuses(l.status_changes_per_min / 60.0, l.status_burst) {}
    void configure(const protocol::LimitsConfig& l) {
      requests.configure(l.requests_per_s, l.request_burst);
      refusals.configure(refusal_rate(l), refusal_burst(l));
      statuses.configure(l.status_changes_per_min / 60.0, l.status_burst);
    }
    TokenBucket requests;
    TokenBucket refusals;
    TokenBucket statuses;
    std::int64_t last_limited_reply_ms = INT64_MIN / 2;
    std::int64_t logged_ms = kNever;
    std::uint64_t limited = 0;
    std::uint64_t unanswered = 0;
    std::uint64_t deferred = 0;
  };
  Device& entry(std::string_view device) {
    std::string_view key = config_.find_device(device) ? device : std::string_view();
    auto it = devices_.find(key);
    if (it == devices_.end()) it = devices_.emplace(std::string(key), Device(config_.limits)).first;
    return it->second;
  }

  const protocol::HallConfig& config_;  // the engine's; outlives this
  std::map<std::string, Device, std::less<>> devices_;
  LimiterCounters counters_;
};

}  // namespace yiban::edge::gateway
