#include "yiban/protocol/event.h"

#include <nlohmann/json.hpp>

#include "yiban/protocol/ids.h"
#include "yiban/protocol/utf8.h"

namespace yiban::protocol {

bool is_valid_event_type(std::string_view type) {
  if (type.empty() || type.size() > 64) return false;
  auto dot = type.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == type.size()) return false;
  if (type.find('.', dot + 1) != std::string_view::npos) return false;
  for (char c : type) {
    if (!((c >= 'a' && c <= 'z') || c == '_' || c == '.')) return false;
  }
  return true;
}

std::string encode_event(std::string_view hall, std::int64_t seq, std::int64_t ts,
                         std::string_view type, std::string_view data_json) {
  std::string out;
  out.reserve(64 + hall.size() + type.size() + data_json.size());
  out.append(R"({"hall":")").append(hall).append(R"(","seq":)").append(std::to_string(seq));
  out.append(R"(,"ts":)").append(std::to_string(ts)).append(R"(,"type":")").append(type);
  out.append(R"(","data":)").append(data_json).append("}");
  return out;
}

Expected<EventEnvelope> parse_event(std::string_view text) {
  if (text.size() > kMaxEventBytes) return error("event larger than 64 KiB");
  if (!is_valid_utf8(text)) return error("event is not valid UTF-8");
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return error("event is not a JSON object");
  EventEnvelope out;
  auto hall = j.find("hall");
  if (hall == j.end() || !hall->is_string() || !is_valid_hall_id(hall->get_ref<const std::string&>()))
    return error("event.hall: missing or not a valid hall id");
  out.hall = hall->get<std::string>();
  auto seq = j.find("seq");
  if (seq == j.end() || !seq->is_number_integer() || seq->get<std::int64_t>() < 1)
    return error("event.seq: missing or not a positive integer");
  out.seq = seq->get<std::int64_t>();
  auto ts = j.find("ts");
  if (ts == j.end() || !ts->is_number_integer() || ts->get<std::int64_t>() < 0)
    return error("event.ts: missing or not a non-negative integer");
  out.ts = ts->get<std::int64_t>();
  auto type = j.find("type");
  if (type == j.end() || !type->is_string() || !is_valid_event_type(type->get_ref<const std::string&>()))
    return error("event.type: missing or not a dotted lower-case type");
  out.type = type->get<std::string>();
  auto data = j.find("data");
  if (data == j.end() || !data->is_object()) return error("event.data: missing or not an object");
  if (j.size() != 5) return error("event: unexpected fields besides hall, seq, ts, type, data");
  out.data_json = data->dump();
  return out;
}

}  // namespace yiban::protocol
