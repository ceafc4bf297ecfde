// HELLO/WELCOME store identity fields and the DOWN re-base rule
// (protocol/README.md "Store identity").

#include <catch2/catch.hpp>

#include "yiban/protocol/sync.h"

namespace ps = yiban::protocol::sync;

namespace {
const std::string kA(32, 'a');
const std::string kB(32, 'b');
const std::string kC(32, 'c');
}  // namespace

TEST_CASE("store ids are 32 lower-case hex digits and differ", "[protocol][sync][epoch]") {
  auto a = ps::random_store_id();
  auto b = ps::random_store_id();
  CHECK(ps::is_store_id(a));
  CHECK(a != b);
  CHECK_FALSE(ps::is_store_id(std::string(32, 'A')));
  CHECK_FALSE(ps::is_store_id(std::string(31, 'a')));
  CHECK_FALSE(ps::is_store_id(""));
}

TEST_CASE("HELLO carries the store and the DOWN epoch; an old edge's HELLO parses as none", "[protocol][sync][epoch]") {
  ps::Hello h;
  h.hall = "qd-sn-01";
  h.last_seq = 7;
  h.down_applied = 3;
  h.store = kA;
  h.down_epoch = kB;
  auto back = ps::decode_hello(ps::encode(h));
  REQUIRE(back);
  CHECK(back->store == kA);
  CHECK(back->down_epoch == kB);
  auto old = ps::decode_hello(R"({"hall":"qd-sn-01","proto":1,"last_seq":0,"down_applied":0})");
  REQUIRE(old);
  CHECK(old->store.empty());
  CHECK(old->down_epoch.empty());
  auto bad = ps::decode_hello(R"({"hall":"qd-sn-01","proto":1,"last_seq":0,"down_applied":0,"store":"xyz"})");
  REQUIRE_FALSE(bad);
  CHECK_THAT(bad.error().message, Catch::Contains("HELLO.store"));
  CHECK_FALSE(ps::decode_hello(R"({"hall":"qd-sn-01","proto":1,"last_seq":0,"down_applied":0,"down_epoch":5})"));
}

TEST_CASE("WELCOME carries central's store, epochs, base, confirmed and chain; an old one parses as none",
          "[protocol][sync][epoch]") {
  ps::Welcome w;
  w.acked = 12;
  w.down_next = 5;
  w.store = kA;
  w.down_epoch = kB;
  w.down_epoch_prev = kC;
  w.down_base = 9;
  w.down_confirmed = 4;
  yiban::protocol::ChainHash chain{};
  chain[0] = 0xab;
  w.chain = chain;
  auto back = ps::decode_welcome(ps::encode(w));
  REQUIRE(back);
  CHECK(back->acked == 12);
  CHECK(back->down_next == 5);
  CHECK(back->store == kA);
  CHECK(back->down_epoch == kB);
  CHECK(back->down_epoch_prev == kC);
  CHECK(back->down_base == 9);
  CHECK(back->down_confirmed == 4);
  REQUIRE(back->chain);
  CHECK(*back->chain == chain);
  auto old = ps::decode_welcome(R"({"acked":3,"down_next":2})");
  REQUIRE(old);
  CHECK(old->down_epoch.empty());
  CHECK(old->down_base == 0);
  CHECK_FALSE(old->chain);
  CHECK_FALSE(ps::decode_welcome(R"({"acked":3,"down_next":2,"down_base":-1})"));
  CHECK_FALSE(ps::decode_welcome(R"({"acked":3,"down_next":2,"chain":"zz"})"));
}

TEST_CASE("LOG_GET and LOG headers check their range", "[protocol][sync][epoch]") {
  auto g = ps::decode_log_get(ps::encode(ps::LogGet{1, 2000}));
  REQUIRE(g);
  CHECK(g->to == 2000);
  CHECK_FALSE(ps::decode_log_get(R"({"from":0,"to":3})"));
  CHECK_FALSE(ps::decode_log_get(R"({"from":5,"to":3})"));
  CHECK_FALSE(ps::decode_log_get(R"({"from":1,"to":2001})"));
  CHECK(ps::decode_log(ps::encode(ps::LogHeader{4, 9})));
  CHECK(ps::verb_from_string("LOG_GET") == ps::Verb::kLogGet);
  CHECK(ps::to_string(ps::Verb::kLog) == "LOG");
}

TEST_CASE("the DOWN re-base rule", "[protocol][sync][epoch]") {
  ps::Welcome w;
  w.acked = 100;
  w.down_epoch = kB;
  w.down_epoch_prev = kA;
  w.down_base = 5;
  w.down_confirmed = 7;
  SECTION("same epoch: unchanged") {
    auto r = ps::rebase_down(kB, 8, 100, w);
    CHECK(r.applied == 8);
    CHECK(r.lost == 0);
    CHECK_FALSE(r.rebased);
  }
  SECTION("the epoch central was restored from: down to its base, the rest lost") {
    auto r = ps::rebase_down(kA, 8, 100, w);
    CHECK(r.applied == 5);
    CHECK(r.lost == 3);
    CHECK(r.rebased);
    auto below = ps::rebase_down(kA, 3, 100, w);
    CHECK(below.applied == 3);
    CHECK(below.lost == 0);
  }
  SECTION("no epoch yet (an upgraded edge): as the previous epoch") {
    auto r = ps::rebase_down("", 4, 100, w);
    CHECK(r.applied == 4);
    CHECK(r.rebased);
  }
  SECTION("an unknown epoch (central lost or replaced): nothing applied here") {
    auto r = ps::rebase_down(kC, 8, 100, w);
    CHECK(r.applied == 0);
    CHECK(r.lost == 8);
  }
  SECTION("a store behind central's log keeps what its later self confirmed") {
    auto r = ps::rebase_down(kB, 2, 40, w);
    CHECK(r.applied == 7);
    CHECK(r.rebased);
  }
  SECTION("an old central (no epoch): unchanged") {
    ps::Welcome old;
    old.acked = 100;
    auto r = ps::rebase_down(kC, 8, 10, old);
    CHECK(r.applied == 8);
    CHECK_FALSE(r.rebased);
  }
}
