#include "store/edge_store.h"

#include "yiban/runtime/notifier.h"

#include <array>
#include <memory>

#include "yiban/protocol/event.h"
#include "yiban/protocol/sync.h"

#include <cctype>
#include <nlohmann/json.hpp>

namespace yiban::edge::store {
namespace {

constexpr std::array<std::string_view, 6> kTicketStates{"waiting", "called", "serving",
                                                        "completed", "no_show", "cancelled"};

// Migration N brings user_version from N-1 to N. Never edit a released step;
// add a new one.
const std::array<std::string_view, 10> kMigrations{R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE events(
  seq INTEGER PRIMARY KEY,
  ts INTEGER NOT NULL,
  type TEXT NOT NULL,
  text TEXT NOT NULL,
  chain BLOB NOT NULL);
CREATE TABLE day_numbers(
  day INTEGER NOT NULL, series TEXT NOT NULL, last INTEGER NOT NULL,
  PRIMARY KEY(day, series)) WITHOUT ROWID;
CREATE TABLE tickets(
  rowid INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  day INTEGER NOT NULL,
  number TEXT NOT NULL,
  service TEXT NOT NULL,
  class TEXT,
  appointment TEXT,
  slot_start INTEGER,
  phone TEXT,
  state TEXT NOT NULL,
  issued_ts INTEGER NOT NULL,
  order_ts INTEGER NOT NULL,
  target_counter TEXT,
  counter TEXT,
  called_ts INTEGER,
  started_ts INTEGER,
  finished_ts INTEGER,
  recalls INTEGER NOT NULL DEFAULT 0,
  transfers INTEGER NOT NULL DEFAULT 0,
  rated INTEGER NOT NULL DEFAULT 0);
CREATE INDEX tickets_active ON tickets(state) WHERE state IN ('waiting', 'called', 'serving');
CREATE INDEX tickets_called ON tickets(called_ts) WHERE called_ts IS NOT NULL;
CREATE INDEX tickets_finished ON tickets(service, finished_ts) WHERE state = 'completed';
CREATE TABLE counters(
  id TEXT PRIMARY KEY, state TEXT NOT NULL, current_rowid INTEGER, last_finished TEXT) WITHOUT ROWID;
CREATE TABLE devices(
  id TEXT PRIMARY KEY, online INTEGER NOT NULL, version TEXT, last_seen INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE requests(
  device TEXT NOT NULL, correlation BLOB NOT NULL, op TEXT NOT NULL, reply TEXT NOT NULL,
  ts INTEGER NOT NULL, PRIMARY KEY(device, correlation)) WITHOUT ROWID;
CREATE INDEX requests_ts ON requests(ts);
CREATE TABLE ratings(
  id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, counter TEXT NOT NULL, ticket TEXT,
  score INTEGER NOT NULL, device TEXT NOT NULL);
CREATE TABLE help_requests(
  id TEXT PRIMARY KEY, ts INTEGER NOT NULL, device TEXT NOT NULL, counter TEXT, need TEXT NOT NULL,
  state TEXT NOT NULL DEFAULT 'open') WITHOUT ROWID;
CREATE TABLE appointments(
  code TEXT PRIMARY KEY, service TEXT NOT NULL, slot_start INTEGER NOT NULL, slot_end INTEGER NOT NULL,
  state TEXT NOT NULL, ticket TEXT) WITHOUT ROWID;
)sql",
                                                    R"sql(
CREATE TABLE telemetry(
  id INTEGER PRIMARY KEY, device TEXT NOT NULL, received_ts INTEGER NOT NULL, ts INTEGER NOT NULL,
  metrics TEXT NOT NULL);
CREATE INDEX telemetry_received ON telemetry(received_ts);
CREATE TABLE telemetry_marks(device TEXT PRIMARY KEY, summarized_until INTEGER NOT NULL) WITHOUT ROWID;
)sql",
                                                    R"sql(
CREATE TABLE alerts(
  id TEXT PRIMARY KEY, rule TEXT NOT NULL, subject TEXT NOT NULL, severity TEXT NOT NULL, state TEXT NOT NULL,
  message TEXT NOT NULL, raised_ts INTEGER NOT NULL, acked_ts INTEGER, acked_by TEXT, resolved_ts INTEGER,
  resolved_by TEXT) WITHOUT ROWID;
CREATE INDEX alerts_open ON alerts(state) WHERE state != 'resolved';
ALTER TABLE help_requests ADD COLUMN answered_ts INTEGER;
ALTER TABLE help_requests ADD COLUMN answered_by TEXT;
)sql",
                                                    // 4: cross-region cases (protocol/CASES.md).
                                                    R"sql(
CREATE TABLE cases(
  id TEXT PRIMARY KEY, role TEXT NOT NULL, state TEXT NOT NULL, attempt INTEGER NOT NULL, file TEXT NOT NULL,
  service TEXT NOT NULL, origin TEXT NOT NULL, handler TEXT NOT NULL, submitted_ts INTEGER NOT NULL,
  updated_ts INTEGER NOT NULL, prereview_due INTEGER, complete_due INTEGER, result TEXT) WITHOUT ROWID;
CREATE INDEX cases_open ON cases(role, state);
CREATE TABLE case_steps(
  id TEXT NOT NULL, n INTEGER NOT NULL, ts INTEGER NOT NULL, step TEXT NOT NULL, hall TEXT NOT NULL,
  by_whom TEXT NOT NULL, note TEXT NOT NULL, attempt INTEGER NOT NULL, PRIMARY KEY(id, n)) WITHOUT ROWID;
CREATE TABLE case_materials(
  id TEXT NOT NULL, sha256 TEXT NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL, size INTEGER NOT NULL,
  attempt INTEGER NOT NULL, PRIMARY KEY(id, sha256)) WITHOUT ROWID;
CREATE INDEX case_materials_sha ON case_materials(sha256);
)sql",
                                                    // 5: bookings from central and walk-ups (protocol/BOOKINGS.md).
                                                    R"sql(
