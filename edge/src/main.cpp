// yiban-edge: one per hall. Reads options, builds the daemon, runs it.

#include <sys/stat.h>
#include <boost/program_options.hpp>
#include <csignal>
#include <fstream>
#include <iostream>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <sstream>

#include "yiban/runtime/logging.h"
#include "yiban/edge/broker_provision.h"
#include "yiban/edge/edge_backup.h"
#include "yiban/edge/edge_daemon.h"
#include "yiban/protocol/curve_cert.h"
#include "yiban/protocol/tokens.h"

namespace po = boost::program_options;

namespace {

std::atomic<bool> g_stop{false};

void on_signal(int) { g_stop.store(true); }

// A secret file's first line (protocol::read_secret_file); throws when unreadable.
std::string read_secret(const std::string& path) {
  auto secret = yiban::protocol::read_secret_file(path);
  if (!secret) throw std::runtime_error(secret.error().message);
  return *secret;
}

// A CURVE certificate file (CZMQ format).
yiban::protocol::Expected<yiban::protocol::CurveCert> read_cert(const std::string& path, bool need_secret) {
  std::ifstream in(path);
  if (!in) return yiban::protocol::error("cannot read certificate " + path);
  std::stringstream text;
  text << in.rdbuf();
  auto cert = yiban::protocol::parse_curve_cert(text.str());
  if (!cert) return yiban::protocol::error(path + ": " + cert.error().message);
  if (need_secret && !cert->secret_key) return yiban::protocol::error(path + ": not a secret certificate (.key)");
  return cert;
}

}  // namespace

