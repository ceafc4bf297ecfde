#pragma once
// Central's end of the sync protocol (ARCHITECTURE §6).
//
// One thread owns the ROUTER socket and the store's only writer. Each turn it
// takes every message already waiting (up to a limit), applies them in ONE
// transaction (group commit across halls), commits, and only then sends the
// replies — so an ACK or WELCOME never names an event that is not durable. If
// the commit fails nothing is answered; the edges resend.
//
// Per hall, in memory, a Session mirrors the hall's sync row:
//   unwelcomed --HELLO(hall matches the key's User-Id)--> welcomed
//   welcomed   --EVENTS from == acked+1, chain ok--> store, ACK
//              --EVENTS to <= acked--> ACK (duplicate)
//              --EVENTS other from--> WELCOME (gap or overlap; nothing stored)
//              --EVENTS chain mismatch--> ERROR chain_mismatch, integrity broken
//   broken     --any EVENTS or HELLO--> ERROR integrity_broken, until an
//              operator clears it (clear_integrity)
//   any        --silent for session_timeout--> disconnected (recorded)
// Commands (DOWN) go out one message at a time per hall: the next DOWN leaves
// when DOWN_ACK confirms the previous one; a reconnect resends from the
// edge's down_applied + 1.
//
// Other threads (the HTTP API) hand work in through enqueue_command() and
// clear_integrity(); their futures complete after the commit.
//
// Cross-region cases (protocol/CASES.md): ingesting a case event queues a
// forward for the other hall; each turn, forwards whose files central has
// become DOWN commands. Central pulls the files a hall's cases name from that
// hall (BLOB_GET, one file at a time per hall, a window of chunks) and
// answers halls' BLOB_GETs for files of cases they are a party to.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "sync/allow_list.h"
#include "yiban/central/central_store.h"
#include "yiban/protocol/error.h"

namespace yiban::central::sync {

struct SyncServerOptions {
  std::string bind = "tcp://*:7701";
  std::string public_key;  // Z85
  std::string secret_key;  // Z85
  int session_timeout_ms = 10000;  // no message for this long: the hall is disconnected
  std::size_t max_messages_per_turn = 512;
  // A turn also ends after this many frames (≈ events), so that one turn,
  // and the ACKs waiting for its commit, stay short under a flood.
  std::size_t max_frames_per_turn = 20000;
  // The store's file: checkpoints run on their own thread and connection,
  // off the commit path. Empty: SQLite's own checkpoints only.
  std::string db_path;
  // Case files (protocol/CASES.md); empty: no blob transfer.
  std::string blob_dir;
  int case_sla_sweep_ms = 10000;  // how often central checks case SLAs
  // What central keeps besides its log (CentralRetention), checked this often;
  // a run that removed a full batch of a table runs again within a second.
  CentralRetention retention;
  int retention_period_ms = 300000;