ALTER TABLE appointments ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE appointments ADD COLUMN phone TEXT;
ALTER TABLE appointments ADD COLUMN special_need TEXT;
ALTER TABLE appointments ADD COLUMN source TEXT NOT NULL DEFAULT 'central';
ALTER TABLE appointments ADD COLUMN id_hash TEXT;
ALTER TABLE appointments ADD COLUMN day INTEGER NOT NULL DEFAULT 0;
CREATE INDEX appointments_slot ON appointments(service, slot_start, source) WHERE state IN ('booked', 'checked_in');
CREATE INDEX appointments_due ON appointments(slot_end) WHERE state = 'booked';
CREATE TABLE booking_quota(
  service TEXT NOT NULL, slot_start INTEGER NOT NULL, moved INTEGER NOT NULL, PRIMARY KEY(service, slot_start))
  WITHOUT ROWID;
)sql",
                                                    // 6: the notification outbox (yiban/runtime/notifier.h).
                                                    runtime::notify_schema(),
                                                    // 7: tickets already told their turn is near.
                                                    R"sql(
CREATE TABLE turn_near_sent(ticket TEXT PRIMARY KEY, ts INTEGER NOT NULL) WITHOUT ROWID;
)sql",
                                                    // 8: retention and the indexes of every console/KPI query (issue 15).
                                                    R"sql(
CREATE INDEX events_type_ts ON events(type, ts);
CREATE INDEX tickets_day ON tickets(day, state);
CREATE INDEX tickets_phone ON tickets(day) WHERE phone IS NOT NULL;
CREATE INDEX ratings_ts ON ratings(ts);
CREATE INDEX alerts_raised ON alerts(raised_ts);
CREATE INDEX appointments_time ON appointments(slot_start);
ALTER TABLE appointments ADD COLUMN personal_cleared INTEGER NOT NULL DEFAULT 0;
CREATE INDEX appointments_personal ON appointments(day) WHERE personal_cleared = 0;
ALTER TABLE cases ADD COLUMN personal_cleared INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cases ADD COLUMN files_purged INTEGER NOT NULL DEFAULT 0;
CREATE INDEX cases_closed ON cases(updated_ts) WHERE state IN ('completed', 'rejected');
CREATE INDEX notify_outbox_done ON notify_outbox(created_ts) WHERE state != 'pending';
CREATE INDEX turn_near_sent_ts ON turn_near_sent(ts);
)sql",
                                                    // 9: personal data kept in the hall (issue 15).
                                                    R"sql(
-- reserved: personal data (issue 15)
)sql",
                                                    // 10: store identity and DOWN epochs (issue 15).
                                                    R"sql(
CREATE TABLE events_displaced(
  id INTEGER PRIMARY KEY AUTOINCREMENT, old_seq INTEGER NOT NULL, ts INTEGER NOT NULL, type TEXT NOT NULL,
  text TEXT NOT NULL);
)sql"};

static_assert(kMigrations.size() == static_cast<std::size_t>(kSchemaVersion));

constexpr std::string_view kTicketColumns =
    "rowid, id, day, number, service, class, appointment, slot_start, phone, state, issued_ts, order_ts, "
    "target_counter, counter, called_ts, started_ts, finished_ts, recalls, transfers, rated";

std::string ticket_select(std::string_view where) {
  return "SELECT " + std::string(kTicketColumns) + " FROM tickets " + std::string(where);
}

}  // namespace

std::string_view to_string(TicketState state) { return kTicketStates[static_cast<std::size_t>(state)]; }

std::optional<TicketState> ticket_state_from_string(std::string_view text) {
  for (std::size_t i = 0; i < kTicketStates.size(); ++i) {
    if (kTicketStates[i] == text) return static_cast<TicketState>(i);
  }
  return std::nullopt;
}

struct EdgeStore::Statements {
  Statement begin, commit, rollback, savepoint, release, rollback_to;
  Statement insert_event, read_events;
  Statement get_meta, set_meta;
  Statement next_number, last_number;
  Statement insert_ticket, update_ticket, ticket_by_rowid, ticket_by_id, active_tickets, tickets_of_day;
  Statement recent_calls, recent_durations;
  Statement counters, save_counter, devices, save_device;
  Statement find_reply, save_reply, prune_replies;
  Statement insert_rating, insert_help, appointment, save_appointment;
  Statement insert_sample, samples_since, purge_samples, marks, save_mark;
  Statement save_alert, open_alerts, help_state, answer_help;
};

EdgeStore::EdgeStore(Database db, std::string hall) : db_(std::move(db)), hall_(std::move(hall)) {}
EdgeStore::~EdgeStore() {
  if (db_.in_transaction()) rollback();
  st_.reset();
}

