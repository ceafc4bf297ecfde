#pragma once
// Central's HTTP API (ARCHITECTURE §8, §11; shapes in central/README.md):
// read side for remote inspection plus commands, bearer tokens with roles.
// Reads go through the API's own CentralStore (a reader connection); commands
// and integrity clears go to the sync server, which owns the only writer.
//
// Threads: the HTTP server's workers call the handlers (yiban/runtime/http_server.h);
// one feeder thread publishes hall changes to the dashboards' streams; stop()
// ends the streams and joins both.

#include <memory>
#include <string>

#include "booking/booking_service.h"
#include "sync/sync_server.h"
#include "yiban/central/central_store.h"
#include "yiban/runtime/http_server.h"
#include "yiban/protocol/tokens.h"

namespace yiban::central::api {

struct HttpApiOptions {
  std::string host = "0.0.0.0";
  int port = 8090;  // 0: pick a free one
  protocol::TokenTable tokens;
  std::string web_dir;  // served at / when set
  std::string catalog_path;  // the city catalog's file, rewritten by PUT /api/v1/catalog (empty: none)
  std::string catalog_text;  // its canonical text ("" without a catalog)
  std::string blob_dir;  // case files (read only here)
  booking::BookingService* bookings = nullptr;  // its routes are served too (null: no bookings)
  runtime::HttpServerOptions http;  // TLS and the server's limits (host, port, web_dir and tokens come from above)
};

class HttpApi {
 public:
  // Binds; fails naming the address.
  static protocol::Expected<std::unique_ptr<HttpApi>> create(HttpApiOptions options,
                                                             std::unique_ptr<CentralStore> reader,
                                                             sync::SyncServer& sync);
  ~HttpApi();
  HttpApi(const HttpApi&) = delete;
  HttpApi& operator=(const HttpApi&) = delete;

  int port() const;
  void start();
  void stop();

 private:
  struct Impl;
  explicit HttpApi(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace yiban::central::api
