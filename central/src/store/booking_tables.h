#pragma once
// Central's bookings (issue 7, protocol/BOOKINGS.md) on the central store's
// database: bookings (central's and halls' walk-ups), the seats moved to each
// hall by rebalancing, and every no-show per person. Central's own state:
// not rebuilt from the log (the halls' appointment.* events update it as
// they arrive, idempotently).

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "yiban/central/central_store.h"
#include "yiban/db/sqlite.h"

namespace yiban::central::store {

class BookingTables {
 public:
  explicit BookingTables(db::Database& db) : db_(db) {}

  protocol::Expected<BookingOutcome> book(const NewBooking& b);
  protocol::Expected<BookingOutcome> cancel(std::string_view code, std::int64_t now);
  protocol::Expected<BookingOutcome> reschedule(std::string_view code, const NewBooking& to);
  protocol::Expected<std::vector<SlotCount>> slot_counts(std::string_view hall, std::string_view service,
                                                         std::int64_t from, std::int64_t to);
  protocol::Expected<void> add_moved(std::string_view hall, std::string_view service, std::int64_t slot_start,
                                     int seats, std::int64_t now);
  protocol::Expected<std::optional<std::string>> booking_json(std::string_view code);
  protocol::Expected<std::string> bookings_json(const BookingQuery& q);
  protocol::Expected<int> queue_reminders(std::int64_t now);

  // A hall's appointment.* event (inside the ingest transaction).
  protocol::Expected<void> apply(std::string_view hall, std::int64_t seq, std::int64_t ts, std::string_view type,
                                 const nlohmann::json& data);

 private:
  protocol::Expected<void> apply_checked(std::string_view hall, std::int64_t ts, std::string_view type,
                                         const nlohmann::json& data);
  protocol::Expected<std::optional<nlohmann::json>> row(std::string_view code);
  db::Database& db_;
};

}  // namespace yiban::central::store
