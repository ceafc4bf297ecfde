#include "support/edge_process.h"

#include <csignal>
#include <nlohmann/json.hpp>
#include <sqlite3.h>
#include <stdexcept>
#include <thread>

#include "support/mqtt_test_client.h"

namespace yiban::test {

std::string hall_id_of(const std::filesystem::path& hall_config) {
  auto j = nlohmann::json::parse(read_file(hall_config));
  return j.at("hall").get<std::string>();
}

EdgeProcess::EdgeProcess(std::filesystem::path dir, std::filesystem::path hall_config, std::string mqtt_uri,
                         std::vector<std::string> extra_args)
    : dir_(std::move(dir)),
      hall_config_(std::move(hall_config)),
      mqtt_uri_(std::move(mqtt_uri)),
      extra_args_(std::move(extra_args)),
      hall_(hall_id_of(hall_config_)) {}

EdgeProcess::~EdgeProcess() = default;

void EdgeProcess::start() {
  std::string catalog = "yiban/v1/" + hall_ + "/catalog";
  MqttTestClient watcher(mqtt_uri_, "edge-watch-" + std::to_string(::getpid()) + "-" + hall_, watcher_login_);
  // A retained catalog left by an earlier run must not count as ready.
  watcher.publish(catalog, "", 1, true);
  watcher.subscribe(catalog, 1);
  std::vector<std::string> args{"--hall-config", hall_config_.string(), "--db", db().string(), "--mqtt", mqtt_uri_};
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  if (env_.empty()) {
    process_ = std::make_unique<ChildProcess>(YIBAN_EDGE_BINARY, args, log());
  } else {
    std::vector<std::string> env_args = env_;
    env_args.push_back(YIBAN_EDGE_BINARY);
    env_args.insert(env_args.end(), args.begin(), args.end());
    process_ = std::make_unique<ChildProcess>("/usr/bin/env", env_args, log());
  }
  auto ready = watcher.wait_for([&](const ReceivedMessage& m) { return m.topic == catalog && !m.payload.empty(); },
                                std::chrono::seconds(15));
  if (!ready) throw std::runtime_error("yiban-edge did not become ready; its log:\n" + log_text());
}

void EdgeProcess::kill9() {
  if (process_) process_->kill_now();
}

int EdgeProcess::terminate() {
  if (!process_) return -1;
  process_->signal(SIGTERM);
  return process_->wait_exit(std::chrono::seconds(10));
}

bool EdgeProcess::running() { return process_ && process_->running(); }

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

namespace {
struct ReadOnlyDb {
  sqlite3* db = nullptr;
  explicit ReadOnlyDb(const std::filesystem::path& path) {
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK)
      throw std::runtime_error("cannot open " + path.string());
    sqlite3_busy_timeout(db, 5000);
  }
  ~ReadOnlyDb() { sqlite3_close(db); }
};
}  // namespace

long long query_int(const std::filesystem::path& path, const std::string& sql) {
  ReadOnlyDb db(path);
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db.db, sql.c_str(), -1, &s, nullptr) != SQLITE_OK)
    throw std::runtime_error(std::string("bad query: ") + sqlite3_errmsg(db.db));
  long long value = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
  sqlite3_finalize(s);
  return value;
}

std::vector<std::string> query_strings(const std::filesystem::path& path, const std::string& sql) {
  ReadOnlyDb db(path);
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db.db, sql.c_str(), -1, &s, nullptr) != SQLITE_OK)
    throw std::runtime_error(std::string("bad query: ") + sqlite3_errmsg(db.db));
  std::vector<std::string> out;
  while (sqlite3_step(s) == SQLITE_ROW) {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    out.emplace_back(text ? text : "");
  }
  sqlite3_finalize(s);
  return out;
}

}  // namespace yiban::test
