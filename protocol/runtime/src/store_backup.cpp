#include "yiban/runtime/store_backup.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

namespace yiban::runtime {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// SQLite's unix VFS: the WAL index's lock bytes start at 120 of the -shm
// file; byte 128 is the dead-man switch every connection read-locks while it
// has the database open (sqlite3 os_unix.c, UNIX_SHM_DMS).
constexpr off_t kShmDeadManSwitch = 128;
constexpr int kManifestFormat = 1;

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string iso_utc(std::int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char b[32];
  std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return b;
}

std::string compact_utc(std::int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char b[32];
  std::strftime(b, sizeof b, "%Y%m%dT%H%M%SZ", &tm);
  return b;
}

using protocol::errno_text;

Expected<void> fsync_path(const std::string& path, bool directory) {
  int fd = ::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return protocol::error("cannot open " + path + " to sync it: " + errno_text());
  int rc = ::fsync(fd);
  int saved = errno;
  ::close(fd);
  if (rc != 0) return protocol::error("cannot sync " + path + ": " + std::strerror(saved));
  return {};
}

std::string parent_dir(const std::string& path) {
  auto parent = fs::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

// Creates an empty file, mode 0600, that must not exist yet.
Expected<void> create_private(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return protocol::error("cannot create " + path + ": " + errno_text());
  ::fchmod(fd, 0600);  // whatever the umask
  ::close(fd);
  return {};
}

Expected<void> write_private(const std::string& path, std::string_view text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return protocol::error("cannot create " + path + ": " + errno_text());
  ::fchmod(fd, 0600);
  std::size_t done = 0;
  while (done < text.size()) {
    auto n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      auto message = errno_text();
      ::close(fd);
      return protocol::error("cannot write " + path + ": " + message);
    }
    done += static_cast<std::size_t>(n);
  }
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return protocol::error("cannot sync " + path + ": " + errno_text());
  return {};
}

Expected<void> copy_private(const std::string& from, const std::string& to) {
  int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return protocol::error("cannot read " + from + ": " + errno_text());
  int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (out < 0) {
    auto message = errno_text();
    ::close(in);
    return protocol::error("cannot create " + to + ": " + message);
  }
  ::fchmod(out, 0600);
  std::string failure;
  char buf[1 << 16];
  for (;;) {
    auto n = ::read(in, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      failure = "cannot read " + from + ": " + errno_text();
      break;
    }
    if (n == 0) break;
    for (ssize_t done = 0; done < n;) {
      auto w = ::write(out, buf + done, static_cast<std::size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        failure = "cannot write " + to + ": " + errno_text();
        break;
      }
      done += w;
    }
    if (!failure.empty()) break;
  }
  if (failure.empty() && ::fsync(out) != 0) failure = "cannot sync " + to + ": " + errno_text();
  ::close(in);
  ::close(out);
  if (!failure.empty()) {
    ::unlink(to.c_str());
    return protocol::error(std::move(failure));
  }
  return {};
}

// SHA-256 (hex) and size of a file.
Expected<std::pair<std::string, std::int64_t>> file_digest(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return protocol::error("cannot read " + path);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  std::int64_t size = 0;
  char buf[1 << 16];
  while (in) {
    in.read(buf, sizeof buf);
    auto n = in.gcount();
    if (n <= 0) break;
    EVP_DigestUpdate(ctx.get(), buf, static_cast<std::size_t>(n));
    size += n;
  }
  if (in.bad()) return protocol::error("cannot read " + path);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned i = 0; i < len; ++i) {
    hex += kHex[md[i] >> 4];
    hex += kHex[md[i] & 15];
  }
  return std::pair{hex, size};
}

Expected<std::int64_t> int_pragma(Database& db, std::string_view sql) {
  auto s = db.prepare(sql);
  if (!s) return std::unexpected(s.error());
  auto row = s->step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return protocol::error(std::string(sql) + ": no answer");
  return s->column_int(0);
}

