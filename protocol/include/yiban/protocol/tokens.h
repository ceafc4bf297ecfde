#pragma once
// HTTP bearer tokens (ARCHITECTURE §8, §11): a token file, one per line,
// `TOKEN ROLE [HALL]`; blank lines and lines starting with # are ignored.
// Roles: viewer (reads everything), hall-manager (reads and acts on its own
// hall only; HALL required), central-operator (reads everything, sends
// commands), admin (everything, including clearing an integrity mark).

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "yiban/protocol/error.h"

namespace yiban::protocol {

enum class Role { kViewer, kHallManager, kCentralOperator, kAdmin };
std::string_view to_string(Role role);
std::optional<Role> role_from_string(std::string_view text);

struct TokenGrant {
  std::string token;
  Role role = Role::kViewer;
  std::string hall;  // only for hall-manager
};

// Errors name the line (never the token itself).
Expected<std::vector<TokenGrant>> parse_token_file(std::string_view text);

// A secret kept in a file of its own (a broker password, a signing secret, the
// case key): the first line, without its line end or trailing spaces. An
// error naming the file when it cannot be read.
Expected<std::string> read_secret_file(const std::filesystem::path& path);

// Who acted, for audit records: "ROLE:FINGERPRINT", the fingerprint being
// the first 8 hex digits of the token's SHA-256 (never the token itself).
std::string holder_of(const TokenGrant& grant);

class TokenTable {
 public:
  TokenTable() = default;
  explicit TokenTable(std::vector<TokenGrant> grants) : grants_(std::move(grants)) {}
  // The grant for a presented token; compares in constant time per entry.
  std::optional<TokenGrant> find(std::string_view token) const;
  std::size_t size() const { return grants_.size(); }

 private:
  std::vector<TokenGrant> grants_;
};

}  // namespace yiban::protocol
