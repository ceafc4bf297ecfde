#include "yiban/protocol/sync.h"

#include <catch2/catch.hpp>

#include "yiban/protocol/city_catalog.h"
#include "yiban/protocol/commands.h"
#include "yiban/protocol/curve_cert.h"
#include "yiban/protocol/tokens.h"
#include "support/test_support.h"

namespace ps = yiban::protocol::sync;
using namespace yiban::protocol;

TEST_CASE("sync headers round-trip", "[protocol][sync]") {
  ps::Hello hello;
  hello.hall = "qd-sn-01";
  hello.last_seq = 42;
  hello.down_applied = 3;
  hello.name = "市南区政务服务中心";
  hello.region = "370202";
  auto h = ps::decode_hello(ps::encode(hello));
  REQUIRE(h);
  CHECK(h->hall == "qd-sn-01");
  CHECK(h->last_seq == 42);
  CHECK(h->down_applied == 3);
  CHECK(h->name == "市南区政务服务中心");
  CHECK(h->region == "370202");

  ps::EventsHeader events{5, 9, chain_next(kChainZero, "x")};
  auto e = ps::decode_events(ps::encode(events));
  REQUIRE(e);
  CHECK(e->from == 5);
  CHECK(e->to == 9);
  CHECK(e->chain == events.chain);

  CHECK(ps::decode_welcome(ps::encode([] { ps::Welcome w; w.acked = 7; w.down_next = 2; return w; }()))->acked == 7);
  CHECK(ps::decode_ack(ps::encode(ps::Ack{9}))->acked == 9);
  CHECK(ps::decode_down(ps::encode(ps::DownHeader{1, 3}))->to == 3);
  CHECK(ps::decode_down_ack(ps::encode(ps::DownAck{3}))->applied == 3);
  auto err = ps::decode_error(ps::encode(ps::ErrorHeader{"chain_mismatch", "events 1..2"}));
  REQUIRE(err);
  CHECK(err->code == "chain_mismatch");
  for (auto v : {ps::Verb::kHello, ps::Verb::kWelcome, ps::Verb::kEvents, ps::Verb::kAck, ps::Verb::kDown,
                 ps::Verb::kDownAck, ps::Verb::kPing, ps::Verb::kPong, ps::Verb::kError}) {
    CHECK(ps::verb_from_string(ps::to_string(v)) == v);
  }
  CHECK_FALSE(ps::verb_from_string("hello"));
}

TEST_CASE("sync headers refuse bad input naming the field", "[protocol][sync]") {
  const std::string chain(64, 'a');
  const std::vector<std::pair<std::string, std::string>> bad_events{
      {"not json", "JSON object"},
      {R"({"to":2,"chain":")" + chain + "\"}", "EVENTS.from"},
      {R"({"from":0,"to":2,"chain":")" + chain + "\"}", "EVENTS.from"},
      {R"({"from":3,"to":2,"chain":")" + chain + "\"}", "to is before from"},
      {R"({"from":1,"to":2001,"chain":")" + chain + "\"}", "more than 2000"},
      {R"({"from":1,"to":2,"chain":"xyz"})", "EVENTS.chain"},
      {R"({"from":1,"to":2})", "EVENTS.chain"},
      {R"({"from":"1","to":2,"chain":")" + chain + "\"}", "EVENTS.from"},
      {std::string(5000, ' '), "4 KiB"},
  };
  for (const auto& [text, fragment] : bad_events) {
    INFO(text.substr(0, 60));
    auto r = ps::decode_events(text);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains(fragment));
  }
  const std::vector<std::pair<std::string, std::string>> bad_hello{
      {R"({"proto":1,"last_seq":0,"down_applied":0})", "HELLO.hall"},
      {R"({"hall":"Bad Hall","proto":1,"last_seq":0,"down_applied":0})", "HELLO.hall"},
      {R"({"hall":"h1","proto":2,"last_seq":0,"down_applied":0})", "HELLO.proto"},
      {R"({"hall":"h1","proto":1,"last_seq":-1,"down_applied":0})", "HELLO.last_seq"},
      {R"({"hall":"h1","proto":1,"last_seq":0})", "HELLO.down_applied"},
      {R"({"hall":"h1","proto":1,"last_seq":0,"down_applied":0,"region":"x"})", "HELLO.region"},
      {"{\"hall\":\"h1\xff\"}", "UTF-8"},
  };
  for (const auto& [text, fragment] : bad_hello) {
    INFO(text);
    auto r = ps::decode_hello(text);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains(fragment));
  }
  CHECK_FALSE(ps::decode_ack(R"({"acked":-1})"));
  CHECK_FALSE(ps::decode_down_ack("{}"));
  CHECK_FALSE(ps::decode_down(R"({"from":2,"to":1})"));
  CHECK_FALSE(ps::decode_welcome(R"({"acked":1,"down_next":0})"));
  CHECK_FALSE(ps::decode_error(R"({"message":"x"})"));
}

