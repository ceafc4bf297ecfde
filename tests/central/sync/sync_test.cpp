// The sync protocol end to end in one process: central's SyncServer on a
// real SQLite store, real ZeroMQ sockets over loopback TCP with CURVE, and
// either the edge's SyncClient reading a real EdgeStore or a raw DEALER that
// sends exactly the frames a test needs (duplicates, gaps, bad frames).

#include <catch2/catch.hpp>

#include <zmq.hpp>
#include <zmq_addon.hpp>

#include <mutex>
#include <set>

#include "yiban/protocol/chain.h"
#include "store/edge_store.h"
#include "support/edge_process.h"
#include "support/test_support.h"
#include "sync/allow_list.h"
#include "sync/sync_client.h"
#include "sync/sync_server.h"
#include "yiban/central/central_server.h"
#include "yiban/central/central_store.h"
#include "yiban/protocol/event.h"
#include "yiban/protocol/sync.h"
#include "yiban/protocol/cases.h"
#include "yiban/runtime/blob_store.h"

namespace {

using namespace std::chrono_literals;
namespace ps = yiban::protocol::sync;
using yiban::test::eventually;
using yiban::test::TempDir;

struct Keys {
  std::string public_key;
  std::string secret_key;
};

Keys make_keys(const TempDir& dir, const std::string& name, const std::string& hall) {
  auto ok = yiban::central::generate_keys(dir / "keys", name, hall);
  REQUIRE(ok);
  auto cert = yiban::central::load_cert(dir / "keys" / (name + ".key"), true);
  REQUIRE(cert);
  return {cert->public_key, cert->secret_key};
}

// Central with an allow-list of h1 and h2.
struct Central {
  TempDir dir;
  Keys central = make_keys(dir, "central", "");
  Keys h1 = make_keys(dir, "h1", "h1");
  Keys h2 = make_keys(dir, "h2", "h2");
  Keys h3 = make_keys(dir, "h3", "h3");
  std::unique_ptr<yiban::central::sync::SyncServer> server;
  std::string endpoint;

  Central() { start(); }
  ~Central() {
    if (server) server->stop();
  }
  void start() {
    auto store = yiban::central::open_sqlite_central_store((dir / "central.db").string());
    REQUIRE(store);
    yiban::central::sync::SyncServerOptions o;
    o.bind = endpoint.empty() ? "tcp://127.0.0.1:0" : endpoint;  // a restart keeps its port
    o.public_key = central.public_key;
    o.secret_key = central.secret_key;
    o.session_timeout_ms = 3000;
    o.blob_dir = (dir / "blobs").string();
    auto allow = yiban::central::sync::AllowList::from(
        {{h1.public_key, "h1"}, {h2.public_key, "h2"}, {h3.public_key, "h3"}});
    auto s = yiban::central::sync::SyncServer::create(o, allow, std::move(*store));
    REQUIRE(s);
    server = std::move(*s);
    if (endpoint.empty()) endpoint = server->endpoint();
    server->start();
  }
  void stop() {
    server->stop();
    server.reset();
  }
  // A reader on central's store (a second connection).
  yiban::central::HallSyncState hall(const std::string& id) {
    auto store = yiban::central::open_sqlite_central_store((dir / "central.db").string());
    REQUIRE(store);
    auto h = (*store)->load_hall(id);
    REQUIRE(h);
    return h->value_or(yiban::central::HallSyncState{});
  }
  std::vector<std::string> events(const std::string& id) {
    auto store = yiban::central::open_sqlite_central_store((dir / "central.db").string());
    REQUIRE(store);
    auto e = (*store)->events_after(id, 0, 1000000);
    REQUIRE(e);
    return *e;
  }
};

// A hall's store with events appended by hand.
struct Hall {
  TempDir dir;
  std::string id;
  std::unique_ptr<yiban::edge::store::EdgeStore> store;
  explicit Hall(std::string hall) : id(std::move(hall)) {
    auto s = yiban::edge::store::EdgeStore::open((dir / "edge.db").string(), id);
    REQUIRE(s);
    store = std::move(*s);
  }
  void append(int count, std::int64_t ts = 1764141802123, std::int64_t step_ms = 1) {
    REQUIRE(store->begin());
    for (int i = 0; i < count; ++i) {
      auto seq = store->append_event(ts + i * step_ms, "counter.opened",
                                     R"({"counter":")" + std::to_string(i % 9 + 1) + R"(","device":"counter-1"})");
      REQUIRE(seq);
    }
    REQUIRE(store->commit());
  }
  std::vector<std::string> events() {
    auto e = store->read_events(0, 1000000);
    REQUIRE(e);
    std::vector<std::string> out;
    for (auto& x : *e) out.push_back(x.text);
    return out;
  }
  std::string db() const { return (dir / "edge.db").string(); }
};

struct Client {
  std::mutex mutex;
  std::vector<std::string> commands;  // guarded by mutex
  std::unique_ptr<yiban::edge::sync::SyncClient> client;

