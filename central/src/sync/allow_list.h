#pragma once
// Central's allow-list (ARCHITECTURE §6, §11): a directory of hall public
// certificates, each carrying metadata hall = "…". A key maps to exactly one
// hall; a hall may have several keys (rotation). Read once at start-up.

#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "yiban/protocol/error.h"

namespace yiban::central::sync {

class AllowList {
 public:
  // Loads every *.pub in dir. Fails on an unreadable directory, a certificate
  // that does not parse or lacks a valid hall id, or one key claimed by two
  // halls; each failure names the file.
  static protocol::Expected<AllowList> load(const std::filesystem::path& dir);
  static AllowList from(std::map<std::string, std::string> key_to_hall);

  // The hall bound to a Z85 public key.
  std::optional<std::string> hall_of(const std::string& z85_public_key) const;
  std::set<std::string> halls() const;
  // Each hall's Z85 public keys (what the halls seal personal data to, issue 15).
  std::map<std::string, std::vector<std::string>> keys_by_hall() const;
  std::size_t size() const { return key_to_hall_.size(); }

 private:
  std::map<std::string, std::string> key_to_hall_;
};

}  // namespace yiban::central::sync