Expected<std::unique_ptr<EdgeStore>> EdgeStore::open(const std::string& path, std::string hall) {
  auto db = Database::open(path);
  if (!db) return std::unexpected(db.error());
  std::unique_ptr<EdgeStore> store(new EdgeStore(std::move(*db), std::move(hall)));
  for (std::string_view pragma : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA busy_timeout=5000",
                                  "PRAGMA foreign_keys=OFF", "PRAGMA wal_autocheckpoint=10000"}) {
    if (auto ok = store->db_.exec(pragma); !ok) return protocol::error(path + ": " + ok.error().message);
  }
  if (auto ok = store->migrate(); !ok) return protocol::error(path + ": " + ok.error().message);
  if (auto ok = store->prepare_statements(); !ok) return std::unexpected(ok.error());
  auto stored_hall = store->get_meta("hall");
  if (!stored_hall) return std::unexpected(stored_hall.error());
  if (!*stored_hall) {
    if (auto ok = store->begin(); !ok) return std::unexpected(ok.error());
    if (auto ok = store->set_meta("hall", store->hall_); !ok) return std::unexpected(ok.error());
    if (auto ok = store->commit(); !ok) return std::unexpected(ok.error());
  } else if (**stored_hall != store->hall_) {
    return protocol::error(path + " belongs to hall \"" + **stored_hall + "\", not \"" + store->hall_ + "\"");
  }
  // Store identity: made once, never changed (a restored copy keeps it).
  auto store_id = store->get_meta("store_id");
  if (!store_id) return std::unexpected(store_id.error());
  if (!*store_id || !protocol::sync::is_store_id(**store_id)) {
    std::string id = protocol::sync::random_store_id();
    if (auto ok = store->begin(); !ok) return std::unexpected(ok.error());
    if (auto ok = store->set_meta("store_id", id); !ok) return std::unexpected(ok.error());
    if (auto ok = store->commit(); !ok) return std::unexpected(ok.error());
    *store_id = id;
  }
  store->store_id_ = **store_id;
  if (auto ok = store->load_chain_head(); !ok) return std::unexpected(ok.error());
  return store;
}

int EdgeStore::schema_version() const {
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db_.handle(), "PRAGMA user_version", -1, &s, nullptr);
  int version = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
  sqlite3_finalize(s);
  return version;
}

Expected<void> EdgeStore::migrate() {
  int version = schema_version();
  if (version < 0) return protocol::error("cannot read schema version");
  if (version > static_cast<int>(kMigrations.size()))
    return protocol::error("database schema version " + std::to_string(version) +
                           " is newer than this yiban-edge understands (" + std::to_string(kMigrations.size()) + ")");
  for (auto step = static_cast<std::size_t>(version); step < kMigrations.size(); ++step) {
    if (auto ok = db_.exec("BEGIN IMMEDIATE"); !ok) return ok;
    auto ok = db_.exec(kMigrations[step]);
    if (ok) ok = db_.exec("PRAGMA user_version=" + std::to_string(step + 1));
    if (!ok) {
      (void)db_.exec("ROLLBACK");
      return protocol::error("migration to schema " + std::to_string(step + 1) + " failed: " + ok.error().message);
    }
    if (auto committed = db_.exec("COMMIT"); !committed) return committed;
  }
  return {};
}