  Client(const Central& c, const Keys& keys, const Hall& hall) {
    yiban::edge::sync::SyncClientOptions o;
    o.endpoint = c.endpoint;
    o.server_public_key = c.central.public_key;
    o.public_key = keys.public_key;
    o.secret_key = keys.secret_key;
    o.hall = hall.id;
    o.db_path = hall.db();
    o.batch_max = 100;
    o.window = 4;
    o.timeout_ms = 1500;
    o.ping_ms = 300;
    o.backoff_min_ms = 50;
    o.backoff_max_ms = 300;
    o.halt_retry_ms = 300;
    client = std::make_unique<yiban::edge::sync::SyncClient>(o, [this](std::string text) {
      std::lock_guard lock(mutex);
      commands.push_back(std::move(text));
    });
    REQUIRE(client->start());
  }
  ~Client() { client->stop(); }
  std::size_t command_count() {
    std::lock_guard lock(mutex);
    return commands.size();
  }
};

// A DEALER speaking raw frames with a given key.
struct RawLink {
  zmq::context_t context;
  zmq::socket_t socket{context, zmq::socket_type::dealer};
  RawLink(const Central& c, const Keys& keys) {
    socket.set(zmq::sockopt::linger, 0);
    socket.set(zmq::sockopt::curve_serverkey, c.central.public_key);
    socket.set(zmq::sockopt::curve_publickey, keys.public_key);
    socket.set(zmq::sockopt::curve_secretkey, keys.secret_key);
    socket.set(zmq::sockopt::rcvtimeo, 3000);
    socket.connect(c.endpoint);
  }
  void send(std::vector<std::string> frames) {
    std::vector<zmq::const_buffer> buffers;
    for (auto& f : frames) buffers.push_back(zmq::buffer(f));
    REQUIRE(zmq::send_multipart(socket, buffers));
  }
  // The next message's verb and header; empty when nothing came within the timeout.
  std::pair<std::string, std::string> receive() {
    std::vector<zmq::message_t> m;
    auto r = zmq::recv_multipart(socket, std::back_inserter(m));
    if (!r || m.size() < 2) return {};
    return {m[0].to_string(), m[1].to_string()};
  }
  // The next whole message (verb, header, payload…); empty when nothing came.
  std::vector<std::string> receive_all() {
    std::vector<zmq::message_t> m;
    auto r = zmq::recv_multipart(socket, std::back_inserter(m));
    std::vector<std::string> out;
    if (!r) return out;
    for (auto& f : m) out.push_back(f.to_string());
    return out;
  }
  std::pair<std::string, std::string> hello(const std::string& hall, std::int64_t last_seq) {
    send({"HELLO", ps::encode([&] { ps::Hello h; h.hall = hall; h.last_seq = last_seq; return h; }())});
    return receive();
  }
};

// Frames for EVENTS from..to of the given texts (1-based seqs), chained from
// the start of the log.
std::vector<std::string> events_message(const std::vector<std::string>& texts, std::int64_t from, std::int64_t to) {
  yiban::protocol::ChainHash chain = yiban::protocol::kChainZero;
  for (std::int64_t i = 1; i <= to; ++i) chain = yiban::protocol::chain_next(chain, texts[i - 1]);
  std::vector<std::string> frames{"EVENTS", ps::encode(ps::EventsHeader{from, to, chain})};
  for (std::int64_t i = from; i <= to; ++i) frames.push_back(texts[i - 1]);
  return frames;
}

std::vector<std::string> make_texts(const std::string& hall, int n) {
  std::vector<std::string> out;
  for (int i = 1; i <= n; ++i)
    out.push_back(yiban::protocol::encode_event(hall, i, 1764141802123 + i, "counter.paused",
                                                R"({"counter":"1","device":"counter-1"})"));
  return out;
}

}  // namespace

