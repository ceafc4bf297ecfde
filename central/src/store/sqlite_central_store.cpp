// SqliteCentralStore: CentralStore on one SQLite file (ARCHITECTURE §7).
// Events are kept verbatim in `events`; every other table except `halls`'
// sync columns and `commands` is a projection written by Projector, so
// rebuild() can recompute it from the log.

#include <fmt/format.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <ctime>
#include <chrono>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <tuple>

#include "store/booking_tables.h"
#include "yiban/runtime/notifier.h"
#include "store/case_tables.h"
#include "store/projector.h"
#include "yiban/central/central_store.h"
#include "yiban/runtime/sqlite.h"
#include "yiban/protocol/event.h"
#include "yiban/protocol/personal_data.h"
#include "yiban/protocol/sync.h"

namespace yiban::central {
namespace {

using runtime::Database;
using runtime::Statement;
using nlohmann::json;
using protocol::Expected;

// Migration N brings user_version from N-1 to N. Never edit a released step;
// add a new one. Besides the documented columns, tickets keeps calls (how many
// times the ticket was called; 0 → first call) and wait_service (the service
// the ticket waited in at its first call, which is where kpi_daily counts its
// wait, so the p90 in kpi_json agrees with the mean after a transfer).
const std::array<std::string_view, 10> kMigrations{R"sql(
CREATE TABLE events(
  hall TEXT NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL, type TEXT NOT NULL, text TEXT NOT NULL,
  PRIMARY KEY(hall, seq)) WITHOUT ROWID;
CREATE TABLE halls(
  hall TEXT PRIMARY KEY,
  name TEXT NOT NULL DEFAULT '',
  region TEXT NOT NULL DEFAULT '',
  acked_seq INTEGER NOT NULL DEFAULT 0,
  acked_chain BLOB NOT NULL DEFAULT (zeroblob(32)),
  edge_last_seq INTEGER NOT NULL DEFAULT 0,
  last_contact_ts INTEGER NOT NULL DEFAULT 0,
  connected INTEGER NOT NULL DEFAULT 0,
  integrity_ok INTEGER NOT NULL DEFAULT 1,
  integrity_reason TEXT NOT NULL DEFAULT '',
  integrity_ts INTEGER,
  down_applied INTEGER NOT NULL DEFAULT 0,
  occupancy INTEGER,
  occupancy_ts INTEGER) WITHOUT ROWID;
CREATE TABLE commands(
  hall TEXT NOT NULL, down_seq INTEGER NOT NULL, ts INTEGER NOT NULL, type TEXT NOT NULL, text TEXT NOT NULL,
  PRIMARY KEY(hall, down_seq)) WITHOUT ROWID;
CREATE TABLE tickets(
  hall TEXT NOT NULL,
  ticket TEXT NOT NULL,
  day INTEGER NOT NULL,
  service TEXT NOT NULL,
  number TEXT NOT NULL,
  class TEXT,
  issued_ts INTEGER NOT NULL,
  first_called_ts INTEGER,
  waited_ms INTEGER,
  wait_service TEXT,
  counter TEXT,
  started_ts INTEGER,
  completed_ts INTEGER,
  service_ms INTEGER,
  state TEXT NOT NULL,
  calls INTEGER NOT NULL DEFAULT 0,
  recalls INTEGER NOT NULL DEFAULT 0,
  transfers INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(hall, ticket)) WITHOUT ROWID;
CREATE INDEX tickets_waiting ON tickets(hall, service, issued_ts) WHERE state = 'waiting';
CREATE INDEX tickets_waits ON tickets(hall, day, wait_service, waited_ms) WHERE waited_ms IS NOT NULL;
CREATE TABLE counters(
  hall TEXT NOT NULL, counter TEXT NOT NULL, state TEXT NOT NULL, ticket TEXT, since_ts INTEGER NOT NULL,
  PRIMARY KEY(hall, counter)) WITHOUT ROWID;
CREATE TABLE devices(
  hall TEXT NOT NULL, device TEXT NOT NULL, kind TEXT NOT NULL, online INTEGER NOT NULL, since_ts INTEGER NOT NULL,
  PRIMARY KEY(hall, device)) WITHOUT ROWID;
CREATE TABLE alerts(
  hall TEXT NOT NULL, alert TEXT NOT NULL, rule TEXT NOT NULL, subject TEXT NOT NULL, severity TEXT NOT NULL,
  state TEXT NOT NULL, message TEXT NOT NULL, raised_ts INTEGER NOT NULL, acked_ts INTEGER, acked_by TEXT,
  resolved_ts INTEGER, PRIMARY KEY(hall, alert)) WITHOUT ROWID;
CREATE INDEX alerts_active ON alerts(hall, raised_ts) WHERE state IN ('raised', 'acknowledged');
CREATE TABLE kpi_daily(
  hall TEXT NOT NULL, day INTEGER NOT NULL, service TEXT NOT NULL,
  issued INTEGER NOT NULL, served INTEGER NOT NULL, no_shows INTEGER NOT NULL,
  wait_sum_ms INTEGER NOT NULL, waits INTEGER NOT NULL, service_sum_ms INTEGER NOT NULL, services INTEGER NOT NULL,
  ratings INTEGER NOT NULL, ratings_good INTEGER NOT NULL,
  PRIMARY KEY(hall, day, service)) WITHOUT ROWID;
)sql",
                                                        // 2: a hall's capacity, announced in HELLO.
                                                        R"sql(
ALTER TABLE halls ADD COLUMN capacity INTEGER NOT NULL DEFAULT 0;
)sql",
                                                        // 3: named values (catalog versions sent).
                                                        R"sql(
CREATE TABLE settings(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
)sql",
                                                        // 4: cross-region cases (store/case_tables.h).
                                                        R"sql(
CREATE TABLE cases(
  id TEXT PRIMARY KEY, origin TEXT NOT NULL, handler TEXT NOT NULL, service TEXT NOT NULL, state TEXT NOT NULL,
  attempt INTEGER NOT NULL, file TEXT NOT NULL, submitted_ts INTEGER NOT NULL, updated_ts INTEGER NOT NULL,
  prereview_due INTEGER, complete_due INTEGER, result TEXT) WITHOUT ROWID;
CREATE INDEX cases_origin ON cases(origin, submitted_ts);
CREATE INDEX cases_handler ON cases(handler, submitted_ts);
CREATE TABLE case_steps(
  id TEXT NOT NULL, hall TEXT NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL, step TEXT NOT NULL,
  by_whom TEXT NOT NULL, note TEXT NOT NULL, attempt INTEGER NOT NULL, PRIMARY KEY(id, hall, seq)) WITHOUT ROWID;
CREATE TABLE case_materials(
  id TEXT NOT NULL, sha256 TEXT NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL, size INTEGER NOT NULL,
  attempt INTEGER NOT NULL, source TEXT NOT NULL, PRIMARY KEY(id, sha256)) WITHOUT ROWID;
CREATE INDEX case_materials_sha ON case_materials(sha256);
CREATE TABLE case_access(
  id TEXT NOT NULL, hall TEXT NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL, by_whom TEXT NOT NULL,
  what TEXT NOT NULL, sha256 TEXT, PRIMARY KEY(id, hall, seq)) WITHOUT ROWID;
CREATE TABLE case_forwards(
  hall TEXT NOT NULL, seq INTEGER NOT NULL, case_id TEXT NOT NULL, to_hall TEXT NOT NULL, type TEXT NOT NULL,
  data TEXT NOT NULL, needs TEXT NOT NULL, down_seq INTEGER, PRIMARY KEY(hall, seq)) WITHOUT ROWID;
CREATE INDEX case_forwards_pending ON case_forwards(case_id, to_hall, hall, seq) WHERE down_seq IS NULL;
CREATE TABLE blobs(
  sha256 TEXT PRIMARY KEY, size INTEGER NOT NULL, source TEXT NOT NULL, present INTEGER NOT NULL DEFAULT 0,
  present_ts INTEGER) WITHOUT ROWID;
CREATE INDEX blobs_wanted ON blobs(source) WHERE present = 0;
CREATE TABLE case_alerts(
  case_id TEXT NOT NULL, rule TEXT NOT NULL, hall TEXT NOT NULL, message TEXT NOT NULL, raised_ts INTEGER NOT NULL,
  resolved_ts INTEGER, PRIMARY KEY(case_id, rule)) WITHOUT ROWID;
CREATE TABLE central_access(
  id TEXT NOT NULL, ts INTEGER NOT NULL, by_whom TEXT NOT NULL, what TEXT NOT NULL, sha256 TEXT);
CREATE INDEX central_access_case ON central_access(id, ts);
)sql",
                                                        // 5: appointments (store/booking_tables.h).
                                                        R"sql(
