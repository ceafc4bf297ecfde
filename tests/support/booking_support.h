#pragma once
// What the booking process tests share: the wall clock, a booking.json open
// around the clock, the next bookable slot and a booking request.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace yiban::test {

// Milliseconds since the epoch, the real clock.
std::int64_t wall_ms();

// booking.json for one hall's service "A": every day open around the clock
// in hourly slots (Shanghai hours are whole UTC hours), a week ahead.
std::string booking_config(const std::string& hall, int capacity, double hall_share, int rebalance_before_min);

// The next hour's slot that starts at least 10 minutes from now.
std::int64_t next_slot();

// POST /api/v1/bookings for service "A" of hall at slot.
nlohmann::json book_body(const std::string& hall, std::int64_t slot, const std::string& applicant_id,
                         const std::string& name, const std::string& phone);

}  // namespace yiban::test
