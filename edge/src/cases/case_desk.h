#pragma once
// The hall's cross-region case desk (protocol/CASES.md): takes staff steps
// (submit, resubmit, review, complete, audit views) and central's case
// commands (case.assign, case.update), each one state change plus its event
// inside the caller's open transaction. Engine thread only; the caller
// rolls its savepoint back when a step fails (status >= 300 or an error).
//
// Tables (edge store schema 4): cases (one row per case: role origin or
// handler, state, the latest case file), case_steps (the timeline),
// case_materials (every file a case names). Files live in the BlobStore.

#include <cstdint>
#include <string>
#include <vector>

#include "alerts/alert_engine.h"
#include "console/console_link.h"
#include "store/edge_store.h"
#include "yiban/runtime/blob_store.h"
#include "yiban/protocol/hall_config.h"
#include "yiban/protocol/time_zone.h"

namespace yiban::edge::cases {

class CaseDesk {
 public:
  // config and zone are the engine's (they change with reconfiguration).
  // public_key/secret_key: this hall's CURVE keypair (Z85), which opens the
  // contact and note sealed to this hall in case.assign; empty without --central.
  CaseDesk(store::EdgeStore& store, const runtime::BlobStore& blobs, std::string case_key,
           const protocol::HallConfig& config, const protocol::TimeZone& zone, std::string public_key = {},
           std::string secret_key = {});

  // Staff steps from the console (Request.action case.*); the answer is the
  // HTTP status and body (the case's detail on success).
  console::Result submit(const std::string& body, const std::string& by, std::int64_t now);
  console::Result resubmit(const std::string& id, const std::string& body, const std::string& by, std::int64_t now);
  console::Result review(const std::string& id, const std::string& body, const std::string& by, std::int64_t now);
  console::Result complete(const std::string& id, const std::string& body, const std::string& by, std::int64_t now);
  // Audit: a detail view (sha256 empty) or a download.
  console::Result viewed(const std::string& id, const std::string& by, const std::string& sha256, std::int64_t now);

  // Central's commands. An error is recorded as command.applied ok=false.
  protocol::Expected<void> apply_assign(const std::string& data_json, std::int64_t now);
  protocol::Expected<void> apply_update(const std::string& data_json, std::int64_t now);

  // Cases this hall handles that are past their SLA in their state, as
  // alert conditions (case_prereview_late, case_completion_late).
  std::vector<alerts::Condition> late_conditions(std::int64_t now);

 private:
  struct Row;
  protocol::Expected<std::optional<Row>> load(const std::string& id);
  protocol::Expected<void> save(const Row& row);
  protocol::Expected<void> add_step(const std::string& id, std::int64_t ts, std::string_view step,
                                    const std::string& hall, const std::string& by, const std::string& note,
                                    int attempt);
  protocol::Expected<void> add_material(const std::string& id, const std::string& sha, const std::string& name,
                                        const std::string& type, std::int64_t size, int attempt);
  console::Result detail(const std::string& id, std::int64_t now);

  store::EdgeStore& store_;
  const runtime::BlobStore& blobs_;
  std::string case_key_;
  std::string public_key_;
  std::string secret_key_;
  const protocol::HallConfig& config_;
  const protocol::TimeZone& zone_;
};

}  // namespace yiban::edge::cases
