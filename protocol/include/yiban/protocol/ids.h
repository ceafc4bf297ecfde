#pragma once
// Identifiers of ARCHITECTURE §3: hall, device, region, service code, ticket.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace yiban::protocol {

// [a-z0-9-]{1,32}
bool is_valid_hall_id(std::string_view id);
// [a-z0-9-]{1,32}
bool is_valid_device_id(std::string_view id);
// six digits, e.g. 370202
bool is_valid_region(std::string_view code);
// [A-Z]{1,2}
bool is_valid_service_code(std::string_view code);
// counter ids as printed on the hall's signs: [A-Za-z0-9-]{1,16}
bool is_valid_counter_id(std::string_view id);

// "A" + 7 -> "A007"; at least three digits, more when the counter needs them.
std::string make_ticket_number(std::string_view service, int daily_number);

// {hall}:{yyyymmdd}:{number}
std::string make_ticket_id(std::string_view hall, int yyyymmdd, std::string_view number);

struct TicketId {
  std::string hall;
  int day = 0;  // yyyymmdd
  std::string number;
};
std::optional<TicketId> parse_ticket_id(std::string_view id);

}  // namespace yiban::protocol
