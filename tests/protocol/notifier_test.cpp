#include "yiban/runtime/notifier.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/test_support.h"
#include "yiban/runtime/httplib.h"

namespace {

using namespace std::chrono_literals;
using yiban::runtime::Database;
using yiban::runtime::Notifier;

constexpr char kSecret[] = "hall-webhook-secret";
constexpr auto kPatience = 10s;  // an awaited event that takes longer is a failure

// A webhook receiver on 127.0.0.1: answers each POST with status_for(n)
// (n = 1 for the first request) and records it. Optionally holds every
// request until the destructor. Stopped in the destructor.
class Receiver {
 public:
  struct Hit {
    std::string body;
    std::string signature;
    std::string delivery;
    std::string type;
    std::string content_type;
  };

  explicit Receiver(std::function<int(int)> status_for, bool hold = false)
      : status_for_(std::move(status_for)), hold_(hold) {
    server_.Post(".*", [this](const httplib::Request& req, httplib::Response& res) {
      std::unique_lock lock(mutex_);
      hits_.push_back({req.body, req.get_header_value("X-Yiban-Signature"), req.get_header_value("X-Yiban-Delivery"),
                       req.get_header_value("X-Yiban-Type"), req.get_header_value("Content-Type")});
      const int n = static_cast<int>(hits_.size());
      changed_.notify_all();
      changed_.wait(lock, [&] { return !hold_ || closing_; });
      res.status = status_for_(n);
      res.set_content("{}", "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }

  ~Receiver() {
    {
      std::lock_guard lock(mutex_);
      closing_ = true;
    }
    changed_.notify_all();
    // stop() is a no-op until the accept loop runs: wait for it first.
    for (int i = 0; i < 5000 && !server_.is_running(); ++i) std::this_thread::sleep_for(1ms);
    server_.stop();
    thread_.join();
  }

  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hooks/yiban"; }

  bool wait_for_hits(std::size_t n) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, kPatience, [&] { return hits_.size() >= n; });
  }

  std::vector<Hit> hits() {
    std::lock_guard lock(mutex_);
    return hits_;
  }

 private:
  std::function<int(int)> status_for_;
  httplib::Server server_;
  int port_ = -1;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable changed_;  // guarded by mutex_
  std::vector<Hit> hits_;  // guarded by mutex_
  bool hold_;  // guarded by mutex_
  bool closing_ = false;  // guarded by mutex_
};

// The owner's database: WAL, with the outbox migration applied.
Database owner_db(const std::filesystem::path& path) {
  auto db = Database::open(path.string());
  REQUIRE(db);
  REQUIRE(db->exec("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000;"));
  REQUIRE(db->exec(yiban::runtime::notify_schema()));
  return std::move(*db);
}

std::int64_t enqueue(Database& db, std::string_view type, std::string_view json, std::int64_t now_ms) {
  REQUIRE(db.exec("BEGIN IMMEDIATE"));
  auto id = yiban::runtime::enqueue_notification(db, type, json, now_ms);
  REQUIRE(db.exec(id ? "COMMIT" : "ROLLBACK"));
  REQUIRE(id);
  return *id;
}

struct OutboxRow {
  std::string state;
  std::int64_t attempts;
  std::int64_t next_ts;
  std::optional<std::string> last_error;
  std::optional<std::int64_t> delivered_ts;
  std::int64_t created_ts;
};

OutboxRow row_of(Database& db, std::int64_t id) {
  auto st = db.prepare(
      "SELECT state, attempts, next_ts, last_error, delivered_ts, created_ts FROM notify_outbox WHERE id = ?");
  REQUIRE(st);
  st->bind(1, id);
  auto row = st->step();
  REQUIRE(row);
  REQUIRE(*row);
  return {st->column_text(0),          st->column_int(1),          st->column_int(2),
          st->column_optional_text(3), st->column_optional_int(4), st->column_int(5)};
}

std::int64_t count_rows(Database& db) {
  auto st = db.prepare("SELECT count(*) FROM notify_outbox");
  REQUIRE(st);
  REQUIRE(st->step());
  return st->column_int(0);
}

Notifier::Options options_for(const std::filesystem::path& db_path, const std::string& url) {
  Notifier::Options o;
  o.db_path = db_path.string();
  o.url = url;
  o.secret = kSecret;
  o.timeout_ms = 2000;
  return o;
}

std::unique_ptr<Notifier> started(Notifier::Options options) {
  auto n = Notifier::create(std::move(options));
  INFO((n ? "" : n.error().message));
  REQUIRE(n);
  (*n)->start();
  (*n)->wake();
  return std::move(*n);
}

bool settled(Notifier& n, std::function<bool(const Notifier::Stats&)> pred) { return n.wait_until(pred, kPatience); }

}  // namespace

TEST_CASE("sign_body is HMAC-SHA256 in lower-case hex and verify_signature checks it", "[notifier][db]") {
  // RFC 4231 test case 2.
  CHECK(yiban::runtime::sign_body("Jefe", "what do ya want for nothing?") ==
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  const std::string body = R"({"a":1})";
  const std::string sig = yiban::runtime::sign_body(kSecret, body);
  CHECK(yiban::runtime::verify_signature(kSecret, body, sig));
  CHECK_FALSE(yiban::runtime::verify_signature(kSecret, R"({"a":2})", sig));
  CHECK_FALSE(yiban::runtime::verify_signature("other", body, sig));
  CHECK_FALSE(yiban::runtime::verify_signature(kSecret, body, sig.substr(7)));
  CHECK_FALSE(yiban::runtime::verify_signature(kSecret, body, ""));
}

TEST_CASE("a queued notification is delivered once, signed, with id, type and ts", "[notifier][db]") {
  yiban::test::TempDir dir;
  Receiver receiver([](int) { return 200; });
  auto db = owner_db(dir / "owner.db");
  const std::int64_t created = 1'767'000'000'000;
  const auto id = enqueue(db, "booking.confirmed", R"({"code":"B-7Q2","phone":"13800138000","slot":9})", created);

  auto notifier = started(options_for(dir / "owner.db", receiver.url()));
  REQUIRE(settled(*notifier, [](auto& s) { return s.delivered == 1 && s.pending == 0; }));

  auto hits = receiver.hits();
  REQUIRE(hits.size() == 1);
  const auto& hit = hits[0];
  CHECK(yiban::runtime::verify_signature(kSecret, hit.body, hit.signature));
  CHECK(hit.signature.starts_with("sha256="));
  CHECK(hit.content_type == "application/json");
  CHECK(hit.type == "booking.confirmed");
  auto body = nlohmann::json::parse(hit.body);
  CHECK(body["id"] == hit.delivery);
  CHECK(hit.delivery.starts_with("n-"));
  CHECK(hit.delivery.ends_with("-" + std::to_string(id)));
  CHECK(hit.delivery.size() > 2 + 1 + std::to_string(id).size());  // the per-database token
  CHECK(body["type"] == "booking.confirmed");
  CHECK(body["ts"] == created);
  CHECK(body["code"] == "B-7Q2");
  CHECK(body["phone"] == "13800138000");
  CHECK(body["slot"] == 9);

  auto row = row_of(db, id);
  CHECK(row.state == "delivered");
  CHECK(row.attempts == 1);
  CHECK(row.delivered_ts.has_value());
  CHECK_FALSE(row.last_error.has_value());
  auto s = notifier->stats();
  CHECK(s.retried == 0);
  CHECK(s.dead == 0);
}

TEST_CASE("a failed delivery is retried with a growing back-off until it is accepted", "[notifier][db]") {
  yiban::test::TempDir dir;
  Receiver receiver([](int n) { return n <= 2 ? 500 : 204; });
  auto db = owner_db(dir / "owner.db");
  yiban::test::FakeClock clock(1'000'000);
  const auto id = enqueue(db, "reminder.day_before", R"({"code":"B-1"})", clock.now_ms());

  auto options = options_for(dir / "owner.db", receiver.url());
  options.clock = [&] { return clock.now_ms(); };
  options.backoff_min_ms = 1000;
  auto notifier = started(options);

  REQUIRE(settled(*notifier, [](auto& s) { return s.retried == 1; }));
  auto first = row_of(db, id);
  CHECK(first.state == "pending");
  CHECK(first.attempts == 1);
  CHECK(first.last_error == "HTTP 500");
  const std::int64_t delay1 = first.next_ts - clock.now_ms();
  CHECK(delay1 >= 900);
  CHECK(delay1 <= 1100);

  // Not due yet: a wake() alone sends nothing.
  notifier->wake();
  CHECK_FALSE(notifier->wait_until([](auto& s) { return s.retried >= 2 || s.delivered > 0; }, 200ms));
  CHECK(receiver.hits().size() == 1);

  clock.set(first.next_ts);
  notifier->wake();
  REQUIRE(settled(*notifier, [](auto& s) { return s.retried == 2; }));
  auto second = row_of(db, id);
  CHECK(second.attempts == 2);
  const std::int64_t delay2 = second.next_ts - clock.now_ms();
  CHECK(delay2 >= 1800);
  CHECK(delay2 <= 2200);
  CHECK(delay2 > delay1);

  clock.set(second.next_ts);
  notifier->wake();
  REQUIRE(settled(*notifier, [](auto& s) { return s.delivered == 1; }));
  auto last = row_of(db, id);
  CHECK(last.state == "delivered");
  CHECK(last.attempts == 3);
  CHECK(last.delivered_ts == clock.now_ms());
  CHECK_FALSE(last.last_error.has_value());

  auto hits = receiver.hits();
  REQUIRE(hits.size() == 3);
  for (const auto& hit : hits) {  // the same delivery, byte for byte, each time
    CHECK(hit.delivery == hits[0].delivery);
    CHECK(hit.body == hits[0].body);
    CHECK(yiban::runtime::verify_signature(kSecret, hit.body, hit.signature));
  }
}

TEST_CASE("a notification that keeps failing is dead after max_attempts", "[notifier][db]") {
  yiban::test::TempDir dir;
  auto db = owner_db(dir / "owner.db");
  const auto id = enqueue(db, "turn.near", R"({"ticket":"A007"})", 1'000);

  auto options_to = [&](const std::string& url) {
    auto o = options_for(dir / "owner.db", url);
    o.max_attempts = 3;
    o.backoff_min_ms = 5;
    o.backoff_max_ms = 20;
    return o;
  };
  auto dead_once = [](auto& s) { return s.dead == 1 && s.pending == 0; };

  SECTION("the receiver always answers 500") {
    Receiver receiver([](int) { return 500; });
    auto notifier = started(options_to(receiver.url()));
    REQUIRE(settled(*notifier, dead_once));
    CHECK(receiver.hits().size() == 3);
    auto row = row_of(db, id);
    CHECK(row.state == "dead");
    CHECK(row.attempts == 3);
    CHECK(row.last_error == "HTTP 500");
    CHECK_FALSE(row.delivered_ts.has_value());
    auto s = notifier->stats();
    CHECK(s.delivered == 0);
    CHECK(s.retried == 2);
  }

  SECTION("nothing listens at the URL") {
    const int port = yiban::test::free_tcp_port();
    auto notifier = started(options_to("http://127.0.0.1:" + std::to_string(port) + "/hook"));
    REQUIRE(settled(*notifier, dead_once));
    auto row = row_of(db, id);
    CHECK(row.state == "dead");
    CHECK(row.attempts == 3);
    REQUIRE(row.last_error.has_value());
    CHECK(row.last_error->starts_with("no answer"));
    CHECK(notifier->stats().delivered == 0);
  }
}

TEST_CASE("a notification queued in a rolled-back transaction is never sent", "[notifier][db]") {
  yiban::test::TempDir dir;
  Receiver receiver([](int) { return 200; });
  auto db = owner_db(dir / "owner.db");

  REQUIRE(db.exec("BEGIN IMMEDIATE"));
  REQUIRE(yiban::runtime::enqueue_notification(db, "booking.confirmed", R"({"code":"ROLLED-BACK"})", 1'000));
  REQUIRE(db.exec("ROLLBACK"));
  const auto kept = enqueue(db, "booking.cancelled", R"({"code":"KEPT"})", 2'000);
  CHECK(count_rows(db) == 1);

  auto notifier = started(options_for(dir / "owner.db", receiver.url()));
  REQUIRE(settled(*notifier, [](auto& s) { return s.delivered == 1 && s.pending == 0; }));
  auto hits = receiver.hits();
  REQUIRE(hits.size() == 1);
  CHECK(hits[0].type == "booking.cancelled");
  CHECK(nlohmann::json::parse(hits[0].body)["code"] == "KEPT");
  CHECK(row_of(db, kept).state == "delivered");
}

TEST_CASE("enqueue_notification refuses what it cannot send and needs a transaction", "[notifier][db]") {
  yiban::test::TempDir dir;
  auto db = owner_db(dir / "owner.db");
  auto refused = [&](std::string_view type, std::string_view json) {
    REQUIRE(db.exec("BEGIN"));
    auto id = yiban::runtime::enqueue_notification(db, type, json, 1);
    REQUIRE(db.exec("ROLLBACK"));
    return id ? std::string() : id.error().message;
  };
  CHECK(refused("x", "[1,2]").find("not a JSON object") != std::string::npos);
  CHECK(refused("x", "{nope").find("not a JSON object") != std::string::npos);
  CHECK(refused("x", R"({"id":"mine"})").find("\"id\"") != std::string::npos);
  CHECK(refused("x", R"({"ts":1})").find("\"ts\"") != std::string::npos);
  CHECK(refused("", "{}").find("type") != std::string::npos);
  CHECK(refused("Bad Type\r\n", "{}").find("type") != std::string::npos);
  CHECK(refused("x", "{\"k\":\"" + std::string(70 * 1024, 'a') + "\"}").find("64 KiB") != std::string::npos);

  auto outside = yiban::runtime::enqueue_notification(db, "x", "{}", 1);
  REQUIRE_FALSE(outside);
  CHECK(outside.error().message.find("transaction") != std::string::npos);
  CHECK(count_rows(db) == 0);
}

TEST_CASE("delivered notifications stay delivered across a restart and pending ones go out after it",
          "[notifier][db]") {
  yiban::test::TempDir dir;
  Receiver receiver([](int) { return 200; });
  auto db = owner_db(dir / "owner.db");
  const auto before = enqueue(db, "booking.confirmed", R"({"code":"BEFORE"})", 1'000);
  {
    auto notifier = started(options_for(dir / "owner.db", receiver.url()));
    REQUIRE(settled(*notifier, [](auto& s) { return s.delivered == 1 && s.pending == 0; }));
    // Idle: the thread sleeps up to a minute; stop() must cut that short.
    auto t0 = std::chrono::steady_clock::now();
    notifier->stop();
    CHECK(std::chrono::steady_clock::now() - t0 < 2s);
  }
  const auto after = enqueue(db, "booking.confirmed", R"({"code":"AFTER"})", 2'000);

  auto notifier = started(options_for(dir / "owner.db", receiver.url()));
  REQUIRE(settled(*notifier, [](auto& s) { return s.delivered == 1 && s.pending == 0; }));
  auto hits = receiver.hits();
  REQUIRE(hits.size() == 2);
  CHECK(nlohmann::json::parse(hits[0].body)["code"] == "BEFORE");
  CHECK(nlohmann::json::parse(hits[1].body)["code"] == "AFTER");
  CHECK(hits[0].delivery != hits[1].delivery);
  CHECK(hits[0].delivery.ends_with("-" + std::to_string(before)));
  CHECK(hits[1].delivery.ends_with("-" + std::to_string(after)));
  // The same database keeps its token: only the row id differs.
  CHECK(hits[0].delivery.substr(0, hits[0].delivery.rfind('-')) ==
        hits[1].delivery.substr(0, hits[1].delivery.rfind('-')));
  CHECK(row_of(db, before).state == "delivered");
  CHECK(row_of(db, after).state == "delivered");
}

TEST_CASE("stop() cuts short a delivery in flight and the row stays pending", "[notifier][db]") {
  yiban::test::TempDir dir;
  Receiver receiver([](int) { return 200; }, /*hold=*/true);
  auto db = owner_db(dir / "owner.db");
  const auto id = enqueue(db, "turn.near", R"({"ticket":"A007"})", 1'000);
  auto options = options_for(dir / "owner.db", receiver.url());
  options.timeout_ms = 30000;
  auto notifier = started(options);
  REQUIRE(receiver.wait_for_hits(1));
  auto t0 = std::chrono::steady_clock::now();
  notifier->stop();
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);
  auto row = row_of(db, id);
  CHECK(row.state == "pending");
  CHECK(row.attempts == 0);
  auto s = notifier->stats();
  CHECK(s.delivered == 0);
  CHECK(s.retried == 0);
}

TEST_CASE("Notifier::create refuses bad options, naming the option", "[notifier][db]") {
  yiban::test::TempDir dir;
  { auto db = owner_db(dir / "owner.db"); }
  auto error_of = [&](auto change) {
    auto o = options_for(dir / "owner.db", "http://127.0.0.1:8080/hook");
    change(o);
    auto n = Notifier::create(o);
    return n ? std::string() : n.error().message;
  };
  CHECK(error_of([](auto&) {}).empty());
  for (const char* url : {"", "ftp://example.org/hook", "127.0.0.1:8080/hook", "http://", "http://:80/x",
                          "http://host:99999/x", "http://host:port/x", "http://host:/x", "http://a b/x",
                          "http://user@host/x"}) {
    INFO(url);
    CHECK(error_of([&](auto& o) { o.url = url; }).starts_with("url: "));
  }
  CHECK(error_of([](auto& o) { o.url = "http://hooks.example.org"; }).empty());
  CHECK(error_of([](auto& o) { o.url = "http://[::1]:9000/h"; }).empty());
  CHECK(error_of([](auto& o) { o.url = "https://hooks.example.org/h"; }).empty());
  CHECK(error_of([&](auto& o) {
          o.url = "https://hooks.example.org/h";
          o.ca_file = (dir / "missing-ca.crt").string();
        }).starts_with("ca_file: "));
  CHECK(error_of([](auto& o) { o.secret = ""; }).starts_with("secret: "));
  CHECK(error_of([](auto& o) { o.max_attempts = 0; }).starts_with("max_attempts: "));
  CHECK(error_of([](auto& o) { o.backoff_min_ms = 0; }).starts_with("backoff_min_ms: "));
  CHECK(error_of([](auto& o) { o.backoff_max_ms = 10; }).starts_with("backoff_max_ms: "));
  CHECK(error_of([](auto& o) { o.timeout_ms = 0; }).starts_with("timeout_ms: "));
  CHECK(error_of([](auto& o) { o.batch = 0; }).starts_with("batch: "));
  CHECK(error_of([&](auto& o) { o.db_path = (dir / "missing.db").string(); }).starts_with("db_path: "));
  {
    auto bare = Database::open((dir / "bare.db").string());
    REQUIRE(bare);
    REQUIRE(bare->exec("CREATE TABLE other(x)"));
  }
  CHECK(error_of([&](auto& o) { o.db_path = (dir / "bare.db").string(); }).find("notify_schema") !=
        std::string::npos);
}

TEST_CASE("an https receiver is delivered to when its certificate is trusted, and refused otherwise",
          "[notifier][db]") {
  yiban::test::TempDir dir;
  const auto cert = (dir / "hook.crt").string(), key = (dir / "hook.key").string();
  // A self-signed certificate for 127.0.0.1: its own CA.
  REQUIRE(yiban::test::run_program("/usr/bin/openssl",
                                   {"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                    "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                                    "-addext", "subjectAltName=IP:127.0.0.1"},
                                   dir / "openssl.log") == 0);
  std::mutex mutex;
  std::vector<std::pair<std::string, std::string>> hits;  // body, signature; guarded by mutex
  httplib::SSLServer server(cert.c_str(), key.c_str());
  REQUIRE(server.is_valid());
  server.Post("/hooks/yiban", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mutex);
    hits.emplace_back(req.body, req.get_header_value("X-Yiban-Signature"));
    res.status = 204;
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  REQUIRE(port > 0);
  std::thread thread([&] { server.listen_after_bind(); });
  struct Stop {  // also when an assertion fails
    httplib::SSLServer& server;
    std::thread& thread;
    ~Stop() {
      for (int i = 0; i < 5000 && !server.is_running(); ++i) std::this_thread::sleep_for(1ms);
      server.stop();
      thread.join();
    }
  } stop{server, thread};
  const std::string url = "https://127.0.0.1:" + std::to_string(port) + "/hooks/yiban";

  {  // Not trusted (the system's CAs): a failed attempt, retried.
    yiban::test::TempDir other;
    auto db = owner_db(other / "owner.db");
    const auto id = enqueue(db, "turn.near", R"({"ticket":"A001"})", 1'000);
    auto notifier = started(options_for(other / "owner.db", url));
    REQUIRE(settled(*notifier, [](auto& s) { return s.retried >= 1; }));
    notifier->stop();
    auto row = row_of(db, id);
    CHECK(row.state == "pending");
    REQUIRE(row.last_error.has_value());
    CHECK_THAT(*row.last_error, Catch::Contains("not trusted"));
  }

  auto db = owner_db(dir / "owner.db");
  enqueue(db, "turn.near", R"({"ticket":"A007"})", 1'000);
  enqueue(db, "turn.near", R"({"ticket":"A008"})", 1'001);
  auto options = options_for(dir / "owner.db", url);
  options.ca_file = cert;
  auto notifier = started(options);
  REQUIRE(settled(*notifier, [](auto& s) { return s.delivered == 2 && s.pending == 0; }));
  std::lock_guard lock(mutex);
  REQUIRE(hits.size() == 2);
  for (const auto& [body, signature] : hits) CHECK(yiban::runtime::verify_signature(kSecret, body, signature));
}
