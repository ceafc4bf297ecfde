// yiban-central: the city's aggregator. `yiban-central [options]` serves;
// `yiban-central keygen …` writes CURVE certificates; `yiban-central rebuild`
// recomputes projections from the stored events; `backup` / `restore` copy
// the store out and back (yiban/central/central_backup.h).

#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <boost/program_options.hpp>
#include <csignal>
#include <fstream>
#include <iostream>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "yiban/runtime/logging.h"
#include "yiban/central/central_backup.h"
#include "yiban/central/central_server.h"

namespace po = boost::program_options;

namespace {

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop.store(true); }

int keygen(const std::vector<std::string>& args) {
  po::options_description options("yiban-central keygen options");
  options.add_options()("help,h", "show this help")("out", po::value<std::string>(), "directory to write into; required")(
      "name", po::value<std::string>(), "file name without extension; required")(
      "hall", po::value<std::string>(), "hall id to bind the key to (hall certificates)");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(options).run(), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << "yiban-central keygen: " << e.what() << "\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << "yiban-central keygen: writes OUT/NAME.pub (public, safe to copy) and OUT/NAME.key (secret, 0600)\n"
              << "in CZMQ certificate format.\n\n"
              << options << "\n";
    return 0;
  }
  if (!vm.count("out") || !vm.count("name")) {
    std::cerr << "yiban-central keygen: --out and --name are required\n";
    return 2;
  }
  std::string hall = vm.count("hall") ? vm["hall"].as<std::string>() : "";
  auto ok = yiban::central::generate_keys(vm["out"].as<std::string>(), vm["name"].as<std::string>(), hall);
  if (!ok) {
    std::cerr << "yiban-central keygen: " << ok.error().message << "\n";
    return 1;
  }
  std::cout << "wrote " << vm["out"].as<std::string>() << "/" << vm["name"].as<std::string>() << ".pub and .key\n";
  return 0;
}

int rebuild(const std::vector<std::string>& args) {
  po::options_description options("yiban-central rebuild options");
  options.add_options()("help,h", "show this help")("db", po::value<std::string>()->default_value("central.db"),
                                                     "central's store (stop central first)");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(options).run(), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << "yiban-central rebuild: " << e.what() << "\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << "yiban-central rebuild: recomputes every projection from the stored events.\n\n" << options << "\n";
    return 0;
  }
  auto report = yiban::central::rebuild_projections(vm["db"].as<std::string>());
  if (!report) {
    std::cerr << "yiban-central rebuild: " << report.error().message << "\n";
    return 1;
  }
  bool same = report->digest_before == report->digest_after;
  std::cout << "rebuilt projections from " << report->events << " events\n"
            << "digest before " << report->digest_before << "\n"
            << "digest after  " << report->digest_after << "\n"
            << (same ? "identical: yes\n" : "identical: NO — the projections differed from a replay of the log\n");
  return same ? 0 : 3;
}

}  // namespace

