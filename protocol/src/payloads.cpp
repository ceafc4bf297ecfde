#include "yiban/protocol/payloads.h"

#include <cstdint>
#include <type_traits>
#include <utility>

#include <nlohmann/json.hpp>

#include "yiban/protocol/requests.h"
#include "yiban/protocol/utf8.h"

namespace yiban::protocol {
namespace {

using nlohmann::json;

json optional_json(const std::optional<std::string>& value) {
  return value ? json(*value) : json(nullptr);
}

json ticket_json(const TicketView& t) {
  json j{{"id", t.id},
         {"number", t.number},
         {"service", t.service},
         {"class", optional_json(t.priority_class)},
         {"issued_ts", t.issued_ts},
         {"state", t.state},
         {"counter", optional_json(t.counter)},
         {"recalls", t.recalls},
         {"waiting_ahead", t.waiting_ahead},
         {"estimated_wait_s", t.estimated_wait_s}};
  if (t.appointment) j["appointment"] = *t.appointment;
  return j;
}

std::optional<std::string> opt_string(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

template <class T>
T get_or(const json& j, const char* key, T fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if constexpr (std::is_integral_v<T>) {
    // get<T>() would cast a float (undefined when out of T's range) or wrap a
    // large integer: only integers that fit are numbers here.
    const bool fits = it->is_number_unsigned()  ? std::in_range<T>(it->template get<std::uint64_t>())
                      : it->is_number_integer() ? std::in_range<T>(it->template get<std::int64_t>())
                                                : false;
    if (!fits) throw json::type_error::create(302, std::string(key) + ": not an integer in range", &*it);
  }
  return it->template get<T>();
}

}  // namespace

std::string encode_ok() { return R"({"ok":true})"; }

std::string encode_ok_ticket(const TicketView& ticket) {
  json j{{"ok", true}, {"ticket", ticket_json(ticket)}};
  if (ticket.message) j["message"] = *ticket.message;
  return j.dump();
}

std::string encode_ok_counter(const CounterView& c) {
  return json{{"ok", true},
              {"counter", {{"id", c.id}, {"state", c.state}, {"current_ticket", optional_json(c.current_ticket)}}}}
      .dump();
}

std::string encode_ok_help(std::string_view help_id) {
  return json{{"ok", true}, {"help", {{"id", help_id}}}}.dump();
}

std::string encode_failure(const Failure& failure) {
  return json{{"ok", false}, {"error", {{"code", to_string(failure.code)}, {"message", failure.message}}}}.dump(
      -1, ' ', false, json::error_handler_t::replace);
}

Expected<Reply> decode_reply(std::string_view payload) {
  if (payload.size() > kMaxPayloadBytes) return error("reply larger than 16 KiB");
  auto j = json::parse(payload, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return error("reply is not a JSON object");
  auto ok = j.find("ok");
  if (ok == j.end() || !ok->is_boolean()) return error("reply.ok: missing or not a boolean");
  Reply out;
  out.ok = ok->get<bool>();
  try {
    if (!out.ok) {
      const auto& e = j.at("error");
      auto code = error_code_from_string(e.at("code").get<std::string>());
      if (!code) return error("reply.error.code: unknown code");
      out.failure = Failure{*code, get_or<std::string>(e, "message", "")};
    }
    if (auto t = j.find("ticket"); t != j.end() && t->is_object()) {
      TicketView v;
      v.id = t->at("id").get<std::string>();
      v.number = t->at("number").get<std::string>();
      v.service = t->at("service").get<std::string>();
      v.priority_class = opt_string(*t, "class");
      v.appointment = opt_string(*t, "appointment");
      v.issued_ts = get_or<std::int64_t>(*t, "issued_ts", 0);
      v.state = get_or<std::string>(*t, "state", "");
      v.counter = opt_string(*t, "counter");
      v.recalls = get_or<int>(*t, "recalls", 0);
      v.waiting_ahead = get_or<int>(*t, "waiting_ahead", 0);
      v.estimated_wait_s = get_or<int>(*t, "estimated_wait_s", 0);
      v.message = opt_string(j, "message");
      out.ticket = v;
    }
    if (auto c = j.find("counter"); c != j.end() && c->is_object()) {
      out.counter = CounterView{c->at("id").get<std::string>(), c->at("state").get<std::string>(),
                                opt_string(*c, "current_ticket")};
    }
    if (auto h = j.find("help"); h != j.end() && h->is_object()) out.help_id = h->at("id").get<std::string>();
  } catch (const json::exception& e) {
    return error(std::string("reply: ") + e.what());
  }
  return out;
}

std::string encode_board_calls(const std::vector<CallEntry>& calls) {
  json arr = json::array();
  for (const auto& c : calls) arr.push_back({{"number", c.number}, {"counter", c.counter}, {"ts", c.ts}});
  return arr.dump();
}

Expected<std::vector<CallEntry>> decode_board_calls(std::string_view payload) {
  auto j = json::parse(payload, nullptr, false);
  if (j.is_discarded() || !j.is_array()) return error("board/calls: not a JSON array");
  std::vector<CallEntry> out;
  try {
    for (const auto& e : j) {
      const auto& ts = e.at("ts");
      if (!ts.is_number_integer()) return error("board/calls: ts: not an integer");
      out.push_back({e.at("number").get<std::string>(), e.at("counter").get<std::string>(), ts.get<std::int64_t>()});
    }
  } catch (const json::exception& e) {
    return error(std::string("board/calls: ") + e.what());
  }
  return out;
}

std::string encode_board_queues(std::int64_t ts, const std::vector<QueueEntry>& queues) {
  json arr = json::array();
  for (const auto& q : queues) {
    arr.push_back({{"service", q.service},
                   {"name", q.name},
                   {"waiting", q.waiting},
                   {"estimated_wait_s", q.estimated_wait_s},
                   {"open_counters", q.open_counters}});
  }
  return json{{"ts", ts}, {"queues", arr}}.dump();
}

std::string announcement_text(std::string_view number, std::string_view counter) {
  std::string out = "请";
  out.append(number).append("号到").append(counter).append("号窗口");
  return out;
}

std::string encode_announcement(const Announcement& a) {
  return json{{"text", a.text}, {"number", a.number}, {"counter", a.counter}, {"ts", a.ts}}.dump();
}

std::string encode_catalog(std::string_view hall, std::string_view hall_name,
                           const std::vector<CatalogEntry>& services) {
  json arr = json::array();
  for (const auto& s : services) arr.push_back({{"code", s.code}, {"name", s.name}, {"open", s.open}});
  return json{{"hall", hall}, {"name", hall_name}, {"services", arr}}.dump();
}

namespace {
json alert_json(const AlertView& a) {
  json j{{"id", a.id},           {"rule", a.rule},       {"subject", a.subject},     {"severity", a.severity},
         {"state", a.state},     {"message", a.message}, {"raised_ts", a.raised_ts}};
  j["acked_ts"] = a.acked_ts ? json(*a.acked_ts) : json(nullptr);
  j["acked_by"] = optional_json(a.acked_by);
  return j;
}
}  // namespace

std::string encode_alerts(std::int64_t ts, const std::vector<AlertView>& alerts) {
  json arr = json::array();
  for (const auto& a : alerts) arr.push_back(alert_json(a));
  return json{{"ts", ts}, {"alerts", arr}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string encode_ok_alert(const AlertView& alert) {
  return json{{"ok", true}, {"alert", alert_json(alert)}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string encode_device_status(const DeviceStatus& status) {
  json j{{"state", status.state}};
  if (status.kind) j["kind"] = *status.kind;
  if (status.version) j["version"] = *status.version;
  return j.dump();
}

Expected<DeviceStatus> decode_device_status(std::string_view payload) {
  if (payload.size() > kMaxPayloadBytes) return error("status larger than 16 KiB");
  if (!is_valid_utf8(payload)) return error("status is not valid UTF-8");
  auto j = json::parse(payload, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return error("status is not a JSON object");
  auto state = opt_string(j, "state");
  if (!state || (*state != "online" && *state != "offline"))
    return error("status.state: must be \"online\" or \"offline\"");
  DeviceStatus out{*state, opt_string(j, "kind"), opt_string(j, "version")};
  if (out.kind && out.kind->size() > 32) {
    // Cut on a character boundary so the kind stays valid UTF-8.
    std::size_t cut = 32;
    while (cut > 0 && (static_cast<unsigned char>((*out.kind)[cut]) & 0xC0) == 0x80) --cut;
    out.kind->resize(cut);
  }
  if (out.version && out.version->size() > 32) out.version.reset();
  return out;
}

}  // namespace yiban::protocol
