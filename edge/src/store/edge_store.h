#pragma once
// The hall's durable store (ARCHITECTURE §4, §7): one SQLite file in WAL mode
// holding the hash-chained event log and the state tables derived from it.
// Every write happens inside a transaction opened by the caller (begin/commit),
// so a state change, its event and the device's recorded reply are one commit.
//
// Threading: one EdgeStore is used by one thread (the hall's engine thread).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "yiban/runtime/sqlite.h"
#include "yiban/protocol/chain.h"

namespace yiban::edge::store {

using runtime::Database;
using runtime::Statement;
using protocol::Error;
using protocol::Expected;

enum class TicketState { kWaiting, kCalled, kServing, kCompleted, kNoShow, kCancelled };
std::string_view to_string(TicketState state);
std::optional<TicketState> ticket_state_from_string(std::string_view text);

struct TicketRow {
  std::int64_t rowid = 0;
  std::string id;  // {hall}:{yyyymmdd}:{number}
  int day = 0;  // yyyymmdd, the business day it was issued on
  std::string number;  // A007
  std::string service;  // the service it waits for now (changes on transfer)
  std::optional<std::string> priority_class;
  std::optional<std::string> appointment;
  std::optional<std::int64_t> slot_start;  // appointment slot start, UTC ms
  std::optional<std::string> phone;  // never leaves the hall
  TicketState state = TicketState::kWaiting;
  std::int64_t issued_ts = 0;
  std::int64_t order_ts = 0;  // its place in the queue: the original issue time
  std::optional<std::string> target_counter;  // transferred to one counter
  std::optional<std::string> counter;  // the counter that called it
  std::optional<std::int64_t> called_ts;  // last call or recall
  std::optional<std::int64_t> started_ts;
  std::optional<std::int64_t> finished_ts;
  int recalls = 0;
  int transfers = 0;
  bool rated = false;
};

struct CounterRow {
  std::string id;
  std::string state;  // open, paused, closed
  std::optional<std::int64_t> current_rowid;
  std::optional<std::string> last_finished;  // ticket id, for ratings
};

struct DeviceRow {
  std::string id;
  bool online = false;
  std::optional<std::string> version;
  std::int64_t last_seen = 0;
};

struct CallRow {
  std::string number;
  std::string counter;
  std::int64_t ts = 0;
};

struct AppointmentRow {
  std::string code;
  std::string service;
  std::int64_t slot_start = 0;
  std::int64_t slot_end = 0;
  std::string state;  // booked, checked_in, cancelled, no_show
  std::optional<std::string> ticket;
  std::string name;  // masked
  std::optional<std::string> phone;  // never leaves the hall
  std::optional<std::string> special_need;
  std::string source = "central";  // central, hall (a walk-up booking)
  std::optional<std::string> id_hash;
  int day = 0;  // yyyymmdd of the slot
};

struct AlertRow {
  std::string id;
  std::string rule;  // long_wait, long_queue, crowding, co2, temperature, device_offline, bad_rating, help
  std::string subject;  // what it is about: a service, a device, a ticket, a help request
  std::string severity;  // warning, critical
  std::string state;  // raised, acknowledged, resolved
  std::string message;  // Chinese, for staff
  std::int64_t raised_ts = 0;
  std::optional<std::int64_t> acked_ts;
  std::optional<std::string> acked_by;
  std::optional<std::int64_t> resolved_ts;
  std::optional<std::string> resolved_by;
};

struct StoredSample {
  std::string device;
  std::int64_t received_ts = 0;
  std::string metrics_json;
};

struct StoredEvent {
  std::int64_t seq = 0;
  std::string text;
  protocol::ChainHash chain{};
};

inline constexpr int kSchemaVersion = 10;

// What adopt_events did: central's events written, local events set aside
// (they differed or followed a difference) and local events appended again
// after central's log (on the final batch).
struct AdoptOutcome {
  std::int64_t adopted = 0;
  std::int64_t displaced = 0;
  std::int64_t renumbered = 0;
};

// SQLite's words for SQLITE_FULL, which its file layer also returns on ENOSPC.
inline bool is_storage_full(const protocol::Error& e) {
  return e.message.find("database or disk is full") != std::string::npos;
}

// What a device is told when its request could not be recorded: the stable
// code "internal", and a message that says when the cause is a full disk.
inline protocol::Failure store_failure(const protocol::Error& e) {
  if (is_storage_full(e))
    return {protocol::ErrorCode::kInternal,
            "storage_full: the hall's disk is full; nothing was recorded, try again when staff have freed space"};
  return {protocol::ErrorCode::kInternal, "store: " + e.message};
}

// A store failure as the answer a device gets: internal, naming the cause.
inline std::unexpected<protocol::Failure> internal(const protocol::Error& e) {
  return std::unexpected(store_failure(e));
}

class EdgeStore {
 public:
  // Opens (creating if needed) and migrates the database. The file remembers
  // its hall: opening it for another hall id fails.
  static Expected<std::unique_ptr<EdgeStore>> open(const std::string& path, std::string hall);
  ~EdgeStore();

  const std::string& hall() const { return hall_; }
  // For modules that keep their own tables in this file (cases); same
  // thread and transaction rules as the store itself.
  Database& database() { return db_; }
  int schema_version() const;

