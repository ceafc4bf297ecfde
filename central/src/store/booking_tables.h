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
#include "yiban/runtime/sqlite.h"

namespace yiban::central::store {

class BookingTables {
 public:
  explicit BookingTables(runtime::Database& db) : db_(db) {}

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

  // After a restore (issue 15) the halls' re-sent events tell central what
  // its older store lost. Per hall, settings "recovery:{hall}" holds
  //   {"lost_bookings","lost_booking_codes":[…last 200],"relearned_reschedules",
  //    "relearned_moved_seats","updated_ts","caught_up_epoch","caught_up_ts"}
  // and settings "booking_moves_seen:{hall}" the seats the hall's own log says
  // it received per upcoming slot ({"A|<slot_start>":n}). A hall is
  // recovering from the first start of a restored store (down_epoch_prev set)
  // until BookingService saw it catch up (caught_up_epoch == down_epoch).
  static std::string recovery_key(std::string_view hall) { return "recovery:" + std::string(hall); }
  // From settings down_epoch_prev, down_epoch and the hall's report (each absent or not).
  static bool recovering_from(const std::optional<std::string>& epoch_prev, const std::optional<std::string>& epoch,
                              const std::optional<std::string>& report);
  protocol::Expected<bool> recovering(std::string_view hall);

 private:
  protocol::Expected<void> apply_checked(std::string_view hall, std::int64_t ts, std::string_view type,
                                         const nlohmann::json& data);
  protocol::Expected<std::optional<nlohmann::json>> row(std::string_view code);
  protocol::Expected<void> relearn_central_booking(std::string_view hall, std::int64_t ts, const std::string& code,
                                                   const nlohmann::json& data);
  protocol::Expected<void> relearn_moves(std::string_view hall, std::int64_t ts, const nlohmann::json& data);
  protocol::Expected<std::optional<std::string>> setting(const std::string& key);
  protocol::Expected<void> put_setting(const std::string& key, const std::string& value);
  // Adds to a counter of the hall's recovery report (and a code to its list).
  protocol::Expected<void> note_recovery(std::string_view hall, std::int64_t ts, const char* counter, int add,
                                         const std::string& code);
  runtime::Database& db_;
};

}  // namespace yiban::central::store
