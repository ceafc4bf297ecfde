#pragma once
// The hall event log envelope (ARCHITECTURE §4). Event text is produced once,
// stored verbatim, hashed into the chain and sent as is: never re-serialised.

#include <cstdint>
#include <string>
#include <string_view>

#include "yiban/protocol/error.h"

namespace yiban::protocol {

namespace event_type {
inline constexpr std::string_view kTicketIssued = "ticket.issued";
inline constexpr std::string_view kTicketCalled = "ticket.called";
inline constexpr std::string_view kTicketRecalled = "ticket.recalled";
inline constexpr std::string_view kTicketServing = "ticket.serving";
inline constexpr std::string_view kTicketTransferred = "ticket.transferred";
inline constexpr std::string_view kTicketCompleted = "ticket.completed";
inline constexpr std::string_view kTicketNoShow = "ticket.no_show";
inline constexpr std::string_view kTicketCancelled = "ticket.cancelled";
inline constexpr std::string_view kCounterOpened = "counter.opened";
inline constexpr std::string_view kCounterPaused = "counter.paused";
inline constexpr std::string_view kCounterClosed = "counter.closed";
inline constexpr std::string_view kRatingSubmitted = "rating.submitted";
inline constexpr std::string_view kDeviceOnline = "device.online";
inline constexpr std::string_view kDeviceOffline = "device.offline";
inline constexpr std::string_view kTelemetrySummary = "telemetry.summary";
inline constexpr std::string_view kAlertRaised = "alert.raised";
inline constexpr std::string_view kAlertAcknowledged = "alert.acknowledged";
inline constexpr std::string_view kAlertResolved = "alert.resolved";
inline constexpr std::string_view kAlertEscalated = "alert.escalated";
inline constexpr std::string_view kAppointmentCheckedIn = "appointment.checked_in";
inline constexpr std::string_view kHelpRequested = "help.requested";
inline constexpr std::string_view kHelpAnswered = "help.answered";
inline constexpr std::string_view kCommandApplied = "command.applied";
// A change made through the hall console, naming who made it (audit).
inline constexpr std::string_view kActionPerformed = "action.performed";
inline constexpr std::string_view kCounterServicesChanged = "counter.services_changed";
inline constexpr std::string_view kCatalogUpdated = "catalog.updated";
}  // namespace event_type

// Dotted lower-case noun.verb_past, e.g. "ticket.issued", "case.received".
bool is_valid_event_type(std::string_view type);

// Builds the envelope text. data_json must be a JSON object's text; hall and
// type must be valid ids (they are written without escaping).
std::string encode_event(std::string_view hall, std::int64_t seq, std::int64_t ts,
                         std::string_view type, std::string_view data_json);

struct EventEnvelope {
  std::string hall;
  std::int64_t seq = 0;
  std::int64_t ts = 0;
  std::string type;
  std::string data_json;  // the data object, re-serialised (for reading, never for hashing)
};

inline constexpr std::size_t kMaxEventBytes = 64 * 1024;

// Validates an envelope received from elsewhere (sync, files).
Expected<EventEnvelope> parse_event(std::string_view text);

}  // namespace yiban::protocol