CREATE TABLE bookings(
  code TEXT PRIMARY KEY, hall TEXT NOT NULL, service TEXT NOT NULL, slot_start INTEGER NOT NULL,
  slot_end INTEGER NOT NULL, id_hash TEXT NOT NULL, person_day INTEGER NOT NULL, name TEXT NOT NULL, phone TEXT,
  special_need TEXT, state TEXT NOT NULL, source TEXT NOT NULL, created_ts INTEGER NOT NULL,
  updated_ts INTEGER NOT NULL, ticket TEXT) WITHOUT ROWID;
CREATE INDEX bookings_slot ON bookings(hall, service, slot_start, source) WHERE state IN ('booked', 'checked_in');
CREATE INDEX bookings_person ON bookings(id_hash, service, person_day) WHERE state IN ('booked', 'checked_in');
CREATE INDEX bookings_time ON bookings(slot_start);
CREATE TABLE booking_moves(
  hall TEXT NOT NULL, service TEXT NOT NULL, slot_start INTEGER NOT NULL, moved INTEGER NOT NULL,
  ts INTEGER NOT NULL, PRIMARY KEY(hall, service, slot_start)) WITHOUT ROWID;
CREATE TABLE booking_no_shows(code TEXT PRIMARY KEY, id_hash TEXT NOT NULL, ts INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX booking_no_shows_person ON booking_no_shows(id_hash, ts);
)sql",
                                                        // 6: the notification outbox (yiban/runtime/notifier.h).
                                                        runtime::notify_schema(),
                                                        // 7: day-before reminders sent.
                                                        R"sql(
ALTER TABLE bookings ADD COLUMN reminded_ts INTEGER;
)sql",
                                                        // 8: retention and the indexes of every console/KPI query (issue 15).
                                                        R"sql(
CREATE INDEX commands_ts ON commands(ts);
CREATE INDEX tickets_issued ON tickets(issued_ts);
CREATE INDEX notify_outbox_done ON notify_outbox(created_ts) WHERE state <> 'pending';
)sql",
                                                        // 9: personal data kept in the hall (issue 15).
                                                        R"sql(
UPDATE cases SET file = json_remove(file, '$.contact', '$.note') WHERE json_valid(file);
UPDATE case_steps SET note = '' WHERE step = 'submitted';
UPDATE case_forwards SET data = json_remove(data, '$.contact', '$.note') WHERE type = 'case.assign' AND json_valid(data);
UPDATE commands SET text = json_remove(text, '$.contact', '$.note') WHERE type = 'case.assign' AND json_valid(text);
UPDATE commands SET text = json_remove(text, '$.phone', '$.special_need') WHERE type = 'booking.add' AND json_valid(text);
UPDATE bookings SET special_need = NULL WHERE source <> 'central';
UPDATE alerts SET message = CASE rule WHEN 'help' THEN '求助（详情在本厅）' ELSE '预约有特殊需要（详情在本厅）' END
  WHERE rule IN ('help', 'special_need') AND instr(message, '：') > 0;
)sql",
                                                        // 10: store identity and DOWN epochs (issue 15).
                                                        R"sql(
ALTER TABLE halls ADD COLUMN store_id TEXT NOT NULL DEFAULT '';
ALTER TABLE halls ADD COLUMN store_refused TEXT NOT NULL DEFAULT '';
ALTER TABLE halls ADD COLUMN store_accepted_ts INTEGER;
ALTER TABLE halls ADD COLUMN store_accepted_by TEXT NOT NULL DEFAULT '';
ALTER TABLE halls ADD COLUMN down_base INTEGER NOT NULL DEFAULT 0;
)sql"};

static_assert(kMigrations.size() == static_cast<std::size_t>(kSqliteSchemaVersion));

// Projection tables in digest order, each with its columns in primary-key order first.
struct DigestTable {
  std::string_view name;
  std::string_view sql;
  int columns;
};
constexpr std::array<DigestTable, 10> kDigestTables{{
    {"tickets",
     "SELECT hall, ticket, day, service, number, class, issued_ts, first_called_ts, waited_ms, "
     "wait_service, "
     "counter, started_ts, completed_ts, service_ms, state, calls, recalls, transfers FROM tickets "
     "ORDER BY hall, ticket",
     18},
    {"counters",
     "SELECT hall, counter, state, ticket, since_ts FROM counters ORDER BY hall, counter", 5},
    {"devices", "SELECT hall, device, kind, online, since_ts FROM devices ORDER BY hall, device",
     5},
    {"alerts",
     "SELECT hall, alert, rule, subject, severity, state, message, raised_ts, acked_ts, acked_by, "
     "resolved_ts "
     "FROM alerts ORDER BY hall, alert",
     11},
    {"kpi_daily",
     "SELECT hall, day, service, issued, served, no_shows, wait_sum_ms, waits, service_sum_ms, "
     "services, ratings, "
     "ratings_good FROM kpi_daily ORDER BY hall, day, service",
     12},
    {"halls", "SELECT hall, occupancy, occupancy_ts FROM halls ORDER BY hall", 3},
    {"cases",
     "SELECT id, origin, handler, service, state, attempt, file, submitted_ts, updated_ts, prereview_due, "
     "complete_due, result FROM cases ORDER BY id",
     12},
    {"case_steps", "SELECT id, hall, seq, ts, step, by_whom, note, attempt FROM case_steps ORDER BY id, hall, seq", 8},
    {"case_materials",
     "SELECT id, sha256, name, type, size, attempt, source FROM case_materials ORDER BY id, sha256", 7},
    {"case_access", "SELECT id, hall, seq, ts, by_whom, what, sha256 FROM case_access ORDER BY id, hall, seq", 7},
}};

constexpr std::string_view kAlertColumns =
    "hall, alert, rule, subject, severity, state, message, raised_ts, acked_ts, acked_by";

// Lower-case id of segments [a-z][a-z_]* joined by dots, with at least
// min_dots dots: event types need one ("ticket.issued"), command types none
// ("notice", "config.set").
bool is_dotted_type(std::string_view type, int min_dots = 1) {
  if (type.empty() || type.size() > 64) return false;
  bool segment_start = true;
  int dots = 0;
  for (char c : type) {
    if (c == '.') {
      if (segment_start) return false;
      segment_start = true;
      ++dots;
    } else if (c >= 'a' && c <= 'z') {
      segment_start = false;
    } else if (c == '_' && !segment_start) {
      continue;
    } else {
      return false;
    }
  }
  return dots >= min_dots && !segment_start;
}

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::int64_t seconds_since(std::int64_t now, std::int64_t ts) {
  return std::max<std::int64_t>(0, (now - ts) / 1000);
}

json opt_int(const Statement& s, int i) {
  return s.column_is_null(i) ? json(nullptr) : json(s.column_int(i));
}
json opt_text(const Statement& s, int i) {
  return s.column_is_null(i) ? json(nullptr) : json(s.column_text(i));
}
json ratio(std::int64_t num, std::int64_t den, double scale = 1.0) {
  return den == 0 ? json(nullptr)
                  : json(static_cast<double>(num) / static_cast<double>(den) / scale);
}

// Nearest-rank percentile of sorted values (ms), in seconds; null when empty.
json p90_s(const std::vector<std::int64_t>& sorted) {
  if (sorted.empty()) return nullptr;
  auto rank = static_cast<std::size_t>(std::ceil(0.9 * static_cast<double>(sorted.size())));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return static_cast<double>(sorted[rank - 1]) / 1000.0;
}

json alert_row(const Statement& s) {
  return json{{"hall", s.column_text(0)},     {"alert", s.column_text(1)},
              {"rule", s.column_text(2)},     {"subject", s.column_text(3)},
              {"severity", s.column_text(4)}, {"state", s.column_text(5)},
              {"message", s.column_text(6)},  {"raised_ts", s.column_int(7)},
              {"acked_ts", opt_int(s, 8)},    {"acked_by", opt_text(s, 9)}};
}

class SqliteCentralStore final : public CentralStore {
 public:
  static Expected<std::unique_ptr<CentralStore>> open(const std::string& path);
  ~SqliteCentralStore() override {
    if (db_.in_transaction()) (void)db_.exec("ROLLBACK");
  }

