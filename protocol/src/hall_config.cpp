#include "yiban/protocol/hall_config.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <system_error>
#include <utility>

#include "yiban/protocol/ids.h"
#include "yiban/protocol/utf8.h"

namespace yiban::protocol {
namespace {

using Json = nlohmann::json;

constexpr std::array<std::pair<DeviceKind, std::string_view>, 7> kKindNames{{
    {DeviceKind::kKiosk, "kiosk"},
    {DeviceKind::kCounter, "counter"},
    {DeviceKind::kRating, "rating"},
    {DeviceKind::kDisplay, "display"},
    {DeviceKind::kPeopleCounter, "people_counter"},
    {DeviceKind::kEnvironment, "environment"},
    {DeviceKind::kStaff, "staff"},
}};

constexpr std::size_t kMaxHallNameChars = 100;
constexpr std::size_t kMaxServiceNameChars = 50;
constexpr std::size_t kMaxCounterNameChars = 50;
constexpr std::size_t kMaxTimezoneBytes = 64;
constexpr std::size_t kMaxPriorityClassBytes = 32;
constexpr std::size_t kMaxPriorityClasses = 64;
constexpr std::size_t kMaxServices = std::size_t{26} * 27;  // every code of [A-Z]{1,2}
constexpr std::size_t kMaxCounters = 500;
constexpr std::size_t kMaxDevices = 2000;
constexpr int kMaxCapacity = 100000;
constexpr int kMaxRecallLimit = 10;
constexpr int kMaxWaitMin = 1440;
constexpr double kMaxAvgServiceMin = 240;

// A JSON string literal for messages: quoted and escaped, so odd input cannot
// garble a log line.
std::string json_quoted(std::string_view text) {
  return Json(text).dump();
}

bool is_plain_key(std::string_view key) {
  return !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

// "counters[1]" + "services" -> "counters[1].services"; keys that are not plain
// identifiers are written as ["..."].
std::string member_path(std::string_view path, std::string_view key) {
  if (!is_plain_key(key)) return std::string(path) + "[" + json_quoted(key) + "]";
  if (path.empty()) return std::string(key);
  return std::string(path) + "." + std::string(key);
}

std::string index_path(std::string_view path, std::size_t index) {
  return std::string(path) + "[" + std::to_string(index) + "]";
}

std::unexpected<Error> fail_at(std::string_view path, std::string_view what) {
  return error((path.empty() ? std::string("top level") : std::string(path)) + ": " +
               std::string(what));
}

// Records the first object key that appears twice in one object, which
// nlohmann::json would otherwise collapse silently. Used as a parser callback;
// the callback only observes (always returns true).
class DuplicateKeyFinder {
 public:
  bool on_event(Json::parse_event_t event, const Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
        frames_.push_back(Frame{next_path(), true, {}, 0, {}});
        break;
      case Json::parse_event_t::array_start:
        frames_.push_back(Frame{next_path(), false, {}, 0, {}});
        break;
      case Json::parse_event_t::object_end:
      case Json::parse_event_t::array_end:
        if (!frames_.empty()) frames_.pop_back();
        break;
      case Json::parse_event_t::key:
        if (!frames_.empty() && parsed.is_string()) {
          Frame& frame = frames_.back();
          frame.key = parsed.get<std::string>();
          if (!frame.keys.insert(frame.key).second && !problem_) {
            problem_ = member_path(frame.path, frame.key) + ": duplicate key";
          }
        }
        break;
      case Json::parse_event_t::value:
        next_path();
        break;
    }
    return true;
  }

  const std::optional<std::string>& problem() const { return problem_; }

 private:
  struct Frame {
    std::string path;
    bool is_object;
    std::string key;             // the current member, objects only
    std::size_t next_index;      // arrays only
    std::set<std::string> keys;  // objects only
  };

  // The path of the value starting now; advances the enclosing array's index.
  std::string next_path() {
    if (frames_.empty()) return {};
    Frame& frame = frames_.back();
    if (frame.is_object) return member_path(frame.path, frame.key);
    return index_path(frame.path, frame.next_index++);
  }

  std::vector<Frame> frames_;
  std::optional<std::string> problem_;
};

// Refuses any member of obj whose key is not in allowed.
Expected<void> check_keys(const Json& obj, std::string_view path,
                          std::initializer_list<std::string_view> allowed) {
  for (const auto& [key, value] : obj.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      return fail_at(member_path(path, key), "unknown key");
    }
  }
  return {};
}

// The member key of obj, or nullptr when absent.
const Json* find_member(const Json& obj, std::string_view key) {
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

Expected<const Json*> require_member(const Json& obj, std::string_view path, std::string_view key) {
  const Json* value = find_member(obj, key);
  if (value == nullptr) return fail_at(member_path(path, key), "is required");
  return value;
}

Expected<std::string> as_string(const Json& value, std::string_view path) {
  if (!value.is_string()) return fail_at(path, "must be a string");
  return value.get<std::string>();
}

// Display text: a non-empty string of at most max_chars code points and no
// control characters.
Expected<std::string> as_text(const Json& value, std::string_view path, std::size_t max_chars) {
  auto text = as_string(value, path);
  if (!text) return std::unexpected(text.error());
  if (text->empty()) return fail_at(path, "must not be empty");
  if (utf8_length(*text) > max_chars) {
    return fail_at(path, "must be at most " + std::to_string(max_chars) + " characters");
  }
  bool has_control = std::any_of(text->begin(), text->end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
  if (has_control) return fail_at(path, "must not contain control characters");
  return text;
}

Expected<int> as_int(const Json& value, std::string_view path, int min, int max) {
  if (!value.is_number_integer()) return fail_at(path, "must be an integer");
  // Unsigned values above max may not fit in int64_t; check them before converting.
  bool in_range = value.is_number_unsigned()
                      ? value.get<std::uint64_t>() <= static_cast<std::uint64_t>(max)
                      : value.get<std::int64_t>() <= max;
  if (!in_range || value.get<std::int64_t>() < min) {
    return fail_at(path, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  }
  return static_cast<int>(value.get<std::int64_t>());
}

Expected<bool> as_bool(const Json& value, std::string_view path) {
  if (!value.is_boolean()) return fail_at(path, "must be true or false");
  return value.get<bool>();
}

Expected<void> require_array(const Json& value, std::string_view path, std::size_t max_size) {
  if (!value.is_array()) return fail_at(path, "must be an array");
  if (value.size() > max_size) {
    return fail_at(path, "must have at most " + std::to_string(max_size) + " entries");
  }
  return {};
}

Expected<void> require_object(const Json& value, std::string_view path) {
  if (!value.is_object()) return fail_at(path, "must be an object");
  return {};
}

// "Area/City" components or "UTC": [A-Za-z0-9_+-] runs separated by single
// slashes. '.' is not allowed at all, so ".." cannot climb out of the zoneinfo
// root, and a leading slash cannot make the name absolute.
bool is_valid_timezone_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxTimezoneBytes) return false;
  if (name.front() == '/' || name.back() == '/') return false;
  if (name.find("//") != std::string_view::npos) return false;
  if (name.find("..") != std::string_view::npos) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '+' || c == '-' || c == '/';
  });
}

