#include "support/central_process.h"

#include "yiban/runtime/http_client.h"

#include <catch2/catch.hpp>

#include <csignal>
#include <fstream>
#include <stdexcept>

#include "store/event_archive.h"
#include "support/edge_process.h"
#include "yiban/central/central_server.h"

namespace yiban::test {

std::vector<std::string> edge_log_texts(const std::filesystem::path& edge_db) {
  std::vector<std::string> texts;
  auto anchor = query_strings(edge_db, "SELECT value FROM meta WHERE key = 'archive_seq'");
  if (!anchor.empty() && std::stoll(anchor[0]) > 0) {
    // Archived events first (store/event_archive.h), up to the anchor.
    const std::int64_t upto = std::stoll(anchor[0]);
    auto reader = yiban::edge::store::EventArchiveReader::open(
        edge_db.parent_path() / (edge_db.stem().string() + ".archive"), 1);
    INFO((reader ? std::string() : reader.error().message));
    REQUIRE(reader);
    auto archived = reader->read(upto, static_cast<std::size_t>(upto), SIZE_MAX);
    INFO((archived ? std::string() : archived.error().message));
    REQUIRE(archived);
    texts = std::move(*archived);
  }
  for (auto& t : query_strings(edge_db, "SELECT text FROM events ORDER BY seq")) texts.push_back(std::move(t));
  return texts;
}

void require_same_log(const std::filesystem::path& edge_db, const std::string& hall, const CentralProcess& central) {
  auto edge_texts = edge_log_texts(edge_db);
  auto central_texts =
      query_strings(central.db(), "SELECT text FROM events WHERE hall = '" + hall + "' ORDER BY seq");
  REQUIRE(central_texts.size() == edge_texts.size());
  CHECK(central_texts == edge_texts);
  auto edge_chain = query_strings(edge_db, "SELECT hex(chain) FROM events ORDER BY seq DESC LIMIT 1");
  auto central_chain = query_strings(central.db(), "SELECT hex(acked_chain) FROM halls WHERE hall = '" + hall + "'");
  CHECK(central_chain == edge_chain);
  CHECK(query_strings(edge_db, "PRAGMA integrity_check") == std::vector<std::string>{"ok"});
  CHECK(query_strings(central.db(), "PRAGMA integrity_check") == std::vector<std::string>{"ok"});
}

CentralProcess::CentralProcess(std::filesystem::path dir, std::vector<std::string> halls) : dir_(std::move(dir)) {
  std::filesystem::create_directories(dir_ / "halls");
  if (!yiban::central::generate_keys(dir_ / "keys", "central", ""))
    throw std::runtime_error("cannot generate central's keys");
  for (const auto& hall : halls) {
    if (!yiban::central::generate_keys(dir_ / "keys", hall, hall))
      throw std::runtime_error("cannot generate keys for " + hall);
    std::filesystem::copy_file(dir_ / "keys" / (hall + ".pub"), dir_ / "halls" / (hall + ".pub"));
  }
  std::ofstream tokens(dir_ / "tokens.txt");
  tokens << kAdminToken << " admin\n"
         << kOperatorToken << " central-operator\n"
         << kViewerToken << " viewer\n"
         << kHallManagerToken << " hall-manager test-hall\n";
  sync_port_ = free_tcp_port();
  http_port_ = free_tcp_port();
  while (http_port_ == sync_port_) http_port_ = free_tcp_port();
}

CentralProcess::~CentralProcess() = default;

std::vector<std::string> CentralProcess::edge_args(const std::string& hall) const {
  return {"--central", sync_uri(), "--central-cert", (dir_ / "keys" / "central.pub").string(), "--hall-cert",
          (dir_ / "keys" / (hall + ".key")).string()};
}

void CentralProcess::start() {
  std::vector<std::string> args{"--db", db().string(), "--bind", sync_uri(), "--cert",
                                (dir_ / "keys" / "central.key").string(), "--halls-dir", (dir_ / "halls").string(),
                                "--http", "127.0.0.1:" + std::to_string(http_port_), "--tokens",
                                (dir_ / "tokens.txt").string(), "--session-timeout", "3"};
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  // The log is appended to across restarts: only this start's lines count.
  const std::size_t log_start = log_text().size();
  process_ = std::make_unique<ChildProcess>(YIBAN_CENTRAL_BINARY, args, log());
  // Its "ready" line comes once sync and HTTP (plain or TLS) both serve.
  bool ready = eventually(
      [&] { return log_text().find("central ready:", log_start) != std::string::npos || !process_->running(); },
      std::chrono::seconds(15));
  if (!ready || !process_->running()) throw std::runtime_error("yiban-central did not start; its log:\n" + log_text());
}

void CentralProcess::kill9() {
  if (process_) process_->kill_now();
}

int CentralProcess::terminate() {
  if (!process_) return -1;
  process_->signal(SIGTERM);
  return process_->wait_exit(std::chrono::seconds(10));
}

CentralProcess::Response CentralProcess::request(const std::string& method, const std::string& path,
                                                 const std::string& body, const std::string& token) const {
  return http_request(http_port_, method, path, body, token);
}

yiban::runtime::HttpClient http_client(int port, std::chrono::milliseconds timeout) {
  yiban::runtime::HttpClient::Options options;
  options.timeout = timeout;
  auto client = yiban::runtime::HttpClient::create("http://127.0.0.1:" + std::to_string(port), options);
  if (!client) throw std::runtime_error("http_client: " + client.error().message);
  return std::move(*client);
}

HttpResponse http_request(int port, const std::string& method, const std::string& path, const std::string& body,
                          const std::string& token) {
  using yiban::runtime::HttpMethod;
  auto client = http_client(port, std::chrono::seconds(5));
  yiban::runtime::HttpHeaders headers;
  if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
  const HttpMethod m = method == "GET"      ? HttpMethod::kGet
                       : method == "PUT"    ? HttpMethod::kPut
                       : method == "DELETE" ? HttpMethod::kDelete
                                            : HttpMethod::kPost;
  const bool with_body = m == HttpMethod::kPut || m == HttpMethod::kPost;
  auto r = client.request(m, path, headers, with_body ? body : std::string(), with_body ? "application/json" : "");
  if (!r) return {};
  return {r->status, std::move(r->body)};
}

}  // namespace yiban::test

