#pragma once
// The engine thread's side of the console: applies a console request inside
// the engine's open transaction (the caller holds a savepoint) and builds the
// HTTP answer. Every change also appends an `action.performed` event naming
// who did it, so the audit trail reaches central with the rest of the log.

#include <cstdint>
#include <string>

#include "console/console_link.h"
#include "yiban/protocol/error.h"
#include "yiban/protocol/hall_config.h"

namespace yiban::edge {
namespace queue {
class QueueEngine;
}
namespace alerts {
class AlertEngine;
}
namespace store {
class EdgeStore;
}
}  // namespace yiban::edge

namespace yiban::edge::console {

struct Applied {
  Result result;
  bool wrote = false;  // the store changed: commit, or roll back the savepoint
};

// counter.open|pause|close, alert.ack, alert.resolve.
Applied apply(const Request& request, queue::QueueEngine& engine, alerts::AlertEngine& alerts,
              store::EdgeStore& store, std::int64_t now);

// counter.services: the hall config's counters section with the one counter
// changed, as config.set sections ({"counters":[…]}); errors name the field.
protocol::Expected<std::string> counter_services_sections(const protocol::HallConfig& config, const Request& request);
// The audit event's data.
std::string audit_data(const Request& request, bool ok);
// {"counter":{…}} for a counter as the engine now sees it.
std::string counter_body(const queue::QueueEngine& engine, const std::string& id);
// An error answer: {"error":{"code","message"}} with the matching status.
Result failure_result(const protocol::Failure& failure);
Result error_result(int status, std::string_view code, std::string_view message);

}  // namespace yiban::edge::console
