// The HTTP part of the attack suite (issue 14): hostile clients against a real
// yiban-central (and the hall console of a real yiban-edge), with raw sockets
// so that every byte is the attacker's choice. After each attack the daemon
// must still answer, its memory stay bounded, and honest clients be served.

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "support/central_process.h"
#include "support/edge_process.h"
#include "support/mosquitto_broker.h"
#include "support/mqtt_test_client.h"
#include "support/raw_http.h"
#include "support/test_support.h"
#include "yiban/runtime/http_client.h"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using namespace yiban::test;
using nlohmann::json;

namespace {

constexpr long kCentralRssBoundKiB = 300 * 1024;

std::string web_dir() { return std::string(YIBAN_SOURCE_DIR) + "/central/web"; }

// Central with the dashboard's files and a short header timeout (2 s), so
// that slow clients are closed quickly in the test.
struct City {
  TempDir dir;
  CentralProcess central{dir.path() / "central", {"test-hall"}};
  explicit City(std::vector<std::string> extra = {}) {
    central.add_args({"--web", web_dir(), "--http-header-timeout", "2"});
    central.add_args(std::move(extra));
    central.start();
  }
  int port() const { return central.http_port(); }
  long rss() const { return rss_kib(central.pid()); }
  bool healthy() const {
    auto r = central.get("/healthz", "");
    return r.status == 200 && r.body == R"({"ok":true})";
  }
};

RawConnection connect(int port, const std::string& source = "127.0.0.1") {
  auto c = RawConnection::open(port, source);
  REQUIRE(c);
  return std::move(*c);
}

std::string header_of(const RawResponse& r, const std::string& name) {
  std::string head = r.head;
  std::string lower_head = head, key = "\r\n" + name + ":";
  std::transform(lower_head.begin(), lower_head.end(), lower_head.begin(), ::tolower);
  std::transform(key.begin(), key.end(), key.begin(), ::tolower);
  auto p = lower_head.find(key);
  if (p == std::string::npos) return {};
  auto start = p + key.size();
  auto end = head.find("\r\n", start);
  std::string v = head.substr(start, end - start);
  while (!v.empty() && v.front() == ' ') v.erase(0, 1);
  return v;
}

// A Prometheus sample's value (-1 when absent).
long metric_value(const std::string& text, const std::string& name) {
  auto p = text.find("\n" + name + " ");
  return p == std::string::npos ? -1 : std::stol(text.substr(p + name.size() + 2));
}

std::string error_code(const RawResponse& r) {
  auto j = json::parse(r.body, nullptr, false);
  if (!j.is_object() || !j.contains("error")) return "(not a JSON error: " + r.body.substr(0, 80) + ")";
  return j["error"].value("code", "");
}

}  // namespace

