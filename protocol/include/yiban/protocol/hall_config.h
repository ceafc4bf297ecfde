#pragma once
// The hall config (ARCHITECTURE §10): one JSON file describing a hall.
// parse_hall_config() validates everything; an error names the offending field
// with a JSON path such as "counters[1].services[0]".

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "yiban/protocol/error.h"

namespace yiban::protocol {

enum class DeviceKind { kKiosk, kCounter, kRating, kDisplay, kPeopleCounter, kEnvironment, kStaff };

std::string_view to_string(DeviceKind kind);
std::optional<DeviceKind> device_kind_from_string(std::string_view text);

struct ServiceConfig {
  std::string code;  // [A-Z]{1,2}, ticket number prefix
  std::string name;  // shown to citizens (Chinese)
  std::optional<int> max_wait_min;  // alert threshold, minutes (> 0)
  int avg_service_s = 300;  // estimate used before real service times exist ("avg_service_min" in JSON)
  bool enabled = true;  // a disabled service issues no tickets (service_closed)
};

struct CounterConfig {
  std::string id;  // [A-Za-z0-9-]{1,16}, e.g. "7"
  std::string name;  // e.g. "7号窗口"
  std::vector<std::string> services;  // main services, at least one
  std::vector<std::string> backup;  // served only when no main service has anyone waiting
};

struct DeviceConfig {
  std::string id;
  DeviceKind kind = DeviceKind::kKiosk;
  std::optional<std::string> counter;  // required for counter and rating devices
};

// "sensing": how the edge treats device telemetry and silence.
struct SensingConfig {
  int liveness_s = 30;  // a device silent this long is reported offline
  int retention_days = 7;  // old name of retention.telemetry_days (used when that is not set)
  int max_rate_hz = 5;  // telemetry samples per device per second; more are dropped
};

// "alerts": thresholds and timers of the hall's automatic warnings.
struct AlertConfig {
  int hold_s = 30;  // a condition must hold this long before it raises
  int clear_s = 60;  // and stay clear this long before its alert resolves
  int long_queue = 30;  // people waiting for one service
  int crowding_pct = 90;  // occupancy, % of capacity
  int co2_ppm = 1000;
  int temp_min_c = 16;
  int temp_max_c = 28;
  int help_unanswered_s = 120;  // then the help alert becomes critical
  int rating_ack_s = 3600;  // a bad rating's follow-up: acknowledge within
  int rating_resolve_s = 86400;  // and resolve within, or it becomes critical
};

// Check-in of bookings (issue 7, protocol/BOOKINGS.md).
struct AppointmentConfig {
  int early_min = 30;  // check-in opens this long before the slot
  int late_min = 15;  // and closes this long after it began
  bool normal_ticket_outside_window = false;  // "outside_window": "refuse" (default) or "normal_ticket"
  int turn_near_places = 3;  // "your turn is near" when this many are ahead
};

// "limits": what one device may cost the hall (edge/README.md, "Broker and
// rate limits"). Per device, token buckets: a request over the rate is
// answered `bad_request` "rate limit" (at most once a second, the rest
// unanswered) and records nothing; a presence change over the rate waits
// until the device has a token again. Normal kiosks and counters never come
// near them; 0 for requests_per_s turns the request limit off (load tests).
struct LimitsConfig {
  int requests_per_s = 10;  // sustained requests per device that may change the hall
  int request_burst = 40;  // requests a device may send at once after a quiet spell
  int status_changes_per_min = 20;  // online/offline flips per device
  int status_burst = 10;
};

// "retention": how long the hall keeps what it no longer needs (edge/README.md,
// "Retention"). The edge's retention job applies it every period_s, in
// transactions of at most batch_rows rows, so the hall is never stalled.
struct RetentionConfig {
  int telemetry_days = 7;  // raw telemetry samples (summaries stay in the event log); sensing.retention_days is its old name
  int replies_h = 24;  // recorded replies to device requests (retry detection)
  int outbox_days = 7;  // delivered and dead notifications
  int personal_days = 30;  // phone numbers, booking names/needs, case contacts: days after the business day
  int case_files_days = 365;  // a completed case's material files (an audit event records the purge)
  int events_days = 30;  // events central acknowledged, older than this, move to the archive; 0 = never
  int tickets_days = 400;  // ticket rows, ratings and number series of older business days (the events stay); 0 = never
  int period_s = 300;  // how often the retention job runs
  int batch_rows = 5000;  // rows per transaction
};

struct HallConfig {
  std::string hall;
  std::string name;
  std::string region;
  std::string timezone = "Asia/Shanghai";
  int capacity = 0;
  std::vector<std::string> priority_classes;
  int recall_limit = 2;
  std::vector<ServiceConfig> services;
  std::vector<CounterConfig> counters;
  std::vector<DeviceConfig> devices;
  SensingConfig sensing;
  AlertConfig alerts;
  AppointmentConfig appointments;
  LimitsConfig limits;
  RetentionConfig retention;

  const ServiceConfig* find_service(std::string_view code) const;
  const CounterConfig* find_counter(std::string_view id) const;
  const DeviceConfig* find_device(std::string_view id) const;
  bool has_priority_class(std::string_view name) const;
};

inline constexpr std::size_t kMaxHallConfigBytes = 1024 * 1024;

Expected<HallConfig> parse_hall_config(std::string_view json_text);
Expected<HallConfig> load_hall_config(const std::filesystem::path& path);
// The file's text, size-checked (errors name the path).
Expected<std::string> read_hall_config_text(const std::filesystem::path& path);
// Replaces top-level sections of a config's JSON text with those of
// sections_json (an object; "hall" may not be replaced) and returns the new
// text, unvalidated: parse it with parse_hall_config. Central's config.set
// commands are applied and remembered this way.
Expected<std::string> replace_config_sections(std::string_view config_json, std::string_view sections_json);

}  // namespace yiban::protocol
