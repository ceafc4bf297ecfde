#pragma once
// CURVE certificates in CZMQ's format (ARCHITECTURE §11): ZPL text with a
// `metadata` section (a hall's certificate carries hall = "…") and a `curve`
// section holding public-key and, in the secret file, secret-key, both Z85
// (40 characters). Text only: reading and writing files is the caller's.

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "yiban/protocol/error.h"

namespace yiban::protocol {

struct CurveCert {
  std::string public_key;  // Z85, 40 characters
  std::optional<std::string> secret_key;  // Z85, only in a secret certificate
  std::map<std::string, std::string> metadata;
};

bool is_z85_key(std::string_view text);
// Parses a public or secret certificate; errors name the line.
Expected<CurveCert> parse_curve_cert(std::string_view text);
// The public certificate (never the secret key), or the secret one.
std::string format_curve_cert(const CurveCert& cert, bool with_secret, std::string_view generated_on);

}  // namespace yiban::protocol
