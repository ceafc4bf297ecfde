#include "yiban/central/central_server.h"

#include <sys/stat.h>

#include <chrono>
#include <ctime>
#include <fstream>
#include <sstream>
#include <spdlog/spdlog.h>
#include <thread>
#include <zmq.h>

#include "api/http_api.h"
#include "sync/allow_list.h"
#include "sync/sync_server.h"
#include "yiban/central/central_store.h"
#include "booking/booking_service.h"
#include "yiban/runtime/notifier.h"
#include "yiban/protocol/bookings.h"
#include "yiban/protocol/city_catalog.h"
#include "yiban/protocol/curve_cert.h"
#include "yiban/protocol/ids.h"

namespace yiban::central {
namespace {

protocol::Expected<std::string> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return protocol::error("cannot read " + path.string());
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

protocol::Expected<std::pair<std::string, int>> split_host_port(const std::string& address) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos || colon + 1 == address.size())
    return protocol::error("--http " + address + ": expected HOST:PORT");
  std::string host = address.substr(0, colon);
  int port = 0;
  for (char c : address.substr(colon + 1)) {
    if (c < '0' || c > '9') return protocol::error("--http " + address + ": bad port");
    port = port * 10 + (c - '0');
    if (port > 65535) return protocol::error("--http " + address + ": bad port");
  }
  if (host.empty()) host = "0.0.0.0";
  return std::pair{host, port};
}

}  // namespace

struct CentralServer::Impl {
  CentralOptions options;
  std::string catalog_text;
  std::string catalog_version;
  std::unique_ptr<sync::SyncServer> sync;
  std::unique_ptr<runtime::Notifier> notifier;
  std::unique_ptr<booking::BookingService> bookings;
  std::unique_ptr<api::HttpApi> http;
};

CentralServer::CentralServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CentralServer::~CentralServer() {
  if (impl_->http) impl_->http->stop();
  if (impl_->bookings) impl_->bookings->stop();
  if (impl_->notifier) impl_->notifier->stop();
  if (impl_->sync) impl_->sync->stop();
}

protocol::Expected<LoadedCert> load_cert(const std::filesystem::path& path, bool need_secret) {
  auto text = read_file(path);
  if (!text) return std::unexpected(text.error());
  auto cert = protocol::parse_curve_cert(*text);
  if (!cert) return protocol::error(path.string() + ": " + cert.error().message);
  if (need_secret && !cert->secret_key) return protocol::error(path.string() + ": not a secret certificate");
  LoadedCert out{cert->public_key, cert->secret_key.value_or(""), ""};
  if (auto h = cert->metadata.find("hall"); h != cert->metadata.end()) out.hall = h->second;
  return out;
}

