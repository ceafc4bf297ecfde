#include "console/case_routes.h"

#include <chrono>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cases/case_views.h"
#include "yiban/runtime/http_server.h"
#include "console/console_actions.h"
#include "yiban/protocol/cases.h"

namespace yiban::edge::console {
namespace {

using nlohmann::json;
namespace pc = protocol::cases;

void send(runtime::HttpResponse& res, const Result& r) {
  res.status = r.status;
  res.set_content(r.body, "application/json");
}

void send_error(runtime::HttpResponse& res, int status, std::string_view code, std::string_view message) {
  send(res, error_result(status, code, message));
}

// A case material (20 MiB) and its multipart-free framing slack.
constexpr std::size_t kMaxUploadBytes = 20 * 1024 * 1024 + 1024;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void add_case_routes(runtime::HttpServer& server, CaseRouteContext c) {
  auto ctx = std::make_shared<CaseRouteContext>(std::move(c));
  // Case staff: this hall's managers and admins; a viewer sees no personal data.
  auto staff = [ctx](const runtime::HttpRequest& req, runtime::HttpResponse& res) -> std::optional<protocol::TokenGrant> {
    auto g = ctx->authenticate(req, res);
    if (!g) return std::nullopt;
    if (g->role == protocol::Role::kViewer) {
      send_error(res, 403, "forbidden", "cases hold personal data; a viewer token cannot see them");
      return std::nullopt;
    }
    return g;
  };
  auto files_here = [ctx](runtime::HttpResponse& res) {
    if (ctx->blobs) return true;
    send_error(res, 503, "unavailable", "this hall keeps no case files");
    return false;
  };

  server.Post("/api/v1/blobs", [ctx, staff, files_here](const runtime::HttpRequest& req, runtime::HttpResponse& res) {
    auto g = staff(req, res);
    if (!g || !files_here(res)) return;
    std::string declared = req.get_header_value("Content-Type");
    declared = declared.substr(0, declared.find(';'));
    if (declared != "application/pdf" && declared != "image/jpeg" && declared != "image/png")
      return send_error(res, 415, "unsupported_type",
                        "Content-Type must be application/pdf, image/jpeg or image/png, not \"" + declared + "\"");
    if (req.body.empty()) return send_error(res, 400, "bad_request", "the file is empty");
    if (static_cast<std::int64_t>(req.body.size()) > pc::kMaxMaterialBytes)
      return send_error(res, 413, "too_large", "a material is at most 20 MiB");
    auto sniffed = pc::sniff_type(std::string_view(req.body).substr(0, 16));
    if (!sniffed) return send_error(res, 415, "unsupported_type", "the content is not a PDF, JPEG or PNG file");
    if (*sniffed != declared)
      return send_error(res, 415, "type_mismatch",
                        "Content-Type says " + declared + " but the content is " + std::string(*sniffed));
    auto sha = ctx->blobs->put(req.body);
    if (!sha) {
      spdlog::error("console: storing an upload failed: {}", sha.error().message);
      return send_error(res, 500, "internal", "the hall could not store the file");
    }
    spdlog::info("console: file {} ({} bytes, {}) uploaded by {}", sha->substr(0, 12), req.body.size(), declared,
                 protocol::holder_of(*g));
    res.status = 201;
    res.set_content(json{{"sha256", *sha}, {"size", req.body.size()}, {"type", declared}}.dump(), "application/json");
  }).roles({protocol::Role::kHallManager, protocol::Role::kCentralOperator, protocol::Role::kAdmin}).max_body(kMaxUploadBytes);

  server.Get("/api/v1/cases", [ctx, staff, files_here](const runtime::HttpRequest& req, runtime::HttpResponse& res) {
    if (!staff(req, res) || !files_here(res)) return;
    cases::CaseQuery q;
    q.now = now_ms();
    if (req.has_param("state")) {
      auto state = req.get_param_value("state");
      if (!pc::state_from_string(state)) return send_error(res, 400, "bad_request", "state: unknown state " + state);
      q.state = state;
    }
    if (req.has_param("role")) {
      auto role = req.get_param_value("role");
      if (role != "origin" && role != "handler")
        return send_error(res, 400, "bad_request", "role: origin or handler");
      q.role = role;
    }
    runtime::Page page;
    if (auto bad = runtime::parse_page(req, page, 500)) return send_error(res, 400, "bad_request", *bad);
    q.limit = page.limit;
    q.offset = page.offset;
    protocol::Expected<std::string> body;
    {
      std::lock_guard lock(*ctx->db_mutex);
      body = cases::list_cases_json(*ctx->db, q);
    }
    if (!body) return send_error(res, 500, "internal", body.error().message);
    res.set_content(*body, "application/json");
  });

  server.Get(R"(/api/v1/cases/([^/]+))", [ctx, staff, files_here](const runtime::HttpRequest& req, runtime::HttpResponse& res) {
    auto g = staff(req, res);
    if (!g || !files_here(res)) return;
    std::string id = req.matches[1];
    if (!pc::valid_case_id(id)) return send_error(res, 400, "bad_request", "not a case id: " + id);
    protocol::Expected<std::optional<std::string>> body;
    {
      std::lock_guard lock(*ctx->db_mutex);
      body = cases::case_detail_json(*ctx->db, id, *ctx->blobs, now_ms());
    }
    if (!body) return send_error(res, 500, "internal", body.error().message);
    if (!*body) return send_error(res, 404, "not_found", "no case " + id + " at this hall");
    Request audit;
    audit.action = "case.viewed";
    audit.target = id;
    audit.by = protocol::holder_of(*g);
    auto recorded = ctx->ask(std::move(audit));
    if (recorded.status != 200) return send(res, recorded);
    res.set_content(**body, "application/json");
  });

  server.Get(R"(/api/v1/cases/([^/]+)/materials/([0-9a-f]{64}))",
             [ctx, staff, files_here](const runtime::HttpRequest& req, runtime::HttpResponse& res) {
               auto g = staff(req, res);
               if (!g || !files_here(res)) return;
               std::string id = req.matches[1];
               std::string sha = req.matches[2];
               protocol::Expected<std::optional<cases::MaterialInfo>> info;
               {
                 std::lock_guard lock(*ctx->db_mutex);
                 info = cases::case_material(*ctx->db, id, sha);
               }
               if (!info) return send_error(res, 500, "internal", info.error().message);
               if (!*info) return send_error(res, 404, "not_found", "case " + id + " has no file " + sha.substr(0, 12) + "…");
               if (!ctx->blobs->has(sha))
                 return send_error(res, 409, "not_here_yet", "the file is still on its way to this hall; try again soon");
               auto size = ctx->blobs->size_of(sha);
               auto bytes = size ? ctx->blobs->read(sha, 0, *size) : std::unexpected(size.error());
               if (!bytes) return send_error(res, 500, "internal", bytes.error().message);
               Request audit;
               audit.action = "case.viewed";
               audit.target = id;
               audit.comment = sha;
               audit.by = protocol::holder_of(*g);
               auto recorded = ctx->ask(std::move(audit));
               if (recorded.status != 200) return send(res, recorded);
               res.set_header("Content-Disposition", runtime::attachment_disposition((*info)->name));
               res.set_content(std::move(*bytes), (*info)->type);
             });

  server.Post("/api/v1/cases", [ctx, staff, files_here](const runtime::HttpRequest& req, runtime::HttpResponse& res) {
    auto g = staff(req, res);
    if (!g || !files_here(res)) return;
    Request r;
    r.action = "case.submit";
    r.body = req.body;
    r.by = protocol::holder_of(*g);
    send(res, ctx->ask(std::move(r)));
  }).roles({protocol::Role::kHallManager, protocol::Role::kCentralOperator, protocol::Role::kAdmin});

  server.Post(R"(/api/v1/cases/([^/]+)/(review|complete|resubmit))",
              [ctx, staff, files_here](const runtime::HttpRequest& req, runtime::HttpResponse& res) {
                auto g = staff(req, res);
                if (!g || !files_here(res)) return;
                Request r;
                r.action = "case." + std::string(req.matches[2]);
                r.target = req.matches[1];
                if (!pc::valid_case_id(r.target)) return send_error(res, 400, "bad_request", "not a case id: " + r.target);
                r.body = req.body;
                r.by = protocol::holder_of(*g);
                send(res, ctx->ask(std::move(r)));
              }).roles({protocol::Role::kHallManager, protocol::Role::kCentralOperator, protocol::Role::kAdmin});
}

}  // namespace yiban::edge::console