Expected<void> EdgeStore::prepare_statements() {
  st_ = std::make_unique<Statements>();
  struct Item {
    Statement* target;
    std::string sql;
  };
  std::vector<Item> items{
      {&st_->begin, "BEGIN IMMEDIATE"},
      {&st_->commit, "COMMIT"},
      {&st_->rollback, "ROLLBACK"},
      {&st_->savepoint, "SAVEPOINT request"},
      {&st_->release, "RELEASE request"},
      {&st_->rollback_to, "ROLLBACK TO request"},
      {&st_->insert_event, "INSERT INTO events(seq, ts, type, text, chain) VALUES(?1, ?2, ?3, ?4, ?5)"},
      {&st_->read_events, "SELECT seq, text, chain FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2"},
      {&st_->get_meta, "SELECT value FROM meta WHERE key = ?1"},
      {&st_->set_meta, "INSERT INTO meta(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE SET value = ?2"},
      {&st_->next_number,
       "INSERT INTO day_numbers(day, series, last) VALUES(?1, ?2, 1) "
       "ON CONFLICT(day, series) DO UPDATE SET last = last + 1 RETURNING last"},
      {&st_->last_number, "SELECT last FROM day_numbers WHERE day = ?1 AND series = ?2"},
      {&st_->insert_ticket,
       "INSERT INTO tickets(id, day, number, service, class, appointment, slot_start, phone, state, issued_ts, "
       "order_ts, target_counter, counter, called_ts, started_ts, finished_ts, recalls, transfers, rated) "
       "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)"},
      {&st_->update_ticket,
       "UPDATE tickets SET service = ?2, state = ?3, order_ts = ?4, target_counter = ?5, counter = ?6, "
       "called_ts = ?7, started_ts = ?8, finished_ts = ?9, recalls = ?10, transfers = ?11, rated = ?12 "
       "WHERE rowid = ?1"},
      {&st_->ticket_by_rowid, ticket_select("WHERE rowid = ?1")},
      {&st_->ticket_by_id, ticket_select("WHERE id = ?1")},
      {&st_->active_tickets, ticket_select("WHERE state IN ('waiting', 'called', 'serving') ORDER BY rowid")},
      // Ticket ids start with {hall}:{day}: the unique index on id serves this range.
      {&st_->tickets_of_day, ticket_select("WHERE id >= ?1 AND id < ?2 ORDER BY rowid")},
      {&st_->recent_calls,
       "SELECT number, counter, called_ts FROM tickets WHERE called_ts IS NOT NULL "
       "ORDER BY called_ts DESC, rowid DESC LIMIT ?1"},
      {&st_->recent_durations,
       "SELECT finished_ts - COALESCE(started_ts, called_ts) FROM tickets "
       "WHERE service = ?1 AND state = 'completed' ORDER BY finished_ts DESC LIMIT ?2"},
      {&st_->counters, "SELECT id, state, current_rowid, last_finished FROM counters"},
      {&st_->save_counter,
       "INSERT INTO counters(id, state, current_rowid, last_finished) VALUES(?1, ?2, ?3, ?4) "
       "ON CONFLICT(id) DO UPDATE SET state = ?2, current_rowid = ?3, last_finished = ?4"},
      {&st_->devices, "SELECT id, online, version, last_seen FROM devices"},
      {&st_->save_device,
       "INSERT INTO devices(id, online, version, last_seen) VALUES(?1, ?2, ?3, ?4) "
       "ON CONFLICT(id) DO UPDATE SET online = ?2, version = ?3, last_seen = ?4"},
      {&st_->find_reply, "SELECT reply FROM requests WHERE device = ?1 AND correlation = ?2"},
      {&st_->save_reply, "INSERT OR REPLACE INTO requests(device, correlation, op, reply, ts) VALUES(?1, ?2, ?3, ?4, ?5)"},
      {&st_->prune_replies, "DELETE FROM requests WHERE ts < ?1"},
      {&st_->insert_rating, "INSERT INTO ratings(ts, counter, ticket, score, device) VALUES(?1, ?2, ?3, ?4, ?5)"},
      {&st_->insert_help, "INSERT INTO help_requests(id, ts, device, counter, need) VALUES(?1, ?2, ?3, ?4, ?5)"},
      {&st_->appointment,
       "SELECT code, service, slot_start, slot_end, state, ticket, name, phone, special_need, source, id_hash, day "
       "FROM appointments WHERE code = ?1"},
      {&st_->save_appointment,
       "INSERT OR REPLACE INTO appointments(code, service, slot_start, slot_end, state, ticket, name, phone, "
       "special_need, source, id_hash, day) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"},
      {&st_->insert_sample, "INSERT INTO telemetry(device, received_ts, ts, metrics) VALUES(?1, ?2, ?3, ?4)"},
      {&st_->samples_since,
       "SELECT device, received_ts, metrics FROM telemetry WHERE received_ts >= ?1 ORDER BY id"},
      {&st_->purge_samples,
       "DELETE FROM telemetry WHERE id IN (SELECT id FROM telemetry WHERE received_ts < ?1 LIMIT ?2)"},
      {&st_->marks, "SELECT device, summarized_until FROM telemetry_marks"},
      {&st_->save_mark,
       "INSERT INTO telemetry_marks(device, summarized_until) VALUES(?1, ?2) "
       "ON CONFLICT(device) DO UPDATE SET summarized_until = ?2"},
      {&st_->save_alert,
       "INSERT OR REPLACE INTO alerts(id, rule, subject, severity, state, message, raised_ts, acked_ts, acked_by, "
       "resolved_ts, resolved_by) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"},
      {&st_->open_alerts,
       "SELECT id, rule, subject, severity, state, message, raised_ts, acked_ts, acked_by, resolved_ts, "
       "resolved_by FROM alerts WHERE state != 'resolved' ORDER BY raised_ts, id"},
      {&st_->help_state, "SELECT state FROM help_requests WHERE id = ?1"},
      {&st_->answer_help,
       "UPDATE help_requests SET state = 'answered', answered_ts = ?2, answered_by = ?3 "
       "WHERE id = ?1 AND state = 'open'"},
  };
  for (auto& item : items) {
    auto s = db_.prepare(item.sql);
    if (!s) return std::unexpected(s.error());
    *item.target = std::move(*s);
  }
  return {};
}

Expected<void> EdgeStore::load_chain_head() {
  auto s = db_.prepare("SELECT seq, chain FROM events ORDER BY seq DESC LIMIT 1");
  if (!s) return std::unexpected(s.error());
  auto row = s->step();
  if (!row) return std::unexpected(row.error());
  last_seq_ = 0;
  last_chain_ = protocol::kChainZero;
  if (*row) {
    last_seq_ = s->column_int(0);
    std::string blob = s->column_blob(1);
    if (blob.size() != last_chain_.size())
      return protocol::error("event " + std::to_string(last_seq_) + " has a malformed chain value");
    std::copy(blob.begin(), blob.end(), last_chain_.begin());
  }
  return {};
}

Expected<void> EdgeStore::begin() { return st_->begin.run(); }

Expected<void> EdgeStore::commit() {
  auto ok = st_->commit.run();
  if (!ok) {
    rollback();
    return ok;
  }
  return {};
}

void EdgeStore::rollback() {
  if (db_.in_transaction()) (void)st_->rollback.run();
  (void)load_chain_head();
}