protocol::Expected<std::unique_ptr<CentralServer>> CentralServer::create(CentralOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  const auto& o = impl->options;
  if (o.cert.empty()) return protocol::error("--cert (central's secret certificate) is required");
  if (o.halls_dir.empty()) return protocol::error("--halls-dir (the allow-list of hall certificates) is required");
  auto cert = load_cert(o.cert, true);
  if (!cert) return std::unexpected(cert.error());
  auto allow = sync::AllowList::load(o.halls_dir);
  if (!allow) return std::unexpected(allow.error());
  if (allow->size() == 0) spdlog::warn("allow-list {} holds no hall certificates: no hall can connect", o.halls_dir.string());
  auto writer = open_sqlite_central_store(o.db.string());
  if (!writer) return protocol::error("store " + o.db.string() + ": " + writer.error().message);
  sync::SyncServerOptions so;
  so.bind = o.bind;
  so.public_key = cert->public_key;
  so.secret_key = cert->secret_key;
  so.session_timeout_ms = o.session_timeout_ms;
  so.retention.commands_days = o.retention_commands_days;
  so.retention.outbox_days = o.retention_outbox_days;
  so.retention.tickets_days = o.retention_tickets_days;
  so.retention_period_ms = o.retention_period_ms;
  so.db_path = o.db.string();
  so.blob_dir = !o.blob_dir.empty() ? o.blob_dir.string()
                                    : (o.db.parent_path() / (o.db.stem().string() + ".blobs")).string();
  std::string catalog_text;
  std::string catalog_version;
  if (!o.catalog.empty()) {
    auto text = read_file(o.catalog);
    if (!text) return std::unexpected(text.error());
    auto catalog = protocol::parse_city_catalog(*text);
    if (!catalog) return protocol::error("--catalog " + o.catalog.string() + ": " + catalog.error().message);
    catalog_text = protocol::encode_city_catalog(*catalog);
    catalog_version = protocol::catalog_version(*catalog);
  }
  const std::string so_blob_dir = so.blob_dir;
  auto server = sync::SyncServer::create(std::move(so), std::move(*allow), std::move(*writer));
  if (!server) return std::unexpected(server.error());
  impl->sync = std::move(*server);
  impl->catalog_text = catalog_text;
  impl->catalog_version = catalog_version;
  if (!o.booking.empty()) {
    auto text = read_file(o.booking);
    if (!text) return std::unexpected(text.error());
    auto config = protocol::bookings::parse_booking_config(*text);
    if (!config) return protocol::error("--booking " + o.booking.string() + ": " + config.error().message);
    if (o.case_key_file.empty()) return protocol::error("--booking needs --case-key-file (the city's key that hashes IDs)");
    auto key = read_file(o.case_key_file);
    if (!key) return std::unexpected(key.error());
    std::string k = *key;
    while (!k.empty() && (k.back() == '\n' || k.back() == '\r' || k.back() == ' ')) k.pop_back();
    if (!o.notify_url.empty()) {
      if (o.notify_secret_file.empty()) return protocol::error("--notify-url needs --notify-secret-file");
      auto secret = read_file(o.notify_secret_file);
      if (!secret) return std::unexpected(secret.error());
      std::string sk = *secret;
      while (!sk.empty() && (sk.back() == '\n' || sk.back() == '\r' || sk.back() == ' ')) sk.pop_back();
      runtime::Notifier::Options no;
      no.db_path = o.db.string();
      no.url = o.notify_url;
      no.secret = sk;
      auto notifier = runtime::Notifier::create(std::move(no));
      if (!notifier) return protocol::error("--notify-url: " + notifier.error().message);
      impl->notifier = std::move(*notifier);
    }
    booking::BookingServiceOptions bo;
    bo.notify = impl->notifier != nullptr;
    if (impl->notifier) bo.notify_wake = [n = impl->notifier.get()] { n->wake(); };
    bo.config = std::move(*config);
    bo.case_key = std::move(k);
    bo.rebalance_every_ms = o.rebalance_every_ms;
    auto service = booking::BookingService::create(std::move(bo), *impl->sync);
    if (!service) return protocol::error("--booking: " + service.error().message);
    impl->bookings = std::move(*service);
  }
  if (!o.http.empty()) {
    if (o.tokens.empty()) return protocol::error("--tokens is required with --http");
    auto text = read_file(o.tokens);
    if (!text) return std::unexpected(text.error());
    auto grants = protocol::parse_token_file(*text);
    if (!grants) return protocol::error(o.tokens.string() + ": " + grants.error().message);
    auto address = split_host_port(o.http);
    if (!address) return std::unexpected(address.error());
    auto reader = open_sqlite_central_store(o.db.string());
    if (!reader) return protocol::error("store " + o.db.string() + ": " + reader.error().message);
    api::HttpApiOptions ho;
    ho.host = address->first;
    ho.port = address->second;
    ho.tokens = protocol::TokenTable(std::move(*grants));
    ho.web_dir = o.web.string();
    ho.http.tls_cert = o.http_tls_cert.string();
    ho.http.tls_key = o.http_tls_key.string();
    ho.http.header_timeout = std::chrono::milliseconds(o.http_header_timeout_ms);
    ho.http.max_connections = o.http_max_connections;
    ho.http.max_connections_per_peer = o.http_max_connections_per_peer;
    ho.catalog_path = o.catalog.string();
    ho.catalog_text = catalog_text;
    ho.blob_dir = so_blob_dir;
    ho.bookings = impl->bookings.get();
    auto http = api::HttpApi::create(std::move(ho), std::move(*reader), *impl->sync);
    if (!http) return std::unexpected(http.error());
    impl->http = std::move(*http);
  }
  return std::unique_ptr<CentralServer>(new CentralServer(std::move(impl)));
}

