#pragma once
// Read-side JSON of the hall's cases (shapes in protocol/CASES.md), built on
// any connection to the edge store: the console API's read connection, or
// the engine's after a change.

#include <cstdint>
#include <optional>
#include <string>

#include "yiban/runtime/blob_store.h"
#include "yiban/runtime/sqlite.h"
#include "yiban/protocol/error.h"

namespace yiban::edge::cases {

struct CaseQuery {
  std::optional<std::string> state;
  std::optional<std::string> role;  // origin, handler
  int limit = 50;
  int offset = 0;
  std::int64_t now = 0;  // for "late"
};

// {"cases":[summary…],"total":N}, newest first.
protocol::Expected<std::string> list_cases_json(runtime::Database& db, const CaseQuery& query);
// The detail, or nullopt for a case this hall does not hold.
protocol::Expected<std::optional<std::string>> case_detail_json(runtime::Database& db, const std::string& id,
                                                                const runtime::BlobStore& blobs, std::int64_t now);
// A material of a case: {name, type}; nullopt when the case does not name it.
struct MaterialInfo {
  std::string name;
  std::string type;
};
protocol::Expected<std::optional<MaterialInfo>> case_material(runtime::Database& db, const std::string& id,
                                                              const std::string& sha256);

}  // namespace yiban::edge::cases