  Expected<std::vector<HallSyncState>> load_halls() override;
  Expected<std::optional<HallSyncState>> load_hall(std::string_view hall) override;
  Expected<void> begin() override;
  Expected<void> commit() override;
  void rollback() override;
  Expected<void> note_contact(std::string_view hall, std::int64_t edge_last_seq, std::int64_t ts,
                              bool connected, std::string_view name, std::string_view region,
                              int capacity) override;
  Expected<void> append_events(std::string_view hall, std::int64_t from,
                               std::span<const std::string_view> texts,
                               const protocol::ChainHash& chain_after) override;
  Expected<void> set_integrity(std::string_view hall, bool ok, std::string_view reason,
                               std::int64_t ts) override;
  Expected<std::int64_t> enqueue_command(std::string_view hall, std::int64_t ts,
                                         std::string_view type,
                                         std::string_view data_json) override;
  Expected<void> set_down_applied(std::string_view hall, std::int64_t applied) override;
  Expected<void> rebase_down_applied(std::string_view hall, std::int64_t applied) override;
  StoreIdentity store_identity() const override { return identity_; }
  Expected<void> set_hall_store(std::string_view hall, std::string_view store_id, std::int64_t ts,
                                std::string_view by) override;
  Expected<void> note_store_refused(std::string_view hall, std::string_view store_id) override;
  Expected<std::vector<StoredCommand>> commands_after(std::string_view hall, std::int64_t after,
                                                      int limit) override;
  Expected<std::vector<std::string>> events_after(std::string_view hall, std::int64_t after,
                                                  int limit) override;
  Expected<std::int64_t> event_count() override;
  Expected<std::string> halls_json() override;
  Expected<std::optional<std::string>> hall_json(std::string_view hall) override;
  Expected<std::string> kpi_json(const KpiQuery& query) override;
  Expected<std::string> alerts_json(std::optional<std::string_view> hall) override;
  Expected<std::optional<std::string>> hall_series_json(std::string_view hall, int day) override;
  Expected<void> set_setting(std::string_view key, std::string_view value) override {
    auto st = db_.prepare("INSERT INTO settings(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE SET value = ?2");
    if (!st) return std::unexpected(st.error());
    return st->bind(1, key).bind(2, value).run();
  }
  Expected<std::optional<std::string>> get_setting(std::string_view key) override {
    auto st = db_.prepare("SELECT value FROM settings WHERE key = ?1");
    if (!st) return std::unexpected(st.error());
    st->bind(1, key);
    auto row = st->step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return std::optional<std::string>();
    return std::optional<std::string>(st->column_text(0));
  }
  Expected<std::string> kpi_charts_json(const KpiQuery& query) override;
  Expected<void> rebuild() override;
  Expected<std::string> projection_digest() override;

  Expected<std::vector<RoutedCommand>> route_cases(std::int64_t ts,
                                                   const std::function<bool(std::string_view)>& known_hall) override {
    return cases_->route(ts, known_hall, [this, ts](std::string_view hall, std::string_view type, std::string_view data) {
      return enqueue_command(hall, ts, type, data);
    });
  }
  Expected<void> set_blob_present(std::string_view sha256, std::int64_t ts) override {
    return cases_->set_blob_present(sha256, ts);
  }
  Expected<int> sweep_case_sla(std::int64_t now) override { return cases_->sweep_sla(now); }
  Expected<RetentionCounts> prune(std::int64_t now, const CentralRetention& policy) override;
  Expected<void> record_case_access(std::string_view id, std::int64_t ts, std::string_view by, std::string_view what,
                                    std::string_view sha256) override {
    return cases_->record_access(id, ts, by, what, sha256);
  }
  Expected<std::vector<WantedBlob>> blobs_wanted_from(std::string_view hall) override {
    return cases_->wanted_from(hall);
  }
  Expected<bool> blob_allowed(std::string_view hall, std::string_view sha256) override {
    return cases_->allowed(hall, sha256);
  }
  Expected<std::optional<CaseParties>> case_parties(std::string_view id) override { return cases_->parties(id); }
  Expected<std::string> cases_json(const CaseQuery& query) override { return cases_->list_json(query); }
  Expected<std::optional<std::string>> case_json(std::string_view id, std::int64_t now) override {
    return cases_->detail_json(id, now);
  }
  Expected<std::optional<std::pair<std::string, std::string>>> case_material(std::string_view id,
                                                                             std::string_view sha256) override {
    return cases_->material(id, sha256);
  }
  Expected<BookingOutcome> book(const NewBooking& b) override { return bookings_->book(b); }
  Expected<BookingOutcome> cancel_booking(std::string_view code, std::int64_t now) override {
    return bookings_->cancel(code, now);
  }
  Expected<BookingOutcome> reschedule_booking(std::string_view code, const NewBooking& to) override {
    return bookings_->reschedule(code, to);
  }
  Expected<void> add_moved_seats(std::string_view hall, std::string_view service, std::int64_t slot_start, int seats,
                                 std::int64_t now) override {
    return bookings_->add_moved(hall, service, slot_start, seats, now);
  }
  Expected<std::vector<SlotCount>> slot_counts(std::string_view hall, std::string_view service, std::int64_t from,
                                               std::int64_t to) override {
    return bookings_->slot_counts(hall, service, from, to);
  }
  Expected<std::optional<std::string>> booking_json(std::string_view code) override {
    return bookings_->booking_json(code);
  }
  Expected<std::string> bookings_json(const BookingQuery& q) override { return bookings_->bookings_json(q); }
  Expected<std::int64_t> enqueue_notification(std::string_view type, std::string_view json_object,
                                              std::int64_t now) override {
    return runtime::enqueue_notification(db_, type, json_object, now);
  }
  Expected<int> queue_booking_reminders(std::int64_t now) override { return bookings_->queue_reminders(now); }

 private:
  explicit SqliteCentralStore(Database db) : db_(std::move(db)) {}
  Expected<void> migrate();
  // The store id and DOWN epoch (settings), made at creation; re-bases every
  // hall's DOWN numbering when the epoch is not the one it was based on.
  Expected<void> load_identity(const std::string& path);
  Expected<void> prepare_statements();
  Expected<void> ensure_hall(std::string_view hall);
  Expected<void> append_in_savepoint(std::string_view hall, std::int64_t from,
                                     std::span<const std::string_view> texts,
                                     const protocol::ChainHash& chain_after);
  Expected<std::vector<HallSyncState>> read_sync_states(Statement& s);
  Expected<void> replay_all();
  // One stored event into every table that follows it (ingest and rebuild alike).
  Expected<void> project(std::string_view hall, std::int64_t seq, std::int64_t ts, std::string_view type,
                         const json& stored) {
    // An old event's clear personal fields never reach a table (issue 15).
    std::optional<json> redacted;
    if (type == "case.submitted" || type == "help.requested" || type == "appointment.booked" ||
        type == "alert.raised") {
      json copy = stored;
      if (protocol::redact_personal_data(type, copy)) redacted = std::move(copy);
    }
    const json& data = redacted ? *redacted : stored;
    if (auto ok = projector_->apply(hall, seq, ts, type, data); !ok) return ok;
    if (type.starts_with("case.")) return cases_->apply(hall, seq, ts, type, data);
    if (type.starts_with("appointment.")) return bookings_->apply(hall, seq, ts, type, data);
    return {};
  }

  Database db_;
  StoreIdentity identity_;
  std::optional<store::Projector> projector_;
  std::optional<store::CaseTables> cases_;
  std::optional<store::BookingTables> bookings_;
  Statement begin_, commit_, rollback_, savepoint_, release_, rollback_to_;
  Statement ensure_hall_, insert_event_, set_acked_, note_contact_, set_integrity_, next_down_,
      insert_command_, set_down_applied_;
  Statement load_halls_, load_hall_, commands_after_, events_after_, event_count_;
  Statement halls_list_, hall_row_, queues_, counters_of_, devices_of_, alerts_all_,
      alerts_of_hall_;
  Statement kpi_rows_, kpi_waits_, all_events_;
};

Expected<std::unique_ptr<CentralStore>> SqliteCentralStore::open(const std::string& path) {
  auto db = Database::open(path);
  if (!db) return std::unexpected(db.error());
  std::unique_ptr<SqliteCentralStore> store(new SqliteCentralStore(std::move(*db)));
  for (std::string_view pragma :
       {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA busy_timeout=5000",
        "PRAGMA foreign_keys=OFF", "PRAGMA wal_autocheckpoint=10000", "PRAGMA cache_size=-65536",
        "PRAGMA temp_store=MEMORY"}) {
    if (auto ok = store->db_.exec(pragma); !ok)
      return protocol::error(path + ": " + ok.error().message);
  }
  // More lookaside slots: ingest makes many small allocations per statement.
  sqlite3_db_config(store->db_.handle(), SQLITE_DBCONFIG_LOOKASIDE, nullptr, 1200, 1000);
  if (auto ok = store->migrate(); !ok) return protocol::error(path + ": " + ok.error().message);
  if (auto ok = store->load_identity(path); !ok) return protocol::error(path + ": " + ok.error().message);
  if (auto ok = store->prepare_statements(); !ok)
    return protocol::error(path + ": " + ok.error().message);
  return std::unique_ptr<CentralStore>(std::move(store));
}

