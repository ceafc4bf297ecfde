#include "cli.h"

#include <httplib.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/test_support.h"

namespace {

using nlohmann::json;
using yiban::cli::run;

constexpr const char* kToken = "s3cret-token";

// A stand-in for central's HTTP API on a free port of 127.0.0.1: answers
// canned replies by "METHOD /path", checks the bearer token, and records the
// last request. The destructor stops the server and joins its thread, so a
// failing test leaves nothing running.
class FakeCentral {
 public:
  struct Request {
    std::string method, path, query_hall, body, authorization;
    std::multimap<std::string, std::string> params;
  };

  FakeCentral() {
    auto handle = [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mutex_);
      last_.method = req.method;
      last_.path = req.path;
      last_.body = req.body;
      last_.authorization = req.get_header_value("Authorization");
      last_.params.clear();
      for (const auto& [k, v] : req.params) last_.params.emplace(k, v);
      if (last_.authorization != std::string("Bearer ") + kToken) {
        res.status = 401;
        res.set_content(
            R"({"error":{"code":"unauthorized","message":"a valid bearer token is needed"}})",
            "application/json");
        return;
      }
      auto it = replies_.find(req.method + " " + req.path);
      if (it == replies_.end()) {
        res.status = 404;
        res.set_content(R"({"error":{"code":"not_found","message":"no such path"}})",
                        "application/json");
        return;
      }
      res.status = it->second.first;
      res.set_content(it->second.second, "application/json");
    };
    server_.Get(".*", handle);
    server_.Post(".*", handle);
    port_ = server_.bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }

  ~FakeCentral() {
    // stop() is a no-op until the accept loop runs: wait for it first.
    for (int i = 0; i < 5000 && !server_.is_running(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    server_.stop();
    thread_.join();
  }

  FakeCentral(const FakeCentral&) = delete;
  FakeCentral& operator=(const FakeCentral&) = delete;

  void reply(const std::string& method_path, int status, std::string body) {
    std::lock_guard lock(mutex_);
    replies_[method_path] = {status, std::move(body)};
  }

  Request last() {
    std::lock_guard lock(mutex_);
    return last_;
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  httplib::Server server_;
  int port_ = -1;
  std::thread thread_;
  std::mutex mutex_;
  std::map<std::string, std::pair<int, std::string>> replies_;  // guarded by mutex_
  Request last_;                                                // guarded by mutex_
};

struct Outcome {
  int code;
  std::string out;
  std::string err;
};

Outcome run_yiban(std::vector<std::string> args) {
  args.insert(args.begin(), "yiban");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::ostringstream out, err;
  int code = run(static_cast<int>(args.size()), argv.data(), out, err);
  return {code, out.str(), err.str()};
}

// yiban against the fake, with the right token.
Outcome yiban_at(const FakeCentral& c, std::vector<std::string> args) {
  args.insert(args.begin(), {"--server", c.url(), "--token", kToken});
  return run_yiban(std::move(args));
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Display column where needle starts in line.
std::size_t column_of(const std::string& line, const std::string& needle) {
  auto pos = line.find(needle);
  REQUIRE(pos != std::string::npos);
  return yiban::cli::display_width(line.substr(0, pos));
}

const char* kHalls = R"({"halls":[
  {"hall":"h01","name":"市民中心","region":"north","integrity_ok":true,"connected":true,
   "last_contact_ts":1764147600000,"acked_seq":120,"edge_last_seq":125,"lag_events":5,"waiting":12,
   "longest_wait_s":95.4,"occupancy":40,"alerts_active":1,"devices_offline":0},
  {"hall":"h02","name":"Tax office","region":"south","integrity_ok":false,"connected":false,
   "last_contact_ts":1764147000000,"acked_seq":7,"edge_last_seq":7,"lag_events":0,"waiting":3,
   "longest_wait_s":null,"occupancy":null,"alerts_active":0,"devices_offline":2}]})";

}  // namespace

TEST_CASE("display width counts Chinese characters as two columns", "[central][cli]") {
  using yiban::cli::display_width;
  CHECK(display_width("abc") == 3);
  CHECK(display_width("市民中心") == 8);
  CHECK(display_width("A区 窗口3") == 9);
  CHECK(display_width("é") == 1);
  CHECK(display_width("\xff") == 1);
  CHECK(yiban::cli::pad_right("中", 4) == "中  ");
  CHECK(yiban::cli::pad_left("7", 3) == "  7");
}

