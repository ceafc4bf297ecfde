#include "yiban/runtime/notifier.h"

#include <nlohmann/json.hpp>
#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "yiban/runtime/http_client.h"
#include "yiban/protocol/cases.h"

namespace yiban::runtime {
namespace {

using protocol::error;

constexpr std::size_t kMaxBodyBytes = 64 * 1024;
constexpr std::size_t kMaxTypeBytes = 64;
// A receiver's reply body is not used; a longer one is a failed attempt.
constexpr std::size_t kMaxReplyBytes = 1 << 20;
// With nothing due the thread still looks every minute, in case a row was
// committed without a wake() (another process, a forgetful owner).
constexpr std::int64_t kIdleRecheckMs = 60000;

constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS notify_outbox(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  type TEXT NOT NULL,
  body TEXT NOT NULL,
  created_ts INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_ts INTEGER NOT NULL,
  last_error TEXT,
  delivered_ts INTEGER
);
CREATE INDEX IF NOT EXISTS notify_outbox_pending ON notify_outbox(next_ts) WHERE state = 'pending';
CREATE TABLE IF NOT EXISTS notify_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO notify_meta(key, value) VALUES ('delivery_token', lower(hex(randomblob(6))));
)sql";

bool valid_type(std::string_view type) {
  if (type.empty() || type.size() > kMaxTypeBytes) return false;
  return std::all_of(type.begin(), type.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
  });
}

