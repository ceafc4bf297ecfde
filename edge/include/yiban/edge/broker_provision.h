#pragma once
// Broker credentials and ACLs for one hall, generated from hall.json
// (ARCHITECTURE §5, "Broker security"): `yiban-edge provision`.
//
// DIR/mosquitto.conf   listener, no anonymous access, password_file, acl_file
// DIR/passwd           Mosquitto's password file ($7$: PBKDF2-SHA512, 101 rounds)
// DIR/acl              per-user topic rules
// DIR/credentials/USER.password   one per device, the edge and the monitor (0600)
//
// Users: each device by its id ([a-z0-9-], so it can never clash with the
// dotted names), "yiban.edge" for the edge, "yiban.monitor" for operators'
// read-only tools (mosquitto_sub). A device may write only its own status,
// requests and telemetry, and read the board, catalog, alerts and its own
// cmd and res; only the edge writes board/, catalog, alerts, cmd and replies.
//
// Re-provisioning keeps every existing user's password (read back from its
// credentials file), adds new devices and revokes removed ones (their
// credentials file is deleted and they vanish from passwd and acl). Mosquitto
// reads the files at start and on SIGHUP.

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "yiban/protocol/error.h"
#include "yiban/protocol/hall_config.h"

namespace yiban::edge {

inline constexpr std::string_view kEdgeBrokerUser = "yiban.edge";
inline constexpr std::string_view kMonitorBrokerUser = "yiban.monitor";

struct ProvisionOptions {
  std::filesystem::path out;
  std::string listen_address = "127.0.0.1";  // "" listens on every interface
  int port = 1883;
  // TLS listener when cert_file is set (key_file then required); ca_file is
  // written as the listener's cafile.
  std::filesystem::path cert_file;
  std::filesystem::path key_file;
  std::filesystem::path ca_file;
};

struct ProvisionReport {
  std::vector<std::string> created;  // users given a new password
  std::vector<std::string> kept;  // users whose password was kept
  std::vector<std::string> revoked;  // users of an earlier run no longer in hall.json
};

// Writes (atomically, file by file) everything listed above.
protocol::Expected<ProvisionReport> provision_broker(const protocol::HallConfig& hall, const ProvisionOptions& options);

// One password-file line's hash in Mosquitto 2.0's format for salt (12 bytes):
// "$7$101$<base64 salt>$<base64 PBKDF2-HMAC-SHA512(password, salt, 101, 64)>".
std::string mosquitto_password_hash(std::string_view password, std::string_view salt);
// The ACL text for the hall (deterministic: devices in hall.json order).
std::string broker_acl(const protocol::HallConfig& hall);
// The broker config text pointing at dir's passwd and acl.
std::string broker_config(const ProvisionOptions& options);

// `yiban-edge provision …`: parses its own options; returns the exit code.
int provision_main(int argc, char** argv);

}  // namespace yiban::edge