bool is_valid_priority_class(std::string_view name) {
  if (name.empty() || name.size() > kMaxPriorityClassBytes) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; });
}

Expected<std::vector<std::string>> read_priority_classes(const Json& value, std::string_view path) {
  if (auto ok = require_array(value, path, kMaxPriorityClasses); !ok) {
    return std::unexpected(ok.error());
  }
  std::vector<std::string> out;
  for (std::size_t i = 0; i < value.size(); ++i) {
    std::string item_path = index_path(path, i);
    auto name = as_string(value[i], item_path);
    if (!name) return std::unexpected(name.error());
    if (!is_valid_priority_class(*name)) return fail_at(item_path, "must match [a-z_]{1,32}");
    if (std::find(out.begin(), out.end(), *name) != out.end()) {
      return fail_at(item_path, "duplicate priority class " + json_quoted(*name));
    }
    out.push_back(std::move(*name));
  }
  return out;
}

Expected<ServiceConfig> read_service(const Json& value, std::string_view path) {
  if (auto ok = require_object(value, path); !ok) return std::unexpected(ok.error());
  if (auto ok =
          check_keys(value, path, {"code", "name", "max_wait_min", "avg_service_min", "enabled"});
      !ok) {
    return std::unexpected(ok.error());
  }
  ServiceConfig service;

  std::string code_path = member_path(path, "code");
  auto code_member = require_member(value, path, "code");
  if (!code_member) return std::unexpected(code_member.error());
  auto code = as_string(**code_member, code_path);
  if (!code) return std::unexpected(code.error());
  if (!is_valid_service_code(*code)) return fail_at(code_path, "must match [A-Z]{1,2}");
  service.code = std::move(*code);

  auto name_member = require_member(value, path, "name");
  if (!name_member) return std::unexpected(name_member.error());
  auto name = as_text(**name_member, member_path(path, "name"), kMaxServiceNameChars);
  if (!name) return std::unexpected(name.error());
  service.name = std::move(*name);

  if (const Json* max_wait = find_member(value, "max_wait_min")) {
    auto minutes = as_int(*max_wait, member_path(path, "max_wait_min"), 1, kMaxWaitMin);
    if (!minutes) return std::unexpected(minutes.error());
    service.max_wait_min = *minutes;
  }

  if (const Json* avg = find_member(value, "avg_service_min")) {
    std::string avg_path = member_path(path, "avg_service_min");
    if (!avg->is_number()) return fail_at(avg_path, "must be a number");
    double minutes = avg->get<double>();
    if (!(minutes > 0 && minutes <= kMaxAvgServiceMin)) {
      return fail_at(avg_path, "must be greater than 0 and at most 240");
    }
    // At least one second, so estimates never divide by zero.
    service.avg_service_s = std::max(1, static_cast<int>(std::lround(minutes * 60)));
  }

  if (const Json* enabled = find_member(value, "enabled")) {
    auto flag = as_bool(*enabled, member_path(path, "enabled"));
    if (!flag) return std::unexpected(flag.error());
    service.enabled = *flag;
  }
  return service;
}

