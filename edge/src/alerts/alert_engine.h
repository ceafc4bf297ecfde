#pragma once
// The hall's automatic warnings (issue 3, item 4). Two kinds of alert:
// - condition alerts (long wait, long queue, crowding, CO2, temperature,
//   device offline): evaluate() is given every condition's current truth each
//   tick; one raises after holding hold_s and resolves itself after staying
//   clear clear_s, so nothing flaps;
// - follow-ups raised at once (bad rating, help request) and closed by staff;
//   escalate() makes them critical when they are late.
// Lifecycle raised -> acknowledged -> resolved; every transition is an event.
// Engine thread only; writes inside the caller's open transaction (on a
// kInternal failure roll back and load() again).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "store/edge_store.h"
#include "yiban/protocol/hall_config.h"

namespace yiban::edge::alerts {

using protocol::Result;

struct Condition {
  std::string rule;
  std::string subject;
  bool holds = false;
  std::string message;  // for staff, Chinese; used when it raises
};

class AlertEngine {
 public:
  AlertEngine(const protocol::HallConfig& config, store::EdgeStore& store);

  protocol::Expected<void> load();

  Result<int> evaluate(const std::vector<Condition>& conditions, int business_day, std::int64_t now);
  // shared_message: what the alert.raised event (so central) says when
  // message holds a citizen's own words (a help request, a special need),
  // which stay in the hall's alerts table only (issue 15); empty: message.
  Result<std::string> raise(const std::string& rule, const std::string& subject, const std::string& message,
                            int business_day, std::int64_t now, const std::string& shared_message = {});
  Result<store::AlertRow> acknowledge(const std::string& id, const std::string& by, std::int64_t now);
  Result<store::AlertRow> resolve(const std::string& id, const std::string& by,
                                  const std::optional<std::string>& note, std::int64_t now);
  // Resolves the open alert about rule/subject, if there is one.
  Result<void> resolve_subject(const std::string& rule, const std::string& subject, const std::string& by,
                               std::int64_t now);
  Result<int> escalate(std::int64_t now);

  const std::vector<store::AlertRow>& open() const { return open_; }
  // Whether the open alerts changed since the last call.
  bool take_changed();

 private:
  struct Tracker {
    bool holds = false;
    std::int64_t since = 0;
  };
  store::AlertRow* find_open(const std::string& rule, const std::string& subject);
  store::AlertRow* find_open(const std::string& id);
  Result<void> save(const store::AlertRow& row, std::string_view event_type, const std::string& data_json,
                    std::int64_t now);

  const protocol::HallConfig& config_;
  store::EdgeStore& store_;
  std::vector<store::AlertRow> open_;
  std::map<std::string, Tracker> trackers_;  // by rule/subject
  bool changed_ = true;
};

}  // namespace yiban::edge::alerts
