#include "support/test_support.h"

#include <sys/utsname.h>
#include <cstdio>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace yiban::test {

namespace {

std::runtime_error errno_error(const std::string& what) {
  return std::runtime_error(what + ": " + std::strerror(errno));
}

// Appends the decimal form of value to buf (no allocation: used after fork).
std::size_t append_decimal(char* buf, std::size_t pos, int value) {
  char digits[16];
  std::size_t n = 0;
  unsigned v = value < 0 ? 0U - static_cast<unsigned>(value) : static_cast<unsigned>(value);
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0 && n < sizeof(digits));
  if (value < 0) buf[pos++] = '-';
  while (n > 0) buf[pos++] = digits[--n];
  return pos;
}

std::size_t append_text(char* buf, std::size_t pos, std::size_t cap, const char* text) {
  while (*text != '\0' && pos < cap) buf[pos++] = *text++;
  return pos;
}

// Runs in the forked child: only async-signal-safe calls, no allocation.
// Never returns.
[[noreturn]] void exec_child(const char* program, char* const* argv, const char* log_path,
                             pid_t parent) {
  // Die with the thread that forked us (the test runner), even on SIGKILL.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(127);

  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD}) ::signal(sig, SIG_DFL);

  int null_fd = ::open("/dev/null", O_RDONLY);
  if (null_fd >= 0 && null_fd != STDIN_FILENO) {
    ::dup2(null_fd, STDIN_FILENO);
    ::close(null_fd);
  }
  int log_fd = ::open(log_path, O_WRONLY | O_APPEND | O_CREAT, 0644);
  if (log_fd < 0) ::_exit(127);
  ::dup2(log_fd, STDOUT_FILENO);
  ::dup2(log_fd, STDERR_FILENO);
  if (log_fd > STDERR_FILENO) ::close(log_fd);

  if (::syscall(SYS_close_range, 3U, ~0U, 0U) != 0) {
    long max_fd = ::sysconf(_SC_OPEN_MAX);
    for (long fd = 3; fd < (max_fd > 0 ? max_fd : 1024); ++fd) ::close(static_cast<int>(fd));
  }

  ::execv(program, argv);

  int err = errno;
  char msg[512];
  std::size_t pos = append_text(msg, 0, sizeof(msg) - 16, "ChildProcess: exec ");
  pos = append_text(msg, pos, sizeof(msg) - 16, program);
  pos = append_text(msg, pos, sizeof(msg) - 16, " failed, errno ");
  pos = append_decimal(msg, pos, err);
  msg[pos++] = '\n';
  ssize_t ignored = ::write(STDERR_FILENO, msg, pos);
  (void)ignored;
  ::_exit(127);
}

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

constexpr const char* kTestHallJson =
    R"({"hall":"test-hall","name":"测试大厅","region":"370202","timezone":"Asia/Shanghai",)"
    R"("capacity":50,"priority_classes":["elderly","disabled"],"recall_limit":2,)"
    R"("services":[{"code":"A","name":"社保医保","max_wait_min":30},)"
    R"({"code":"B","name":"不动产登记","max_wait_min":45},{"code":"C","name":"综合受理"}],)"
    R"("counters":[{"id":"1","name":"1号窗口","services":["A"],"backup":["C"]},)"
    R"({"id":"2","name":"2号窗口","services":["B","C"]},)"
    R"({"id":"3","name":"3号窗口","services":["A","B"]}],)"
    R"("devices":[{"id":"kiosk-1","kind":"kiosk"},{"id":"kiosk-2","kind":"kiosk"},)"
    R"({"id":"counter-1","kind":"counter","counter":"1"},)"
    R"({"id":"counter-2","kind":"counter","counter":"2"},)"
    R"({"id":"counter-3","kind":"counter","counter":"3"},)"
    R"({"id":"rating-1","kind":"rating","counter":"1"},{"id":"display-1","kind":"display"}],)"
    // Load tests drive one kiosk id at hundreds of requests a second: far
    // over the per-device default (10/s), which the attack suite tests.
    R"("limits":{"requests_per_s":5000,"request_burst":20000}})";

}  // namespace

TempDir::TempDir() {
  const char* env = std::getenv("TMPDIR");
  std::string base = (env != nullptr && *env != '\0') ? env : "/tmp";
  std::string templ = (std::filesystem::path(base) / "yiban-test-XXXXXX").string();
  if (::mkdtemp(templ.data()) == nullptr) throw errno_error("mkdtemp " + templ);
  path_ = templ;
}

TempDir::~TempDir() {
  try {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  } catch (...) {
    // Best effort: a leftover temp directory must not abort the test run.
  }
}

int free_tcp_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw errno_error("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    auto error = errno_error("bind 127.0.0.1:0");
    ::close(fd);
    throw error;
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

ChildProcess::ChildProcess(const std::string& program, const std::vector<std::string>& args,
                           const std::filesystem::path& log_file) {
  // Everything the child needs is prepared before fork: after fork, in a
  // multi-threaded parent, the child may only make async-signal-safe calls.
  std::vector<std::string> storage;
  storage.reserve(args.size() + 1);
  storage.push_back(program);
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  argv.reserve(storage.size() + 1);
  for (auto& s : storage) argv.push_back(s.data());
  argv.push_back(nullptr);
  std::string log_path = log_file.string();
  pid_t parent = ::getpid();

  pid_t pid = ::fork();
  if (pid < 0) throw errno_error("fork " + program);
  if (pid == 0) exec_child(program.c_str(), argv.data(), log_path.c_str(), parent);
  pid_ = pid;
}

ChildProcess::~ChildProcess() {
  kill_now();
}

bool ChildProcess::running() {
  if (pid_ <= 0 || reaped_) return false;
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == 0) return true;
  reaped_ = true;
  // r < 0 (ECHILD) means someone else reaped it: the status is unknown.
  status_ = r == pid_ ? status : -1;
  return false;
}

void ChildProcess::signal(int sig) {
  // Only while not reaped: afterwards the pid may belong to another process.
  if (pid_ > 0 && !reaped_) ::kill(pid_, sig);
}

int ChildProcess::wait_exit(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto step = std::chrono::milliseconds(1);
  while (running()) {
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(step);
    step = std::min(step * 2, std::chrono::milliseconds(10));
  }
  return status_ == -1 ? -1 : decode_status(status_);
}

void ChildProcess::kill_now() {
  if (pid_ <= 0 || reaped_) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, 0);
  } while (r < 0 && errno == EINTR);
  reaped_ = true;
  status_ = r == pid_ ? status : -1;
}

int run_program(const std::string& program, const std::vector<std::string>& args, const std::filesystem::path& log,
                std::chrono::milliseconds timeout) {
  ChildProcess child(program, args, log);
  return child.wait_exit(timeout);
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::filesystem::path example_hall_config() {
  return std::filesystem::path(YIBAN_SOURCE_DIR "/deploy/examples/hall.json");
}

void write_file(const std::filesystem::path& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::filesystem::path write_test_hall_config(const std::filesystem::path& dir) {
  auto path = dir / "hall.json";
  write_file(path, kTestHallJson);
  return path;
}

void print_machine() {
  static bool done = false;
  if (done) return;
  done = true;
  utsname u{};
  uname(&u);
  std::ifstream cpu("/proc/cpuinfo");
  std::string line, model;
  while (std::getline(cpu, line)) {
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  }
  std::printf("machine: %u CPUs, %s, %s %s\n", std::thread::hardware_concurrency(), model.c_str(), u.sysname,
              u.release);
}

}  // namespace yiban::test
