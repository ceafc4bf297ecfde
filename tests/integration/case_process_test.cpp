// Cross-region cases as processes (issue 6): hall A takes a case for a
// service hall B handles; central routes every step and carries the files.
// Each of the three daemons is killed with SIGKILL at some step; at the end
// the files at every end equal what A's staff uploaded, each step arrived
// exactly once, and central's log equals each hall's.

#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "support/central_process.h"
#include "support/edge_process.h"
#include "support/mosquitto_broker.h"
#include "support/test_support.h"

using namespace yiban::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr const char* kManagerA = "manager-a-0123456789";
constexpr const char* kManagerB = "manager-b-0123456789";
constexpr const char* kEdgeViewer = "edge-viewer-0123456789";

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(rng() & 0xFF);
  return out;
}
std::string pdf(std::size_t n, unsigned seed) { return "%PDF-1.7\n" + random_bytes(n, seed); }
std::string png(std::size_t n, unsigned seed) { return std::string("\x89PNG\r\n\x1a\n", 8) + random_bytes(n, seed); }
std::string jpeg(std::size_t n, unsigned seed) { return std::string("\xFF\xD8\xFF\xE0", 4) + random_bytes(n, seed); }

// One hall: its config (hall id changed), tokens, and an edge process.
struct Hall {
  std::string id;
  int port = free_tcp_port();
  std::unique_ptr<EdgeProcess> edge;

  Hall(const TempDir& dir, const std::string& hall, const CentralProcess& central, const std::string& mqtt,
       const std::filesystem::path& key_file)
      : id(hall) {
    auto home = dir / hall;
    std::filesystem::create_directories(home / "data");
    auto config = json::parse(read_file(write_test_hall_config(home)));
    config["hall"] = hall;
    config["name"] = hall == "hall-a" ? "市南区政务服务中心" : "崂山区政务服务中心";
    std::ofstream(home / "hall.json") << config.dump();
    std::ofstream(home / "tokens.txt") << kManagerA << " hall-manager hall-a\n"
                                       << kManagerB << " hall-manager hall-b\n"
                                       << kEdgeViewer << " viewer\n";
    auto args = central.edge_args(hall);
    args.insert(args.end(), {"--http", "127.0.0.1:" + std::to_string(port), "--tokens", (home / "tokens.txt").string(),
                             "--case-key-file", key_file.string()});
    edge = std::make_unique<EdgeProcess>(home / "data", home / "hall.json", mqtt, args);
    edge->start();
  }
  const char* token() const { return id == "hall-a" ? kManagerA : kManagerB; }
  HttpResponse get(const std::string& path) const { return http_request(port, "GET", path, "", token()); }
  HttpResponse post(const std::string& path, const std::string& body) const {
    return http_request(port, "POST", path, body, token());
  }
  // From the list (a detail view is recorded as an audit event; polling the list is not).
  json summary_of(const std::string& id) const {
    auto r = get("/api/v1/cases?limit=500");
    if (r.status != 200) return json();
    const json list = json::parse(r.body);
    for (const auto& c : list["cases"])
      if (c["case"] == id) return c;
    return json();
  }
  json case_of(const std::string& id) const {
    auto r = get("/api/v1/cases/" + id);
    return r.status == 200 ? json::parse(r.body) : json();
  }
  std::string upload(const std::string& bytes, const std::string& type) const {
    auto client = http_client(port);
    auto r = client.post("/api/v1/blobs", bytes, type, {{"Authorization", std::string("Bearer ") + token()}});
    REQUIRE(r);
    INFO(r->body);
    REQUIRE(r->status == 201);
    return json::parse(r->body)["sha256"];
  }
  std::string download(const std::string& case_id, const std::string& sha) const {
    auto client = http_client(port);
    auto r = client.get("/api/v1/cases/" + case_id + "/materials/" + sha,
                        {{"Authorization", std::string("Bearer ") + token()}});
    return r && r->status == 200 ? r->body : std::string();
  }
};

// Waits for pred; on a timeout, fails with the three daemons' logs.
#define AWAIT(pred)                                                                                          \
  do {                                                                                                       \
    if (!eventually([&] { return (pred); }, 30s)) {                                                          \
      FAIL("timed out waiting for " #pred "\n--- central\n" << central.log_text() << "\n--- hall-a\n"         \
                                                           << a.edge->log_text() << "\n--- hall-b\n"        \
                                                           << b.edge->log_text());                            \
    }                                                                                                        \
  } while (false)