Expected<void> SqliteCentralStore::load_identity(const std::string& path) {
  auto read = [&](std::string_view key) -> Expected<std::optional<std::string>> { return get_setting(key); };
  if (auto ok = db_.exec("BEGIN IMMEDIATE"); !ok) return ok;
  auto fail = [&](const protocol::Error& e) -> Expected<void> {
    (void)db_.exec("ROLLBACK");
    return std::unexpected(e);
  };
  auto store_id = read("store_id");
  if (!store_id) return fail(store_id.error());
  if (!*store_id) {  // a new store, or one made before store identity
    *store_id = protocol::sync::random_store_id();
    if (auto ok = set_setting("store_id", **store_id); !ok) return fail(ok.error());
    auto epoch = protocol::sync::random_store_id();
    if (auto ok = set_setting("down_epoch", epoch); !ok) return fail(ok.error());
    if (auto ok = set_setting("down_epoch_prev", ""); !ok) return fail(ok.error());
  }
  auto epoch = read("down_epoch");
  auto prev = read("down_epoch_prev");
  auto based = read("down_epoch_based");
  if (!epoch) return fail(epoch.error());
  if (!prev) return fail(prev.error());
  if (!based) return fail(based.error());
  if (!*epoch || !protocol::sync::is_store_id(**epoch))
    return fail(protocol::Error{"settings.down_epoch is missing or not 32 hex digits"});
  identity_.store_id = **store_id;
  identity_.down_epoch = **epoch;
  identity_.down_epoch_prev = prev->value_or("");
  if (based->value_or("") != identity_.down_epoch) {
    // Commands 1..down_base of each hall are the ones it may have applied
    // in the previous epoch; later numbers are new.
    auto ok = db_.exec(
        "UPDATE halls SET down_base = (SELECT COALESCE(max(down_seq), 0) FROM commands c WHERE c.hall = halls.hall), "
        "down_applied = min(down_applied, (SELECT COALESCE(max(down_seq), 0) FROM commands c WHERE c.hall = "
        "halls.hall))");
    if (!ok) return fail(ok.error());
    if (auto set = set_setting("down_epoch_based", identity_.down_epoch); !set) return fail(set.error());
    if (!based->value_or("").empty() || !identity_.down_epoch_prev.empty())
      spdlog::warn("store {}: DOWN epoch {} begins (previous {}): each hall's commands are numbered on from the "
                   "highest this store holds", path, identity_.down_epoch.substr(0, 8),
                   identity_.down_epoch_prev.empty() ? std::string("none") : identity_.down_epoch_prev.substr(0, 8));
  }
  if (auto ok = db_.exec("COMMIT"); !ok) return fail(ok.error());
  return {};
}

Expected<RetentionCounts> SqliteCentralStore::prune(std::int64_t now, const CentralRetention& policy) {
  constexpr std::int64_t kDayMs = 86400000;
  RetentionCounts counts;
  // (sql, cutoff days, counter): each deletes at most policy.batch rows older than its cutoff.
  const struct {
    std::string_view sql;
    int days;
    std::int64_t* removed;
  } steps[] = {
      // Applied by the hall, and not the hall's newest (DOWN numbering continues after that one).
      {"DELETE FROM commands WHERE (hall, down_seq) IN (SELECT c.hall, c.down_seq FROM commands c JOIN halls h "
       "ON h.hall = c.hall WHERE c.ts < ?1 AND c.down_seq <= h.down_applied AND c.down_seq < "
       "(SELECT max(down_seq) FROM commands m WHERE m.hall = c.hall) LIMIT ?2)",
       policy.commands_days, &counts.commands},
      {"DELETE FROM notify_outbox WHERE id IN (SELECT id FROM notify_outbox WHERE state <> 'pending' AND "
       "created_ts < ?1 LIMIT ?2)",
       policy.outbox_days, &counts.outbox},
      // Finished tickets only: a ticket still open in a hall stays whatever its age.
      {"DELETE FROM tickets WHERE (hall, ticket) IN (SELECT hall, ticket FROM tickets WHERE issued_ts < ?1 AND "
       "state NOT IN ('waiting', 'called', 'serving') LIMIT ?2)",
       policy.tickets_days, &counts.tickets},
  };
  for (const auto& step : steps) {
    auto st = db_.prepare(step.sql);
    if (!st) return std::unexpected(st.error());
    if (auto ok = st->bind(1, now - static_cast<std::int64_t>(step.days) * kDayMs).bind(2, policy.batch).run(); !ok)
      return std::unexpected(ok.error());
    *step.removed = db_.changes();
  }
  return counts;
}

Expected<void> SqliteCentralStore::migrate() {
  auto s = db_.prepare("PRAGMA user_version");
  if (!s) return std::unexpected(s.error());
  auto row = s->step();
  if (!row || !*row) return protocol::error("cannot read schema version");
  auto version = s->column_int(0);
  s->reset();
  if (version > static_cast<std::int64_t>(kMigrations.size()))
    return protocol::error(
        fmt::format("database schema version {} is newer than this yiban-central understands ({})",
                    version, kMigrations.size()));
  for (auto step = static_cast<std::size_t>(version); step < kMigrations.size(); ++step) {
    if (auto ok = db_.exec("BEGIN IMMEDIATE"); !ok) return ok;
    auto ok = db_.exec(kMigrations[step]);
    if (ok) ok = db_.exec(fmt::format("PRAGMA user_version={}", step + 1));
    if (!ok) {
      (void)db_.exec("ROLLBACK");
      return protocol::error(
          fmt::format("migration to schema {} failed: {}", step + 1, ok.error().message));
    }
    if (auto committed = db_.exec("COMMIT"); !committed) return committed;
  }
  return {};
}

