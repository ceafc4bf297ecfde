#include "queue/queue_engine.h"

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>

#include "yiban/protocol/event.h"
#include "yiban/protocol/ids.h"

namespace yiban::edge::queue {
namespace {

using nlohmann::json;
using protocol::ErrorCode;
using protocol::fail;
using store::TicketRow;
using store::TicketState;
namespace ev = protocol::event_type;

using store::internal;

json opt(const std::optional<std::string>& value) { return value ? json(*value) : json(nullptr); }

// 13812341234 -> 138****1234; short numbers keep only their last two digits.
std::string mask_phone(const std::string& phone) {
  if (phone.size() >= 7) return phone.substr(0, 3) + "****" + phone.substr(phone.size() - 4);
  return std::string(phone.size() - 2, '*') + phone.substr(phone.size() - 2);
}

}  // namespace

void Changes::merge(Changes&& other) {
  queues = queues || other.queues;
  calls = calls || other.calls;
  catalog = catalog || other.catalog;
  for (auto& a : other.announcements) announcements.push_back(std::move(a));
}

QueueEngine::QueueEngine(protocol::HallConfig config, protocol::TimeZone zone, store::EdgeStore& store)
    : config_(std::move(config)), zone_(std::move(zone)), store_(store) {}

protocol::Expected<void> QueueEngine::reconfigure(protocol::HallConfig config) {
  if (config.hall != config_.hall) return protocol::error("the hall id cannot change");
  if (config.timezone != config_.timezone) return protocol::error("the time zone cannot change while running");
  for (const auto& [code, state] : services_) {
    if (state.size() > 0 && !config.find_service(code))
      return protocol::error("service " + code + " has people waiting and cannot be removed");
  }
  for (const auto& [id, slot] : counters_) {
    if ((slot.state != CounterState::kClosed || slot.current || !slot.targeted.empty()) && !config.find_counter(id))
      return protocol::error("counter " + id + " is not closed and cannot be removed");
  }
  protocol::HallConfig previous = std::move(config_);
  config_ = std::move(config);
  if (auto ok = load(); !ok) {
    config_ = std::move(previous);
    (void)load();
    return ok;
  }
  return {};
}

protocol::Expected<void> QueueEngine::load() {
  services_.clear();
  counters_.clear();
  devices_online_.clear();
  calls_.clear();
  changes_ = Changes{};
  changes_.queues = changes_.calls = changes_.catalog = true;

  for (const auto& s : config_.services) {
    ServiceState state;
    state.config = &s;
    auto durations = store_.recent_service_durations(s.code, kServiceTimeWindow);
    if (!durations) return std::unexpected(durations.error());
    for (auto it = durations->rbegin(); it != durations->rend(); ++it) {
      if (*it <= 0) continue;
      state.durations_ms.push_back(*it);
      state.durations_sum_ms += *it;
    }
    services_.emplace(s.code, std::move(state));
  }
  for (const auto& c : config_.counters) {
    CounterSlot slot;
    slot.config = &c;
    counters_.emplace(c.id, std::move(slot));
  }
  auto rows = store_.counters();
  if (!rows) return std::unexpected(rows.error());
  for (const auto& row : *rows) {
    auto it = counters_.find(row.id);
    if (it == counters_.end()) continue;  // counter removed from the config
    it->second.state = row.state == "open"     ? CounterState::kOpen
                       : row.state == "paused" ? CounterState::kPaused
                                               : CounterState::kClosed;
    it->second.last_finished = row.last_finished;
  }
  auto active = store_.active_tickets();
  if (!active) return std::unexpected(active.error());
  for (auto& row : *active) {
    if (row.state == TicketState::kWaiting) {
      enqueue(row);
    } else if (row.counter) {
      auto it = counters_.find(*row.counter);
      if (it != counters_.end()) it->second.current = std::move(row);
    }
  }
  auto devices = store_.devices();
  if (!devices) return std::unexpected(devices.error());
  for (const auto& d : *devices) devices_online_[d.id] = d.online;
  auto calls = store_.recent_calls(kRecentCalls);
  if (!calls) return std::unexpected(calls.error());
  for (const auto& c : *calls) calls_.push_back({c.number, c.counter, c.ts});

