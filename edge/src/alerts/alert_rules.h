#pragma once
// The hall's condition rules, read off the queue and the sensors: long wait,
// long queue, crowding, CO2, temperature, device offline. Thresholds come
// from the hall config's "alerts" block.

#include <cstdint>
#include <vector>

#include "alerts/alert_engine.h"
#include "queue/queue_engine.h"
#include "sensing/sensing.h"

namespace yiban::edge::alerts {

std::vector<Condition> collect_conditions(const protocol::HallConfig& config, const queue::QueueEngine& engine,
                                          const sensing::Sensing& sensing, std::int64_t now);

// Presentation for staff handsets.
protocol::AlertView view_of(const store::AlertRow& row);

}  // namespace yiban::edge::alerts