Expected<void> SqliteCentralStore::prepare_statements() {
  auto projector = store::Projector::create(db_);
  if (!projector) return std::unexpected(projector.error());
  projector_.emplace(std::move(*projector));
  cases_.emplace(db_);
  bookings_.emplace(db_);
  const std::string alerts_select =
      fmt::format("SELECT {} FROM alerts WHERE state IN ('raised', 'acknowledged')", kAlertColumns);
  struct Item {
    Statement* target;
    std::string sql;
  };
  std::vector<Item> items{
      {&begin_, "BEGIN IMMEDIATE"},
      {&commit_, "COMMIT"},
      {&rollback_, "ROLLBACK"},
      {&savepoint_, "SAVEPOINT append_events"},
      {&release_, "RELEASE append_events"},
      {&rollback_to_, "ROLLBACK TO append_events"},
      {&ensure_hall_, "INSERT INTO halls(hall) VALUES(?1) ON CONFLICT(hall) DO NOTHING"},
      {&insert_event_, "INSERT INTO events(hall, seq, ts, type, text) VALUES(?1, ?2, ?3, ?4, ?5)"},
      {&set_acked_,
       "UPDATE halls SET acked_seq = ?2, acked_chain = ?3, edge_last_seq = max(edge_last_seq, ?2) "
       "WHERE hall = ?1"},
      {&note_contact_,
       "INSERT INTO halls(hall, name, region, edge_last_seq, last_contact_ts, connected, capacity) "
       "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(hall) DO UPDATE SET "
       "name = CASE WHEN excluded.name = '' THEN name ELSE excluded.name END, "
       "capacity = CASE WHEN excluded.capacity = 0 THEN capacity ELSE excluded.capacity END, "
       "region = CASE WHEN excluded.region = '' THEN region ELSE excluded.region END, "
       "edge_last_seq = excluded.edge_last_seq, last_contact_ts = excluded.last_contact_ts, "
       "connected = excluded.connected"},
      {&set_integrity_,
       "UPDATE halls SET integrity_ok = ?2, integrity_reason = ?3, integrity_ts = ?4 WHERE hall = "
       "?1"},
      {&next_down_, "SELECT COALESCE(max(down_seq), 0) + 1 FROM commands WHERE hall = ?1"},
      {&insert_command_,
       "INSERT INTO commands(hall, down_seq, ts, type, text) VALUES(?1, ?2, ?3, ?4, ?5)"},
      {&set_down_applied_, "UPDATE halls SET down_applied = max(down_applied, ?2) WHERE hall = ?1"},
      {&load_halls_,
       "SELECT hall, acked_seq, acked_chain, edge_last_seq, down_applied, "
       "(SELECT COALESCE(max(down_seq), 0) FROM commands c WHERE c.hall = h.hall), integrity_ok, "
       "integrity_reason, store_id, store_refused, down_base "
       "FROM halls h ORDER BY hall"},
      {&load_hall_,
       "SELECT hall, acked_seq, acked_chain, edge_last_seq, down_applied, "
       "(SELECT COALESCE(max(down_seq), 0) FROM commands c WHERE c.hall = h.hall), integrity_ok, "
       "integrity_reason, store_id, store_refused, down_base "
       "FROM halls h WHERE hall = ?1"},
      {&commands_after_,
       "SELECT down_seq, text FROM commands WHERE hall = ?1 AND down_seq > ?2 ORDER BY down_seq "
       "LIMIT ?3"},
      {&events_after_,
       "SELECT text FROM events WHERE hall = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3"},
      {&event_count_, "SELECT count(*) FROM events"},
      {&halls_list_,
       "SELECT h.hall, name, region, integrity_ok, connected, last_contact_ts, acked_seq, "
       "edge_last_seq, occupancy, "
       "(SELECT count(*) FROM tickets t WHERE t.hall = h.hall AND t.state = 'waiting'), "
       "(SELECT min(issued_ts) FROM tickets t WHERE t.hall = h.hall AND t.state = 'waiting'), "
       "(SELECT count(*) FROM alerts a WHERE a.hall = h.hall AND a.state IN ('raised', "
       "'acknowledged')), "
       "(SELECT count(*) FROM devices d WHERE d.hall = h.hall AND d.online = 0), capacity "
       "FROM halls h ORDER BY h.hall"},
      {&hall_row_,
       "SELECT h.hall, name, region, integrity_ok, integrity_reason, integrity_ts, acked_seq, "
       "edge_last_seq, "
       "last_contact_ts, connected, down_applied, "
       "(SELECT COALESCE(max(down_seq), 0) FROM commands c WHERE c.hall = h.hall), occupancy, "
       "occupancy_ts "
       "FROM halls h WHERE hall = ?1"},
      {&queues_,
       "SELECT service, count(*), min(issued_ts) FROM tickets WHERE hall = ?1 AND state = "
       "'waiting' "
       "GROUP BY service ORDER BY service"},
      {&counters_of_,
       "SELECT c.counter, c.state, c.ticket, t.number, c.since_ts FROM counters c "
       "LEFT JOIN tickets t ON t.hall = c.hall AND t.ticket = c.ticket WHERE c.hall = ?1 ORDER BY "
       "c.counter"},
      {&devices_of_,
       "SELECT device, kind, online, since_ts FROM devices WHERE hall = ?1 ORDER BY device"},
      {&alerts_all_, alerts_select + " ORDER BY raised_ts DESC, hall, alert"},
      {&alerts_of_hall_, alerts_select + " AND hall = ?1 ORDER BY raised_ts DESC, alert"},
      {&kpi_rows_,
       "SELECT hall, day, service, issued, served, no_shows, wait_sum_ms, waits, service_sum_ms, "
       "services, ratings, "
       "ratings_good FROM kpi_daily WHERE (?1 IS NULL OR hall = ?1) AND (?2 IS NULL OR service = "
       "?2) "
       "AND (?3 = 0 OR day >= ?3) AND (?4 = 0 OR day <= ?4) ORDER BY hall, day, service"},
      // A ticket's wait belongs to the service it waited in (wait_service), as in kpi_daily.
      {&kpi_waits_,
       "SELECT hall, day, wait_service, waited_ms FROM tickets WHERE waited_ms IS NOT NULL "
       "AND (?1 IS NULL OR hall = ?1) AND (?2 IS NULL OR wait_service = ?2) "
       "AND (?3 = 0 OR day >= ?3) AND (?4 = 0 OR day <= ?4) ORDER BY hall, day, wait_service, "
       "waited_ms"},
      {&all_events_, "SELECT hall, seq, ts, type, text FROM events ORDER BY hall, seq"},
  };
  for (auto& item : items) {
    auto s = db_.prepare(item.sql);
    if (!s) return std::unexpected(s.error());
    *item.target = std::move(*s);
  }
  return {};
}

Expected<void> SqliteCentralStore::ensure_hall(std::string_view hall) {
  ensure_hall_.bind(1, hall);
  return ensure_hall_.run();
}

Expected<std::vector<HallSyncState>> SqliteCentralStore::read_sync_states(Statement& s) {
  std::vector<HallSyncState> out;
  while (true) {
    auto row = s.step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    HallSyncState h;
    h.hall = s.column_text(0);
    h.acked = s.column_int(1);
    std::string chain = s.column_blob(2);
    if (chain.size() != h.chain.size()) {
      s.reset();
      return protocol::error(fmt::format("hall {}: malformed acked_chain", h.hall));
    }
    std::copy(chain.begin(), chain.end(), h.chain.begin());
    h.edge_last_seq = s.column_int(3);
    h.down_applied = s.column_int(4);
    h.down_last = s.column_int(5);
    h.integrity_ok = s.column_int(6) != 0;
    h.integrity_reason = s.column_text(7);
    h.store_id = s.column_text(8);
    h.store_refused = s.column_text(9);
    h.down_base = s.column_int(10);
    out.push_back(std::move(h));
  }
  s.reset();
  return out;
}

Expected<std::vector<HallSyncState>> SqliteCentralStore::load_halls() {
  return read_sync_states(load_halls_);
}

Expected<std::optional<HallSyncState>> SqliteCentralStore::load_hall(std::string_view hall) {
  load_hall_.bind(1, hall);
  auto halls = read_sync_states(load_hall_);
  if (!halls) return std::unexpected(halls.error());
  if (halls->empty()) return std::nullopt;
  return std::move(halls->front());
}

Expected<void> SqliteCentralStore::begin() {
  return begin_.run();
}

Expected<void> SqliteCentralStore::commit() {
  auto ok = commit_.run();
  if (!ok) rollback();
  return ok;
}

void SqliteCentralStore::rollback() {
  if (db_.in_transaction()) (void)rollback_.run();
}

Expected<void> SqliteCentralStore::note_contact(std::string_view hall, std::int64_t edge_last_seq,
                                                std::int64_t ts, bool connected,
                                                std::string_view name, std::string_view region, int capacity) {
  auto& s = note_contact_;
  s.bind(1, hall)
      .bind(2, name)
      .bind(3, region)
      .bind(4, edge_last_seq)
      .bind(5, ts)
      .bind(6, connected ? 1 : 0)
      .bind(7, capacity);
  return s.run();
}

Expected<void> SqliteCentralStore::append_events(std::string_view hall, std::int64_t from,
                                                 std::span<const std::string_view> texts,
                                                 const protocol::ChainHash& chain_after) {
  if (!db_.in_transaction()) return protocol::error("append_events outside a transaction");
  if (texts.empty()) return {};
  if (auto ok = savepoint_.run(); !ok) return ok;
  auto ok = append_in_savepoint(hall, from, texts, chain_after);
  if (ok) ok = release_.run();
  if (!ok) {
    projector_->discard();
    (void)rollback_to_.run();
    (void)release_.run();
  }
  return ok;
}

// The body of append_events; the caller rolls the savepoint back on failure.
Expected<void> SqliteCentralStore::append_in_savepoint(std::string_view hall, std::int64_t from,
                                                       std::span<const std::string_view> texts,
                                                       const protocol::ChainHash& chain_after) {
  if (auto ok = ensure_hall(hall); !ok) return ok;
  std::int64_t seq = from;
  for (std::string_view text : texts) {
    auto bad = [&](std::string_view why) {
      return protocol::error(fmt::format("event {}: {}", seq, why));
    };
    if (text.size() > protocol::kMaxEventBytes)
      return bad(fmt::format("{} bytes, more than {}", text.size(), protocol::kMaxEventBytes));
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
    auto field = [&](const char* key) -> const json* {
      auto it = j.find(key);
      return it == j.end() ? nullptr : &*it;
    };
    const json* ev_hall = field("hall");
    if (ev_hall == nullptr || !ev_hall->is_string()) return bad("hall missing or not a string");
    if (ev_hall->get_ref<const std::string&>() != hall)
      return bad(fmt::format("hall is \"{}\", expected \"{}\"",
                             ev_hall->get_ref<const std::string&>(), hall));
    const json* ev_seq = field("seq");
    if (ev_seq == nullptr || !ev_seq->is_number_integer())
      return bad("seq missing or not an integer");
    if (ev_seq->get<std::int64_t>() != seq)
      return bad(fmt::format("seq is {}, expected {}", ev_seq->dump(), seq));
    const json* ts = field("ts");
    if (ts == nullptr || !ts->is_number_integer()) return bad("ts missing or not an integer");
    const json* type = field("type");
    if (type == nullptr || !type->is_string() ||
        !is_dotted_type(type->get_ref<const std::string&>()))
      return bad("type missing or not a dotted lower-case id");
    const json* data = field("data");
    if (data == nullptr || !data->is_object()) return bad("data missing or not an object");
    if (j.size() != 5) return bad("unexpected fields besides hall, seq, ts, type, data");

    const std::string& type_text = type->get_ref<const std::string&>();
    std::int64_t ts_ms = ts->get<std::int64_t>();
    insert_event_.bind(1, hall).bind(2, seq).bind(3, ts_ms).bind(4, type_text).bind(5, text);
    if (auto ok = insert_event_.run(); !ok) return bad(ok.error().message);
    if (auto ok = project(hall, seq, ts_ms, type_text, *data); !ok) return bad(ok.error().message);
    ++seq;
  }
  if (auto ok = projector_->flush(); !ok) return ok;
  auto& s = set_acked_;
  s.bind(1, hall).bind(2, seq - 1);
  s.bind_blob(
      3, std::string_view(reinterpret_cast<const char*>(chain_after.data()), chain_after.size()));
  return s.run();
}