  auto day = store_.get_meta("business_day");
  if (!day) return std::unexpected(day.error());
  business_day_ = *day ? std::atoi((*day)->c_str()) : 0;
  return {};
}

void QueueEngine::enqueue(const TicketRow& row) {
  bool priority = row.priority_class.has_value();
  if (row.target_counter) {
    auto it = counters_.find(*row.target_counter);
    if (it != counters_.end()) {
      it->second.targeted.insert({priority || row.appointment ? 0 : 1, row.order_ts, row.rowid});
      return;
    }
  }
  auto it = services_.find(row.service);
  if (it == services_.end()) {
    // Its service was removed from the config: the ticket still waits, in the
    // first service's queue, rather than vanish. (Config changes arrive later.)
    it = services_.begin();
  }
  Entry entry{0, row.order_ts, row.rowid};
  if (priority) {
    it->second.priority.insert(entry);
  } else if (row.appointment && row.slot_start) {
    entry.key = *row.slot_start;
    it->second.appointments.insert(entry);
  } else {
    it->second.normal.insert(entry);
  }
}

Result<void> QueueEngine::append(std::int64_t now, std::string_view type, const std::string& data_json) {
  auto seq = store_.append_event(now, type, data_json);
  if (!seq) return internal(seq.error());
  return {};
}

Result<void> QueueEngine::update(const TicketRow& row) {
  auto ok = store_.update_ticket(row);
  if (!ok) return internal(ok.error());
  return {};
}

Result<void> QueueEngine::save_counter(const CounterSlot& slot) {
  store::CounterRow row{slot.config->id, std::string(state_name(slot.state)),
                        slot.current ? std::optional<std::int64_t>(slot.current->rowid) : std::nullopt,
                        slot.last_finished};
  auto ok = store_.save_counter(row);
  if (!ok) return internal(ok.error());
  return {};
}

std::string_view QueueEngine::state_name(CounterState state) {
  switch (state) {
    case CounterState::kOpen:
      return "open";
    case CounterState::kPaused:
      return "paused";
    case CounterState::kClosed:
      break;
  }
  return "closed";
}

Result<int> QueueEngine::roll_day(std::int64_t now) {
  int today = zone_.local_day(now);
  if (today == business_day_) return 0;
  // The clock went back across midnight (a correction of a clock that ran
  // ahead): the business day never goes back, so ticket numbers and ids stay
  // unique and the queue stays as it is.
  if (today < business_day_) return 0;
  std::vector<std::int64_t> rowids;
  for (auto& [code, s] : services_) {
    for (auto* set : {&s.priority, &s.appointments, &s.normal}) {
      for (const auto& e : *set) rowids.push_back(e.rowid);
    }
  }
  for (auto& [id, c] : counters_) {
    for (const auto& e : c.targeted) rowids.push_back(e.rowid);
  }
  int cancelled = 0;
  for (auto rowid : rowids) {
    auto row = store_.ticket_by_rowid(rowid);
    if (!row) return internal(row.error());
    if (!*row || (*row)->day >= today) continue;
    TicketRow t = std::move(**row);
    t.state = TicketState::kCancelled;
    t.finished_ts = now;
    if (auto ok = update(t); !ok) return std::unexpected(ok.error());
    json data{{"ticket", t.id}, {"number", t.number}, {"service", t.service}, {"reason", "day_closed"}};
    if (auto ok = append(now, ev::kTicketCancelled, data.dump()); !ok) return std::unexpected(ok.error());
    ++cancelled;
  }
  // Everything waiting was from an earlier day: nobody waits now.
  for (auto& [code, s] : services_) {
    s.priority.clear();
    s.appointments.clear();
    s.normal.clear();
  }
  for (auto& [id, c] : counters_) c.targeted.clear();
  if (auto ok = store_.set_meta("business_day", std::to_string(today)); !ok) return internal(ok.error());
  business_day_ = today;
  changes_.queues = true;
  return cancelled;
}

Result<TicketView> QueueEngine::issue(const std::string& service, const std::optional<std::string>& priority_class,
                                      const std::optional<std::string>& phone,
                                      const std::optional<std::string>& appointment,
                                      std::optional<std::int64_t> slot_start, std::string_view device,
                                      std::int64_t now) {
  auto sit = services_.find(service);
  if (sit == services_.end()) return fail(ErrorCode::kUnknownService, "no service \"" + service + "\" in this hall");
  if (!sit->second.config->enabled)
    return fail(ErrorCode::kServiceClosed, "service " + service + " (" + sit->second.config->name + ") is closed");
  if (priority_class && !config_.has_priority_class(*priority_class))
    return fail(ErrorCode::kBadRequest, "class: \"" + *priority_class + "\" is not a priority class of this hall");
  if (auto rolled = roll_day(now); !rolled) return std::unexpected(rolled.error());

  auto n = store_.next_number(business_day_, service);
  if (!n) return internal(n.error());
  TicketRow row;
  row.number = protocol::make_ticket_number(service, *n);
  row.id = protocol::make_ticket_id(config_.hall, business_day_, row.number);
  row.day = business_day_;
  row.service = service;
  row.priority_class = priority_class;
  row.appointment = appointment;
  row.slot_start = slot_start;
  row.phone = phone;
  row.issued_ts = now;
  row.order_ts = now;
  auto rowid = store_.insert_ticket(row);
  if (!rowid) return internal(rowid.error());
  row.rowid = *rowid;

  bool priority = priority_class.has_value() || (slot_start && *slot_start <= now);
  int ahead = waiting_ahead(sit->second, priority);
  int estimate = estimated_wait_s(service, ahead);
  json data{{"ticket", row.id},      {"service", service},   {"number", row.number},
            {"class", opt(priority_class)}, {"issued_ts", now}, {"device", device},
            {"waiting_ahead", ahead}, {"estimated_wait_s", estimate}};
  if (appointment) data["appointment"] = *appointment;
  if (phone) data["phone_masked"] = mask_phone(*phone);
  if (auto ok = append(now, ev::kTicketIssued, data.dump()); !ok) return std::unexpected(ok.error());
  enqueue(row);
  changes_.queues = true;
  return view(row, ahead, estimate);
}

Result<TicketView> QueueEngine::take_ticket(const protocol::TicketTake& request, std::string_view device,
                                            std::int64_t now) {
  return issue(request.service, request.priority_class, request.phone, std::nullopt, std::nullopt, device, now);
}

Result<TicketView> QueueEngine::check_in(const protocol::AppointmentCheckin& request, std::string_view device,
                                         std::int64_t now) {
  // The check-in window (hall config "appointments"): from early_min before
  // the slot until late_min after its start.
  const auto& rules = config_.appointments;
  const std::int64_t early_ms = static_cast<std::int64_t>(rules.early_min) * 60000;
  const std::int64_t late_ms = static_cast<std::int64_t>(rules.late_min) * 60000;
  auto found = store_.appointment(request.code);
  if (!found) return internal(found.error());
  if (!*found) return fail(ErrorCode::kBadRequest, "code: no booking \"" + request.code + "\" at this hall");
  auto a = **found;
  if (a.state == "checked_in")
    return fail(ErrorCode::kInvalidState, "booking " + a.code + " is already checked in (ticket " + a.ticket.value_or("?") + ")");
  if (a.state != "booked")
    return fail(ErrorCode::kInvalidState, "booking " + a.code + " is " + a.state + "; it cannot be checked in");
  std::string outside;
  if (now < a.slot_start - early_ms)
    outside = "too early: check-in opens " + std::to_string(rules.early_min) + " minutes before the slot";
  else if (now > a.slot_start + late_ms)
    outside = "too late: check-in closed " + std::to_string(rules.late_min) + " minutes after the slot began";
  if (!outside.empty()) {
    if (!rules.normal_ticket_outside_window) return fail(ErrorCode::kInvalidState, "booking " + a.code + ": " + outside);
    // A normal ticket instead; the booking stays as it is.
    auto ticket = issue(a.service, std::nullopt, a.phone, std::nullopt, std::nullopt, device, now);
    if (!ticket) return ticket;
    ticket->message = now < a.slot_start ? "未到预约签到时间，已为您取普通号" : "已过预约签到时间，已为您取普通号";
    return ticket;
  }
  auto ticket = issue(a.service, std::nullopt, a.phone, a.code, a.slot_start, device, now);
  if (!ticket) return ticket;
  a.state = "checked_in";
  a.ticket = ticket->id;
  if (auto ok = store_.save_appointment(a); !ok) return internal(ok.error());
  json data{{"appointment", a.code}, {"ticket", ticket->id}, {"service", a.service}, {"slot_start", a.slot_start},
            {"device", device}};
  if (auto ok = append(now, ev::kAppointmentCheckedIn, data.dump()); !ok) return std::unexpected(ok.error());
  return ticket;
}

Result<QueueEngine::CounterSlot*> QueueEngine::counter_slot(std::string_view counter) {
  auto it = counters_.find(counter);
  if (it == counters_.end()) return fail(ErrorCode::kBadRequest, "no counter \"" + std::string(counter) + "\"");
  return &it->second;
}

Result<QueueEngine::CounterSlot*> QueueEngine::serving_counter(std::string_view counter) {
  auto slot = counter_slot(counter);
  if (slot && !(*slot)->current)
    return fail(ErrorCode::kNoCurrentTicket, "counter " + (*slot)->config->id + " has no current ticket");
  return slot;
}

Result<protocol::CounterView> QueueEngine::set_counter_state(std::string_view counter, CounterState state,
                                                             std::string_view device, std::int64_t now) {
  auto slot = counter_slot(counter);
  if (!slot) return std::unexpected(slot.error());
  CounterSlot& c = **slot;
  if (c.state == state) return counter_view(c);
  if (state == CounterState::kClosed && c.current)
    return fail(ErrorCode::kInvalidState, "counter " + c.config->id + " still has ticket " + c.current->number +
                                              ": finish, no-show or transfer it before closing");
  if (state == CounterState::kPaused && c.state == CounterState::kClosed)
    return fail(ErrorCode::kCounterClosed, "counter " + c.config->id + " is closed; open it first");
  c.state = state;
  if (auto ok = save_counter(c); !ok) return std::unexpected(ok.error());
  std::string_view type = state == CounterState::kOpen     ? ev::kCounterOpened
                          : state == CounterState::kPaused ? ev::kCounterPaused
                                                           : ev::kCounterClosed;
  json data{{"counter", c.config->id}, {"device", device}};
  if (auto ok = append(now, type, data.dump()); !ok) return std::unexpected(ok.error());
  changes_.queues = true;
  return counter_view(c);
}

Result<protocol::CounterView> QueueEngine::open_counter(std::string_view counter, std::string_view device,
                                                        std::int64_t now) {
  return set_counter_state(counter, CounterState::kOpen, device, now);
}
Result<protocol::CounterView> QueueEngine::pause_counter(std::string_view counter, std::string_view device,
                                                         std::int64_t now) {
  return set_counter_state(counter, CounterState::kPaused, device, now);
}
Result<protocol::CounterView> QueueEngine::close_counter(std::string_view counter, std::string_view device,
                                                         std::int64_t now) {
  return set_counter_state(counter, CounterState::kClosed, device, now);
}

void QueueEngine::consider(Pick& best, std::set<Entry>& set, int tier, std::int64_t now, bool appointment_set) {
  if (set.empty()) return;
  const Entry& head = *set.begin();
  // An appointment ticket has priority once its slot has begun; before that
  // it waits like anyone else, by its issue time.
  int t = appointment_set ? (head.key <= now ? 0 : 1) : tier;
  if (std::tie(t, head.order_ts, head.rowid) < std::tie(best.tier, best.order_ts, best.rowid)) {
    best = Pick{t, head.order_ts, head.rowid, &set, head, nullptr, {}};
  }
}

std::optional<QueueEngine::Pick> QueueEngine::pick_for(CounterSlot& slot, std::int64_t now) {
  Pick best;
  best.order_ts = std::numeric_limits<std::int64_t>::max();
  best.rowid = std::numeric_limits<std::int64_t>::max();
  for (const auto& code : slot.config->services) {
    auto it = services_.find(code);
    if (it == services_.end()) continue;
    consider(best, it->second.priority, 0, now, false);
    consider(best, it->second.appointments, 0, now, true);
    consider(best, it->second.normal, 1, now, false);
  }
  if (!slot.targeted.empty()) {
    const auto& head = *slot.targeted.begin();
    if (std::tie(head.tier, head.order_ts, head.rowid) < std::tie(best.tier, best.order_ts, best.rowid)) {
      best = Pick{head.tier, head.order_ts, head.rowid, nullptr, {}, &slot.targeted, head};
    }
  }
  if (best.tier == 2) {
    for (const auto& code : slot.config->backup) {
      auto it = services_.find(code);
      if (it == services_.end()) continue;
      consider(best, it->second.priority, 0, now, false);
      consider(best, it->second.appointments, 0, now, true);
      consider(best, it->second.normal, 1, now, false);
    }
  }
  if (best.tier == 2) return std::nullopt;
  return best;
}

void QueueEngine::record_call(const TicketRow& row, std::int64_t now) {
  // A recall moves the ticket back to the top instead of listing it twice.
  std::erase_if(calls_, [&](const protocol::CallEntry& c) { return c.number == row.number && c.counter == *row.counter; });
  calls_.push_front({row.number, *row.counter, now});
  while (calls_.size() > static_cast<std::size_t>(kRecentCalls)) calls_.pop_back();
  changes_.calls = true;
  changes_.announcements.push_back(
      {protocol::announcement_text(row.number, *row.counter), row.number, *row.counter, now});
}

Result<TicketView> QueueEngine::call_next(std::string_view counter, std::string_view device, std::int64_t now) {
  auto slot = counter_slot(counter);
  if (!slot) return std::unexpected(slot.error());
  CounterSlot& c = **slot;
  if (c.state != CounterState::kOpen)
    return fail(ErrorCode::kCounterClosed, "counter " + c.config->id + " is " + std::string(state_name(c.state)) +
                                               "; open it to call");
  if (c.current)
    return fail(ErrorCode::kInvalidState, "counter " + c.config->id + " still has ticket " + c.current->number +
                                              ": finish, no-show or transfer it first");
  if (auto rolled = roll_day(now); !rolled) return std::unexpected(rolled.error());
  auto pick = pick_for(c, now);
  if (!pick) return fail(ErrorCode::kQueueEmpty, "nobody is waiting for counter " + c.config->id);
  auto row = store_.ticket_by_rowid(pick->rowid);
  if (!row) return internal(row.error());
  if (!*row) return fail(ErrorCode::kInternal, "waiting ticket vanished from the store");
  TicketRow t = std::move(**row);
  t.state = TicketState::kCalled;
  t.counter = c.config->id;
  t.called_ts = now;
  t.target_counter.reset();
  if (auto ok = update(t); !ok) return std::unexpected(ok.error());
  json data{{"ticket", t.id},         {"number", t.number}, {"service", t.service},
            {"counter", c.config->id}, {"device", device},  {"waited_ms", now - t.order_ts}};
  if (auto ok = append(now, ev::kTicketCalled, data.dump()); !ok) return std::unexpected(ok.error());
  if (pick->from_set) pick->from_set->erase(pick->entry);
  if (pick->from_targets) pick->from_targets->erase(pick->target);
  c.current = t;
  if (auto ok = save_counter(c); !ok) return std::unexpected(ok.error());
  record_call(t, now);
  changes_.queues = true;
  return view(t);
}

Result<TicketView> QueueEngine::recall(std::string_view counter, std::string_view device, std::int64_t now) {
  auto slot = serving_counter(counter);
  if (!slot) return std::unexpected(slot.error());
  CounterSlot& c = **slot;
  TicketRow t = *c.current;
  if (t.state != TicketState::kCalled)
    return fail(ErrorCode::kInvalidState, "ticket " + t.number + " is already being served");
  if (t.recalls >= config_.recall_limit)
    return fail(ErrorCode::kInvalidState, "ticket " + t.number + " was recalled " + std::to_string(t.recalls) +
                                              " times (the limit); mark it no-show");
  t.recalls += 1;
  t.called_ts = now;
  if (auto ok = update(t); !ok) return std::unexpected(ok.error());
  json data{{"ticket", t.id}, {"number", t.number}, {"counter", c.config->id}, {"recalls", t.recalls},
            {"device", device}};
  if (auto ok = append(now, ev::kTicketRecalled, data.dump()); !ok) return std::unexpected(ok.error());
  c.current = t;
  record_call(t, now);
  return view(t);
}

Result<TicketView> QueueEngine::start(std::string_view counter, std::string_view device, std::int64_t now) {
  auto slot = serving_counter(counter);
  if (!slot) return std::unexpected(slot.error());
  CounterSlot& c = **slot;
  TicketRow t = *c.current;
  if (t.state != TicketState::kCalled)
    return fail(ErrorCode::kInvalidState, "ticket " + t.number + " is already being served");
  t.state = TicketState::kServing;
  t.started_ts = now;
  if (auto ok = update(t); !ok) return std::unexpected(ok.error());
  json data{{"ticket", t.id}, {"number", t.number}, {"counter", c.config->id}, {"device", device}};
  if (auto ok = append(now, ev::kTicketServing, data.dump()); !ok) return std::unexpected(ok.error());
  c.current = t;
  return view(t);
}

void QueueEngine::record_duration(const std::string& service, std::int64_t duration_ms) {
  auto it = services_.find(service);
  if (it == services_.end() || duration_ms <= 0) return;
  auto& s = it->second;
  s.durations_ms.push_back(duration_ms);
  s.durations_sum_ms += duration_ms;
  if (s.durations_ms.size() > static_cast<std::size_t>(kServiceTimeWindow)) {
    s.durations_sum_ms -= s.durations_ms.front();
    s.durations_ms.pop_front();
  }
}

Result<TicketView> QueueEngine::finish(std::string_view counter, std::string_view device, std::int64_t now) {
  auto slot = serving_counter(counter);
  if (!slot) return std::unexpected(slot.error());
  CounterSlot& c = **slot;
  TicketRow t = *c.current;
  t.state = TicketState::kCompleted;
  t.finished_ts = now;
  std::int64_t service_ms = now - t.started_ts.value_or(t.called_ts.value_or(now));
  if (auto ok = update(t); !ok) return std::unexpected(ok.error());
  json data{{"ticket", t.id},         {"number", t.number}, {"service", t.service},
            {"counter", c.config->id}, {"device", device},  {"service_ms", service_ms}};
  if (auto ok = append(now, ev::kTicketCompleted, data.dump()); !ok) return std::unexpected(ok.error());
  c.current.reset();
  c.last_finished = t.id;
  if (auto ok = save_counter(c); !ok) return std::unexpected(ok.error());
  record_duration(t.service, service_ms);
  changes_.queues = true;
  return view(t);
}

Result<TicketView> QueueEngine::no_show(std::string_view counter, std::string_view device, std::int64_t now) {
  auto slot = serving_counter(counter);
  if (!slot) return std::unexpected(slot.error());
  CounterSlot& c = **slot;
  TicketRow t = *c.current;
  if (t.state != TicketState::kCalled)
    return fail(ErrorCode::kInvalidState, "ticket " + t.number + " is being served; finish it instead");
  t.state = TicketState::kNoShow;
  t.finished_ts = now;
  if (auto ok = update(t); !ok) return std::unexpected(ok.error());
  json data{{"ticket", t.id}, {"number", t.number}, {"service", t.service}, {"counter", c.config->id},
            {"recalls", t.recalls}, {"device", device}};
  if (auto ok = append(now, ev::kTicketNoShow, data.dump()); !ok) return std::unexpected(ok.error());
  c.current.reset();
  if (auto ok = save_counter(c); !ok) return std::unexpected(ok.error());
  return view(t);
}

Result<TicketView> QueueEngine::transfer(std::string_view counter, const protocol::CounterTransfer& request,
                                         std::string_view device, std::int64_t now) {
  auto slot = serving_counter(counter);
  if (!slot) return std::unexpected(slot.error());
  CounterSlot& c = **slot;
  TicketRow t = *c.current;
  json data{{"ticket", t.id}, {"number", t.number}, {"from_service", t.service}, {"counter", c.config->id},
            {"device", device}};
  if (request.service) {
    auto sit = services_.find(*request.service);
    if (sit == services_.end())
      return fail(ErrorCode::kUnknownService, "no service \"" + *request.service + "\" in this hall");
    if (!sit->second.config->enabled)
      return fail(ErrorCode::kServiceClosed, "service " + *request.service + " is closed");
    if (*request.service == t.service)
      return fail(ErrorCode::kBadRequest, "ticket " + t.number + " already belongs to service " + t.service);
    t.service = *request.service;
    t.target_counter.reset();
    data["to_service"] = t.service;
  } else {
    auto target = counters_.find(*request.counter);
    if (target == counters_.end())
      return fail(ErrorCode::kBadRequest, "counter: no counter \"" + *request.counter + "\"");
    if (target->first == c.config->id)
      return fail(ErrorCode::kBadRequest, "counter: ticket " + t.number + " is already at counter " + c.config->id);
    t.target_counter = target->first;
    data["to_counter"] = target->first;
  }
  t.state = TicketState::kWaiting;
  t.counter.reset();
  t.started_ts.reset();
  t.recalls = 0;
  t.transfers += 1;
  if (auto ok = update(t); !ok) return std::unexpected(ok.error());
  if (auto ok = append(now, ev::kTicketTransferred, data.dump()); !ok) return std::unexpected(ok.error());
  c.current.reset();
  if (auto ok = save_counter(c); !ok) return std::unexpected(ok.error());
  enqueue(t);
  changes_.queues = true;
  auto sit = services_.find(t.service);
  int ahead = t.target_counter ? 0 : (sit == services_.end() ? 0 : waiting_ahead(sit->second, false));
  return view(t, ahead, estimated_wait_s(t.service, ahead));
}

Result<std::optional<std::string>> QueueEngine::submit_rating(std::string_view counter, const protocol::RatingSubmit& request,
                                        std::string_view device, std::int64_t now) {
  auto slot = counter_slot(counter);
  if (!slot) return std::unexpected(slot.error());
  CounterSlot& c = **slot;
  std::optional<std::string> ticket_id = request.ticket ? request.ticket : c.last_finished;
  if (ticket_id) {
    auto row = store_.ticket_by_id(*ticket_id);
    if (!row) return internal(row.error());
    if (!*row) return fail(ErrorCode::kBadRequest, "ticket: no ticket \"" + *ticket_id + "\" in this hall");
    TicketRow t = std::move(**row);
    if (t.state != TicketState::kCompleted || t.counter != c.config->id)
      return fail(ErrorCode::kInvalidState, "ticket " + t.number + " was not served at counter " + c.config->id);
    if (t.rated) return fail(ErrorCode::kInvalidState, "ticket " + t.number + " is already rated");
    t.rated = true;
    if (auto ok = update(t); !ok) return std::unexpected(ok.error());
  }
  if (auto ok = store_.insert_rating(now, c.config->id, ticket_id, request.score, device); !ok)
    return internal(ok.error());
  json data{{"counter", c.config->id}, {"ticket", opt(ticket_id)}, {"score", request.score}, {"device", device}};
  if (auto ok = append(now, ev::kRatingSubmitted, data.dump()); !ok) return std::unexpected(ok.error());
  return ticket_id;
}

Result<std::string> QueueEngine::request_help(std::string_view device, const std::optional<std::string>& counter,
                                              const protocol::HelpRequest& request, std::int64_t now) {
  if (auto rolled = roll_day(now); !rolled) return std::unexpected(rolled.error());
  auto n = store_.next_number(business_day_, "#help");
  if (!n) return internal(n.error());
  std::string id = config_.hall + ":" + std::to_string(business_day_) + ":H" + std::to_string(*n);
  if (auto ok = store_.insert_help(id, now, device, counter, request.need); !ok) return internal(ok.error());
  // The citizen's words stay in the hall's help table (issue 15).
  json data{{"help", id}, {"device", device}, {"counter", opt(counter)}};
  if (auto ok = append(now, ev::kHelpRequested, data.dump()); !ok) return std::unexpected(ok.error());
  return id;
}

Result<bool> QueueEngine::set_device_presence(std::string_view device, bool online,
                                              const std::optional<std::string>& version, std::int64_t now,
                                              std::string_view reason) {
  const auto* config = config_.find_device(device);
  if (!config) return false;
  auto it = devices_online_.find(device);
  if (it != devices_online_.end() && it->second == online) return false;
  if (auto ok = store_.save_device({std::string(device), online, version, now}); !ok) return internal(ok.error());
  json data{{"device", device}, {"kind", protocol::to_string(config->kind)}, {"reason", reason}};
  if (version) data["version"] = *version;
  if (auto ok = append(now, online ? ev::kDeviceOnline : ev::kDeviceOffline, data.dump()); !ok)
    return std::unexpected(ok.error());
  devices_online_[std::string(device)] = online;
  return true;
}

std::optional<bool> QueueEngine::device_online(std::string_view device) const {
  auto it = devices_online_.find(device);
  if (it == devices_online_.end()) return std::nullopt;
  return it->second;
}

int QueueEngine::waiting_ahead(const ServiceState& s, bool priority) const {
  if (priority) return static_cast<int>(s.priority.size() + s.appointments.size());
  return static_cast<int>(s.size());
}

int QueueEngine::open_counters(const std::string& service) const {
  int n = 0;
  for (const auto& [id, c] : counters_) {
    if (c.state != CounterState::kOpen) continue;
    const auto& main = c.config->services;
    const auto& backup = c.config->backup;
    if (std::find(main.begin(), main.end(), service) != main.end() ||
        std::find(backup.begin(), backup.end(), service) != backup.end())
      ++n;
  }
  return n;
}

int QueueEngine::estimated_wait_s(const std::string& service, int ahead) const {
  auto it = services_.find(service);
  if (it == services_.end()) return 0;
  const auto& s = it->second;
  double average_s = s.durations_ms.empty()
                         ? static_cast<double>(s.config->avg_service_s)
                         : static_cast<double>(s.durations_sum_ms) / static_cast<double>(s.durations_ms.size()) / 1000.0;
  int counters = std::max(1, open_counters(service));
  return static_cast<int>(average_s * ahead / counters + 0.5);
}

TicketView QueueEngine::view(const TicketRow& row, int ahead, int estimate_s) const {
  TicketView v;
  v.id = row.id;
  v.number = row.number;
  v.service = row.service;
  v.priority_class = row.priority_class;
  v.appointment = row.appointment;
  v.issued_ts = row.issued_ts;
  v.state = std::string(store::to_string(row.state));
  v.counter = row.counter ? row.counter : row.target_counter;
  v.recalls = row.recalls;
  v.waiting_ahead = ahead;
  v.estimated_wait_s = estimate_s;
  return v;
}

protocol::CounterView QueueEngine::counter_view(const CounterSlot& slot) const {
  return {slot.config->id, std::string(state_name(slot.state)),
          slot.current ? std::optional<std::string>(slot.current->id) : std::nullopt};
}

std::optional<protocol::CounterView> QueueEngine::counter_view(std::string_view counter) const {
  auto it = counters_.find(counter);
  if (it == counters_.end()) return std::nullopt;
  return counter_view(it->second);
}

int QueueEngine::waiting_count(std::string_view service) const {
  auto it = services_.find(service);
  return it == services_.end() ? 0 : static_cast<int>(it->second.size());
}

std::optional<std::int64_t> QueueEngine::oldest_waiting(std::string_view service) const {
  auto it = services_.find(service);
  if (it == services_.end()) return std::nullopt;
  std::optional<std::int64_t> oldest;
  auto consider = [&](std::int64_t ts) { oldest = oldest ? std::min(*oldest, ts) : ts; };
  if (!it->second.priority.empty()) consider(it->second.priority.begin()->order_ts);
  if (!it->second.normal.empty()) consider(it->second.normal.begin()->order_ts);
  for (const auto& e : it->second.appointments) consider(e.order_ts);  // ordered by slot, not by wait
  return oldest;
}

std::vector<protocol::QueueEntry> QueueEngine::queues() const {
  std::vector<protocol::QueueEntry> out;
  for (const auto& s : config_.services) {
    int waiting = waiting_count(s.code);
    out.push_back({s.code, s.name, waiting, estimated_wait_s(s.code, waiting), open_counters(s.code)});
  }
  return out;
}

std::vector<protocol::CallEntry> QueueEngine::recent_calls() const { return {calls_.begin(), calls_.end()}; }

std::vector<protocol::CatalogEntry> QueueEngine::catalog() const {
  std::vector<protocol::CatalogEntry> out;
  for (const auto& s : config_.services) out.push_back({s.code, s.name, s.enabled});
  return out;
}

Changes QueueEngine::take_changes() { return std::exchange(changes_, Changes{}); }

std::vector<std::pair<std::int64_t, int>> QueueEngine::fronts(int count, std::int64_t now) const {
  std::vector<std::pair<std::int64_t, int>> out;
  for (const auto& [code, s] : services_) {
    int ahead = 0;
    auto take = [&](const std::set<Entry>& set, bool due_only) {
      for (const auto& e : set) {
        if (ahead >= count) return;
        if (due_only && e.key > now) continue;
        out.emplace_back(e.rowid, ahead++);
      }
    };
    take(s.priority, false);
    take(s.appointments, true);
    take(s.normal, false);
  }
  return out;
}

}  // namespace yiban::edge::queue
