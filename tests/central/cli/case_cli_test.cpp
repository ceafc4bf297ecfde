// `yiban case …` against a fake hall edge / central (a real yiban::runtime::HttpServer on
// a free port answering canned replies), as cli_test.cpp does for the other
// commands.

#include "cli.h"


#include "yiban/protocol/chain.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
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
namespace fs = std::filesystem;

constexpr const char* kToken = "case-token";

// Central or a hall's edge, replying in turn (fake_server.h).
struct FakeServer : yiban::test::FakeServer {
  FakeServer() : yiban::test::FakeServer(kToken) {}
};

using Outcome = yiban::test::CliOutcome;
using yiban::test::read_file;
using yiban::test::write_file;
using yiban::test::yiban_at;

const std::string kPdf = "%PDF-1.7\n1 0 obj <<>> endobj\n%%EOF\n";
const std::string kJpeg = std::string("\xFF\xD8\xFF\xE0", 4) + "JFIF jpeg body";
const std::string kPng = std::string("\x89PNG\r\n\x1A\n", 8) + "png body";

json blob_reply(const std::string& bytes, const char* type) {
  return json{{"sha256", yiban::protocol::sha256_hex(bytes)}, {"size", bytes.size()}, {"type", type}};
}

const char* kCaseId = "qd-sn-01:20261126:C0003";
// As the server sees it (decoded); the client sends the id percent-encoded.
const char* kCasePath = "/api/v1/cases/qd-sn-01:20261126:C0003";

json detail_with(const std::vector<std::pair<std::string, std::string>>& files) {
  json materials = json::array();
  for (const auto& [name, bytes] : files)
    materials.push_back({{"sha256", yiban::protocol::sha256_hex(bytes)}, {"name", name}, {"type", "application/pdf"},
                         {"size", bytes.size()}, {"attempt", 1}, {"present", true}});
  return json{{"case", kCaseId},
              {"service", "X01"},
              {"service_name", "跨区户口迁移"},
              {"origin", "qd-sn-01"},
              {"origin_name", "市南区政务服务中心"},
              {"handler", "qd-ls-03"},
              {"state", "received"},
              {"attempt", 1},
              {"applicant", {{"name", "张*三"}, {"id", "370202********1234"}}},
              {"contact", {{"name", "王芳"}, {"phone", "0532-8888 0001"}}},
              {"note", ""},
              {"role", "handler"},
              {"submitted_ts", 1764141802123},
              {"updated_ts", 1764141902123},
              {"prereview_due", 1764228202123},
              {"complete_due", nullptr},
              {"late", false},
              {"timeline",
               json::array({{{"ts", 1764141802123}, {"step", "submitted"}, {"hall", "qd-sn-01"},
                             {"by", "hall-manager:1a2b3c4d"}, {"note", "请尽快"}, {"attempt", 1}},
                            {{"ts", 1764141902123}, {"step", "received"}, {"hall", "qd-ls-03"},
                             {"by", "system"}, {"note", ""}, {"attempt", 1}}})},
              {"materials", materials},
              {"result", nullptr}};
}

}  // namespace

TEST_CASE("case submit uploads each file with its type, then posts the case", "[central][cli][case]") {
  yiban::test::TempDir dir;
  write_file(dir / "户口簿.pdf", kPdf);
  write_file(dir / "photo.jpg", kJpeg);
  write_file(dir / "scan", kPng);  // the type comes from the content, not the name
  FakeServer edge;
  edge.reply_next("POST /api/v1/blobs", 201, blob_reply(kPdf, "application/pdf").dump());
  edge.reply_next("POST /api/v1/blobs", 201, blob_reply(kJpeg, "image/jpeg").dump());
  edge.reply_next("POST /api/v1/blobs", 201, blob_reply(kPng, "image/png").dump());
  json created = detail_with({{"户口簿.pdf", kPdf}});
  created["state"] = "submitted";
  edge.reply_next("POST /api/v1/cases", 201, created.dump());

  auto r = yiban_at(edge, {"case", "submit", "--service", "X01", "--applicant-name", "张小三",
                           "--applicant-id", "370202199001011234", "--contact-name", "王芳",
                           "--contact-phone", "0532-8888 0001", "--note", "加急", "--file",
                           (dir / "户口簿.pdf").string(), "--file", (dir / "photo.jpg").string(),
                           "--file", (dir / "scan").string()});
  INFO(r.err);
  REQUIRE(r.code == 0);
  auto reqs = edge.requests();
  REQUIRE(reqs.size() == 4);
  CHECK(reqs[0].path == "/api/v1/blobs");
  CHECK(reqs[0].content_type == "application/pdf");
  CHECK(reqs[0].body == kPdf);
  CHECK(reqs[1].content_type == "image/jpeg");
  CHECK(reqs[1].body == kJpeg);
  CHECK(reqs[2].content_type == "image/png");
  CHECK(reqs[2].body == kPng);
  CHECK(reqs[3].method == "POST");
  CHECK(reqs[3].path == "/api/v1/cases");
  json body = json::parse(reqs[3].body);
  CHECK(body == json{{"service", "X01"},
                     {"applicant_name", "张小三"},
                     {"applicant_id", "370202199001011234"},
                     {"contact_name", "王芳"},
                     {"contact_phone", "0532-8888 0001"},
                     {"note", "加急"},
                     {"materials", json::array({{{"sha256", yiban::protocol::sha256_hex(kPdf)}, {"name", "户口簿.pdf"}},
                                                {{"sha256", yiban::protocol::sha256_hex(kJpeg)}, {"name", "photo.jpg"}},
                                                {{"sha256", yiban::protocol::sha256_hex(kPng)}, {"name", "scan"}}})}});
  CHECK(r.out.find(std::string("case ") + kCaseId + " submitted: state submitted, handler qd-ls-03") !=
        std::string::npos);
}