Expected<void> SqliteCentralStore::set_integrity(std::string_view hall, bool ok,
                                                 std::string_view reason, std::int64_t ts) {
  if (auto r = ensure_hall(hall); !r) return r;
  set_integrity_.bind(1, hall).bind(2, ok ? 1 : 0).bind(3, reason).bind(4, ts);
  return set_integrity_.run();
}

Expected<std::int64_t> SqliteCentralStore::enqueue_command(std::string_view hall, std::int64_t ts,
                                                           std::string_view type,
                                                           std::string_view data_json) {
  if (!is_dotted_type(type, 0))
    return protocol::error(fmt::format("command type \"{}\" is not a lower-case id", type));
  json data = json::parse(data_json, nullptr, false);
  if (data.is_discarded() || !data.is_object())
    return protocol::error("command data is not a JSON object");
  if (auto ok = ensure_hall(hall); !ok) return std::unexpected(ok.error());
  next_down_.bind(1, hall);
  auto row = next_down_.step();
  if (!row) return std::unexpected(row.error());
  std::int64_t down_seq = next_down_.column_int(0);
  next_down_.reset();
  std::string text = fmt::format(R"({{"down_seq":{},"ts":{},"type":"{}","data":{}}})", down_seq, ts,
                                 type, data_json);
  insert_command_.bind(1, hall).bind(2, down_seq).bind(3, ts).bind(4, type).bind(5, text);
  if (auto ok = insert_command_.run(); !ok) return std::unexpected(ok.error());
  return down_seq;
}

Expected<void> SqliteCentralStore::set_down_applied(std::string_view hall, std::int64_t applied) {
  if (auto ok = ensure_hall(hall); !ok) return ok;
  set_down_applied_.bind(1, hall).bind(2, applied);
  return set_down_applied_.run();
}

Expected<void> SqliteCentralStore::rebase_down_applied(std::string_view hall, std::int64_t applied) {
  if (auto ok = ensure_hall(hall); !ok) return ok;
  auto st = db_.prepare("UPDATE halls SET down_applied = ?2 WHERE hall = ?1");
  if (!st) return std::unexpected(st.error());
  return st->bind(1, hall).bind(2, applied).run();
}

Expected<void> SqliteCentralStore::set_hall_store(std::string_view hall, std::string_view store_id, std::int64_t ts,
                                                  std::string_view by) {
  if (auto ok = ensure_hall(hall); !ok) return ok;
  auto st = db_.prepare(by.empty() ? "UPDATE halls SET store_id = ?2, store_refused = '' WHERE hall = ?1"
                                   : "UPDATE halls SET store_id = ?2, store_refused = '', store_accepted_ts = ?3, "
                                     "store_accepted_by = ?4 WHERE hall = ?1");
  if (!st) return std::unexpected(st.error());
  st->bind(1, hall).bind(2, store_id);
  if (!by.empty()) st->bind(3, ts).bind(4, by);
  return st->run();
}

Expected<void> SqliteCentralStore::note_store_refused(std::string_view hall, std::string_view store_id) {
  if (auto ok = ensure_hall(hall); !ok) return ok;
  auto st = db_.prepare("UPDATE halls SET store_refused = ?2 WHERE hall = ?1");
  if (!st) return std::unexpected(st.error());
  return st->bind(1, hall).bind(2, store_id).run();
}

Expected<std::vector<StoredCommand>> SqliteCentralStore::commands_after(std::string_view hall,
                                                                        std::int64_t after,
                                                                        int limit) {
  auto& s = commands_after_;
  s.bind(1, hall).bind(2, after).bind(3, limit);
  std::vector<StoredCommand> out;
  while (true) {
    auto row = s.step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    out.push_back(StoredCommand{s.column_int(0), s.column_text(1)});
  }
  s.reset();
  return out;
}

Expected<std::vector<std::string>> SqliteCentralStore::events_after(std::string_view hall,
                                                                    std::int64_t after, int limit) {
  auto& s = events_after_;
  s.bind(1, hall).bind(2, after).bind(3, limit);
  std::vector<std::string> out;
  while (true) {
    auto row = s.step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    out.push_back(s.column_text(0));
  }
  s.reset();
  return out;
}

Expected<std::int64_t> SqliteCentralStore::event_count() {
  auto row = event_count_.step();
  if (!row) return std::unexpected(row.error());
  std::int64_t n = event_count_.column_int(0);
  event_count_.reset();
  return n;
}

Expected<std::string> SqliteCentralStore::halls_json() {
  std::int64_t now = now_ms();
  auto& s = halls_list_;
  json halls = json::array();
  while (true) {
    auto row = s.step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    std::int64_t acked = s.column_int(6);
    std::int64_t edge_last = s.column_int(7);
    halls.push_back(json{
        {"hall", s.column_text(0)},
        {"name", s.column_text(1)},
        {"region", s.column_text(2)},
        {"integrity_ok", s.column_int(3) != 0},
        {"connected", s.column_int(4) != 0},
        {"last_contact_ts", s.column_int(5)},
        {"acked_seq", acked},
        {"edge_last_seq", edge_last},
        {"lag_events", std::max<std::int64_t>(0, edge_last - acked)},
        {"waiting", s.column_int(9)},
        {"longest_wait_s", s.column_is_null(10) ? 0 : seconds_since(now, s.column_int(10))},
        {"occupancy", opt_int(s, 8)},
        {"capacity", s.column_int(13)},
        {"occupancy_pct", s.column_is_null(8) || s.column_int(13) <= 0
                              ? json()
                              : json(100.0 * static_cast<double>(s.column_int(8)) / static_cast<double>(s.column_int(13)))},
        {"alerts_active", s.column_int(11)},
        {"devices_offline", s.column_int(12)},
    });
  }
  s.reset();
  return json{{"halls", std::move(halls)}}.dump();
}

