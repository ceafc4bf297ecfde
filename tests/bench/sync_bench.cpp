// Sync benchmarks (issue 4) against a real yiban-central process (CURVE on,
// synchronous=FULL store, its own allow-list of generated hall keys):
//
//   [catchup]  one hall's backlog of 1,000,000 events in a real edge store,
//              replicated by the edge's SyncClient from a cold start
//   [halls]    100 halls sending at once, each a raw DEALER with its own key
//              replaying a realistic ticket day (issued/called/serving/
//              completed) with correct chains: (a) each with a 20,000-event
//              backlog, as fast as central takes them (aggregate events/s);
//              (b) steady state, 100 events/s per hall in 10 ms batches:
//              lag from a batch's creation to its ACK, p50/p99
//   [idle]     1,000 halls connected (HELLO, a few events, PINGs): central's RSS
//
// How to run (not in ctest):
//   cmake --build build-dev -j2 --target sync_bench yiban-central
//   build-dev/tests/bench/sync_bench            all three
//   build-dev/tests/bench/sync_bench '[halls]'  one of them
// Figures are printed next to the goals, never asserted.

#include <sys/resource.h>
#include <sys/utsname.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <deque>
#include <fstream>
#include <sstream>
#include <thread>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "store/edge_store.h"
#include "support/central_process.h"
#include "support/edge_process.h"
#include "support/test_support.h"
#include "sync/sync_client.h"
#include "yiban/central/central_server.h"
#include "yiban/protocol/chain.h"
#include "yiban/protocol/event.h"
#include "yiban/protocol/sync.h"

using namespace yiban::test;
using namespace std::chrono_literals;
namespace ps = yiban::protocol::sync;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

long rss_kb(pid_t pid, const char* field = "VmRSS:") {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::stol(line.substr(std::strlen(field)));
  }
  return -1;
}

// A realistic day: each ticket is issued, called, served and completed.
std::string event_text(const std::string& hall, std::int64_t seq, std::int64_t ts) {
  std::int64_t ticket_no = (seq - 1) / 4 + 1;
  char number[16];
  std::snprintf(number, sizeof number, "A%03lld", static_cast<long long>(ticket_no % 1000));
  std::string ticket = hall + ":20261126:" + number + "-" + std::to_string(ticket_no);
  std::string counter = std::to_string(ticket_no % 14 + 1);
  switch ((seq - 1) % 4) {
    case 0:
      return yiban::protocol::encode_event(
          hall, seq, ts, "ticket.issued",
          R"({"ticket":")" + ticket + R"(","service":"A","number":")" + number +
              R"(","class":null,"issued_ts":)" + std::to_string(ts) +
              R"(,"device":"kiosk-1","waiting_ahead":3,"estimated_wait_s":420})");
    case 1:
      return yiban::protocol::encode_event(hall, seq, ts, "ticket.called",
                                           R"({"ticket":")" + ticket + R"(","number":")" + number +
                                               R"(","service":"A","counter":")" + counter +
                                               R"(","device":"counter-1","waited_ms":384000})");
    case 2:
      return yiban::protocol::encode_event(hall, seq, ts, "ticket.serving",
                                           R"({"ticket":")" + ticket + R"(","number":")" + number +
                                               R"(","counter":")" + counter + R"(","device":"counter-1"})");
    default:
      return yiban::protocol::encode_event(hall, seq, ts, "ticket.completed",
                                           R"({"ticket":")" + ticket + R"(","number":")" + number +
                                               R"(","service":"A","counter":")" + counter +
                                               R"(","device":"counter-1","service_ms":310000})");
  }
}

struct Bench {
  TempDir dir;
  std::unique_ptr<CentralProcess> central;
  explicit Bench(std::vector<std::string> halls) {
    std::filesystem::create_directories(dir / "central");
    central = std::make_unique<CentralProcess>(dir / "central", std::move(halls));
    central->start();
  }
};

std::string read_key(const std::filesystem::path& path, bool secret) {
  auto cert = yiban::central::load_cert(path, secret);
  REQUIRE(cert);
  return secret ? cert->secret_key : cert->public_key;
}