bool all_present(const json& detail, std::size_t count) {
  if (!detail.is_object() || detail["materials"].size() != count) return false;
  for (const auto& m : detail["materials"])
    if (!m["present"].get<bool>()) return false;
  return true;
}

}  // namespace

TEST_CASE("a cross-region case goes from hall A through central to hall B and back, with each daemon killed once",
          "[integration][cases]") {
  TempDir dir;
  std::filesystem::create_directories(dir / "central");
  MosquittoBroker broker(dir.path());
  json catalog{{"services",
                {{{"code", "X01"}, {"name", "跨区户口迁移"}, {"region", "370212"}, {"hall", "hall-b"},
                  {"prereview_h", 24}, {"complete_days", 5}},
                 {{"code", "X02"}, {"name", "异地医保备案"}, {"region", "370202"}, {"hall", "hall-a"},
                  {"prereview_h", 24}, {"complete_days", 3}}}}};
  std::ofstream(dir / "catalog.json") << catalog.dump();
  std::ofstream(dir / "case.key") << "city-case-key-for-tests-0123456789abcdef\n";
  CentralProcess central(dir / "central", {"hall-a", "hall-b", "hall-c"});
  central.add_args({"--catalog", (dir / "catalog.json").string()});
  central.start();
  Hall a(dir, "hall-a", central, broker.uri(), dir / "case.key");
  Hall b(dir, "hall-b", central, broker.uri(), dir / "case.key");
  REQUIRE(eventually([&] { return json::parse(a.get("/api/v1/catalog").body)["services"].size() == 2; }, 15s));

  // A's staff upload two files and submit the case.
  const std::string file1 = pdf(300 * 1024, 1);
  const std::string file2 = png(3 * 1024 * 1024 + 17, 2);
  const std::string sha1 = a.upload(file1, "application/pdf");
  const std::string sha2 = a.upload(file2, "image/png");
  {
    // Uploads: a known token, a material's type, and a content that is what it says.
    auto client = http_client(a.port);
    auto anonymous = client.post("/api/v1/blobs", file1, "application/pdf");
    REQUIRE(anonymous);
    CHECK(anonymous->status == 401);
    yiban::runtime::HttpHeaders auth{{"Authorization", std::string("Bearer ") + kManagerA}};
    auto text = client.post("/api/v1/blobs", "hello", "text/plain", auth);
    REQUIRE(text);
    CHECK(text->status == 415);
    auto mismatch = client.post("/api/v1/blobs", file2, "application/pdf", auth);
    REQUIRE(mismatch);
    CHECK(mismatch->status == 415);
    CHECK_THAT(mismatch->body, Catch::Contains("type_mismatch"));
  }
  json submit{{"service", "X01"},
              {"applicant_name", "张小三"},
              {"applicant_id", "11010519491231002X"},
              {"contact_name", "王芳"},
              {"contact_phone", "0532-88880001"},
              {"note", "户口迁入崂山区"},
              {"materials", {{{"sha256", sha1}, {"name", "申请表.pdf"}}, {{"sha256", sha2}, {"name", "户口簿.png"}}}}};
  auto submitted = a.post("/api/v1/cases", submit.dump());
  INFO(submitted.body);
  REQUIRE(submitted.status == 201);
  const json created = json::parse(submitted.body);
  const std::string id = created["case"];
  CHECK(created["state"] == "submitted");
  CHECK(created["handler"] == "hall-b");
  CHECK(created["applicant"]["name"] == "张*三");
  CHECK(created["applicant"]["id"] == "110***********002X");
  // The applicant's name and ID never leave the hall in clear.
  CHECK(query_int(a.edge->db(), "SELECT count(*) FROM events WHERE text LIKE '%张小三%' OR text LIKE '%19491231%'") == 0);

  // Refusals change nothing: a service A handles itself, an unknown file, a viewer.
  auto here = submit;
  here["service"] = "X02";
  CHECK(a.post("/api/v1/cases", here.dump()).status == 409);
  auto unknown = submit;
  unknown["materials"][0]["sha256"] = std::string(64, 'a');
  CHECK(a.post("/api/v1/cases", unknown.dump()).status == 400);
  CHECK(http_request(a.port, "GET", "/api/v1/cases", "", kEdgeViewer).status == 403);
  CHECK(http_request(a.port, "GET", "/api/v1/cases/" + id, "", kManagerB).status == 403);

  // A is killed right after the acknowledgement; the case is there after the restart and leaves.
  a.edge->kill9();
  a.edge->start();
  AWAIT(b.summary_of(id)["state"] == "received");
  AWAIT(all_present(b.case_of(id), 2));
  CHECK(b.download(id, sha1) == file1);
  CHECK(b.download(id, sha2) == file2);
  CHECK(b.case_of(id)["applicant"]["name"] == "张*三");
  AWAIT(a.summary_of(id)["state"] == "received");

  // B asks for more; central is killed right after, the step still reaches A.
  CHECK(b.post("/api/v1/cases/" + id + "/review", R"({"decision":"more_needed"})").status == 400);
  auto more = b.post("/api/v1/cases/" + id + "/review", R"({"decision":"more_needed","note":"缺少身份证复印件"})");
  INFO(more.body);
  REQUIRE(more.status == 200);
  central.kill9();
  central.start();
  AWAIT(a.summary_of(id)["state"] == "more_needed");
  CHECK(a.post("/api/v1/cases/" + id + "/review", R"({"decision":"accept"})").status == 404);

  // A adds the missing file and resubmits; B gets attempt 2 with all three files.
  const std::string file3 = jpeg(700 * 1024, 3);
  const std::string sha3 = a.upload(file3, "image/jpeg");
  auto resubmitted = a.post("/api/v1/cases/" + id + "/resubmit",
                            json{{"note", "已补充"}, {"materials", {{{"sha256", sha3}, {"name", "身份证.jpg"}}}}}.dump());
  INFO(resubmitted.body);
  REQUIRE(resubmitted.status == 200);
  REQUIRE(eventually([&] {
    auto c = b.summary_of(id);
    return c["state"] == "received" && c["attempt"] == 2;
  }, 30s));
  AWAIT(all_present(b.case_of(id), 3));
  CHECK(b.download(id, sha3) == file3);

  // B accepts, is killed, and completes after its restart with a result document.
  REQUIRE(b.post("/api/v1/cases/" + id + "/review", R"({"decision":"accept","note":"材料齐全"})").status == 200);
  b.edge->kill9();
  b.edge->start();
  const std::string result = pdf(120 * 1024, 4);
  const std::string result_sha = b.upload(result, "application/pdf");
  auto done = b.post("/api/v1/cases/" + id + "/complete",
                     json{{"note", "已办结，证件邮寄"}, {"result", {{"sha256", result_sha}, {"name", "准迁证.pdf"}}}}.dump());
  INFO(done.body);
  REQUIRE(done.status == 200);
  AWAIT(a.summary_of(id)["state"] == "completed");
  AWAIT(all_present(a.case_of(id), 4));
  CHECK(a.case_of(id)["result"]["sha256"] == result_sha);
  CHECK(a.download(id, result_sha) == result);
  CHECK(b.post("/api/v1/cases/" + id + "/complete", "{}").status == 409);

  // Central: the whole timeline from both halls, files, and every recorded view.
  REQUIRE(eventually([&] {
    auto r = central.get("/api/v1/cases?hall=hall-a");
    return r.status == 200 && json::parse(r.body)["cases"].size() == 1 &&
           json::parse(r.body)["cases"][0]["state"] == "completed";
  }, 30s));
  auto detail = json::parse(central.get("/api/v1/cases/" + id).body);
  std::vector<std::string> steps;
  for (const auto& t : detail["timeline"]) steps.push_back(t["step"]);
  CHECK(steps == std::vector<std::string>{"submitted", "received", "more_needed", "resubmitted", "received",
                                          "accepted", "completed"});
  CHECK(all_present(detail, 4));
  std::set<std::string> viewers;
  for (const auto& v : detail["access"]) viewers.insert(v["hall"].get<std::string>());
  CHECK(viewers.contains("hall-a"));
  CHECK(viewers.contains("hall-b"));
  CHECK(viewers.contains("central"));
  // Only parties see it: another hall's manager and viewers are refused.
  CHECK(central.get("/api/v1/cases/" + id, kHallManagerToken).status == 404);
  CHECK(central.get("/api/v1/cases", kViewerToken).status == 403);
  CHECK(json::parse(central.get("/api/v1/cases", kHallManagerToken).body)["total"] == 0);
  CHECK(json::parse(central.get("/api/v1/cases?hall=hall-b").body)["total"] == 1);

  // Exactly once: B received two attempts, A applied five steps of B's.
  CHECK(query_int(b.edge->db(), "SELECT count(*) FROM events WHERE type = 'case.received'") == 2);
  CHECK(query_int(a.edge->db(), "SELECT count(*) FROM events WHERE type = 'case.updated'") == 5);
  CHECK(query_int(a.edge->db(), "SELECT count(*) FROM events WHERE type = 'command.applied' AND text LIKE '%\"ok\":false%'") == 0);
  CHECK(query_int(b.edge->db(), "SELECT count(*) FROM events WHERE type = 'command.applied' AND text LIKE '%\"ok\":false%'") == 0);
  REQUIRE(eventually([&] {
    return query_int(central.db(), "SELECT count(*) FROM events WHERE hall = 'hall-a'") ==
               query_int(a.edge->db(), "SELECT count(*) FROM events") &&
           query_int(central.db(), "SELECT count(*) FROM events WHERE hall = 'hall-b'") ==
               query_int(b.edge->db(), "SELECT count(*) FROM events");
  }, 30s));
  require_same_log(a.edge->db(), "hall-a", central);
  require_same_log(b.edge->db(), "hall-b", central);
  CHECK(query_strings(central.db(), "PRAGMA integrity_check") == std::vector<std::string>{"ok"});
  // The case projection is rebuilt identically from the log.
  REQUIRE(central.terminate() == 0);
  ChildProcess rebuild(YIBAN_CENTRAL_BINARY, {"rebuild", "--db", central.db().string()}, dir / "rebuild.log");
  CHECK(rebuild.wait_exit(60s) == 0);
  CHECK_THAT(read_file(dir / "rebuild.log"), Catch::Contains("identical: yes"));
  CHECK(query_int(central.db(), "SELECT count(*) FROM case_forwards WHERE down_seq IS NULL") == 0);
}

