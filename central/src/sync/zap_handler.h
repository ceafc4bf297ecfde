#pragma once
// ZeroMQ authentication (ZAP, RFC 27) for central's sync socket: accepts a
// CURVE client only when its public key is in the allow-list, and answers
// with the hall bound to that key as the connection's User-Id. Any other
// mechanism, domain or key is refused. Together with ZMQ_ZAP_ENFORCE_DOMAIN on
// the server socket this fails closed: without this handler nobody gets in.
//
// Runs its own thread with a REP socket on inproc://zeromq.zap.01 in the
// server's context; start() must return before the server socket binds.

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

#include <zmq.hpp>

#include "sync/allow_list.h"

namespace yiban::central::sync {

inline constexpr const char* kZapDomain = "yiban";

class ZapHandler {
 public:
  ZapHandler(zmq::context_t& context, AllowList allow_list);
  ~ZapHandler();
  ZapHandler(const ZapHandler&) = delete;
  ZapHandler& operator=(const ZapHandler&) = delete;

  void start();
  void stop();
  std::uint64_t refused() const { return refused_.load(); }
  std::uint64_t accepted() const { return accepted_.load(); }

 private:
  void run();

  zmq::context_t& context_;
  AllowList allow_list_;
  zmq::socket_t socket_;  // used by run() only, after start()
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> refused_{0};
  std::atomic<std::uint64_t> accepted_{0};
  std::thread thread_;
};

}  // namespace yiban::central::sync