TEST_CASE("small formatters give m:ss, percentages, dates and encoded paths", "[central][cli]") {
  CHECK(yiban::cli::format_duration(0) == "0:00");
  CHECK(yiban::cli::format_duration(95.4) == "1:35");
  CHECK(yiban::cli::format_duration(4503) == "75:03");
  CHECK(yiban::cli::format_duration(-1) == "-");
  CHECK(yiban::cli::format_percent(0.125) == "12.5%");
  CHECK(yiban::cli::format_day(20261126) == "2026-11-26");
  CHECK(yiban::cli::url_encode("h 01/中") == "h%2001%2F%E4%B8%AD");
  CHECK(yiban::cli::format_local_time(0) == "-");
  auto ms = yiban::cli::parse_local_minute("2026-11-26T17:30");
  REQUIRE(ms);
  CHECK(yiban::cli::format_local_time(*ms) == "2026-11-26 17:30:00");
  CHECK_FALSE(yiban::cli::parse_local_minute("2026-02-31T10:00"));
  CHECK_FALSE(yiban::cli::parse_local_minute("2026-11-26 25:00"));
  CHECK_FALSE(yiban::cli::parse_local_minute("tomorrow"));
}

TEST_CASE("yiban --help lists every command", "[central][cli]") {
  auto r = run_yiban({"--help"});
  CHECK(r.code == 0);
  for (const char* c :
       {"halls", "hall", "kpi", "alerts", "events", "notice", "config-set", "clear-integrity"}) {
    CHECK(r.out.find(std::string("  ") + c + " ") != std::string::npos);
  }
  auto k = run_yiban({"kpi", "--help"});
  CHECK(k.code == 0);
  CHECK(k.out.find("--from") != std::string::npos);
  CHECK(k.out.find("--service") != std::string::npos);
}

TEST_CASE("usage errors exit 2", "[central][cli]") {
  CHECK(run_yiban({"frobnicate"}).code == 2);
  CHECK(run_yiban({}).code == 2);
  CHECK(run_yiban({"--no-such-option", "halls"}).code == 2);
  CHECK(run_yiban({"hall"}).code == 2);
  CHECK(run_yiban({"kpi", "--from", "26/11/2026"}).code == 2);
  CHECK(run_yiban({"--server", "ftp://x", "halls"}).code == 2);
  CHECK(run_yiban({"notice", "h01", "hi", "--until", "soon"}).code == 2);
  auto r = run_yiban({"frobnicate"});
  CHECK(r.err.find("unknown command 'frobnicate'") != std::string::npos);
}

TEST_CASE("halls prints an aligned table with a Chinese hall name", "[central][cli]") {
  FakeCentral central;
  central.reply("GET /api/v1/halls", 200, kHalls);
  auto r = yiban_at(central, {"halls"});
  REQUIRE(r.code == 0);
  auto lines = lines_of(r.out);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0].starts_with("HALL"));
  CHECK(lines[1].find("市民中心") != std::string::npos);
  // Every column after NAME starts at the same display column.
  CHECK(column_of(lines[1], " up ") + 1 == column_of(lines[0], "LINK"));
  CHECK(column_of(lines[2], " down ") + 1 == column_of(lines[0], "LINK"));
  CHECK(column_of(lines[1], " ok ") + 1 == column_of(lines[0], "INTEGRITY"));
  CHECK(column_of(lines[2], "BROKEN") == column_of(lines[0], "INTEGRITY"));
  CHECK(lines[1].find("1:35") != std::string::npos);
  // Right-aligned numbers end under their header.
  auto end_of = [](const std::string& line, const std::string& needle) {
    return column_of(line, needle) + yiban::cli::display_width(needle);
  };
  CHECK(end_of(lines[0], "WAITING") == end_of(lines[1], " 12 ") - 1);
  CHECK(central.last().authorization == std::string("Bearer ") + kToken);
}

