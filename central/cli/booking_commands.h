#pragma once
// `yiban booking …`: appointments (青易约, protocol/BOOKINGS.md) against
// central's booking API: slots, book, cancel, list and reschedule. Central
// answers 404 to all of them when it runs without --booking.

#include <vector>

#include "cli_internal.h"

namespace yiban::cli::internal {

// The `booking` command (one entry; its first argument is the action).
const std::vector<Command>& booking_commands();

}  // namespace yiban::cli::internal
