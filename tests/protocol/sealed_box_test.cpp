// Personal data sealed to one hall (protocol/sealed_box.h), the case file's
// and booking.add's sealed fields, the ID mask, and the redaction of old
// events' clear fields (protocol/personal_data.h).

#include "yiban/protocol/sealed_box.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "yiban/protocol/bookings.h"
#include "yiban/protocol/cases.h"
#include "yiban/protocol/city_catalog.h"
#include "yiban/protocol/curve_cert.h"
#include "yiban/protocol/personal_data.h"

using namespace yiban;
namespace pc = protocol::cases;
namespace pb = protocol::bookings;
using nlohmann::json;

TEST_CASE("a text sealed to a hall's CURVE key opens only with that hall's secret key", "[protocol][sealed]") {
  const auto hall = protocol::new_curve_keypair();
  const auto other = protocol::new_curve_keypair();
  REQUIRE(protocol::is_z85_key(hall.public_key));
  REQUIRE(protocol::is_z85_key(hall.secret_key));
  CHECK(protocol::z85_decode_key(hall.public_key)->size() == 32);

  auto boxes = protocol::seal_to({hall.public_key}, "王芳 13800138000");
  REQUIRE(boxes);
  REQUIRE(boxes->size() == 1);
  CHECK((*boxes)[0].to == hall.public_key);
  CHECK((*boxes)[0].box.find("13800138000") == std::string::npos);
  CHECK(protocol::open_sealed(*boxes, hall.public_key, hall.secret_key).value() == "王芳 13800138000");
  // Another hall has no box, and a box addressed to it with the wrong key does not open.
  CHECK_THAT(protocol::open_sealed(*boxes, other.public_key, other.secret_key).error().message,
             Catch::Contains("nothing is sealed"));
  auto misaddressed = *boxes;
  misaddressed[0].to = other.public_key;
  CHECK_THAT(protocol::open_sealed(misaddressed, other.public_key, other.secret_key).error().message,
             Catch::Contains("does not open"));
  // A damaged box does not open.
  auto damaged = *boxes;
  damaged[0].box[10] = damaged[0].box[10] == 'A' ? 'B' : 'A';
  CHECK_FALSE(protocol::open_sealed(damaged, hall.public_key, hall.secret_key));
  // Two keys (rotation): either opens its own box.
  auto both = protocol::seal_to({hall.public_key, other.public_key}, "x");
  REQUIRE(both);
  CHECK(protocol::open_sealed(*both, other.public_key, other.secret_key).value() == "x");
  // The wire form round-trips; bad input is refused by name.
  auto back = protocol::decode_sealed(protocol::encode_sealed(*both), "sealed");
  REQUIRE(back);
  CHECK(back->size() == 2);
  CHECK_THAT(protocol::decode_sealed(R"([{"to":"short","box":"AA=="}])", "sealed").error().message,
             Catch::Contains("sealed[0].to"));
  CHECK_FALSE(protocol::decode_sealed(R"({"to":1})", "sealed"));
  CHECK_FALSE(protocol::seal_to({}, "x"));
  CHECK_THAT(protocol::seal_to({"not-a-key"}, "x").error().message, Catch::Contains("not-a-key"));
}

TEST_CASE("a case file leaves the hall with its contact and note sealed to the handling hall", "[protocol][sealed]") {
  const auto handler = protocol::new_curve_keypair();
  pc::CaseFile f;
  f.id = "qd-sn-01:20261126:C0003";
  f.service = "X01";
  f.service_name = "跨区户口迁移";
  f.origin = "qd-sn-01";
  f.handler = "qd-ls-03";
  f.applicant = {"张*三", pc::mask_id("11010519491231002X"), std::string(64, 'a')};
  f.contact_name = "王芳";
  f.contact_phone = "13800138000";
  f.note = "申请人李四，电话13900139000";
  f.materials.push_back({std::string(64, 'b'), "户口簿.pdf", "application/pdf", 10, 1});
  f.submitted_ts = 1;
  f.prereview_due = 2;
  REQUIRE(pc::seal_private(f, {handler.public_key}));
  const std::string wire = pc::encode_case_file_sealed(f);
  for (const char* clear : {"王芳", "13800138000", "李四", "13900139000"}) CHECK(wire.find(clear) == std::string::npos);
  CHECK(json::parse(wire).contains("sealed"));
  CHECK_FALSE(json::parse(wire).contains("contact"));
  // The hall's own form keeps the clear part.
  CHECK(pc::encode_case_file(f).find("王芳") != std::string::npos);

  auto received = pc::decode_case_file(wire);
  REQUIRE(received);
  CHECK(received->contact_name.empty());
  REQUIRE(pc::open_private(*received, handler.public_key, handler.secret_key));
  CHECK(received->contact_name == "王芳");
  CHECK(received->contact_phone == "13800138000");
  CHECK(received->note == "申请人李四，电话13900139000");
  const auto stranger = protocol::new_curve_keypair();
  auto elsewhere = pc::decode_case_file(wire);
  CHECK_FALSE(pc::open_private(*elsewhere, stranger.public_key, stranger.secret_key));
}