TEST_CASE("a case submitted while its hall is offline leaves when it returns, and waits at central for an offline "
          "handling hall",
          "[integration][cases]") {
  TempDir dir;
  std::filesystem::create_directories(dir / "central");
  MosquittoBroker broker(dir.path());
  json catalog{{"services",
                {{{"code", "X01"}, {"name", "跨区户口迁移"}, {"region", "370212"}, {"hall", "hall-b"},
                  {"prereview_h", 24}, {"complete_days", 5}}}}};
  std::ofstream(dir / "catalog.json") << catalog.dump();
  std::ofstream(dir / "case.key") << "city-case-key-for-tests-0123456789abcdef\n";
  CentralProcess central(dir / "central", {"hall-a", "hall-b"});
  central.add_args({"--catalog", (dir / "catalog.json").string()});
  central.start();
  Hall a(dir, "hall-a", central, broker.uri(), dir / "case.key");
  Hall b(dir, "hall-b", central, broker.uri(), dir / "case.key");
  REQUIRE(eventually([&] { return json::parse(a.get("/api/v1/catalog").body)["services"].size() == 1; }, 15s));
  // B goes away, then central: A is alone with its catalog.
  REQUIRE(b.edge->terminate() == 0);
  central.kill9();
  const std::string file = pdf(2 * 1024 * 1024, 7);
  const std::string sha = a.upload(file, "application/pdf");
  auto submitted = a.post("/api/v1/cases", json{{"service", "X01"},
                                                {"applicant_name", "李四"},
                                                {"applicant_id", "E12345678"},
                                                {"contact_name", "王芳"},
                                                {"materials", {{{"sha256", sha}, {"name", "材料.pdf"}}}}}
                                               .dump());
  INFO(submitted.body);
  REQUIRE(submitted.status == 201);
  const std::string id = json::parse(submitted.body)["case"];
  // Central returns: it takes the case and the file from A; B is still away, so the case waits.
  central.start();
  AWAIT(query_int(central.db(), "SELECT count(*) FROM blobs WHERE present = 1") == 1);
  CHECK(json::parse(central.get("/api/v1/cases/" + id).body)["state"] == "submitted");
  CHECK(query_int(central.db(), "SELECT count(*) FROM commands WHERE hall = 'hall-b' AND type = 'case.assign'") == 1);
  // B returns and gets it, once, with its file.
  b.edge->start();
  AWAIT(b.summary_of(id)["state"] == "received");
  AWAIT(all_present(b.case_of(id), 1));
  CHECK(b.download(id, sha) == file);
  AWAIT(a.summary_of(id)["state"] == "received");
  CHECK(query_int(b.edge->db(), "SELECT count(*) FROM events WHERE type = 'case.received'") == 1);
}