Expected<void> EdgeStore::savepoint() { return st_->savepoint.run(); }
Expected<void> EdgeStore::release() { return st_->release.run(); }

void EdgeStore::rollback_to_savepoint() {
  (void)st_->rollback_to.run();
  (void)st_->release.run();
  (void)load_chain_head();
}

Expected<std::int64_t> EdgeStore::append_event(std::int64_t ts, std::string_view type, std::string_view data_json) {
  std::int64_t seq = last_seq_ + 1;
  std::string text = protocol::encode_event(hall_, seq, ts, type, data_json);
  protocol::ChainHash chain = protocol::chain_next(last_chain_, text);
  auto& s = st_->insert_event;
  s.bind(1, seq).bind(2, ts).bind(3, type).bind(4, text);
  s.bind_blob(5, std::string_view(reinterpret_cast<const char*>(chain.data()), chain.size()));
  if (auto ok = s.run(); !ok) return std::unexpected(ok.error());
  last_seq_ = seq;
  last_chain_ = chain;
  return seq;
}

Expected<std::vector<StoredEvent>> EdgeStore::read_events(std::int64_t after_seq, int limit) {
  auto& s = st_->read_events;
  s.bind(1, after_seq).bind(2, limit);
  std::vector<StoredEvent> out;
  while (true) {
    auto row = s.step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    StoredEvent e;
    e.seq = s.column_int(0);
    e.text = s.column_text(1);
    std::string blob = s.column_blob(2);
    if (blob.size() == e.chain.size()) std::copy(blob.begin(), blob.end(), e.chain.begin());
    out.push_back(std::move(e));
  }
  s.reset();
  return out;
}

Expected<AdoptOutcome> EdgeStore::adopt_events(std::int64_t from, const std::vector<std::string>& texts,
                                               const std::optional<protocol::ChainHash>& final_chain) {
  AdoptOutcome out;
  if (from < 1 || from > last_seq_ + 1)
    return protocol::error("adopting events from " + std::to_string(from) + " but the log ends at " +
                           std::to_string(last_seq_));
  auto chain_at = [&](std::int64_t seq) -> Expected<protocol::ChainHash> {
    protocol::ChainHash h = protocol::kChainZero;
    if (seq == 0) return h;
    auto st = db_.prepare("SELECT chain FROM events WHERE seq = ?1");
    if (!st) return std::unexpected(st.error());
    st->bind(1, seq);
    auto row = st->step();
    if (!row) return std::unexpected(row.error());
    std::string blob = *row ? st->column_blob(0) : std::string();
    if (blob.size() != h.size()) return protocol::error("event " + std::to_string(seq) + " has no chain");
    std::copy(blob.begin(), blob.end(), h.begin());
    return h;
  };
  auto displace = [&](std::int64_t seq) -> Expected<void> {  // local events seq.. set aside
    auto move = db_.exec("INSERT INTO events_displaced(old_seq, ts, type, text) SELECT seq, ts, type, text FROM events "
                         "WHERE seq >= " + std::to_string(seq) + " ORDER BY seq");
    if (!move) return move;
    out.displaced += last_seq_ - seq + 1;
    return db_.exec("DELETE FROM events WHERE seq >= " + std::to_string(seq));
  };
  auto chain = chain_at(from - 1);
  if (!chain) return std::unexpected(chain.error());
  auto local_text = db_.prepare("SELECT text FROM events WHERE seq = ?1");
  if (!local_text) return std::unexpected(local_text.error());
  auto& insert = st_->insert_event;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const std::int64_t seq = from + static_cast<std::int64_t>(i);
    const std::string& text = texts[i];
    if (seq <= last_seq_) {
      local_text->bind(1, seq);
      auto row = local_text->step();
      if (!row) return std::unexpected(row.error());
      const bool same = *row && local_text->column_text(0) == text;
      local_text->reset();
      if (same) {
        *chain = protocol::chain_next(*chain, text);
        continue;
      }
      if (auto ok = displace(seq); !ok) return std::unexpected(ok.error());
      last_seq_ = seq - 1;
    }
    auto e = protocol::parse_event(text);
    if (!e) return protocol::error("central's event " + std::to_string(seq) + ": " + e.error().message);
    if (e->hall != hall_ || e->seq != seq)
      return protocol::error("central's event " + std::to_string(seq) + " is " + e->hall + " #" +
                             std::to_string(e->seq));
    *chain = protocol::chain_next(*chain, text);
    insert.bind(1, seq).bind(2, e->ts).bind(3, e->type).bind(4, text);
    insert.bind_blob(5, std::string_view(reinterpret_cast<const char*>(chain->data()), chain->size()));
    if (auto ok = insert.run(); !ok) return std::unexpected(ok.error());
    last_seq_ = seq;
    last_chain_ = *chain;
    ++out.adopted;
    if (e->type == "ticket.issued") {  // its number is taken: the day's series goes on after it
      auto data = nlohmann::json::parse(e->data_json, nullptr, false);
      const std::string id = data.is_object() ? data.value("ticket", std::string()) : std::string();
      const std::string number = data.is_object() ? data.value("number", std::string()) : std::string();
      const std::string service = data.is_object() ? data.value("service", std::string()) : std::string();
      const auto first = id.find(':');
      const auto second = first == std::string::npos ? first : id.find(':', first + 1);
      std::size_t digits = number.size();
      while (digits > 0 && std::isdigit(static_cast<unsigned char>(number[digits - 1]))) --digits;
      if (second != std::string::npos && digits < number.size() && !service.empty()) {
        try {
          const int day = std::stoi(id.substr(first + 1, second - first - 1));
          const int n = std::stoi(number.substr(digits));
          auto bump = db_.prepare(
              "INSERT INTO day_numbers(day, series, last) VALUES(?1, ?2, ?3) "
              "ON CONFLICT(day, series) DO UPDATE SET last = max(last, ?3)");
          if (!bump) return std::unexpected(bump.error());
          if (auto ok = bump->bind(1, day).bind(2, service).bind(3, n).run(); !ok) return std::unexpected(ok.error());
        } catch (const std::exception&) {
        }
      }
    }
  }
  const std::int64_t to = from + static_cast<std::int64_t>(texts.size()) - 1;
  if (to > last_seq_ || texts.empty()) return protocol::error("no events to adopt");
  if (!final_chain) {
    if (to == last_seq_) last_chain_ = *chain;
    return out;
  }
  if (*chain != *final_chain)
    return protocol::error("central's log of this hall does not verify: chain(" + std::to_string(to) +
                           ") differs from the one central holds");
  if (last_seq_ > to) {  // local events past central's end were chained on another prefix
    if (auto ok = displace(to + 1); !ok) return std::unexpected(ok.error());
  }
  last_seq_ = to;
  last_chain_ = *chain;
  // The hall's own events central never stored continue after its log.
  auto displaced = db_.prepare("SELECT old_seq, text FROM events_displaced ORDER BY id");
  if (!displaced) return std::unexpected(displaced.error());
  std::vector<std::pair<std::int64_t, std::string>> moved;
  for (auto row = displaced->step(); row && *row; row = displaced->step())
    moved.emplace_back(displaced->column_int(0), displaced->column_text(1));
  displaced->reset();
  for (const auto& [old_seq, text] : moved) {
    auto e = protocol::parse_event(text);
    if (!e) return protocol::error("set-aside event " + std::to_string(old_seq) + ": " + e.error().message);
    if (auto appended = append_event(e->ts, e->type, e->data_json); !appended)
      return std::unexpected(appended.error());
    ++out.renumbered;
  }
  if (auto ok = db_.exec("DELETE FROM events_displaced"); !ok) return std::unexpected(ok.error());
  return out;
}