TEST_CASE("hall shows the header block and the offline devices only", "[central][cli]") {
  FakeCentral central;
  central.reply("GET /api/v1/halls/h01", 200, R"({"hall":"h01","name":"市民中心","region":"north",
    "integrity":{"ok":false,"reason":"hash mismatch at seq 42","ts":1764147600000},
    "sync":{"acked_seq":120,"edge_last_seq":125,"lag_events":5,"last_contact_ts":1764147600000,"connected":true,
            "down_applied":3,"down_last":4},
    "occupancy":null,
    "queues":[{"service":"A","waiting":4,"oldest_issued_ts":1764147000000,"oldest_wait_s":600}],
    "counters":[{"counter":"c1","state":"serving","ticket":"t-9","number":"A012","since_ts":1764147500000}],
    "devices":{"online":1,"offline":1,"items":[{"device":"kiosk-1","kind":"kiosk","online":true,"since_ts":1},
                                                {"device":"board-2","kind":"display","online":false,"since_ts":1764147000000}]},
    "alerts":[]})");
  auto r = yiban_at(central, {"hall", "h01"});
  REQUIRE(r.code == 0);
  CHECK(r.out.find("BROKEN: hash mismatch at seq 42") != std::string::npos);
  CHECK(r.out.find("acked 120 of 125 (lag 5)") != std::string::npos);
  CHECK(r.out.find("A012") != std::string::npos);
  CHECK(r.out.find("10:00") != std::string::npos);
  CHECK(r.out.find("board-2") != std::string::npos);
  CHECK(r.out.find("kiosk-1") == std::string::npos);
  CHECK(r.out.find("Alerts: none") != std::string::npos);
}

TEST_CASE("kpi prints '-' for null rates and a TOTAL line, forwarding filters", "[central][cli]") {
  FakeCentral central;
  central.reply("GET /api/v1/kpi", 200, R"({"rows":[
    {"hall":"h01","day":20261126,"service":"A","issued":10,"served":8,"no_shows":2,"no_show_rate":0.2,
     "wait_mean_s":95,"wait_p90_s":300,"service_mean_s":240.4,"ratings":4,"satisfaction":0.75},
    {"hall":"h01","day":20261126,"service":"B","issued":1,"served":0,"no_shows":0,"no_show_rate":null,
     "wait_mean_s":null,"wait_p90_s":null,"service_mean_s":null,"ratings":0,"satisfaction":null}],
    "total":{"issued":11,"served":8,"no_shows":2,"no_show_rate":0.2,"wait_mean_s":95,"wait_p90_s":300,
             "service_mean_s":240.4,"ratings":4,"satisfaction":0.75}})");
  auto r =
      yiban_at(central, {"kpi", "--hall", "h01", "--from", "2026-11-01", "--to", "2026-11-30"});
  REQUIRE(r.code == 0);
  auto lines = lines_of(r.out);
  REQUIRE(lines.size() == 4);
  CHECK(lines[1].find("2026-11-26") != std::string::npos);
  CHECK(lines[1].find("20.0%") != std::string::npos);
  CHECK(lines[1].find("1:35") != std::string::npos);
  CHECK(lines[1].find("75.0%") != std::string::npos);
  CHECK(lines[2].find(" - ") != std::string::npos);
  CHECK(lines[2].ends_with("-"));
  CHECK(lines[3].starts_with("TOTAL"));
  auto last = central.last();
  CHECK(last.params.find("hall")->second == "h01");
  CHECK(last.params.find("from")->second == "2026-11-01");
  CHECK(last.params.find("to")->second == "2026-11-30");
  CHECK(last.params.count("service") == 0);
}

TEST_CASE("notice posts a notice command and reports its number", "[central][cli]") {
  FakeCentral central;
  central.reply("POST /api/v1/halls/h01/commands", 202,
                R"({"hall":"h01","down_seq":7,"state":"queued"})");
  auto r =
      yiban_at(central, {"notice", "h01", "午休", "12:00-13:00", "--until", "2026-11-26T13:00"});
  REQUIRE(r.code == 0);
  CHECK(r.out == "notice queued for h01 as command 7\n");
  auto body = json::parse(central.last().body);
  CHECK(body["type"] == "notice");
  CHECK(body["data"]["text"] == "午休 12:00-13:00");
  CHECK(body["data"]["until_ts"] == *yiban::cli::parse_local_minute("2026-11-26T13:00"));
  CHECK(body.size() == 2);

  auto plain = yiban_at(central, {"notice", "h01", "hello"});
  REQUIRE(plain.code == 0);
  body = json::parse(central.last().body);
  CHECK_FALSE(body["data"].contains("until_ts"));
}