// One hall as a raw DEALER: generates its events, keeps a window of batches.
struct RawHall {
  std::string hall;
  zmq::socket_t socket;
  std::int64_t next_seq = 1;  // next to create
  std::int64_t sent_to = 0;
  std::int64_t acked = 0;
  yiban::protocol::ChainHash chain = yiban::protocol::kChainZero;
  bool welcomed = false;
  struct Batch {
    std::int64_t to;
    Clock::time_point created;
  };
  std::deque<Batch> in_flight;
  std::vector<double> lags_ms;
  std::int64_t ts = 1764122400000;

  RawHall(zmq::context_t& ctx, const std::string& id, const std::filesystem::path& keys, const std::string& server_key,
          const std::string& endpoint)
      : hall(id), socket(ctx, zmq::socket_type::dealer) {
    socket.set(zmq::sockopt::linger, 0);
    socket.set(zmq::sockopt::curve_serverkey, server_key);
    socket.set(zmq::sockopt::curve_publickey, read_key(keys / (id + ".key"), false));
    socket.set(zmq::sockopt::curve_secretkey, read_key(keys / (id + ".key"), true));
    socket.set(zmq::sockopt::sndhwm, 0);
    socket.connect(endpoint);
  }
  void hello(std::int64_t last_seq) {
    ps::Hello h;
    h.hall = hall;
    h.last_seq = last_seq;
    std::string header = ps::encode(h);
    socket.send(zmq::str_buffer("HELLO"), zmq::send_flags::sndmore);
    socket.send(zmq::buffer(header));
  }
  void send_batch(std::int64_t count, Clock::time_point created) {
    std::vector<std::string> frames;
    frames.reserve(count + 2);
    frames.emplace_back("EVENTS");
    frames.emplace_back();
    std::int64_t from = next_seq;
    for (std::int64_t i = 0; i < count; ++i) {
      frames.push_back(event_text(hall, next_seq, ts += 1000));
      chain = yiban::protocol::chain_next(chain, frames.back());
      ++next_seq;
    }
    frames[1] = ps::encode(ps::EventsHeader{from, next_seq - 1, chain});
    std::vector<zmq::const_buffer> buffers;
    for (auto& f : frames) buffers.push_back(zmq::buffer(f));
    zmq::send_multipart(socket, buffers);
    sent_to = next_seq - 1;
    in_flight.push_back({sent_to, created});
  }
  void ping() {
    socket.send(zmq::str_buffer("PING"), zmq::send_flags::sndmore);
    socket.send(zmq::str_buffer("{}"));
  }
  // Handles whatever arrived; returns false on an ERROR.
  bool receive() {
    for (;;) {
      std::vector<zmq::message_t> m;
      if (!zmq::recv_multipart(socket, std::back_inserter(m), zmq::recv_flags::dontwait)) return true;
      std::string verb = m[0].to_string();
      if (verb == "WELCOME") {
        welcomed = true;
      } else if (verb == "ACK") {
        auto a = ps::decode_ack(m[1].to_string_view());
        acked = a->acked;
        auto now = Clock::now();
        while (!in_flight.empty() && in_flight.front().to <= acked) {
          lags_ms.push_back(std::chrono::duration<double, std::milli>(now - in_flight.front().created).count());
          in_flight.pop_front();
        }
      } else if (verb == "ERROR") {
        std::printf("  %s: ERROR %s\n", hall.c_str(), m[1].to_string().c_str());
        return false;
      }
    }
  }
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  std::size_t i = static_cast<std::size_t>(std::ceil(p * static_cast<double>(v.size()))) - 1;
  return v[std::min(i, v.size() - 1)];
}

std::vector<std::string> hall_names(int n) {
  std::vector<std::string> out;
  for (int i = 1; i <= n; ++i) out.push_back("bench-" + std::to_string(i));
  return out;
}

void poll_all(std::vector<std::unique_ptr<RawHall>>& halls, std::chrono::milliseconds timeout) {
  std::vector<zmq::pollitem_t> items;
  for (auto& h : halls) items.push_back({h->socket.handle(), 0, ZMQ_POLLIN, 0});
  zmq::poll(items.data(), items.size(), timeout);
}

}  // namespace