TEST_CASE("a hall's log reaches central whole, and resumes after the edge restarts", "[central][sync]") {
  Central central;
  Hall hall("h1");
  hall.append(250);
  {
    Client client(central, central.h1, hall);
    REQUIRE(eventually([&] { return central.hall("h1").acked == 250; }, 10s));
    hall.append(30);
    client.client->committed(280);
    REQUIRE(eventually([&] { return central.hall("h1").acked == 280; }, 10s));
  }
  hall.append(120);  // written while the link is down
  Client again(central, central.h1, hall);
  REQUIRE(eventually([&] { return central.hall("h1").acked == 400; }, 10s));
  CHECK(central.events("h1") == hall.events());
  auto state = central.hall("h1");
  CHECK(state.chain == hall.store->last_chain());
  CHECK(state.integrity_ok);
}

TEST_CASE("the edge catches up after central was away, keeping every event", "[central][sync]") {
  Central central;
  Hall hall("h1");
  hall.append(10);
  Client client(central, central.h1, hall);
  REQUIRE(eventually([&] { return central.hall("h1").acked == 10; }, 10s));
  central.stop();
  // An hour of a busy hall while central is away (one event a second).
  hall.append(3600, 1764141802123 + 10000, 1000);
  client.client->committed(3610);
  CHECK(client.client->status().acked == 10);
  // The edge notices central is gone (no PONG, no ACK) and keeps retrying.
  REQUIRE(eventually([&] { return client.client->status().state != "streaming"; }, 10s));
  central.start();  // same endpoint, same store
  REQUIRE(eventually([&] { return central.hall("h1").acked == 3610; }, 15s));
  CHECK(central.events("h1") == hall.events());
}

TEST_CASE("central refuses unknown keys, and a key claiming another hall", "[central][sync]") {
  Central central;
  Keys stranger;
  {
    char pub[41], sec[41];
    REQUIRE(zmq_curve_keypair(pub, sec) == 0);
    stranger = {pub, sec};
  }
  RawLink unknown(central, stranger);
  unknown.socket.set(zmq::sockopt::rcvtimeo, 700);
  CHECK(unknown.hello("h1", 0).first.empty());  // the handshake fails: nothing comes back
  REQUIRE(eventually([&] { return central.server->metrics().refused_connections >= 1; }, 5s));

  RawLink impostor(central, central.h2);
  auto [verb, header] = impostor.hello("h1", 0);
  CHECK(verb == "ERROR");
  CHECK_THAT(header, Catch::Contains("wrong_hall"));
  // Nothing was welcomed: EVENTS are refused too.
  impostor.send(events_message(make_texts("h1", 1), 1, 1));
  auto refused = impostor.receive();
  CHECK(refused.first == "ERROR");
  CHECK_THAT(refused.second, Catch::Contains("not_welcomed"));
  CHECK(central.hall("h1").acked == 0);
}

TEST_CASE("malformed frames get ERROR and the hall stays connected", "[central][sync]") {
  Central central;
  RawLink link(central, central.h1);
  REQUIRE(link.hello("h1", 0).first == "WELCOME");
  auto texts = make_texts("h1", 3);
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
      {{"EVENTS"}, "bad_frame"},
      {{"FROB", "{}"}, "bad_frame"},
      {{"EVENTS", "not json", texts[0]}, "bad_header"},
      {{"EVENTS", ps::encode(ps::EventsHeader{1, 2, {}}), texts[0]}, "bad_frame"},
      {{"DOWN_ACK", R"({"applied":-3})"}, "bad_header"},
      {{"WELCOME", R"({"acked":1,"down_next":1})"}, "bad_frame"},
      {{"HELLO", R"({"hall":"h1","proto":9,"last_seq":0,"down_applied":0})"}, "proto_version"},
  };
  for (const auto& [frames, code] : cases) {
    INFO(frames[0] << " " << (frames.size() > 1 ? frames[1] : ""));
    link.send(frames);
    auto [verb, header] = link.receive();
    CHECK(verb == "ERROR");
    CHECK_THAT(header, Catch::Contains(code));
  }
  // Still welcomed: a good batch is stored.
  link.send(events_message(texts, 1, 3));
  auto [verb, header] = link.receive();
  CHECK(verb == "ACK");
  CHECK(ps::decode_ack(header)->acked == 3);
}