Expected<std::vector<ServiceConfig>> read_services(const Json& value, std::string_view path) {
  if (auto ok = require_array(value, path, kMaxServices); !ok) return std::unexpected(ok.error());
  if (value.empty()) return fail_at(path, "must not be empty");
  std::vector<ServiceConfig> out;
  for (std::size_t i = 0; i < value.size(); ++i) {
    std::string item_path = index_path(path, i);
    auto service = read_service(value[i], item_path);
    if (!service) return std::unexpected(service.error());
    bool duplicate = std::any_of(out.begin(), out.end(),
                                 [&](const ServiceConfig& s) { return s.code == service->code; });
    if (duplicate) {
      return fail_at(member_path(item_path, "code"),
                     "duplicate code " + json_quoted(service->code));
    }
    out.push_back(std::move(*service));
  }
  return out;
}

// A list of distinct codes naming configured services.
Expected<std::vector<std::string>> read_service_codes(const Json& value, std::string_view path,
                                                      const std::vector<ServiceConfig>& services) {
  if (auto ok = require_array(value, path, kMaxServices); !ok) return std::unexpected(ok.error());
  std::vector<std::string> out;
  for (std::size_t i = 0; i < value.size(); ++i) {
    std::string item_path = index_path(path, i);
    auto code = as_string(value[i], item_path);
    if (!code) return std::unexpected(code.error());
    bool known = std::any_of(services.begin(), services.end(),
                             [&](const ServiceConfig& s) { return s.code == *code; });
    if (!known) return fail_at(item_path, "unknown service " + json_quoted(*code));
    if (std::find(out.begin(), out.end(), *code) != out.end()) {
      return fail_at(item_path, "duplicate service " + json_quoted(*code));
    }
    out.push_back(std::move(*code));
  }
  return out;
}

