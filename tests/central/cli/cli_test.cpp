#include "cli.h"

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

#include "fake_server.h"
#include "support/test_support.h"

namespace {

using nlohmann::json;
using yiban::cli::run;

constexpr const char* kToken = "s3cret-token";

// Central's (or a hall edge's) API as the tests need it (fake_server.h).
struct FakeCentral : yiban::test::FakeServer {
  FakeCentral() : FakeServer(kToken) {}
};

using Outcome = yiban::test::CliOutcome;
using yiban::test::run_yiban;
using yiban::test::yiban_at;

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

// ---------------------------------------------------------------------------
// Hall commands, against a stand-in for a hall's edge (edge/README.md).

namespace {

// ms since the epoch of a local time today-ish, plus seconds.
std::int64_t local_ms(const char* minute, int seconds = 0) {
  auto ms = yiban::cli::parse_local_minute(minute);
  REQUIRE(ms);
  return *ms + seconds * 1000;
}

}  // namespace

TEST_CASE("yiban --help groups central and hall commands", "[central][cli]") {
  auto r = run_yiban({"--help"});
  REQUIRE(r.code == 0);
  auto central_at = r.out.find("central commands");
  auto hall_at = r.out.find("hall commands");
  REQUIRE(central_at != std::string::npos);
  REQUIRE(hall_at != std::string::npos);
  CHECK(central_at < hall_at);
  for (const char* c :
       {"status", "queues", "counters", "counter", "tickets", "ack", "resolve", "devices", "stats"}) {
    auto at = r.out.find(std::string("\n  ") + c + " ");
    CHECK(at != std::string::npos);
    CHECK(at > hall_at);
  }
  CHECK(r.out.find("\n  halls ") < hall_at);
  auto counter = run_yiban({"counter", "--help"});
  CHECK(counter.code == 0);
  CHECK(counter.out.find("open|pause|close|services") != std::string::npos);
  CHECK(counter.out.find("--backup") != std::string::npos);
  auto tickets = run_yiban({"help", "tickets"});
  CHECK(tickets.code == 0);
  CHECK(tickets.out.find("--all") != std::string::npos);
  CHECK(tickets.out.find("--number") != std::string::npos);
  CHECK(run_yiban({"ack", "--help"}).out.find("--comment") != std::string::npos);
  CHECK(run_yiban({"alerts", "--help"}).out.find("--state") != std::string::npos);
}

TEST_CASE("format_local_clock gives local HH:MM:SS", "[central][cli]") {
  CHECK(yiban::cli::format_local_clock(local_ms("2026-11-26T09:05", 7)) == "09:05:07");
  CHECK(yiban::cli::format_local_clock(0) == "-");
}

TEST_CASE("hall command usage errors exit 2", "[central][cli]") {
  CHECK(run_yiban({"counter", "open"}).code == 2);
  CHECK(run_yiban({"counter", "explode", "c1"}).code == 2);
  CHECK(run_yiban({"counter", "services", "c1"}).code == 2);
  CHECK(run_yiban({"counter", "services", "c1", "--services", ","}).code == 2);
  CHECK(run_yiban({"counter", "open", "c1", "--services", "A"}).code == 2);
  CHECK(run_yiban({"tickets", "--limit", "0"}).code == 2);
  CHECK(run_yiban({"tickets", "--limit", "501"}).code == 2);
  CHECK(run_yiban({"alerts", "--state", "closed"}).code == 2);
  CHECK(run_yiban({"ack"}).code == 2);
  CHECK(run_yiban({"status", "extra"}).code == 2);
}

TEST_CASE("status prints the hall's block", "[central][cli]") {
  FakeCentral edge;
  edge.reply("GET /api/v1/hall", 200, R"({"hall":"h01","name":"市民中心","region":"north",
    "business_day":20261126,"now":1764147600000,"occupancy":{"value":40,"capacity":100,"pct":40},
    "waiting":12,"longest_wait_s":95.4,"served_today":87,"alerts_active":2,"devices_online":9,
    "devices_offline":1,"sync":{"state":"connected","acked":120,"last_seq":125}})");
  auto r = yiban_at(edge, {"status"});
  REQUIRE(r.code == 0);
  CHECK(edge.last().method == "GET");
  CHECK(edge.last().path == "/api/v1/hall");
  auto lines = lines_of(r.out);
  REQUIRE(lines.size() == 10);
  CHECK(lines[0] == "Hall           h01  市民中心");
  CHECK(lines[2] == "Business day   2026-11-26");
  CHECK(lines[3] == "Waiting        12");
  CHECK(lines[4] == "Longest wait   1:35");
  CHECK(lines[5] == "Served today   87");
  CHECK(lines[6] == "Occupancy      40/100 (40.0%)");
  CHECK(lines[7] == "Alerts active  2");
  CHECK(lines[8] == "Devices        9 online, 1 offline");
  CHECK(lines[9] == "Sync           connected, central acked 120 of 125");
}

