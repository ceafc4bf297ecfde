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
