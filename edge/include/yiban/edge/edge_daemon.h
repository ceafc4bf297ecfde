#pragma once
// The hall's daemon: owns the hall config, the durable store, the queue
// engine and the device link, and runs them on one engine thread.
//
// Start-up refuses (returns an Error naming the problem) on an invalid hall
// config, an unknown time zone or a store that cannot be opened; the broker
// being away is not an error: the daemon keeps retrying and keeps its state.

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>

#include "yiban/edge/clock.h"
#include "yiban/protocol/error.h"

namespace yiban::edge {

struct EdgeOptions {
  std::filesystem::path hall_config;
  std::filesystem::path db = "edge.db";
  std::string mqtt_uri = "tcp://127.0.0.1:1883";
  std::string mqtt_user;
  std::string mqtt_password;
  std::string mqtt_ca_file;  // with an ssl:// URI: the CA of the broker's certificate
  std::string mqtt_client_id;  // default: yiban-edge-{hall}
  std::filesystem::path zoneinfo_root = "/usr/share/zoneinfo";
  // Replication to central (ARCHITECTURE §6); empty central_uri: runs alone.
  std::string central_uri;
  std::string central_public_key;  // Z85, from central's public certificate
  std::string hall_public_key;  // Z85, from this hall's secret certificate
  std::string hall_secret_key;
  // The hall manager's console API (edge/README.md); empty http_host: none.
  std::string http_host;
  int http_port = 8080;  // 0: any free port
  std::string tokens_text;  // the token file's content (§11)
  std::string web_dir;  // the console's static files, served at /
  std::string http_tls_cert, http_tls_key;  // PEM files: the console over HTTPS when both are set
  int http_header_timeout_ms = 10000;       // a request's headers must arrive within this
  int http_max_connections = 4096;
  int http_max_connections_per_peer = 128;
  // Cross-region cases (protocol/CASES.md): where case files are kept
  // (empty: "<db dir>/<db stem>.blobs"), and the city's case key (the
  // content of --case-key-file; empty: this hall cannot submit cases).
  std::filesystem::path blob_dir;
  std::string case_key;
  // Reminders (protocol/BOOKINGS.md): the hall's own sender of "your turn is
  // near" messages (signed webhook); empty url: none are sent, and no phone
  // number ever leaves the hall.
  std::string notify_url;
  std::string notify_secret;
};

class EdgeDaemon {
 public:
  static protocol::Expected<std::unique_ptr<EdgeDaemon>> create(EdgeOptions options,
                                                                std::shared_ptr<const Clock> clock);
  ~EdgeDaemon();
  EdgeDaemon(const EdgeDaemon&) = delete;
  EdgeDaemon& operator=(const EdgeDaemon&) = delete;

  // Runs the hall until stop becomes true (checked at least every 100 ms),
  // then answers the requests already received, disconnects and returns 0.
  int run(const std::atomic<bool>& stop);

 private:
  struct Impl;
  explicit EdgeDaemon(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace yiban::edge