TEST_CASE("status shows '-' for a hall without occupancy or sync", "[central][cli]") {
  FakeCentral edge;
  edge.reply("GET /api/v1/hall", 200, R"({"hall":"h01","name":"A","business_day":20261126,
    "occupancy":null,"waiting":0,"longest_wait_s":null,"served_today":0,"alerts_active":0,
    "devices_online":0,"devices_offline":0,"sync":{"state":"off"}})");
  auto r = yiban_at(edge, {"status"});
  REQUIRE(r.code == 0);
  CHECK(r.out.find("Longest wait   -\n") != std::string::npos);
  CHECK(r.out.find("Occupancy      -\n") != std::string::npos);
  CHECK(r.out.find("Sync           off\n") != std::string::npos);
}

TEST_CASE("queues prints one aligned line per service", "[central][cli]") {
  FakeCentral edge;
  edge.reply("GET /api/v1/queues", 200, R"({"queues":[
    {"service":"A","name":"社保业务","enabled":true,"waiting":12,"estimated_wait_s":600,"open_counters":3,"oldest_wait_s":95.4},
    {"service":"B","name":"Tax","enabled":false,"waiting":0,"estimated_wait_s":null,"open_counters":0,"oldest_wait_s":null}]})");
  auto r = yiban_at(edge, {"queues"});
  REQUIRE(r.code == 0);
  CHECK(edge.last().path == "/api/v1/queues");
  auto lines = lines_of(r.out);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0] == "SERVICE  NAME      WAITING  EST.WAIT  OLDEST  OPEN  ENABLED");
  CHECK(lines[1] == "A        社保业务       12     10:00    1:35     3  yes");
  CHECK(lines[2] == "B        Tax             0         -       -     0  no");
}

TEST_CASE("counters prints services, backup and the current ticket", "[central][cli]") {
  FakeCentral edge;
  edge.reply("GET /api/v1/counters", 200, R"({"counters":[
    {"counter":"c1","name":"窗口1","state":"open","services":["A","B"],"backup":["C"],
     "ticket":{"id":"h01:20261126:A012","number":"A012","state":"serving"}},
    {"counter":"c2","name":"Window 2","state":"closed","services":["A"],"backup":[],"ticket":null}]})");
  auto r = yiban_at(edge, {"counters"});
  REQUIRE(r.code == 0);
  CHECK(edge.last().path == "/api/v1/counters");
  auto lines = lines_of(r.out);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0] == "COUNTER  NAME      STATE   SERVICES  BACKUP  TICKET");
  CHECK(lines[1] == "c1       窗口1     open    A,B       C       A012 (serving)");
  CHECK(lines[2] == "c2       Window 2  closed  A         -       -");
}

TEST_CASE("counter open/pause/close posts and prints the new state", "[central][cli]") {
  FakeCentral edge;
  edge.reply("POST /api/v1/counters/c1/open", 200,
             R"({"counter":{"counter":"c1","name":"窗口1","state":"open","services":["A"],"backup":[],"ticket":null}})");
  edge.reply("POST /api/v1/counters/c1/pause", 200,
             R"({"counter":{"counter":"c1","state":"paused","services":["A"],"backup":[],"ticket":null}})");
  edge.reply("POST /api/v1/counters/c1/close", 409,
             R"({"error":{"code":"invalid_state","message":"counter c1 is serving a ticket"}})");
  auto open = yiban_at(edge, {"counter", "open", "c1"});
  REQUIRE(open.code == 0);
  CHECK(open.out == "counter c1 is open\n");
  CHECK(edge.last().method == "POST");
  CHECK(edge.last().path == "/api/v1/counters/c1/open");
  auto pause = yiban_at(edge, {"counter", "pause", "c1"});
  REQUIRE(pause.code == 0);
  CHECK(pause.out == "counter c1 is paused\n");
  auto close = yiban_at(edge, {"counter", "close", "c1"});
  CHECK(close.code == 1);
  CHECK(close.out.empty());
  CHECK(close.err == "yiban: counter c1 is serving a ticket (invalid_state, HTTP 409)\n");
  CHECK(yiban_at(edge, {"counter", "open", "c9"}).code == 5);
}