TEST_CASE("case submit refuses an unknown file type and a missing file before any upload",
          "[central][cli][case]") {
  yiban::test::TempDir dir;
  write_file(dir / "a.pdf", kPdf);
  write_file(dir / "notes.txt", "just text, not a PDF");
  FakeServer edge;
  edge.reply_next("POST /api/v1/blobs", 201, blob_reply(kPdf, "application/pdf").dump());
  edge.reply_next("POST /api/v1/cases", 201, detail_with({}).dump());
  std::vector<std::string> base{"case", "submit", "--service", "X01", "--applicant-name", "张三",
                                "--applicant-id", "370202199001011234", "--contact-name", "王芳",
                                "--file", (dir / "a.pdf").string()};

  auto text = base;
  text.insert(text.end(), {"--file", (dir / "notes.txt").string()});
  auto r = yiban_at(edge, text);
  CHECK(r.code == 2);
  CHECK(r.err.find("notes.txt") != std::string::npos);
  CHECK(r.err.find("not a PDF, JPEG or PNG") != std::string::npos);

  auto missing = base;
  missing.insert(missing.end(), {"--file", (dir / "nope.pdf").string()});
  r = yiban_at(edge, missing);
  CHECK(r.code == 2);
  CHECK(r.err.find("nope.pdf: no such file") != std::string::npos);

  CHECK(edge.requests().empty());
}

TEST_CASE("case review refuses more-needed and reject without a note", "[central][cli][case]") {
  FakeServer edge;
  json reviewed = detail_with({});
  reviewed["state"] = "more_needed";
  edge.reply_next(std::string("POST ") + kCasePath + "/review", 200, reviewed.dump());

  auto r = yiban_at(edge, {"case", "review", kCaseId, "more-needed"});
  CHECK(r.code == 2);
  CHECK(r.err.find("--note") != std::string::npos);
  CHECK(r.err.find("what the applicant must still provide") != std::string::npos);
  CHECK(yiban_at(edge, {"case", "review", kCaseId, "reject"}).code == 2);
  CHECK(yiban_at(edge, {"case", "review", kCaseId, "maybe"}).code == 2);
  CHECK(edge.requests().empty());

  r = yiban_at(edge, {"case", "review", kCaseId, "more-needed", "--note", "缺身份证复印件"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  auto reqs = edge.requests();
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].path == std::string(kCasePath) + "/review");
  CHECK(reqs[0].target == "/api/v1/cases/qd-sn-01%3A20261126%3AC0003/review");
  CHECK(json::parse(reqs[0].body) ==
        json{{"decision", "more_needed"}, {"note", "缺身份证复印件"}});
  CHECK(r.out.find("state more_needed") != std::string::npos);
}