  // Limits, so that no hall can stall the one sync thread or grow central's
  // memory (the others keep replicating whatever one hall does).
  // Sends never block: messages queued for one connection (ZMQ_SNDHWM). A
  // hall whose queue is full is not reading: it is disconnected (central
  // forgets its link and it must say HELLO again).
  int send_hwm = 100;
  // EVENTS batches of one hall taken in one turn (they wait for the turn's
  // commit before their ACK); more are refused with ERROR limit. The edge
  // keeps a window of 8.
  int max_events_in_flight = 16;
  // BLOB_GETs a hall may send (each costs a store lookup), per second and burst.
  double blob_gets_per_s = 256;
  double blob_gets_burst = 64;
  // Bytes of file chunks served to one hall, per second and burst. A GET over
  // the rate waits (at most blob_gets_deferred of them per hall) and is
  // served when the rate allows; beyond that it is dropped (the hall's
  // fetcher asks again).
  double blob_bytes_per_s = 8.0 * 1024 * 1024;
  double blob_bytes_burst = 2.0 * 1024 * 1024;
  int blob_gets_deferred = 16;
};

// What /metrics shows; a copy taken under the server's lock.
struct SyncMetrics {
  std::uint64_t events_ingested = 0;
  std::uint64_t batches = 0;
  std::uint64_t commits = 0;
  std::uint64_t errors_sent = 0;
  std::uint64_t refused_connections = 0;
  std::uint64_t files_received = 0;  // case files fetched from halls
  std::uint64_t chunks_served = 0;  // BLOB_DATA sent to halls
  std::uint64_t bad_chunks = 0;  // damaged chunks refused
  std::uint64_t cases_routed = 0;  // case steps forwarded as commands
  // Refusals (limits of SyncServerOptions); each also logged, at most one
  // line per hall per 10 s.
  std::uint64_t refused_message_frames = 0;  // a message of more than kMaxMessageFrames frames
  std::uint64_t refused_message_bytes = 0;  // a message of more than kMaxMessageBytes bytes
  std::uint64_t refused_events_in_flight = 0;  // EVENTS past max_events_in_flight in one turn
  std::uint64_t refused_blob_gets = 0;  // BLOB_GETs over blob_gets_per_s
  std::uint64_t refused_blob_bytes = 0;  // BLOB_GETs dropped over blob_bytes_per_s (deferred queue full)
  std::uint64_t refused_blob_denied = 0;  // BLOB_GETs for files of no case the hall is a party to
  std::uint64_t send_queue_full = 0;  // halls disconnected because their send queue was full
  std::uint64_t replies_dropped = 0;  // replies not sent (queue full, or the connection gone)
  // Store identity: HELLOs refused with store_changed; commands halls had
  // applied that this store does not hold (their sync.rebased events); events
  // halls fetched back (LOG) to repair a store behind central.
  std::uint64_t store_changed_refused = 0;
  std::uint64_t commands_lost = 0;
  std::uint64_t log_events_served = 0;
  // Rows central's retention removed (CentralRetention).
  std::uint64_t retention_commands = 0;
  std::uint64_t retention_outbox = 0;
  std::uint64_t retention_tickets = 0;
  struct Hall {
    std::string hall;
    bool connected = false;
    std::int64_t acked = 0;
    std::int64_t edge_last_seq = 0;
    std::int64_t down_pending = 0;
    bool integrity_ok = true;
  };
  std::vector<Hall> halls;
};

class SyncServer {
 public:
  // Binds (after starting the ZAP handler). Fails with a message naming the
  // endpoint or the store problem.
  static protocol::Expected<std::unique_ptr<SyncServer>> create(SyncServerOptions options, AllowList allow_list,
                                                                std::unique_ptr<CentralStore> store);
  ~SyncServer();
  SyncServer(const SyncServer&) = delete;
  SyncServer& operator=(const SyncServer&) = delete;

  // The endpoint actually bound (resolves tcp://*:0 to the chosen port).
  std::string endpoint() const;
  // A hall's CURVE public keys from the allow-list (empty for an unknown
  // hall): personal data for that hall is sealed to them. Any thread.
  std::vector<std::string> hall_keys(const std::string& hall) const;

  void start();
  void stop();

  // Any thread. Queues a command for the hall (validated: see
  // protocol/commands.h); the future gives its down_seq once durable.
  std::future<protocol::Expected<std::int64_t>> enqueue_command(std::string hall, std::string type,
                                                                std::string data_json);
  // Any thread. Sends the city catalog (canonical text, version) to every
  // hall of the allow-list that was not yet sent this version; the future
  // gives how many were queued.
  std::future<protocol::Expected<int>> push_catalog(std::string text, std::string version);
  // Any thread. Runs fn inside the next turn's transaction (group commit);
  // commands fn queues through the store are listed in `queued` and sent
  // after the commit; the future gives fn's result once it is durable (or
  // the commit's error).
  using Transaction =
      std::function<protocol::Expected<std::string>(CentralStore& store, std::vector<RoutedCommand>& queued)>;
  std::future<protocol::Expected<std::string>> transact(Transaction fn);
  // Any thread. Records a view or download at central (what: detail or
  // material); the future completes once it is durable.
  std::future<protocol::Expected<void>> record_case_access(std::string id, std::string by, std::string what,
                                                           std::string sha256);
  // Any thread. An operator clears a hall's integrity mark.
  std::future<protocol::Expected<void>> clear_integrity(std::string hall, std::string by);
  // An admin accepts the store a hall was refused with (store_changed): its
  // next HELLO is welcomed and central's log of the hall is kept. Fails when
  // no store of the hall was refused.
  std::future<protocol::Expected<std::string>> accept_store(std::string hall, std::string by);

  SyncMetrics metrics() const;

  // Live views: returns once something was committed after version `seen`
  // (or on timeout, or when closed) with the current version.
  std::uint64_t wait_for_change(std::uint64_t seen, std::chrono::milliseconds timeout);
  // Wakes and ends every waiting live view (shutdown).
  void close_feeds();
  bool feeds_closed() const;

 private:
  struct Impl;
  explicit SyncServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace yiban::central::sync