Expected<std::optional<std::string>> SqliteCentralStore::hall_json(std::string_view hall) {
  std::int64_t now = now_ms();
  auto& h = hall_row_;
  h.bind(1, hall);
  auto row = h.step();
  if (!row) return std::unexpected(row.error());
  if (!*row) {
    h.reset();
    return std::nullopt;
  }
  std::int64_t acked = h.column_int(6);
  std::int64_t edge_last = h.column_int(7);
  json out{
      {"hall", h.column_text(0)},
      {"name", h.column_text(1)},
      {"region", h.column_text(2)},
      {"integrity",
       {{"ok", h.column_int(3) != 0},
        {"reason", h.column_text(4).empty() ? json(nullptr) : json(h.column_text(4))},
        {"ts", opt_int(h, 5)}}},
      {"sync",
       {{"acked_seq", acked},
        {"edge_last_seq", edge_last},
        {"lag_events", std::max<std::int64_t>(0, edge_last - acked)},
        {"last_contact_ts", h.column_int(8)},
        {"connected", h.column_int(9) != 0},
        {"down_applied", h.column_int(10)},
        {"down_last", h.column_int(11)}}},
      {"occupancy", h.column_is_null(12)
                        ? json(nullptr)
                        : json{{"value", h.column_int(12)}, {"ts", opt_int(h, 13)}}},
  };
  h.reset();

  json queues = json::array();
  queues_.bind(1, hall);
  while (true) {
    auto r = queues_.step();
    if (!r) return std::unexpected(r.error());
    if (!*r) break;
    std::int64_t oldest = queues_.column_int(2);
    queues.push_back(json{{"service", queues_.column_text(0)},
                          {"waiting", queues_.column_int(1)},
                          {"oldest_issued_ts", oldest},
                          {"oldest_wait_s", seconds_since(now, oldest)}});
  }
  queues_.reset();
  out["queues"] = std::move(queues);

  json counters = json::array();
  counters_of_.bind(1, hall);
  while (true) {
    auto r = counters_of_.step();
    if (!r) return std::unexpected(r.error());
    if (!*r) break;
    counters.push_back(json{{"counter", counters_of_.column_text(0)},
                            {"state", counters_of_.column_text(1)},
                            {"ticket", opt_text(counters_of_, 2)},
                            {"number", opt_text(counters_of_, 3)},
                            {"since_ts", counters_of_.column_int(4)}});
  }
  counters_of_.reset();
  out["counters"] = std::move(counters);

  json items = json::array();
  std::int64_t online = 0;
  std::int64_t offline = 0;
  devices_of_.bind(1, hall);
  while (true) {
    auto r = devices_of_.step();
    if (!r) return std::unexpected(r.error());
    if (!*r) break;
    bool is_online = devices_of_.column_int(2) != 0;
    (is_online ? online : offline) += 1;
    items.push_back(json{{"device", devices_of_.column_text(0)},
                         {"kind", devices_of_.column_text(1)},
                         {"online", is_online},
                         {"since_ts", devices_of_.column_int(3)}});
  }
  devices_of_.reset();
  out["devices"] = json{{"online", online}, {"offline", offline}, {"items", std::move(items)}};

  json alerts = json::array();
  alerts_of_hall_.bind(1, hall);
  while (true) {
    auto r = alerts_of_hall_.step();
    if (!r) return std::unexpected(r.error());
    if (!*r) break;
    alerts.push_back(alert_row(alerts_of_hall_));
  }
  alerts_of_hall_.reset();
  out["alerts"] = std::move(alerts);
  return out.dump();
}

Expected<std::string> SqliteCentralStore::alerts_json(std::optional<std::string_view> hall) {
  auto& s = hall ? alerts_of_hall_ : alerts_all_;
  if (hall) s.bind(1, *hall);
  json alerts = json::array();
  while (true) {
    auto r = s.step();
    if (!r) return std::unexpected(r.error());
    if (!*r) break;
    alerts.push_back(alert_row(s));
  }
  s.reset();
  auto late = cases_->open_alerts(hall);
  if (!late) return std::unexpected(late.error());
  for (auto& a : *late) alerts.push_back(std::move(a));
  return json{{"alerts", std::move(alerts)}}.dump();
}

Expected<std::string> SqliteCentralStore::kpi_json(const KpiQuery& q) {
  auto bind_query = [&](Statement& s) {
    s.bind(1, q.hall).bind(2, q.service).bind(3, q.from_day).bind(4, q.to_day);
  };
  // Waits per (hall, day, service), each sorted, for the p90s.
  using Key = std::tuple<std::string, std::int64_t, std::string>;
  std::map<Key, std::vector<std::int64_t>> waits;
  std::vector<std::int64_t> all_waits;
  bind_query(kpi_waits_);
  while (true) {
    auto r = kpi_waits_.step();
    if (!r) return std::unexpected(r.error());
    if (!*r) break;
    std::int64_t w = kpi_waits_.column_int(3);
    waits[Key{kpi_waits_.column_text(0), kpi_waits_.column_int(1), kpi_waits_.column_text(2)}]
        .push_back(w);
    all_waits.push_back(w);
  }
  kpi_waits_.reset();
  std::sort(all_waits.begin(), all_waits.end());

  struct Sums {
    std::int64_t issued = 0, served = 0, no_shows = 0, wait_sum_ms = 0, waits = 0,
                 service_sum_ms = 0, services = 0, ratings = 0, ratings_good = 0;
  };
  auto fill = [](json& o, const Sums& t, json p90) {
    o["issued"] = t.issued;
    o["served"] = t.served;
    o["no_shows"] = t.no_shows;
    o["no_show_rate"] = ratio(t.no_shows, t.served + t.no_shows);
    o["wait_mean_s"] = ratio(t.wait_sum_ms, t.waits, 1000.0);
    o["wait_p90_s"] = std::move(p90);
    o["service_mean_s"] = ratio(t.service_sum_ms, t.services, 1000.0);
    o["ratings"] = t.ratings;
    o["satisfaction"] = ratio(t.ratings_good, t.ratings);
  };

  json rows = json::array();
  Sums total;
  auto& s = kpi_rows_;
  bind_query(s);
  while (true) {
    auto r = s.step();
    if (!r) return std::unexpected(r.error());
    if (!*r) break;
    Sums row{s.column_int(3), s.column_int(4), s.column_int(5),  s.column_int(6), s.column_int(7),
             s.column_int(8), s.column_int(9), s.column_int(10), s.column_int(11)};
    total.issued += row.issued;
    total.served += row.served;
    total.no_shows += row.no_shows;
    total.wait_sum_ms += row.wait_sum_ms;
    total.waits += row.waits;
    total.service_sum_ms += row.service_sum_ms;
    total.services += row.services;
    total.ratings += row.ratings;
    total.ratings_good += row.ratings_good;
    json o{{"hall", s.column_text(0)}, {"day", s.column_int(1)}, {"service", s.column_text(2)}};
    auto it = waits.find(Key{s.column_text(0), s.column_int(1), s.column_text(2)});
    fill(o, row, it == waits.end() ? json(nullptr) : p90_s(it->second));
    rows.push_back(std::move(o));
  }
  s.reset();
  json total_json = json::object();
  fill(total_json, total, p90_s(all_waits));
  // Appointments of the query's halls, services and days (the slot's day):
  // no-shows count against a hall's planning as much as waits do.
  auto ap = db_.prepare(
      "SELECT coalesce(sum(state IN ('booked', 'checked_in', 'no_show')), 0), coalesce(sum(state = 'checked_in'), 0), "
      "coalesce(sum(state = 'no_show'), 0), coalesce(sum(state = 'cancelled'), 0) FROM bookings WHERE (?1 IS NULL OR "
      "hall = ?1) AND (?2 IS NULL OR service = ?2) AND (?3 = 0 OR person_day >= ?3) AND (?4 = 0 OR person_day <= ?4)");
  if (!ap) return std::unexpected(ap.error());
  bind_query(*ap);
  auto ar = ap->step();
  if (!ar) return std::unexpected(ar.error());
  json appointments{{"booked", ap->column_int(0)},
                    {"checked_in", ap->column_int(1)},
                    {"no_shows", ap->column_int(2)},
                    {"cancelled", ap->column_int(3)}};
  const auto settled = ap->column_int(1) + ap->column_int(2);
  appointments["no_show_rate"] = settled > 0 ? json(static_cast<double>(ap->column_int(2)) / static_cast<double>(settled))
                                             : json(nullptr);
  return json{{"rows", std::move(rows)}, {"total", std::move(total_json)}, {"appointments", std::move(appointments)}}
      .dump();
}

Expected<void> SqliteCentralStore::replay_all() {
  for (std::string_view sql :
       {"DELETE FROM tickets", "DELETE FROM counters", "DELETE FROM devices", "DELETE FROM alerts",
        "DELETE FROM kpi_daily", "UPDATE halls SET occupancy = NULL, occupancy_ts = NULL"}) {
    if (auto ok = db_.exec(sql); !ok) return ok;
  }
  for (std::string_view sql : store::CaseTables::projection_resets()) {
    if (auto ok = db_.exec(sql); !ok) return ok;
  }
  auto& s = all_events_;
  while (true) {
    auto r = s.step();
    if (!r) return std::unexpected(r.error());
    if (!*r) break;
    std::string hall = s.column_text(0);
    std::int64_t seq = s.column_int(1);
    std::int64_t ts = s.column_int(2);
    std::string type = s.column_text(3);
    json j = json::parse(s.column_text(4), nullptr, false);
    auto data = j.is_object() ? j.find("data") : j.end();
    if (data == j.end() || !data->is_object()) {
      spdlog::warn("rebuild: hall {} event {}: stored text is not a valid envelope; skipped", hall,
                   seq);
      continue;
    }
    auto ok = project(hall, seq, ts, type, *data);
    if (ok && projector_->pending() > 10000) ok = projector_->flush();
    if (!ok) {
      s.reset();
      projector_->discard();
      return protocol::error(
          fmt::format("rebuild: hall {} event {}: {}", hall, seq, ok.error().message));
    }
  }
  s.reset();
  return projector_->flush();
}