TEST_CASE("case fetch writes the verified file and refuses a damaged download",
          "[central][cli][case]") {
  yiban::test::TempDir dir;
  const std::string other = "%PDF-1.4 another document";
  FakeServer central;
  central.reply_next(std::string("GET ") + kCasePath, 200,
                detail_with({{"户口簿.pdf", kPdf}, {"申请表.pdf", other}}).dump());
  const std::string material_path =
      std::string(kCasePath) + "/materials/" + yiban::protocol::sha256_hex(kPdf);
  central.reply_next("GET " + material_path, 200, kPdf, "application/pdf");

  const fs::path out = dir / "saved.pdf";
  auto r = yiban_at(central, {"case", "fetch", kCaseId, "户口簿.pdf", "--out", out.string()});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(read_file(out) == kPdf);
  CHECK(r.out.find("SHA-256 verified") != std::string::npos);
  CHECK(central.requests().back().path == material_path);

  // An existing file is kept unless --force.
  r = yiban_at(central, {"case", "fetch", kCaseId, "户口簿.pdf", "--out", out.string()});
  CHECK(r.code == 2);
  CHECK(r.err.find("--force") != std::string::npos);

  // By the start of its SHA-256, with --force.
  r = yiban_at(central, {"case", "fetch", kCaseId, yiban::protocol::sha256_hex(kPdf).substr(0, 10), "--out",
                         out.string(), "--force"});
  CHECK(r.code == 0);
  CHECK(read_file(out) == kPdf);

  // An unknown name lists the materials.
  r = yiban_at(central, {"case", "fetch", kCaseId, "passport.pdf", "--out", out.string()});
  CHECK(r.code == 5);
  CHECK(r.err.find("申请表.pdf") != std::string::npos);

  // Damaged bytes: an error, and nothing on disk.
  FakeServer bad;
  bad.reply_next(std::string("GET ") + kCasePath, 200, detail_with({{"户口簿.pdf", kPdf}}).dump());
  bad.reply_next("GET " + material_path, 200, kPdf + "tampered", "application/pdf");
  const fs::path damaged = dir / "damaged.pdf";
  r = yiban_at(bad, {"case", "fetch", kCaseId, "户口簿.pdf", "--out", damaged.string()});
  CHECK(r.code == 1);
  CHECK(r.err.find("does not match its SHA-256") != std::string::npos);
  CHECK_FALSE(fs::exists(damaged));
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path())) ++entries;
  CHECK(entries == 1);  // saved.pdf only: no partial file left behind

  // The server's error reaches the user with a non-zero exit.
  FakeServer busy;
  busy.reply_next(std::string("GET ") + kCasePath, 200, detail_with({{"户口簿.pdf", kPdf}}).dump());
  busy.reply_next("GET " + material_path, 409,
             R"({"error":{"code":"not_here_yet","message":"the file is still being fetched"}})");
  r = yiban_at(busy, {"case", "fetch", kCaseId, "户口簿.pdf", "--out", (dir / "x.pdf").string()});
  CHECK(r.code == 1);
  CHECK(r.err.find("the file is still being fetched (not_here_yet, HTTP 409)") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "x.pdf"));
}