Expected<std::optional<std::string>> EdgeStore::get_meta(std::string_view key) {
  auto& s = st_->get_meta;
  s.bind(1, key);
  auto row = s.step();
  if (!row) return std::unexpected(row.error());
  std::optional<std::string> out;
  if (*row) out = s.column_text(0);
  s.reset();
  return out;
}

Expected<void> EdgeStore::set_meta(std::string_view key, std::string_view value) {
  return st_->set_meta.bind(1, key).bind(2, value).run();
}

Expected<int> EdgeStore::next_number(int day, std::string_view series) {
  auto& s = st_->next_number;
  s.bind(1, day).bind(2, series);
  auto row = s.step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return protocol::error("day_numbers: no row returned");
  int value = static_cast<int>(s.column_int(0));
  s.reset();
  return value;
}

Expected<int> EdgeStore::last_number(int day, std::string_view series) {
  auto& s = st_->last_number;
  s.bind(1, day).bind(2, series);
  auto row = s.step();
  if (!row) return std::unexpected(row.error());
  int value = *row ? static_cast<int>(s.column_int(0)) : 0;
  s.reset();
  return value;
}

Expected<std::int64_t> EdgeStore::insert_ticket(const TicketRow& t) {
  auto& s = st_->insert_ticket;
  s.bind(1, t.id).bind(2, t.day).bind(3, t.number).bind(4, t.service).bind(5, t.priority_class);
  s.bind(6, t.appointment).bind(7, t.slot_start).bind(8, t.phone).bind(9, to_string(t.state));
  s.bind(10, t.issued_ts).bind(11, t.order_ts).bind(12, t.target_counter).bind(13, t.counter);
  s.bind(14, t.called_ts).bind(15, t.started_ts).bind(16, t.finished_ts).bind(17, t.recalls);
  s.bind(18, t.transfers).bind(19, t.rated ? 1 : 0);
  if (auto ok = s.run(); !ok) return std::unexpected(ok.error());
  return db_.last_insert_rowid();
}

Expected<void> EdgeStore::update_ticket(const TicketRow& t) {
  auto& s = st_->update_ticket;
  s.bind(1, t.rowid).bind(2, t.service).bind(3, to_string(t.state)).bind(4, t.order_ts);
  s.bind(5, t.target_counter).bind(6, t.counter).bind(7, t.called_ts).bind(8, t.started_ts);
  s.bind(9, t.finished_ts).bind(10, t.recalls).bind(11, t.transfers).bind(12, t.rated ? 1 : 0);
  if (auto ok = s.run(); !ok) return ok;
  if (db_.changes() != 1) return protocol::error("ticket " + t.id + " does not exist");
  return {};
}

