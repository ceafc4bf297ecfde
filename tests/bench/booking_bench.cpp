// Booking benchmark (issue 7 goal: >= 2,000 booking requests/s at central
// with p99 <= 20 ms): a real yiban-central with --booking (synchronous=FULL
// store, every booking one durable transaction that also queues its hall's
// booking.add command; group commit on the sync thread), and a load of
// client threads on keep-alive connections posting bookings of distinct
// people for 10 s. The load generator runs on the same machine.
//
// How to run (not in ctest):
//   cmake --build build-dev -j2 --target booking_bench yiban-central
//   build-dev/tests/bench/booking_bench
// Figures are printed next to the goals, never asserted.

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/central_process.h"
#include "support/edge_process.h"
#include "support/test_support.h"

using namespace yiban::test;
using namespace std::chrono_literals;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

TEST_CASE("booking requests per second at central and their latency", "[bookings]") {
  print_machine();
  TempDir dir;
  std::filesystem::create_directories(dir / "central");
  // Ten halls, three services each, open all day in 30-minute slots of 1,000 seats.
  json halls = json::array();
  std::vector<std::string> hall_ids;
  json hours = json::object();
  for (const char* d : {"sun", "mon", "tue", "wed", "thu", "fri", "sat"}) hours[d] = {"00:00-24:00"};
  for (int h = 0; h < 10; ++h) {
    std::string id = "hall-" + std::to_string(h);
    hall_ids.push_back(id);
    json services = json::array();
    for (const char* s : {"A", "B", "C"})
      services.push_back({{"code", s}, {"slot_min", 30}, {"capacity", 1000}, {"hall_share", 0.0}, {"hours", hours}});
    halls.push_back({{"hall", id}, {"services", services}});
  }
  std::ofstream(dir / "booking.json")
      << json{{"timezone", "Asia/Shanghai"}, {"horizon_days", 7}, {"rebalance_before_min", 0}, {"halls", halls}}.dump();
  std::ofstream(dir / "case.key") << "city-case-key-for-benchmarks-0123456789\n";
  CentralProcess central(dir / "central", hall_ids);
  central.add_args({"--booking", (dir / "booking.json").string(), "--case-key-file", (dir / "case.key").string()});
  central.start();

  const std::int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  const std::int64_t first_slot = (now / 1800000 + 2) * 1800000;
  constexpr int kThreads = 16;
  constexpr auto kDuration = 10s;
  std::atomic<bool> stop{false};
  std::atomic<long> ok{0}, refused{0}, failed{0};
  std::mutex mutex;
  std::vector<double> latencies;  // guarded by mutex
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto client = http_client(central.http_port(), 10s);  // kept alive, TCP_NODELAY
      const yiban::runtime::HttpHeaders auth{{"Authorization", std::string("Bearer ") + kOperatorToken}};
      std::vector<double> mine;
      for (long n = 0; !stop; ++n) {
        // A distinct person per request; halls, services and slots spread over the day.
        const long k = n * kThreads + t;
        json body{{"hall", hall_ids[static_cast<std::size_t>(k % 10)]},
                  {"service", std::string(1, static_cast<char>('A' + (k / 10) % 3))},
                  {"slot_start", first_slot + ((k / 30) % 40) * 1800000},
                  {"applicant_id", "E" + std::to_string(10000000 + k)},
                  {"applicant_name", "张小三"},
                  {"phone", "13800138000"}};
        const auto t0 = Clock::now();
        auto r = client.post("/api/v1/bookings", body.dump(), "application/json", auth);
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        if (!r) {
          ++failed;
          continue;
        }
        mine.push_back(ms);
        if (r->status == 201) ++ok;
        else ++refused;
      }
      std::lock_guard lock(mutex);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
    });
  }
  std::this_thread::sleep_for(kDuration);  // the load's duration
  stop = true;
  for (auto& t : threads) t.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(latencies.begin(), latencies.end());
  auto at = [&](double q) {
    return latencies.empty() ? 0.0 : latencies[std::min(latencies.size() - 1, static_cast<std::size_t>(q * latencies.size()))];
  };
  std::printf("bookings at central, %d client threads on keep-alive connections, %.0f s (CURVE off, HTTP, "
              "synchronous=FULL):\n",
              kThreads, seconds);
  std::printf("  booked %ld, refused %ld, no answer %ld\n", ok.load(), refused.load(), failed.load());
  std::printf("  throughput %8.0f requests/s   (goal >= 2,000/s)\n",
              static_cast<double>(ok + refused) / seconds);
  std::printf("  latency p50 %.1f ms, p99 %.1f ms, max %.1f ms   (goal p99 <= 20 ms)\n", at(0.5), at(0.99),
              latencies.empty() ? 0.0 : latencies.back());
  CHECK(ok > 0);
  CHECK(query_int(central.db(), "SELECT count(*) FROM bookings") == ok.load());
  CHECK(query_int(central.db(), "SELECT count(*) FROM commands WHERE type = 'booking.add'") == ok.load());
}
