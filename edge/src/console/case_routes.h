#pragma once
// The console API's case routes (protocol/CASES.md "HTTP APIs"): material
// uploads, the case list and detail, downloads, and staff steps. Every
// detail view and download is first recorded as a case.viewed event (through
// the engine thread); if that record cannot be made, nothing is shown.

#include <functional>
#include <mutex>
#include <optional>

#include "console/console_link.h"
#include "yiban/runtime/blob_store.h"
#include "yiban/runtime/http_server.h"
#include "yiban/runtime/sqlite.h"
#include "yiban/protocol/tokens.h"

namespace yiban::edge::console {

struct CaseRouteContext {
  std::function<std::optional<protocol::TokenGrant>(const runtime::HttpRequest&, runtime::HttpResponse&)> authenticate;
  // Hands a request to the engine and waits for its answer (503 on timeout).
  std::function<Result(Request)> ask;
  std::mutex* db_mutex = nullptr;
  runtime::Database* db = nullptr;  // guarded by db_mutex
  const runtime::BlobStore* blobs = nullptr;  // null: this hall keeps no case files
};

void add_case_routes(runtime::HttpServer& server, CaseRouteContext context);

}  // namespace yiban::edge::console
