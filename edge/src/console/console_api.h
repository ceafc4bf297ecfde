#pragma once
// The hall manager's console API (edge/README.md): bearer tokens with roles,
// reads from the engine's snapshot and the store (its own read connection),
// changes handed to the engine thread, and an SSE stream of committed events.
//
// Threads: the HTTP server's workers call the handlers (yiban/runtime/http_server.h);
// one feeder thread publishes committed events to the streams; stop() closes
// the streams and joins.

#include <functional>
#include <memory>
#include <string>

#include "console/console_link.h"
#include "yiban/runtime/blob_store.h"
#include "yiban/runtime/http_server.h"
#include "yiban/protocol/error.h"
#include "yiban/protocol/tokens.h"

namespace yiban::edge::console {

struct ApiOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port
  protocol::TokenTable tokens;
  std::string web_dir;  // served at / when set
  std::string db_path;  // the hall's store, read through a separate connection
  const runtime::BlobStore* blobs = nullptr;  // case files (null: no case routes work)
  runtime::HttpServerOptions http;  // TLS and the server's limits (host, port, web_dir and tokens come from above)
};

struct SyncView {
  std::string state = "off";
  std::int64_t acked = 0;
  std::uint64_t refused_messages = 0;  // from central, over the frame or byte limit
  std::uint64_t send_queue_full = 0;   // links dropped: central was not taking our messages
};

class Api {
 public:
  // submit hands a change to the engine thread (it must not block);
  // sync_view reports replication (any thread).
  static protocol::Expected<std::unique_ptr<Api>> create(ApiOptions options, Link& link,
                                                         std::function<void(Request)> submit,
                                                         std::function<SyncView()> sync_view);
  ~Api();
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  int port() const;
  void start();
  void stop();

 private:
  struct Impl;
  explicit Api(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace yiban::edge::console
