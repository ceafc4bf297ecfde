// Cross-region case values and wire texts (protocol/cases.h), and the
// content-addressed files they name (yiban/runtime/blob_store.h, blob_fetcher.h).

#include "yiban/protocol/chain.h"
#include "yiban/protocol/cases.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/test_support.h"
#include "yiban/runtime/blob_fetcher.h"
#include "yiban/runtime/blob_store.h"
#include "yiban/protocol/sync.h"

using namespace yiban;
namespace pc = protocol::cases;
namespace ps = protocol::sync;
using nlohmann::json;

namespace {

pc::CaseFile sample_file() {
  pc::CaseFile f;
  f.id = "qd-sn-01:20261126:C0003";
  f.attempt = 1;
  f.service = "X01";
  f.service_name = "跨区户口迁移";
  f.origin = "qd-sn-01";
  f.origin_name = "市南区政务服务中心";
  f.handler = "qd-ls-03";
  f.handler_region = "370212";
  f.applicant = {"张*三", "110105********002X", std::string(64, 'c')};
  f.contact_name = "王芳";
  f.contact_phone = "0532-88880001";
  f.note = "户口迁入";
  f.by = "hall-manager:1a2b3c4d";
  f.materials = {{std::string(64, 'a'), "户口簿.pdf", "application/pdf", 48213, 1}};
  f.submitted_ts = 1764141802123;
  f.prereview_due = 1764228202123;
  f.complete_days = 5;
  return f;
}

}  // namespace

TEST_CASE("applicants' names and ID numbers are masked and hashed with the city's key", "[protocol][cases]") {
  CHECK(pc::mask_name("张三") == "张*");
  CHECK(pc::mask_name("张小三") == "张*三");
  CHECK(pc::mask_name("欧阳小明") == "欧**明");
  CHECK(pc::mask_name("李") == "*");
  CHECK(pc::mask_id("11010519491231002X") == "110***********002X");
  CHECK(pc::mask_id("E12345678") == "E1*****78");
  CHECK(pc::normalise_id("11010519491231002x").value() == "11010519491231002X");
  auto bad_check = pc::normalise_id("110105194912310021");
  REQUIRE_FALSE(bad_check);
  CHECK_THAT(bad_check.error().message, Catch::Contains("check digit"));
  CHECK_FALSE(pc::normalise_id("12-34"));
  CHECK(pc::normalise_id("e12345678").value() == "E12345678");
  const auto h1 = pc::keyed_hash("city-key-1", "11010519491231002X");
  CHECK(h1.size() == 64);
  CHECK(h1 == pc::keyed_hash("city-key-1", "11010519491231002X"));  // the same person matches everywhere
  CHECK(h1 != pc::keyed_hash("city-key-2", "11010519491231002X"));  // but only under the city's key
}