TEST_CASE("counter services puts the services and backup", "[central][cli]") {
  FakeCentral edge;
  edge.reply("PUT /api/v1/counters/c1/services", 200,
             R"({"counter":{"counter":"c1","state":"open","services":["A","B"],"backup":["C"],"ticket":null}})");
  auto r = yiban_at(edge, {"counter", "services", "c1", "--services", "A, B", "--backup", "C"});
  REQUIRE(r.code == 0);
  CHECK(r.out == "counter c1 serves A,B; backup C\n");
  CHECK(edge.last().method == "PUT");
  CHECK(edge.last().path == "/api/v1/counters/c1/services");
  CHECK(json::parse(edge.last().body) == json::parse(R"({"services":["A","B"],"backup":["C"]})"));

  REQUIRE(yiban_at(edge, {"counter", "services", "c1", "--services", "A"}).code == 0);
  CHECK(json::parse(edge.last().body) == json::parse(R"({"services":["A"],"backup":[]})"));
}

TEST_CASE("tickets forwards the filters and prints local times", "[central][cli]") {
  FakeCentral edge;
  const auto issued = local_ms("2026-11-26T09:05", 7);
  const auto called = local_ms("2026-11-26T09:20", 30);
  edge.reply("GET /api/v1/tickets", 200,
             json{{"tickets",
                   {{{"id", "h01:20261126:A012"}, {"number", "A012"}, {"service", "A"},
                     {"class", "normal"}, {"state", "serving"}, {"issued_ts", issued},
                     {"called_ts", called}, {"counter", "c1"}, {"finished_ts", nullptr},
                     {"recalls", 1}}}},
                  {"next_after", "h01:20261126:A012"}}
                 .dump());
  auto r = yiban_at(edge, {"tickets", "--state", "serving", "--number", "A01", "--limit", "1"});
  REQUIRE(r.code == 0);
  auto last = edge.last();
  CHECK(last.path == "/api/v1/tickets");
  CHECK(last.params.find("state")->second == "serving");
  CHECK(last.params.find("number")->second == "A01");
  CHECK(last.params.find("limit")->second == "1");
  CHECK(last.params.count("after") == 0);
  auto lines = lines_of(r.out);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] == "NUMBER  SERVICE  STATE    ISSUED    CALLED    COUNTER  RECALLS");
  CHECK(lines[1] == "A012    A        serving  09:05:07  09:20:30  c1             1");
  // One page only: the next page's cursor is told on stderr.
  CHECK(r.err.find("--after h01:20261126:A012") != std::string::npos);
}

TEST_CASE("tickets --all follows next_after until null", "[central][cli]") {
  FakeCentral edge;
  const auto t0 = local_ms("2026-11-26T08:30");
  auto ticket = [&](const char* number, int minute) {
    return json{{"id", std::string("h01:20261126:") + number}, {"number", number},
                {"service", "A"}, {"state", "done"}, {"issued_ts", t0 + minute * 60000},
                {"called_ts", nullptr}, {"counter", nullptr}, {"recalls", 0}};
  };
  edge.reply("GET /api/v1/tickets?limit=2", 200,
             json{{"tickets", {ticket("A001", 0), ticket("A002", 1)}}, {"next_after", "p2"}}.dump());
  edge.reply("GET /api/v1/tickets?after=p2&limit=2", 200,
             json{{"tickets", {ticket("A003", 2)}}, {"next_after", nullptr}}.dump());
  auto r = yiban_at(edge, {"tickets", "--all", "--limit", "2"});
  REQUIRE(r.code == 0);
  CHECK(edge.request_lines() == std::vector<std::string>{"GET /api/v1/tickets?limit=2",
                                                    "GET /api/v1/tickets?after=p2&limit=2"});
  auto lines = lines_of(r.out);
  REQUIRE(lines.size() == 4);
  CHECK(lines[1].starts_with("A001"));
  CHECK(lines[2].starts_with("A002"));
  CHECK(lines[3].starts_with("A003"));
  CHECK(lines[3].find("08:32:00") != std::string::npos);
  CHECK(r.err.empty());

  auto j = yiban_at(edge, {"--json", "tickets", "--all", "--limit", "2"});
  REQUIRE(j.code == 0);
  auto body = json::parse(j.out);
  CHECK(body["tickets"].size() == 3);
  CHECK(body["next_after"].is_null());
}

