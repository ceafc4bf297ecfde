#include "yiban/protocol/city_catalog.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "yiban/protocol/chain.h"
#include "yiban/protocol/curve_cert.h"
#include "yiban/protocol/ids.h"
#include "yiban/protocol/utf8.h"

namespace yiban::protocol {
namespace {

using nlohmann::json;

bool is_catalog_code(std::string_view code) {
  if (code.empty() || code.size() > 8 || code[0] < 'A' || code[0] > 'Z') return false;
  return std::all_of(code.begin(), code.end(), [](char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); });
}

std::size_t characters(std::string_view utf8) {
  std::size_t n = 0;
  for (unsigned char c : utf8) n += (c & 0xC0) != 0x80;
  return n;
}

}  // namespace

const CatalogService* CityCatalog::find(std::string_view code) const {
  for (const auto& s : services) {
    if (s.code == code) return &s;
  }
  return nullptr;
}

Expected<CityCatalog> parse_city_catalog(std::string_view json_text) {
  if (json_text.size() > kMaxCatalogBytes) return error("catalog larger than 256 KiB");
  if (!is_valid_utf8(json_text)) return error("catalog is not valid UTF-8");
  auto j = json::parse(json_text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return error("catalog is not a JSON object");
  for (const auto& [key, value] : j.items()) {
    if (key != "services" && key != "hall_keys") return error("catalog: unknown field " + key);
  }
  CityCatalog out;
  if (auto keys = j.find("hall_keys"); keys != j.end()) {
    if (!keys->is_object()) return error("hall_keys: not an object");
    for (const auto& [hall, list] : keys->items()) {
      if (!is_valid_hall_id(hall)) return error("hall_keys." + hall + ": not a valid hall id");
      if (!list.is_array() || list.empty() || list.size() > 8)
        return error("hall_keys." + hall + ": an array of 1 to 8 keys");
      auto& into = out.hall_keys[hall];
      for (const auto& k : list) {
        if (!k.is_string() || !is_z85_key(k.get<std::string>()))
          return error("hall_keys." + hall + ": a key is not 40 Z85 characters");
        into.push_back(k.get<std::string>());
      }
    }
  }
  auto services = j.find("services");
  if (services == j.end() || !services->is_array()) return error("services: missing or not an array");
  if (services->size() > 2000) return error("services: more than 2000");
  std::set<std::string> codes;
  for (std::size_t i = 0; i < services->size(); ++i) {
    const auto& s = (*services)[i];
    const std::string at = "services[" + std::to_string(i) + "]";
    if (!s.is_object()) return error(at + ": not an object");
    for (const auto& [key, value] : s.items()) {
      static const std::set<std::string> kKnown{"code", "name", "region", "hall", "prereview_h", "complete_days"};
      if (!kKnown.contains(key)) return error(at + ": unknown field " + key);
    }
    CatalogService c;
    auto text = [&](const char* name, std::string& into) -> Expected<void> {
      auto it = s.find(name);
      if (it == s.end() || !it->is_string()) return error(at + "." + name + ": missing or not a string");
      into = it->get<std::string>();
      return {};
    };
    for (auto [name, into] : {std::pair{"code", &c.code}, std::pair{"name", &c.name}, std::pair{"region", &c.region},
                              std::pair{"hall", &c.hall}}) {
      if (auto ok = text(name, *into); !ok) return std::unexpected(ok.error());
    }
    if (!is_catalog_code(c.code)) return error(at + ".code: " + c.code + " is not [A-Z][A-Z0-9]{0,7}");
    if (!codes.insert(c.code).second) return error(at + ".code: " + c.code + " listed twice");
    if (c.name.empty() || characters(c.name) > 64) return error(at + ".name: 1 to 64 characters");
    if (!is_valid_region(c.region)) return error(at + ".region: not a valid region code");
    if (!is_valid_hall_id(c.hall)) return error(at + ".hall: not a valid hall id");
    for (auto [name, into, max] : {std::tuple{"prereview_h", &c.prereview_h, 24 * 30},
                                   std::tuple{"complete_days", &c.complete_days, 365}}) {
      auto it = s.find(name);
      if (it == s.end()) continue;
      if (!it->is_number_integer() || it->get<std::int64_t>() < 1 || it->get<std::int64_t>() > max)
        return error(at + "." + name + ": an integer from 1 to " + std::to_string(max));
      *into = it->get<int>();
    }
    out.services.push_back(std::move(c));
  }
  std::sort(out.services.begin(), out.services.end(),
            [](const CatalogService& a, const CatalogService& b) { return a.code < b.code; });
  return out;
}

std::string encode_city_catalog(const CityCatalog& catalog) {
  json services = json::array();
  for (const auto& s : catalog.services) {
    services.push_back({{"code", s.code}, {"name", s.name}, {"region", s.region}, {"hall", s.hall},
                        {"prereview_h", s.prereview_h}, {"complete_days", s.complete_days}});
  }
  json j{{"services", services}};
  if (!catalog.hall_keys.empty()) j["hall_keys"] = catalog.hall_keys;
  return j.dump();
}

std::string catalog_version(const CityCatalog& catalog) {
  CityCatalog services_only;
  services_only.services = catalog.services;
  return to_hex(chain_next(kChainZero, encode_city_catalog(services_only)));
}

}  // namespace yiban::protocol
