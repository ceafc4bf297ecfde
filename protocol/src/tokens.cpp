#include "yiban/protocol/tokens.h"

#include <openssl/sha.h>

#include <array>
#include <cstdio>
#include <fstream>

#include "yiban/protocol/ids.h"

namespace yiban::protocol {
namespace {

constexpr std::array<std::pair<Role, std::string_view>, 4> kRoles{{
    {Role::kViewer, "viewer"},
    {Role::kHallManager, "hall-manager"},
    {Role::kCentralOperator, "central-operator"},
    {Role::kAdmin, "admin"},
}};

std::vector<std::string_view> words(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

bool equal_constant_time(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

std::string_view to_string(Role role) {
  for (const auto& [r, name] : kRoles) {
    if (r == role) return name;
  }
  return "?";
}

std::optional<Role> role_from_string(std::string_view text) {
  for (const auto& [r, name] : kRoles) {
    if (name == text) return r;
  }
  return std::nullopt;
}

Expected<std::vector<TokenGrant>> parse_token_file(std::string_view text) {
  std::vector<TokenGrant> grants;
  int line_no = 0;
  while (!text.empty()) {
    auto end = text.find('\n');
    auto line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    ++line_no;
    auto w = words(line);
    if (w.empty() || w[0].front() == '#') continue;
    const std::string where = "token file line " + std::to_string(line_no) + ": ";
    if (w.size() < 2 || w.size() > 3) return error(where + "expected TOKEN ROLE [HALL]");
    if (w[0].size() < 16) return error(where + "token shorter than 16 characters");
    auto role = role_from_string(w[1]);
    if (!role) return error(where + "unknown role " + std::string(w[1]) +
                            " (viewer, hall-manager, central-operator, admin)");
    TokenGrant g{std::string(w[0]), *role, ""};
    if (*role == Role::kHallManager) {
      if (w.size() != 3 || !is_valid_hall_id(w[2])) return error(where + "a hall-manager token needs a valid HALL");
      g.hall = std::string(w[2]);
    } else if (w.size() == 3) {
      return error(where + "only hall-manager tokens name a hall");
    }
    for (const auto& other : grants) {
      if (other.token == g.token) return error(where + "token listed twice");
    }
    grants.push_back(std::move(g));
  }
  return grants;
}

std::string holder_of(const TokenGrant& grant) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(grant.token.data()), grant.token.size(), digest);
  char hex[9];
  std::snprintf(hex, sizeof hex, "%02x%02x%02x%02x", digest[0], digest[1], digest[2], digest[3]);
  return std::string(to_string(grant.role)) + ":" + hex;
}

std::optional<TokenGrant> TokenTable::find(std::string_view token) const {
  std::optional<TokenGrant> found;
  for (const auto& g : grants_) {
    if (equal_constant_time(g.token, token) && !found) found = g;
  }
  return found;
}

Expected<std::string> read_secret_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return error("cannot read " + path.string());
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line;
}

}  // namespace yiban::protocol