TEST_CASE("alerts renders an edge's alerts and forwards --state", "[central][cli]") {
  FakeCentral edge;
  const auto raised = local_ms("2026-11-26T10:00");
  edge.reply("GET /api/v1/alerts", 200,
             json{{"alerts",
                   {{{"id", "h01:20261126:AL3"}, {"rule", "long_queue"}, {"subject", "A"},
                     {"severity", "warning"}, {"state", "open"}, {"message", "A 队列过长"},
                     {"raised_ts", raised}, {"acked_ts", nullptr}, {"acked_by", nullptr},
                     {"resolved_ts", nullptr}, {"resolved_by", nullptr}}}}}
                 .dump());
  auto r = yiban_at(edge, {"alerts", "--state", "all"});
  REQUIRE(r.code == 0);
  CHECK(edge.last().params.find("state")->second == "all");
  auto lines = lines_of(r.out);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].starts_with("ALERT "));
  CHECK(lines[0].find("HALL") == std::string::npos);
  CHECK(lines[1].starts_with("h01:20261126:AL3  warning"));
  CHECK(lines[1].find("2026-11-26 10:00:00") != std::string::npos);
  CHECK(lines[1].ends_with("A 队列过长"));

  // Central's alerts keep their HALL column.
  FakeCentral central;
  central.reply("GET /api/v1/alerts", 200,
                R"({"alerts":[{"hall":"h01","alert":"h01:20261126:AL3","severity":"warning",
                  "state":"open","rule":"long_queue","subject":"A","raised_ts":1764147600000,
                  "message":"long"}]})");
  auto c = yiban_at(central, {"alerts"});
  REQUIRE(c.code == 0);
  CHECK(c.out.starts_with("HALL "));
  CHECK(lines_of(c.out)[1].starts_with("h01   h01:20261126:AL3"));
  CHECK(central.last().params.count("state") == 0);
}

TEST_CASE("ack and resolve post the comment", "[central][cli]") {
  FakeCentral edge;
  edge.reply("POST /api/v1/alerts/h01:20261126:AL3/ack", 200,
             R"({"alert":{"id":"h01:20261126:AL3","state":"acked"}})");
  edge.reply("POST /api/v1/alerts/h01:20261126:AL3/resolve", 200,
             R"({"alert":{"id":"h01:20261126:AL3","state":"resolved"}})");
  auto ack = yiban_at(edge, {"ack", "h01:20261126:AL3", "--comment", "已通知值班经理"});
  REQUIRE(ack.code == 0);
  CHECK(ack.out == "alert h01:20261126:AL3 acknowledged (state acked)\n");
  CHECK(edge.last().method == "POST");
  CHECK(edge.last().path == "/api/v1/alerts/h01:20261126:AL3/ack");
  CHECK(json::parse(edge.last().body) == json{{"comment", "已通知值班经理"}});

  auto resolve = yiban_at(edge, {"resolve", "h01:20261126:AL3"});
  REQUIRE(resolve.code == 0);
  CHECK(resolve.out == "alert h01:20261126:AL3 resolved (state resolved)\n");
  CHECK(edge.last().path == "/api/v1/alerts/h01:20261126:AL3/resolve");
  CHECK(json::parse(edge.last().body) == json::object());

  edge.reply("POST /api/v1/alerts/h01:20261126:AL9/ack", 409,
             R"({"error":{"code":"invalid_state","message":"alert is resolved"}})");
  auto again = yiban_at(edge, {"ack", "h01:20261126:AL9"});
  CHECK(again.code == 1);
  CHECK(again.err == "yiban: alert is resolved (invalid_state, HTTP 409)\n");
}

TEST_CASE("devices lists offline devices first", "[central][cli]") {
  FakeCentral edge;
  const auto seen = local_ms("2026-11-26T11:45", 5);
  edge.reply("GET /api/v1/devices", 200,
             json{{"devices",
                   {{{"device", "kiosk-1"}, {"kind", "kiosk"}, {"counter", nullptr},
                     {"online", true}, {"last_seen", seen}, {"version", "1.4.0"}},
                    {{"device", "term-2"}, {"kind", "terminal"}, {"counter", "c2"},
                     {"online", false}, {"last_seen", seen}, {"version", "1.3.9"}},
                    {{"device", "board-1"}, {"kind", "display"}, {"counter", nullptr},
                     {"online", true}, {"last_seen", seen}, {"version", "1.4.0"}}}}}
                 .dump());
  auto r = yiban_at(edge, {"devices"});
  REQUIRE(r.code == 0);
  CHECK(edge.last().path == "/api/v1/devices");
  auto lines = lines_of(r.out);
  REQUIRE(lines.size() == 4);
  CHECK(lines[0] == "DEVICE   KIND      COUNTER  ONLINE  LAST SEEN            VERSION");
  CHECK(lines[1] == "term-2   terminal  c2       NO      2026-11-26 11:45:05  1.3.9");
  CHECK(lines[2].starts_with("kiosk-1  kiosk     -        yes"));
  CHECK(lines[3].starts_with("board-1"));
}

