#pragma once
// The hall's end of the sync protocol (ARCHITECTURE §6): replicates the event
// log to central over a CURVE-secured DEALER and receives central's commands.
//
// Runs its own thread with its own read-only SQLite connection (a WAL reader
// never blocks the hall's writer), so the hall keeps working whatever central
// does. It never writes the store: commands are handed to the engine thread
// (on_command), which applies each in one transaction and reports back with
// applied().
//
// States (one link at a time):
//   idle        no socket; after back-off → connecting
//   connecting  socket connected, HELLO sent; WELCOME → streaming;
//               no answer within timeout → idle (back-off doubles, max 30 s)
//   streaming   EVENTS batches while fewer than `window` are unacknowledged;
//               ACK frees the window; WELCOME (gap) restarts from its acked;
//               DOWN → commands to the engine, DOWN_ACK once applied;
//               PING when idle for ping_ms; silence for timeout_ms → idle;
//               send queue full (central does not read) → idle
//   halted      central refused our log (chain_mismatch, integrity_broken,
//               wrong_hall, bad_event): nothing is sent; HELLO again after
//               halt_retry_ms in case an operator cleared it; store_changed
//               (this store is not the one central knows for the hall): HELLO
//               again every 5 s until an admin accepts it
//   recovering  WELCOME says central holds more of this hall's log than the
//               store (restored, or re-installed and accepted), or another
//               chain(acked): LOG_GET fetches central's events, the engine
//               adopts them (on_step kAdopt, renumbering the hall's own later
//               events after them); then HELLO again
// Store identity: HELLO names the store and the DOWN epoch down_applied counts
// in; a WELCOME of another epoch re-bases it (on_step kRebase, before any of
// the new epoch's commands).
// Events are never deleted here; the edge keeps its whole log. Events that
// retention archived (store/event_archive.h) and central does not hold (a
// central restored from a backup older than the archive) are read back from
// the archive files and sent like any others; WELCOME's chain(acked) is
// checked against the archive first, and a difference halts the link.
//
// Blob transfer (protocol/CASES.md): while streaming, the client fetches the
// files its cases name that it does not have (one at a time, a window of
// BLOB_GETs), and answers central's BLOB_GETs for files its cases name.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "sync/sync_step.h"
#include "yiban/protocol/error.h"

namespace yiban::edge::sync {

struct SyncClientOptions {
  std::string endpoint;  // tcp://central:7701
  std::string server_public_key;  // Z85
  std::string public_key;  // this hall's, Z85
  std::string secret_key;
  std::string hall;
  std::string name;
  std::string region;
  int capacity = 0;
  std::string db_path;
  std::string blob_dir;  // case files (empty: no blob transfer)
  // The store's event archive (store/event_archive.h; empty: none): events
  // central lacks that retention moved out of `events` are resent from it.
  std::string archive_dir;
  int batch_max = 1000;  // events per EVENTS message
  int window = 8;  // unacknowledged batches in flight
  int ping_ms = 1000;
  int timeout_ms = 5000;
  int backoff_min_ms = 200;
  int backoff_max_ms = 30000;
  int halt_retry_ms = 30000;
  int send_hwm = 1000;  // messages queued toward central; full: the link is dropped and made again
  int receive_hwm = 100;  // messages from central waiting to be read
};

struct SyncStatus {
  std::string state;  // idle, connecting, streaming, halted
  std::int64_t acked = 0;  // highest seq central confirmed
  std::int64_t sent = 0;  // highest seq sent
  std::int64_t down_applied = 0;
  std::string last_error;
  // Lag from a batch's send to its ACK, for the stop summary.
  std::uint64_t batches_acked = 0;
  double ack_ms_max = 0;
  // Blob transfer (case files from central).
  std::uint64_t files_received = 0;
  std::uint64_t chunks_served = 0;
  std::uint64_t bad_chunks = 0;
  // Limits toward central: messages from central refused for more than
  // kMaxMessageFrames frames or kMaxMessageBytes bytes (read and dropped
  // whole), and links dropped because central was not taking our messages
  // (the send queue of send_hwm messages was full; sends never wait).
  std::uint64_t refused_messages = 0;
  std::uint64_t send_queue_full = 0;
};

class SyncClient {
 public:
  // on_command: called on the sync thread with each command's text, in
  // order; it must hand the text to the engine thread and return at once.
  SyncClient(SyncClientOptions options, std::function<void(std::string)> on_command);
  ~SyncClient();
  SyncClient(const SyncClient&) = delete;
  SyncClient& operator=(const SyncClient&) = delete;

  // Opens the read connection and starts the thread; fails on a bad key or
  // an unopenable store.
  protocol::Expected<void> start();
  void stop();

  // Engine thread: events up to last_seq are durable; send them soon.
  void committed(std::int64_t last_seq);
  // Engine thread: commands up to down_seq are applied (durably).
  void applied(std::int64_t down_seq);
  // Store steps for the engine (re-base, adopt central's events); set before
  // start(). Without it the client speaks as an edge from before store
  // identity (no store id in HELLO: central numbers its commands as it did,
  // and a store behind central halts).
  void set_on_step(std::function<void(SyncStep)> on_step);
  // Engine thread: the final kAdopt step is handled; the client says HELLO
  // again, or halts (retrying after halt_retry_ms) when an adopt step failed
  // (error non-empty: why).
  void adopted(const std::string& error);

  SyncStatus status() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace yiban::edge::sync
