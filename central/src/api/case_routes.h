#pragma once
// Central's case routes (protocol/CASES.md "HTTP APIs"): the case list, the
// detail (with every recorded view and download) and material downloads.
// central-operator and admin tokens see every case; a hall-manager token
// only the cases of its hall; viewers none. Views and downloads at central
// are recorded (durably, through the sync thread) before anything is shown.

#include <functional>
#include <mutex>
#include <optional>

#include "sync/sync_server.h"
#include "yiban/central/central_store.h"
#include "yiban/runtime/blob_store.h"
#include "yiban/runtime/http_server.h"
#include "yiban/protocol/tokens.h"

namespace yiban::central::api {

struct CaseRouteContext {
  std::function<std::optional<protocol::TokenGrant>(const runtime::HttpRequest&, runtime::HttpResponse&)> authenticate;
  std::mutex* reader_mutex = nullptr;
  CentralStore* reader = nullptr;  // guarded by reader_mutex
  sync::SyncServer* sync = nullptr;
  const runtime::BlobStore* blobs = nullptr;  // null: central keeps no case files
};

void add_case_routes(runtime::HttpServer& server, CaseRouteContext context);

}  // namespace yiban::central::api