TEST_CASE("stats prints today's totals and a line per service", "[central][cli]") {
  FakeCentral edge;
  edge.reply("GET /api/v1/stats", 200, R"({"day":20261126,"issued":120,"served":100,"no_shows":5,
    "waiting":15,"wait_mean_s":95.4,"wait_p90_s":600,"service_mean_s":240,"ratings":40,
    "satisfaction":0.925,
    "per_service":[{"service":"A","name":"社保业务","issued":80,"served":70,"no_shows":3,"wait_mean_s":120},
                   {"service":"B","name":"Tax","issued":40,"served":30,"no_shows":2,"wait_mean_s":null}],
    "per_hour":[{"hour":9,"issued":30,"served":25}],"series":[]})");
  auto r = yiban_at(edge, {"stats"});
  REQUIRE(r.code == 0);
  CHECK(edge.last().path == "/api/v1/stats");
  auto lines = lines_of(r.out);
  REQUIRE(lines.size() == 15);
  CHECK(lines[0] == "Day           2026-11-26");
  CHECK(lines[1] == "Issued        120");
  CHECK(lines[5] == "Mean wait     1:35");
  CHECK(lines[6] == "P90 wait      10:00");
  CHECK(lines[7] == "Mean service  4:00");
  CHECK(lines[9] == "Satisfaction  92.5%");
  CHECK(lines[11] == "Per service");
  CHECK(lines[12] == "SERVICE  NAME      ISSUED  SERVED  NO-SHOWS  WAIT");
  CHECK(lines[13] == "A        社保业务      80      70         3  2:00");
  CHECK(lines[14] == "B        Tax           40      30         2     -");
}

TEST_CASE("hall commands print the edge's JSON with --json", "[central][cli]") {
  FakeCentral edge;
  const char* queues = R"({"queues":[{"service":"A","name":"A","enabled":true,"waiting":1,
    "estimated_wait_s":60,"open_counters":1,"oldest_wait_s":10}]})";
  edge.reply("GET /api/v1/queues", 200, queues);
  auto r = yiban_at(edge, {"queues", "--json"});
  REQUIRE(r.code == 0);
  CHECK(json::parse(r.out) == json::parse(queues));
}

TEST_CASE("the CLI trusts an https:// server through --ca-file or $YIBAN_CA_FILE", "[central][cli]") {
  yiban::test::TempDir dir;
  const auto cert = (dir / "server.crt").string(), key = (dir / "server.key").string();
  // A self-signed certificate for 127.0.0.1: its own CA.
  REQUIRE(yiban::test::run_program("/usr/bin/openssl",
                                   {"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                    "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                                    "-addext", "subjectAltName=IP:127.0.0.1"},
                                   dir / "openssl.log") == 0);
  yiban::runtime::HttpServerOptions options;
  options.who = "the TLS test server";
  options.tls_cert = cert;
  options.tls_key = key;
  yiban::runtime::HttpServer server(options);
  server.Get("/api/v1/halls", [](const yiban::runtime::HttpRequest& req, yiban::runtime::HttpResponse& res) {
    if (req.get_header_value("Authorization") != std::string("Bearer ") + kToken) {
      res.status = 401;
      return;
    }
    res.set_content(kHalls, "application/json");
  }).open();
  auto listened = server.listen();
  REQUIRE(listened.has_value());
  const int port = *listened;
  server.start();  // the destructor stops it, also when an assertion fails
  const std::string url = "https://127.0.0.1:" + std::to_string(port);

  auto with_ca = run_yiban({"--server", url, "--token", kToken, "--ca-file", cert, "halls"});
  CHECK(with_ca.err == "");
  CHECK(with_ca.code == 0);
  CHECK(with_ca.out.find("市民中心") != std::string::npos);

  ::setenv("YIBAN_CA_FILE", cert.c_str(), 1);
  auto from_env = run_yiban({"--server", url, "--token", kToken, "halls"});
  ::unsetenv("YIBAN_CA_FILE");
  CHECK(from_env.code == 0);

  auto untrusted = run_yiban({"--server", url, "--token", kToken, "--timeout", "5", "halls"});
  CHECK(untrusted.code == 3);
  CHECK_THAT(untrusted.err, Catch::StartsWith("yiban: cannot reach the server at " + url +
                                              ": TLS: the server's certificate is not trusted: "));

  auto missing = run_yiban({"--server", url, "--ca-file", (dir / "nope.crt").string(), "halls"});
  CHECK(missing.code == 2);
  CHECK(missing.err.find("--ca-file " + (dir / "nope.crt").string() + ": no such file") != std::string::npos);
}