TEST_CASE("config-set posts the file's object as config.set", "[central][cli]") {
  FakeCentral central;
  central.reply("POST /api/v1/halls/h01/commands", 202,
                R"({"hall":"h01","down_seq":8,"state":"queued"})");
  yiban::test::TempDir dir;
  {
    std::ofstream f(dir / "sections.json");
    f << R"({"alerts":{"max_wait_s":900}})";
  }
  auto r = yiban_at(central, {"config-set", "h01", "--file", (dir / "sections.json").string()});
  REQUIRE(r.code == 0);
  CHECK(r.out == "config.set queued for h01 as command 8\n");
  auto body = json::parse(central.last().body);
  CHECK(body == json::parse(R"({"type":"config.set","data":{"alerts":{"max_wait_s":900}}})"));

  {
    std::ofstream f(dir / "list.json");
    f << "[1,2]";
  }
  CHECK(yiban_at(central, {"config-set", "h01", "--file", (dir / "list.json").string()}).code == 2);
  CHECK(yiban_at(central, {"config-set", "h01", "--file", (dir / "missing.json").string()}).code ==
        2);
}

TEST_CASE("events prints one line per event", "[central][cli]") {
  FakeCentral central;
  central.reply("GET /api/v1/halls/h01/events", 200, R"({"hall":"h01","events":[
    {"hall":"h01","seq":11,"ts":1764147600000,"type":"ticket.issued","data":{"ticket":"t-1","number":"A001"}},
    {"hall":"h01","seq":12,"ts":1764147601000,"type":"ticket.called","data":{"ticket":"t-1"}}],"next_after":12})");
  auto r = yiban_at(central, {"events", "h01", "--after", "10", "--limit", "2"});
  REQUIRE(r.code == 0);
  auto lines = lines_of(r.out);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].find("ticket.issued") != std::string::npos);
  CHECK(lines[0].find(R"({"number":"A001","ticket":"t-1"})") != std::string::npos);
  CHECK(central.last().params.find("after")->second == "10");
  CHECK(central.last().params.find("limit")->second == "2");
}

TEST_CASE("the --json option prints the server's reply as parseable JSON", "[central][cli]") {
  FakeCentral central;
  central.reply("GET /api/v1/halls", 200, kHalls);
  auto r = yiban_at(central, {"--json", "halls"});
  REQUIRE(r.code == 0);
  auto j = json::parse(r.out);
  CHECK(j == json::parse(kHalls));
}

TEST_CASE("a wrong token exits 4 without printing the token", "[central][cli]") {
  FakeCentral central;
  central.reply("GET /api/v1/halls", 200, kHalls);
  auto r = run_yiban({"--server", central.url(), "--token", "wrong-one", "halls"});
  CHECK(r.code == 4);
  CHECK(r.err == "yiban: a valid bearer token is needed (unauthorized, HTTP 401)\n");
  CHECK(r.out.find("wrong-one") == std::string::npos);
  CHECK(r.err.find("wrong-one") == std::string::npos);
}

TEST_CASE("server errors map to exit codes 5 and 1", "[central][cli]") {
  FakeCentral central;
  central.reply("GET /api/v1/halls/h99", 404,
                R"({"error":{"code":"not_found","message":"hall h99 is unknown to central"}})");
  central.reply("GET /api/v1/alerts", 500,
                R"({"error":{"code":"internal","message":"disk on fire"}})");
  central.reply(
      "POST /api/v1/halls/h01/integrity/clear", 403,
      R"({"error":{"code":"forbidden","message":"only an admin clears an integrity mark"}})");
  auto nf = yiban_at(central, {"hall", "h99"});
  CHECK(nf.code == 5);
  CHECK(nf.err == "yiban: hall h99 is unknown to central (not_found, HTTP 404)\n");
  auto internal = yiban_at(central, {"alerts"});
  CHECK(internal.code == 1);
  CHECK(internal.err.find("disk on fire (internal, HTTP 500)") != std::string::npos);
  CHECK(yiban_at(central, {"clear-integrity", "h01"}).code == 4);
}

TEST_CASE("an unreachable server exits 3", "[central][cli]") {
  int port = yiban::test::free_tcp_port();
  auto r = run_yiban(
      {"--server", "http://127.0.0.1:" + std::to_string(port), "--timeout", "2", "halls"});
  CHECK(r.code == 3);
  CHECK(r.err.find("cannot reach the server") != std::string::npos);
}
