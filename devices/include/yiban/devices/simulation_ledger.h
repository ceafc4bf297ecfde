#pragma once
// What a hall simulation did, as the devices saw the edge's replies: tickets
// issued, served, no-shows, transfers, ratings, and waits from issue to first
// call. Only ok replies count, so the totals match the edge's own records.
// Thread-safe: kiosks and every counter's staff record into one ledger.

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace yiban::devices {

struct SimulationSummary {
  long long issued = 0;
  long long served = 0;
  long long no_shows = 0;
  long long transferred = 0;
  long long ratings = 0;
  long long waits = 0;  // tickets called at least once
  double mean_wait_min = 0.0;
  double p90_wait_min = 0.0;
  int occupancy = 0;  // issued and not yet served or no-show: still in the hall
};

// "key: value" lines, one per field (scripts and tests parse them).
std::string summary_text(const SimulationSummary& summary);

class SimulationLedger {
 public:
  // A ticket issued at now_ms (simulated) whose service will take service_min.
  void issued(const std::string& ticket_id, std::int64_t now_ms, double service_min);
  // A ticket called; returns its planned service time (minutes) when known.
  // Only the first call of a ticket counts as its wait.
  std::optional<double> called(const std::string& ticket_id, std::int64_t now_ms);
  void served(const std::string& ticket_id);
  void no_show(const std::string& ticket_id);
  // Transferred tickets wait again; service_min is their new service time.
  void transferred(const std::string& ticket_id, double service_min);
  void rated();

  // People in the hall: issued minus served minus no-shows (at least 0).
  int occupancy() const;
  SimulationSummary summary() const;

 private:
  struct Ticket {
    std::int64_t issued_ms = 0;
    double service_min = 5.0;
    bool called = false;
  };
  mutable std::mutex mutex_;
  std::map<std::string, Ticket> tickets_;  // guarded by mutex_
  std::vector<double> waits_min_;          // guarded by mutex_
  SimulationSummary totals_;               // guarded by mutex_ (counts only)
};

}  // namespace yiban::devices
