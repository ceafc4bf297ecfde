#pragma once
// Online backup and offline restore of one daemon's SQLite store (issue 15),
// shared by yiban-edge and yiban-central; each side supplies a StoreKind.
//
// A backup is two files: FILE, a consistent copy of the store taken with
// `VACUUM INTO` from a separate read connection while the daemon keeps
// serving (WAL readers never block its writer), and FILE.manifest.json:
//   {"format":1,"kind":"edge"|"central","store_id","schema_version","created_ts",
//    "created","source","bytes","sha256","blobs":"excluded","halls":[{"hall","last_seq","chain"}]}
// Both are written to temporary names, fsynced, renamed into place (0600),
// and the directory fsynced. Blob folders (case files) are not in a backup.
//
// restore_store() checks the manifest (kind), the copy's size and SHA-256,
// its integrity and schema, refuses while any process has the target store
// open, then puts the copy in place atomically: a temporary file next to the
// store, fsynced, optionally adjusted (StoreKind::adjust), the old store
// moved aside to DB.replaced-<time> (with its -wal), stale -wal/-shm
// removed, renamed, directory fsynced. Every failure before the rename
// leaves the target untouched.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "yiban/runtime/sqlite.h"
#include "yiban/protocol/error.h"

namespace yiban::runtime {

struct BackupHall {
  std::string hall;
  std::int64_t last_seq = 0;
  std::string chain;  // lower-case hex of chain(last_seq)
};

struct BackupManifest {
  std::string kind;  // "edge" or "central"
  std::string store_id;  // "" for a store made before store ids existed
  int schema_version = 0;
  std::int64_t created_ts = 0;  // ms since the epoch (UTC)
  std::string source;  // the store's path when the backup was taken
  std::int64_t bytes = 0;
  std::string sha256;  // lower-case hex of the copy
  std::vector<BackupHall> halls;
};

struct StoreKind {
  std::string kind;  // "edge" or "central"
  int schema_version = 0;  // the newest schema this binary understands
  // A table only this kind of store has (a wrong kind of file is refused).
  std::string marker_table;
  // Reads the store id and per-hall heads from an open (read-only) copy.
  std::function<Expected<std::string>(Database&)> store_id;
  std::function<Expected<std::vector<BackupHall>>(Database&)> halls;
  // Called on the temporary copy before it is renamed into place (central:
  // a new DOWN epoch); may be empty. Returns a line for the summary.
  std::function<Expected<std::string>(Database&)> adjust;
};

struct RestoreReport {
  BackupManifest manifest;
  std::string replaced;  // where the old store was moved ("" when there was none)
  std::string adjusted;  // what adjust() said
};

// Whether a process has the store open (SQLite's WAL shared-memory
// dead-man-switch lock: every connection holds a read lock on it). A store
// without a -shm file is not open in WAL mode by anyone.
Expected<bool> store_in_use(const std::string& db_path);

Expected<BackupManifest> backup_store(const std::string& db_path, const std::string& out, const StoreKind& kind);
Expected<RestoreReport> restore_store(const std::string& in, const std::string& db_path, const StoreKind& kind);

// Reads and checks a backup's manifest (FILE.manifest.json).
Expected<BackupManifest> read_backup_manifest(const std::string& in);
std::string manifest_path(const std::string& backup);

// One line per fact, for the tools' output.
std::string describe_backup(const BackupManifest& m);

// The `backup` and `restore` subcommands of yiban-edge and yiban-central
// (args after the subcommand's name): --db, --out / --in, --help. Prints the
// summary on stdout, errors on stderr; returns the exit code (0 done, 1
// failed, 2 usage).
int backup_tool_main(const StoreKind& kind, std::string_view command, const std::vector<std::string>& args);

}  // namespace yiban::runtime