TEST_CASE("commands are validated and encoded with their data verbatim", "[protocol][commands]") {
  std::string text = encode_command({3, 1000, "notice", R"({"text":"今天下午三点停电检修"})"});
  auto c = parse_command(text);
  REQUIRE(c);
  CHECK(c->down_seq == 3);
  CHECK(c->type == "notice");
  auto n = decode_notice(c->data_json);
  REQUIRE(n);
  CHECK(n->text == "今天下午三点停电检修");
  CHECK(validate_command_data("config.set", R"({"alerts":{"long_queue":10}})"));
  const std::vector<std::tuple<std::string, std::string, std::string>> bad{
      {"notice", R"({"txt":"x"})", "unknown field"},
      {"notice", R"({"text":1})", "notice.text"},
      {"notice", R"({"text":")" + std::string(700, 'a') + "\"}", "600 bytes"},
      {"notice", R"({"text":"x","until_ts":-5})", "until_ts"},
      {"config.set", "{}", "nothing to change"},
      {"config.set", R"({"hall":"x"})", "unknown section"},
      {"config.set", R"({"services":{}})", "not an array"},
      {"reboot", "{}", "unknown"},
      {"notice", "[1]", "not a JSON object"},
      {"notice", "{", "not JSON"},
  };
  for (const auto& [type, data, fragment] : bad) {
    INFO(type << " " << data.substr(0, 40));
    auto r = validate_command_data(type, data);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains(fragment));
  }
  CHECK_FALSE(parse_command(R"({"down_seq":0,"ts":1,"type":"notice","data":{"text":"x"}})"));
  CHECK_FALSE(parse_command(R"({"down_seq":1,"ts":1,"type":"notice"})"));
  auto applied = encode_command_applied(4, "config.set", false, "service A has people waiting");
  CHECK_THAT(applied, Catch::Contains(R"("ok":false)"));
  CHECK_THAT(applied, Catch::Contains("service A has people waiting"));
}

TEST_CASE("CURVE certificates read and write CZMQ's format", "[protocol][certs]") {
  CurveCert cert{"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7", "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6", {{"hall", "qd-sn-01"}}};
  auto pub = format_curve_cert(cert, false, "2026-11-26");
  CHECK(pub.find("secret-key") == std::string::npos);
  auto p = parse_curve_cert(pub);
  REQUIRE(p);
  CHECK(p->public_key == cert.public_key);
  CHECK_FALSE(p->secret_key);
  CHECK(p->metadata.at("hall") == "qd-sn-01");
  auto s = parse_curve_cert(format_curve_cert(cert, true, "2026-11-26"));
  REQUIRE(s);
  CHECK(s->secret_key == cert.secret_key);
  // As CZMQ's zcert_save writes it.
  auto czmq = parse_curve_cert(
      "#   ****  Generated on 2015-01-01 by CZMQ  ****\n#   ZeroMQ CURVE Public Certificate\n\nmetadata\n"
      "curve\n    public-key = \"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\"\n");
  REQUIRE(czmq);
  CHECK(czmq->metadata.empty());
  CHECK_THAT(parse_curve_cert("curve\n    public-key = \"short\"\n").error().message, Catch::Contains("line 2"));
  CHECK_FALSE(parse_curve_cert("metadata\n    hall = \"x\"\n"));
  CHECK_FALSE(parse_curve_cert("    public-key = \"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\"\n"));
}

