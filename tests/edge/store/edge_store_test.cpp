#include "store/edge_store.h"

#include <catch2/catch.hpp>
#include <sqlite3.h>

#include "support/test_support.h"
#include "yiban/protocol/chain.h"
#include "yiban/protocol/event.h"

using yiban::edge::store::EdgeStore;
using yiban::test::TempDir;

namespace {

std::unique_ptr<EdgeStore> open_store(const TempDir& dir, const std::string& hall = "test-hall") {
  auto store = EdgeStore::open((dir / "edge.db").string(), hall);
  REQUIRE(store);
  return std::move(*store);
}

}  // namespace

TEST_CASE("a new store is created at the current schema version", "[edge][store]") {
  TempDir dir;
  auto store = open_store(dir);
  CHECK(store->schema_version() == yiban::edge::store::kSchemaVersion);
  CHECK(store->last_seq() == 0);
  CHECK(store->last_chain() == yiban::protocol::kChainZero);
  auto ok = store->integrity_ok();
  REQUIRE(ok);
  CHECK(*ok);
}

TEST_CASE("events get gap-free seqs and a SHA-256 chain over their exact text", "[edge][store]") {
  TempDir dir;
  auto store = open_store(dir);
  REQUIRE(store->begin());
  REQUIRE(store->append_event(1000, "ticket.issued", R"({"ticket":"x"})"));
  REQUIRE(store->append_event(1001, "ticket.called", R"({"ticket":"x","counter":"1"})"));
  REQUIRE(store->append_event(1002, "ticket.completed", R"({"ticket":"x"})"));
  REQUIRE(store->commit());

  auto events = store->read_events(0, 10);
  REQUIRE(events);
  REQUIRE(events->size() == 3);
  CHECK((*events)[0].text == R"({"hall":"test-hall","seq":1,"ts":1000,"type":"ticket.issued","data":{"ticket":"x"}})");
  yiban::protocol::ChainHash chain = yiban::protocol::kChainZero;
  for (std::size_t i = 0; i < events->size(); ++i) {
    CHECK((*events)[i].seq == static_cast<std::int64_t>(i + 1));
    auto parsed = yiban::protocol::parse_event((*events)[i].text);
    REQUIRE(parsed);
    CHECK(parsed->seq == (*events)[i].seq);
    chain = yiban::protocol::chain_next(chain, (*events)[i].text);
    CHECK((*events)[i].chain == chain);
  }
  CHECK(store->last_chain() == chain);
  auto tail = store->read_events(2, 10);
  REQUIRE(tail);
  REQUIRE(tail->size() == 1);
  CHECK(tail->front().seq == 3);
}

TEST_CASE("a reopened store continues the log where it stopped", "[edge][store]") {
  TempDir dir;
  yiban::protocol::ChainHash head;
  {
    auto store = open_store(dir);
    REQUIRE(store->begin());
    REQUIRE(store->append_event(1, "counter.opened", R"({"counter":"1"})"));
    REQUIRE(store->append_event(2, "counter.closed", R"({"counter":"1"})"));
    REQUIRE(store->commit());
    head = store->last_chain();
  }
  auto store = open_store(dir);
  CHECK(store->last_seq() == 2);
  CHECK(store->last_chain() == head);
  REQUIRE(store->begin());
  auto seq = store->append_event(3, "counter.opened", R"({"counter":"1"})");
  REQUIRE(store->commit());
  REQUIRE(seq);
  CHECK(*seq == 3);
}

TEST_CASE("a rolled back transaction leaves no event and no gap", "[edge][store]") {
  TempDir dir;
  auto store = open_store(dir);
  REQUIRE(store->begin());
  REQUIRE(store->append_event(1, "counter.opened", R"({"counter":"1"})"));
  REQUIRE(store->commit());
  auto head = store->last_chain();
  REQUIRE(store->begin());
  REQUIRE(store->append_event(2, "counter.closed", R"({"counter":"1"})"));
  store->rollback();
  CHECK(store->last_seq() == 1);
  CHECK(store->last_chain() == head);

  REQUIRE(store->begin());
  REQUIRE(store->savepoint());
  REQUIRE(store->append_event(3, "counter.paused", R"({"counter":"1"})"));
  store->rollback_to_savepoint();
  CHECK(store->last_seq() == 1);
  auto seq = store->append_event(4, "counter.closed", R"({"counter":"1"})");
  REQUIRE(store->commit());
  REQUIRE(seq);
  CHECK(*seq == 2);
}

TEST_CASE("a store refuses to open for another hall", "[edge][store]") {
  TempDir dir;
  { open_store(dir, "hall-a"); }
  auto other = EdgeStore::open((dir / "edge.db").string(), "hall-b");
  REQUIRE_FALSE(other);
  CHECK_THAT(other.error().message, Catch::Contains("hall-a"));
}

TEST_CASE("a store refuses a schema newer than it understands", "[edge][store]") {
  TempDir dir;
  { open_store(dir); }
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open((dir / "edge.db").c_str(), &db) == SQLITE_OK);
  REQUIRE(sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);
  auto store = EdgeStore::open((dir / "edge.db").string(), "test-hall");
  REQUIRE_FALSE(store);
  CHECK_THAT(store.error().message, Catch::Contains("99"));
}

TEST_CASE("recorded replies are found by device and binary correlation data", "[edge][store]") {
  TempDir dir;
  auto store = open_store(dir);
  std::string corr("\x00\x01\xff", 3);
  REQUIRE(store->begin());
  REQUIRE(store->save_reply("kiosk-1", corr, "ticket.take", R"({"ok":true})", 1000));
  REQUIRE(store->commit());
  auto found = store->find_reply("kiosk-1", corr);
  REQUIRE(found);
  REQUIRE(*found);
  CHECK(**found == R"({"ok":true})");
  auto other_device = store->find_reply("kiosk-2", corr);
  REQUIRE(other_device);
  CHECK_FALSE(*other_device);
  auto other_corr = store->find_reply("kiosk-1", std::string("\x00\x01", 2));
  REQUIRE(other_corr);
  CHECK_FALSE(*other_corr);

  REQUIRE(store->begin());
  auto pruned = store->prune_replies(1001);
  REQUIRE(store->commit());
  REQUIRE(pruned);
  CHECK(*pruned == 1);
}

TEST_CASE("daily numbers count per day and series", "[edge][store]") {
  TempDir dir;
  auto store = open_store(dir);
  REQUIRE(store->begin());
  CHECK(*store->next_number(20261126, "A") == 1);
  CHECK(*store->next_number(20261126, "A") == 2);
  CHECK(*store->next_number(20261126, "B") == 1);
  CHECK(*store->next_number(20261127, "A") == 1);
  REQUIRE(store->commit());
  CHECK(*store->last_number(20261126, "A") == 2);
  CHECK(*store->last_number(20261128, "A") == 0);
}
