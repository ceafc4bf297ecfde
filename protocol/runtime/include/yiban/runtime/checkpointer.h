#pragma once
// Moves the WAL into the database file on its own thread and connection, so
// the hall's engine thread never waits for a checkpoint (a PASSIVE checkpoint
// runs alongside a writer; SQLite restarts the WAL at the next write once it
// has been copied back). Owned by the daemon; stop() or the destructor joins.

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include <sqlite3.h>

namespace yiban::runtime {

class Checkpointer {
 public:
  explicit Checkpointer(std::string path, int min_interval_ms = 500);
  ~Checkpointer();
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  // Something was committed: checkpoint soon (at most once per interval).
  void notify();
  void stop();

 private:
  void run();

  std::string path_;
  int min_interval_ms_;
  std::mutex mutex_;
  std::condition_variable wake_;  // guarded by mutex_
  bool pending_ = false;  // guarded by mutex_
  bool stopping_ = false;  // guarded by mutex_
  std::thread thread_;
};

}  // namespace yiban::runtime