TEST_CASE("token files grant roles, and errors never show the token", "[protocol][tokens]") {
  auto grants = parse_token_file(
      "# tokens\n\nadmin-token-0123456789 admin\nhall-token-0123456789 hall-manager qd-sn-01\n"
      "view-token-0123456789 viewer\n");
  REQUIRE(grants);
  REQUIRE(grants->size() == 3);
  TokenTable table(*grants);
  CHECK(table.find("hall-token-0123456789")->hall == "qd-sn-01");
  CHECK(table.find("admin-token-0123456789")->role == Role::kAdmin);
  CHECK_FALSE(table.find("admin-token-012345678"));
  CHECK_FALSE(table.find(""));
  const std::vector<std::pair<std::string, std::string>> bad{
      {"secret-token-0123456789 boss\n", "unknown role"},
      {"secret-token-0123456789 hall-manager\n", "needs a valid HALL"},
      {"secret-token-0123456789 admin qd-sn-01\n", "only hall-manager"},
      {"short admin\n", "shorter than 16"},
      {"secret-token-0123456789\n", "TOKEN ROLE"},
      {"secret-token-0123456789 admin\nsecret-token-0123456789 viewer\n", "line 2: token listed twice"},
  };
  for (const auto& [text, fragment] : bad) {
    auto r = parse_token_file(text);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains(fragment));
    CHECK(r.error().message.find("secret-token") == std::string::npos);
  }
}

TEST_CASE("the city catalog is validated field by field and versioned by content", "[protocol][catalog]") {
  auto c = parse_city_catalog(
      R"({"services":[{"code":"X02","name":"异地医保备案","region":"370202","hall":"qd-sn-01"},)"
      R"({"code":"X01","name":"跨区户口迁移","region":"370213","hall":"qd-ls-03","prereview_h":8,"complete_days":5}]})");
  REQUIRE(c);
  REQUIRE(c->services.size() == 2);
  CHECK(c->services[0].code == "X01");  // sorted by code
  CHECK(c->services[1].prereview_h == 24);  // defaults
  CHECK(c->services[1].complete_days == 10);
  CHECK(c->find("X01")->hall == "qd-ls-03");
  CHECK_FALSE(c->find("X09"));
  auto again = parse_city_catalog(encode_city_catalog(*c));
  REQUIRE(again);
  CHECK(catalog_version(*again) == catalog_version(*c));
  auto changed = *c;
  changed.services[0].hall = "qd-sn-01";
  CHECK(catalog_version(changed) != catalog_version(*c));
  const std::string ok_service = R"({"code":"X01","name":"n","region":"370213","hall":"h1"})";
  const std::vector<std::pair<std::string, std::string>> bad{
      {"[]", "JSON object"},
      {R"({"services":{}})", "services: missing or not an array"},
      {R"({"services":[],"x":1})", "unknown field x"},
      {R"({"services":[1]})", "services[0]: not an object"},
      {R"({"services":[{"code":"x1","name":"n","region":"370213","hall":"h1"}]})", "services[0].code"},
      {R"({"services":[{"code":"X1","name":"","region":"370213","hall":"h1"}]})", "services[0].name"},
      {R"({"services":[{"code":"X1","name":"n","region":"37","hall":"h1"}]})", "services[0].region"},
      {R"({"services":[{"code":"X1","name":"n","region":"370213","hall":"H 1"}]})", "services[0].hall"},
      {R"({"services":[{"code":"X1","name":"n","region":"370213"}]})", "services[0].hall: missing"},
      {R"({"services":[{"code":"X1","name":"n","region":"370213","hall":"h1","prereview_h":0}]})", "prereview_h"},
      {R"({"services":[{"code":"X1","name":"n","region":"370213","hall":"h1","sla":1}]})", "unknown field sla"},
      {R"({"services":[)" + ok_service + "," + ok_service + "]}", "services[1].code: X01 listed twice"},
  };
  for (const auto& [text, fragment] : bad) {
    INFO(text);
    auto r = parse_city_catalog(text);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains(fragment));
  }
  CHECK(validate_command_data("catalog.set", encode_city_catalog(*c)));
  CHECK_FALSE(validate_command_data("catalog.set", R"({"services":[{"code":"x"}]})"));
}