TEST_CASE("duplicated, reordered and gapped batches are never stored out of order", "[central][sync]") {
  Central central;
  RawLink link(central, central.h1);
  REQUIRE(link.hello("h1", 10).first == "WELCOME");
  auto texts = make_texts("h1", 10);
  // Reordered: 6..10 before 1..5 → WELCOME with the true acked, nothing stored.
  link.send(events_message(texts, 6, 10));
  auto gap = link.receive();
  CHECK(gap.first == "WELCOME");
  CHECK(ps::decode_welcome(gap.second)->acked == 0);
  link.send(events_message(texts, 1, 5));
  CHECK(ps::decode_ack(link.receive().second)->acked == 5);
  // Duplicate of 1..5 → ACK 5 again, nothing doubled.
  link.send(events_message(texts, 1, 5));
  auto dup = link.receive();
  CHECK(dup.first == "ACK");
  CHECK(ps::decode_ack(dup.second)->acked == 5);
  // Overlap 4..8 → WELCOME 5.
  link.send(events_message(texts, 4, 8));
  auto overlap = link.receive();
  CHECK(overlap.first == "WELCOME");
  CHECK(ps::decode_welcome(overlap.second)->acked == 5);
  link.send(events_message(texts, 6, 10));
  CHECK(ps::decode_ack(link.receive().second)->acked == 10);
  CHECK(central.events("h1") == texts);
}

TEST_CASE("a chain mismatch stores nothing and flags the hall until an operator clears it", "[central][sync]") {
  Central central;
  RawLink link(central, central.h1);
  REQUIRE(link.hello("h1", 6).first == "WELCOME");
  auto texts = make_texts("h1", 6);
  link.send(events_message(texts, 1, 3));
  REQUIRE(link.receive().first == "ACK");
  // Event 5 edited after the fact: the chain the edge claims no longer matches.
  auto message = events_message(texts, 4, 6);
  auto edited = texts;
  edited[4] = yiban::protocol::encode_event("h1", 5, 1764141802128, "counter.paused",
                                            R"({"counter":"2","device":"counter-1"})");
  message[3] = edited[4];
  link.send(message);
  auto [verb, header] = link.receive();
  CHECK(verb == "ERROR");
  CHECK_THAT(header, Catch::Contains("chain_mismatch"));
  CHECK(central.hall("h1").acked == 3);
  CHECK_FALSE(central.hall("h1").integrity_ok);
  CHECK(central.events("h1").size() == 3);
  // Until cleared, the hall is refused.
  auto again = link.hello("h1", 6);
  CHECK(again.first == "ERROR");
  CHECK_THAT(again.second, Catch::Contains("integrity_broken"));
  REQUIRE(central.server->clear_integrity("h1", "test").get());
  CHECK(link.hello("h1", 6).first == "WELCOME");
  link.send(events_message(texts, 4, 6));
  CHECK(ps::decode_ack(link.receive().second)->acked == 6);
}

TEST_CASE("oversize frames are refused by the socket and others are still served", "[central][sync]") {
  Central central;
  RawLink big(central, central.h1);
  REQUIRE(big.hello("h1", 1).first == "WELCOME");
  big.socket.set(zmq::sockopt::rcvtimeo, 700);
  big.send({"EVENTS", ps::encode(ps::EventsHeader{1, 1, {}}), std::string(200 * 1024, 'x')});
  CHECK(big.receive().first.empty());  // the connection was dropped, nothing answered
  CHECK(central.hall("h1").acked == 0);
  RawLink other(central, central.h2);
  CHECK(other.hello("h2", 0).first == "WELCOME");
}

