#pragma once
// Commands from central to a hall (ARCHITECTURE §6 DOWN). Each is one JSON
// frame, numbered per hall: {"down_seq":N,"ts":T,"type":"…","data":{…}}.
//
// Types:
//   notice      data {"text":"…"[,"until_ts":T]}: shown on the hall's call
//               displays (retained board/notice); empty text clears it.
//   config.set  data with any of "services", "counters", "alerts" (same shapes
//               as hall.json): replaces those sections of the hall's config.
//               The edge validates the resulting whole config; an invalid one
//               is recorded as applied with ok=false and changes nothing.
//   alert.ack, alert.resolve  data {"alert":"<id>","by":"…"[,"comment":"…"]}:
//               central staff act on a hall's alert; recorded at the hall as
//               acknowledged/resolved by "central:<by>".
//   catalog.set data: the city service catalog (protocol/city_catalog.h),
//               kept at the hall so it can route cases while offline.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "yiban/protocol/error.h"

namespace yiban::protocol {

namespace command_type {
inline constexpr std::string_view kNotice = "notice";
inline constexpr std::string_view kConfigSet = "config.set";
inline constexpr std::string_view kAlertAck = "alert.ack";
inline constexpr std::string_view kAlertResolve = "alert.resolve";
inline constexpr std::string_view kCatalogSet = "catalog.set";
}  // namespace command_type

inline constexpr std::size_t kMaxNoticeBytes = 600;  // 200 Chinese characters

struct Command {
  std::int64_t down_seq = 0;
  std::int64_t ts = 0;
  std::string type;
  std::string data_json;  // the data object's text
};

struct AlertAction {
  std::string alert;
  std::string by;
  std::optional<std::string> comment;
};
Expected<AlertAction> decode_alert_action(std::string_view data_json);

struct Notice {
  std::string text;
  std::int64_t until_ts = 0;  // 0: until replaced
};

std::string encode_command(const Command& command);
// Validates the envelope (down_seq >= 1, ts, a known type, an object data)
// and, for known types, the data's shape.
Expected<Command> parse_command(std::string_view text);
// Checks a command's type and data before central queues it.
Expected<void> validate_command_data(std::string_view type, std::string_view data_json);
Expected<Notice> decode_notice(std::string_view data_json);
std::string encode_notice_board(const Notice& notice, std::int64_t ts);
// data of the command.applied event: {"down_seq","type","ok"[,"error"]}.
std::string encode_command_applied(std::int64_t down_seq, std::string_view type, bool ok, std::string_view error);

}  // namespace yiban::protocol
