#pragma once
// Speaks announcements one after another, each in full, in arrival order: a
// new one waits for the current one to finish, never cuts it off.
// Owns one thread (the speaker thread) that calls the Speaker; enqueue() and
// the queries are thread-safe.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace yiban::devices {

class Announcer {
 public:
  // Called on the speaker thread; returns when the text has been spoken in full.
  using Speaker = std::function<void(const std::string&)>;

  explicit Announcer(Speaker speaker);
  ~Announcer();  // speaks what is still queued, then joins
  Announcer(const Announcer&) = delete;
  Announcer& operator=(const Announcer&) = delete;

  void enqueue(std::string text);
  // Every text ever enqueued, in order (spoken or not yet).
  std::vector<std::string> queued() const;
  // Texts spoken in full so far, in order.
  std::vector<std::string> spoken() const;
  // Waits until nothing is queued or being spoken.
  bool wait_idle(std::chrono::milliseconds timeout);

 private:
  void run();

  Speaker speaker_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::string> pending_;  // guarded by mutex_
  std::vector<std::string> queued_;  // guarded by mutex_
  std::vector<std::string> spoken_;  // guarded by mutex_
  bool speaking_ = false;            // guarded by mutex_
  bool stopping_ = false;            // guarded by mutex_
  std::thread thread_;
};

// A speaker for the terminal: prints "[播报] TEXT" through print and, when
// use_voice and espeak-ng is on PATH, also runs `espeak-ng -v cmn TEXT` and
// waits for it to finish.
Announcer::Speaker make_console_speaker(bool use_voice,
                                        std::function<void(const std::string&)> print);
// Whether an executable named program is on PATH.
bool program_on_path(const std::string& program);

}  // namespace yiban::devices
