#pragma once
// Central's durable store (ARCHITECTURE §6, §7): every hall's event log kept
// exactly as received, plus projections (live hall status, per-ticket facts,
// daily KPIs) updated in the same transaction as the events they come from.
//
// The interface is what the sync server and the HTTP API use, so that a city
// that outgrows one machine can implement it on PostgreSQL without touching
// either. open_sqlite_central_store() is the default backend.
//
// Threading: one object per thread. The sync server owns the only writer; the
// HTTP API opens its own object and only reads (WAL readers never block the
// writer).

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "yiban/protocol/chain.h"
#include "yiban/protocol/error.h"

namespace yiban::central {

// What the sync server needs to resume a hall.
struct HallSyncState {
  std::string hall;
  std::int64_t acked = 0;  // highest event seq durably stored
  protocol::ChainHash chain{};  // chain(acked); kChainZero when acked == 0
  std::int64_t edge_last_seq = 0;  // the edge's own last seq as it last told us
  std::int64_t down_applied = 0;  // highest command the edge confirmed applied
  std::int64_t down_last = 0;  // highest command queued for the hall (0: none)
  bool integrity_ok = true;
  std::string integrity_reason;  // why it is broken, when it is
  // Store identity (protocol/README.md): the hall's edge store id ("": none
  // recorded yet), the one last refused with store_changed ("": none), and
  // the hall's highest command seq when the current DOWN epoch began.
  std::string store_id;
  std::string store_refused;
  std::int64_t down_base = 0;
};

// Central's own identity (settings store_id, down_epoch, down_epoch_prev).
struct StoreIdentity {
  std::string store_id;
  std::string down_epoch;
  std::string down_epoch_prev;  // the epoch a restore started from ("": none)
};

// A command for a hall (§6 DOWN). text is the exact frame sent to the edge:
// {"down_seq":N,"ts":…,"type":"…","data":{…}}.
struct StoredCommand {
  std::int64_t down_seq = 0;
  std::string text;
};

struct KpiQuery {
  std::optional<std::string> hall;
  std::optional<std::string> service;
  int from_day = 0;  // yyyymmdd inclusive; 0 = no bound
  int to_day = 0;  // yyyymmdd inclusive; 0 = no bound
};

// Cross-region cases (protocol/CASES.md).
struct CaseQuery {
  std::optional<std::string> hall;  // cases whose origin or handler is this hall
  std::optional<std::string> state;
  bool late_only = false;
  int limit = 50;
  int offset = 0;
  std::int64_t now = 0;  // for "late"
};
struct RoutedCommand {  // a case step forwarded to a hall as a DOWN command
  std::string hall;
  std::int64_t down_seq = 0;
};
struct WantedBlob {  // a case file central does not have yet
  std::string sha256;
  std::int64_t size = 0;
};
struct CaseParties {
  std::string origin;
  std::string handler;
};

// Appointments (protocol/BOOKINGS.md).
struct NewBooking {
  std::string code;
  std::string hall;
  std::string service;
  std::int64_t slot_start = 0;
  std::int64_t slot_end = 0;
  int person_day = 0;  // yyyymmdd of the slot (one booking per person, service and day)
  std::string id_hash;
  std::string name;  // masked
  std::string phone;  // central's bookings only; for its own reminders
  std::string special_need;
  std::int64_t now = 0;
  int central_quota = 0;  // seats central owns in the slot before any moved to the hall
  int no_show_count = 3;  // the no-show rule
  std::int64_t no_show_within_ms = 0;
  std::int64_t no_show_block_ms = 0;
};
struct BookingOutcome {
  int status = 200;  // HTTP status
  std::string error;  // code when status >= 300: full, duplicate, blocked, not_found, invalid_state
  std::string message;
  std::string booking;  // the booking's JSON when it succeeded
};
struct SlotCount {
  std::int64_t slot_start = 0;
  int central = 0;  // active bookings central took
  int hall = 0;  // active walk-ups the hall took
  int moved = 0;  // central seats moved to the hall
};
struct BookingQuery {
  std::optional<std::string> hall;
  std::optional<std::string> state;
  std::int64_t from = 0;  // slot_start range, UTC ms; 0: open
  std::int64_t to = 0;
  int limit = 50;
  int offset = 0;
};

// What central keeps besides its event log (which it keeps whole): central's
// --retention-* options. A command the hall has applied is kept N days (the
// newest one per hall always, so DOWN numbering goes on after it); a
// delivered or dead notification N days; the per-ticket projection N days
// after issue (kpi_daily keeps each day's figures; a p90 over older days is
// then not available).
struct CentralRetention {
  int commands_days = 90;
  int outbox_days = 30;
  int tickets_days = 400;
  int batch = 5000;  // rows per table per prune() call
};
struct RetentionCounts {
  std::int64_t commands = 0, outbox = 0, tickets = 0;
  std::int64_t total() const { return commands + outbox + tickets; }
};

class CentralStore {
 public:
  virtual ~CentralStore() = default;

