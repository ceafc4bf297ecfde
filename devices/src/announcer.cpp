#include "yiban/devices/announcer.h"

#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string_view>

namespace yiban::devices {

Announcer::Announcer(Speaker speaker) : speaker_(std::move(speaker)), thread_([this] { run(); }) {}

Announcer::~Announcer() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    changed_.notify_all();
  }
  thread_.join();
}

void Announcer::enqueue(std::string text) {
  std::lock_guard lock(mutex_);
  queued_.push_back(text);
  pending_.push_back(std::move(text));
  changed_.notify_all();
}

std::vector<std::string> Announcer::queued() const {
  std::lock_guard lock(mutex_);
  return queued_;
}

std::vector<std::string> Announcer::spoken() const {
  std::lock_guard lock(mutex_);
  return spoken_;
}

bool Announcer::wait_idle(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [this] { return pending_.empty() && !speaking_; });
}

void Announcer::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    changed_.wait(lock, [this] { return !pending_.empty() || stopping_; });
    if (pending_.empty()) return;
    std::string text = std::move(pending_.front());
    pending_.pop_front();
    speaking_ = true;
    lock.unlock();
    try {
      speaker_(text);
    } catch (const std::exception& e) {
      spdlog::warn("announcer: speaking failed: {}", e.what());
    }
    lock.lock();
    speaking_ = false;
    spoken_.push_back(std::move(text));
    changed_.notify_all();
  }
}

bool program_on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::string_view dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  for (;;) {
    std::size_t end = dirs.find(':');
    std::string_view dir = dirs.substr(0, end);
    std::filesystem::path candidate =
        std::filesystem::path(dir.empty() ? std::string_view(".") : dir) / program;
    if (::access(candidate.c_str(), X_OK) == 0) return true;
    if (end == std::string_view::npos) return false;
    dirs.remove_prefix(end + 1);
  }
}

namespace {

// Runs espeak-ng and waits for it, so the next announcement never overlaps.
void speak_with_espeak(const std::string& text) {
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::execlp("espeak-ng", "espeak-ng", "-v", "cmn", text.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace

Announcer::Speaker make_console_speaker(bool use_voice,
                                        std::function<void(const std::string&)> print) {
  bool voice = use_voice && program_on_path("espeak-ng");
  if (use_voice && !voice)
    spdlog::warn("espeak-ng not found on PATH; announcements are printed only");
  return [voice, print = std::move(print)](const std::string& text) {
    print("[播报] " + text);
    if (voice) speak_with_espeak(text);
  };
}

}  // namespace yiban::devices
