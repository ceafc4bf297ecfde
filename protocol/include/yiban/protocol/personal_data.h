#pragma once
// Personal data in the hall event log (issue 15, ARCHITECTURE §4): since
// schema 9 no event carries a citizen's name, phone, ID number or own words
// in clear; halls keep those in their own tables, and what another hall
// needs travels sealed (sealed_box.h). Events written before that are
// hash-chained and central keeps every one, so they are never edited; their
// known personal fields are taken out where central shows events.
//
// Old fields redacted: case.submitted contact and note; help.requested need;
// appointment.booked special_need; alert.raised message of the help and
// special_need rules (it quoted the citizen).

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace yiban::protocol {

// The event text without its old personal fields, with "redacted":true in
// the envelope; nullopt when the event holds none (pass it on as stored).
std::optional<std::string> redact_personal(std::string_view event_text);
// The same on an event's data object, in place; true when it changed.
// Central applies it before projecting, so an old event rebuilt never puts
// clear data back into central's tables.
bool redact_personal_data(std::string_view type, nlohmann::json& data);

}  // namespace yiban::protocol