Expected<CounterConfig> read_counter(const Json& value, std::string_view path,
                                     const std::vector<ServiceConfig>& services) {
  if (auto ok = require_object(value, path); !ok) return std::unexpected(ok.error());
  if (auto ok = check_keys(value, path, {"id", "name", "services", "backup"}); !ok) {
    return std::unexpected(ok.error());
  }
  CounterConfig counter;

  std::string id_path = member_path(path, "id");
  auto id_member = require_member(value, path, "id");
  if (!id_member) return std::unexpected(id_member.error());
  auto id = as_string(**id_member, id_path);
  if (!id) return std::unexpected(id.error());
  if (!is_valid_counter_id(*id)) return fail_at(id_path, "must match [A-Za-z0-9-]{1,16}");
  counter.id = std::move(*id);

  if (const Json* name = find_member(value, "name")) {
    auto text = as_text(*name, member_path(path, "name"), kMaxCounterNameChars);
    if (!text) return std::unexpected(text.error());
    counter.name = std::move(*text);
  } else {
    counter.name = counter.id + "号窗口";
  }

  std::string services_path = member_path(path, "services");
  auto services_member = require_member(value, path, "services");
  if (!services_member) return std::unexpected(services_member.error());
  auto main = read_service_codes(**services_member, services_path, services);
  if (!main) return std::unexpected(main.error());
  if (main->empty()) return fail_at(services_path, "must not be empty");
  counter.services = std::move(*main);

  if (const Json* backup_member = find_member(value, "backup")) {
    std::string backup_path = member_path(path, "backup");
    auto backup = read_service_codes(*backup_member, backup_path, services);
    if (!backup) return std::unexpected(backup.error());
    for (std::size_t i = 0; i < backup->size(); ++i) {
      const std::string& code = (*backup)[i];
      if (std::find(counter.services.begin(), counter.services.end(), code) !=
          counter.services.end()) {
        return fail_at(index_path(backup_path, i),
                       "service " + json_quoted(code) + " is already a main service");
      }
    }
    counter.backup = std::move(*backup);
  }
  return counter;
}

Expected<std::vector<CounterConfig>> read_counters(const Json& value, std::string_view path,
                                                   const std::vector<ServiceConfig>& services) {
  if (auto ok = require_array(value, path, kMaxCounters); !ok) return std::unexpected(ok.error());
  if (value.empty()) return fail_at(path, "must not be empty");
  std::vector<CounterConfig> out;
  for (std::size_t i = 0; i < value.size(); ++i) {
    std::string item_path = index_path(path, i);
    auto counter = read_counter(value[i], item_path, services);
    if (!counter) return std::unexpected(counter.error());
    bool duplicate = std::any_of(out.begin(), out.end(),
                                 [&](const CounterConfig& c) { return c.id == counter->id; });
    if (duplicate) {
      return fail_at(member_path(item_path, "id"), "duplicate id " + json_quoted(counter->id));
    }
    out.push_back(std::move(*counter));
  }
  return out;
}

bool kind_needs_counter(DeviceKind kind) {
  return kind == DeviceKind::kCounter || kind == DeviceKind::kRating;
}

Expected<DeviceConfig> read_device(const Json& value, std::string_view path,
                                   const std::vector<CounterConfig>& counters) {
  if (auto ok = require_object(value, path); !ok) return std::unexpected(ok.error());
  if (auto ok = check_keys(value, path, {"id", "kind", "counter"}); !ok) {
    return std::unexpected(ok.error());
  }
  DeviceConfig device;

  std::string id_path = member_path(path, "id");
  auto id_member = require_member(value, path, "id");
  if (!id_member) return std::unexpected(id_member.error());
  auto id = as_string(**id_member, id_path);
  if (!id) return std::unexpected(id.error());
  if (!is_valid_device_id(*id)) return fail_at(id_path, "must match [a-z0-9-]{1,32}");
  device.id = std::move(*id);

  std::string kind_path = member_path(path, "kind");
  auto kind_member = require_member(value, path, "kind");
  if (!kind_member) return std::unexpected(kind_member.error());
  auto kind_name = as_string(**kind_member, kind_path);
  if (!kind_name) return std::unexpected(kind_name.error());
  auto kind = device_kind_from_string(*kind_name);
  if (!kind) {
    std::string names;
    for (const auto& [k, name] : kKindNames) {
      names += names.empty() ? "" : ", ";
      names += name;
    }
    return fail_at(kind_path,
                   "unknown kind " + json_quoted(*kind_name) + " (one of " + names + ")");
  }
  device.kind = *kind;

  std::string counter_path = member_path(path, "counter");
  const Json* counter_member = find_member(value, "counter");
  if (!kind_needs_counter(device.kind)) {
    if (counter_member != nullptr) {
      return fail_at(counter_path, "not allowed for kind " + json_quoted(*kind_name));
    }
    return device;
  }
  if (counter_member == nullptr) {
    return fail_at(counter_path, "is required for kind " + json_quoted(*kind_name));
  }
  auto counter = as_string(*counter_member, counter_path);
  if (!counter) return std::unexpected(counter.error());
  bool known = std::any_of(counters.begin(), counters.end(),
                           [&](const CounterConfig& c) { return c.id == *counter; });
  if (!known) return fail_at(counter_path, "unknown counter " + json_quoted(*counter));
  device.counter = std::move(*counter);
  return device;
}