TEST_CASE("case ids, content types and working-time SLAs", "[protocol][cases]") {
  CHECK(pc::case_id("qd-sn-01", 20261126, 3) == "qd-sn-01:20261126:C0003");
  CHECK(pc::valid_case_id("qd-sn-01:20261126:C0003"));
  CHECK_FALSE(pc::valid_case_id("qd-sn-01:20261126:A003"));
  CHECK_FALSE(pc::valid_case_id("QD:20261126:C0003"));
  CHECK_FALSE(pc::valid_case_id("qd-sn-01:2026112:C0003"));
  CHECK(pc::origin_of("qd-sn-01:20261126:C0003") == "qd-sn-01");
  CHECK(pc::sniff_type("%PDF-1.7\n") == "application/pdf");
  CHECK(pc::sniff_type(std::string("\xFF\xD8\xFF\xE0", 4)) == "image/jpeg");
  CHECK(pc::sniff_type(std::string("\x89PNG\r\n\x1a\n", 8)) == "image/png");
  CHECK_FALSE(pc::sniff_type("GIF89a"));
  CHECK_FALSE(pc::sniff_type("<html>"));

  const auto zone = protocol::TimeZone::fixed("Asia/Shanghai", 8 * 3600);
  // Thursday 2026-11-26 09:00 local (01:00 UTC).
  const std::int64_t thursday_9 = 1795654800000LL;
  CHECK(pc::add_working_hours(thursday_9, 24, zone) == thursday_9 + 24 * 3600000LL);  // Friday 09:00
  // Friday 09:00 + 24 working hours: Saturday and Sunday do not count → Monday 09:00.
  const std::int64_t friday_9 = thursday_9 + 24 * 3600000LL;
  CHECK(pc::add_working_hours(friday_9, 24, zone) == friday_9 + 3 * 24 * 3600000LL);
  // Started on a Saturday: the clock starts on Monday at 00:00.
  const std::int64_t saturday_9 = friday_9 + 24 * 3600000LL;
  const std::int64_t monday_0 = saturday_9 - 9 * 3600000LL + 2 * 24 * 3600000LL;
  CHECK(pc::add_working_hours(saturday_9, 8, zone) == monday_0 + 8 * 3600000LL);
  // Five working days from a Thursday end the next Thursday.
  CHECK(pc::add_working_hours(thursday_9, 5 * 24, zone) == thursday_9 + 7 * 24 * 3600000LL);
}

TEST_CASE("staff requests are checked field by field", "[protocol][cases]") {
  const std::string sha(64, 'a');
  auto ok = pc::decode_submit(json{{"service", "X01"},
                                   {"applicant_name", "张小三"},
                                   {"applicant_id", "11010519491231002X"},
                                   {"contact_name", "王芳"},
                                   {"materials", {{{"sha256", sha}, {"name", "a.pdf"}}}}}
                                  .dump());
  REQUIRE(ok);
  CHECK(ok->materials.size() == 1);
  auto error_of = [](const protocol::Expected<pc::SubmitRequest>& r) { return r ? std::string() : r.error().message; };
  CHECK_THAT(error_of(pc::decode_submit(R"({"service":"X01"})")), Catch::Contains("applicant_name"));
  CHECK_THAT(error_of(pc::decode_submit(json{{"service", "X01"},
                                             {"applicant_name", "张"},
                                             {"applicant_id", "1"},
                                             {"contact_name", "王"},
                                             {"materials", json::array()}}
                                            .dump())),
             Catch::Contains("at least one"));
  CHECK_THAT(error_of(pc::decode_submit(json{{"service", "X01"},
                                             {"applicant_name", "张"},
                                             {"applicant_id", "1"},
                                             {"contact_name", "王"},
                                             {"materials", {{{"sha256", "ABC"}, {"name", "a.pdf"}}}}}
                                            .dump())),
             Catch::Contains("materials[0].sha256"));
  CHECK_THAT(error_of(pc::decode_submit(json{{"service", "X01"},
                                             {"applicant_name", "张"},
                                             {"applicant_id", "1"},
                                             {"contact_name", "王"},
                                             {"materials", {{{"sha256", sha}, {"name", "../etc/passwd"}}}}}
                                            .dump())),
             Catch::Contains("slashes"));
  CHECK_THAT(error_of(pc::decode_submit(R"({"service":"X01","extra":1})")), Catch::Contains("extra"));
  CHECK_THAT(error_of(pc::decode_submit("[1,2]")), Catch::Contains("not a JSON object"));

  CHECK(pc::decode_review(R"({"decision":"accept"})"));
  CHECK(pc::decode_review(R"({"decision":"more-needed","note":"缺户口簿"})")->decision == pc::Decision::kMoreNeeded);
  CHECK_THAT(pc::decode_review(R"({"decision":"reject"})").error().message, Catch::Contains("why"));
  CHECK_THAT(pc::decode_review(R"({"decision":"maybe"})").error().message, Catch::Contains("maybe"));
  CHECK(pc::decode_complete("{}"));
  CHECK(pc::decode_complete(json{{"result", {{"sha256", sha}, {"name", "r.pdf"}}}}.dump())->result);
  CHECK_FALSE(pc::decode_complete(R"({"result":{"sha256":"x","name":"r.pdf"}})"));
  CHECK_FALSE(pc::decode_resubmit(R"({"note":"x"})"));
}

