#pragma once
// The hall's retention job (hall.json "retention", edge/README.md
// "Retention"): what the hall no longer needs leaves the hot database in
// small transactions, so a hall box stays bounded for years.
//
// One run walks the stages below in order; each step() does at most
// batch_rows rows of one stage in one transaction, so the engine thread that
// calls it between batches is never held for long. A stage is finished when
// a step removes fewer rows than the batch.
//
//   telemetry   raw samples received before now - telemetry_days
//   replies     recorded device replies older than replies_h
//   outbox      delivered and dead notifications older than outbox_days
//   turn_near   "turn near" marks older than personal_days
//   tickets     phone numbers of tickets of business days before today - personal_days
//   ticket_rows the rows of tickets, ratings and per-day number series of business
//               days before today - tickets_days (their events stay in the log)
//   bookings    phone and special need of bookings of such days (the name is masked)
//   cases       contact and note of cases completed or rejected personal_days ago (masked)
//   case_files  material files of cases completed or rejected case_files_days ago
//               (the rows and the files no other case uses; a case.files_purged event each)
//   events      events central acknowledged, older than events_days, appended to
//               a monthly archive file <archive_dir>/events-YYYYMM.jsonl (0600, the
//               exact stored text, one per line) before they leave the table;
//               meta archive_seq/archive_chain anchor the chain of what remains.
//               The newest event and any event central has not acknowledged stay.
//
// Threading: the engine thread that owns the EdgeStore.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "store/edge_store.h"
#include "yiban/protocol/hall_config.h"
#include "yiban/protocol/time_zone.h"

namespace yiban::runtime {
class BlobStore;
}

namespace yiban::edge::store {

struct RetentionCounts {
  std::uint64_t telemetry = 0;
  std::uint64_t replies = 0;
  std::uint64_t outbox = 0;
  std::uint64_t turn_near = 0;
  std::uint64_t tickets_cleared = 0;
  std::uint64_t bookings_cleared = 0;
  std::uint64_t cases_cleared = 0;
  std::uint64_t case_files = 0;  // files removed from the blob folder
  std::uint64_t events_archived = 0;
  std::uint64_t ticket_rows = 0;  // tickets, ratings and number series of old business days

  RetentionCounts& operator+=(const RetentionCounts& o);
  std::uint64_t total() const;
  // "telemetry 1200, replies 3, …" (only the non-zero ones; "nothing" when none).
  std::string summary() const;
};

class Retention {
 public:
  // config and zone are the engine's (they may change under config.set: each
  // step reads them again). blobs may be null (no case files purged).
  Retention(EdgeStore& store, const protocol::HallConfig& config, const protocol::TimeZone& zone,
            std::filesystem::path archive_dir, runtime::BlobStore* blobs);

  // Is a run in progress, or due at now?
  bool due(std::int64_t now) const;
  // One step of the current run (starting one if due). acked: the highest
  // event central durably holds (0 when unknown: nothing is archived).
  // Returns true when this step finished the run.
  Expected<bool> step(std::int64_t now, std::int64_t acked);
  // A whole run now, step after step (tests, the soak benchmark).
  Expected<RetentionCounts> run_all(std::int64_t now, std::int64_t acked);

  const RetentionCounts& last_run() const { return last_run_; }
  // Since construction, including the steps of a run in progress.
  RetentionCounts totals() const {
    RetentionCounts t = totals_;
    if (stage_ != Stage::kDone) t += current_;
    return t;
  }
  std::uint64_t runs() const { return runs_; }
  double last_run_ms() const { return last_run_ms_; }
  const std::filesystem::path& archive_dir() const { return archive_dir_; }

 private:
  enum class Stage { kTelemetry, kReplies, kOutbox, kTurnNear, kTickets, kTicketRows, kBookings, kCases, kCaseFiles, kEvents, kDone };
  // Runs one batch of the stage inside the open transaction; returns rows done.
  Expected<int> run_stage(Stage stage, std::int64_t now, std::int64_t acked, int batch);
  Expected<int> archive_events(std::int64_t now, std::int64_t acked, int batch);
  Expected<int> purge_case_files(std::int64_t now, std::int64_t cutoff, int batch);
  Expected<int> clear_bookings(int before_day, int batch);
  Expected<int> clear_cases(std::int64_t cutoff, int batch);

  EdgeStore& store_;
  const protocol::HallConfig& config_;
  const protocol::TimeZone& zone_;
  std::filesystem::path archive_dir_;
  runtime::BlobStore* blobs_;
  std::vector<std::filesystem::path> pending_removals_;  // blob files to remove once the step committed
  Stage stage_ = Stage::kDone;
  std::int64_t next_run_ms_ = 0;
  std::int64_t run_started_ms_ = 0;
  double run_ms_ = 0;
  RetentionCounts current_;
  RetentionCounts last_run_;
  RetentionCounts totals_;
  std::uint64_t runs_ = 0;
  double last_run_ms_ = 0;
};

// Verifies the whole event log of an edge database: the archive files (in
// name order, from seq 1 and chain(0)) up to the store's anchor, then the
// events still in the table, each against its stored chain value.
struct EventLogCheck {
  bool ok = true;
  std::string problem;  // empty when ok
  std::int64_t archived = 0;  // events verified in archive files
  std::int64_t hot = 0;  // events verified in the table
  std::int64_t last_seq = 0;
};
Expected<EventLogCheck> verify_event_log(Database& db, const std::filesystem::path& archive_dir);

// The archive folder of a database file: <db dir>/<db stem>.archive.
std::filesystem::path archive_dir_of(const std::filesystem::path& db_path);

}  // namespace yiban::edge::store
