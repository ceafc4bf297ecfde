#pragma once
// TLS to the hall broker, shared by the edge and the device agents: an
// ssl:// (or mqtts://) broker URI and, optionally, the CA certificate that
// signed the broker's certificate. Header-only so that the protocol library
// itself does not link Paho; include it only where Paho is linked.

#include <mqtt/connect_options.h>
#include <mqtt/ssl_options.h>

#include <filesystem>
#include <string>
#include <string_view>

#include "yiban/protocol/error.h"

namespace yiban::protocol {

inline bool is_tls_broker_uri(std::string_view uri) {
  return uri.starts_with("ssl://") || uri.starts_with("mqtts://");
}

// Sets TLS on options when uri asks for it: the broker's certificate must
// chain to ca_file (the system's CAs when empty) and name the host in the URI.
// An error when a CA file is given for a plain URI or cannot be read.
inline Expected<void> apply_mqtt_tls(mqtt::connect_options& options, std::string_view uri,
                                     const std::string& ca_file) {
  if (!is_tls_broker_uri(uri)) {
    if (!ca_file.empty())
      return error("--mqtt-ca-file " + ca_file + " needs a TLS broker URI (ssl://host:port), not " + std::string(uri));
    return {};
  }
  std::error_code ec;
  if (!ca_file.empty() && !std::filesystem::is_regular_file(ca_file, ec))
    return error("--mqtt-ca-file " + ca_file + ": no such file");
  mqtt::ssl_options ssl;
  if (!ca_file.empty()) ssl.set_trust_store(ca_file);
  ssl.set_enable_server_cert_auth(true);
  ssl.set_verify(true);  // the certificate must name the host we connect to
  options.set_ssl(std::move(ssl));
  return {};
}

// Why a connect failed, for the log: the MQTT 5 CONNACK codes 134 (bad user
// name or password) and 135 (not authorized) named, "" for any other code.
inline std::string connect_refusal(int code, std::string_view user) {
  if (code != 134 && code != 135) return "";
  if (user.empty()) return "the broker refuses anonymous clients: give --mqtt-user and --mqtt-password-file";
  return "the broker refused user " + std::string(user) +
         ": check --mqtt-user and --mqtt-password-file against the broker's password file";
}

}  // namespace yiban::protocol
