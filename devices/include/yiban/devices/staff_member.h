#pragma once
// The person behind one counter in a hall simulation, acting through the
// counter's terminal (CounterAgent) and asking citizens to rate on its rating
// pad (RatingAgent). Driven by a clock it does not own: step(now) does what is
// due at now and says when it next wants to act.
//
// States and transitions (times simulated):
//   kClosed  -(open ok)-> kIdle
//   kIdle    -(break, ~2%: pause)-> kOnBreak -(3..10 min: open)-> kIdle
//   kIdle    -(call_next ok)-> kCalled      (the citizen walks up, 20..60 s)
//   kIdle    -(queue_empty / refused)-> kIdle, tries again after 20 s
//   kCalled  -(~3%: recall)-> kRecalled -(60 s: no_show)-> kIdle
//   kCalled  -(start)-> kServing -(service time: finish, rate)-> kIdle
//   kServing -(~2%: transfer to another service of the hall)-> kIdle
//   drain(): kIdle, kOnBreak, kClosed -> kDone; other states finish their
//   ticket first (no new call), then kDone.
// A request with no reply at all (the link is gone) ends in kDone.
// Not thread-safe: one thread steps one StaffMember.

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "yiban/devices/counter_agent.h"
#include "yiban/devices/rating_agent.h"
#include "yiban/devices/simulation_ledger.h"
#include "yiban/protocol/hall_config.h"

namespace yiban::devices {

struct StaffHabits {
  double no_show_share = 0.03;
  double transfer_share = 0.02;
  double break_share = 0.02;   // per idle moment with a ticket to call
  double rating_share = 0.85;  // finished tickets rated
  std::int64_t queue_empty_pause_ms = 20'000;
};

class StaffMember {
 public:
  enum class State { kClosed, kIdle, kOnBreak, kCalled, kRecalled, kServing, kDone };

  // terminal and rating_pad (may be null) must outlive this object; so must
  // hall and ledger.
  StaffMember(const protocol::HallConfig& hall, std::string counter_id, RequestSender& terminal,
              RequestSender* rating_pad, SimulationLedger& ledger, std::uint64_t seed,
              StaffHabits habits = {});

  // Acts if something is due at now_ms; returns the simulated time of the
  // next action (now_ms or later).
  std::int64_t step(std::int64_t now_ms);
  void drain();
  State state() const { return state_; }
  bool done() const { return state_ == State::kDone; }
  const std::string& counter_id() const { return counter_id_; }

 private:
  // Runs a terminal command; nothing means no reply at all (state -> kDone).
  std::optional<protocol::Reply> act(std::string_view command);
  std::int64_t after_seconds(std::int64_t now_ms, double low_s, double high_s);
  void finish_ticket(std::int64_t now_ms);
  void maybe_rate();

  const protocol::HallConfig& hall_;
  std::string counter_id_;
  CounterAgent terminal_;
  std::optional<RatingAgent> rating_pad_;
  SimulationLedger& ledger_;
  std::mt19937_64 random_;
  StaffHabits habits_;
  State state_ = State::kClosed;
  bool draining_ = false;
  std::int64_t due_ms_ = 0;
  std::string ticket_id_;
  std::string ticket_service_;
  double service_min_ = 5.0;
};

std::string_view to_string(StaffMember::State state);

}  // namespace yiban::devices