// Opens a backup copy read in place, changing nothing next to it.
Expected<Database> open_copy(const std::string& path) {
  std::string uri = "file:";
  for (char c : fs::absolute(path).string()) {
    if (c == '?' || c == '#' || c == '%') {
      char b[4];
      std::snprintf(b, sizeof b, "%%%02X", static_cast<unsigned char>(c));
      uri += b;
    } else {
      uri += c;
    }
  }
  uri += "?immutable=1";
  return Database::open(uri, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI);
}

// The facts a manifest records, read from the copy itself (so they describe
// exactly what was copied); checks the copy is sound and of this kind.
Expected<void> inspect_copy(Database& db, const StoreKind& kind, const std::string& what, BackupManifest& m) {
  auto check = db.prepare("PRAGMA quick_check");
  if (!check) return protocol::error(what + " is not a SQLite database: " + check.error().message);
  auto row = check->step();
  if (!row) return protocol::error(what + " is not a readable SQLite database: " + row.error().message);
  if (!*row || check->column_text(0) != "ok")
    return protocol::error(what + " is damaged (SQLite quick_check: " + (*row ? check->column_text(0) : "") + ")");
  check->reset();
  auto marker = db.prepare("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1");
  if (!marker) return std::unexpected(marker.error());
  marker->bind(1, kind.marker_table);
  if (auto r = marker->step(); !r || !*r || marker->column_int(0) != 1)
    return protocol::error(what + " is not a " + kind.kind + " store (no " + kind.marker_table + " table)");
  auto version = int_pragma(db, "PRAGMA user_version");
  if (!version) return std::unexpected(version.error());
  if (*version < 1) return protocol::error(what + " has no schema (user_version 0)");
  if (*version > kind.schema_version)
    return protocol::error(what + " has schema version " + std::to_string(*version) + ", newer than this yiban-" +
                           kind.kind + " understands (" + std::to_string(kind.schema_version) + ")");
  m.schema_version = static_cast<int>(*version);
  auto id = kind.store_id(db);
  if (!id) return protocol::error(what + ": " + id.error().message);
  m.store_id = *id;
  auto halls = kind.halls(db);
  if (!halls) return protocol::error(what + ": " + halls.error().message);
  m.halls = std::move(*halls);
  return {};
}

json manifest_json(const BackupManifest& m) {
  json halls = json::array();
  for (const auto& h : m.halls) halls.push_back({{"hall", h.hall}, {"last_seq", h.last_seq}, {"chain", h.chain}});
  return json{{"format", kManifestFormat},
              {"kind", m.kind},
              {"store_id", m.store_id},
              {"schema_version", m.schema_version},
              {"created_ts", m.created_ts},
              {"created", iso_utc(m.created_ts)},
              {"source", m.source},
              {"bytes", m.bytes},
              {"sha256", m.sha256},
              {"blobs", "excluded"},
              {"halls", std::move(halls)}};
}

