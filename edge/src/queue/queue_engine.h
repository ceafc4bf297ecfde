#pragma once
// The hall's queue: services, counters, tickets and the calling policy of
// ARCHITECTURE §5.1. It keeps a compact in-memory index of who waits where
// (a few dozen bytes per waiting ticket) and writes every change, with its
// event, through the EdgeStore inside the caller's open transaction.
//
// Contract with the caller (the hall's engine thread, the only thread that
// touches it): every mutating call runs inside store.begin()/commit(). A call
// that fails with ErrorCode::kInternal may have left memory and the
// transaction half-changed: roll back (to the savepoint) and call load().
// A call that fails with any other code changed nothing.

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "store/edge_store.h"
#include "yiban/protocol/hall_config.h"
#include "yiban/protocol/payloads.h"
#include "yiban/protocol/requests.h"
#include "yiban/protocol/time_zone.h"

namespace yiban::edge::queue {

using protocol::Result;
using protocol::TicketView;

// What changed since the last take_changes(), for boards and displays.
struct Changes {
  bool queues = false;
  bool calls = false;
  bool catalog = false;
  std::vector<protocol::Announcement> announcements;

  void merge(Changes&& other);
  bool any() const { return queues || calls || catalog || !announcements.empty(); }
};

class QueueEngine {
 public:
  // Tickets with a recent service time are averaged over this many services.
  static constexpr int kServiceTimeWindow = 20;
  static constexpr int kRecentCalls = 10;

  QueueEngine(protocol::HallConfig config, protocol::TimeZone zone, store::EdgeStore& store);

  // (Re)builds memory from the store. Call after opening and after any rollback.
  protocol::Expected<void> load();

  const protocol::HallConfig& config() const { return config_; }
  // Replaces the hall config (central's config.set) and reloads from the
  // store. Refused, changing nothing, when it would drop a service someone is
  // waiting for or a counter that is open, paused or serving, or change the
  // hall id or time zone. The config object keeps its address, so references
  // to config() stay valid.
  protocol::Expected<void> reconfigure(protocol::HallConfig config);
  const protocol::TimeZone& zone() const { return zone_; }
  int business_day() const { return business_day_; }

  // Closes the previous business day when local midnight has passed: every
  // waiting ticket of an earlier day becomes ticket.cancelled (day_closed).
  // Returns how many were cancelled.
  Result<int> roll_day(std::int64_t now);

  Result<TicketView> take_ticket(const protocol::TicketTake& request, std::string_view device, std::int64_t now);
  Result<TicketView> check_in(const protocol::AppointmentCheckin& request, std::string_view device,
                              std::int64_t now);

  Result<protocol::CounterView> open_counter(std::string_view counter, std::string_view device, std::int64_t now);
  Result<protocol::CounterView> pause_counter(std::string_view counter, std::string_view device, std::int64_t now);
  Result<protocol::CounterView> close_counter(std::string_view counter, std::string_view device, std::int64_t now);

  Result<TicketView> call_next(std::string_view counter, std::string_view device, std::int64_t now);
  Result<TicketView> recall(std::string_view counter, std::string_view device, std::int64_t now);
  Result<TicketView> start(std::string_view counter, std::string_view device, std::int64_t now);
  Result<TicketView> finish(std::string_view counter, std::string_view device, std::int64_t now);
  Result<TicketView> no_show(std::string_view counter, std::string_view device, std::int64_t now);
  Result<TicketView> transfer(std::string_view counter, const protocol::CounterTransfer& request,
                              std::string_view device, std::int64_t now);

  // Returns the rated ticket's id (none when the counter had not finished one).
  Result<std::optional<std::string>> submit_rating(std::string_view counter, const protocol::RatingSubmit& request,
                             std::string_view device, std::int64_t now);
  // Returns the help request's id.
  Result<std::string> request_help(std::string_view device, const std::optional<std::string>& counter,
                                   const protocol::HelpRequest& request, std::int64_t now);

  // Records a device's presence when it changed (device.online/offline).
  // Unknown devices are ignored. Returns whether an event was written.
  // reason: "status" (its retained status or will), "silent", "heard".
  Result<bool> set_device_presence(std::string_view device, bool online, const std::optional<std::string>& version,
                                   std::int64_t now, std::string_view reason = "status");
  std::optional<bool> device_online(std::string_view device) const;