bool equal_constant_time(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

std::int64_t system_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// What the delivery thread's client is made with; create() also makes one
// to check the URL and the CA file.
HttpClient::Options client_options(const Notifier::Options& o) {
  HttpClient::Options c;
  c.timeout = std::chrono::milliseconds(o.timeout_ms);
  c.max_body_bytes = kMaxReplyBytes;
  c.ca_file = o.ca_file;
  return c;
}

Expected<void> validate(const Notifier::Options& o) {
  if (o.db_path.empty()) return error("db_path: empty");
  if (o.secret.empty()) return error("secret: empty; webhooks must be signed");
  if (o.max_attempts < 1) return error("max_attempts: must be at least 1");
  if (o.backoff_min_ms < 1) return error("backoff_min_ms: must be at least 1");
  if (o.backoff_max_ms < o.backoff_min_ms) return error("backoff_max_ms: must be at least backoff_min_ms");
  if (o.timeout_ms < 1 || o.timeout_ms > 600000) return error("timeout_ms: must be 1–600000");
  if (o.batch < 1) return error("batch: must be at least 1");
  // The URL ("url: …") and, for https, the CA file ("ca_file: …").
  if (auto client = HttpClient::create(o.url, client_options(o)); !client) return std::unexpected(client.error());
  return {};
}

struct Row {
  std::int64_t id;
  std::string type;
  std::string payload;
  std::int64_t created_ts;
  std::int64_t attempts;
};

class NotifierImpl final : public Notifier {
 public:
  NotifierImpl(Options options, Database db, std::string token)
      : options_(std::move(options)),
        db_(std::move(db)),
        token_(std::move(token)),
        random_(std::random_device{}()) {}

  ~NotifierImpl() override { stop(); }

  void start() override {
    std::lock_guard lock(mutex_);
    if (thread_.joinable()) return;
    stopping_ = false;
    woken_ = true;
    thread_ = std::thread([this] { run(); });
  }

  void stop() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      // Shuts the request in flight down at once (cancel() is the one
      // HttpClient call safe from another thread); the delivery thread sees
      // stopping_ and does not count it. A later start() makes a new client.
      if (client_) client_->cancel();
      client_.reset();
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  void wake() override {
    {
      std::lock_guard lock(mutex_);
      woken_ = true;
    }
    wake_.notify_all();
  }

  Stats stats() const override {
    std::lock_guard lock(stats_mutex_);
    return stats_;
  }

  bool wait_until(const std::function<bool(const Stats&)>& pred, std::chrono::milliseconds timeout) override {
    std::unique_lock lock(stats_mutex_);
    return stats_changed_.wait_for(lock, timeout, [&] { return pred(stats_); });
  }

 private:
  std::int64_t now() const { return options_.clock(); }

  bool stopping() {
    std::lock_guard lock(mutex_);
    return stopping_;
  }

  template <class F>
  void update_stats(F&& f) {
    {
      std::lock_guard lock(stats_mutex_);
      f(stats_);
    }
    stats_changed_.notify_all();
  }

  // The delivery thread: passes over the due rows, then sleeps until the
  // earliest next_ts, a wake() or stop().
  void run() {
    pthread_setname_np(pthread_self(), "notify");
    spdlog::info("notify: delivering to {}", options_.url);
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      woken_ = false;
      lock.unlock();
      std::int64_t wait_ms = pass();
      lock.lock();
      if (stopping_ || woken_) continue;
      wake_.wait_for(lock, std::chrono::milliseconds(wait_ms), [&] { return stopping_ || woken_; });
    }
    spdlog::info("notify: stopped");
  }

  // Delivers every due row; returns how long to sleep (ms).
  std::int64_t pass() {
    for (;;) {
      auto rows = due_rows();
      if (!rows) {
        spdlog::error("notify: reading the outbox failed: {}", rows.error().message);
        return options_.backoff_min_ms;
      }
      for (const Row& row : *rows) {
        if (stopping()) return 0;
        if (auto ok = deliver(row); !ok) {
          spdlog::error("notify: recording notification {} ({}) failed: {}", row.id, row.type, ok.error().message);
          return options_.backoff_min_ms;
        }
      }
      if (static_cast<int>(rows->size()) < options_.batch) break;
    }
    auto next = next_due();
    if (!next) {
      spdlog::error("notify: reading the outbox failed: {}", next.error().message);
      return options_.backoff_min_ms;
    }
    if (!*next) return kIdleRecheckMs;
    return std::clamp<std::int64_t>(**next - now(), 0, kIdleRecheckMs);
  }

  Expected<std::vector<Row>> due_rows() {
    auto st = db_.prepare(
        "SELECT id, type, body, created_ts, attempts FROM notify_outbox "
        "WHERE state = 'pending' AND next_ts <= ? ORDER BY id LIMIT ?");
    if (!st) return std::unexpected(st.error());
    st->bind(1, now()).bind(2, options_.batch);
    std::vector<Row> rows;
    for (;;) {
      auto more = st->step();
      if (!more) return std::unexpected(more.error());
      if (!*more) break;
      rows.push_back({st->column_int(0), st->column_text(1), st->column_text(2), st->column_int(3), st->column_int(4)});
    }
    return rows;
  }

  // The earliest next_ts of a pending row (nullopt: none); also refreshes stats().pending.
  Expected<std::optional<std::int64_t>> next_due() {
    auto st = db_.prepare("SELECT count(*), min(next_ts) FROM notify_outbox WHERE state = 'pending'");
    if (!st) return std::unexpected(st.error());
    auto row = st->step();
    if (!row) return std::unexpected(row.error());
    auto pending = static_cast<std::uint64_t>(st->column_int(0));
    update_stats([&](Stats& s) { s.pending = pending; });
    return st->column_optional_int(1);
  }

  std::int64_t backoff_ms(std::int64_t attempts) {
    std::int64_t delay = options_.backoff_min_ms;
    for (std::int64_t i = 1; i < attempts && delay < options_.backoff_max_ms; ++i) delay *= 2;
    delay = std::min(delay, options_.backoff_max_ms);
    std::uniform_real_distribution<double> jitter(-0.1, 0.1);
    delay += static_cast<std::int64_t>(static_cast<double>(delay) * jitter(random_));
    return std::clamp<std::int64_t>(delay, 1, options_.backoff_max_ms);
  }

  // One attempt at one row, its outcome written in its own transaction.
  Expected<void> deliver(const Row& row) {
    const std::string delivery_id = "n-" + token_ + "-" + std::to_string(row.id);
    auto payload = nlohmann::json::parse(row.payload, nullptr, false);
    if (!payload.is_object()) return record_dead(row, row.attempts, "stored body is not a JSON object");
    payload["id"] = delivery_id;
    payload["type"] = row.type;
    payload["ts"] = row.created_ts;
    const std::string body = payload.dump();

    const HttpHeaders headers{{"X-Yiban-Signature", sign_body(options_.secret, body)},
                              {"X-Yiban-Delivery", delivery_id},
                              {"X-Yiban-Type", row.type}};
    std::optional<int> status;
    std::string failure;
    {
      std::shared_ptr<HttpClient> client;
      {
        std::lock_guard lock(mutex_);
        if (stopping_) return {};
        if (!client_) {
          // Kept across deliveries (one connection, kept alive) until stop().
          auto made = HttpClient::create(options_.url, client_options(options_));
          if (made)
            client_ = std::make_shared<HttpClient>(std::move(*made));
          else
            failure = "no client: " + made.error().message;  // e.g. the CA file went away
        }
        client = client_;
      }
      if (client) {
        // The URL's own path (and query) is the target.
        auto result = client->post("", body, "application/json", headers);
        {
          std::lock_guard lock(mutex_);
          // Cut short by stop(): neither a delivery nor a failed attempt.
          if (stopping_ && !result) return {};
        }
        if (result)
          status = result->status;
        else
          failure = "no answer: " + result.error().message;
      }
    }

    if (status && *status >= 200 && *status < 300) {
      auto st = db_.prepare(
          "UPDATE notify_outbox SET state = 'delivered', attempts = attempts + 1, delivered_ts = ?, "
          "last_error = NULL WHERE id = ? AND state = 'pending'");
      if (!st) return std::unexpected(st.error());
      if (auto ok = st->bind(1, now()).bind(2, row.id).run(); !ok) return ok;
      spdlog::info("notify: notification {} ({}) delivered as {}: HTTP {} at attempt {}", row.id, row.type,
                   delivery_id, *status, row.attempts + 1);
      update_stats([](Stats& s) { ++s.delivered; });
      return {};
    }
    if (status) failure = "HTTP " + std::to_string(*status);
    const std::int64_t attempts = row.attempts + 1;
    if (attempts >= options_.max_attempts) return record_dead(row, attempts, failure);

    const std::int64_t delay = backoff_ms(attempts);
    auto st = db_.prepare(
        "UPDATE notify_outbox SET attempts = ?, last_error = ?, next_ts = ? WHERE id = ? AND state = 'pending'");
    if (!st) return std::unexpected(st.error());
    if (auto ok = st->bind(1, attempts).bind(2, failure).bind(3, now() + delay).bind(4, row.id).run(); !ok)
      return ok;
    spdlog::warn("notify: notification {} ({}) attempt {} failed: {}; retrying in {} ms", row.id, row.type, attempts,
                 failure, delay);
    update_stats([](Stats& s) { ++s.retried; });
    return {};
  }

  Expected<void> record_dead(const Row& row, std::int64_t attempts, const std::string& failure) {
    auto st = db_.prepare(
        "UPDATE notify_outbox SET state = 'dead', attempts = ?, last_error = ? WHERE id = ? AND state = 'pending'");
    if (!st) return std::unexpected(st.error());
    if (auto ok = st->bind(1, attempts).bind(2, failure).bind(3, row.id).run(); !ok) return ok;
    spdlog::error("notify: notification {} ({}) dead after {} attempts: last error {}", row.id, row.type, attempts,
                  failure);
    update_stats([](Stats& s) { ++s.dead; });
    return {};
  }

  const Options options_;
  Database db_;  // used by the delivery thread only, once started
  const std::string token_;
  std::mt19937_64 random_;  // delivery thread only

  std::mutex mutex_;
  std::condition_variable wake_;  // guarded by mutex_
  bool stopping_ = false;  // guarded by mutex_
  bool woken_ = false;  // guarded by mutex_
  // The delivery thread's client, made at its first delivery; stop() cancels
  // and drops it (the thread keeps its own reference while a request runs).
  std::shared_ptr<HttpClient> client_;  // guarded by mutex_
  std::thread thread_;  // started and joined under the callers' start()/stop()

  mutable std::mutex stats_mutex_;
  std::condition_variable stats_changed_;  // guarded by stats_mutex_
  Stats stats_;  // guarded by stats_mutex_
};

}  // namespace

