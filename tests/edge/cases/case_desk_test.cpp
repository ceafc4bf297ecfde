// The hall's case desk (edge/src/cases) on a real store and real files, with
// a fake clock for the SLA timers.

#include "cases/case_desk.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "alerts/alert_engine.h"
#include "support/edge_process.h"
#include "support/test_support.h"
#include "yiban/protocol/cases.h"

using namespace yiban;
namespace pc = protocol::cases;
using nlohmann::json;

namespace {

constexpr std::int64_t kT0 = 1795654800000LL;  // Thursday 2026-11-26 09:00 in Shanghai
constexpr std::int64_t kHour = 3600 * 1000;
constexpr int kDay = 20261126;
const std::string kKey = "city-case-key-for-tests-0123456789abcdef";

struct Desk {
  test::TempDir dir;
  protocol::HallConfig config;
  protocol::TimeZone zone = protocol::TimeZone::fixed("Asia/Shanghai", 8 * 3600);
  std::unique_ptr<edge::store::EdgeStore> store;
  std::unique_ptr<runtime::BlobStore> blobs;
  std::unique_ptr<edge::cases::CaseDesk> desk;
  std::unique_ptr<edge::alerts::AlertEngine> alerts;

  explicit Desk(std::string key = kKey) {
    auto j = json::parse(test::read_file(test::write_test_hall_config(dir.path())));
    j["alerts"] = {{"hold_s", 30}, {"clear_s", 60}};
    config = *protocol::parse_hall_config(j.dump());
    store = std::move(*edge::store::EdgeStore::open((dir / "edge.db").string(), "test-hall"));
    blobs = std::make_unique<runtime::BlobStore>(*runtime::BlobStore::open(dir / "blobs"));
    desk = std::make_unique<edge::cases::CaseDesk>(*store, *blobs, key, config, zone);
    alerts = std::make_unique<edge::alerts::AlertEngine>(config, *store);
    REQUIRE(alerts->load());
  }
  template <class F>
  auto tx(F f) {
    REQUIRE(store->begin());
    auto r = f();
    REQUIRE(store->commit());
    return r;
  }
  void set_catalog(const std::string& handler_of_x01) {
    json catalog{{"services",
                  {{{"code", "X01"}, {"name", "跨区户口迁移"}, {"region", "370212"}, {"hall", handler_of_x01},
                    {"prereview_h", 24}, {"complete_days", 5}},
                   {{"code", "X02"}, {"name", "异地医保备案"}, {"region", "370202"}, {"hall", "test-hall"}}}},
                 {"hall_keys", {{handler_of_x01, {protocol::new_curve_keypair().public_key}}}}};
    tx([&] { return store->set_meta("city_catalog", catalog.dump()); });
  }
  int evaluate(std::int64_t now) {
    return tx([&] { return alerts->evaluate(desk->late_conditions(now), kDay, now); }).value();
  }
  long long events(const std::string& type) {
    return test::query_int(dir / "edge.db", "SELECT count(*) FROM events WHERE type = '" + type + "'");
  }
};

// A case from another hall, as central assigns it to test-hall.
pc::CaseFile assigned(int attempt, std::int64_t due) {
  pc::CaseFile f;
  f.id = "qd-sn-01:20261126:C0001";
  f.attempt = attempt;
  f.service = "X01";
  f.service_name = "跨区户口迁移";
  f.origin = "qd-sn-01";
  f.handler = "test-hall";
  f.applicant = {"张*三", "110105********002X", std::string(64, 'c')};
  f.contact_name = "王芳";
  f.materials = {{std::string(64, 'a'), "申请表.pdf", "application/pdf", 1000, 1}};
  f.submitted_ts = kT0;
  f.prereview_due = due;
  f.complete_days = 5;
  return f;
}

}  // namespace

TEST_CASE("late pre-review and late completion raise alerts at the handling hall (fake clock)", "[edge][cases]") {
  Desk b;
  const std::int64_t due = pc::add_working_hours(kT0, 24, b.zone);
  REQUIRE(b.tx([&] { return b.desk->apply_assign(pc::encode_case_file(assigned(1, due)), kT0); }));
  CHECK(b.events("case.received") == 1);
  // The same attempt again (a resent command) changes nothing.
  REQUIRE(b.tx([&] { return b.desk->apply_assign(pc::encode_case_file(assigned(1, due)), kT0 + 5); }));
  CHECK(b.events("case.received") == 1);

  CHECK(b.evaluate(due - 1000) == 0);
  CHECK(b.evaluate(due + 1000) == 0);  // late, holding
  CHECK(b.evaluate(due + 31000) == 1);  // held 30 s: raised
  REQUIRE(b.alerts->open().size() == 1);
  CHECK(b.alerts->open()[0].rule == "case_prereview_late");
  CHECK(b.alerts->open()[0].subject == "qd-sn-01:20261126:C0001");
  CHECK_THAT(b.alerts->open()[0].message, Catch::Contains("预审已超时"));

  // Accepted: the pre-review alert clears by itself; completion runs 5 working days.
  const std::int64_t accepted_at = due + 40000;
  auto r = b.tx([&] {
    return b.desk->review("qd-sn-01:20261126:C0001", R"({"decision":"accept"})", "hall-manager:1", accepted_at);
  });
  INFO(r.body);
  REQUIRE(r.status == 200);
  const auto detail = json::parse(r.body);
  CHECK(detail["state"] == "accepted");
  const std::int64_t complete_due = detail["complete_due"];
  CHECK(complete_due == pc::add_working_hours(accepted_at, 5 * 24, b.zone));
  CHECK(b.evaluate(accepted_at + 1000) == 0);
  CHECK(b.evaluate(accepted_at + 61000) == 1);  // clear for 60 s: resolved
  CHECK(b.alerts->open().empty());
  CHECK(b.evaluate(complete_due + 1000) == 0);
  CHECK(b.evaluate(complete_due + 31000) == 1);
  REQUIRE(b.alerts->open().size() == 1);
  CHECK(b.alerts->open()[0].rule == "case_completion_late");
  // Completed: nothing is late any more.
  REQUIRE(b.tx([&] {
            return b.desk->complete("qd-sn-01:20261126:C0001", R"({"note":"办结"})", "hall-manager:1",
                                    complete_due + 40000);
          }).status == 200);
  CHECK(b.evaluate(complete_due + 41000) == 0);
  CHECK(b.evaluate(complete_due + 101000) == 1);
  CHECK(b.alerts->open().empty());
}

