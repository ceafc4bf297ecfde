// The fault suite: a hall under load (kiosk device processes taking tickets
// through a real broker, an edge replicating to a real central) while
// processes are killed with SIGKILL at random points, the broker restarts,
// central stays away, the edge's disk fills up and its clock jumps.
//
// After every scenario: no ticket a kiosk was told about is missing from the
// edge or from central, central's log equals the edge's (same texts, same
// chain), and both stores pass PRAGMA integrity_check. The figures (runs,
// kills, tickets acknowledged, tickets lost) are printed at the end.
//
// One executable, run as one ctest test (fault_suite), so that the figures
// of all scenarios add up in one place.

#include <catch2/catch.hpp>
#include <sstream>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <set>
#include <utility>
#include <vector>

#include "support/central_process.h"
#include "support/edge_process.h"
#include "support/mosquitto_broker.h"
#include "support/test_support.h"
#include "support/ticket_stream.h"

using namespace yiban::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {


struct Figures {
  int runs = 0;
  std::map<std::string, int> kills;  // process -> SIGKILLs
  std::size_t acknowledged = 0;
  std::size_t lost = 0;
  std::size_t refused_disk_full = 0;
  std::vector<std::string> lines;  // one per scenario

  ~Figures() {
    int total = 0;
    std::string per;
    for (const auto& [what, n] : kills) {
      total += n;
      per += (per.empty() ? "" : ", ") + what + " " + std::to_string(n);
    }
    std::printf("\nfault suite figures\n");
    for (const auto& line : lines) std::printf("  %s\n", line.c_str());
    std::printf("  total: runs %d, kills %d (%s), tickets acknowledged %zu, tickets lost %zu, "
                "refused while the disk was full %zu\n",
                runs, total, per.c_str(), acknowledged, lost, refused_disk_full);
    std::fflush(stdout);
  }
} g_figures;

// A kiosk as a real device process: `yiban-devices kiosk`, fed "take X" lines
// by a shell loop (about 250 a second at most; it takes them one at a time,
// so its pace is the hall's). Every ticket it printed was acknowledged to it.
// Each start is a new incarnation with its own log; kill9() is the device
// dying with requests in flight.
class KioskProcess {
 public:
  KioskProcess(fs::path dir, fs::path config, std::string device, std::string services)
      : dir_(std::move(dir)), config_(std::move(config)), device_(std::move(device)), services_(std::move(services)) {}

  void start(const std::string& uri) {
    auto log = dir_ / (device_ + "." + std::to_string(logs_.size()) + ".log");
    logs_.push_back({log, 0});
    std::string feed = "while :; do for s in " + services_ + "; do echo \"take $s\"; done; sleep 0.02; done";
    process_ = std::make_unique<ChildProcess>(
        "/bin/bash",
        std::vector<std::string>{"-c", "exec \"$0\" \"$@\" < <(" + feed + ")", YIBAN_DEVICES_BINARY, "kiosk",
                                 "--hall-config", config_.string(), "--device", device_, "--mqtt", uri,
                                 "--request-timeout-ms", "1000", "--request-attempts", "30"},
        log);
  }
  void kill9() {
    if (process_) process_->kill_now();
  }
  // SIGTERM: the request in hand is finished and printed first.
  void stop() {
    if (!process_) return;
    process_->signal(SIGTERM);
    process_->wait_exit(15s);
    process_.reset();
  }
  // Ticket numbers this kiosk was told about, over all its incarnations, in
  // order (a number comes twice when the business day changed in between).
  const std::vector<std::string>& acknowledged() {
    static const std::regex kTaken("^取号成功 ([A-Z]{1,2}[0-9]{3,})");
    for (auto& [path, offset] : logs_) {
      std::ifstream in(path, std::ios::binary);
      in.seekg(static_cast<std::streamoff>(offset));
      std::string line;
      while (std::getline(in, line)) {
        if (in.eof()) break;  // a line still being written: read it next time
        offset += line.size() + 1;
        std::smatch m;
        if (std::regex_search(line, m, kTaken)) numbers_.push_back(m[1]);
      }
    }
    return numbers_;
  }
  std::size_t count() { return acknowledged().size(); }
  const std::string& device() const { return device_; }

 private:
  fs::path dir_;
  fs::path config_;
  std::string device_;
  std::string services_;
  std::vector<std::pair<fs::path, std::size_t>> logs_;
  std::vector<std::string> numbers_;
  std::unique_ptr<ChildProcess> process_;
};

// Broker, central, edge and two kiosk processes in one temp directory.
struct FaultHall {
  TempDir dir;
  fs::path config = write_test_hall_config(dir.path());
  std::unique_ptr<MosquittoBroker> broker;
  std::unique_ptr<CentralProcess> central;
  std::unique_ptr<EdgeProcess> edge;
  std::vector<std::unique_ptr<KioskProcess>> kiosks;

  explicit FaultHall(std::vector<std::string> edge_env = {}) {
    fs::create_directories(dir / "central");
    fs::create_directories(dir / "edge");
    broker = std::make_unique<MosquittoBroker>(dir.path());
    central = std::make_unique<CentralProcess>(dir / "central", std::vector<std::string>{kHall});
    central->start();
    edge = std::make_unique<EdgeProcess>(dir / "edge", config, broker->uri(), central->edge_args(kHall));
    if (!edge_env.empty()) edge->set_env(std::move(edge_env));
    edge->start();
    kiosks.push_back(std::make_unique<KioskProcess>(dir.path(), config, "kiosk-1", "A B"));
    kiosks.push_back(std::make_unique<KioskProcess>(dir.path(), config, "kiosk-2", "C A"));
    for (auto& k : kiosks) k->start(broker->uri());
  }

  std::size_t acknowledged() {
    std::size_t n = 0;
    for (auto& k : kiosks) n += k->count();
    return n;
  }
  // Waits until `more` further tickets were acknowledged.
  bool progress(std::size_t more, std::chrono::milliseconds timeout = 60s) {
    std::size_t mark = acknowledged();
    return eventually([&] { return acknowledged() >= mark + more; }, timeout);
  }

  long long central_events() {
    return query_int(central->db(), std::string("SELECT count(*) FROM events WHERE hall = '") + kHall + "'");
  }

  // Stops the load, lets central catch up, stops the daemons cleanly and
  // checks everything. Returns the scenario's figures line.
  std::string settle_and_verify(const std::string& scenario, int kills) {
    for (auto& k : kiosks) k->stop();
    long long edge_events = query_int(edge->db(), "SELECT count(*) FROM events");
    REQUIRE(eventually([&] { return central_events() == edge_events; }, 60s));
    REQUIRE(edge->terminate() == 0);
    require_same_log(edge->db(), kHall, *central);
    CHECK(chain_verifies(edge->db()));
    auto edge_numbers = query_strings(edge->db(), "SELECT number FROM tickets");
    auto central_numbers =
        query_strings(central->db(), std::string("SELECT number FROM tickets WHERE hall = '") + kHall + "'");
    std::set<std::string> at_edge(edge_numbers.begin(), edge_numbers.end());
    std::set<std::string> at_central(central_numbers.begin(), central_numbers.end());
    std::size_t acknowledged = 0;
    std::size_t lost = 0;
    for (auto& k : kiosks) {
      for (const auto& number : k->acknowledged()) {
        ++acknowledged;
        if (!at_edge.contains(number) || !at_central.contains(number)) {
          ++lost;
          UNSCOPED_INFO(k->device() << " was given " << number << ", which the edge or central does not have");
        }
      }
    }
    CHECK(lost == 0);
    CHECK(edge_numbers.size() == central_numbers.size());
    REQUIRE(central->terminate() == 0);
    g_figures.runs += 1;
    g_figures.acknowledged += acknowledged;
    g_figures.lost += lost;
    std::string line = scenario + ": kills " + std::to_string(kills) + ", tickets acknowledged " +
                       std::to_string(acknowledged) + ", issued " + std::to_string(edge_numbers.size()) +
                       ", lost " + std::to_string(lost) + ", events " + std::to_string(edge_events);
    g_figures.lines.push_back(line);
    return line;
  }
};

}  // namespace