TEST_CASE("commands for an offline hall wait at central and are delivered in order once", "[central][sync]") {
  Central central;
  Hall hall("h1");
  hall.append(1);
  auto first = central.server->enqueue_command("h1", "notice", R"({"text":"今天16点提前闭厅"})").get();
  INFO((first ? std::string() : first.error().message));
  REQUIRE(first);
  CHECK(*first == 1);
  REQUIRE(central.server->enqueue_command("h1", "notice", R"({"text":""})").get());
  CHECK_FALSE(central.server->enqueue_command("nowhere", "notice", R"({"text":"x"})").get());
  CHECK_FALSE(central.server->enqueue_command("h1", "notice", R"({"texts":"x"})").get());
  {
    Client client(central, central.h1, hall);
    REQUIRE(eventually([&] { return client.command_count() == 2; }, 10s));
    {
      std::lock_guard lock(client.mutex);
      CHECK_THAT(client.commands[0], Catch::Contains(R"("down_seq":1)"));
      CHECK_THAT(client.commands[1], Catch::Contains(R"("down_seq":2)"));
    }
    client.client->applied(2);
    REQUIRE(eventually([&] { return central.hall("h1").down_applied == 2; }, 10s));
    REQUIRE(central.server->enqueue_command("h1", "notice", R"({"text":"third"})").get());
    REQUIRE(eventually([&] { return client.command_count() == 3; }, 10s));
  }
  // The third was handed over but not applied: a new link, from an edge that
  // recorded applying 1 and 2, gets only the third again.
  REQUIRE(hall.store->begin());
  REQUIRE(hall.store->set_meta("down_applied", "2"));
  REQUIRE(hall.store->commit());
  Client again(central, central.h1, hall);
  REQUIRE(eventually([&] { return again.command_count() == 1; }, 10s));
  std::lock_guard lock(again.mutex);
  CHECK_THAT(again.commands[0], Catch::Contains(R"("down_seq":3)"));
}

TEST_CASE("case files: a damaged chunk is refused and asked again, parties get the file, a third hall is denied",
          "[central][sync][cases]") {
  namespace pc = yiban::protocol::cases;
  Central central;
  // A 300 KiB PDF: three chunks.
  std::string file = "%PDF-1.7\n";
  for (int i = 0; file.size() < 300 * 1024; ++i) file += static_cast<char>((i * 131) & 0xFF);
  const std::string sha = yiban::protocol::sha256_hex(file);
  pc::CaseFile f;
  f.id = "h1:20261126:C0001";
  f.service = "X01";
  f.service_name = "跨区户口迁移";
  f.origin = "h1";
  f.handler = "h2";
  f.applicant = {"张*三", "110105********002X", std::string(64, 'b')};
  f.contact_name = "王芳";
  f.materials = {{sha, "申请表.pdf", "application/pdf", static_cast<std::int64_t>(file.size()), 1}};
  f.submitted_ts = 1764141802123;
  f.prereview_due = f.submitted_ts + 86400000;
  const std::vector<std::string> texts{
      yiban::protocol::encode_event("h1", 1, f.submitted_ts, pc::event::kSubmitted, pc::encode_case_file(f))};

  RawLink a(central, central.h1);
  REQUIRE(a.hello("h1", 1).first == "WELCOME");
  a.send(events_message(texts, 1, 1));
  // Central acknowledges the event and asks for the file in chunks.
  std::map<std::int64_t, int> asked;  // offset → times
  bool acked = false;
  bool damaged_sent = false;
  auto answer = [&](const ps::BlobGet& g, bool damage) {
    std::string chunk = file.substr(static_cast<std::size_t>(g.offset), static_cast<std::size_t>(g.length));
    ps::BlobData d{g.sha256, g.offset, static_cast<std::int64_t>(file.size()), yiban::protocol::sha256_hex(chunk)};
    if (damage) chunk[10] ^= 0x55;
    a.send({"BLOB_DATA", ps::encode(d), chunk});
  };
  auto store = yiban::runtime::BlobStore::open(central.dir / "blobs");
  REQUIRE(store);
  for (int i = 0; i < 50 && !store->has(sha); ++i) {
    auto m = a.receive_all();
    if (m.empty()) continue;
    if (m[0] == "ACK") acked = true;
    if (m[0] != "BLOB_GET") continue;
    auto g = ps::decode_blob_get(m[1]);
    REQUIRE(g);
    CHECK(g->sha256 == sha);
    ++asked[g->offset];
    const bool damage = g->offset == 0 && !damaged_sent;
    damaged_sent = damaged_sent || damage;
    answer(*g, damage);
    if (asked.size() == 3 && asked[0] == 2) {
      // All answered once more than needed for offset 0: wait for the store.
      REQUIRE(eventually([&] { return store->has(sha); }, 5s));
    }
  }
  CHECK(acked);
  REQUIRE(store->has(sha));
  CHECK(asked.size() == 3);
  CHECK(asked[0] == 2);  // the damaged chunk was asked for again
  CHECK(store->read(sha, 0, static_cast<std::int64_t>(file.size())).value() == file);
  CHECK(central.server->metrics().bad_chunks == 1);
  CHECK(central.server->metrics().files_received == 1);
  // With its file here, the case goes to h2 as a command.
  REQUIRE(eventually([&] { return central.hall("h2").down_last == 1; }, 5s));

  // h2 (the handler) may fetch the file; h3 may not, and h1 cannot fetch what is not its case.
  RawLink b(central, central.h2);
  REQUIRE(b.hello("h2", 0).first == "WELCOME");
  b.send({"BLOB_GET", ps::encode(ps::BlobGet{sha, 131072, 131072})});
  std::vector<std::string> got;
  for (int i = 0; i < 5; ++i) {
    got = b.receive_all();
    if (!got.empty() && got[0] == "BLOB_DATA") break;
  }
  REQUIRE(got.size() == 3);
  CHECK(got[2] == file.substr(131072, 131072));
  CHECK(ps::decode_blob_data(got[1])->chunk_sha256 == yiban::protocol::sha256_hex(got[2]));

  RawLink c(central, central.h3);
  REQUIRE(c.hello("h3", 0).first == "WELCOME");
  c.send({"BLOB_GET", ps::encode(ps::BlobGet{sha, 0, 131072})});
  auto refused = c.receive();
  CHECK(refused.first == "BLOB_MISSING");
  CHECK(ps::decode_blob_missing(refused.second)->code == "denied");
}

