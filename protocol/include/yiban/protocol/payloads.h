#pragma once
// JSON payloads the edge sends to devices (replies, boards, catalog) and the
// device status payload (ARCHITECTURE §5). Encoders here are the one place the
// wire shape of each payload is written down; decoders are for clients.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "yiban/protocol/error.h"

namespace yiban::protocol {

struct TicketView {
  std::string id;
  std::string number;
  std::string service;
  std::optional<std::string> priority_class;
  std::optional<std::string> appointment;
  std::int64_t issued_ts = 0;
  std::string state;  // waiting, called, serving, completed, no_show, cancelled
  std::optional<std::string> counter;
  int recalls = 0;
  int waiting_ahead = 0;
  int estimated_wait_s = 0;
  // For the person (Chinese), sent as the reply's "message": e.g. why a
  // booking's check-in gave a normal ticket.
  std::optional<std::string> message;
};

struct CounterView {
  std::string id;
  std::string state;  // open, paused, closed
  std::optional<std::string> current_ticket;
};

std::string encode_ok();
std::string encode_ok_ticket(const TicketView& ticket);
std::string encode_ok_counter(const CounterView& counter);
std::string encode_ok_help(std::string_view help_id);
std::string encode_failure(const Failure& failure);

// A reply as a client sees it.
struct Reply {
  bool ok = false;
  std::optional<Failure> failure;
  std::optional<TicketView> ticket;
  std::optional<CounterView> counter;
  std::optional<std::string> help_id;
};
Expected<Reply> decode_reply(std::string_view payload);

struct CallEntry {
  std::string number;
  std::string counter;
  std::int64_t ts = 0;
};
// Newest first.
std::string encode_board_calls(const std::vector<CallEntry>& calls);
Expected<std::vector<CallEntry>> decode_board_calls(std::string_view payload);

struct QueueEntry {
  std::string service;
  std::string name;
  int waiting = 0;
  int estimated_wait_s = 0;
  int open_counters = 0;
};
std::string encode_board_queues(std::int64_t ts, const std::vector<QueueEntry>& queues);

struct Announcement {
  std::string text;  // e.g. 请A007号到7号窗口
  std::string number;
  std::string counter;
  std::int64_t ts = 0;
};
std::string announcement_text(std::string_view number, std::string_view counter);
std::string encode_announcement(const Announcement& announcement);

struct CatalogEntry {
  std::string code;
  std::string name;
  bool open = true;
};
std::string encode_catalog(std::string_view hall, std::string_view hall_name,
                           const std::vector<CatalogEntry>& services);

// Open alerts, retained on yiban/v1/{hall}/alerts for staff handsets.
struct AlertView {
  std::string id;
  std::string rule;
  std::string subject;
  std::string severity;  // warning, critical
  std::string state;  // raised, acknowledged
  std::string message;
  std::int64_t raised_ts = 0;
  std::optional<std::int64_t> acked_ts;
  std::optional<std::string> acked_by;
};
std::string encode_alerts(std::int64_t ts, const std::vector<AlertView>& alerts);
std::string encode_ok_alert(const AlertView& alert);

struct DeviceStatus {
  std::string state;  // online / offline
  std::optional<std::string> kind;
  std::optional<std::string> version;
};
std::string encode_device_status(const DeviceStatus& status);
// Lenient about extra fields, strict about state.
Expected<DeviceStatus> decode_device_status(std::string_view payload);

}  // namespace yiban::protocol