Expected<std::vector<DeviceConfig>> read_devices(const Json& value, std::string_view path,
                                                 const std::vector<CounterConfig>& counters) {
  if (auto ok = require_array(value, path, kMaxDevices); !ok) return std::unexpected(ok.error());
  std::vector<DeviceConfig> out;
  for (std::size_t i = 0; i < value.size(); ++i) {
    std::string item_path = index_path(path, i);
    auto device = read_device(value[i], item_path, counters);
    if (!device) return std::unexpected(device.error());
    bool duplicate = std::any_of(out.begin(), out.end(),
                                 [&](const DeviceConfig& d) { return d.id == device->id; });
    if (duplicate) {
      return fail_at(member_path(item_path, "id"), "duplicate id " + json_quoted(device->id));
    }
    out.push_back(std::move(*device));
  }
  return out;
}

Expected<HallConfig> read_hall_config(const Json& root) {
  if (!root.is_object()) return fail_at("", "must be a JSON object");
  if (auto ok = check_keys(root, "",
                           {"hall", "name", "region", "timezone", "capacity", "priority_classes",
                            "recall_limit", "services", "counters", "devices", "sensing",
                            "alerts", "appointments", "limits", "retention"});
      !ok) {
    return std::unexpected(ok.error());
  }
  HallConfig config;

  auto hall_member = require_member(root, "", "hall");
  if (!hall_member) return std::unexpected(hall_member.error());
  auto hall = as_string(**hall_member, "hall");
  if (!hall) return std::unexpected(hall.error());
  if (!is_valid_hall_id(*hall)) return fail_at("hall", "must match [a-z0-9-]{1,32}");
  config.hall = std::move(*hall);

  auto name_member = require_member(root, "", "name");
  if (!name_member) return std::unexpected(name_member.error());
  auto name = as_text(**name_member, "name", kMaxHallNameChars);
  if (!name) return std::unexpected(name.error());
  config.name = std::move(*name);

  auto region_member = require_member(root, "", "region");
  if (!region_member) return std::unexpected(region_member.error());
  auto region = as_string(**region_member, "region");
  if (!region) return std::unexpected(region.error());
  if (!is_valid_region(*region)) return fail_at("region", "must be six digits");
  config.region = std::move(*region);

  if (const Json* timezone_member = find_member(root, "timezone")) {
    auto timezone = as_string(*timezone_member, "timezone");
    if (!timezone) return std::unexpected(timezone.error());
    if (!is_valid_timezone_name(*timezone)) {
      return fail_at("timezone",
                     "must be an IANA zone name such as \"Asia/Shanghai\" or \"UTC\" "
                     "([A-Za-z0-9_+/-], at most 64 characters)");
    }
    config.timezone = std::move(*timezone);
  }

  if (const Json* capacity = find_member(root, "capacity")) {
    auto value = as_int(*capacity, "capacity", 0, kMaxCapacity);
    if (!value) return std::unexpected(value.error());
    config.capacity = *value;
  }

  if (const Json* classes = find_member(root, "priority_classes")) {
    auto value = read_priority_classes(*classes, "priority_classes");
    if (!value) return std::unexpected(value.error());
    config.priority_classes = std::move(*value);
  }

  if (const Json* recall = find_member(root, "recall_limit")) {
    auto value = as_int(*recall, "recall_limit", 0, kMaxRecallLimit);
    if (!value) return std::unexpected(value.error());
    config.recall_limit = *value;
  }

  struct IntField {
    const char* key;
    int min;
    int max;
    int* target;
  };
  // An optional object of integer settings, each within its range.
  auto read_ints = [](const Json& root, const char* block, std::initializer_list<IntField> fields) -> Expected<void> {
    const Json* obj = find_member(root, block);
    if (!obj) return {};
    if (!obj->is_object()) return fail_at(block, "must be an object");
    for (const auto& [key, value] : obj->items()) {
      bool known = false;
      for (const auto& f : fields) known = known || key == f.key;
      if (!known) return fail_at(member_path(block, key), "unknown key");
    }
    for (const auto& f : fields) {
      if (const Json* member = find_member(*obj, f.key)) {
        auto value = as_int(*member, member_path(block, f.key), f.min, f.max);
        if (!value) return std::unexpected(value.error());
        *f.target = *value;
      }
    }
    return {};
  };
  auto& sn = config.sensing;
  if (auto ok = read_ints(root, "sensing",
                          {{"liveness_s", 5, 3600, &sn.liveness_s},
                           {"retention_days", 1, 365, &sn.retention_days},
                           {"max_rate_hz", 1, 100, &sn.max_rate_hz}});
      !ok)
    return std::unexpected(ok.error());
  auto& li = config.limits;
  if (auto ok = read_ints(root, "limits",
                          {{"requests_per_s", 0, 100000, &li.requests_per_s},
                           {"request_burst", 1, 1000000, &li.request_burst},
                           {"status_changes_per_min", 1, 6000, &li.status_changes_per_min},
                           {"status_burst", 1, 10000, &li.status_burst}});
      !ok)
    return std::unexpected(ok.error());
  auto& re = config.retention;
  re.telemetry_days = sn.retention_days;
  if (auto ok = read_ints(root, "retention",
                          {{"telemetry_days", 1, 365, &re.telemetry_days},
                           {"replies_h", 1, 24 * 365, &re.replies_h},
                           {"outbox_days", 1, 3650, &re.outbox_days},
                           {"personal_days", 1, 3650, &re.personal_days},
                           {"case_files_days", 1, 36500, &re.case_files_days},
                           {"events_days", 0, 36500, &re.events_days},
                           {"tickets_days", 0, 36500, &re.tickets_days},
                           {"period_s", 10, 86400, &re.period_s},
                           {"batch_rows", 100, 1000000, &re.batch_rows}});
      !ok)
    return std::unexpected(ok.error());
  auto& al = config.alerts;
  if (auto ok = read_ints(root, "alerts",
                          {{"hold_s", 0, 3600, &al.hold_s},
                           {"clear_s", 0, 3600, &al.clear_s},
                           {"long_queue", 1, 10000, &al.long_queue},
                           {"crowding_pct", 1, 200, &al.crowding_pct},
                           {"co2_ppm", 400, 10000, &al.co2_ppm},
                           {"temp_min_c", -20, 40, &al.temp_min_c},
                           {"temp_max_c", 0, 60, &al.temp_max_c},
                           {"help_unanswered_s", 10, 86400, &al.help_unanswered_s},
                           {"rating_ack_s", 60, 7 * 86400, &al.rating_ack_s},
                           {"rating_resolve_s", 60, 30 * 86400, &al.rating_resolve_s}});
      !ok)
    return std::unexpected(ok.error());
  if (al.temp_min_c >= al.temp_max_c) return fail_at("alerts.temp_min_c", "must be below alerts.temp_max_c");
  if (const Json* ap = find_member(root, "appointments")) {
    if (!ap->is_object()) return fail_at("appointments", "must be an object");
    Json ints = *ap;
    if (const Json* ow = find_member(*ap, "outside_window")) {
      if (!ow->is_string() || (ow->get<std::string>() != "refuse" && ow->get<std::string>() != "normal_ticket"))
        return fail_at("appointments.outside_window", "must be \"refuse\" or \"normal_ticket\"");
      config.appointments.normal_ticket_outside_window = ow->get<std::string>() == "normal_ticket";
      ints.erase("outside_window");
    }
    Json wrapped = Json::object();
    wrapped["appointments"] = std::move(ints);
    auto& apc = config.appointments;
    if (auto ok = read_ints(wrapped, "appointments",
                            {{"early_min", 0, 240, &apc.early_min},
                             {"late_min", 0, 240, &apc.late_min},
                             {"turn_near_places", 1, 50, &apc.turn_near_places}});
        !ok)
      return std::unexpected(ok.error());
  }

  auto services_member = require_member(root, "", "services");
  if (!services_member) return std::unexpected(services_member.error());
  auto services = read_services(**services_member, "services");
  if (!services) return std::unexpected(services.error());
  config.services = std::move(*services);

  auto counters_member = require_member(root, "", "counters");
  if (!counters_member) return std::unexpected(counters_member.error());
  auto counters = read_counters(**counters_member, "counters", config.services);
  if (!counters) return std::unexpected(counters.error());
  config.counters = std::move(*counters);

  auto devices_member = require_member(root, "", "devices");
  if (!devices_member) return std::unexpected(devices_member.error());
  auto devices = read_devices(**devices_member, "devices", config.counters);
  if (!devices) return std::unexpected(devices.error());
  config.devices = std::move(*devices);

  return config;
}

}  // namespace