TEST_CASE("a secret file gives its first line without the line end; an unreadable one is named", "[protocol][tokens]") {
  yiban::test::TempDir dir;
  yiban::test::write_file(dir / "pw", "s3cret-pass \r\nsecond line\n");
  auto secret = read_secret_file(dir / "pw");
  REQUIRE(secret);
  CHECK(*secret == "s3cret-pass");
  yiban::test::write_file(dir / "empty", "");
  CHECK(read_secret_file(dir / "empty") == std::string());
  auto missing = read_secret_file(dir / "missing");
  REQUIRE_FALSE(missing);
  CHECK_THAT(missing.error().message, Catch::Contains("missing"));
}

TEST_CASE("a frame budget refuses a message past its frame or byte limit, and stays refused", "[protocol][sync]") {
  ps::FrameBudget frames(3, 1000);
  CHECK(frames.admit(10));
  CHECK(frames.admit(10));
  CHECK(frames.admit(10));
  CHECK_FALSE(frames.admit(1));  // the 4th frame
  CHECK_FALSE(frames.admit(0));  // and everything after it
  CHECK(frames.over() == ps::FrameBudget::Over::kFrames);
  CHECK(frames.frames() == 5);
  CHECK(frames.bytes() == 31);
  frames.reset();
  CHECK(frames.admit(10));
  CHECK(frames.over() == ps::FrameBudget::Over::kNone);

  ps::FrameBudget bytes(100, 1000);
  CHECK(bytes.admit(600));
  CHECK(bytes.admit(400));  // exactly the limit
  CHECK_FALSE(bytes.admit(1));
  CHECK(bytes.over() == ps::FrameBudget::Over::kBytes);
  CHECK(ps::to_string(bytes.over()) == "bytes");

  // The protocol's defaults: a full EVENTS batch fits, one item more does not.
  ps::FrameBudget defaults;
  for (std::size_t i = 0; i < ps::kMaxItems + 2; ++i) REQUIRE(defaults.admit(100));
  CHECK_FALSE(defaults.admit(100));
  CHECK(ps::kMaxMessageBytes >= ps::kMaxBatchBytes + ps::kMaxItemBytes + ps::kMaxHeaderBytes);
}

TEST_CASE("a rate limit lets a burst through, then the rate, and says how long to wait", "[protocol][sync]") {
  ps::RateLimit limit(100, 10);  // 100 a second, burst 10
  const std::int64_t t0 = 1000;
  for (int i = 0; i < 10; ++i) CHECK(limit.take(1, t0));
  CHECK_FALSE(limit.take(1, t0));
  CHECK(limit.wait_ms(1, t0) == 10);
  CHECK_FALSE(limit.take(1, t0 + 5));
  CHECK(limit.take(1, t0 + 10));
  // Idle time refills up to the burst only.
  CHECK(limit.take(10, t0 + 60000));
  CHECK_FALSE(limit.take(1, t0 + 60000));
  // A clock that goes back refills nothing.
  CHECK_FALSE(limit.take(1, t0));
  // Units larger than one (bytes).
  ps::RateLimit bytes(1024, 512);
  CHECK(bytes.take(512, 0));
  CHECK_FALSE(bytes.take(512, 100));  // ~102 bytes back
  CHECK(bytes.wait_ms(512, 100) >= 399);
  CHECK(bytes.wait_ms(512, 100) <= 401);
  CHECK(bytes.take(512, 510));
}