TEST_CASE("case files and steps round-trip and strict decoding names the field", "[protocol][cases]") {
  auto f = sample_file();
  auto back = pc::decode_case_file(pc::encode_case_file(f));
  REQUIRE(back);
  CHECK(back->id == f.id);
  CHECK(back->applicant.name_masked == "张*三");
  CHECK(back->materials.at(0).size == 48213);
  CHECK(back->prereview_due == f.prereview_due);
  auto j = json::parse(pc::encode_case_file(f));
  j["origin"] = "qd-xx-09";  // not the case id's hall
  CHECK_THAT(pc::decode_case_file(j.dump()).error().message, Catch::Contains("origin"));
  j = json::parse(pc::encode_case_file(f));
  j["materials"][0]["type"] = "text/html";
  CHECK_THAT(pc::decode_case_file(j.dump()).error().message, Catch::Contains("materials[0].type"));
  j = json::parse(pc::encode_case_file(f));
  j["materials"][0]["size"] = 30 * 1024 * 1024;
  CHECK_THAT(pc::decode_case_file(j.dump()).error().message, Catch::Contains("materials[0].size"));

  pc::Step s{f.id, pc::State::kCompleted, "qd-ls-03", 1764141900000, 2, "hall-manager:9f", "办结", 0,
             pc::Material{std::string(64, 'd'), "准迁证.pdf", "application/pdf", 1000, 0}};
  auto step = pc::decode_step(pc::encode_step(s));
  REQUIRE(step);
  CHECK(step->state == pc::State::kCompleted);
  CHECK(step->result->name == "准迁证.pdf");
  auto sj = json::parse(pc::encode_step(s));
  sj["state"] = "submitted";
  CHECK_THAT(pc::decode_step(sj.dump()).error().message, Catch::Contains("state"));
}

TEST_CASE("blob frames are decoded strictly", "[protocol][cases][sync]") {
  const std::string sha(64, 'e');
  auto g = ps::decode_blob_get(ps::encode(ps::BlobGet{sha, 131072, 131072}));
  REQUIRE(g);
  CHECK(g->offset == 131072);
  CHECK_THAT(ps::decode_blob_get(ps::encode(ps::BlobGet{sha, 0, 131073})).error().message, Catch::Contains("length"));
  CHECK_THAT(ps::decode_blob_get(ps::encode(ps::BlobGet{"zz", 0, 10})).error().message, Catch::Contains("sha256"));
  auto d = ps::decode_blob_data(ps::encode(ps::BlobData{sha, 0, 100, sha}));
  REQUIRE(d);
  CHECK_THAT(ps::decode_blob_data(ps::encode(ps::BlobData{sha, 100, 100, sha})).error().message,
             Catch::Contains("offset"));
  CHECK_THAT(ps::decode_blob_data(ps::encode(ps::BlobData{sha, 0, 21 * 1024 * 1024, sha})).error().message,
             Catch::Contains("20 MiB"));
  CHECK(ps::decode_blob_missing(ps::encode(ps::BlobMissing{sha, "denied", "no"}))->code == "denied");
  CHECK_FALSE(ps::decode_blob_missing(ps::encode(ps::BlobMissing{sha, "maybe", "no"})));
  CHECK(ps::verb_from_string("BLOB_GET") == ps::Verb::kBlobGet);
}