std::string_view to_string(DeviceKind kind) {
  for (const auto& [k, name] : kKindNames) {
    if (k == kind) return name;
  }
  return "kiosk";
}

std::optional<DeviceKind> device_kind_from_string(std::string_view text) {
  for (const auto& [k, name] : kKindNames) {
    if (name == text) return k;
  }
  return std::nullopt;
}

const ServiceConfig* HallConfig::find_service(std::string_view code) const {
  auto it = std::find_if(services.begin(), services.end(),
                         [&](const ServiceConfig& s) { return s.code == code; });
  return it == services.end() ? nullptr : &*it;
}

const CounterConfig* HallConfig::find_counter(std::string_view id) const {
  auto it = std::find_if(counters.begin(), counters.end(),
                         [&](const CounterConfig& c) { return c.id == id; });
  return it == counters.end() ? nullptr : &*it;
}

const DeviceConfig* HallConfig::find_device(std::string_view id) const {
  auto it = std::find_if(devices.begin(), devices.end(),
                         [&](const DeviceConfig& d) { return d.id == id; });
  return it == devices.end() ? nullptr : &*it;
}

bool HallConfig::has_priority_class(std::string_view name) const {
  return std::find(priority_classes.begin(), priority_classes.end(), name) !=
         priority_classes.end();
}

