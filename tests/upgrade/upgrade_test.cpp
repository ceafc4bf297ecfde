// Schema upgrades (issue 15): today's daemons open the stores every released
// version left behind. The fixtures in tests/upgrade/fixtures were made by the
// old code at its commit (tests/upgrade/make-fixtures: that commit's own
// `deploy/demo --smoke`) and are kept as SQL text (sqlite3 .dump plus the
// store's user_version); each is loaded into a fresh file, opened by a real
// yiban-edge or yiban-central, and then checked: migrated to today's schema,
// every old row of the log unchanged, the chain verifies, the daemon keeps
// working on it.

#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "store/edge_store.h"
#include "support/central_process.h"
#include "support/edge_process.h"
#include "support/mosquitto_broker.h"
#include "support/test_support.h"
#include "support/ticket_stream.h"
#include "yiban/central/central_store.h"
#include "yiban/protocol/chain.h"

using namespace yiban::test;
using nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// fixtures/<kind>-v<N>.sql, by N.
std::vector<std::pair<int, fs::path>> fixtures(const std::string& kind) {
  std::vector<std::pair<int, fs::path>> found;
  const std::regex name(kind + "-v([0-9]+)\\.sql");
  for (const auto& entry : fs::directory_iterator(YIBAN_FIXTURE_DIR)) {
    std::smatch m;
    const std::string file = entry.path().filename().string();
    if (std::regex_match(file, m, name)) found.emplace_back(std::stoi(m[1]), entry.path());
  }
  std::sort(found.begin(), found.end());
  return found;
}

// The store a fixture's SQL text describes, written to `to`.
void load_store(const fs::path& fixture, const fs::path& to) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(to.c_str(), &db) == SQLITE_OK);
  char* error = nullptr;
  const int rc = sqlite3_exec(db, read_file(fixture).c_str(), nullptr, nullptr, &error);
  INFO(fixture << ": " << (error ? error : ""));
  sqlite3_free(error);
  sqlite3_close(db);
  REQUIRE(rc == SQLITE_OK);
}

// Central's log of one hall hash-chains to the chain central acknowledged.
bool central_chain_verifies(const fs::path& db, const std::string& hall) {
  auto texts = query_strings(db, "SELECT text FROM events WHERE hall = '" + hall + "' ORDER BY seq");
  auto seqs = query_strings(db, "SELECT seq FROM events WHERE hall = '" + hall + "' ORDER BY seq");
  for (std::size_t i = 0; i < seqs.size(); ++i) {
    if (seqs[i] != std::to_string(i + 1)) return false;  // gap-free from 1
  }
  yiban::protocol::ChainHash chain = yiban::protocol::kChainZero;
  for (const auto& text : texts) chain = yiban::protocol::chain_next(chain, text);
  auto acked = query_strings(db, "SELECT hex(acked_chain) FROM halls WHERE hall = '" + hall + "'");
  std::string hex = yiban::protocol::to_hex(chain);
  for (auto& c : hex) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return acked.size() == 1 && acked[0] == hex;
}

}  // namespace

TEST_CASE("the fixtures cover every released schema and today's", "[integration][upgrade]") {
  auto edge = fixtures("edge"), central = fixtures("central");
  REQUIRE(!edge.empty());
  REQUIRE(!central.empty());
  CHECK(edge.front().first == 1);
  CHECK(central.front().first == 1);
  // Each fixture really has the version its name says (the old code wrote it).
  for (const auto& list : {edge, central}) {
    for (const auto& [version, path] : list) {
      TempDir dir;
      load_store(path, dir / "store.db");
      CHECK(query_int(dir / "store.db", "PRAGMA user_version") == version);
    }
  }
  CHECK(edge.back().first < yiban::edge::store::kSchemaVersion);
  CHECK(central.back().first < yiban::central::kSqliteSchemaVersion);
}