bool is_hex(const std::string& s, std::size_t size) {
  if (s.size() != size) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

std::string manifest_path(const std::string& backup) { return backup + ".manifest.json"; }

Expected<bool> store_in_use(const std::string& db_path) {
  const std::string shm = db_path + "-shm";
  int fd = ::open(shm.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return false;
    return protocol::error("cannot open " + shm + " to see whether the store is in use: " + errno_text());
  }
  struct flock lock {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  lock.l_start = kShmDeadManSwitch;
  lock.l_len = 1;
  bool busy = false;
  if (::fcntl(fd, F_SETLK, &lock) != 0) {
    if (errno != EAGAIN && errno != EACCES) {
      auto message = errno_text();
      ::close(fd);
      return protocol::error("cannot lock " + shm + ": " + message);
    }
    busy = true;
  } else {
    lock.l_type = F_UNLCK;
    (void)::fcntl(fd, F_SETLK, &lock);
  }
  ::close(fd);
  return busy;
}

Expected<BackupManifest> read_backup_manifest(const std::string& in) {
  const std::string path = manifest_path(in);
  std::ifstream file(path);
  if (!file) return protocol::error("cannot read the backup's manifest " + path + " (it is written next to the backup)");
  std::stringstream text;
  text << file.rdbuf();
  auto j = json::parse(text.str(), nullptr, false);
  if (!j.is_object()) return protocol::error(path + ": not a JSON object");
  BackupManifest m;
  try {
    if (j.value("format", 0) != kManifestFormat)
      return protocol::error(path + ": format " + j.value("format", json(nullptr)).dump() + " is not one this tool reads (1)");
    m.kind = j.at("kind").get<std::string>();
    m.store_id = j.at("store_id").get<std::string>();
    m.schema_version = j.at("schema_version").get<int>();
    m.created_ts = j.at("created_ts").get<std::int64_t>();
    m.source = j.value("source", "");
    m.bytes = j.at("bytes").get<std::int64_t>();
    m.sha256 = j.at("sha256").get<std::string>();
    for (const auto& h : j.at("halls"))
      m.halls.push_back({h.at("hall").get<std::string>(), h.at("last_seq").get<std::int64_t>(),
                         h.at("chain").get<std::string>()});
  } catch (const json::exception& e) {
    return protocol::error(path + ": " + e.what());
  }
  if (!is_hex(m.sha256, 64)) return protocol::error(path + ": sha256 is not 64 hex digits");
  return m;
}

Expected<BackupManifest> backup_store(const std::string& db_path, const std::string& out, const StoreKind& kind) {
  std::error_code ec;
  if (!fs::is_regular_file(db_path, ec)) return protocol::error("no store at " + db_path + " (--db)");
  if (fs::exists(out, ec) || fs::exists(manifest_path(out), ec))
    return protocol::error(out + " or its manifest already exists; choose another --out or remove them first");
  if (!fs::is_directory(parent_dir(out), ec)) return protocol::error("no directory " + parent_dir(out) + " for --out");
  const std::string tmp = out + ".tmp-" + std::to_string(::getpid());
  BackupManifest m;
  m.kind = kind.kind;
  m.source = fs::absolute(db_path).string();
  m.created_ts = now_ms();
  auto fail = [&](protocol::Error e) -> Expected<BackupManifest> {
    ::unlink(tmp.c_str());
    return std::unexpected(std::move(e));
  };
  if (auto ok = create_private(tmp); !ok) return std::unexpected(ok.error());
  {
    // A read connection of its own: the copy is one read transaction, a
    // consistent snapshot, while the daemon goes on writing.
    auto source = Database::open(db_path, SQLITE_OPEN_READWRITE);
    if (!source) return fail(source.error());
    if (auto ok = source->exec("PRAGMA busy_timeout=10000"); !ok) return fail(ok.error());
    auto vacuum = source->prepare("VACUUM INTO ?1");
    if (!vacuum) return fail(vacuum.error());
    vacuum->bind(1, tmp);
    if (auto ok = vacuum->run(); !ok) return fail(protocol::Error{"copying " + db_path + ": " + ok.error().message});
  }
  {
    auto copy = open_copy(tmp);
    if (!copy) return fail(copy.error());
    if (auto ok = inspect_copy(*copy, kind, "the copy of " + db_path, m); !ok) return fail(ok.error());
  }
  if (auto ok = fsync_path(tmp, false); !ok) return fail(ok.error());
  auto digest = file_digest(tmp);
  if (!digest) return fail(digest.error());
  m.sha256 = digest->first;
  m.bytes = digest->second;
  const std::string manifest_tmp = manifest_path(out) + ".tmp-" + std::to_string(::getpid());
  if (auto ok = write_private(manifest_tmp, manifest_json(m).dump(2) + "\n"); !ok) {
    ::unlink(manifest_tmp.c_str());
    return fail(ok.error());
  }
  // The copy first, then its manifest: a manifest never names a file that is not there.
  if (::rename(tmp.c_str(), out.c_str()) != 0 ||
      ::rename(manifest_tmp.c_str(), manifest_path(out).c_str()) != 0) {
    auto message = errno_text();
    ::unlink(manifest_tmp.c_str());
    ::unlink(tmp.c_str());
    return protocol::error("cannot put the backup in place at " + out + ": " + message);
  }
  if (auto ok = fsync_path(parent_dir(out), true); !ok) return std::unexpected(ok.error());
  return m;
}

Expected<RestoreReport> restore_store(const std::string& in, const std::string& db_path, const StoreKind& kind) {
  std::error_code ec;
  if (!fs::is_regular_file(in, ec)) return protocol::error("no backup file " + in + " (--in)");
  auto manifest = read_backup_manifest(in);
  if (!manifest) return std::unexpected(manifest.error());
  RestoreReport report;
  report.manifest = *manifest;
  const BackupManifest& m = report.manifest;
  if (m.kind != kind.kind)
    return protocol::error(in + " is a backup of a " + m.kind + " store; yiban-" + kind.kind + " restores only " +
                           kind.kind + " backups");
  auto digest = file_digest(in);
  if (!digest) return std::unexpected(digest.error());
  if (digest->second != m.bytes || digest->first != m.sha256)
    return protocol::error(in + " does not match its manifest (" + std::to_string(digest->second) + " bytes, sha256 " +
                           digest->first + "; the manifest says " + std::to_string(m.bytes) + " bytes, sha256 " +
                           m.sha256 + "): the file is damaged or not the one the manifest describes");
  {
    auto copy = open_copy(in);
    if (!copy) return std::unexpected(copy.error());
    BackupManifest seen;
    if (auto ok = inspect_copy(*copy, kind, in, seen); !ok) return std::unexpected(ok.error());
    if (seen.schema_version != m.schema_version || seen.store_id != m.store_id)
      return protocol::error(in + ": schema " + std::to_string(seen.schema_version) + " / store " + seen.store_id +
                             " differ from its manifest (" + std::to_string(m.schema_version) + " / " + m.store_id +
                             ")");
  }
  if (!fs::is_directory(parent_dir(db_path), ec)) return protocol::error("no directory " + parent_dir(db_path) + " for --db");
  auto busy = store_in_use(db_path);
  if (!busy) return std::unexpected(busy.error());
  if (*busy)
    return protocol::error("the store " + db_path + " is open in a running process (yiban-" + kind.kind +
                           "?); stop it before restoring");
  const std::string tmp = db_path + ".restore-tmp-" + std::to_string(::getpid());
  auto fail = [&](protocol::Error e) -> Expected<RestoreReport> {
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) ::unlink((tmp + suffix).c_str());
    return std::unexpected(std::move(e));
  };
  if (auto ok = copy_private(in, tmp); !ok) return std::unexpected(ok.error());
  if (kind.adjust) {
    auto db = Database::open(tmp, SQLITE_OPEN_READWRITE);
    if (!db) return fail(db.error());
    auto said = kind.adjust(*db);
    if (!said) return fail(said.error());
    report.adjusted = *said;
    if (auto ok = db->exec("PRAGMA wal_checkpoint(TRUNCATE)"); !ok) return fail(ok.error());
  }
  for (const char* suffix : {"-wal", "-shm", "-journal"}) ::unlink((tmp + suffix).c_str());
  if (auto ok = fsync_path(tmp, false); !ok) return fail(ok.error());
  busy = store_in_use(db_path);  // again, just before the switch
  if (!busy) return fail(busy.error());
  if (*busy) return fail(protocol::Error{"the store " + db_path + " was opened by another process meanwhile; not restored"});
  if (fs::exists(db_path, ec)) {
    report.replaced = db_path + ".replaced-" + compact_utc(now_ms());
    if (::rename(db_path.c_str(), report.replaced.c_str()) != 0)
      return fail(protocol::Error{"cannot move the old store aside to " + report.replaced + ": " + errno_text()});
    if (fs::exists(db_path + "-wal", ec)) (void)::rename((db_path + "-wal").c_str(), (report.replaced + "-wal").c_str());
  }
  for (const char* suffix : {"-wal", "-shm", "-journal"}) ::unlink((db_path + suffix).c_str());
  if (::rename(tmp.c_str(), db_path.c_str()) != 0)
    return fail(protocol::Error{"cannot rename " + tmp + " to " + db_path + ": " + errno_text()});
  if (auto ok = fsync_path(parent_dir(db_path), true); !ok) return std::unexpected(ok.error());
  return report;
}

std::string describe_backup(const BackupManifest& m) {
  std::string s = m.kind + " store " + (m.store_id.empty() ? std::string("(no store id)") : m.store_id) + ", schema " +
                  std::to_string(m.schema_version) + ", taken " + iso_utc(m.created_ts) + ", " +
                  std::to_string(m.bytes) + " bytes, sha256 " + m.sha256 + "\n";
  for (const auto& h : m.halls)
    s += "  hall " + h.hall + ": last seq " + std::to_string(h.last_seq) + ", chain " + h.chain + "\n";
  if (m.halls.empty()) s += "  no hall events yet\n";
  s += "  case files (blob folders) are not in the backup\n";
  return s;
}

}  // namespace yiban::runtime