TEST_CASE("catch-up of a 1,000,000-event backlog", "[.][bench][catchup]") {
  print_machine();
  constexpr std::int64_t kEvents = 1000000;
  Bench bench({"bench-1"});
  TempDir edge_dir;
  auto store = yiban::edge::store::EdgeStore::open((edge_dir / "edge.db").string(), "bench-1");
  REQUIRE(store);
  auto made = Clock::now();
  std::int64_t ts = 1764122400000;
  for (std::int64_t done = 0; done < kEvents;) {
    REQUIRE((*store)->begin());
    for (int i = 0; i < 10000; ++i, ++done) {
      std::string text = event_text("bench-1", done + 1, ts += 1000);
      auto data_start = text.find("\"data\":") + 7;
      auto type_start = text.find("\"type\":\"") + 8;
      auto type = text.substr(type_start, text.find('"', type_start) - type_start);
      REQUIRE((*store)->append_event(ts, type, text.substr(data_start, text.size() - data_start - 1)));
    }
    REQUIRE((*store)->commit());
  }
  std::printf("[catchup] edge store with %lld events written in %.1f s\n", static_cast<long long>(kEvents),
              seconds_since(made));
  auto keys = bench.dir / "central" / "keys";
  yiban::edge::sync::SyncClientOptions o;
  o.endpoint = bench.central->sync_uri();
  o.server_public_key = read_key(keys / "central.pub", false);
  o.public_key = read_key(keys / "bench-1.key", false);
  o.secret_key = read_key(keys / "bench-1.key", true);
  o.hall = "bench-1";
  o.db_path = (edge_dir / "edge.db").string();
  yiban::edge::sync::SyncClient client(o, [](std::string) {});
  auto start = Clock::now();
  REQUIRE(client.start());
  REQUIRE(eventually([&] { return client.status().acked == kEvents; }, 600s));
  double s = seconds_since(start);
  client.stop();
  std::printf("[catchup] 1,000,000 events replicated in %.1f s: %.0f events/s (goal >= 100,000); central peak RSS "
              "%.1f MB\n",
              s, kEvents / s, rss_kb(bench.central->pid(), "VmHWM:") / 1024.0);
}