Expected<void> SqliteCentralStore::rebuild() {
  if (db_.in_transaction()) return protocol::error("rebuild inside a transaction");
  if (auto ok = begin(); !ok) return ok;
  if (auto ok = replay_all(); !ok) {
    projector_->discard();
    rollback();
    return ok;
  }
  return commit();
}

Expected<std::string> SqliteCentralStore::projection_digest() {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
    return protocol::error("sha256 init failed");
  // Canonical row text: table name, then each column as text (NULL as \N),
  // separated by 0x1f, the row ended by 0x1e.
  std::string line;
  for (const auto& table : kDigestTables) {
    auto s = db_.prepare(table.sql);
    if (!s) return std::unexpected(s.error());
    while (true) {
      auto r = s->step();
      if (!r) return std::unexpected(r.error());
      if (!*r) break;
      line.assign(table.name);
      for (int i = 0; i < table.columns; ++i) {
        line.push_back('\x1f');
        if (s->column_is_null(i)) {
          line.append("\\N");
        } else {
          line.append(s->column_text(i));
        }
      }
      line.push_back('\x1e');
      EVP_DigestUpdate(ctx.get(), line.data(), line.size());
    }
  }
  protocol::ChainHash digest{};
  unsigned int size = 0;
  if (EVP_DigestFinal_ex(ctx.get(), digest.data(), &size) != 1 || size != digest.size())
    return protocol::error("sha256 final failed");
  return protocol::to_hex(digest);
}

}  // namespace

Expected<std::unique_ptr<CentralStore>> open_sqlite_central_store(const std::string& path) {
  return SqliteCentralStore::open(path);
}

int central_schema_version() { return static_cast<int>(kMigrations.size()); }

// China has no DST: a hall's business day is taken as the UTC+8 calendar day.
constexpr std::int64_t kChinaOffsetMs = 8 * 3600 * 1000;

std::int64_t day_start_utc_ms(int day) {
  std::tm tm{};
  tm.tm_year = day / 10000 - 1900;
  tm.tm_mon = day / 100 % 100 - 1;
  tm.tm_mday = day % 100;
  return static_cast<std::int64_t>(timegm(&tm)) * 1000 - kChinaOffsetMs;
}

Expected<std::optional<std::string>> SqliteCentralStore::hall_series_json(std::string_view hall, int day) {
  auto known = db_.prepare("SELECT capacity FROM halls WHERE hall = ?1");
  if (!known) return std::unexpected(known.error());
  known->bind(1, hall);
  auto row = known->step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<std::string>();
  if (day == 0) {
    auto latest = db_.prepare("SELECT coalesce(max(day), 0) FROM tickets WHERE hall = ?1");
    if (!latest) return std::unexpected(latest.error());
    latest->bind(1, hall);
    if (auto r = latest->step(); r && *r) day = static_cast<int>(latest->column_int(0));
    if (day == 0) {
      std::int64_t local = now_ms() + kChinaOffsetMs;
      std::time_t t = static_cast<std::time_t>(local / 1000);
      std::tm tm{};
      gmtime_r(&t, &tm);
      day = (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
    }
  }
  const std::int64_t start = day_start_utc_ms(day);
  const std::int64_t end = std::min(start + 86400000, now_ms());
  struct T {
    std::int64_t issued;
    std::optional<std::int64_t> left;  // first call, or completion/cancel time when never called
  };
  std::vector<T> tickets;
  auto st = db_.prepare(
      "SELECT issued_ts, coalesce(first_called_ts, completed_ts) FROM tickets WHERE hall = ?1 AND day = ?2");
  if (!st) return std::unexpected(st.error());
  st->bind(1, hall).bind(2, day);
  for (auto r = st->step(); r && *r; r = st->step())
    tickets.push_back({st->column_int(0), st->column_optional_int(1)});
  std::vector<std::pair<std::int64_t, std::int64_t>> occupancy;
  auto oc = db_.prepare(
      "SELECT ts, json_extract(text, '$.data.occupancy') FROM events WHERE hall = ?1 AND type = "
      "'telemetry.summary' AND ts >= ?2 AND ts < ?3 ORDER BY seq");
  if (!oc) return std::unexpected(oc.error());
  oc->bind(1, hall).bind(2, start).bind(3, start + 86400000);
  for (auto r = oc->step(); r && *r; r = oc->step())
    if (!oc->column_is_null(1)) occupancy.emplace_back(oc->column_int(0), oc->column_int(1));
  std::int64_t first = end;
  for (const auto& t : tickets) first = std::min(first, t.issued);
  if (!occupancy.empty()) first = std::min(first, occupancy.front().first);
  constexpr std::int64_t kStep = 15 * 60 * 1000;
  json series = json::array();
  std::size_t oi = 0;
  json last_occ;
  for (std::int64_t t = start + (std::max(first, start) - start) / kStep * kStep; t <= end && series.size() < 97;
       t += kStep) {
    std::int64_t waiting = 0;
    for (const auto& tk : tickets) waiting += tk.issued <= t && (!tk.left || *tk.left > t);
    while (oi < occupancy.size() && occupancy[oi].first <= t) last_occ = occupancy[oi++].second;
    series.push_back({{"ts", t}, {"waiting", waiting}, {"occupancy", last_occ}});
  }
  // And the latest state, between two quarter hours.
  if (!series.empty() && series.back()["ts"].get<std::int64_t>() < end) {
    std::int64_t waiting = 0;
    for (const auto& tk : tickets) waiting += tk.issued <= end && (!tk.left || *tk.left > end);
    while (oi < occupancy.size() && occupancy[oi].first <= end) last_occ = occupancy[oi++].second;
    series.push_back({{"ts", end}, {"waiting", waiting}, {"occupancy", last_occ}});
  }
  return std::optional<std::string>(json{{"hall", hall}, {"day", day}, {"series", series}}.dump());
}

Expected<std::string> SqliteCentralStore::kpi_charts_json(const KpiQuery& q) {
  const std::string hall = q.hall.value_or("");
  const int from = q.from_day;
  const int to = q.to_day ? q.to_day : 99991231;
  // Wait distribution: 5-minute buckets, the last one "60 and more".
  std::array<std::int64_t, 13> buckets{};
  auto w = db_.prepare(
      "SELECT waited_ms FROM tickets WHERE waited_ms IS NOT NULL AND day BETWEEN ?1 AND ?2 AND (?3 = '' OR hall = ?3)");
  if (!w) return std::unexpected(w.error());
  w->bind(1, from).bind(2, to).bind(3, hall);
  for (auto r = w->step(); r && *r; r = w->step())
    ++buckets[static_cast<std::size_t>(std::min<std::int64_t>(12, w->column_int(0) / 300000))];
  json histogram = json::array();
  for (std::size_t i = 0; i < buckets.size(); ++i)
    histogram.push_back({{"from_min", i * 5}, {"to_min", i < 12 ? json((i + 1) * 5) : json()}, {"count", buckets[i]}});
  std::array<std::int64_t, 24> hours{};
  auto h = db_.prepare(
      "SELECT completed_ts FROM tickets WHERE completed_ts IS NOT NULL AND state = 'completed' AND day BETWEEN ?1 AND "
      "?2 AND (?3 = '' OR hall = ?3)");
  if (!h) return std::unexpected(h.error());
  h->bind(1, from).bind(2, to).bind(3, hall);
  for (auto r = h->step(); r && *r; r = h->step())
    ++hours[static_cast<std::size_t>(((h->column_int(0) + kChinaOffsetMs) / 3600000) % 24)];
  json per_hour = json::array();
  for (int i = 0; i < 24; ++i)
    if (hours[i]) per_hour.push_back({{"hour", i}, {"served", hours[i]}});
  json satisfaction = json::array();
  auto sat = db_.prepare(
      "SELECT k.hall, h.name, sum(ratings), sum(ratings_good) FROM kpi_daily k JOIN halls h ON h.hall = k.hall "
      "WHERE day BETWEEN ?1 AND ?2 AND (?3 = '' OR k.hall = ?3) GROUP BY k.hall ORDER BY k.hall");
  if (!sat) return std::unexpected(sat.error());
  sat->bind(1, from).bind(2, to).bind(3, hall);
  for (auto r = sat->step(); r && *r; r = sat->step()) {
    std::int64_t n = sat->column_int(2);
    satisfaction.push_back({{"hall", sat->column_text(0)},
                            {"name", sat->column_text(1)},
                            {"ratings", n},
                            {"satisfaction", n ? json(static_cast<double>(sat->column_int(3)) / static_cast<double>(n)) : json()}});
  }
  return json{{"wait_histogram", histogram}, {"served_per_hour", per_hour}, {"satisfaction_per_hall", satisfaction}}
      .dump();
}

}  // namespace yiban::central