TEST_CASE("files are kept by their digest; transfers verify chunks, resume, and restart on a wrong file",
          "[protocol][cases][blobs]") {
  test::TempDir dir;
  auto store = runtime::BlobStore::open(dir / "blobs");
  REQUIRE(store);
  std::string file(300 * 1024, '\0');
  for (std::size_t i = 0; i < file.size(); ++i) file[i] = static_cast<char>((i * 7919) & 0xFF);
  const std::string sha = protocol::sha256_hex(file);

  auto put = store->put("%PDF-1.7 small");
  REQUIRE(put);
  CHECK(store->has(*put));
  CHECK(store->read(*put, 5, 3).value() == "1.7");
  CHECK_FALSE(store->has(sha));

  // A fetch over a link: chunks of 128 KiB, a window of 2; one damaged chunk.
  runtime::BlobFetcher::Options o;
  o.window = 2;
  runtime::BlobFetcher fetcher(*store, o);
  REQUIRE(fetcher.start(sha, static_cast<std::int64_t>(file.size())));
  auto asks = fetcher.requests(1000);
  REQUIRE(asks.size() == 2);
  CHECK(asks[0].offset == 0);
  CHECK(asks[1].offset == 131072);
  auto data_for = [&](std::int64_t offset, std::int64_t length) {
    std::string chunk = file.substr(static_cast<std::size_t>(offset), static_cast<std::size_t>(length));
    return std::make_pair(ps::BlobData{sha, offset, static_cast<std::int64_t>(file.size()), protocol::sha256_hex(chunk)},
                          chunk);
  };
  std::string why;
  // The second chunk arrives first (kept aside), the first arrives damaged.
  auto [h1, c1] = data_for(131072, 131072);
  CHECK(fetcher.on_data(h1, c1, 1001, why) == runtime::BlobFetcher::Outcome::kMore);
  auto [h0, c0] = data_for(0, 131072);
  std::string damaged = c0;
  damaged[5] ^= 1;
  CHECK(fetcher.on_data(h0, damaged, 1002, why) == runtime::BlobFetcher::Outcome::kBadChunk);
  CHECK_THAT(why, Catch::Contains("damaged"));
  auto again = fetcher.requests(1003);
  REQUIRE(again.size() == 2);  // offset 0 again, and the last chunk
  CHECK(again[0].offset == 0);
  CHECK(fetcher.on_data(h0, c0, 1004, why) == runtime::BlobFetcher::Outcome::kMore);
  CHECK(fetcher.received() == 262144);
  // The link drops before the last chunk; a new fetcher resumes at 256 KiB.
  fetcher.link_lost();
  runtime::BlobFetcher resumed(*store, o);
  REQUIRE(resumed.start(sha, static_cast<std::int64_t>(file.size())));
  CHECK(resumed.received() == 262144);
  auto last_ask = resumed.requests(2000);
  REQUIRE(last_ask.size() == 1);
  CHECK(last_ask[0].offset == 262144);
  auto [h2, c2] = data_for(262144, static_cast<std::int64_t>(file.size()) - 262144);
  CHECK(resumed.on_data(h2, c2, 2001, why) == runtime::BlobFetcher::Outcome::kDone);
  CHECK(store->has(sha));
  CHECK(store->read(sha, 0, static_cast<std::int64_t>(file.size())).value() == file);
  CHECK(resumed.on_data(h2, c2, 2002, why) == runtime::BlobFetcher::Outcome::kIgnored);

  // A sender whose whole file does not match its name (each chunk consistent):
  // the partial is deleted and the transfer starts over.
  const std::string other(1000, 'x');
  const std::string claimed = protocol::sha256_hex("something else");
  runtime::BlobFetcher liar(*store, o);
  REQUIRE(liar.start(claimed, 1000));
  liar.requests(3000);
  ps::BlobData h{claimed, 0, 1000, protocol::sha256_hex(other)};
  CHECK(liar.on_data(h, other, 3001, why) == runtime::BlobFetcher::Outcome::kRestart);
  CHECK_THAT(why, Catch::Contains("does not match"));
  CHECK_FALSE(store->has(claimed));
  CHECK_FALSE(std::filesystem::exists(dir / "blobs" / "partial" / claimed));
}
