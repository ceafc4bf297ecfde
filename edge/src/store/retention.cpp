#include "store/retention.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>
#include <zlib.h>

#include "store/event_archive.h"
#include "yiban/runtime/blob_store.h"
#include "yiban/protocol/bookings.h"
#include "yiban/protocol/cases.h"

namespace yiban::edge::store {
namespace {

constexpr std::int64_t kDayMs = 86400000;
constexpr int kCaseBatch = 50;  // cases per transaction (each may own many files)

// yyyymm of a UTC time, for archive file names.
std::string month_of(std::int64_t utc_ms) {
  std::time_t t = static_cast<std::time_t>(utc_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return std::to_string((tm.tm_year + 1900) * 100 + tm.tm_mon + 1);
}

Expected<int> run_counted(Database& db, std::string_view sql, std::int64_t a, int limit) {
  auto s = db.prepare(sql);
  if (!s) return std::unexpected(s.error());
  if (auto ok = s->bind(1, a).bind(2, limit).run(); !ok) return std::unexpected(ok.error());
  return db.changes();
}

using protocol::errno_text;

// Appends lines to an archive file after cutting it back to keep_bytes (what
// the store says was archived: a run that crashed before its commit left
// more), then makes it durable.
Expected<std::int64_t> append_durably(const std::filesystem::path& file, std::int64_t keep_bytes,
                                      const std::string& lines) {
  std::error_code ec;
  const auto dir = file.parent_path();
  if (!std::filesystem::exists(dir, ec)) {
    std::filesystem::create_directories(dir, ec);
    if (ec) return protocol::error("archive folder " + dir.string() + ": " + ec.message());
    ::chmod(dir.c_str(), 0700);
  }
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return protocol::error("archive " + file.string() + ": " + errno_text());
  auto fail = [&](const std::string& what) {
    std::string m = "archive " + file.string() + ": " + what + ": " + errno_text();
    ::close(fd);
    return protocol::error(m);
  };
  if (::ftruncate(fd, keep_bytes) != 0) return fail("truncate");
  if (::lseek(fd, keep_bytes, SEEK_SET) < 0) return fail("seek");
  std::size_t done = 0;
  while (done < lines.size()) {
    ssize_t n = ::write(fd, lines.data() + done, lines.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("write");
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) return fail("fsync");
  ::close(fd);
  if (keep_bytes == 0) {  // a new file: its directory entry must be durable too
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      (void)::fsync(dfd);
      ::close(dfd);
    }
  }
  return keep_bytes + static_cast<std::int64_t>(lines.size());
}

// One gzip member of text (members concatenate into one valid .gz file, and
// zlib reads them back as one stream).
Expected<std::string> gzip_member(const std::string& text) {
  z_stream z{};
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return protocol::error("archive: zlib cannot start a gzip stream");
  std::string out(deflateBound(&z, static_cast<uLong>(text.size())), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z.avail_in = static_cast<uInt>(text.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) return protocol::error("archive: zlib could not compress " + std::to_string(text.size()) +
                                                 " bytes");
  return out;
}

}  // namespace

RetentionCounts& RetentionCounts::operator+=(const RetentionCounts& o) {
  telemetry += o.telemetry;
  replies += o.replies;
  outbox += o.outbox;
  turn_near += o.turn_near;
  tickets_cleared += o.tickets_cleared;
  bookings_cleared += o.bookings_cleared;
  cases_cleared += o.cases_cleared;
  case_files += o.case_files;
  events_archived += o.events_archived;
  ticket_rows += o.ticket_rows;
  return *this;
}

std::uint64_t RetentionCounts::total() const {
  return telemetry + replies + outbox + turn_near + tickets_cleared + bookings_cleared + cases_cleared + case_files +
         events_archived + ticket_rows;
}

std::string RetentionCounts::summary() const {
  std::string out;
  auto add = [&](const char* name, std::uint64_t n) {
    if (n == 0) return;
    if (!out.empty()) out += ", ";
    out += std::string(name) + " " + std::to_string(n);
  };
  add("telemetry samples", telemetry);
  add("replies", replies);
  add("notifications", outbox);
  add("turn-near marks", turn_near);
  add("ticket phones", tickets_cleared);
  add("booking contacts", bookings_cleared);
  add("case contacts", cases_cleared);
  add("case files", case_files);
  add("events archived", events_archived);
  add("old ticket rows", ticket_rows);
  return out.empty() ? "nothing" : out;
}

std::filesystem::path archive_dir_of(const std::filesystem::path& db_path) {
  return db_path.parent_path() / (db_path.stem().string() + ".archive");
}

Retention::Retention(EdgeStore& store, const protocol::HallConfig& config, const protocol::TimeZone& zone,
                     std::filesystem::path archive_dir, runtime::BlobStore* blobs)
    : store_(store), config_(config), zone_(zone), archive_dir_(std::move(archive_dir)), blobs_(blobs) {}

bool Retention::due(std::int64_t now) const { return stage_ != Stage::kDone || now >= next_run_ms_; }

Expected<bool> Retention::step(std::int64_t now, std::int64_t acked) {
  if (stage_ == Stage::kDone) {
    if (now < next_run_ms_) return false;
    stage_ = Stage::kTelemetry;
    current_ = {};
    run_started_ms_ = now;
    run_ms_ = 0;
  }
  const int batch = config_.retention.batch_rows;
  const auto began = std::chrono::steady_clock::now();
  if (auto ok = store_.begin(); !ok) return std::unexpected(ok.error());
  pending_removals_.clear();
  const RetentionCounts before = current_;  // a failed step counts nothing
  auto done = run_stage(stage_, now, acked, batch);
  if (!done) {
    store_.rollback();
    pending_removals_.clear();
    totals_ += before;  // what earlier steps of this run committed
    next_run_ms_ = now + static_cast<std::int64_t>(config_.retention.period_s) * 1000;
    stage_ = Stage::kDone;
    return std::unexpected(done.error());
  }
  if (auto ok = store_.commit(); !ok) {
    pending_removals_.clear();
    totals_ += before;
    next_run_ms_ = now + static_cast<std::int64_t>(config_.retention.period_s) * 1000;
    stage_ = Stage::kDone;
    return std::unexpected(ok.error());
  }
  // Files leave only after the rows that named them are gone for good.
  for (const auto& path : pending_removals_) {
    std::error_code ec;
    if (std::filesystem::remove(path, ec)) ++current_.case_files;
  }
  pending_removals_.clear();
  run_ms_ += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - began).count();
  const int limit = stage_ == Stage::kCaseFiles || stage_ == Stage::kCases ? std::min(batch, kCaseBatch) : batch;
  if (*done < limit) stage_ = static_cast<Stage>(static_cast<int>(stage_) + 1);
  if (stage_ != Stage::kDone) return false;
  last_run_ = current_;
  totals_ += current_;
  ++runs_;
  last_run_ms_ = run_ms_;
  next_run_ms_ = now + static_cast<std::int64_t>(config_.retention.period_s) * 1000;
  return true;
}

Expected<RetentionCounts> Retention::run_all(std::int64_t now, std::int64_t acked) {
  next_run_ms_ = std::min(next_run_ms_, now);
  while (true) {
    auto done = step(now, acked);
    if (!done) return std::unexpected(done.error());
    if (*done) return last_run_;
  }
}

Expected<int> Retention::run_stage(Stage stage, std::int64_t now, std::int64_t acked, int batch) {
  const auto& r = config_.retention;
  Database& db = store_.database();
  const int personal_before = zone_.local_day(now - static_cast<std::int64_t>(r.personal_days) * kDayMs);
  switch (stage) {
    case Stage::kTelemetry: {
      auto n = run_counted(db,
                           "DELETE FROM telemetry WHERE id IN (SELECT id FROM telemetry WHERE received_ts < ?1 "
                           "ORDER BY received_ts LIMIT ?2)",
                           now - static_cast<std::int64_t>(r.telemetry_days) * kDayMs, batch);
      if (n) current_.telemetry += static_cast<std::uint64_t>(*n);
      return n;
    }
    case Stage::kReplies: {
      auto n = run_counted(db,
                           "DELETE FROM requests WHERE (device, correlation) IN (SELECT device, correlation FROM "
                           "requests WHERE ts < ?1 LIMIT ?2)",
                           now - static_cast<std::int64_t>(r.replies_h) * 3600 * 1000, batch);
      if (n) current_.replies += static_cast<std::uint64_t>(*n);
      return n;
    }
    case Stage::kOutbox: {
      auto n = run_counted(db,
                           "DELETE FROM notify_outbox WHERE id IN (SELECT id FROM notify_outbox WHERE state != "
                           "'pending' AND created_ts < ?1 LIMIT ?2)",
                           now - static_cast<std::int64_t>(r.outbox_days) * kDayMs, batch);
      if (n) current_.outbox += static_cast<std::uint64_t>(*n);
      return n;
    }
    case Stage::kTurnNear: {
      auto n = run_counted(db,
                           "DELETE FROM turn_near_sent WHERE ticket IN (SELECT ticket FROM turn_near_sent WHERE ts < "
                           "?1 LIMIT ?2)",
                           now - static_cast<std::int64_t>(r.personal_days) * kDayMs, batch);
      if (n) current_.turn_near += static_cast<std::uint64_t>(*n);
      return n;
    }
    case Stage::kTickets: {
      auto n = run_counted(db,
                           "UPDATE tickets SET phone = NULL WHERE rowid IN (SELECT rowid FROM tickets WHERE day < ?1 "
                           "AND phone IS NOT NULL LIMIT ?2)",
                           personal_before, batch);
      if (n) current_.tickets_cleared += static_cast<std::uint64_t>(*n);
      return n;
    }
    case Stage::kTicketRows: {
      if (r.tickets_days == 0) return 0;
      const std::int64_t cutoff = now - static_cast<std::int64_t>(r.tickets_days) * kDayMs;
      const int before_day = zone_.local_day(cutoff);
      int most = 0;
      for (auto [sql, value] : std::initializer_list<std::pair<std::string_view, std::int64_t>>{
               {"DELETE FROM tickets WHERE rowid IN (SELECT rowid FROM tickets WHERE day < ?1 LIMIT ?2)", before_day},
               {"DELETE FROM ratings WHERE id IN (SELECT id FROM ratings WHERE ts < ?1 LIMIT ?2)", cutoff},
               {"DELETE FROM day_numbers WHERE (day, series) IN (SELECT day, series FROM day_numbers WHERE day < ?1 "
                "LIMIT ?2)",
                before_day}}) {
        auto n = run_counted(db, sql, value, batch);
        if (!n) return n;
        current_.ticket_rows += static_cast<std::uint64_t>(*n);
        most = std::max(most, *n);
      }
      return most;
    }
    case Stage::kBookings: return clear_bookings(personal_before, batch);
    case Stage::kCases:
      return clear_cases(now - static_cast<std::int64_t>(r.personal_days) * kDayMs, std::min(batch, kCaseBatch));
    case Stage::kCaseFiles:
      return purge_case_files(now, now - static_cast<std::int64_t>(r.case_files_days) * kDayMs,
                              std::min(batch, kCaseBatch));
    case Stage::kEvents: return archive_events(now, acked, batch);
    case Stage::kDone: return 0;
  }
  return 0;
}

Expected<int> Retention::clear_bookings(int before_day, int batch) {
  Database& db = store_.database();
  auto s = db.prepare("SELECT code, name FROM appointments WHERE day < ?1 AND personal_cleared = 0 LIMIT ?2");
  if (!s) return std::unexpected(s.error());
  s->bind(1, before_day).bind(2, batch);
  std::vector<std::pair<std::string, std::string>> rows;
  for (auto row = s->step(); row && *row; row = s->step()) rows.emplace_back(s->column_text(0), s->column_text(1));
  s->reset();
  auto u = db.prepare(
      "UPDATE appointments SET name = ?2, phone = NULL, special_need = NULL, personal_cleared = 1 WHERE code = ?1");
  if (!u) return std::unexpected(u.error());
  for (const auto& [code, name] : rows) {
    std::string masked = name.find('*') != std::string::npos || name.empty() ? name : protocol::cases::mask_name(name);
    if (auto ok = u->bind(1, code).bind(2, masked).run(); !ok) return std::unexpected(ok.error());
  }
  current_.bookings_cleared += rows.size();
  return static_cast<int>(rows.size());
}

Expected<int> Retention::clear_cases(std::int64_t cutoff, int batch) {
  Database& db = store_.database();
  auto s = db.prepare(
      "SELECT id, file FROM cases WHERE state IN ('completed', 'rejected') AND updated_ts < ?1 AND "
      "personal_cleared = 0 LIMIT ?2");
  if (!s) return std::unexpected(s.error());
  s->bind(1, cutoff).bind(2, batch);
  std::vector<std::pair<std::string, std::string>> rows;
  for (auto row = s->step(); row && *row; row = s->step()) rows.emplace_back(s->column_text(0), s->column_text(1));
  s->reset();
  auto u = db.prepare("UPDATE cases SET file = ?2, personal_cleared = 1 WHERE id = ?1");
  if (!u) return std::unexpected(u.error());
  for (auto& [id, text] : rows) {
    // Only the masks remain: the contact masked, the free-text note and any
    // sealed copy of them gone. A file this code cannot read keeps its text
    // but is marked, so it is not read again every run.
    if (auto file = protocol::cases::decode_case_file(text)) {
      file->contact_name = file->contact_name.empty() ? "" : protocol::cases::mask_name(file->contact_name);
      file->contact_phone = file->contact_phone.empty() ? "" : protocol::bookings::mask_phone(file->contact_phone);
      file->note.clear();
      // A sealed copy of contact and note (issue 15, part 4) goes as well.
      [](auto& f) {
        if constexpr (requires { f.sealed.clear(); }) f.sealed.clear();
      }(*file);
      text = protocol::cases::encode_case_file(*file);
    }
    if (auto ok = u->bind(1, id).bind(2, text).run(); !ok) return std::unexpected(ok.error());
  }
  current_.cases_cleared += rows.size();
  return static_cast<int>(rows.size());
}

Expected<int> Retention::purge_case_files(std::int64_t now, std::int64_t cutoff, int batch) {
  Database& db = store_.database();
  auto s = db.prepare(
      "SELECT id FROM cases WHERE state IN ('completed', 'rejected') AND updated_ts < ?1 AND files_purged = 0 "
      "LIMIT ?2");
  if (!s) return std::unexpected(s.error());
  s->bind(1, cutoff).bind(2, batch);
  std::vector<std::string> ids;
  for (auto row = s->step(); row && *row; row = s->step()) ids.push_back(s->column_text(0));
  s->reset();
  auto files = db.prepare("SELECT sha256, size FROM case_materials WHERE id = ?1");
  auto drop = db.prepare("DELETE FROM case_materials WHERE id = ?1");
  auto used = db.prepare("SELECT 1 FROM case_materials WHERE sha256 = ?1 LIMIT 1");
  auto mark = db.prepare("UPDATE cases SET files_purged = 1 WHERE id = ?1");
  if (!files || !drop || !used || !mark) return protocol::error("retention: cannot prepare the case file purge");
  for (const auto& id : ids) {
    std::vector<std::string> shas;
    std::int64_t bytes = 0;
    files->bind(1, id);
    for (auto row = files->step(); row && *row; row = files->step()) {
      shas.push_back(files->column_text(0));
      bytes += files->column_int(1);
    }
    files->reset();
    if (auto ok = drop->bind(1, id).run(); !ok) return std::unexpected(ok.error());
    for (const auto& sha : shas) {
      used->bind(1, sha);
      auto row = used->step();
      if (!row) return std::unexpected(row.error());
      bool still_used = *row;
      used->reset();
      if (!still_used && blobs_ && blobs_->has(sha)) pending_removals_.push_back(blobs_->path_of(sha));
    }
    if (auto ok = mark->bind(1, id).run(); !ok) return std::unexpected(ok.error());
    nlohmann::json data{{"case", id}, {"files", shas.size()}, {"bytes", bytes},
                        {"after_days", config_.retention.case_files_days}};
    if (auto seq = store_.append_event(now, "case.files_purged", data.dump()); !seq)
      return std::unexpected(seq.error());
  }
  return static_cast<int>(ids.size());
}

Expected<int> Retention::archive_events(std::int64_t now, std::int64_t acked, int batch) {
  const auto& r = config_.retention;
  if (r.events_days == 0) return 0;
  auto anchor_text = store_.get_meta("archive_seq");
  if (!anchor_text) return std::unexpected(anchor_text.error());
  const std::int64_t anchor = *anchor_text ? std::stoll(**anchor_text) : 0;
  // Never what central has not acknowledged, never the newest event (the
  // chain head the store reopens from).
  const std::int64_t upto = std::min(acked, store_.last_seq() - 1);
  if (upto <= anchor) return 0;
  const std::int64_t cutoff = now - static_cast<std::int64_t>(r.events_days) * kDayMs;
  Database& db = store_.database();
  auto s = db.prepare("SELECT seq, ts, text, chain FROM events WHERE seq > ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3");
  if (!s) return std::unexpected(s.error());
  s->bind(1, anchor).bind(2, upto).bind(3, batch);
  auto file_meta = store_.get_meta("archive_file");
  auto bytes_meta = store_.get_meta("archive_bytes");
  if (!file_meta) return std::unexpected(file_meta.error());
  if (!bytes_meta) return std::unexpected(bytes_meta.error());
  std::string current_file = file_meta->value_or("");
  std::string lines;
  std::string month;
  std::int64_t last = anchor;
  std::string last_chain;
  int rows = 0;
  bool more = false;  // stopped at a month's end: the stage goes on
  for (auto row = s->step(); row && *row; row = s->step()) {
    const std::int64_t seq = s->column_int(0);
    const std::int64_t ts = s->column_int(1);
    if (seq != last + 1) {
      s->reset();
      return protocol::error("retention: event " + std::to_string(last + 1) + " is missing from the log");
    }
    if (ts >= cutoff) break;  // the log is in seq order; the rest is younger or as young
    std::string name = "events-" + month_of(ts) + ".jsonl.gz";
    if (name < current_file) name = current_file;  // a clock that went back stays in the newer file
    if (month.empty()) month = name;
    else if (name != month) {  // one file per transaction
      more = true;
      break;
    }
    lines += s->column_text(2);
    lines += '\n';
    last = seq;
    last_chain = s->column_blob(3);
    ++rows;
  }
  s->reset();
  if (rows == 0) return 0;
  // A plain file of this month (written before the archive was compressed)
  // is never appended to: the month goes on in its .gz file, read after it.
  if (!month.ends_with(".gz")) month += ".gz";
  const std::int64_t keep = month == current_file && *bytes_meta ? std::stoll(**bytes_meta) : 0;
  auto member = gzip_member(lines);
  if (!member) return std::unexpected(member.error());
  auto size = append_durably(archive_dir_ / month, keep, *member);
  if (!size) return std::unexpected(size.error());
  protocol::ChainHash chain{};
  if (last_chain.size() != chain.size()) return protocol::error("retention: event " + std::to_string(last) +
                                                                " has a malformed chain value");
  std::copy(last_chain.begin(), last_chain.end(), chain.begin());
  auto del = db.prepare("DELETE FROM events WHERE seq > ?1 AND seq <= ?2");
  if (!del) return std::unexpected(del.error());
  if (auto ok = del->bind(1, anchor).bind(2, last).run(); !ok) return std::unexpected(ok.error());
  for (auto [key, value] : {std::pair<std::string_view, std::string>{"archive_seq", std::to_string(last)},
                            {"archive_chain", protocol::to_hex(chain)},
                            {"archive_file", month},
                            {"archive_bytes", std::to_string(*size)}}) {
    if (auto ok = store_.set_meta(key, value); !ok) return std::unexpected(ok.error());
  }
  current_.events_archived += static_cast<std::uint64_t>(rows);
  // A batch that stopped at a month's end counts as full: the stage goes on.
  return more ? batch : rows;
}

Expected<EventLogCheck> verify_event_log(Database& db, const std::filesystem::path& archive_dir) {
  EventLogCheck out;
  auto fail = [&](std::string why) {
    out.ok = false;
    out.problem = std::move(why);
    return out;
  };
  auto meta = [&](const char* key) -> Expected<std::optional<std::string>> {
    auto s = db.prepare("SELECT value FROM meta WHERE key = ?1");
    if (!s) return std::unexpected(s.error());
    s->bind(1, key);
    auto row = s->step();
    if (!row) return std::unexpected(row.error());
    return *row ? std::optional<std::string>(s->column_text(0)) : std::nullopt;
  };
  auto anchor_text = meta("archive_seq");
  auto anchor_chain_text = meta("archive_chain");
  if (!anchor_text) return std::unexpected(anchor_text.error());
  if (!anchor_chain_text) return std::unexpected(anchor_chain_text.error());
  const std::int64_t anchor = *anchor_text ? std::stoll(**anchor_text) : 0;
  protocol::ChainHash chain = protocol::kChainZero;
  std::int64_t seq = 0;
  if (anchor > 0) {
    // Reads the archive up to the anchor, chaining every event (a gap, a line
    // that is not an event, or a short archive fails the check).
    auto reader = EventArchiveReader::open(archive_dir, anchor + 1);
    if (!reader) return fail(reader.error().message);
    chain = reader->chain();
    seq = anchor;
    out.archived = seq;
    if (!*anchor_chain_text || protocol::to_hex(chain) != **anchor_chain_text)
      return fail("the archive's chain at event " + std::to_string(anchor) + " differs from the store's anchor");
  }
  auto s = db.prepare("SELECT seq, text, chain FROM events ORDER BY seq");
  if (!s) return std::unexpected(s.error());
  for (auto row = s->step(); row; row = s->step()) {
    if (!*row) break;
    const std::int64_t n = s->column_int(0);
    if (n != seq + 1) return fail("event " + std::to_string(n) + " follows " + std::to_string(seq));
    chain = protocol::chain_next(chain, s->column_text(1));
    const std::string stored = s->column_blob(2);
    if (stored.size() != chain.size() || !std::equal(chain.begin(), chain.end(), stored.begin(),
                                                     [](std::uint8_t a, char b) { return a == static_cast<std::uint8_t>(b); }))
      return fail("event " + std::to_string(n) + ": the chain does not match its stored value");
    seq = n;
    ++out.hot;
  }
  out.last_seq = seq;
  return out;
}

}  // namespace yiban::edge::store
