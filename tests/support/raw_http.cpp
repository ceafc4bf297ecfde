#include "support/raw_http.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <utility>

#include "support/test_support.h"

namespace yiban::test {
namespace {

using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

// One read with a deadline: bytes read, 0 at EOF or reset, -1 on timeout.
long read_some(int fd, char* buf, std::size_t size, Clock::time_point deadline) {
  pollfd p{fd, POLLIN, 0};
  int r = ::poll(&p, 1, remaining_ms(deadline));
  if (r <= 0) return -1;
  long n = ::recv(fd, buf, size, 0);
  if (n < 0) return (errno == EAGAIN || errno == EINTR) ? -1 : 0;
  return n;
}

int connect_from(int port, const std::string& source, bool non_blocking) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in local{};
  local.sin_family = AF_INET;
  if (inet_pton(AF_INET, source.c_str(), &local.sin_addr) != 1 ||
      ::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
    ::close(fd);
    return -1;
  }
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (non_blocking) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

}  // namespace

std::optional<RawConnection> RawConnection::open(int port, const std::string& source) {
  int fd = connect_from(port, source, false);
  if (fd < 0) return std::nullopt;
  return RawConnection(fd);
}

RawConnection::RawConnection(RawConnection&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), pending_(std::move(other.pending_)) {}

RawConnection& RawConnection::operator=(RawConnection&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    pending_ = std::move(other.pending_);
  }
  return *this;
}

RawConnection::~RawConnection() { close(); }

