#include "support/booking_support.h"

#include <chrono>

namespace yiban::test {

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string booking_config(const std::string& hall, int capacity, double hall_share, int rebalance_before_min) {
  nlohmann::json hours = nlohmann::json::object();
  for (const char* d : {"sun", "mon", "tue", "wed", "thu", "fri", "sat"}) hours[d] = {"00:00-24:00"};
  return nlohmann::json{{"timezone", "Asia/Shanghai"},
                        {"horizon_days", 7},
                        {"rebalance_before_min", rebalance_before_min},
                        {"halls",
                         {{{"hall", hall},
                           {"services",
                            {{{"code", "A"}, {"slot_min", 60}, {"capacity", capacity}, {"hall_share", hall_share},
                              {"hours", hours}}}}}}}}
      .dump();
}

std::int64_t next_slot() {
  std::int64_t s = (wall_ms() / 3600000 + 1) * 3600000;
  if (s - wall_ms() < 10 * 60000) s += 3600000;
  return s;
}

nlohmann::json book_body(const std::string& hall, std::int64_t slot, const std::string& applicant_id,
                         const std::string& name, const std::string& phone) {
  return nlohmann::json{{"hall", hall}, {"service", "A"}, {"slot_start", slot}, {"applicant_id", applicant_id},
                        {"applicant_name", name}, {"phone", phone}};
}

}  // namespace yiban::test