TEST_CASE("kill -9 of the edge, central, the broker or a kiosk at random points under load", "[fault]") {
  for (unsigned seed : {1u, 2u, 3u}) {
    DYNAMIC_SECTION("seed " << seed) {
      FaultHall hall;
      std::mt19937 rng(seed);
      // Every process at least once per seed, in a seeded order, plus one more.
      std::vector<std::string> victims{"edge", "central", "broker", "kiosk"};
      std::shuffle(victims.begin(), victims.end(), rng);
      victims.push_back(victims[std::uniform_int_distribution<std::size_t>(0, 3)(rng)]);
      REQUIRE(hall.progress(40));
      for (const auto& victim : victims) {
        INFO("seed " << seed << ", killing " << victim);
        // A random point: after 10..120 more tickets and 0..40 ms.
        REQUIRE(hall.progress(std::uniform_int_distribution<std::size_t>(10, 120)(rng)));
        std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 40)(rng)));
        if (victim == "edge") {
          hall.edge->kill9();
          hall.edge->start();
        } else if (victim == "central") {
          hall.central->kill9();
          hall.central->start();
        } else if (victim == "broker") {
          hall.broker->restart();  // SIGKILL, then the same port again
        } else {
          auto& kiosk = *hall.kiosks[std::uniform_int_distribution<std::size_t>(0, 1)(rng)];
          kiosk.kill9();
          kiosk.start(hall.broker->uri());
        }
        g_figures.kills[victim] += 1;
        REQUIRE(hall.progress(30));  // the hall serves again
      }
      auto line = hall.settle_and_verify("random kills, seed " + std::to_string(seed), static_cast<int>(victims.size()));
      WARN(line);
    }
  }
}