std::string CentralServer::sync_endpoint() const { return impl_->sync->endpoint(); }
int CentralServer::http_port() const { return impl_->http ? impl_->http->port() : 0; }

int CentralServer::run(const std::atomic<bool>& stop) {
  impl_->sync->start();
  if (!impl_->catalog_text.empty()) {
    // Halls that were not yet sent this catalog get it (they keep it offline).
    auto queued = impl_->sync->push_catalog(impl_->catalog_text, impl_->catalog_version).get();
    if (!queued) spdlog::error("city catalog: {}", queued.error().message);
    else spdlog::info("city catalog {} loaded; sent to {} halls that lacked it", impl_->catalog_version.substr(0, 12), *queued);
  }
  if (impl_->notifier) impl_->notifier->start();
  if (impl_->bookings) impl_->bookings->start();
  if (impl_->http) impl_->http->start();
  spdlog::info("central ready: sync {}{}", impl_->sync->endpoint(),
               impl_->http ? ", http port " + std::to_string(impl_->http->port()) : std::string());
  while (!stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  spdlog::info("stopping");
  if (impl_->http) impl_->http->stop();
  if (impl_->bookings) impl_->bookings->stop();
  if (impl_->notifier) impl_->notifier->stop();
  impl_->sync->stop();
  spdlog::info("stopped cleanly");
  return 0;
}

protocol::Expected<void> generate_keys(const std::filesystem::path& dir, const std::string& name,
                                       const std::string& hall) {
  if (name.empty() || name.find('/') != std::string::npos || name.front() == '.')
    return protocol::error("--name must be a plain file name");
  if (!hall.empty() && !protocol::is_valid_hall_id(hall)) return protocol::error("--hall " + hall + " is not a valid hall id");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return protocol::error("cannot create " + dir.string() + ": " + ec.message());
  auto pub_path = dir / (name + ".pub");
  auto key_path = dir / (name + ".key");
  if (std::filesystem::exists(pub_path) || std::filesystem::exists(key_path))
    return protocol::error(key_path.string() + " already exists; not overwriting a key");
  char public_key[41];
  char secret_key[41];
  if (zmq_curve_keypair(public_key, secret_key) != 0) return protocol::error("zmq_curve_keypair failed (CURVE unavailable?)");
  protocol::CurveCert cert;
  cert.public_key = public_key;
  cert.secret_key = std::string(secret_key);
  if (!hall.empty()) cert.metadata["hall"] = hall;
  std::time_t t = std::time(nullptr);
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", std::gmtime(&t));
  {
    // The secret file is created 0600 before anything is written into it.
    mode_t old = umask(0077);
    std::ofstream out(key_path, std::ios::trunc);
    umask(old);
    if (!out) return protocol::error("cannot write " + key_path.string());
    out << protocol::format_curve_cert(cert, true, when);
    if (!out.flush()) return protocol::error("cannot write " + key_path.string());
  }
  std::filesystem::permissions(key_path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
                               std::filesystem::perm_options::replace, ec);
  std::ofstream out(pub_path, std::ios::trunc);
  if (!out) return protocol::error("cannot write " + pub_path.string());
  out << protocol::format_curve_cert(cert, false, when);
  if (!out.flush()) return protocol::error("cannot write " + pub_path.string());
  return {};
}

protocol::Expected<RebuildReport> rebuild_projections(const std::filesystem::path& db) {
  if (!std::filesystem::exists(db)) return protocol::error(db.string() + " does not exist");
  auto store = open_sqlite_central_store(db.string());
  if (!store) return std::unexpected(store.error());
  RebuildReport r;
  auto before = (*store)->projection_digest();
  if (!before) return std::unexpected(before.error());
  auto ok = (*store)->rebuild();
  if (!ok) return std::unexpected(ok.error());
  auto after = (*store)->projection_digest();
  if (!after) return std::unexpected(after.error());
  auto count = (*store)->event_count();
  if (!count) return std::unexpected(count.error());
  return RebuildReport{*count, *before, *after};
}

}  // namespace yiban::central