int main(int argc, char** argv) {
  // provision writes the broker's files with the modes mosquitto needs.
  if (argc > 1 && std::string_view(argv[1]) == "provision") return yiban::edge::provision_main(argc - 1, argv + 1);
  // Everything else this process creates (database, WAL, blobs, backups,
  // archives) holds personal data: owner only, 0600 files and 0700 folders.
  ::umask(077);
  if (argc > 1 && (std::string_view(argv[1]) == "backup" || std::string_view(argv[1]) == "restore"))
    return yiban::edge::edge_backup_main(argv[1], std::vector<std::string>(argv + 2, argv + argc));
  po::options_description options("yiban-edge options");
  options.add_options()
      ("help,h", "show this help")
      ("config", po::value<std::string>(), "INI file with any of these options (name = value)")
      ("hall-config", po::value<std::string>(), "hall description (hall.json); required")
      ("db", po::value<std::string>()->default_value("edge.db"), "SQLite file of this hall's store")
      ("mqtt", po::value<std::string>()->default_value("tcp://127.0.0.1:1883"), "hall broker URI")
      ("mqtt-user", po::value<std::string>(), "broker user name")
      ("mqtt-password-file", po::value<std::string>(), "file whose first line is the broker password")
      ("mqtt-ca-file", po::value<std::string>(), "with an ssl:// broker: the CA certificate that signed the broker's")
      ("mqtt-client-id", po::value<std::string>(), "MQTT client id (default yiban-edge-{hall})")
      ("central", po::value<std::string>(), "central sync endpoint, e.g. tcp://central:7701")
      ("central-cert", po::value<std::string>(), "central's public certificate")
      ("hall-cert", po::value<std::string>(), "this hall's secret certificate")
      ("http", po::value<std::string>(), "console API address, e.g. 127.0.0.1:8080 (needs --tokens)")
      ("tokens", po::value<std::string>(), "bearer token file (TOKEN ROLE [HALL] per line)")
      ("web", po::value<std::string>(), "the console's static files (central/web), served at /")
      ("http-tls-cert", po::value<std::string>(), "PEM certificate (chain) of the console's HTTPS; with --http-tls-key")
      ("http-tls-key", po::value<std::string>(), "PEM private key of the console's HTTPS")
      ("http-header-timeout", po::value<int>()->default_value(10), "seconds a client has to send a request's headers")
      ("http-max-connections", po::value<int>()->default_value(4096), "console connections open at once")
      ("http-max-connections-per-peer", po::value<int>()->default_value(128), "console connections from one address")
      ("blob-dir", po::value<std::string>(), "where case files are kept (default: next to --db, <stem>.blobs)")
      ("notify-url", po::value<std::string>(), "the hall's message sender (webhook) for \"your turn is near\"")
      ("notify-secret-file", po::value<std::string>(), "file whose first line signs the webhook calls (HMAC-SHA256)")
      ("case-key-file", po::value<std::string>(),
       "the city's case key (a secret shared by every hall; at least 32 bytes): hashes applicants' IDs")
      ("zoneinfo", po::value<std::string>()->default_value("/usr/share/zoneinfo"), "time zone database")
      ("log-level", po::value<std::string>()->default_value("info"), "trace, debug, info, warn, error");

  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, options), vm);
    if (vm.count("config")) {
      std::ifstream file(vm["config"].as<std::string>());
      if (!file) throw std::runtime_error("cannot read config file " + vm["config"].as<std::string>());
      po::store(po::parse_config_file(file, options), vm);
    }
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << "yiban-edge: " << e.what() << "\n" << "Try 'yiban-edge --help'.\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << "yiban-edge: runs one service hall (queue, devices over MQTT 5, durable store).\n"
              << "yiban-edge provision --hall-config hall.json --out DIR: the hall broker's passwords,\n"
              << "  ACL and config, and each device's credentials (yiban-edge provision --help).\n"
              << "yiban-edge backup --out FILE [--db edge.db]: an online copy of the store + FILE.manifest.json.\n"
              << "yiban-edge restore --in FILE [--db edge.db]: puts a backup back (the edge stopped).\n\n"
              << options << "\n";
    return 0;
  }

  if (auto logging = yiban::runtime::start_logging("edge", vm["log-level"].as<std::string>()); !logging) {
    spdlog::critical("cannot start: {}", logging.error().message);
    return 2;
  }

  if (!vm.count("hall-config")) {
    spdlog::critical("--hall-config is required");
    return 2;
  }
  yiban::edge::EdgeOptions opts;
  opts.hall_config = vm["hall-config"].as<std::string>();
  opts.db = vm["db"].as<std::string>();
  opts.mqtt_uri = vm["mqtt"].as<std::string>();
  opts.zoneinfo_root = vm["zoneinfo"].as<std::string>();
  if (vm.count("mqtt-user")) opts.mqtt_user = vm["mqtt-user"].as<std::string>();
  if (vm.count("mqtt-ca-file")) opts.mqtt_ca_file = vm["mqtt-ca-file"].as<std::string>();
  if (vm.count("mqtt-client-id")) opts.mqtt_client_id = vm["mqtt-client-id"].as<std::string>();
  if (vm.count("blob-dir")) opts.blob_dir = vm["blob-dir"].as<std::string>();
  if (vm.count("notify-url")) {
    if (!vm.count("notify-secret-file")) {
      spdlog::critical("--notify-url needs --notify-secret-file (the webhook signing secret)");
      return 2;
    }
    opts.notify_url = vm["notify-url"].as<std::string>();
    try {
      opts.notify_secret = read_secret(vm["notify-secret-file"].as<std::string>());
    } catch (const std::exception& e) {
      spdlog::critical("{}", e.what());
      return 2;
    }
  }
  try {
    if (vm.count("case-key-file")) {
      opts.case_key = read_secret(vm["case-key-file"].as<std::string>());
      if (opts.case_key.size() < 32) {
        spdlog::critical("--case-key-file {}: the key is {} bytes; at least 32 are needed",
                         vm["case-key-file"].as<std::string>(), opts.case_key.size());
        return 2;
      }
    }
    if (vm.count("mqtt-password-file")) opts.mqtt_password = read_secret(vm["mqtt-password-file"].as<std::string>());
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 2;
  }
  if (vm.count("central")) {
    if (!vm.count("central-cert") || !vm.count("hall-cert")) {
      spdlog::critical("--central needs --central-cert (central's public certificate) and --hall-cert (this hall's "
                       "secret certificate)");
      return 2;
    }
    auto central = read_cert(vm["central-cert"].as<std::string>(), false);
    auto hall = read_cert(vm["hall-cert"].as<std::string>(), true);
    if (!central || !hall) {
      spdlog::critical("{}", !central ? central.error().message : hall.error().message);
      return 2;
    }
    opts.central_uri = vm["central"].as<std::string>();
    opts.central_public_key = central->public_key;
    opts.hall_public_key = hall->public_key;
    opts.hall_secret_key = *hall->secret_key;
  }
  if (vm.count("http")) {
    const auto address = vm["http"].as<std::string>();
    auto colon = address.rfind(':');
    int port = -1;
    if (colon != std::string::npos && colon + 1 < address.size() && address.size() - colon <= 6) {
      port = 0;
      for (char c : address.substr(colon + 1)) port = (c >= '0' && c <= '9' && port >= 0) ? port * 10 + (c - '0') : -1;
    }
    if (port < 0 || port > 65535) {
      spdlog::critical("--http {}: expected HOST:PORT", address);
      return 2;
    }
    if (!vm.count("tokens")) {
      spdlog::critical("--http needs --tokens (the bearer token file)");
      return 2;
    }
    std::ifstream tokens(vm["tokens"].as<std::string>());
    if (!tokens) {
      spdlog::critical("cannot read token file {}", vm["tokens"].as<std::string>());
      return 2;
    }
    std::stringstream text;
    text << tokens.rdbuf();
    opts.http_host = colon == 0 ? "127.0.0.1" : address.substr(0, colon);
    opts.http_port = port;
    opts.tokens_text = text.str();
    if (vm.count("web")) opts.web_dir = vm["web"].as<std::string>();
    if (vm.count("http-tls-cert")) opts.http_tls_cert = vm["http-tls-cert"].as<std::string>();
    if (vm.count("http-tls-key")) opts.http_tls_key = vm["http-tls-key"].as<std::string>();
    const int timeout_s = vm["http-header-timeout"].as<int>();
    const int max_conns = vm["http-max-connections"].as<int>();
    const int per_peer = vm["http-max-connections-per-peer"].as<int>();
    if (timeout_s < 1 || timeout_s > 300 || max_conns < 1 || per_peer < 1 || per_peer > max_conns) {
      spdlog::critical("--http-header-timeout must be 1..300 s and 1 <= --http-max-connections-per-peer <= "
                       "--http-max-connections");
      return 2;
    }
    opts.http_header_timeout_ms = timeout_s * 1000;
    opts.http_max_connections = max_conns;
    opts.http_max_connections_per_peer = per_peer;
  }

  auto daemon = yiban::edge::EdgeDaemon::create(std::move(opts), std::make_shared<yiban::edge::SystemClock>());
  if (!daemon) {
    spdlog::critical("cannot start: {}", daemon.error().message);
    return 1;
  }
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  std::signal(SIGPIPE, SIG_IGN);
  return (*daemon)->run(g_stop);
}
