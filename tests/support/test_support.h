#pragma once
// Test support shared by unit, integration tests and benchmarks.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace yiban::test {

// The hall of write_test_hall_config (and of the process tests' cities).
inline constexpr const char* kHall = "test-hall";

// A clock the test moves by hand. Thread-safe reads.
class FakeClock {
 public:
  explicit FakeClock(std::int64_t start_ms) : now_ms_(start_ms) {}
  std::int64_t now_ms() const { return now_ms_.load(); }
  void set(std::int64_t ms) { now_ms_.store(ms); }
  void advance(std::chrono::milliseconds d) { now_ms_.fetch_add(d.count()); }

 private:
  std::atomic<std::int64_t> now_ms_;
};

// A fresh directory under $TMPDIR removed (recursively) by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// A TCP port on 127.0.0.1 that was free when asked (bound then released).
int free_tcp_port();

// A child process started with fork/exec. The destructor kills it (SIGKILL)
// and reaps it if it is still running, so a failing test leaves nothing behind.
// stdout and stderr go to log_file (appended); stdin is /dev/null; no other
// descriptor is inherited. The child gets SIGKILL when the thread that
// created it ends (PR_SET_PDEATHSIG), so a killed test runner leaves no
// children: create ChildProcess objects on a thread that outlives them.
// If exec fails the child writes a line to log_file and exits 127.
// The constructor throws std::runtime_error when fork fails. Not thread-safe.
class ChildProcess {
 public:
  ChildProcess(const std::string& program, const std::vector<std::string>& args,
               const std::filesystem::path& log_file);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  // Sends sig; does not wait.
  void signal(int sig);
  // Waits up to timeout for exit; returns the exit status as from waitpid's
  // WEXITSTATUS, 128+signal when killed by a signal, or -1 on timeout.
  int wait_exit(std::chrono::milliseconds timeout);
  // SIGKILL and reap.
  void kill_now();

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
};

// Reads a whole file ("" when missing).
std::string read_file(const std::filesystem::path& path);
// Writes text (binary, truncating); throws std::runtime_error when it cannot.
void write_file(const std::filesystem::path& path, std::string_view text);
// Runs a program to its end (output appended to log); its exit status, -1
// when it did not end within timeout (it is then killed).
int run_program(const std::string& program, const std::vector<std::string>& args, const std::filesystem::path& log,
                std::chrono::milliseconds timeout = std::chrono::seconds(30));

// Path of the hall config example shipped in deploy/examples/hall.json.
std::filesystem::path example_hall_config();

// Writes a small hall config for tests (hall "test-hall", services A/B/C,
// counters 1..3, devices kiosk-1, kiosk-2, counter-1..3, rating-1, display-1,
// per-device request limits raised for load tests) into dir/hall.json and
// returns its path.
std::filesystem::path write_test_hall_config(const std::filesystem::path& dir);

// Benchmarks: prints the machine (CPUs, model, kernel) once per process.
void print_machine();

}  // namespace yiban::test
