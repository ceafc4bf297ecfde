#include "sync/allow_list.h"

#include <fstream>
#include <sstream>

#include "yiban/protocol/curve_cert.h"
#include "yiban/protocol/ids.h"

namespace yiban::central::sync {

protocol::Expected<AllowList> AllowList::load(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return protocol::error("halls dir " + dir.string() + " is not a directory");
  AllowList list;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (!entry.is_regular_file() || entry.path().extension() != ".pub") continue;
    std::ifstream in(entry.path());
    if (!in) return protocol::error("cannot read " + entry.path().string());
    std::stringstream text;
    text << in.rdbuf();
    auto cert = protocol::parse_curve_cert(text.str());
    if (!cert) return protocol::error(entry.path().string() + ": " + cert.error().message);
    auto hall = cert->metadata.find("hall");
    if (hall == cert->metadata.end() || !protocol::is_valid_hall_id(hall->second))
      return protocol::error(entry.path().string() + ": no valid hall = \"…\" in its metadata");
    auto [it, inserted] = list.key_to_hall_.emplace(cert->public_key, hall->second);
    if (!inserted && it->second != hall->second)
      return protocol::error(entry.path().string() + ": key already bound to hall " + it->second);
  }
  if (ec) return protocol::error("reading halls dir " + dir.string() + ": " + ec.message());
  return list;
}

AllowList AllowList::from(std::map<std::string, std::string> key_to_hall) {
  AllowList list;
  list.key_to_hall_ = std::move(key_to_hall);
  return list;
}

std::optional<std::string> AllowList::hall_of(const std::string& z85_public_key) const {
  auto it = key_to_hall_.find(z85_public_key);
  if (it == key_to_hall_.end()) return std::nullopt;
  return it->second;
}

std::map<std::string, std::vector<std::string>> AllowList::keys_by_hall() const {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& [key, hall] : key_to_hall_) out[hall].push_back(key);
  return out;
}

std::set<std::string> AllowList::halls() const {
  std::set<std::string> out;
  for (const auto& [key, hall] : key_to_hall_) out.insert(hall);
  return out;
}

}  // namespace yiban::central::sync
