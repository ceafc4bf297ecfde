#include "yiban/protocol/commands.h"

#include "yiban/protocol/bookings.h"
#include "yiban/protocol/cases.h"

#include <nlohmann/json.hpp>

#include "yiban/protocol/city_catalog.h"
#include "yiban/protocol/event.h"
#include "yiban/protocol/utf8.h"

namespace yiban::protocol {
namespace {

using nlohmann::json;

Expected<Notice> notice_from(const json& data) {
  for (const auto& [key, value] : data.items()) {
    if (key != "text" && key != "until_ts") return error("notice: unknown field " + key);
  }
  auto text = data.find("text");
  if (text == data.end() || !text->is_string()) return error("notice.text: missing or not a string");
  Notice n;
  n.text = text->get<std::string>();
  if (n.text.size() > kMaxNoticeBytes) return error("notice.text: longer than 600 bytes");
  if (auto until = data.find("until_ts"); until != data.end()) {
    if (!until->is_number_integer() || until->get<std::int64_t>() < 0)
      return error("notice.until_ts: not a non-negative integer (ms)");
    n.until_ts = until->get<std::int64_t>();
  }
  return n;
}

Expected<AlertAction> alert_action_from(const json& data) {
  AlertAction a;
  for (const auto& [key, value] : data.items()) {
    if (key != "alert" && key != "by" && key != "comment") return error("alert action: unknown field " + key);
    if (!value.is_string()) return error("alert action." + key + ": not a string");
  }
  auto alert = data.find("alert");
  if (alert == data.end() || alert->get<std::string>().empty() || alert->get<std::string>().size() > 64)
    return error("alert action.alert: missing or not an alert id");
  a.alert = alert->get<std::string>();
  auto by = data.find("by");
  if (by == data.end() || !by->is_string() || by->get<std::string>().empty() || by->get<std::string>().size() > 64)
    return error("alert action.by: missing or longer than 64 bytes");
  a.by = by->get<std::string>();
  if (auto c = data.find("comment"); c != data.end()) {
    if (!c->is_string()) return error("alert action.comment: not a string");
    if (c->get<std::string>().size() > 500) return error("alert action.comment: longer than 500 bytes");
    a.comment = c->get<std::string>();
  }
  return a;
}

Expected<void> check_data(std::string_view type, const json& data) {
  if (!data.is_object()) return error("command data: not a JSON object");
  if (type == command_type::kNotice) {
    auto n = notice_from(data);
    if (!n) return std::unexpected(n.error());
    return {};
  }
  if (type == command_type::kConfigSet) {
    if (data.empty()) return error("config.set: nothing to change (services, counters or alerts)");
    for (const auto& [key, value] : data.items()) {
      if (key == "services" || key == "counters") {
        if (!value.is_array()) return error("config.set." + key + ": not an array");
      } else if (key == "alerts") {
        if (!value.is_object()) return error("config.set.alerts: not an object");
      } else {
        return error("config.set: unknown section " + key + " (services, counters, alerts)");
      }
    }
    return {};
  }
  if (type == command_type::kCatalogSet) {
    auto c = parse_city_catalog(data.dump());
    if (!c) return std::unexpected(c.error());
    return {};
  }
  if (type == command_type::kAlertAck || type == command_type::kAlertResolve) {
    auto a = alert_action_from(data);
    if (!a) return std::unexpected(a.error());
    return {};
  }
  if (type == cases::kAssignCommand) {
    auto f = cases::decode_case_file(data.dump());
    if (!f) return error("case.assign: " + f.error().message);
    return {};
  }
  if (type == cases::kUpdateCommand) {
    auto s = cases::decode_step(data.dump());
    if (!s) return error("case.update: " + s.error().message);
    return {};
  }
  if (type == bookings::kAddCommand) {
    if (auto a = bookings::decode_booking_add(data.dump()); !a) return std::unexpected(a.error());
    return {};
  }
  if (type == bookings::kCancelCommand) {
    if (auto c = bookings::decode_booking_cancel(data.dump()); !c) return std::unexpected(c.error());
    return {};
  }
  if (type == bookings::kQuotaCommand) {
    if (auto q = bookings::decode_booking_quota(data.dump()); !q) return std::unexpected(q.error());
    return {};
  }
  if (type == bookings::kConfigCommand) {
    if (auto c = bookings::parse_booking_config(data.dump()); !c) return error("booking.config: " + c.error().message);
    return {};
  }
  return error("command type " + std::string(type) +
               " unknown (notice, config.set, alert.ack, alert.resolve, catalog.set, case.assign, case.update, "
               "booking.add, booking.cancel, booking.quota, booking.config)");
}

}  // namespace

std::string encode_command(const Command& command) {
  // data is spliced in verbatim: it was validated as a JSON object.
  return R"({"down_seq":)" + std::to_string(command.down_seq) + R"(,"ts":)" + std::to_string(command.ts) +
         R"(,"type":)" + json(command.type).dump() + R"(,"data":)" + command.data_json + "}";
}

Expected<Command> parse_command(std::string_view text) {
  if (text.size() > kMaxEventBytes) return error("command larger than 64 KiB");
  if (!is_valid_utf8(text)) return error("command is not valid UTF-8");
  auto j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return error("command is not a JSON object");
  Command c;
  auto seq = j.find("down_seq");
  if (seq == j.end() || !seq->is_number_integer() || seq->get<std::int64_t>() < 1)
    return error("command.down_seq: missing or not a positive integer");
  c.down_seq = seq->get<std::int64_t>();
  auto ts = j.find("ts");
  if (ts == j.end() || !ts->is_number_integer() || ts->get<std::int64_t>() < 0)
    return error("command.ts: missing or not a non-negative integer");
  c.ts = ts->get<std::int64_t>();
  auto type = j.find("type");
  if (type == j.end() || !type->is_string()) return error("command.type: missing or not a string");
  c.type = type->get<std::string>();
  auto data = j.find("data");
  if (data == j.end()) return error("command.data: missing");
  if (auto ok = check_data(c.type, *data); !ok) return std::unexpected(ok.error());
  c.data_json = data->dump();
  return c;
}

Expected<void> validate_command_data(std::string_view type, std::string_view data_json) {
  if (data_json.size() > kMaxEventBytes - 256) return error("command data larger than 63 KiB");
  if (!is_valid_utf8(data_json)) return error("command data is not valid UTF-8");
  auto j = json::parse(data_json, nullptr, false);
  if (j.is_discarded()) return error("command data is not JSON");
  return check_data(type, j);
}

Expected<Notice> decode_notice(std::string_view data_json) {
  auto j = json::parse(data_json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return error("notice: not a JSON object");
  return notice_from(j);
}

Expected<AlertAction> decode_alert_action(std::string_view data_json) {
  auto j = json::parse(data_json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return error("alert action: not a JSON object");
  return alert_action_from(j);
}

std::string encode_notice_board(const Notice& notice, std::int64_t ts) {
  json j{{"text", notice.text}, {"ts", ts}};
  if (notice.until_ts > 0) j["until_ts"] = notice.until_ts;
  return j.dump();
}

std::string encode_command_applied(std::int64_t down_seq, std::string_view type, bool ok, std::string_view error) {
  json j{{"down_seq", down_seq}, {"type", type}, {"ok", ok}};
  if (!ok) j["error"] = error;
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace yiban::protocol
