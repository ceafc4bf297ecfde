#pragma once
// Central's side of cross-region cases (protocol/CASES.md), on the central
// store's database.
//
// Projection tables (rebuilt from the events like every projection):
//   cases, case_steps (the timeline, from both halls' events),
//   case_materials, case_access (views and downloads recorded at the halls)
// Central's own state (kept across rebuilds; inserted with OR IGNORE so a
// replay adds nothing):
//   case_forwards  a step to pass on: (source hall, seq) → to_hall, command,
//                  the files it needs; down_seq once queued
//   blobs          every file a case names: size, the hall it comes from,
//                  whether central has it
//   case_alerts    central's SLA alerts; central_access: views at central
//
// Events of the wrong party (a hall stepping a case it does not handle) and
// malformed case data are skipped with a warning, never an ingest error:
// the log is stored as sent.

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "yiban/central/central_store.h"
#include "yiban/runtime/sqlite.h"

namespace yiban::central::store {

class CaseTables {
 public:
  explicit CaseTables(runtime::Database& db) : db_(db) {}

  // Inside the caller's transaction, from append_events and rebuild.
  protocol::Expected<void> apply(std::string_view hall, std::int64_t seq, std::int64_t ts, std::string_view type,
                                 const nlohmann::json& data);
  // SQL that empties the projection tables (rebuild).
  static const std::vector<std::string_view>& projection_resets();

  protocol::Expected<std::vector<RoutedCommand>> route(std::int64_t ts,
                                                       const std::function<bool(std::string_view)>& known_hall,
                                                       const std::function<protocol::Expected<std::int64_t>(
                                                           std::string_view hall, std::string_view type,
                                                           std::string_view data)>& enqueue);
  protocol::Expected<void> set_blob_present(std::string_view sha256, std::int64_t ts);
  protocol::Expected<int> sweep_sla(std::int64_t now);
  protocol::Expected<void> record_access(std::string_view id, std::int64_t ts, std::string_view by,
                                         std::string_view what, std::string_view sha256);
  protocol::Expected<std::vector<WantedBlob>> wanted_from(std::string_view hall);
  protocol::Expected<bool> allowed(std::string_view hall, std::string_view sha256);
  protocol::Expected<std::optional<CaseParties>> parties(std::string_view id);
  protocol::Expected<std::string> list_json(const CaseQuery& query);
  protocol::Expected<std::optional<std::string>> detail_json(std::string_view id, std::int64_t now);
  protocol::Expected<std::optional<std::pair<std::string, std::string>>> material(std::string_view id,
                                                                                  std::string_view sha256);
  // Open SLA alerts in the shape of /api/v1/alerts rows.
  protocol::Expected<std::vector<nlohmann::json>> open_alerts(std::optional<std::string_view> hall);

 private:
  protocol::Expected<void> apply_checked(std::string_view hall, std::int64_t seq, std::int64_t ts,
                                         std::string_view type, const nlohmann::json& data);
  protocol::Expected<void> add_forward(std::string_view hall, std::int64_t seq, const std::string& id,
                                       const std::string& to_hall, std::string_view type, const std::string& data,
                                       const std::vector<std::string>& needs);
  protocol::Expected<void> add_material(const std::string& id, const nlohmann::json& m, std::string_view source);
  protocol::Expected<void> add_step(const std::string& id, std::string_view hall, std::int64_t seq, std::int64_t ts,
                                    std::string_view step, const std::string& by, const std::string& note,
                                    std::int64_t attempt);

  runtime::Database& db_;
};

}  // namespace yiban::central::store
