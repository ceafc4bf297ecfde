#pragma once
// The console API's case routes (protocol/CASES.md "HTTP APIs"): material
// uploads, the case list and detail, downloads, and staff steps. Every
// detail view and download is first recorded as a case.viewed event (through
// the engine thread); if that record cannot be made, nothing is shown.

#include <functional>
#include <mutex>
#include <optional>

#include "console/console_link.h"
#include "yiban/db/blob_store.h"
#include "yiban/db/http_server.h"
#include "yiban/db/sqlite.h"
#include "yiban/protocol/tokens.h"

namespace yiban::edge::console {

struct CaseRouteContext {
  std::function<std::optional<protocol::TokenGrant>(const db::HttpRequest&, db::HttpResponse&)> authenticate;
  // Hands a request to the engine and waits for its answer (503 on timeout).
  std::function<Result(Request)> ask;
  std::mutex* db_mutex = nullptr;
  db::Database* db = nullptr;  // guarded by db_mutex
  const db::BlobStore* blobs = nullptr;  // null: this hall keeps no case files
};

void add_case_routes(db::HttpServer& server, CaseRouteContext context);

}  // namespace yiban::edge::console
