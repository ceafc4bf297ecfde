#pragma once
// Central's booking platform (issue 7, protocol/BOOKINGS.md): the booking
// API for the city's app, each booking a transaction on the sync thread
// (group commit) that also queues the booking.add command for its hall; the
// hall's slot configuration sent to each hall once per version; and the
// rebalancing of unused central seats to connected halls before their slots.

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "sync/sync_server.h"
#include "yiban/central/central_store.h"
#include "yiban/runtime/http_server.h"
#include "yiban/protocol/bookings.h"
#include "yiban/protocol/time_zone.h"
#include "yiban/protocol/tokens.h"

namespace yiban::central::booking {

struct BookingServiceOptions {
  protocol::bookings::BookingConfig config;
  std::string case_key;  // the city's key: hashes applicants' IDs as the halls do
  std::string zoneinfo_root = "/usr/share/zoneinfo";
  int rebalance_every_ms = 30000;
  std::function<std::int64_t()> clock;  // ms since the epoch; default: the system clock
  // Reminders: confirmations and day-before reminders go to the outbox when
  // set; notify_wake is called after they are committed.
  bool notify = false;
  std::function<void()> notify_wake;
};

struct ReaderAccess {
  std::mutex* mutex = nullptr;
  CentralStore* store = nullptr;  // guarded by mutex
};

class BookingService {
 public:
  static protocol::Expected<std::unique_ptr<BookingService>> create(BookingServiceOptions options,
                                                                    sync::SyncServer& sync);
  ~BookingService();
  BookingService(const BookingService&) = delete;
  BookingService& operator=(const BookingService&) = delete;

  void add_routes(runtime::HttpServer& server,
                  std::function<std::optional<protocol::TokenGrant>(const runtime::HttpRequest&, runtime::HttpResponse&)>
                      authenticate,
                  ReaderAccess reader);
  // Sends each hall its slots (once per version) and starts rebalancing.
  void start();
  void stop();
  // One rebalancing pass now (tests); returns the seats moved.
  protocol::Expected<int> rebalance();
  // Prometheus lines of the recovery after a restore (per hall: recovering,
  // bookings and moved seats central lost and took back from the hall's log).
  std::string metrics_text();

 private:
  struct Impl;
  explicit BookingService(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace yiban::central::booking