TEST_CASE("case list prints a row per case and the total", "[central][cli][case]") {
  FakeServer central;
  central.reply_next("GET /api/v1/cases", 200, R"({"cases":[
    {"case":"qd-sn-01:20261126:C0003","service":"X01","service_name":"跨区户口迁移","origin":"qd-sn-01",
     "handler":"qd-ls-03","state":"received","attempt":1,"applicant":{"name":"张*三","id":"370202********1234"},
     "submitted_ts":1764141802123,"updated_ts":1764141902123,"prereview_due":1764228202123,
     "complete_due":null,"late":true},
    {"case":"qd-sn-01:20261125:C0001","service":"X02","origin":"qd-sn-01","handler":"qd-hd-02",
     "state":"accepted","attempt":2,"applicant":{"name":"李四","id":"37**12"},
     "submitted_ts":1764041802123,"prereview_due":1764128202123,"complete_due":1764560000000,"late":false}],
    "total":7})");
  auto r = yiban_at(central, {"case", "list", "--state", "received", "--hall", "qd-sn-01", "--late",
                              "--limit", "2"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  auto req = central.requests().back();
  CHECK(req.path == "/api/v1/cases");
  CHECK(req.params == std::multimap<std::string, std::string>{
                          {"hall", "qd-sn-01"}, {"late", "1"}, {"limit", "2"}, {"state", "received"}});
  std::istringstream in(r.out);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  REQUIRE(lines.size() == 4);
  CHECK(lines[0].starts_with("CASE"));
  CHECK(lines[0].find("APPLICANT") != std::string::npos);
  CHECK(lines[1].find("qd-sn-01:20261126:C0003") != std::string::npos);
  CHECK(lines[1].find("张*三") != std::string::npos);
  CHECK(lines[1].find(yiban::cli::format_local_time(1764228202123)) != std::string::npos);
  CHECK(lines[1].ends_with("LATE"));
  CHECK(lines[2].find("李*") != std::string::npos);  // masked by the client too
  CHECK(lines[2].find("李四") == std::string::npos);
  CHECK(lines[2].find(yiban::cli::format_local_time(1764560000000)) != std::string::npos);
  CHECK(lines[3] == "2 of 7 cases");

  CHECK(yiban_at(central, {"case", "list", "--role", "both"}).code == 2);
  CHECK(yiban_at(central, {"case", "list", "--out", "x"}).code == 2);
}

TEST_CASE("case show prints the header, materials and timeline", "[central][cli][case]") {
  FakeServer central;
  json d = detail_with({{"户口簿.pdf", kPdf}});
  d["access"] = json::array({{{"ts", 1764142000000}, {"hall", "qd-ls-03"}, {"by", "hall-manager:9f"},
                              {"what", "material"}, {"sha256", yiban::protocol::sha256_hex(kPdf)}}});
  central.reply_next(std::string("GET ") + kCasePath, 200, d.dump());
  auto r = yiban_at(central, {"case", "show", kCaseId});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(r.out.find("X01  跨区户口迁移") != std::string::npos);
  CHECK(r.out.find("张*三  370202********1234") != std::string::npos);
  CHECK(r.out.find("户口簿.pdf") != std::string::npos);
  CHECK(r.out.find(yiban::protocol::sha256_hex(kPdf).substr(0, 12)) != std::string::npos);
  CHECK(r.out.find(yiban::protocol::sha256_hex(kPdf).substr(0, 13)) == std::string::npos);
  auto timeline = r.out.find("\nTimeline\n");
  REQUIRE(timeline != std::string::npos);
  auto submitted = r.out.find(yiban::cli::format_local_time(1764141802123) + "  submitted", timeline);
  auto received = r.out.find(yiban::cli::format_local_time(1764141902123) + "  received", timeline);
  CHECK(submitted != std::string::npos);
  CHECK(received != std::string::npos);
  CHECK(submitted < received);
  CHECK(r.out.find("请尽快") != std::string::npos);
  CHECK(r.out.find("Result: none") != std::string::npos);
  CHECK(r.out.find("\nAccess\n") != std::string::npos);
  CHECK(r.out.find("hall-manager:9f") != std::string::npos);

  // A case the server does not know: exit 5 with its message.
  auto missing = yiban_at(central, {"case", "show", "qd-sn-01:20261126:C9999"});
  CHECK(missing.code == 5);
  CHECK(missing.err.find("no such path (not_found, HTTP 404)") != std::string::npos);
}

TEST_CASE("case complete uploads the result document and resubmit the new materials",
          "[central][cli][case]") {
  yiban::test::TempDir dir;
  write_file(dir / "决定书.pdf", kPdf);
  write_file(dir / "id.png", kPng);
  FakeServer edge;
  edge.reply_next("POST /api/v1/blobs", 201, blob_reply(kPdf, "application/pdf").dump());
  json done = detail_with({});
  done["state"] = "completed";
  edge.reply_next(std::string("POST ") + kCasePath + "/complete", 200, done.dump());
  auto r = yiban_at(edge, {"case", "complete", kCaseId, "--note", "已办结", "--file",
                           (dir / "决定书.pdf").string()});
  INFO(r.err);
  REQUIRE(r.code == 0);
  auto reqs = edge.requests();
  REQUIRE(reqs.size() == 2);
  CHECK(reqs[0].content_type == "application/pdf");
  CHECK(json::parse(reqs[1].body) ==
        json{{"note", "已办结"}, {"result", {{"sha256", yiban::protocol::sha256_hex(kPdf)}, {"name", "决定书.pdf"}}}});
  CHECK(r.out.find("state completed") != std::string::npos);

  FakeServer a;
  a.reply_next("POST /api/v1/blobs", 201, blob_reply(kPng, "image/png").dump());
  json resubmitted = detail_with({});
  resubmitted["state"] = "submitted";
  a.reply_next(std::string("POST ") + kCasePath + "/resubmit", 200, resubmitted.dump());
  CHECK(yiban_at(a, {"case", "resubmit", kCaseId}).code == 2);  // --file is required
  r = yiban_at(a, {"case", "resubmit", kCaseId, "--file", (dir / "id.png").string()});
  REQUIRE(r.code == 0);
  reqs = a.requests();
  REQUIRE(reqs.size() == 2);
  CHECK(json::parse(reqs[1].body) ==
        json{{"note", ""},
             {"materials", json::array({{{"sha256", yiban::protocol::sha256_hex(kPng)}, {"name", "id.png"}}})}});
}
