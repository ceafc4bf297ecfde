#include "yiban/devices/simulation_ledger.h"

#include <spdlog/fmt/fmt.h>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace yiban::devices {

std::string summary_text(const SimulationSummary& s) {
  return fmt::format(
      "issued: {}\nserved: {}\nno_shows: {}\ntransferred: {}\nwait_mean_min: {:.1f}\n"
      "wait_p90_min: {:.1f}\nratings: {}\nstill_in_hall: {}\n",
      s.issued, s.served, s.no_shows, s.transferred, s.mean_wait_min, s.p90_wait_min, s.ratings,
      s.occupancy);
}

void SimulationLedger::issued(const std::string& ticket_id, std::int64_t now_ms,
                              double service_min) {
  std::lock_guard lock(mutex_);
  tickets_[ticket_id] = Ticket{now_ms, service_min, false};
  ++totals_.issued;
}

std::optional<double> SimulationLedger::called(const std::string& ticket_id, std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  auto it = tickets_.find(ticket_id);
  if (it == tickets_.end()) return std::nullopt;
  if (!it->second.called) {
    it->second.called = true;
    waits_min_.push_back(static_cast<double>(now_ms - it->second.issued_ms) / 60'000.0);
  }
  return it->second.service_min;
}

void SimulationLedger::served(const std::string& ticket_id) {
  std::lock_guard lock(mutex_);
  tickets_.erase(ticket_id);
  ++totals_.served;
}

void SimulationLedger::no_show(const std::string& ticket_id) {
  std::lock_guard lock(mutex_);
  tickets_.erase(ticket_id);
  ++totals_.no_shows;
}

void SimulationLedger::transferred(const std::string& ticket_id, double service_min) {
  std::lock_guard lock(mutex_);
  if (auto it = tickets_.find(ticket_id); it != tickets_.end())
    it->second.service_min = service_min;
  ++totals_.transferred;
}

void SimulationLedger::rated() {
  std::lock_guard lock(mutex_);
  ++totals_.ratings;
}

int SimulationLedger::occupancy() const {
  std::lock_guard lock(mutex_);
  // Tickets left over from before the run can make departures exceed arrivals.
  return static_cast<int>(std::max(0LL, totals_.issued - totals_.served - totals_.no_shows));
}

SimulationSummary SimulationLedger::summary() const {
  std::lock_guard lock(mutex_);
  SimulationSummary s = totals_;
  s.occupancy = static_cast<int>(std::max(0LL, s.issued - s.served - s.no_shows));
  s.waits = static_cast<long long>(waits_min_.size());
  if (!waits_min_.empty()) {
    std::vector<double> sorted = waits_min_;
    std::ranges::sort(sorted);
    s.mean_wait_min = std::accumulate(sorted.begin(), sorted.end(), 0.0) / sorted.size();
    // Nearest-rank p90.
    auto rank = static_cast<std::size_t>(std::ceil(0.9 * static_cast<double>(sorted.size())));
    s.p90_wait_min = sorted[std::max<std::size_t>(rank, 1) - 1];
  }
  return s;
}

}  // namespace yiban::devices