TEST_CASE("booking.add carries the phone and special need sealed to the hall", "[protocol][sealed]") {
  const auto hall = protocol::new_curve_keypair();
  pb::BookingAdd add{"ABCDEFGH", "A", 1000, 2000, "张*三", "13800138000", "轮椅", {}};
  REQUIRE(pb::seal_private(add, {hall.public_key}));
  const std::string wire = pb::encode_booking_add(add);
  CHECK(wire.find("13800138000") == std::string::npos);
  CHECK(wire.find("轮椅") == std::string::npos);
  auto back = pb::decode_booking_add(wire);
  REQUIRE(back);
  CHECK(back->phone.empty());
  REQUIRE(pb::open_private(*back, hall.public_key, hall.secret_key));
  CHECK(back->phone == "13800138000");
  CHECK(back->special_need == "轮椅");
}

TEST_CASE("ID numbers are masked to the first 3 and last 4 characters", "[protocol][sealed][cases]") {
  CHECK(pc::mask_id("37020219851231123X") == "370***********123X");
  CHECK(pc::mask_id("11010519491231002X") == "110***********002X");
  CHECK(pc::mask_id("E12345678") == "E1*****78");
  CHECK(pc::mask_id("1234") == "****");
}

TEST_CASE("old events' clear personal fields are redacted where central shows them", "[protocol][sealed]") {
  const std::string old_case =
      R"({"hall":"qd-sn-01","seq":7,"ts":1,"type":"case.submitted","data":{"case":"qd-sn-01:20261126:C0001",)"
      R"("contact":{"name":"王芳","phone":"13800138000"},"note":"李四","service":"X01"}})";
  auto r = protocol::redact_personal(old_case);
  REQUIRE(r);
  CHECK(r->find("王芳") == std::string::npos);
  CHECK(r->find("李四") == std::string::npos);
  CHECK(json::parse(*r)["redacted"] == true);
  CHECK(json::parse(*r)["data"]["service"] == "X01");
  auto help = protocol::redact_personal(
      R"({"hall":"h","seq":1,"ts":1,"type":"help.requested","data":{"help":"h:1:H1","need":"轮椅"}})");
  REQUIRE(help);
  CHECK(help->find("轮椅") == std::string::npos);
  auto alert = protocol::redact_personal(
      R"({"hall":"h","seq":2,"ts":1,"type":"alert.raised","data":{"rule":"help","message":"kiosk-1求助：轮椅"}})");
  REQUIRE(alert);
  CHECK(alert->find("轮椅") == std::string::npos);
  // New events and others pass as stored.
  CHECK_FALSE(protocol::redact_personal(
      R"({"hall":"h","seq":3,"ts":1,"type":"alert.raised","data":{"rule":"help","message":"kiosk-1求助"}})"));
  CHECK_FALSE(protocol::redact_personal(R"({"hall":"h","seq":4,"ts":1,"type":"ticket.issued","data":{}})"));
}

TEST_CASE("the city catalog carries each handling hall's keys, outside its version", "[protocol][sealed][catalog]") {
  const auto key = protocol::new_curve_keypair().public_key;
  const std::string services = R"({"services":[{"code":"X01","name":"跨区户口迁移","region":"370212","hall":"qd-ls-03"}])";
  auto plain = protocol::parse_city_catalog(services + "}");
  auto keyed = protocol::parse_city_catalog(services + R"(,"hall_keys":{"qd-ls-03":[")" + key + R"("]}})");
  REQUIRE(plain);
  REQUIRE(keyed);
  CHECK(keyed->hall_keys.at("qd-ls-03") == std::vector<std::string>{key});
  CHECK(protocol::catalog_version(*keyed) == protocol::catalog_version(*plain));
  auto again = protocol::parse_city_catalog(protocol::encode_city_catalog(*keyed));
  REQUIRE(again);
  CHECK(again->hall_keys == keyed->hall_keys);
  CHECK_THAT(protocol::parse_city_catalog(services + R"(,"hall_keys":{"qd-ls-03":["short"]}})").error().message,
             Catch::Contains("hall_keys.qd-ls-03"));
  CHECK_THAT(protocol::parse_city_catalog(services + R"(,"hall_keys":{"Bad Hall":[")" + key + R"("]}})").error().message,
             Catch::Contains("not a valid hall id"));
}
