#pragma once
// The city service catalog (issue 6): which region and hall handle each
// service that can be applied for at any hall (跨域通办). Central reads it
// from its --catalog file and sends it to every hall as a `catalog.set`
// command, so a hall can route a case while the city network is down.
//
// {"services":[{"code":"X01","name":"跨区户口迁移","region":"370213",
//   "hall":"qd-ls-03","prereview_h":24,"complete_days":5}]}
//
// code [A-Z][A-Z0-9]{0,7}, unique; name 1–64 characters; region and hall as
// in hall.json; prereview_h (default 24) and complete_days (default 10) are
// the SLA timers. The version is a SHA-256 digest (hex) of the canonical
// text, so a restart tells whether a hall already has the current catalog.
//
// hall_keys (issue 15): {"qd-ls-03":["<Z85 CURVE public key>",…]} — central
// adds each handling hall's keys from its allow-list when it sends the
// catalog, so the origin hall can seal a case's contact to the handler
// (sealed_box.h). Not part of the version (the services are).

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "yiban/protocol/error.h"

namespace yiban::protocol {

struct CatalogService {
  std::string code;
  std::string name;
  std::string region;
  std::string hall;
  int prereview_h = 24;
  int complete_days = 10;
};

struct CityCatalog {
  std::vector<CatalogService> services;
  std::map<std::string, std::vector<std::string>> hall_keys;  // hall → Z85 public keys
  const CatalogService* find(std::string_view code) const;
};

inline constexpr std::size_t kMaxCatalogBytes = 256 * 1024;

// Errors name the field (services[3].hall: …).
Expected<CityCatalog> parse_city_catalog(std::string_view json_text);
// Canonical text: services sorted by code, every field written; hall_keys when any.
std::string encode_city_catalog(const CityCatalog& catalog);
std::string catalog_version(const CityCatalog& catalog);

}  // namespace yiban::protocol