TEST_CASE("today's yiban-edge opens every released edge store: migrated, log intact, chain verifies, tickets served",
          "[integration][upgrade]") {
  for (const auto& [version, fixture] : fixtures("edge")) {
    DYNAMIC_SECTION("edge schema " << version) {
      TempDir dir;
      load_store(fixture, dir / "edge.db");
      fs::path config = fixture;
      config.replace_extension(".hall.json");
      REQUIRE(fs::exists(config));
      const std::string hall = hall_id_of(config);
      const auto old_events = query_strings(dir / "edge.db", "SELECT seq || ' ' || hex(chain) || ' ' || text FROM events ORDER BY seq");
      const auto old_tickets = query_strings(
          dir / "edge.db", "SELECT id || ' ' || number || ' ' || service || ' ' || issued_ts FROM tickets ORDER BY rowid");
      REQUIRE(old_events.size() > 1);
      REQUIRE(!old_tickets.empty());

      MosquittoBroker broker(dir.path());
      EdgeProcess edge(dir.path(), config, broker.uri());
      edge.start();
      TicketStream kiosk(broker.uri(), "upgrade-kiosk", "kiosk-1", hall);
      REQUIRE(eventually([&] { return kiosk.ok_count() >= 3; }, 20s));
      kiosk.finish();
      REQUIRE(eventually([&] { return kiosk.drained(); }, 20s));
      kiosk.stop();
      REQUIRE(edge.terminate() == 0);

      CHECK(query_int(edge.db(), "PRAGMA user_version") == yiban::edge::store::kSchemaVersion);
      CHECK(query_strings(edge.db(), "PRAGMA integrity_check") == std::vector<std::string>{"ok"});
      // The old log is untouched, the new events continue its chain.
      auto events = query_strings(edge.db(), "SELECT seq || ' ' || hex(chain) || ' ' || text FROM events ORDER BY seq");
      REQUIRE(events.size() >= old_events.size() + 3);
      CHECK(std::vector<std::string>(events.begin(), events.begin() + static_cast<long>(old_events.size())) ==
            old_events);
      CHECK(chain_verifies(edge.db()));
      // Every old ticket is kept with its number; the new ones were added.
      auto tickets = query_strings(
          edge.db(), "SELECT id || ' ' || number || ' ' || service || ' ' || issued_ts FROM tickets ORDER BY rowid");
      REQUIRE(tickets.size() >= old_tickets.size() + 3);
      CHECK(std::vector<std::string>(tickets.begin(), tickets.begin() + static_cast<long>(old_tickets.size())) ==
            old_tickets);
      for (const auto& id : kiosk.tickets()) {
        CHECK(query_int(edge.db(), "SELECT count(*) FROM tickets WHERE id = '" + id + "'") == 1);
      }
    }
  }
}

TEST_CASE("today's yiban-central opens every released central store: migrated, logs intact, chains verify, served",
          "[integration][upgrade]") {
  for (const auto& [version, fixture] : fixtures("central")) {
    DYNAMIC_SECTION("central schema " << version) {
      TempDir dir, original;
      load_store(fixture, original / "central.db");
      const auto halls = query_strings(original / "central.db", "SELECT hall FROM halls ORDER BY hall");
      REQUIRE(!halls.empty());
      const auto old_events = query_strings(original / "central.db",
                                            "SELECT hall || ' ' || seq || ' ' || text FROM events ORDER BY hall, seq");
      REQUIRE(old_events.size() > halls.size());

      CentralProcess central(dir.path(), halls);
      load_store(fixture, central.db());
      central.start();
      auto listed = central.get("/api/v1/halls?limit=100");
      REQUIRE(listed.status == 200);
      auto body = json::parse(listed.body);
      std::set<std::string> served;
      for (const auto& h : body.at("halls")) served.insert(h.at("hall").get<std::string>());
      for (const auto& hall : halls) {
        CHECK(served.count(hall) == 1);
        // The projection was rebuilt or kept: the hall and its log answer.
        auto events = central.get("/api/v1/halls/" + hall + "/events?limit=5");
        CHECK(events.status == 200);
        CHECK(central.get("/api/v1/halls/" + hall).status == 200);
      }
      REQUIRE(central.terminate() == 0);

      CHECK(query_int(central.db(), "PRAGMA user_version") == yiban::central::kSqliteSchemaVersion);
      CHECK(query_strings(central.db(), "PRAGMA integrity_check") == std::vector<std::string>{"ok"});
      CHECK(query_strings(central.db(), "SELECT hall || ' ' || seq || ' ' || text FROM events ORDER BY hall, seq") ==
            old_events);
      for (const auto& hall : halls) {
        INFO("hall " << hall);
        CHECK(central_chain_verifies(central.db(), hall));
      }
    }
  }
}