  // ---- sync side: one writer thread -------------------------------------
  // Every hall central has heard of.
  virtual protocol::Expected<std::vector<HallSyncState>> load_halls() = 0;
  virtual protocol::Expected<std::optional<HallSyncState>> load_hall(std::string_view hall) = 0;

  // A transaction may hold writes for many halls (group commit); commit()
  // returns once it is durable.
  virtual protocol::Expected<void> begin() = 0;
  virtual protocol::Expected<void> commit() = 0;
  virtual void rollback() = 0;

  // Inside a transaction. Records that the hall spoke (creating its row on
  // first contact): its own last seq, the time, whether it is connected, and
  // the name/region it announced (empty: keep what is known).
  virtual protocol::Expected<void> note_contact(std::string_view hall, std::int64_t edge_last_seq, std::int64_t ts,
                                                bool connected, std::string_view name, std::string_view region,
                                                int capacity = 0) = 0;

  // Inside a transaction. Stores events from, from+1, … exactly as given and
  // updates every projection; the hall's acked becomes from+texts.size()-1
  // and its chain chain_after. The caller has checked that from == acked+1
  // and that the chain matches. All or nothing: on a failure (an event that
  // is not a valid §4 envelope of this hall with the expected seq) nothing of
  // the batch is kept and the error names the event.
  virtual protocol::Expected<void> append_events(std::string_view hall, std::int64_t from,
                                                 std::span<const std::string_view> texts,
                                                 const protocol::ChainHash& chain_after) = 0;

  // Inside a transaction. Marks the hall's log broken (ok=false, with why) or
  // clears the mark (an operator did, ok=true).
  virtual protocol::Expected<void> set_integrity(std::string_view hall, bool ok, std::string_view reason,
                                                 std::int64_t ts) = 0;

  // Inside a transaction. Queues a command for the hall and returns its
  // down_seq (1, 2, … per hall). data_json must be a JSON object's text.
  virtual protocol::Expected<std::int64_t> enqueue_command(std::string_view hall, std::int64_t ts,
                                                           std::string_view type, std::string_view data_json) = 0;
  // Inside a transaction. The edge confirmed commands up to applied.
  virtual protocol::Expected<void> set_down_applied(std::string_view hall, std::int64_t applied) = 0;
  // Inside a transaction. Sets the confirmed count as given (it may go
  // down: a hall re-based onto this store's DOWN epoch).
  virtual protocol::Expected<void> rebase_down_applied(std::string_view hall, std::int64_t applied) = 0;
  // Central's store id and DOWN epoch, read at open.
  virtual StoreIdentity store_identity() const = 0;
  // Inside a transaction. Records the hall's edge store (first HELLO, or an
  // admin accepting a new one: by non-empty, with the time).
  virtual protocol::Expected<void> set_hall_store(std::string_view hall, std::string_view store_id, std::int64_t ts,
                                                  std::string_view by) = 0;
  // Inside a transaction. The store id refused with store_changed.
  virtual protocol::Expected<void> note_store_refused(std::string_view hall, std::string_view store_id) = 0;

  // Inside a transaction. Small named values central keeps (e.g. which
  // catalog version each hall was sent).
  virtual protocol::Expected<void> set_setting(std::string_view key, std::string_view value) = 0;

  // ---- cross-region cases (sync side, inside a transaction) ------------------
  // Projection of case.* events happens in append_events; these move the
  // steps between halls. Forwards whose files are all here (and whose hall
  // known_hall accepts) become DOWN commands, in order per case and hall.
  virtual protocol::Expected<std::vector<RoutedCommand>> route_cases(
      std::int64_t ts, const std::function<bool(std::string_view)>& known_hall) = 0;
  virtual protocol::Expected<void> set_blob_present(std::string_view sha256, std::int64_t ts) = 0;
  // Raises (and resolves) central's own SLA alerts; returns how many changed.
  virtual protocol::Expected<int> sweep_case_sla(std::int64_t now) = 0;
  // Removes what central's retention policy no longer keeps, at most
  // policy.batch rows per table per call (inside the caller's transaction).
  // Central keeps every event; see CentralRetention.
  virtual protocol::Expected<RetentionCounts> prune(std::int64_t now, const CentralRetention& policy) = 0;
  // A view or download at central (what: detail, material).
  virtual protocol::Expected<void> record_case_access(std::string_view id, std::int64_t ts, std::string_view by,
                                                      std::string_view what, std::string_view sha256) = 0;
  // ---- cross-region cases (read side) ------------------------------------
  // Files named by cases that central does not have, which this hall sent.
  virtual protocol::Expected<std::vector<WantedBlob>> blobs_wanted_from(std::string_view hall) = 0;
  // Whether hall is a party (origin or handler) of a case naming the file.
  virtual protocol::Expected<bool> blob_allowed(std::string_view hall, std::string_view sha256) = 0;
  virtual protocol::Expected<std::optional<CaseParties>> case_parties(std::string_view id) = 0;
  // {"cases":[summary…],"total"}; the detail with timeline, materials, access.
  virtual protocol::Expected<std::string> cases_json(const CaseQuery& query) = 0;
  virtual protocol::Expected<std::optional<std::string>> case_json(std::string_view id, std::int64_t now) = 0;
  // A case's material: {name, type} or nullopt when the case does not name it.
  virtual protocol::Expected<std::optional<std::pair<std::string, std::string>>> case_material(
      std::string_view id, std::string_view sha256) = 0;