std::string_view notify_schema() { return kSchema; }

Expected<std::int64_t> enqueue_notification(Database& db, std::string_view type, std::string_view json_object_text,
                                            std::int64_t now_ms) {
  if (!valid_type(type)) return error("notification type: 1–64 of a-z, 0-9, '.', '_', '-'");
  if (json_object_text.size() > kMaxBodyBytes) return error("notification body: larger than 64 KiB");
  auto payload = nlohmann::json::parse(json_object_text, nullptr, false);
  if (!payload.is_object()) return error("notification body: not a JSON object");
  for (const char* reserved : {"id", "type", "ts"})
    if (payload.contains(reserved))
      return error(std::string("notification body: \"") + reserved + "\" is set by the notifier");
  if (!db.in_transaction()) return error("enqueue_notification: needs the caller's open transaction");
  auto st = db.prepare(
      "INSERT INTO notify_outbox(type, body, created_ts, state, attempts, next_ts) VALUES (?, ?, ?, 'pending', 0, ?)");
  if (!st) return std::unexpected(st.error());
  if (auto ok = st->bind(1, type).bind(2, payload.dump()).bind(3, now_ms).bind(4, now_ms).run(); !ok)
    return std::unexpected(ok.error());
  return db.last_insert_rowid();
}

std::string sign_body(std::string_view secret, std::string_view body) {
  return "sha256=" + protocol::cases::keyed_hash(secret, body);  // HMAC-SHA256, lower-case hex
}

bool verify_signature(std::string_view secret, std::string_view body, std::string_view header) {
  return equal_constant_time(sign_body(secret, body), header);
}

Expected<std::unique_ptr<Notifier>> Notifier::create(Options options) {
  if (auto ok = validate(options); !ok) return std::unexpected(ok.error());
  if (!options.clock) options.clock = system_now_ms;
  std::error_code ec;
  if (!std::filesystem::exists(options.db_path, ec))
    return error("db_path: " + options.db_path + " does not exist (the owner creates it and the outbox)");
  auto db = Database::open(options.db_path);
  if (!db) return error("db_path: " + db.error().message);
  if (auto ok = db->exec("PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL;"); !ok)
    return error("db_path: " + ok.error().message);
  auto st = db->prepare("SELECT value FROM notify_meta WHERE key = 'delivery_token'");
  if (!st) return error("db_path: " + options.db_path + " has no outbox (run notify_schema() in a migration): " +
                        st.error().message);
  auto row = st->step();
  if (!row) return error("db_path: " + row.error().message);
  if (!*row) return error("db_path: " + options.db_path + " has no delivery token in notify_meta");
  std::string token = st->column_text(0);
  st = Statement();
  return std::unique_ptr<Notifier>(
      std::make_unique<NotifierImpl>(std::move(options), std::move(*db), std::move(token)));
}

}  // namespace yiban::runtime
