#include "yiban/edge/edge_backup.h"

#include "store/edge_store.h"
#include "yiban/runtime/store_backup.h"

namespace yiban::edge {
namespace {

using protocol::Expected;

Expected<std::string> meta(runtime::Database& db, std::string_view key) {
  auto s = db.prepare("SELECT value FROM meta WHERE key = ?1");
  if (!s) return std::unexpected(s.error());
  s->bind(1, key);
  auto row = s->step();
  if (!row) return std::unexpected(row.error());
  return *row ? s->column_text(0) : std::string();
}

runtime::StoreKind edge_kind() {
  runtime::StoreKind kind;
  kind.kind = "edge";
  kind.schema_version = store::kSchemaVersion;
  kind.marker_table = "meta";
  kind.store_id = [](runtime::Database& db) { return meta(db, "store_id"); };
  kind.halls = [](runtime::Database& db) -> Expected<std::vector<runtime::BackupHall>> {
    auto hall = meta(db, "hall");
    if (!hall) return std::unexpected(hall.error());
    runtime::BackupHall head{*hall, 0, std::string(64, '0')};
    auto s = db.prepare("SELECT seq, lower(hex(chain)) FROM events ORDER BY seq DESC LIMIT 1");
    if (!s) return std::unexpected(s.error());
    auto row = s->step();
    if (!row) return std::unexpected(row.error());
    if (*row) {
      head.last_seq = s->column_int(0);
      head.chain = s->column_text(1);
    }
    return std::vector<runtime::BackupHall>{head};
  };
  return kind;
}

}  // namespace

int edge_backup_main(std::string_view command, const std::vector<std::string>& args) {
  return runtime::backup_tool_main(edge_kind(), command, args);
}

}  // namespace yiban::edge