TEST_CASE("a case file transfer cut by a lost link and a central restart resumes where it stopped",
          "[central][sync][cases]") {
  namespace pc = yiban::protocol::cases;
  Central central;
  std::string file = "%PDF-1.7\n";
  for (int i = 0; file.size() < 300 * 1024; ++i) file += static_cast<char>((i * 17 + 3) & 0xFF);
  const std::string sha = yiban::protocol::sha256_hex(file);
  pc::CaseFile f;
  f.id = "h1:20261126:C0002";
  f.service = "X01";
  f.service_name = "跨区户口迁移";
  f.origin = "h1";
  f.handler = "h2";
  f.applicant = {"李*", "E1*****78", std::string(64, 'b')};
  f.contact_name = "王芳";
  f.materials = {{sha, "档案.pdf", "application/pdf", static_cast<std::int64_t>(file.size()), 1}};
  f.submitted_ts = 1764141802123;
  f.prereview_due = f.submitted_ts + 86400000;
  const std::vector<std::string> texts{
      yiban::protocol::encode_event("h1", 1, f.submitted_ts, pc::event::kSubmitted, pc::encode_case_file(f))};
  auto answer = [&](RawLink& link, const ps::BlobGet& g) {
    std::string chunk = file.substr(static_cast<std::size_t>(g.offset), static_cast<std::size_t>(g.length));
    ps::BlobData d{g.sha256, g.offset, static_cast<std::int64_t>(file.size()), yiban::protocol::sha256_hex(chunk)};
    link.send({"BLOB_DATA", ps::encode(d), chunk});
  };
  {
    RawLink a(central, central.h1);
    REQUIRE(a.hello("h1", 1).first == "WELCOME");
    a.send(events_message(texts, 1, 1));
    // Only the first chunk is answered; then the link goes away.
    for (int i = 0; i < 20; ++i) {
      auto m = a.receive_all();
      if (m.empty()) break;
      if (m[0] != "BLOB_GET") continue;
      auto g = ps::decode_blob_get(m[1]);
      REQUIRE(g);
      if (g->offset == 0) {
        answer(a, *g);
        break;
      }
    }
    REQUIRE(eventually([&] {
      return std::filesystem::exists(central.dir / "blobs" / "partial" / sha) &&
             std::filesystem::file_size(central.dir / "blobs" / "partial" / sha) == 131072;
    }, 5s));
  }
  central.stop();
  central.start();
  RawLink again(central, central.h1);
  REQUIRE(again.hello("h1", 1).first == "WELCOME");
  std::set<std::int64_t> asked;
  auto store = yiban::runtime::BlobStore::open(central.dir / "blobs");
  REQUIRE(store);
  for (int i = 0; i < 20 && !store->has(sha); ++i) {
    auto m = again.receive_all();
    if (m.empty() || m[0] != "BLOB_GET") continue;
    auto g = ps::decode_blob_get(m[1]);
    REQUIRE(g);
    asked.insert(g->offset);
    answer(again, *g);
    if (asked.size() == 2) REQUIRE(eventually([&] { return store->has(sha); }, 5s));
  }
  CHECK(asked == std::set<std::int64_t>{131072, 262144});  // nothing asked twice
  REQUIRE(store->has(sha));
  CHECK(store->read(sha, 0, static_cast<std::int64_t>(file.size())).value() == file);
}

