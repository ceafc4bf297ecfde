#pragma once
// A token bucket: `burst` tokens at most, refilled at `rate_per_s`. Time is
// the caller's milliseconds (the engine's clock); a clock that steps back
// refills nothing and takes nothing away. Not thread-safe: one owner.

#include <algorithm>
#include <cstdint>

namespace yiban::edge::gateway {

class TokenBucket {
 public:
  // rate_per_s 0: unlimited (take() always succeeds). Starts full.
  TokenBucket(double rate_per_s, double burst) : rate_per_ms_(rate_per_s / 1000.0), burst_(burst), tokens_(burst) {}

  // Takes one token at now_ms; false (and nothing taken) when none is left.
  bool take(std::int64_t now_ms) {
    if (rate_per_ms_ <= 0) return true;
    refill(now_ms);
    if (tokens_ < 1.0) return false;
    tokens_ -= 1.0;
    return true;
  }
  // Whether take() would succeed at now_ms (refills, takes nothing).
  bool ready(std::int64_t now_ms) {
    if (rate_per_ms_ <= 0) return true;
    refill(now_ms);
    return tokens_ >= 1.0;
  }
  // New settings keep the tokens there are (capped at the new burst).
  void configure(double rate_per_s, double burst) {
    rate_per_ms_ = rate_per_s / 1000.0;
    burst_ = burst;
    tokens_ = std::min(tokens_, burst_);
  }

 private:
  void refill(std::int64_t now_ms) {
    if (!started_) {
      started_ = true;
      at_ms_ = now_ms;
      return;
    }
    if (now_ms <= at_ms_) {
      at_ms_ = std::min(at_ms_, now_ms);  // a clock stepped back starts over from there
      return;
    }
    tokens_ = std::min(burst_, tokens_ + static_cast<double>(now_ms - at_ms_) * rate_per_ms_);
    at_ms_ = now_ms;
  }

  double rate_per_ms_;
  double burst_;
  double tokens_;
  std::int64_t at_ms_ = 0;
  bool started_ = false;
};

}  // namespace yiban::edge::gateway