int main(int argc, char** argv) {
  // Everything central creates (database, WAL, blobs, backups, keys) holds
  // personal data or secrets: owner only, 0600 files and 0700 folders.
  ::umask(077);
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "keygen") return keygen({args.begin() + 1, args.end()});
  if (!args.empty() && args[0] == "rebuild") return rebuild({args.begin() + 1, args.end()});
  if (!args.empty() && (args[0] == "backup" || args[0] == "restore"))
    return yiban::central::central_backup_main(args[0], {args.begin() + 1, args.end()});

  po::options_description options("yiban-central options");
  options.add_options()
      ("help,h", "show this help")
      ("config", po::value<std::string>(), "INI file with any of these options (name = value)")
      ("db", po::value<std::string>()->default_value("central.db"), "central's SQLite store")
      ("bind", po::value<std::string>()->default_value("tcp://*:7701"), "sync endpoint halls connect to")
      ("cert", po::value<std::string>(), "central's secret certificate (keygen --name central); required")
      ("halls-dir", po::value<std::string>(), "directory of hall public certificates (the allow-list); required")
      ("http", po::value<std::string>(), "HTTP API address, e.g. 0.0.0.0:8090")
      ("tokens", po::value<std::string>(), "bearer token file (TOKEN ROLE [HALL] per line)")
      ("web", po::value<std::string>(), "dashboard static files served at /")
      ("http-tls-cert", po::value<std::string>(), "PEM certificate (chain) of the API's HTTPS; with --http-tls-key")
      ("http-tls-key", po::value<std::string>(), "PEM private key of the API's HTTPS")
      ("http-header-timeout", po::value<int>()->default_value(10), "seconds a client has to send a request's headers")
      ("http-max-connections", po::value<int>()->default_value(4096), "HTTP connections open at once")
      ("http-max-connections-per-peer", po::value<int>()->default_value(128), "HTTP connections from one address")
      ("catalog", po::value<std::string>(), "city service catalog (JSON): which region and hall handle which service")
      ("blob-dir", po::value<std::string>(), "where case files are kept (default: next to --db, <stem>.blobs)")
      ("booking", po::value<std::string>(), "bookable slots of every hall (JSON, protocol/BOOKINGS.md)")
      ("case-key-file", po::value<std::string>(), "the city's key that hashes applicants' IDs (needed with --booking)")
      ("rebalance-every", po::value<int>()->default_value(30), "seconds between moves of unused central seats to halls")
      ("notify-url", po::value<std::string>(), "the city's message sender (webhook) for booking confirmations and reminders")
      ("notify-secret-file", po::value<std::string>(), "file whose first line signs the webhook calls (HMAC-SHA256)")
      ("session-timeout", po::value<int>()->default_value(10), "seconds of silence before a hall counts as disconnected")
      ("retention-commands-days", po::value<int>()->default_value(90),
       "days central keeps a command its hall has applied (the newest per hall always)")
      ("retention-outbox-days", po::value<int>()->default_value(30), "days central keeps a delivered or dead notification")
      ("retention-tickets-days", po::value<int>()->default_value(400),
       "days central keeps a finished ticket's row (the daily KPIs stay; central keeps every event)")
      ("retention-period", po::value<int>()->default_value(300), "seconds between retention runs")
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
    std::cerr << "yiban-central: " << e.what() << "\nTry 'yiban-central --help'.\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << "yiban-central: receives every hall's event log over ZeroMQ (CURVE), keeps it with\n"
              << "projections and KPIs, sends commands down, serves the HTTP API.\n\n"
              << "  yiban-central [options]                 serve\n"
              << "  yiban-central keygen --out DIR --name NAME [--hall HALL]\n"
              << "  yiban-central rebuild --db central.db\n"
              << "  yiban-central backup --out FILE [--db central.db]   online copy + FILE.manifest.json\n"
              << "  yiban-central restore --in FILE [--db central.db]   central stopped; new DOWN epoch\n\n"
              << options << "\n";
    return 0;
  }
  if (auto logging = yiban::runtime::start_logging("central", vm["log-level"].as<std::string>()); !logging) {
    spdlog::critical("cannot start: {}", logging.error().message);
    return 2;
  }

  yiban::central::CentralOptions o;
  o.db = vm["db"].as<std::string>();
  o.bind = vm["bind"].as<std::string>();
  if (vm.count("cert")) o.cert = vm["cert"].as<std::string>();
  if (vm.count("halls-dir")) o.halls_dir = vm["halls-dir"].as<std::string>();
  if (vm.count("http")) o.http = vm["http"].as<std::string>();
  if (vm.count("tokens")) o.tokens = vm["tokens"].as<std::string>();
  if (vm.count("web")) o.web = vm["web"].as<std::string>();
  if (vm.count("http-tls-cert")) o.http_tls_cert = vm["http-tls-cert"].as<std::string>();
  if (vm.count("http-tls-key")) o.http_tls_key = vm["http-tls-key"].as<std::string>();
  {
    const int timeout_s = vm["http-header-timeout"].as<int>();
    const int max_conns = vm["http-max-connections"].as<int>();
    const int per_peer = vm["http-max-connections-per-peer"].as<int>();
    if (timeout_s < 1 || timeout_s > 300 || max_conns < 1 || per_peer < 1 || per_peer > max_conns) {
      std::cerr << "yiban-central: --http-header-timeout must be 1..300 s and 1 <= --http-max-connections-per-peer "
                   "<= --http-max-connections\n";
      return 2;
    }
    o.http_header_timeout_ms = timeout_s * 1000;
    o.http_max_connections = max_conns;
    o.http_max_connections_per_peer = per_peer;
  }
  if (vm.count("catalog")) o.catalog = vm["catalog"].as<std::string>();
  if (vm.count("blob-dir")) o.blob_dir = vm["blob-dir"].as<std::string>();
  if (vm.count("booking")) o.booking = vm["booking"].as<std::string>();
  if (vm.count("case-key-file")) o.case_key_file = vm["case-key-file"].as<std::string>();
  if (vm.count("notify-url")) o.notify_url = vm["notify-url"].as<std::string>();
  if (vm.count("notify-secret-file")) o.notify_secret_file = vm["notify-secret-file"].as<std::string>();
  o.rebalance_every_ms = std::max(1, vm["rebalance-every"].as<int>()) * 1000;
  o.session_timeout_ms = vm["session-timeout"].as<int>() * 1000;
  {
    const int commands = vm["retention-commands-days"].as<int>(), outbox = vm["retention-outbox-days"].as<int>();
    const int tickets = vm["retention-tickets-days"].as<int>(), period = vm["retention-period"].as<int>();
    constexpr int kMaxDays = 100 * 366;
    if (commands < 1 || commands > kMaxDays || outbox < 1 || outbox > kMaxDays || tickets < 1 ||
        tickets > kMaxDays || period < 1 || period > 86400) {
      std::cerr << "yiban-central: --retention-commands-days, --retention-outbox-days and --retention-tickets-days "
                   "must be 1.."
                << kMaxDays << " and --retention-period 1..86400 s\n";
      return 2;
    }
    o.retention_commands_days = commands;
    o.retention_outbox_days = outbox;
    o.retention_tickets_days = tickets;
    o.retention_period_ms = period * 1000;
  }

  // SQLite's memory statistics take a global lock on every allocation
  // (3-4% of ingest time); central does not read them. Process-wide, so set
  // before anything opens a database.
  sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  // Every hall holds a connection: allow as many as the hard limit permits.
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &files);
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  auto server = yiban::central::CentralServer::create(std::move(o));
  if (!server) {
    spdlog::critical("cannot start: {}", server.error().message);
    return 1;
  }
  return (*server)->run(g_stop);
}