TEST_CASE("central unreachable for a long time: the hall goes on, then central gets every event", "[fault]") {
  FaultHall hall;
  REQUIRE(hall.progress(30));
  hall.central->kill9();
  g_figures.kills["central"] += 1;
  long long at_outage = hall.central_events();
  // A long outage in events: the backlog is many batches, and the edge itself
  // is killed in the middle of it.
  REQUIRE(hall.progress(1000, 120s));
  hall.edge->kill9();
  g_figures.kills["edge"] += 1;
  hall.edge->start();
  REQUIRE(hall.progress(1000, 120s));
  long long backlog = query_int(hall.edge->db(), "SELECT count(*) FROM events") - at_outage;
  auto back = std::chrono::steady_clock::now();
  hall.central->start();
  long long edge_events = query_int(hall.edge->db(), "SELECT count(*) FROM events");
  REQUIRE(eventually([&] { return hall.central_events() >= edge_events; }, 60s));
  auto caught_up_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - back);
  auto line = hall.settle_and_verify("central away for " + std::to_string(backlog) + " events (caught up in " +
                                         std::to_string(caught_up_ms.count()) + " ms after its return)",
                                     2);
  WARN(line);
}

TEST_CASE("disk full at the edge: new tickets are refused clearly, nothing is corrupted, and it recovers",
          "[fault]") {
  TempDir flags;
  auto flag = flags / "disk-full";
  FaultHall hall({"LD_PRELOAD=" YIBAN_ENOSPC_PRELOAD, "YIBAN_ENOSPC_FLAG=" + flag.string()});
  REQUIRE(hall.progress(50));
  for (auto& k : hall.kiosks) k->stop();  // a quiet moment to look at the refusals
  long long issued_before = query_int(hall.edge->db(), "SELECT count(*) FROM tickets");

  write_file(flag, "");
  MqttTestClient kiosk(hall.broker->uri(), "fault-kiosk", MqttLogin{});
  int refused = 0;
  for (int i = 0; i < 20; ++i) {
    auto reply = kiosk.request(kHall, "kiosk-1", "ticket.take", R"({"service":"A"})");
    REQUIRE(reply);
    INFO(*reply);
    CHECK(reply_error_code(*reply) == "internal");
    CHECK_THAT(*reply, Catch::Contains("storage_full"));
    refused += reply_error_code(*reply) == "internal" ? 1 : 0;
  }
  CHECK(hall.edge->running());
  CHECK_THAT(hall.edge->log_text(), Catch::Contains("the disk is full"));
  CHECK(query_int(hall.edge->db(), "SELECT count(*) FROM tickets") == issued_before);
  CHECK(query_strings(hall.edge->db(), "PRAGMA integrity_check") == std::vector<std::string>{"ok"});
  g_figures.refused_disk_full += static_cast<std::size_t>(refused);

  // Space returns: the next request succeeds, with no restart.
  fs::remove(flag);
  auto reply = kiosk.request(kHall, "kiosk-1", "ticket.take", R"({"service":"A"})");
  REQUIRE(reply);
  CHECK(reply_ok(*reply));
  kiosk.disconnect();
  for (auto& k : hall.kiosks) k->start(hall.broker->uri());
  REQUIRE(hall.progress(50));

  // Full again under load, with the edge killed while full.
  write_file(flag, "");
  REQUIRE(eventually([&] { return hall.edge->log_text().find("refused, nothing of them applied") != std::string::npos; },
                     30s));
  hall.edge->kill9();
  g_figures.kills["edge"] += 1;
  fs::remove(flag);
  hall.edge->start();
  REQUIRE(hall.progress(50));
  auto line = hall.settle_and_verify("disk full twice (" + std::to_string(refused) + " requests refused while full)", 1);
  WARN(line);
}

