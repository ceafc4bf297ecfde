#pragma once
// Load helpers for process tests: kiosks that keep taking tickets through the
// real broker, and a check of a store's hash chain.

#include <atomic>
#include <filesystem>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "support/mqtt_test_client.h"

namespace yiban::test {

// Recomputes the hash chain over an edge store's event texts and compares it
// with the stored chain values: true when every link holds.
bool chain_verifies(const std::filesystem::path& db);

// A kiosk that keeps taking tickets; a request that times out is retried with
// the same correlation data until it is answered.
class TicketStream {
 public:
  TicketStream(const std::string& uri, std::string client_id, std::string device, std::string hall = "test-hall")
      : client_(uri, client_id), id_(std::move(client_id)), device_(std::move(device)), hall_(std::move(hall)) {
    thread_ = std::thread([this] { loop(); });
  }
  ~TicketStream() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // Stops issuing new requests once the pending one is answered.
  void finish() { finishing_ = true; }
  bool drained() const { return finishing_ && !pending_; }
  std::size_t ok_count() const { return ok_count_.load(); }
  std::set<std::string> tickets() const {
    std::lock_guard lock(mutex_);
    return tickets_;
  }

 private:
  void loop();

  MqttTestClient client_;
  std::string id_;
  std::string device_;
  std::string hall_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> finishing_{false};
  std::atomic<bool> pending_{false};
  std::atomic<std::size_t> ok_count_{0};
  mutable std::mutex mutex_;
  std::set<std::string> tickets_;  // guarded by mutex_
};


}  // namespace yiban::test
