#pragma once
// Broker credentials and ACLs for one hall, generated from hall.json
// (ARCHITECTURE §5, "Broker security"): `yiban-edge provision`.
//
// DIR/mosquitto.conf   listener, no anonymous access, password_file, acl_file,
//                      and the limits below (broker_limits)
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

// What the broker lets any one client cost it (edge/README.md, "Broker and
// rate limits"), sized from the hall's device count:
//   max_packet_size        256 KiB: every packet, either way (the edge's own
//                          limit on a device payload is 16 KiB; its largest
//                          publications, the board and catalog, stay far
//                          below). A bigger PUBLISH gets its sender
//                          disconnected before the broker reads its body.
//   max_inflight_messages  100: QoS 1 messages unacknowledged towards a
//                          client, and the Receive Maximum every MQTT 5 client
//                          is told (a client that ignores it is disconnected).
//   max_queued_messages    200 per device, at least 1000: what waits for a
//                          client that is away (the edge during a restart
//                          holds every device's requests); beyond it the
//                          broker drops silently, hence the generous count.
//   max_queued_bytes       max_queued_messages x 4 KiB: the same bound in
//                          memory (honest messages are well under 1 KiB).
struct BrokerLimits {
  int max_packet_size = 256 * 1024;
  int max_inflight_messages = 100;
  int max_queued_messages = 1000;
  long long max_queued_bytes = 1000LL * 4096;
};
inline constexpr int kQueuedMessagesPerDevice = 200;
BrokerLimits broker_limits(const protocol::HallConfig& hall);

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
// The broker config text pointing at dir's passwd and acl, with limits.
std::string broker_config(const ProvisionOptions& options, const BrokerLimits& limits = {});

// `yiban-edge provision …`: parses its own options; returns the exit code.
int provision_main(int argc, char** argv);

}  // namespace yiban::edge
