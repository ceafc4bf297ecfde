#include "yiban/devices/staff_member.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "yiban/devices/arrival_profile.h"

namespace yiban::devices {

std::string_view to_string(StaffMember::State state) {
  switch (state) {
    case StaffMember::State::kClosed:
      return "closed";
    case StaffMember::State::kIdle:
      return "idle";
    case StaffMember::State::kOnBreak:
      return "on_break";
    case StaffMember::State::kCalled:
      return "called";
    case StaffMember::State::kRecalled:
      return "recalled";
    case StaffMember::State::kServing:
      return "serving";
    case StaffMember::State::kDone:
      return "done";
  }
  return "?";
}

StaffMember::StaffMember(const protocol::HallConfig& hall, std::string counter_id,
                         RequestSender& terminal, RequestSender* rating_pad,
                         SimulationLedger& ledger, std::uint64_t seed, StaffHabits habits)
    : hall_(hall),
      counter_id_(std::move(counter_id)),
      terminal_(terminal),
      ledger_(ledger),
      random_(seed),
      habits_(habits) {
  if (rating_pad != nullptr) rating_pad_.emplace(*rating_pad);
}

void StaffMember::drain() {
  draining_ = true;
}

std::optional<protocol::Reply> StaffMember::act(std::string_view command) {
  auto reply = terminal_.act(command);
  if (!reply || !*reply) {
    spdlog::warn("counter {}: {}: {}", counter_id_, command,
                 reply ? (*reply).error().message : std::string("not a command"));
    state_ = State::kDone;
    return std::nullopt;
  }
  if (!(*reply)->ok && (*reply)->failure &&
      (*reply)->failure->code != protocol::ErrorCode::kQueueEmpty)
    spdlog::info("counter {}: {} refused: {}", counter_id_, command,
                 protocol::to_string((*reply)->failure->code));
  return **reply;
}

std::int64_t StaffMember::after_seconds(std::int64_t now_ms, double low_s, double high_s) {
  std::uniform_real_distribution<double> pick(low_s, high_s);
  return now_ms + std::llround(pick(random_) * 1000.0);
}

void StaffMember::maybe_rate() {
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  if (!rating_pad_ || unit(random_) >= habits_.rating_share) return;
  // Mostly good, some bad: 5 (55%), 4 (30%), 3 (7%), 2 (5%), 1 (3%).
  std::discrete_distribution<int> score({0, 3, 5, 7, 30, 55});
  auto reply = rating_pad_->submit(score(random_));
  if (reply && reply->ok) ledger_.rated();
}

void StaffMember::finish_ticket(std::int64_t now_ms) {
  auto reply = act("finish");
  if (!reply) return;
  if (reply->ok) {
    ledger_.served(ticket_id_);
    maybe_rate();
  }
  state_ = State::kIdle;
  due_ms_ = after_seconds(now_ms, 2, 10);
}

std::int64_t StaffMember::step(std::int64_t now_ms) {
  if (state_ == State::kDone) return now_ms;
  if (draining_ &&
      (state_ == State::kClosed || state_ == State::kIdle || state_ == State::kOnBreak)) {
    state_ = State::kDone;
    return now_ms;
  }
  if (now_ms < due_ms_) return due_ms_;
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  due_ms_ = now_ms;
  switch (state_) {
    case State::kClosed: {
      if (draining_) {
        state_ = State::kDone;
        break;
      }
      auto reply = act("open");
      if (!reply) break;
      if (reply->ok)
        state_ = State::kIdle;
      else
        due_ms_ = now_ms + habits_.queue_empty_pause_ms;
      break;
    }
    case State::kIdle: {
      if (draining_) {
        state_ = State::kDone;
        break;
      }
      if (unit(random_) < habits_.break_share) {
        auto reply = act("pause");
        if (!reply) break;
        if (reply->ok) {
          state_ = State::kOnBreak;
          due_ms_ = after_seconds(now_ms, 180, 600);
        }
        break;
      }
      auto reply = act("call");
      if (!reply) break;
      if (!reply->ok || !reply->ticket) {
        due_ms_ = now_ms + habits_.queue_empty_pause_ms;
        break;
      }
      ticket_id_ = reply->ticket->id;
      ticket_service_ = reply->ticket->service;
      auto planned = ledger_.called(ticket_id_, now_ms);
      if (planned) {
        service_min_ = *planned;
      } else if (const auto* service = hall_.find_service(ticket_service_)) {
        service_min_ = draw_service_min(*service, random_);
      }
      state_ = State::kCalled;
      due_ms_ = after_seconds(now_ms, 20, 60);
      break;
    }
    case State::kOnBreak: {
      if (draining_) {
        state_ = State::kDone;
        break;
      }
      auto reply = act("open");
      if (!reply) break;
      state_ = State::kIdle;
      if (!reply->ok) due_ms_ = now_ms + habits_.queue_empty_pause_ms;
      break;
    }
    case State::kCalled: {
      if (unit(random_) < habits_.no_show_share) {
        auto reply = act("recall");
        if (!reply) break;
        state_ = State::kRecalled;
        due_ms_ = now_ms + 60'000;
        break;
      }
      auto reply = act("start");
      if (!reply) break;
      if (!reply->ok) {  // nothing to serve after all
        state_ = State::kIdle;
        break;
      }
      state_ = State::kServing;
      due_ms_ = now_ms + std::llround(service_min_ * 60'000.0);
      break;
    }
    case State::kRecalled: {
      auto reply = act("noshow");
      if (!reply) break;
      if (reply->ok) ledger_.no_show(ticket_id_);
      state_ = State::kIdle;
      due_ms_ = after_seconds(now_ms, 2, 10);
      break;
    }
    case State::kServing: {
      std::vector<const protocol::ServiceConfig*> others;
      for (const auto& service : hall_.services)
        if (service.enabled && service.code != ticket_service_) others.push_back(&service);
      if (!draining_ && !others.empty() && unit(random_) < habits_.transfer_share) {
        std::uniform_int_distribution<std::size_t> which(0, others.size() - 1);
        const auto* target = others[which(random_)];
        auto reply = act("transfer " + target->code);
        if (!reply) break;
        if (reply->ok) {
          ledger_.transferred(ticket_id_, draw_service_min(*target, random_));
          state_ = State::kIdle;
          due_ms_ = after_seconds(now_ms, 2, 10);
          break;
        }
      }
      finish_ticket(now_ms);
      break;
    }
    case State::kDone:
      break;
  }
  return std::max(due_ms_, now_ms);
}

}  // namespace yiban::devices