TEST_CASE("a range bomb gets one plain answer: no byte ranges, no files outside the app's list",
          "[security][http]") {
  City city;
  const long rss_before = city.rss();
  const std::string bundle = read_file(web_dir() + "/node_modules/echarts/dist/echarts.min.js");
  REQUIRE(bundle.size() > 100000);

  // 2,300 ranges of the whole file fit in the 8 KiB header cap: ~2.3 GB
  // were they honoured. The answer is the file once.
  auto bomb = [](int n) {
    std::string ranges = "bytes=0-";
    for (int i = 1; i < n; ++i) ranges += ",0-";
    return ranges;
  };
  auto c = connect(city.port());
  REQUIRE(c.send("GET /node_modules/echarts/dist/echarts.min.js HTTP/1.1\r\nHost: x\r\nRange: " + bomb(2300) +
                 "\r\n\r\n"));
  auto r = c.read_response(10s);
  REQUIRE(r.status == 200);
  CHECK(r.body.size() == bundle.size());
  CHECK(r.body == bundle);
  CHECK(header_of(r, "Content-Type").find("multipart") == std::string::npos);
  CHECK(header_of(r, "Accept-Ranges") == "none");

  // 4,000 ranges (more than the 2,700 of the 19 GB original) no longer fit the header cap.
  auto big = connect(city.port());
  REQUIRE(big.send("GET /node_modules/echarts/dist/echarts.min.js HTTP/1.1\r\nHost: x\r\nRange: " + bomb(4000) +
                   "\r\n\r\n"));
  CHECK(big.read_response(5s).status == 431);

  // Files the app does not list are not there: the source map, the package
  // tree, the lock file, the list itself, traversal.
  for (const char* path :
       {"/node_modules/echarts/dist/echarts.js.map", "/node_modules/echarts/dist/echarts.js",
        "/node_modules/echarts/package.json", "/package.json", "/package-lock.json", "/files.txt",
        "/../central/web/app.js", "/%2e%2e/README.md", "/node_modules/"}) {
    auto conn = connect(city.port());
    REQUIRE(conn.send(std::string("GET ") + path + " HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto answer = conn.read_response(5s);
    INFO(path);
    CHECK((answer.status == 404 || answer.status == 400));
    CHECK(answer.body.size() < 200);
  }

  // The app itself is served, with its security headers.
  auto page = connect(city.port());
  REQUIRE(page.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto index = page.read_response(5s);
  REQUIRE(index.status == 200);
  CHECK(index.body == read_file(web_dir() + "/index.html"));
  CHECK(header_of(index, "Content-Security-Policy").find("script-src 'self'") != std::string::npos);
  CHECK(header_of(index, "X-Content-Type-Options") == "nosniff");
  CHECK(header_of(index, "Referrer-Policy") == "no-referrer");
  CHECK(header_of(index, "X-Frame-Options") == "DENY");

  const long rss_after = city.rss();
  std::cout << "http attack: range bomb (2,300 ranges): central RSS " << rss_before / 1024 << " MB -> "
            << rss_after / 1024 << " MB (bound " << kCentralRssBoundKiB / 1024 << " MB), one "
            << bundle.size() << "-byte answer\n";
  CHECK(rss_after < kCentralRssBoundKiB);
  CHECK(city.healthy());
}

TEST_CASE("the token and the role are checked from the headers before any body byte is read",
          "[security][http]") {
  City city;
  // A 50 MB body is announced and never sent: the answer comes anyway.
  struct Case {
    std::string method, path, token;
    int status;
  };
  const std::vector<Case> cases{
      {"POST", "/api/v1/halls/test-hall/commands", "", 401},
      {"POST", "/api/v1/halls/test-hall/commands", "not-a-known-token-at-all", 401},
      {"POST", "/api/v1/halls/test-hall/commands", kViewerToken, 403},
      {"PUT", "/api/v1/catalog", kOperatorToken, 403},
      {"POST", "/api/v1/halls/test-hall/integrity/clear", kOperatorToken, 403},
  };
  for (const auto& c : cases) {
    INFO(c.method << " " << c.path << " token '" << c.token << "'");
    auto conn = connect(city.port());
    std::string head = c.method + " " + c.path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
                       "Content-Length: 50000000\r\n";
    if (!c.token.empty()) head += "Authorization: Bearer " + c.token + "\r\n";
    REQUIRE(conn.send(head + "\r\n"));
    auto r = conn.read_response(5s);
    CHECK(r.status == c.status);
    CHECK(error_code(r) == (c.status == 401 ? "unauthorized" : "forbidden"));
    CHECK(r.body.size() < 200);
    // The body was not waited for: the connection is closed behind the answer.
    CHECK(conn.closed_within(2s));
  }
  // The same route with a good token and a good body works (the control).
  auto ok = city.central.post("/api/v1/halls/test-hall/commands",
                              R"({"type":"notice.set","data":{"text":"测试"}})", kOperatorToken);
  CHECK((ok.status == 202 || ok.status == 400 || ok.status == 404));
  CHECK(city.healthy());
}

TEST_CASE("bodies over a route's cap are refused whatever their framing, and nothing past the cap is kept",
          "[security][http]") {
  City city;
  const long rss_before = city.rss();
  const std::string auth = std::string("Authorization: Bearer ") + kAdminToken + "\r\n";

  SECTION("an announced length over the cap: 413 at once") {
    auto c = connect(city.port());
    REQUIRE(c.send("PUT /api/v1/catalog HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Length: 1048576\r\n\r\n"));
    auto r = c.read_response(5s);
    CHECK(r.status == 413);
    CHECK(error_code(r) == "too_large");
  }
  SECTION("a chunked body growing past the cap: 413, then the connection is dropped") {
    auto c = connect(city.port());
    REQUIRE(c.send("PUT /api/v1/catalog HTTP/1.1\r\nHost: x\r\n" + auth + "Transfer-Encoding: chunked\r\n\r\n"));
    const std::string chunk = "10000\r\n" + std::string(0x10000, 'a') + "\r\n";  // 64 KiB per chunk
    std::size_t sent = 0;
    bool refused = false;
    // Up to 200 MB offered; the server stops reading at 64 KiB.
    for (int i = 0; i < 3200; ++i) {
      if (!c.send(chunk)) {
        refused = true;
        break;
      }
      sent += 0x10000;
    }
    auto r = c.read_response(5s);
    INFO("sent " << sent << " bytes before the server closed");
    CHECK((refused || r.status == 413));
    if (r.status) CHECK(r.status == 413);
    CHECK(sent < 64u * 1024 * 1024);
  }
  SECTION("a compressed body: 415, not inflated") {
    auto c = connect(city.port());
    REQUIRE(c.send("PUT /api/v1/catalog HTTP/1.1\r\nHost: x\r\n" + auth +
                   "Content-Encoding: gzip\r\nContent-Length: 20\r\n\r\n" + std::string(20, '\x1f')));
    auto r = c.read_response(5s);
    CHECK(r.status == 415);
    CHECK(error_code(r) == "unsupported_encoding");
  }
  SECTION("a 1 MB header line: 431 and the connection closed") {
    auto c = connect(city.port());
    bool sent = c.send("GET /api/v1/halls HTTP/1.1\r\nHost: x\r\n" + auth + "X-Filler: " + std::string(1 << 20, 'b') +
                       "\r\n\r\n");
    auto r = c.read_response(5s);
    CHECK(r.status == 431);
    CHECK(error_code(r) == "headers_too_large");
    CHECK((!sent || c.closed_within(2s)));
  }
  SECTION("a 1 MB request line: 431") {
    auto c = connect(city.port());
    (void)c.send("GET /api/v1/halls?q=" + std::string(1 << 20, 'c') + " HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(c.read_response(5s).status == 431);
  }
  SECTION("65 header lines: 431") {
    std::string head = "GET /api/v1/halls HTTP/1.1\r\nHost: x\r\n" + auth;
    for (int i = 0; i < 65; ++i) head += "X-" + std::to_string(i) + ": v\r\n";
    auto c = connect(city.port());
    REQUIRE(c.send(head + "\r\n"));
    CHECK(c.read_response(5s).status == 431);
  }
  const long rss_after = city.rss();
  CHECK(rss_after - rss_before < 32 * 1024);
  CHECK(city.healthy());
  // And the API still does its job.
  auto halls = city.central.get("/api/v1/halls", kViewerToken);
  CHECK(halls.status == 200);
}

TEST_CASE("slow clients are closed within seconds and one address cannot take every connection",
          "[security][http]") {
  City city({"--http-max-connections-per-peer", "64"});
  // Slowloris: 60 connections from one address, each sending a header byte
  // every 300 ms and never finishing.
  std::vector<RawConnection> slow;
  for (int i = 0; i < 60; ++i) {
    slow.push_back(connect(city.port(), "127.0.0.9"));
    REQUIRE(slow.back().send("GET /api/v1/halls HTTP/1.1\r\nHost: x\r\n"));
  }
  auto start = std::chrono::steady_clock::now();
  std::vector<bool> closed(slow.size(), false);
  std::size_t closed_count = 0;
  while (closed_count < slow.size() && std::chrono::steady_clock::now() - start < 8s) {
    for (std::size_t i = 0; i < slow.size(); ++i) {
      if (closed[i]) continue;
      if (!slow[i].send("X") || slow[i].closed_within(1ms)) {
        closed[i] = true;
        ++closed_count;
      }
    }
    // Meanwhile an honest client from another address is served.
    auto t0 = std::chrono::steady_clock::now();
    CHECK(city.healthy());
    CHECK(std::chrono::steady_clock::now() - t0 < 1s);
    std::this_thread::sleep_for(300ms);  // the attacker's pace, not a wait for the server
  }
  const double closed_after_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "http attack: slowloris (60 connections, header timeout 2 s): all closed after " << closed_after_s
            << " s\n";
  CHECK(closed_count == slow.size());
  CHECK(closed_after_s < 5.0);

  // Per-address cap: 64 idle connections from one address, the 65th gets 503;
  // another address is still served.
  std::vector<RawConnection> held;
  for (int i = 0; i < 64; ++i) held.push_back(connect(city.port(), "127.0.0.10"));
  // The server counts a connection once it accepted it: wait until the 64 are in.
  REQUIRE(eventually(
      [&] {
        return metric_value(city.central.get("/metrics", kViewerToken).body, "yiban_central_http_connections_open") >=
               64;
      },
      5s));
  auto extra = connect(city.port(), "127.0.0.10");
  REQUIRE(extra.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto refused = extra.read_response(5s);
  CHECK(refused.status == 503);
  CHECK(error_code(refused) == "busy");
  CHECK(city.healthy());
  auto metrics = city.central.get("/metrics", kViewerToken);
  CHECK(metric_value(metrics.body, "yiban_central_http_connections_refused_total") >= 1);
  CHECK(metric_value(metrics.body, "yiban_central_http_timeouts_total") >= 60);
}

TEST_CASE("2,000 dashboards on one stream: every one gets each hall change, the API keeps answering",
          "[security][http][sse]") {
  City city;
  TempDir hall_dir;
  auto config = write_test_hall_config(hall_dir.path());
  MosquittoBroker broker(hall_dir.path());
  fs::create_directories(hall_dir.path() / "edge");

  const int kStreams = 2000;
  SseCrowd crowd(city.port(), "/api/v1/stream", kViewerToken, kStreams, 20, "event: hall");
  REQUIRE(eventually(
      [&] {
        crowd.open_streams();
        return crowd.streaming() == kStreams;
      },
      30s));

  // A real hall connects: its row reaches every stream.
  EdgeProcess edge(hall_dir.path() / "edge", config, broker.uri(), city.central.edge_args("test-hall"));
  edge.start();
  int got = crowd.wait_markers(1, 30s);
  CHECK(got == kStreams);

  // The API from another address while the 2,000 streams are held: p99.
  auto client = yiban::runtime::HttpClient::create(city.central.http_url());
  REQUIRE(client);
  std::vector<double> ms;
  for (int i = 0; i < 300; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto r = client->get("/api/v1/halls", {{"Authorization", std::string("Bearer ") + kViewerToken}});
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    REQUIRE(r);
    REQUIRE(r->status == 200);
  }
  std::sort(ms.begin(), ms.end());
  const double p50 = ms[ms.size() / 2], p99 = ms[ms.size() * 99 / 100];

  // A ticket changes the hall's row: every stream hears of it.
  MqttTestClient kiosk(broker.uri(), "attack-kiosk");
  const int before = crowd.min_markers();
  auto ticket = kiosk.request("test-hall", "kiosk-1", "ticket.take", R"({"service":"A"})");
  REQUIRE(ticket);
  CHECK(crowd.wait_markers(before + 1, 30s) == kStreams);

  const long rss = city.rss();
  std::cout << "http attack: " << kStreams << " event streams held: central RSS " << rss / 1024
            << " MB; GET /api/v1/halls p50 " << p50 << " ms, p99 " << p99 << " ms (goal p99 <= 50 ms)\n";
  CHECK(rss < kCentralRssBoundKiB);
  CHECK(p99 < 250);  // the goal (50 ms) is the benchmark's; CI shares its 2 cores with other tests
  CHECK(crowd.open_streams() == kStreams);
  CHECK(city.healthy());
}

TEST_CASE("HTTPS: the API is served with --http-tls-cert/--http-tls-key and verified against its CA",
          "[security][http][tls]") {
  TempDir pki_dir;
  make_test_pki(pki_dir.path().string());
  City city({"--http-tls-cert", (pki_dir / "server.crt").string(), "--http-tls-key", (pki_dir / "server.key").string()});
  const std::string url = "https://127.0.0.1:" + std::to_string(city.port());
  const yiban::runtime::HttpHeaders auth{{"Authorization", std::string("Bearer ") + kViewerToken}};

  yiban::runtime::HttpClient::Options trusted;
  trusted.ca_file = (pki_dir / "ca.crt").string();
  auto client = yiban::runtime::HttpClient::create(url, trusted);
  REQUIRE(client);
  auto halls = client->get("/api/v1/halls", auth);
  REQUIRE(halls);
  CHECK(halls->status == 200);
  CHECK(halls->header("X-Content-Type-Options") == std::optional<std::string_view>("nosniff"));

  yiban::runtime::HttpClient::Options stranger;
  stranger.ca_file = (pki_dir / "stranger-ca.crt").string();
  auto wrong = yiban::runtime::HttpClient::create(url, stranger);
  REQUIRE(wrong);
  CHECK_FALSE(wrong->get("/healthz"));

  // Plain HTTP on the TLS port gets nothing usable.
  auto plain = connect(city.port());
  REQUIRE(plain.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
  CHECK(plain.read_response(3s).status == 0);

  // The CLI speaks https with --ca-file.
  auto log = pki_dir / "cli.log";
  CHECK(run_program(YIBAN_CLI_BINARY,
                    {"--server", url, "--ca-file", (pki_dir / "ca.crt").string(), "--token", kViewerToken, "--json",
                     "halls"},
                    log) == 0);
  CHECK(run_program(YIBAN_CLI_BINARY,
                    {"--server", url, "--ca-file", (pki_dir / "stranger-ca.crt").string(), "--token", kViewerToken,
                     "halls"},
                    log) != 0);
}

TEST_CASE("the hall console refuses an upload without a token before reading it, and holds its caps",
          "[security][http][edge]") {
  TempDir dir;
  auto config = write_test_hall_config(dir.path());
  MosquittoBroker broker(dir.path());
  fs::create_directories(dir.path() / "edge");
  write_file(dir.path() / "tokens.txt", std::string(kHallManagerToken) + " hall-manager test-hall\n" +
                                            kViewerToken + " viewer\nother-hall-token-0123456 hall-manager other-hall\n");
  const int port = free_tcp_port();
  EdgeProcess edge(dir.path() / "edge", config, broker.uri(),
                   {"--http", "127.0.0.1:" + std::to_string(port), "--tokens", (dir.path() / "tokens.txt").string(),
                    "--http-header-timeout", "2"});
  edge.start();
  REQUIRE(eventually([&] { return http_request(port, "GET", "/healthz", "", "").status == 200; }, 10s));

  for (const std::string& token : {std::string(), std::string("other-hall-token-0123456"), std::string(kViewerToken)}) {
    INFO("token '" << token << "'");
    auto c = connect(port);
    std::string head = "POST /api/v1/blobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/pdf\r\n"
                       "Content-Length: 20000000\r\n";
    if (!token.empty()) head += "Authorization: Bearer " + token + "\r\n";
    REQUIRE(c.send(head + "\r\n"));
    auto r = c.read_response(5s);
    CHECK(r.status == (token.empty() ? 401 : 403));
    CHECK(r.body.size() < 200);
  }
  // A hall manager may upload, but not past 20 MiB.
  auto c = connect(port);
  REQUIRE(c.send(std::string("POST /api/v1/blobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/pdf\r\n") +
                 "Authorization: Bearer " + kHallManagerToken + "\r\nContent-Length: 30000000\r\n\r\n"));
  CHECK(c.read_response(5s).status == 413);
  // Any other route's body is capped at 16 KiB.
  auto small = connect(port);
  REQUIRE(small.send(std::string("POST /api/v1/counters/1/open HTTP/1.1\r\nHost: x\r\n") + "Authorization: Bearer " +
                     kHallManagerToken + "\r\nContent-Length: 17000\r\n\r\n"));
  CHECK(small.read_response(5s).status == 413);
  CHECK(http_request(port, "GET", "/healthz", "", "").status == 200);
}