TEST_CASE("a hall that never reads is disconnected; the others keep replicating and it may say HELLO again",
          "[central][sync][limits]") {
  Central central;
  Hall hall("h1");
  hall.append(50);
  Client client(central, central.h1, hall);
  REQUIRE(eventually([&] { return central.hall("h1").acked == 50; }, 10s));

  // h2's key, a tiny receive queue, and no recv() ever: central's replies pile up.
  zmq::context_t context;
  zmq::socket_t mute(context, zmq::socket_type::dealer);
  mute.set(zmq::sockopt::linger, 0);
  mute.set(zmq::sockopt::rcvhwm, 1);
  mute.set(zmq::sockopt::rcvbuf, 4096);
  mute.set(zmq::sockopt::curve_serverkey, central.central.public_key);
  mute.set(zmq::sockopt::curve_publickey, central.h2.public_key);
  mute.set(zmq::sockopt::curve_secretkey, central.h2.secret_key);
  mute.connect(central.endpoint);
  const std::string hello = ps::encode([&] { ps::Hello h; h.hall = "h2"; h.last_seq = 0; return h; }());
  mute.send(zmq::buffer(std::string("HELLO")), zmq::send_flags::sndmore);
  mute.send(zmq::buffer(hello));
  std::int64_t appended = 50;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (central.server->metrics().send_queue_full == 0 && std::chrono::steady_clock::now() < deadline) {
    for (int i = 0; i < 2000; ++i) {
      if (!mute.send(zmq::buffer(std::string("PING")), zmq::send_flags::sndmore | zmq::send_flags::dontwait)) break;
      mute.send(zmq::buffer(std::string("{}")), zmq::send_flags::none);
    }
    // Meanwhile h1 keeps writing and replicating.
    hall.append(5);
    appended += 5;
    client.client->committed(appended);
  }
  const auto m = central.server->metrics();
  INFO("replies dropped " << m.replies_dropped);
  REQUIRE(m.send_queue_full >= 1);
  // h1 was never held up: everything it wrote is stored, and it goes on.
  hall.append(100);
  appended += 100;
  client.client->committed(appended);
  REQUIRE(eventually([&] { return central.hall("h1").acked == appended; }, 10s));
  CHECK(central.events("h1") == hall.events());
  // h2 was forgotten: a new link says HELLO and is welcomed.
  RawLink again(central, central.h2);
  CHECK(again.hello("h2", 0).first == "WELCOME");
}

TEST_CASE("a message past the frame or byte limit is refused whole; the hall stays served", "[central][sync][limits]") {
  Central central;
  RawLink link(central, central.h1);
  REQUIRE(link.hello("h1", 3).first == "WELCOME");
  auto texts = make_texts("h1", 3);
  // One frame more than an EVENTS message may carry.
  std::vector<std::string> many{"EVENTS", ps::encode(ps::EventsHeader{1, 1, {}})};
  for (std::size_t i = 0; i < ps::kMaxItems + 1; ++i) many.push_back(texts[0]);
  link.send(many);
  auto [verb, header] = link.receive();
  CHECK(verb == "ERROR");
  CHECK_THAT(header, Catch::Contains("limit") && Catch::Contains("frames"));
  CHECK(central.server->metrics().refused_message_frames == 1);
  // Few frames, too many bytes (each frame within the socket's frame limit).
  std::vector<std::string> heavy{"EVENTS", ps::encode(ps::EventsHeader{1, 40, {}})};
  for (int i = 0; i < 40; ++i) heavy.push_back(std::string(60 * 1024, 'x'));
  link.send(heavy);
  auto refused = link.receive();
  CHECK(refused.first == "ERROR");
  CHECK_THAT(refused.second, Catch::Contains("limit"));
  CHECK(central.server->metrics().refused_message_bytes == 1);
  // Nothing of either was applied, and the link is still welcomed.
  CHECK(central.hall("h1").acked == 0);
  link.send(events_message(texts, 1, 3));
  auto ack = link.receive();
  CHECK(ack.first == "ACK");
  CHECK(ps::decode_ack(ack.second)->acked == 3);
}