  // Views for the boards.
  std::vector<protocol::QueueEntry> queues() const;
  std::vector<protocol::CallEntry> recent_calls() const;
  std::vector<protocol::CatalogEntry> catalog() const;
  int waiting_count(std::string_view service) const;
  // When the longest-waiting ticket of the service took its place, if anyone waits.
  std::optional<std::int64_t> oldest_waiting(std::string_view service) const;
  std::optional<protocol::CounterView> counter_view(std::string_view counter) const;
  // The first `count` tickets of every service in the order they would be
  // called (priority, appointments whose slot began, the rest), each with how
  // many are ahead of it: (ticket rowid, ahead).
  std::vector<std::pair<std::int64_t, int>> fronts(int count, std::int64_t now) const;

  Changes take_changes();

 private:
  struct Entry {
    std::int64_t key = 0;  // slot start for appointments, 0 otherwise
    std::int64_t order_ts = 0;
    std::int64_t rowid = 0;
    auto operator<=>(const Entry&) const = default;
  };
  struct ServiceState {
    const protocol::ServiceConfig* config = nullptr;
    std::set<Entry> priority;  // priority classes
    std::set<Entry> appointments;  // by slot start
    std::set<Entry> normal;
    std::deque<std::int64_t> durations_ms;  // newest at the back
    std::int64_t durations_sum_ms = 0;
    std::size_t size() const { return priority.size() + appointments.size() + normal.size(); }
  };
  struct TargetEntry {
    int tier = 1;  // 0 = priority
    std::int64_t order_ts = 0;
    std::int64_t rowid = 0;
    auto operator<=>(const TargetEntry&) const = default;
  };
  enum class CounterState { kClosed, kOpen, kPaused };
  struct CounterSlot {
    const protocol::CounterConfig* config = nullptr;
    CounterState state = CounterState::kClosed;
    std::optional<store::TicketRow> current;
    std::optional<std::string> last_finished;
    std::set<TargetEntry> targeted;  // tickets transferred to this counter
  };
  // A candidate for call_next: which container holds it.
  struct Pick {
    int tier = 2;
    std::int64_t order_ts = 0;
    std::int64_t rowid = 0;
    std::set<Entry>* from_set = nullptr;
    Entry entry{};
    std::set<TargetEntry>* from_targets = nullptr;
    TargetEntry target{};
  };

  Result<CounterSlot*> counter_slot(std::string_view counter);
  // The counter, which must have a current ticket (no_current_ticket otherwise).
  Result<CounterSlot*> serving_counter(std::string_view counter);
  Result<void> save_counter(const CounterSlot& slot);
  Result<void> append(std::int64_t now, std::string_view type, const std::string& data_json);
  Result<void> update(const store::TicketRow& row);
  Result<TicketView> issue(const std::string& service, const std::optional<std::string>& priority_class,
                           const std::optional<std::string>& phone, const std::optional<std::string>& appointment,
                           std::optional<std::int64_t> slot_start, std::string_view device, std::int64_t now);
  Result<protocol::CounterView> set_counter_state(std::string_view counter, CounterState state,
                                                  std::string_view device, std::int64_t now);
  void enqueue(const store::TicketRow& row);
  std::optional<Pick> pick_for(CounterSlot& slot, std::int64_t now);
  void consider(Pick& best, std::set<Entry>& set, int tier, std::int64_t now, bool appointment_set);
  void record_call(const store::TicketRow& row, std::int64_t now);
  void record_duration(const std::string& service, std::int64_t duration_ms);
  int waiting_ahead(const ServiceState& service, bool priority) const;
  int estimated_wait_s(const std::string& service, int ahead) const;
  int open_counters(const std::string& service) const;
  TicketView view(const store::TicketRow& row, int ahead = 0, int estimate_s = 0) const;
  protocol::CounterView counter_view(const CounterSlot& slot) const;
  static std::string_view state_name(CounterState state);

  protocol::HallConfig config_;
  protocol::TimeZone zone_;
  store::EdgeStore& store_;
  int business_day_ = 0;
  std::map<std::string, ServiceState, std::less<>> services_;
  std::map<std::string, CounterSlot, std::less<>> counters_;
  std::map<std::string, bool, std::less<>> devices_online_;
  std::deque<protocol::CallEntry> calls_;  // newest first
  Changes changes_;
};

}  // namespace yiban::edge::queue
