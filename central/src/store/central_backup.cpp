#include "yiban/central/central_backup.h"

#include <sodium.h>

#include "yiban/central/central_store.h"
#include "yiban/runtime/store_backup.h"

namespace yiban::central {
namespace {

using protocol::Expected;

Expected<std::optional<std::string>> setting(runtime::Database& db, std::string_view key) {
  auto s = db.prepare("SELECT value FROM settings WHERE key = ?1");
  if (!s) return std::unexpected(s.error());
  s->bind(1, key);
  auto row = s->step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<std::string>();
  return std::optional<std::string>(s->column_text(0));
}

bool has_settings(runtime::Database& db) {
  auto s = db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'settings'");
  if (!s) return false;
  auto row = s->step();
  return row && *row;
}

std::string random_epoch() {
  unsigned char bytes[16];
  randombytes_buf(bytes, sizeof bytes);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char b : bytes) {
    hex += kHex[b >> 4];
    hex += kHex[b & 15];
  }
  return hex;
}

runtime::StoreKind central_kind() {
  runtime::StoreKind kind;
  kind.kind = "central";
  kind.schema_version = central_schema_version();
  kind.marker_table = "halls";
  kind.store_id = [](runtime::Database& db) -> Expected<std::string> {
    if (!has_settings(db)) return std::string();
    auto id = setting(db, "store_id");
    if (!id) return std::unexpected(id.error());
    return id->value_or("");
  };
  kind.halls = [](runtime::Database& db) -> Expected<std::vector<runtime::BackupHall>> {
    auto s = db.prepare("SELECT hall, acked_seq, lower(hex(acked_chain)) FROM halls ORDER BY hall");
    if (!s) return std::unexpected(s.error());
    std::vector<runtime::BackupHall> halls;
    for (;;) {
      auto row = s->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      halls.push_back({s->column_text(0), s->column_int(1), s->column_text(2)});
    }
    return halls;
  };
  kind.adjust = [](runtime::Database& db) -> Expected<std::string> {
    if (sodium_init() < 0) return protocol::error("libsodium cannot start (no random numbers)");
    if (!has_settings(db))
      return protocol::error("the backup's schema is older than central's settings table; it cannot start a new "
                             "DOWN epoch");
    auto old_epoch = setting(db, "down_epoch");
    if (!old_epoch) return std::unexpected(old_epoch.error());
    const std::string prev = old_epoch->value_or("");
    const std::string next = random_epoch();
    if (auto ok = db.exec("BEGIN IMMEDIATE"); !ok) return std::unexpected(ok.error());
    auto put = db.prepare(
        "INSERT INTO settings(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
    if (!put) return std::unexpected(put.error());
    auto ok = put->bind(1, "down_epoch_prev").bind(2, prev).run();
    if (ok) ok = put->bind(1, "down_epoch").bind(2, next).run();
    if (ok) ok = db.exec("COMMIT");
    if (!ok) {
      (void)db.exec("ROLLBACK");
      return std::unexpected(ok.error());
    }
    return "new DOWN epoch " + next + " (the backup's was " + (prev.empty() ? std::string("none") : prev) +
           "): each hall re-bases its command numbering at its next HELLO";
  };
  return kind;
}

}  // namespace

int central_backup_main(std::string_view command, const std::vector<std::string>& args) {
  return runtime::backup_tool_main(central_kind(), command, args);
}

}  // namespace yiban::central