TEST_CASE("a BLOB_GET storm is cut to the rate; the hall's other messages are still answered",
          "[central][sync][limits]") {
  Central central;
  RawLink link(central, central.h1);
  REQUIRE(link.hello("h1", 0).first == "WELCOME");
  const std::string sha(64, 'a');
  const int storm = 5000;
  for (int i = 0; i < storm; ++i) link.send({"BLOB_GET", ps::encode(ps::BlobGet{sha, 0, 1024})});
  link.send({"PING", "{}"});
  // Every GET that was let through is answered (denied: no case names it), then the PONG.
  int missing = 0;
  for (;;) {
    auto [verb, header] = link.receive();
    REQUIRE_FALSE(verb.empty());
    if (verb == "PONG") break;
    CHECK(verb == "BLOB_MISSING");
    ++missing;
  }
  const auto m = central.server->metrics();
  WARN("BLOB_GET storm in process: " << storm << " sent, " << missing << " answered, " << m.refused_blob_gets
                                     << " refused");
  CHECK(missing + static_cast<int>(m.refused_blob_gets) == storm);
  CHECK(missing >= 64);  // the burst
  CHECK(missing < 1000);  // 256 a second plus the burst, for the few seconds the storm takes
}

TEST_CASE("the edge refuses a DOWN past the frame limit from central, and applies the next good one",
          "[central][sync][limits]") {
  // A stand-in for central: a CURVE ROUTER (no allow-list needed for this side).
  TempDir dir;
  Keys server = make_keys(dir, "central", "");
  Keys hall_keys = make_keys(dir, "h1", "h1");
  zmq::context_t context;
  zmq::socket_t router(context, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  router.set(zmq::sockopt::curve_server, 1);
  router.set(zmq::sockopt::curve_secretkey, server.secret_key);
  router.set(zmq::sockopt::rcvtimeo, 5000);
  router.bind("tcp://127.0.0.1:0");
  const std::string endpoint = router.get(zmq::sockopt::last_endpoint);

  Hall hall("h1");
  std::mutex mutex;
  std::vector<std::string> commands;
  yiban::edge::sync::SyncClientOptions o;
  o.endpoint = endpoint;
  o.server_public_key = server.public_key;
  o.public_key = hall_keys.public_key;
  o.secret_key = hall_keys.secret_key;
  o.hall = "h1";
  o.db_path = hall.db();
  o.ping_ms = 60000;
  o.timeout_ms = 60000;
  yiban::edge::sync::SyncClient client(o, [&](std::string text) {
    std::lock_guard lock(mutex);
    commands.push_back(std::move(text));
  });
  REQUIRE(client.start());
  auto next = [&] {
    std::vector<zmq::message_t> m;
    REQUIRE(zmq::recv_multipart(router, std::back_inserter(m)));
    return m;
  };
  auto hello = next();
  REQUIRE(hello.at(1).to_string() == "HELLO");
  const std::string peer = hello[0].to_string();
  auto send = [&](std::vector<std::string> frames) {
    frames.insert(frames.begin(), peer);
    std::vector<zmq::const_buffer> buffers;
    for (auto& f : frames) buffers.push_back(zmq::buffer(f));
    REQUIRE(zmq::send_multipart(router, buffers));
  };
  send({"WELCOME", ps::encode(ps::Welcome{})});
  const std::string command = R"({"down_seq":1,"type":"notice.broadcast","data":{"text":"hi"}})";
  std::vector<std::string> many{"DOWN", ps::encode(ps::DownHeader{1, 1})};
  for (std::size_t i = 0; i < ps::kMaxItems + 1; ++i) many.push_back(command);
  send(many);
  auto error = next();
  REQUIRE(error.at(1).to_string() == "ERROR");
  CHECK_THAT(error.at(2).to_string(), Catch::Contains("limit"));
  REQUIRE(eventually([&] { return client.status().refused_messages == 1; }, 5s));
  {
    std::lock_guard lock(mutex);
    CHECK(commands.empty());  // nothing of it was handed on
  }
  send({"DOWN", ps::encode(ps::DownHeader{1, 1}), command});
  REQUIRE(eventually([&] {
    std::lock_guard lock(mutex);
    return commands.size() == 1;
  }, 5s));
  CHECK(client.status().state == "streaming");
  client.stop();
}