  // ---- appointments (inside a transaction, the sync thread) ---------------
  // One booking with the rules checked in the same transaction; an outcome
  // with status >= 300 wrote nothing.
  virtual protocol::Expected<BookingOutcome> book(const NewBooking& booking) = 0;
  virtual protocol::Expected<BookingOutcome> cancel_booking(std::string_view code, std::int64_t now) = 0;
  // Moves a booking to another slot (the same checks, the same code).
  virtual protocol::Expected<BookingOutcome> reschedule_booking(std::string_view code, const NewBooking& to) = 0;
  virtual protocol::Expected<void> add_moved_seats(std::string_view hall, std::string_view service,
                                                   std::int64_t slot_start, int seats, std::int64_t now) = 0;
  // Queues a notification (the webhook outbox, yiban/runtime/notifier.h).
  virtual protocol::Expected<std::int64_t> enqueue_notification(std::string_view type, std::string_view json_object,
                                                                std::int64_t now) = 0;
  // Day-before reminders for central's bookings whose slot starts within
  // the next 24 hours (once each); returns how many were queued.
  virtual protocol::Expected<int> queue_booking_reminders(std::int64_t now) = 0;
  // ---- appointments (read side) -------------------------------------------
  // Per slot in [from, to): bookings by source and seats moved (slots without any are absent).
  virtual protocol::Expected<std::vector<SlotCount>> slot_counts(std::string_view hall, std::string_view service,
                                                                 std::int64_t from, std::int64_t to) = 0;
  virtual protocol::Expected<std::optional<std::string>> booking_json(std::string_view code) = 0;
  virtual protocol::Expected<std::string> bookings_json(const BookingQuery& query) = 0;

  // ---- read side --------------------------------------------------------
  virtual protocol::Expected<std::optional<std::string>> get_setting(std::string_view key) = 0;
  virtual protocol::Expected<std::vector<StoredCommand>> commands_after(std::string_view hall, std::int64_t after,
                                                                        int limit) = 0;
  // Stored event texts with seq > after, oldest first, at most limit.
  virtual protocol::Expected<std::vector<std::string>> events_after(std::string_view hall, std::int64_t after,
                                                                    int limit) = 0;
  virtual protocol::Expected<std::int64_t> event_count() = 0;

  // JSON documents for the HTTP API (shapes in central/README.md).
  virtual protocol::Expected<std::string> halls_json() = 0;
  virtual protocol::Expected<std::optional<std::string>> hall_json(std::string_view hall) = 0;
  virtual protocol::Expected<std::string> kpi_json(const KpiQuery& query) = 0;
  virtual protocol::Expected<std::string> alerts_json(std::optional<std::string_view> hall) = 0;
  // Waiting and occupancy every 15 minutes of a business day (0: the hall's
  // latest): {"hall","day","series":[{"ts","waiting","occupancy"}]}; nullopt
  // for an unknown hall.
  virtual protocol::Expected<std::optional<std::string>> hall_series_json(std::string_view hall, int day) = 0;
  // {"wait_histogram":[{"from_min","to_min","count"}],"served_per_hour":[{"hour","served"}],
  //  "satisfaction_per_hall":[{"hall","name","ratings","satisfaction"}]} for the query's halls and days.
  virtual protocol::Expected<std::string> kpi_charts_json(const KpiQuery& query) = 0;

  // ---- maintenance -------------------------------------------------------
  // Recomputes every projection from the stored events, in one transaction.
  virtual protocol::Expected<void> rebuild() = 0;
  // SHA-256 (hex) over every projection row in a fixed order, excluding
  // connection liveness (connected, last contact): equal digests mean equal
  // projections. Used to prove rebuild() gives identical results.
  virtual protocol::Expected<std::string> projection_digest() = 0;
};

// The schema version today's code migrates central's SQLite store to.
inline constexpr int kSqliteSchemaVersion = 10;

// Opens (creating and migrating if needed) central's SQLite store: WAL,
// synchronous=FULL, schema versioned by PRAGMA user_version.
protocol::Expected<std::unique_ptr<CentralStore>> open_sqlite_central_store(const std::string& path);
// The newest schema version (PRAGMA user_version) this build understands.
int central_schema_version();

}  // namespace yiban::central
