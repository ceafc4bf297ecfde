#pragma once
// Central: the sync server (halls replicate into it), its store, and the HTTP
// API, wired together. Start-up refuses with an Error naming the problem (a
// missing key, an unreadable allow-list, a port in use, a store that cannot
// be opened).

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>

#include "yiban/protocol/error.h"

namespace yiban::central {

struct CentralOptions {
  std::filesystem::path db = "central.db";
  std::string bind = "tcp://*:7701";
  std::filesystem::path cert;  // central's secret certificate
  std::filesystem::path halls_dir;  // allow-list: hall public certificates
  std::string http;  // host:port; empty: no HTTP API
  std::filesystem::path tokens;  // required with http
  std::filesystem::path web;  // static files served at / (optional)
  std::filesystem::path http_tls_cert, http_tls_key;  // PEM files: the API over HTTPS when both are set
  int http_header_timeout_ms = 10000;                 // a request's headers must arrive within this
  int http_max_connections = 4096;
  int http_max_connections_per_peer = 128;
  std::filesystem::path catalog;  // the city service catalog (optional)
  std::filesystem::path blob_dir;  // case files; empty: "<db dir>/<db stem>.blobs"
  std::filesystem::path booking;  // slots of every hall (protocol/BOOKINGS.md); empty: no bookings
  std::filesystem::path case_key_file;  // the city's key that hashes applicants' IDs (bookings need it)
  int rebalance_every_ms = 30000;
  std::string notify_url;  // the city's message sender (webhook); empty: no reminders
  std::filesystem::path notify_secret_file;
  int session_timeout_ms = 10000;
  // What central keeps besides its log (CentralRetention in central_store.h).
  int retention_commands_days = 90;
  int retention_outbox_days = 30;
  int retention_tickets_days = 400;
  int retention_period_ms = 300000;
};

class CentralServer {
 public:
  static protocol::Expected<std::unique_ptr<CentralServer>> create(CentralOptions options);
  ~CentralServer();
  CentralServer(const CentralServer&) = delete;
  CentralServer& operator=(const CentralServer&) = delete;

  std::string sync_endpoint() const;
  int http_port() const;  // 0 without HTTP

  // Serves until stop becomes true (checked every 100 ms), then stops
  // cleanly and returns 0.
  int run(const std::atomic<bool>& stop);

 private:
  struct Impl;
  explicit CentralServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// `yiban-central keygen`: writes DIR/NAME.pub (public certificate) and
// DIR/NAME.key (secret certificate, mode 0600) in CZMQ's format; a hall's
// carries metadata hall = "…". Refuses to overwrite an existing key.
protocol::Expected<void> generate_keys(const std::filesystem::path& dir, const std::string& name,
                                       const std::string& hall);

// Reads a certificate file (public or secret).
struct LoadedCert {
  std::string public_key;
  std::string secret_key;  // empty for a public certificate
  std::string hall;  // metadata hall, if any
};
protocol::Expected<LoadedCert> load_cert(const std::filesystem::path& path, bool need_secret);

// `yiban-central rebuild`: recomputes every projection from the stored events
// and reports whether they equal what was there before.
struct RebuildReport {
  std::int64_t events = 0;
  std::string digest_before;
  std::string digest_after;
};
protocol::Expected<RebuildReport> rebuild_projections(const std::filesystem::path& db);

}  // namespace yiban::central
