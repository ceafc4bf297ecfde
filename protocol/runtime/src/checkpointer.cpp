#include "yiban/runtime/checkpointer.h"

#include <spdlog/spdlog.h>

#include <chrono>

namespace yiban::runtime {

Checkpointer::Checkpointer(std::string path, int min_interval_ms)
    : path_(std::move(path)), min_interval_ms_(min_interval_ms), thread_([this] { run(); }) {}

Checkpointer::~Checkpointer() { stop(); }

void Checkpointer::notify() {
  {
    std::lock_guard lock(mutex_);
    pending_ = true;
  }
  wake_.notify_one();
}

void Checkpointer::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void Checkpointer::run() {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
    spdlog::warn("store: checkpoint connection to {} failed: {}; SQLite's own checkpoints remain", path_,
                 db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_close(db);
    return;
  }
  sqlite3_busy_timeout(db, 1000);
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    wake_.wait(lock, [&] { return pending_ || stopping_; });
    if (stopping_) break;
    pending_ = false;
    lock.unlock();
    int wal_frames = 0;
    int copied = 0;
    int rc = sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, &wal_frames, &copied);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) spdlog::warn("store: checkpoint failed: {}", sqlite3_errmsg(db));
    lock.lock();
    wake_.wait_for(lock, std::chrono::milliseconds(min_interval_ms_), [&] { return stopping_; });
  }
  lock.unlock();
  sqlite3_close(db);
}

}  // namespace yiban::runtime
