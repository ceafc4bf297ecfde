#include "alerts/alert_rules.h"

#include <cmath>
#include <fmt/format.h>

namespace yiban::edge::alerts {

std::vector<Condition> collect_conditions(const protocol::HallConfig& config, const queue::QueueEngine& engine,
                                          const sensing::Sensing& sensing, std::int64_t now) {
  const auto& a = config.alerts;
  std::vector<Condition> out;
  for (const auto& s : config.services) {
    std::string name = s.name + "(" + s.code + ")";
    if (s.max_wait_min) {
      auto oldest = engine.oldest_waiting(s.code);
      std::int64_t waited_min = oldest ? (now - *oldest) / 60000 : 0;
      out.push_back({"long_wait", s.code, oldest && now - *oldest > *s.max_wait_min * 60000LL,
                     fmt::format("{}最长等待已{}分钟，超过{}分钟", name, waited_min, *s.max_wait_min)});
    }
    int waiting = engine.waiting_count(s.code);
    out.push_back({"long_queue", s.code, waiting >= a.long_queue,
                   fmt::format("{}排队{}人，达到{}人", name, waiting, a.long_queue)});
  }
  if (config.capacity > 0) {
    int occupancy = sensing.occupancy();
    out.push_back({"crowding", config.hall, occupancy * 100 >= a.crowding_pct * config.capacity,
                   fmt::format("大厅现有{}人，达到容量{}人的{}%", occupancy, config.capacity,
                               occupancy * 100 / config.capacity)});
  }
  for (const auto& d : config.devices) {
    if (d.kind == protocol::DeviceKind::kEnvironment) {
      if (auto co2 = sensing.latest(d.id, "co2_ppm")) {
        out.push_back({"co2", d.id, *co2 > a.co2_ppm,
                       fmt::format("{}二氧化碳浓度{:.0f} ppm，超过{} ppm", d.id, *co2, a.co2_ppm)});
      }
      if (auto temp = sensing.latest(d.id, "temp_c")) {
        out.push_back({"temperature", d.id, *temp < a.temp_min_c || *temp > a.temp_max_c,
                       fmt::format("{}温度{:.1f}°C，超出{}–{}°C", d.id, *temp, a.temp_min_c, a.temp_max_c)});
      }
    }
    if (auto online = engine.device_online(d.id)) {
      out.push_back({"device_offline", d.id, !*online, fmt::format("设备{}离线", d.id)});
    }
  }
  return out;
}

protocol::AlertView view_of(const store::AlertRow& row) {
  return {row.id, row.rule, row.subject, row.severity, row.state, row.message, row.raised_ts, row.acked_ts,
          row.acked_by};
}

}  // namespace yiban::edge::alerts
