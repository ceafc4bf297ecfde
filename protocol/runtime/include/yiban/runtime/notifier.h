#pragma once
// A durable webhook notifier (protocol/BOOKINGS.md "Reminders"): a
// transactional outbox in the owner's own SQLite database and one delivery
// thread that POSTs each queued notification, signed, to one URL.
//
// The owner queues a notification with enqueue_notification() inside the same
// transaction as the change that causes it, so a rolled-back change sends
// nothing, and calls Notifier::wake() after committing. Delivery is at least
// once: a receiver deduplicates on X-Yiban-Delivery (unique across restarts
// and across databases: it carries a random token made when the schema was
// created).
//
// Row states: pending → delivered (a 2xx answer) | dead (max_attempts failed
// attempts). A failed attempt (non-2xx, timeout, no connection) keeps the row
// pending with next_ts = now + backoff_min_ms × 2^(attempts-1), capped at
// backoff_max_ms, ±10% jitter. Rows are never deleted here.
//
// One Notifier per database file: two would both deliver the same rows.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "yiban/runtime/sqlite.h"

namespace yiban::runtime {

// The CREATE statements of the outbox (notify_outbox, its index of pending
// rows by next_ts, and notify_meta holding the delivery-id token). The owner
// runs them in one of its own migrations; they are idempotent.
std::string_view notify_schema();

// Queues a notification of `type` (1–64 of [a-z0-9._-]) whose payload is
// json_object_text, a JSON object of at most 64 KiB without the reserved
// fields "id", "type" and "ts" (the notifier adds them). Must run inside the
// caller's open transaction on db; returns the row id. Changes nothing on error.
Expected<std::int64_t> enqueue_notification(Database& db, std::string_view type, std::string_view json_object_text,
                                            std::int64_t now_ms);

// The X-Yiban-Signature value for body: "sha256=" + lower-case hex
// HMAC-SHA256(secret, body).
std::string sign_body(std::string_view secret, std::string_view body);
// True when header is sign_body(secret, body); compares in constant time.
bool verify_signature(std::string_view secret, std::string_view body, std::string_view header);

class Notifier {
 public:
  struct Options {
    std::string db_path;  // the owner's database, which holds notify_outbox
    // http://host[:port][/path] or https://…: the POST goes to the URL's own
    // path; https verifies the receiver's certificate and name (HttpClient).
    std::string url;
    std::string ca_file;  // https: PEM CA certificates to trust; "" = the system's
    std::string secret;  // HMAC key bytes; not empty
    int max_attempts = 8;
    std::int64_t backoff_min_ms = 1000;
    std::int64_t backoff_max_ms = 300000;
    std::int64_t timeout_ms = 5000;  // connect, read and write, each
    int batch = 50;  // due rows read per query
    std::function<std::int64_t()> clock;  // ms since the epoch; default the system clock
  };

  struct Stats {
    std::uint64_t delivered = 0;  // since create()
    std::uint64_t retried = 0;  // failed attempts that will be retried, since create()
    std::uint64_t dead = 0;  // since create()
    std::uint64_t pending = 0;  // pending rows as of the delivery thread's last pass
  };

  // Validates the options (an error names the option: "url: …",
  // "ca_file: …") and opens the
  // notifier's own connection (WAL, busy_timeout 5000) to db_path, which must
  // already hold the outbox (notify_schema()). Does not start delivering.
  static Expected<std::unique_ptr<Notifier>> create(Options options);

  // Stops and joins. Never throws.
  virtual ~Notifier() = default;

  // Starts the delivery thread (no-op when running). Thread-safe.
  virtual void start() = 0;
  // Interrupts waits and an HTTP request in flight (HttpClient::cancel()
  // from the caller's thread shuts its socket down at once; its row stays
  // pending, not counted as an attempt) and joins. Idempotent; start() may
  // follow.
  virtual void stop() = 0;
  // New rows were committed: look at the outbox now. Thread-safe, cheap.
  virtual void wake() = 0;
  virtual Stats stats() const = 0;
  // Waits until pred(stats()) holds (checked at each change) or timeout;
  // returns whether it held. For owners draining at shutdown and for tests.
  virtual bool wait_until(const std::function<bool(const Stats&)>& pred, std::chrono::milliseconds timeout) = 0;
};

}  // namespace yiban::runtime