namespace yiban::runtime {

int backup_tool_main(const StoreKind& kind, std::string_view command, const std::vector<std::string>& args) {
  const std::string program = "yiban-" + kind.kind + " " + std::string(command);
  const bool backup = command == "backup";
  const std::string file_option = backup ? "--out" : "--in";
  const std::string default_db = kind.kind + ".db";
  std::string db_path = default_db;
  std::string file;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string& into) {
      if (auto eq = a.find('='); eq != std::string::npos) {
        into = a.substr(eq + 1);
        return true;
      }
      if (i + 1 >= args.size()) return false;
      into = args[++i];
      return true;
    };
    if (a == "--help" || a == "-h") {
      if (backup)
        std::cout << program << " --out FILE [--db " << default_db << "]\n"
                  << "  Copies the store while yiban-" << kind.kind << " runs (a consistent snapshot, VACUUM INTO)\n"
                  << "  to FILE (0600) and writes FILE.manifest.json: store id, schema, time, each hall's last\n"
                  << "  seq and chain, size and SHA-256. Case files (the blob folder) are not included.\n";
      else
        std::cout << program << " --in FILE [--db " << default_db << "]\n"
                  << "  Puts a backup made by '" << "yiban-" << kind.kind << " backup' back as the store: checks\n"
                  << "  FILE.manifest.json (kind, size, SHA-256, schema), refuses while a process has the store\n"
                  << "  open, moves the old store aside (DB.replaced-<time>) and renames the copy into place."
                  << (kind.kind == "central" ? "\n  Starts a new DOWN epoch, so the halls re-base their command numbering.\n" : "\n");
      std::cout << "\n  --db FILE   the store (default " << default_db << ")\n  " << file_option
                << " FILE  the backup\n";
      return 0;
    }
    bool ok = true;
    if (a == "--db" || a.starts_with("--db=")) ok = value(db_path);
    else if (a == file_option || a.starts_with(file_option + "=")) ok = value(file);
    else {
      std::cerr << program << ": unknown option " << a << "\nTry '" << program << " --help'.\n";
      return 2;
    }
    if (!ok) {
      std::cerr << program << ": " << a << " needs a value\n";
      return 2;
    }
  }
  if (file.empty() || db_path.empty()) {
    std::cerr << program << ": " << file_option << " FILE is required\nTry '" << program << " --help'.\n";
    return 2;
  }
  if (backup) {
    auto m = backup_store(db_path, file, kind);
    if (!m) {
      std::cerr << program << ": " << m.error().message << "\n";
      return 1;
    }
    std::cout << "backed up " << db_path << " to " << file << " (manifest " << manifest_path(file) << ")\n"
              << describe_backup(*m);
    return 0;
  }
  auto r = restore_store(file, db_path, kind);
  if (!r) {
    std::cerr << program << ": " << r.error().message << "\n";
    return 1;
  }
  std::cout << "restored " << db_path << " from " << file << "\n" << describe_backup(r->manifest);
  if (!r->replaced.empty()) std::cout << "  the store it replaced was moved to " << r->replaced << "\n";
  if (!r->adjusted.empty()) std::cout << "  " << r->adjusted << "\n";
  return 0;
}

}  // namespace yiban::runtime
