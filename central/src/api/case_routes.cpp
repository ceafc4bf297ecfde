#include "api/case_routes.h"

#include <chrono>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "yiban/runtime/http_server.h"
#include "yiban/protocol/cases.h"
#include "yiban/protocol/ids.h"

namespace yiban::central::api {
namespace {

using nlohmann::json;
using protocol::Role;
namespace pc = protocol::cases;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string holder(const protocol::TokenGrant& g) { return "central:" + protocol::holder_of(g); }

}  // namespace

void add_case_routes(runtime::HttpServer& server, CaseRouteContext c) {
  auto ctx = std::make_shared<CaseRouteContext>(std::move(c));
  auto staff = [ctx](const runtime::HttpRequest& req, runtime::HttpResponse& res) -> std::optional<protocol::TokenGrant> {
    auto g = ctx->authenticate(req, res);
    if (!g) return std::nullopt;
    if (g->role == Role::kViewer) {
      runtime::send_json_error(res, 403, "forbidden", "cases hold personal data; a viewer token cannot see them");
      return std::nullopt;
    }
    return g;
  };
  // The case, if this grant may see it; otherwise an error was sent. A case
  // of other halls answers 404 to a hall manager, as if it did not exist.
  auto visible = [ctx](const protocol::TokenGrant& g, const std::string& id,
                       runtime::HttpResponse& res) -> bool {
    if (!pc::valid_case_id(id)) {
      runtime::send_json_error(res, 400, "bad_request", "not a case id: " + id);
      return false;
    }
    protocol::Expected<std::optional<CaseParties>> parties;
    {
      std::lock_guard lock(*ctx->reader_mutex);
      parties = ctx->reader->case_parties(id);
    }
    if (!parties) {
      runtime::send_json_error(res, 500, "internal", parties.error().message);
      return false;
    }
    const bool party = *parties && (g.role != Role::kHallManager || (*parties)->origin == g.hall ||
                                    (*parties)->handler == g.hall);
    if (!party) {
      if (*parties) spdlog::warn("http: a hall-manager token of hall {} asked for case {}: refused", g.hall, id);
      runtime::send_json_error(res, 404, "not_found", "no case " + id);
      return false;
    }
    return true;
  };
  auto record = [ctx](const std::string& id, const protocol::TokenGrant& g, std::string what, std::string sha,
                      runtime::HttpResponse& res) {
    auto recorded = ctx->sync->record_case_access(id, holder(g), std::move(what), std::move(sha)).get();
    if (recorded) return true;
    runtime::send_json_error(res, 503, "unavailable", "the view could not be recorded, so it is not shown: " + recorded.error().message);
    return false;
  };

  server.Get("/api/v1/cases", [ctx, staff](const runtime::HttpRequest& req, runtime::HttpResponse& res) {
    auto g = staff(req, res);
    if (!g) return;
    CaseQuery q;
    q.now = now_ms();
    if (req.has_param("hall")) {
      auto hall = req.get_param_value("hall");
      if (!protocol::is_valid_hall_id(hall)) return runtime::send_json_error(res, 400, "bad_request", "hall: not a hall id");
      q.hall = hall;
    }
    if (g->role == Role::kHallManager) {
      if (q.hall && *q.hall != g->hall)
        return runtime::send_json_error(res, 403, "forbidden", "this token covers hall " + g->hall + " only");
      q.hall = g->hall;
    }
    if (req.has_param("state")) {
      auto state = req.get_param_value("state");
      if (!pc::state_from_string(state)) return runtime::send_json_error(res, 400, "bad_request", "state: unknown state " + state);
      q.state = state;
    }
    if (req.has_param("late")) q.late_only = req.get_param_value("late") == "1" || req.get_param_value("late") == "true";
    runtime::Page page;
    if (auto bad = runtime::parse_page(req, page, 500)) return runtime::send_json_error(res, 400, "bad_request", *bad);
    q.limit = page.limit;
    q.offset = page.offset;
    protocol::Expected<std::string> body;
    {
      std::lock_guard lock(*ctx->reader_mutex);
      body = ctx->reader->cases_json(q);
    }
    if (!body) return runtime::send_json_error(res, 500, "internal", body.error().message);
    res.set_content(*body, "application/json");
  });

  server.Get(R"(/api/v1/cases/([^/]+))", [ctx, staff, visible, record](const runtime::HttpRequest& req,
                                                                        runtime::HttpResponse& res) {
    auto g = staff(req, res);
    if (!g) return;
    std::string id = req.matches[1];
    if (!visible(*g, id, res)) return;
    if (!record(id, *g, "detail", "", res)) return;
    protocol::Expected<std::optional<std::string>> body;
    {
      std::lock_guard lock(*ctx->reader_mutex);
      body = ctx->reader->case_json(id, now_ms());
    }
    if (!body) return runtime::send_json_error(res, 500, "internal", body.error().message);
    if (!*body) return runtime::send_json_error(res, 404, "not_found", "no case " + id);
    res.set_content(**body, "application/json");
  });

  server.Get(R"(/api/v1/cases/([^/]+)/materials/([0-9a-f]{64}))",
             [ctx, staff, visible, record](const runtime::HttpRequest& req, runtime::HttpResponse& res) {
               auto g = staff(req, res);
               if (!g) return;
               std::string id = req.matches[1];
               std::string sha = req.matches[2];
               if (!visible(*g, id, res)) return;
               protocol::Expected<std::optional<std::pair<std::string, std::string>>> info;
               {
                 std::lock_guard lock(*ctx->reader_mutex);
                 info = ctx->reader->case_material(id, sha);
               }
               if (!info) return runtime::send_json_error(res, 500, "internal", info.error().message);
               if (!*info) return runtime::send_json_error(res, 404, "not_found", "case " + id + " has no file " + sha.substr(0, 12) + "…");
               if (!ctx->blobs || !ctx->blobs->has(sha))
                 return runtime::send_json_error(res, 409, "not_here_yet", "central is still fetching this file from its hall");
               auto size = ctx->blobs->size_of(sha);
               auto bytes = size ? ctx->blobs->read(sha, 0, *size) : std::unexpected(size.error());
               if (!bytes) return runtime::send_json_error(res, 500, "internal", bytes.error().message);
               if (!record(id, *g, "material", sha, res)) return;
               res.set_header("Content-Disposition", runtime::attachment_disposition((*info)->first));
               res.set_content(std::move(*bytes), (*info)->second);
             });
}

}  // namespace yiban::central::api