Expected<TicketRow> EdgeStore::read_ticket(Statement& s) {
  TicketRow t;
  t.rowid = s.column_int(0);
  t.id = s.column_text(1);
  t.day = static_cast<int>(s.column_int(2));
  t.number = s.column_text(3);
  t.service = s.column_text(4);
  t.priority_class = s.column_optional_text(5);
  t.appointment = s.column_optional_text(6);
  t.slot_start = s.column_optional_int(7);
  t.phone = s.column_optional_text(8);
  auto state = ticket_state_from_string(s.column_text(9));
  if (!state) return protocol::error("ticket " + t.id + " has an unknown state");
  t.state = *state;
  t.issued_ts = s.column_int(10);
  t.order_ts = s.column_int(11);
  t.target_counter = s.column_optional_text(12);
  t.counter = s.column_optional_text(13);
  t.called_ts = s.column_optional_int(14);
  t.started_ts = s.column_optional_int(15);
  t.finished_ts = s.column_optional_int(16);
  t.recalls = static_cast<int>(s.column_int(17));
  t.transfers = static_cast<int>(s.column_int(18));
  t.rated = s.column_int(19) != 0;
  return t;
}

namespace {
template <class ReadRow>
auto collect(Statement& s, ReadRow read) -> Expected<std::vector<typename decltype(read(s))::value_type>> {
  std::vector<typename decltype(read(s))::value_type> out;
  while (true) {
    auto row = s.step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    auto value = read(s);
    if (!value) {
      s.reset();
      return std::unexpected(value.error());
    }
    out.push_back(std::move(*value));
  }
  s.reset();
  return out;
}
}  // namespace

Expected<std::optional<TicketRow>> EdgeStore::first_ticket(Statement& s) {
  auto rows = collect(s, [this](Statement& row) { return read_ticket(row); });
  if (!rows) return std::unexpected(rows.error());
  if (rows->empty()) return std::optional<TicketRow>{};
  return std::optional<TicketRow>{std::move(rows->front())};
}

Expected<std::optional<TicketRow>> EdgeStore::ticket_by_rowid(std::int64_t rowid) {
  return first_ticket(st_->ticket_by_rowid.bind(1, rowid));
}

Expected<std::optional<TicketRow>> EdgeStore::ticket_by_id(std::string_view id) {
  return first_ticket(st_->ticket_by_id.bind(1, id));
}

Expected<std::vector<TicketRow>> EdgeStore::active_tickets() {
  return collect(st_->active_tickets, [this](Statement& s) { return read_ticket(s); });
}

Expected<std::vector<TicketRow>> EdgeStore::tickets_of_day(int day) {
  std::string prefix = hall_ + ":" + std::to_string(day) + ":";
  std::string after = hall_ + ":" + std::to_string(day) + ";";  // ';' follows ':' in ASCII
  st_->tickets_of_day.bind(1, prefix).bind(2, after);
  return collect(st_->tickets_of_day, [this](Statement& s) { return read_ticket(s); });
}

Expected<std::vector<CallRow>> EdgeStore::recent_calls(int limit) {
  st_->recent_calls.bind(1, limit);
  return collect(st_->recent_calls, [](Statement& s) -> Expected<CallRow> {
    return CallRow{s.column_text(0), s.column_text(1), s.column_int(2)};
  });
}

Expected<std::vector<std::int64_t>> EdgeStore::recent_service_durations(std::string_view service, int limit) {
  st_->recent_durations.bind(1, service).bind(2, limit);
  return collect(st_->recent_durations, [](Statement& s) -> Expected<std::int64_t> { return s.column_int(0); });
}

Expected<std::vector<CounterRow>> EdgeStore::counters() {
  return collect(st_->counters, [](Statement& s) -> Expected<CounterRow> {
    return CounterRow{s.column_text(0), s.column_text(1), s.column_optional_int(2), s.column_optional_text(3)};
  });
}

Expected<void> EdgeStore::save_counter(const CounterRow& c) {
  return st_->save_counter.bind(1, c.id).bind(2, c.state).bind(3, c.current_rowid).bind(4, c.last_finished).run();
}

Expected<std::vector<DeviceRow>> EdgeStore::devices() {
  return collect(st_->devices, [](Statement& s) -> Expected<DeviceRow> {
    return DeviceRow{s.column_text(0), s.column_int(1) != 0, s.column_optional_text(2), s.column_int(3)};
  });
}

Expected<void> EdgeStore::save_device(const DeviceRow& d) {
  return st_->save_device.bind(1, d.id).bind(2, d.online ? 1 : 0).bind(3, d.version).bind(4, d.last_seen).run();
}

Expected<std::optional<std::string>> EdgeStore::find_reply(std::string_view device, std::string_view correlation) {
  auto& s = st_->find_reply;
  s.bind(1, device).bind_blob(2, correlation);
  auto row = s.step();
  if (!row) return std::unexpected(row.error());
  std::optional<std::string> out;
  if (*row) out = s.column_text(0);
  s.reset();
  return out;
}

Expected<void> EdgeStore::save_reply(std::string_view device, std::string_view correlation, std::string_view op,
                                     std::string_view reply, std::int64_t ts) {
  return st_->save_reply.bind(1, device).bind_blob(2, correlation).bind(3, op).bind(4, reply).bind(5, ts).run();
}

Expected<int> EdgeStore::prune_replies(std::int64_t before_ts) {
  if (auto ok = st_->prune_replies.bind(1, before_ts).run(); !ok) return std::unexpected(ok.error());
  return db_.changes();
}

Expected<void> EdgeStore::insert_rating(std::int64_t ts, std::string_view counter,
                                        const std::optional<std::string>& ticket, int score,
                                        std::string_view device) {
  return st_->insert_rating.bind(1, ts).bind(2, counter).bind(3, ticket).bind(4, score).bind(5, device).run();
}