TEST_CASE("the origin hall submits only what it can route, and steps follow the case's state", "[edge][cases]") {
  Desk a;
  const std::string pdf = a.blobs->put("%PDF-1.7 申请表").value();
  const std::string html = a.blobs->put("<html>not a material</html>").value();
  json body{{"service", "X01"},
            {"applicant_name", "张小三"},
            {"applicant_id", "11010519491231002X"},
            {"contact_name", "王芳"},
            {"materials", {{{"sha256", pdf}, {"name", "申请表.pdf"}}}}};
  auto submit = [&](const json& b) { return a.tx([&] { return a.desk->submit(b.dump(), "hall-manager:1", kT0); }); };
  CHECK(submit(body).status == 409);  // no catalog yet
  a.set_catalog("qd-ls-03");
  {
    Desk keyless("");
    keyless.set_catalog("qd-ls-03");
    CHECK(keyless.tx([&] { return keyless.desk->submit(body.dump(), "hall-manager:1", kT0); }).status == 503);
  }
  auto unknown = body;
  unknown["service"] = "X09";
  CHECK(submit(unknown).status == 404);
  auto here = body;
  here["service"] = "X02";
  CHECK(submit(here).status == 409);
  auto not_uploaded = body;
  not_uploaded["materials"][0]["sha256"] = std::string(64, 'f');
  CHECK_THAT(submit(not_uploaded).body, Catch::Contains("was not uploaded"));
  auto wrong_type = body;
  wrong_type["materials"][0]["sha256"] = html;
  CHECK_THAT(submit(wrong_type).body, Catch::Contains("not a PDF, JPEG or PNG"));
  auto bad_id = body;
  bad_id["applicant_id"] = "110105194912310021";
  CHECK_THAT(submit(bad_id).body, Catch::Contains("check digit"));
  CHECK(a.events("case.submitted") == 0);

  auto ok = submit(body);
  INFO(ok.body);
  REQUIRE(ok.status == 201);
  const auto created = json::parse(ok.body);
  const std::string id = created["case"];
  CHECK(id == "test-hall:20261126:C0001");
  CHECK(created["handler"] == "qd-ls-03");
  CHECK(created["prereview_due"] == pc::add_working_hours(kT0, 24, a.zone));
  CHECK(a.events("case.submitted") == 1);
  auto stored = test::query_strings(a.dir / "edge.db", "SELECT text FROM events WHERE type = 'case.submitted'");
  REQUIRE(stored.size() == 1);
  CHECK_THAT(stored[0], !Catch::Contains("张小三") && !Catch::Contains("11010519491231002X"));
  CHECK_THAT(stored[0], Catch::Contains(pc::keyed_hash(kKey, "11010519491231002X")));

  // The origin does not review, and adds files only when asked.
  CHECK(a.tx([&] { return a.desk->review(id, R"({"decision":"accept"})", "hall-manager:1", kT0); }).status == 404);
  const std::string jpg = a.blobs->put(std::string("\xFF\xD8\xFF\xE0 身份证", 14)).value();
  const json more{{"note", "已补充"}, {"materials", {{{"sha256", jpg}, {"name", "身份证.jpg"}}}}};
  CHECK(a.tx([&] { return a.desk->resubmit(id, more.dump(), "hall-manager:1", kT0); }).status == 409);

  // Steps from the handler: one from another hall is refused, the real one moves the case.
  pc::Step step{id, pc::State::kMoreNeeded, "qd-xx-09", kT0 + kHour, 1, "hall-manager:2", "缺身份证", 0, {}};
  CHECK_FALSE(a.tx([&] { return a.desk->apply_update(pc::encode_step(step), kT0 + kHour); }));
  step.hall = "qd-ls-03";
  REQUIRE(a.tx([&] { return a.desk->apply_update(pc::encode_step(step), kT0 + kHour); }));
  CHECK(a.events("case.updated") == 1);
  auto again = a.tx([&] { return a.desk->resubmit(id, more.dump(), "hall-manager:1", kT0 + 2 * kHour); });
  INFO(again.body);
  REQUIRE(again.status == 200);
  const auto resubmitted = json::parse(again.body);
  CHECK(resubmitted["state"] == "submitted");
  CHECK(resubmitted["attempt"] == 2);
  CHECK(resubmitted["materials"].size() == 2);
  CHECK(resubmitted["prereview_due"] == pc::add_working_hours(kT0 + 2 * kHour, 24, a.zone));
  CHECK(a.events("case.resubmitted") == 1);
}