void RawConnection::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool RawConnection::send(std::string_view bytes) {
  while (!bytes.empty()) {
    long n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

RawResponse RawConnection::read_response(std::chrono::milliseconds timeout) {
  RawResponse r;
  auto deadline = Clock::now() + timeout;
  std::string data = std::move(pending_);
  pending_.clear();
  char buf[65536];
  std::size_t head_end;
  while ((head_end = data.find("\r\n\r\n")) == std::string::npos) {
    long n = read_some(fd_, buf, sizeof buf, deadline);
    if (n <= 0) return r;
    data.append(buf, static_cast<std::size_t>(n));
  }
  r.head = data.substr(0, head_end + 4);
  data.erase(0, head_end + 4);
  if (r.head.size() > 12 && r.head.starts_with("HTTP/1.")) r.status = std::atoi(r.head.c_str() + 9);
  std::optional<std::size_t> length;
  std::string lower_head = r.head;
  std::transform(lower_head.begin(), lower_head.end(), lower_head.begin(), ::tolower);
  if (auto p = lower_head.find("\r\ncontent-length:"); p != std::string::npos)
    length = std::strtoull(lower_head.c_str() + p + 17, nullptr, 10);
  if (r.status == 304 || r.status == 100) length = 0;
  while (!length || data.size() < *length) {
    long n = read_some(fd_, buf, sizeof buf, deadline);
    if (n <= 0) break;
    data.append(buf, static_cast<std::size_t>(n));
  }
  if (length && data.size() > *length) {
    pending_ = data.substr(*length);
    data.resize(*length);
  }
  r.body = std::move(data);
  return r;
}

bool RawConnection::closed_within(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  char buf[65536];
  for (;;) {
    long n = read_some(fd_, buf, sizeof buf, deadline);
    if (n == 0) return true;
    if (n < 0) return false;
  }
}

std::string loopback_source(int i, int sources) { return "127.0.0." + std::to_string(2 + i % std::max(1, sources)); }

SseCrowd::SseCrowd(int port, const std::string& path, const std::string& token, int n, int sources,
                   std::string marker)
    : marker_(std::move(marker)) {
  const std::string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n" +
                              (token.empty() ? "" : "Authorization: Bearer " + token + "\r\n") + "\r\n";
  streams_.resize(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    auto& s = streams_[static_cast<std::size_t>(i)];
    s.fd = connect_from(port, loopback_source(i, sources), false);
    if (s.fd < 0) continue;
    s.open = ::send(s.fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<long>(request.size());
    ::fcntl(s.fd, F_SETFL, ::fcntl(s.fd, F_GETFL) | O_NONBLOCK);
  }
}

SseCrowd::~SseCrowd() {
  for (auto& s : streams_)
    if (s.fd >= 0) ::close(s.fd);
}

void SseCrowd::read_ready(std::chrono::milliseconds timeout) {
  std::vector<pollfd> fds;
  std::vector<std::size_t> index;
  for (std::size_t i = 0; i < streams_.size(); ++i) {
    if (!streams_[i].open) continue;
    fds.push_back({streams_[i].fd, POLLIN, 0});
    index.push_back(i);
  }
  if (fds.empty() || ::poll(fds.data(), fds.size(), static_cast<int>(timeout.count())) <= 0) return;
  char buf[16384];
  for (std::size_t k = 0; k < fds.size(); ++k) {
    if (!(fds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    auto& s = streams_[index[k]];
    for (;;) {
      long n = ::recv(s.fd, buf, sizeof buf, 0);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        s.open = false;
        break;
      }
      if (n < 0) break;
      std::string_view got(buf, static_cast<std::size_t>(n));
      if (!s.streaming && s.text.empty() && got.starts_with("HTTP/1.1 200") &&
          got.find("text/event-stream") != std::string_view::npos)
        s.streaming = true;
      std::string scan = s.tail + std::string(got);
      for (std::size_t p = scan.find(marker_); p != std::string::npos; p = scan.find(marker_, p + marker_.size()))
        ++s.markers;
      s.tail = scan.size() >= marker_.size() ? scan.substr(scan.size() - (marker_.size() - 1)) : scan;
      // The tail is shorter than the marker: no match is counted twice.
      s.text.append(got);
      if (s.text.size() > 65536) s.text.erase(0, s.text.size() - 65536);
    }
  }
}

int SseCrowd::wait_markers(int at_least, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    int done = 0, open = 0;
    for (const auto& s : streams_) {
      if (s.markers >= at_least) ++done;
      if (s.open) ++open;
    }
    bool all = true;
    for (const auto& s : streams_)
      if (s.open && s.markers < at_least) all = false;
    if ((all && open > 0) || Clock::now() >= deadline) return done;
    read_ready(std::chrono::milliseconds(std::min(50, std::max(1, remaining_ms(deadline)))));
  }
}

int SseCrowd::streaming() const {
  return static_cast<int>(std::count_if(streams_.begin(), streams_.end(), [](const Stream& s) { return s.streaming; }));
}

int SseCrowd::min_markers() const {
  int m = -1;
  for (const auto& s : streams_) m = m < 0 ? s.markers : std::min(m, s.markers);
  return std::max(0, m);
}

int SseCrowd::open_streams() {
  read_ready(std::chrono::milliseconds(0));
  return static_cast<int>(std::count_if(streams_.begin(), streams_.end(), [](const Stream& s) { return s.open; }));
}

long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
  return -1;
}

void make_test_pki(const std::string& dir) {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  const fs::path pki(dir);
  const auto log = pki / "openssl.log";
  auto openssl = [&](std::vector<std::string> args) {
    if (run_program("/usr/bin/openssl", args, log) != 0)
      throw std::runtime_error("openssl failed: " + read_file(log));
  };
  const std::vector<std::string> ec_key{"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"};
  auto self_signed = [&](const std::string& name) {
    std::vector<std::string> args{"req", "-x509"};
    args.insert(args.end(), ec_key.begin(), ec_key.end());
    args.insert(args.end(), {"-keyout", (pki / (name + ".key")).string(), "-out", (pki / (name + ".crt")).string(),
                             "-days", "2", "-subj", "/CN=yiban test " + name});
    openssl(args);
  };
  self_signed("ca");
  self_signed("stranger-ca");
  std::vector<std::string> request{"req"};
  request.insert(request.end(), ec_key.begin(), ec_key.end());
  request.insert(request.end(), {"-keyout", (pki / "server.key").string(), "-out", (pki / "server.csr").string(),
                                 "-subj", "/CN=yiban test server"});
  openssl(request);
  write_file(pki / "san.cnf", "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  openssl({"x509", "-req", "-in", (pki / "server.csr").string(), "-CA", (pki / "ca.crt").string(), "-CAkey",
           (pki / "ca.key").string(), "-CAcreateserial", "-out", (pki / "server.crt").string(), "-days", "2",
           "-extfile", (pki / "san.cnf").string()});
}

}  // namespace yiban::test
