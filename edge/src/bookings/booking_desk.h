#pragma once
// The hall's side of appointments (issue 7, protocol/BOOKINGS.md): central's
// booking commands (add, cancel, quota, config) kept in the hall's store so
// check-in works offline, walk-up bookings against the hall's own seats, and
// bookings that were never checked in turned into no-shows. Engine thread
// only; every change is an appointment.* event inside the caller's open
// transaction (the caller rolls its savepoint back on an error).

#include <cstdint>
#include <random>
#include <string>

#include "alerts/alert_engine.h"
#include "console/console_link.h"
#include "store/edge_store.h"
#include "yiban/protocol/hall_config.h"
#include "yiban/protocol/time_zone.h"

namespace yiban::edge::bookings {

class BookingDesk {
 public:
  // public_key/secret_key: this hall's CURVE keypair (Z85), which opens the
  // phone and special need sealed to this hall in booking.add.
  BookingDesk(store::EdgeStore& store, alerts::AlertEngine& alerts, std::string case_key,
              const protocol::HallConfig& config, const protocol::TimeZone& zone, std::string public_key = {},
              std::string secret_key = {});

  protocol::Expected<void> apply_add(const std::string& data_json, std::int64_t now);
  protocol::Expected<void> apply_cancel(const std::string& data_json, std::int64_t now);
  protocol::Expected<void> apply_quota(const std::string& data_json, std::int64_t now);
  protocol::Expected<void> apply_config(const std::string& data_json, std::int64_t now);

  // A walk-up booking by staff (console): the hall's seats only.
  console::Result walk_up(const std::string& body, const std::string& by, std::int64_t now);

  // Bookings not checked in by the end of their check-in window become
  // no-shows; returns how many.
  protocol::Expected<int> mark_no_shows(std::int64_t now);

 private:
  protocol::Expected<void> special_need_notice(const store::AppointmentRow& a, std::int64_t now);

  store::EdgeStore& store_;
  alerts::AlertEngine& alerts_;
  std::string case_key_;
  std::string public_key_;
  std::string secret_key_;
  const protocol::HallConfig& config_;
  const protocol::TimeZone& zone_;
  std::mt19937_64 rng_{std::random_device{}()};
};

}  // namespace yiban::edge::bookings