Expected<HallConfig> parse_hall_config(std::string_view json_text) {
  if (json_text.size() > kMaxHallConfigBytes) {
    return error("larger than " + std::to_string(kMaxHallConfigBytes) + " bytes");
  }
  DuplicateKeyFinder duplicates;
  Json root;
  try {
    root = Json::parse(json_text.begin(), json_text.end(),
                       [&duplicates](int, Json::parse_event_t event, Json& parsed) {
                         return duplicates.on_event(event, parsed);
                       });
  } catch (const Json::exception& e) {
    std::string what = e.what();
    // Drop nlohmann's "[json.exception.parse_error.101] " tag.
    if (auto end = what.find("] "); what.starts_with("[json.exception.") && end != what.npos) {
      what.erase(0, end + 2);
    }
    return error("invalid JSON: " + what);
  }
  if (duplicates.problem()) return error(*duplicates.problem());
  return read_hall_config(root);
}

Expected<std::string> read_hall_config_text(const std::filesystem::path& path) {
  std::string where = path.string();
  std::error_code ec;
  auto status = std::filesystem::status(path, ec);
  if (ec) return error(where + ": " + ec.message());
  if (!std::filesystem::is_regular_file(status)) return error(where + ": not a regular file");

  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return error(where + ": " + std::generic_category().message(errno));
  std::string text(kMaxHallConfigBytes + 1, '\0');
  std::size_t size = std::fread(text.data(), 1, text.size(), file);
  bool read_failed = std::ferror(file) != 0;
  int read_errno = errno;
  std::fclose(file);
  if (read_failed) return error(where + ": " + std::generic_category().message(read_errno));
  if (size > kMaxHallConfigBytes) {
    return error(where + ": larger than " + std::to_string(kMaxHallConfigBytes) + " bytes");
  }
  text.resize(size);
  return text;
}

Expected<HallConfig> load_hall_config(const std::filesystem::path& path) {
  auto text = read_hall_config_text(path);
  if (!text) return std::unexpected(text.error());
  auto config = parse_hall_config(*text);
  if (!config) return error(path.string() + ": " + config.error().message);
  return config;
}

Expected<std::string> replace_config_sections(std::string_view config_json, std::string_view sections_json) {
  auto base = Json::parse(config_json, nullptr, false);
  if (base.is_discarded() || !base.is_object()) return error("config is not a JSON object");
  auto sections = Json::parse(sections_json, nullptr, false);
  if (sections.is_discarded() || !sections.is_object()) return error("sections are not a JSON object");
  for (const auto& [key, value] : sections.items()) {
    if (key == "hall") return error("the hall id cannot be changed");
    base[key] = value;
  }
  return base.dump();
}

}  // namespace yiban::protocol