TEST_CASE("the edge's clock jumps forward and back under load", "[fault]") {
  TempDir clock_dir;
  auto offset = clock_dir / "faketime";
  write_file(offset, "+0\n");
  FaultHall hall({"LD_PRELOAD=/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
                  "FAKETIME_TIMESTAMP_FILE=" + offset.string(), "FAKETIME_NO_CACHE=1", "DONT_FAKE_MONOTONIC=1"});
  // The business days the hall (Asia/Shanghai, UTC+8 all year) must have
  // opened: the day never goes back, so each jump's day counts only when it
  // is later than the current one. +26h always opens a new day; +2h does too
  // when the run starts after 22:00 in the hall.
  auto hall_day = [](std::chrono::system_clock::time_point t) {
    return std::chrono::floor<std::chrono::days>(t + std::chrono::hours(8)).time_since_epoch().count();
  };
  auto current_day = hall_day(std::chrono::system_clock::now());
  std::set<long long> expected_days{current_day};
  REQUIRE(hall.progress(40));
  for (const auto& [jump, hours] : std::vector<std::pair<const char*, int>>{
           {"+2h", 2}, {"-3h", -3}, {"+0", 0}, {"+26h", 26}, {"+0", 0}}) {
    INFO("clock " << jump);
    current_day = std::max(current_day, hall_day(std::chrono::system_clock::now() + std::chrono::hours(hours)));
    expected_days.insert(current_day);
    write_file(offset, std::string(jump) + "\n");
    REQUIRE(hall.progress(60));
  }
  // +26h opened the next business day; going back did not reopen the old one.
  CHECK(query_int(hall.edge->db(), "SELECT count(DISTINCT day) FROM tickets") ==
        static_cast<long long>(expected_days.size()));
  CHECK(query_int(hall.edge->db(),
                  "SELECT count(*) FROM tickets WHERE day = (SELECT min(day) FROM tickets) AND "
                  "rowid > (SELECT min(rowid) FROM tickets WHERE day = (SELECT max(day) FROM tickets))") == 0);
  // Each business day began once: a clock behind the business day commits
  // nothing and says so once per jump back across midnight (before, it
  // committed an empty day roll and logged "begins" on every tick).
  std::size_t begins = 0;
  {
    std::istringstream log(hall.edge->log_text());
    for (std::string l; std::getline(log, l);) begins += l.find("business day") != std::string::npos &&
                                                         l.find(" begins; ") != std::string::npos;
  }
  CHECK(begins <= expected_days.size());
  CHECK_THAT(hall.edge->log_text(), Catch::Contains("the clock went back"));
  auto line = hall.settle_and_verify("clock jumps +2h, -3h, back, +26h (a day ahead), back", 0);
  WARN(line);
}