TEST_CASE("100 halls sending at once", "[.][bench][halls]") {
  print_machine();
  constexpr int kHalls = 100;
  constexpr std::int64_t kBacklog = 20000;
  constexpr std::int64_t kBatch = 500;
  constexpr std::size_t kWindow = 4;
  auto names = hall_names(kHalls);
  Bench bench(names);
  auto keys = bench.dir / "central" / "keys";
  std::string server_key = read_key(keys / "central.pub", false);
  zmq::context_t ctx(2);
  std::vector<std::unique_ptr<RawHall>> halls;
  for (auto& n : names) halls.push_back(std::make_unique<RawHall>(ctx, n, keys, server_key, bench.central->sync_uri()));
  for (auto& h : halls) h->hello(kBacklog);
  REQUIRE(eventually([&] {
    poll_all(halls, 10ms);
    for (auto& h : halls) h->receive();
    return std::all_of(halls.begin(), halls.end(), [](auto& h) { return h->welcomed; });
  }, 60s));

  // (a) Throughput: every hall drains a backlog (and PINGs every second, as
  // the edge does, so that central does not time out a hall that is done).
  auto start = Clock::now();
  auto next_ping = start + 1s;
  bool done = false;
  while (!done) {
    if (Clock::now() >= next_ping) {
      for (auto& h : halls) h->ping();
      next_ping += 1s;
    }
    for (auto& h : halls) {
      while (h->in_flight.size() < kWindow && h->next_seq <= kBacklog)
        h->send_batch(std::min(kBatch, kBacklog - h->next_seq + 1), Clock::now());
    }
    poll_all(halls, 50ms);
    for (auto& h : halls) REQUIRE(h->receive());
    done = std::all_of(halls.begin(), halls.end(), [&](auto& h) { return h->acked == kBacklog; });
    REQUIRE(seconds_since(start) < 900);
  }
  double s = seconds_since(start);
  std::printf("[halls] %d halls x %lld events (batches of %lld, window %zu): %.1f s, %.0f events/s aggregate "
              "(goal >= 100,000)\n",
              kHalls, static_cast<long long>(kBacklog), static_cast<long long>(kBatch), kWindow, s,
              kHalls * kBacklog / s);

  // (b) Steady state: 100 events/s per hall, a batch of 1 every 10 ms.
  for (auto& h : halls) h->lags_ms.clear();
  auto steady_start = Clock::now();
  auto next_tick = Clock::now();
  while (seconds_since(steady_start) < 10.0) {
    if (Clock::now() >= next_tick) {
      for (auto& h : halls) h->send_batch(1, Clock::now());
      next_tick += 10ms;
    }
    poll_all(halls, std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::max(Clock::duration::zero(), next_tick - Clock::now())));
    for (auto& h : halls) REQUIRE(h->receive());
  }
  REQUIRE(eventually([&] {
    poll_all(halls, 10ms);
    for (auto& h : halls) h->receive();
    return std::all_of(halls.begin(), halls.end(), [](auto& h) { return h->in_flight.empty(); });
  }, 60s));
  std::vector<double> lags;
  for (auto& h : halls) lags.insert(lags.end(), h->lags_ms.begin(), h->lags_ms.end());
  {
    std::istringstream log(bench.central->log_text());
    std::string line;
    while (std::getline(log, line)) {
      if (line.find("events/s from") != std::string::npos) std::printf("  central: %s\n", line.c_str() + line.find("sync:"));
    }
  }
  std::printf("[halls] steady 10,000 events/s from %d halls for 10 s: lag to ACK p50 %.1f ms, p99 %.1f ms, max %.1f ms "
              "(goal p99 <= 50 ms)\n",
              kHalls, percentile(lags, 0.5), percentile(lags, 0.99), percentile(lags, 1.0));
}

TEST_CASE("central's memory with 1,000 halls connected", "[.][bench][idle]") {
  print_machine();
  constexpr int kHalls = 1000;
  auto names = hall_names(kHalls);
  Bench bench(names);
  auto keys = bench.dir / "central" / "keys";
  std::string server_key = read_key(keys / "central.pub", false);
  zmq::context_t ctx(2);
  ctx.set(zmq::ctxopt::max_sockets, 4096);
  std::vector<std::unique_ptr<RawHall>> halls;
  for (auto& n : names) halls.push_back(std::make_unique<RawHall>(ctx, n, keys, server_key, bench.central->sync_uri()));
  for (auto& h : halls) h->hello(40);
  REQUIRE(eventually([&] {
    poll_all(halls, 10ms);
    for (auto& h : halls) h->receive();
    return std::all_of(halls.begin(), halls.end(), [](auto& h) { return h->welcomed; });
  }, 120s));
  for (auto& h : halls) h->send_batch(40, Clock::now());
  REQUIRE(eventually([&] {
    poll_all(halls, 10ms);
    for (auto& h : halls) h->receive();
    return std::all_of(halls.begin(), halls.end(), [](auto& h) { return h->acked == 40; });
  }, 120s));
  // A few rounds of PINGs, as idle halls send.
  for (int round = 0; round < 3; ++round) {
    for (auto& h : halls) h->ping();
    poll_all(halls, 200ms);
    for (auto& h : halls) h->receive();
  }
  auto metrics = bench.central->get("/metrics");
  std::size_t up = 0;
  for (std::size_t at = 0; (at = metrics.body.find("yiban_central_hall_connected{", at)) != std::string::npos; ++at) {
    auto eol = metrics.body.find('\n', at);
    if (metrics.body.compare(eol - 2, 2, " 1") == 0) ++up;
  }
  CHECK(up == kHalls);
  pid_t pid = bench.central->pid();
  std::printf("[idle] %d halls connected, each with 40 events stored: central RSS %.1f MB, peak %.1f MB "
              "(goal <= 300 MB)\n",
              kHalls, rss_kb(pid) / 1024.0, rss_kb(pid, "VmHWM:") / 1024.0);
}