Expected<void> EdgeStore::insert_help(std::string_view id, std::int64_t ts, std::string_view device,
                                      const std::optional<std::string>& counter, std::string_view need) {
  return st_->insert_help.bind(1, id).bind(2, ts).bind(3, device).bind(4, counter).bind(5, need).run();
}

Expected<std::optional<AppointmentRow>> EdgeStore::appointment(std::string_view code) {
  st_->appointment.bind(1, code);
  auto rows = collect(st_->appointment, [](Statement& s) -> Expected<AppointmentRow> {
    AppointmentRow a;
    a.code = s.column_text(0);
    a.service = s.column_text(1);
    a.slot_start = s.column_int(2);
    a.slot_end = s.column_int(3);
    a.state = s.column_text(4);
    a.ticket = s.column_optional_text(5);
    a.name = s.column_text(6);
    a.phone = s.column_optional_text(7);
    a.special_need = s.column_optional_text(8);
    a.source = s.column_text(9);
    a.id_hash = s.column_optional_text(10);
    a.day = static_cast<int>(s.column_int(11));
    return a;
  });
  if (!rows) return std::unexpected(rows.error());
  if (rows->empty()) return std::optional<AppointmentRow>{};
  return std::optional<AppointmentRow>{std::move(rows->front())};
}

Expected<void> EdgeStore::save_appointment(const AppointmentRow& a) {
  auto& s = st_->save_appointment;
  return s.bind(1, a.code).bind(2, a.service).bind(3, a.slot_start).bind(4, a.slot_end).bind(5, a.state)
      .bind(6, a.ticket).bind(7, a.name).bind(8, a.phone).bind(9, a.special_need).bind(10, a.source)
      .bind(11, a.id_hash).bind(12, a.day).run();
}

Expected<void> EdgeStore::insert_sample(std::string_view device, std::int64_t received_ts, std::int64_t ts,
                                        std::string_view metrics_json) {
  return st_->insert_sample.bind(1, device).bind(2, received_ts).bind(3, ts).bind(4, metrics_json).run();
}

Expected<std::vector<StoredSample>> EdgeStore::samples_since(std::int64_t received_from) {
  st_->samples_since.bind(1, received_from);
  return collect(st_->samples_since, [](Statement& s) -> Expected<StoredSample> {
    return StoredSample{s.column_text(0), s.column_int(1), s.column_text(2)};
  });
}

Expected<int> EdgeStore::purge_samples(std::int64_t received_before, int limit) {
  if (auto ok = st_->purge_samples.bind(1, received_before).bind(2, limit).run(); !ok) return std::unexpected(ok.error());
  return db_.changes();
}

Expected<std::vector<std::pair<std::string, std::int64_t>>> EdgeStore::summary_marks() {
  return collect(st_->marks, [](Statement& s) -> Expected<std::pair<std::string, std::int64_t>> {
    return std::pair<std::string, std::int64_t>{s.column_text(0), s.column_int(1)};
  });
}

Expected<void> EdgeStore::save_summary_mark(std::string_view device, std::int64_t summarized_until) {
  return st_->save_mark.bind(1, device).bind(2, summarized_until).run();
}

Expected<void> EdgeStore::save_alert(const AlertRow& a) {
  auto& s = st_->save_alert;
  s.bind(1, a.id).bind(2, a.rule).bind(3, a.subject).bind(4, a.severity).bind(5, a.state).bind(6, a.message);
  s.bind(7, a.raised_ts).bind(8, a.acked_ts).bind(9, a.acked_by).bind(10, a.resolved_ts).bind(11, a.resolved_by);
  return s.run();
}

Expected<std::vector<AlertRow>> EdgeStore::open_alerts() {
  return collect(st_->open_alerts, [](Statement& s) -> Expected<AlertRow> {
    return AlertRow{s.column_text(0),          s.column_text(1),          s.column_text(2),
                    s.column_text(3),          s.column_text(4),          s.column_text(5),
                    s.column_int(6),           s.column_optional_int(7),  s.column_optional_text(8),
                    s.column_optional_int(9),  s.column_optional_text(10)};
  });
}

Expected<std::optional<std::string>> EdgeStore::help_state(std::string_view id) {
  st_->help_state.bind(1, id);
  auto rows = collect(st_->help_state, [](Statement& s) -> Expected<std::string> { return s.column_text(0); });
  if (!rows) return std::unexpected(rows.error());
  if (rows->empty()) return std::optional<std::string>{};
  return std::optional<std::string>{rows->front()};
}

Expected<bool> EdgeStore::answer_help(std::string_view id, std::int64_t ts, std::string_view by) {
  if (auto ok = st_->answer_help.bind(1, id).bind(2, ts).bind(3, by).run(); !ok) return std::unexpected(ok.error());
  return db_.changes() == 1;
}

Expected<bool> EdgeStore::integrity_ok() {
  auto s = db_.prepare("PRAGMA integrity_check");
  if (!s) return std::unexpected(s.error());
  auto row = s->step();
  if (!row) return std::unexpected(row.error());
  return *row && s->column_text(0) == "ok";
}

void EdgeStore::checkpoint() { (void)db_.exec("PRAGMA wal_checkpoint(PASSIVE)"); }

}  // namespace yiban::edge::store
