#pragma once
// Raw HTTP/1.1 over loopback TCP for the attack suite and the stream
// benchmark: exact bytes out (oversize headers, chunked bodies, slow
// clients), responses read back with a deadline, and a crowd of event-stream
// clients read by one thread. Every connection can come from its own loopback
// source address (127.0.0.0/8), since daemons cap connections per address.

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace yiban::test {

struct RawResponse {
  int status = 0;  // 0: no complete response head in time
  std::string head;
  std::string body;  // Content-Length bytes (or what came before the close)
};

class RawConnection {
 public:
  // Connects to 127.0.0.1:port from `source` (a loopback address); nothing on failure.
  static std::optional<RawConnection> open(int port, const std::string& source = "127.0.0.1");
  RawConnection(RawConnection&& other) noexcept;
  RawConnection& operator=(RawConnection&& other) noexcept;
  ~RawConnection();

  int fd() const { return fd_; }
  // Sends every byte; false once the peer closed or reset the connection.
  bool send(std::string_view bytes);
  // One response: head, then Content-Length bytes of body (or up to the close).
  RawResponse read_response(std::chrono::milliseconds timeout);
  // True when the peer closes the connection (EOF or reset) within timeout;
  // anything it sends meanwhile is discarded.
  bool closed_within(std::chrono::milliseconds timeout);
  void close();

 private:
  explicit RawConnection(int fd) : fd_(fd) {}
  int fd_ = -1;
  std::string pending_;  // read past the previous response
};

// "127.0.0.K" spreading connection i over `sources` addresses (from .2 up).
std::string loopback_source(int i, int sources);

// n event-stream clients (GET path with a bearer token) read by the calling
// thread: each keeps what it received (capped), counting occurrences of a
// marker as they arrive.
class SseCrowd {
 public:
  SseCrowd(int port, const std::string& path, const std::string& token, int n, int sources,
           std::string marker = "event: ");
  ~SseCrowd();
  SseCrowd(const SseCrowd&) = delete;
  SseCrowd& operator=(const SseCrowd&) = delete;

  int size() const { return static_cast<int>(streams_.size()); }
  // Reads for up to timeout or until every open stream has seen `at_least`
  // markers; returns how many have.
  int wait_markers(int at_least, std::chrono::milliseconds timeout);
  // Streams answered 200 with text/event-stream.
  int streaming() const;
  // Streams still open (read what is there first).
  int open_streams();
  int markers(int i) const { return streams_[i].markers; }
  int min_markers() const;
  const std::string& text(int i) const { return streams_[i].text; }

 private:
  struct Stream {
    int fd = -1;
    bool open = false;
    bool streaming = false;
    int markers = 0;
    std::string text;  // capped at 64 KiB (the newest kept)
    std::string tail;  // for markers split across reads
  };
  void read_ready(std::chrono::milliseconds timeout);
  std::vector<Stream> streams_;
  std::string marker_;
};

// VmRSS of a process in KiB (-1 when unreadable).
long rss_kib(pid_t pid);

// A test PKI made with the openssl CLI in dir: ca.crt/ca.key, a server
// certificate server.crt/server.key for IP:127.0.0.1 and localhost, and an
// unrelated stranger-ca.crt. Throws with openssl's log when a step fails.
void make_test_pki(const std::string& dir);

}  // namespace yiban::test
