#pragma once
// Applies one stored event to central's projection tables (tickets, counters,
// devices, alerts, kpi_daily, halls.occupancy). The same object serves live
// ingest (SqliteCentralStore::append_events) and rebuild(), so replaying a
// hall's log gives exactly the rows that ingesting it did.
//
// Contract: apply() is called inside the caller's transaction, in seq order
// per hall. An event whose data lacks a field a projection needs, or whose
// type is unknown, changes nothing and is not an error (logged at debug):
// events are the truth and must always be storable. Only a database failure
// is returned as an error. Owned by one store; same thread as the store.

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>

#include "yiban/runtime/sqlite.h"
#include "yiban/protocol/error.h"

namespace yiban::central::store {

class Projector {
 public:
  // db must outlive the projector.
  static protocol::Expected<Projector> create(runtime::Database& db);

  protocol::Expected<void> apply(std::string_view hall, std::int64_t seq, std::int64_t ts,
                                 std::string_view type, const nlohmann::json& data);
  // KPI counts are summed in memory and written by flush(), once per batch:
  // call flush() before the caller's savepoint is released, or discard() when
  // it is rolled back. Sums commute, so the rows do not depend on batching.
  protocol::Expected<void> flush();
  void discard() { pending_kpi_.clear(); }
  std::size_t pending() const { return pending_kpi_.size(); }

 private:
  struct KpiDelta {
    std::int64_t issued = 0, served = 0, no_shows = 0, wait_sum_ms = 0, waits = 0,
                 service_sum_ms = 0, services = 0, ratings = 0, ratings_good = 0;
  };

  Projector() = default;
  protocol::Expected<void> apply_ticket(std::string_view hall, std::int64_t seq, std::int64_t ts,
                                        std::string_view verb, const nlohmann::json& data);
  protocol::Expected<void> apply_counter(std::string_view hall, std::int64_t seq, std::int64_t ts,
                                         std::string_view verb, const nlohmann::json& data);
  protocol::Expected<void> apply_device(std::string_view hall, std::int64_t seq, std::int64_t ts,
                                        bool online, const nlohmann::json& data);
  protocol::Expected<void> apply_alert(std::string_view hall, std::int64_t seq, std::int64_t ts,
                                       std::string_view verb, const nlohmann::json& data);
  protocol::Expected<void> apply_rating(std::string_view hall, std::int64_t seq, std::int64_t ts,
                                        const nlohmann::json& data);
  protocol::Expected<void> apply_telemetry(std::string_view hall, std::int64_t ts,
                                           const nlohmann::json& data);
  protocol::Expected<void> add_kpi(std::string_view hall, std::int64_t day,
                                   std::string_view service, const KpiDelta& delta);
  struct TicketInfo {
    std::int64_t day;
    std::string service;
    std::int64_t calls;
  };
  protocol::Expected<std::optional<TicketInfo>> ticket_info(std::string_view hall,
                                                            std::string_view ticket);
  protocol::Expected<void> clear_counter_ticket(std::string_view hall, std::string_view ticket,
                                                std::optional<std::string_view> counter);

  runtime::Statement insert_ticket_, call_ticket_, recall_ticket_, serve_ticket_, complete_ticket_,
      no_show_ticket_, transfer_ticket_, cancel_ticket_, ticket_info_;
  runtime::Statement counter_set_ticket_, counter_clear_ticket_, counter_clear_ticket_at_,
      counter_state_;
  runtime::Statement device_state_;
  runtime::Statement alert_raise_, alert_ack_, alert_resolve_, alert_escalate_;
  runtime::Statement kpi_add_, occupancy_;
  runtime::Database* db_ = nullptr;
  std::map<std::tuple<std::string, std::int64_t, std::string>, KpiDelta, std::less<>> pending_kpi_;
};

// yyyymmdd of a UTC ms timestamp in China Standard Time (UTC+8).
int china_day_of(std::int64_t ts_ms);

}  // namespace yiban::central::store