  // Transactions. begin() takes the write lock (BEGIN IMMEDIATE); commit()
  // returns only once the commit is durable (synchronous=FULL).
  Expected<void> begin();
  Expected<void> commit();
  void rollback();
  // Nested scope inside a transaction, for one request.
  Expected<void> savepoint();
  Expected<void> release();
  void rollback_to_savepoint();

  // Event log. Appends one event inside the open transaction and returns its seq.
  Expected<std::int64_t> append_event(std::int64_t ts, std::string_view type, std::string_view data_json);
  std::int64_t last_seq() const { return last_seq_; }
  const protocol::ChainHash& last_chain() const { return last_chain_; }
  Expected<std::vector<StoredEvent>> read_events(std::int64_t after_seq, int limit);
  // The store's random id (meta store_id), made when it was created.
  const std::string& store_id() const { return store_id_; }
  // Inside a transaction: central's stored events from, from+1, … of this
  // hall (a store behind central's log). Events equal to the local ones are
  // kept; from the first difference the local events are set aside
  // (events_displaced) and central's written. With final_chain (the batch
  // ends at central's acked) the chain must equal it, and the set-aside
  // events are appended again after central's log (new seq, same ts, type
  // and data). Needs from <= last_seq()+1.
  Expected<AdoptOutcome> adopt_events(std::int64_t from, const std::vector<std::string>& texts,
                                      const std::optional<protocol::ChainHash>& final_chain);

  // Meta key/values.
  Expected<std::optional<std::string>> get_meta(std::string_view key);
  Expected<void> set_meta(std::string_view key, std::string_view value);

  // Daily numbering: returns the next number of the series for the day (1, 2, …).
  Expected<int> next_number(int day, std::string_view series);
  Expected<int> last_number(int day, std::string_view series);

  // Tickets.
  Expected<std::int64_t> insert_ticket(const TicketRow& ticket);
  Expected<void> update_ticket(const TicketRow& ticket);
  Expected<std::optional<TicketRow>> ticket_by_rowid(std::int64_t rowid);
  Expected<std::optional<TicketRow>> ticket_by_id(std::string_view id);
  // Tickets in waiting, called or serving state.
  Expected<std::vector<TicketRow>> active_tickets();
  Expected<std::vector<TicketRow>> tickets_of_day(int day);
  Expected<std::vector<CallRow>> recent_calls(int limit);
  // Durations (ms) of the most recent completed services of a service, newest first.
  Expected<std::vector<std::int64_t>> recent_service_durations(std::string_view service, int limit);

  // Counters and devices.
  Expected<std::vector<CounterRow>> counters();
  Expected<void> save_counter(const CounterRow& counter);
  Expected<std::vector<DeviceRow>> devices();
  Expected<void> save_device(const DeviceRow& device);

  // Replies recorded per (device, correlation data), for retried requests.
  Expected<std::optional<std::string>> find_reply(std::string_view device, std::string_view correlation);
  Expected<void> save_reply(std::string_view device, std::string_view correlation, std::string_view op,
                            std::string_view reply, std::int64_t ts);
  Expected<int> prune_replies(std::int64_t before_ts);

  Expected<void> insert_rating(std::int64_t ts, std::string_view counter, const std::optional<std::string>& ticket,
                               int score, std::string_view device);
  Expected<void> insert_help(std::string_view id, std::int64_t ts, std::string_view device,
                             const std::optional<std::string>& counter, std::string_view need);

  Expected<std::optional<AppointmentRow>> appointment(std::string_view code);
  Expected<void> save_appointment(const AppointmentRow& appointment);

  // Raw telemetry, kept at the hall for the configured retention.
  Expected<void> insert_sample(std::string_view device, std::int64_t received_ts, std::int64_t ts,
                               std::string_view metrics_json);
  Expected<std::vector<StoredSample>> samples_since(std::int64_t received_from);
  // Deletes at most limit samples received before the time; returns how many.
  Expected<int> purge_samples(std::int64_t received_before, int limit);
  // Per device: samples received before this time are in a telemetry.summary.
  Expected<std::vector<std::pair<std::string, std::int64_t>>> summary_marks();
  Expected<void> save_summary_mark(std::string_view device, std::int64_t summarized_until);

  // Alerts (all but resolved ones are "open").
  Expected<void> save_alert(const AlertRow& alert);
  Expected<std::vector<AlertRow>> open_alerts();
  // Help requests: state of one ("open", "answered"); answering an open one.
  Expected<std::optional<std::string>> help_state(std::string_view id);
  Expected<bool> answer_help(std::string_view id, std::int64_t ts, std::string_view by);

  // PRAGMA integrity_check == "ok".
  Expected<bool> integrity_ok();
  // Checkpoint the WAL now. The daemon leaves routine checkpoints to its
  // Checkpointer thread; SQLite's own (every 10,000 pages) is a backstop.
  void checkpoint();

 private:
  EdgeStore(Database db, std::string hall);
  Expected<void> migrate();
  Expected<void> prepare_statements();
  Expected<void> load_chain_head();
  Expected<TicketRow> read_ticket(Statement& s);
  Expected<std::optional<TicketRow>> first_ticket(Statement& s);

  Database db_;
  std::string hall_;
  std::string store_id_;
  std::int64_t last_seq_ = 0;
  protocol::ChainHash last_chain_{};
  struct Statements;
  std::unique_ptr<Statements> st_;
};

}  // namespace yiban::edge::store
