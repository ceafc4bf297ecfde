// Personal data stays in the hall (issue 15, part 4), as processes: a city
// of central and two halls where citizens take tickets with phone numbers,
// book at the hall and in the app, ask for help and apply for a
// cross-region case. Afterwards no name, phone number, ID number or own
// words of those citizens is in any event or any table central stores
// (every column of every table, read through SQLite) — except what central
// holds by nature for a booking made in its app (the phone for the SMS, in
// its bookings table). The handling hall still reads the case's contact
// (opened from the box sealed to its CURVE key), a viewer is refused the
// events API, an operator's read is audited, and the daemons' databases and
// blob folders are the owner's only.

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/booking_support.h"
#include "support/central_process.h"
#include "support/edge_process.h"
#include "support/mosquitto_broker.h"
#include "support/mqtt_test_client.h"
#include "support/test_support.h"

using namespace yiban::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr const char* kManagerA = "pii-manager-a-0123456789";
constexpr const char* kManagerB = "pii-manager-b-0123456789";

// The test's citizens (valid 18-digit IDs, check digits computed).
constexpr const char* kTicketPhone = "13900139001";
constexpr const char* kWalkUpName = "赵小明";
constexpr const char* kWalkUpId = "370202198507150010";
constexpr const char* kWalkUpPhone = "13900139002";
constexpr const char* kWalkUpNeed = "需要手语翻译服务";
constexpr const char* kAppName = "钱小红";
constexpr const char* kAppId = "370212199003030020";
constexpr const char* kAppPhone = "13900139003";
constexpr const char* kAppNeed = "需要轮椅通道";
constexpr const char* kHelpNeed = "老人需要老花镜";
constexpr const char* kApplicantName = "周小芳";
constexpr const char* kApplicantId = "370203197811110031";
constexpr const char* kContactName = "吴经理";
constexpr const char* kContactPhone = "13900139004";
constexpr const char* kCaseNote = "申请人备用电话13900139005";

struct Hall {
  std::string id;
  int port = free_tcp_port();
  std::filesystem::path data;
  std::unique_ptr<EdgeProcess> edge;

  Hall(const TempDir& dir, const std::string& hall, const CentralProcess& central, const std::string& mqtt)
      : id(hall), data(dir / hall / "data") {
    auto home = dir / hall;
    std::filesystem::create_directories(data);
    auto config = json::parse(read_file(write_test_hall_config(home)));
    config["hall"] = hall;
    config["appointments"] = {{"early_min", 120}, {"late_min", 15}};
    std::ofstream(home / "hall.json") << config.dump();
    std::ofstream(home / "tokens.txt") << kManagerA << " hall-manager hall-a\n" << kManagerB << " hall-manager hall-b\n";
    auto args = central.edge_args(hall);
    args.insert(args.end(), {"--http", "127.0.0.1:" + std::to_string(port), "--tokens", (home / "tokens.txt").string(),
                             "--case-key-file", (dir / "case.key").string()});
    edge = std::make_unique<EdgeProcess>(data, home / "hall.json", mqtt, args);
    edge->start();
  }
  const char* token() const { return id == "hall-a" ? kManagerA : kManagerB; }
  HttpResponse get(const std::string& path) const { return http_request(port, "GET", path, "", token()); }
  HttpResponse post(const std::string& path, const std::string& body) const {
    return http_request(port, "POST", path, body, token());
  }
};

// Every row of every table of a SQLite file, each column quoted, one string a row.
std::vector<std::string> every_row(const std::filesystem::path& db, const std::string& table) {
  auto columns = query_strings(db, "SELECT name FROM pragma_table_info('" + table + "')");
  std::string select;
  for (const auto& c : columns) select += (select.empty() ? "" : " || '|' || ") + std::string("quote(\"") + c + "\")";
  return query_strings(db, "SELECT " + select + " FROM \"" + table + "\"");
}

unsigned mode_of(const std::filesystem::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

// The store's files and its blob folder, every file and folder under it.
void check_owner_only(const std::filesystem::path& db, const std::filesystem::path& blobs) {
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::filesystem::path f = db.string() + suffix;
    if (!std::filesystem::exists(f)) continue;
    INFO(f.string());
    CHECK(mode_of(f) == 0600);
  }
  REQUIRE(std::filesystem::is_directory(blobs));
  CHECK(mode_of(blobs) == 0700);
  int files = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(blobs)) {
    INFO(e.path().string());
    if (e.is_directory()) CHECK(mode_of(e.path()) == 0700);
    else {
      CHECK((mode_of(e.path()) & 077) == 0);
      ++files;
    }
  }
  CHECK(files >= 1);
}

}  // namespace

#define AWAIT(pred)                                                                                            \
  do {                                                                                                         \
    if (!eventually([&] { return (pred); }, 30s)) {                                                            \
      FAIL("timed out waiting for " #pred "\n--- central\n" << central.log_text() << "\n--- hall-a\n"           \
                                                           << a.edge->log_text() << "\n--- hall-b\n"          \
                                                           << b.edge->log_text());                              \
    }                                                                                                          \
  } while (false)

TEST_CASE("no citizen's name, phone or ID number reaches central; the handling hall opens the sealed contact",
          "[integration][privacy]") {
  TempDir dir;
  std::filesystem::create_directories(dir / "central");
  MosquittoBroker broker(dir.path());
  json catalog{{"services",
                {{{"code", "X01"}, {"name", "跨区户口迁移"}, {"region", "370212"}, {"hall", "hall-b"},
                  {"prereview_h", 24}, {"complete_days", 5}}}}};
  std::ofstream(dir / "catalog.json") << catalog.dump();
  std::ofstream(dir / "booking.json") << booking_config("hall-a", 4, 0.5, 0);
  std::ofstream(dir / "case.key") << "city-case-key-for-tests-0123456789abcdef\n";
  CentralProcess central(dir / "central", {"hall-a", "hall-b"});
  central.add_args({"--catalog", (dir / "catalog.json").string(), "--booking", (dir / "booking.json").string(),
                    "--case-key-file", (dir / "case.key").string()});
  central.start();
  Hall a(dir, "hall-a", central, broker.uri());
  Hall b(dir, "hall-b", central, broker.uri());
  AWAIT(json::parse(a.get("/api/v1/catalog").body)["services"].size() == 1);

  // A ticket with a phone number for the reminder, and a help request in the citizen's words.
  MqttTestClient kiosk(broker.uri(), "pii-kiosk");
  auto taken = kiosk.request("hall-a", "kiosk-1", "ticket.take",
                             json{{"service", "A"}, {"phone", kTicketPhone}}.dump(), 3000ms);
  REQUIRE(taken);
  REQUIRE(json::parse(*taken)["ok"] == true);
  auto helped = kiosk.request("hall-a", "kiosk-1", "help.request", json{{"need", kHelpNeed}}.dump(), 3000ms);
  REQUIRE(helped);
  REQUIRE(json::parse(*helped)["ok"] == true);

  // A booking in the app (at central) and a walk-up booking at the hall.
  const std::int64_t slot = next_slot();
  auto app = central.post("/api/v1/bookings",
                          json{{"hall", "hall-a"}, {"service", "A"}, {"slot_start", slot}, {"applicant_id", kAppId},
                               {"applicant_name", kAppName}, {"phone", kAppPhone}, {"special_need", kAppNeed}}
                              .dump(),
                          kOperatorToken);
  INFO(app.body);
  REQUIRE(app.status == 201);
  const std::string app_code = json::parse(app.body)["code"];
  const json walk_up{{"service", "A"},         {"slot_start", slot},      {"applicant_id", kWalkUpId},
                     {"applicant_name", kWalkUpName}, {"phone", kWalkUpPhone}, {"special_need", kWalkUpNeed}};
  HttpResponse booked;
  AWAIT((booked = a.post("/api/v1/bookings", walk_up.dump())).status == 201);  // once the hall has its seats

  // A cross-region case with a contact and a note, handled by hall-b.
  std::string material = "%PDF-1.7\n申请表 " + std::string(2000, 'x');
  auto uploaded = http_client(a.port).post("/api/v1/blobs", material, "application/pdf",
                                            {{"Authorization", std::string("Bearer ") + kManagerA}});
  REQUIRE(uploaded);
  REQUIRE(uploaded->status == 201);
  const std::string sha = json::parse(uploaded->body)["sha256"];
  auto submitted = a.post("/api/v1/cases", json{{"service", "X01"},
                                                {"applicant_name", kApplicantName},
                                                {"applicant_id", kApplicantId},
                                                {"contact_name", kContactName},
                                                {"contact_phone", kContactPhone},
                                                {"note", kCaseNote},
                                                {"materials", {{{"sha256", sha}, {"name", "申请表.pdf"}}}}}
                                               .dump());
  INFO(submitted.body);
  REQUIRE(submitted.status == 201);
  const std::string case_id = json::parse(submitted.body)["case"];
  CHECK(json::parse(submitted.body)["applicant"]["id"] == "370***********0031");

  // The handling hall opens the contact and the note sealed to it.
  json at_b;
  AWAIT((at_b = json::parse(b.get("/api/v1/cases/" + case_id).body)).value("state", "") == "received");
  CHECK(at_b["contact"]["name"] == kContactName);
  CHECK(at_b["contact"]["phone"] == kContactPhone);
  CHECK(at_b["note"] == kCaseNote);
  // The hall got the app booking's phone (sealed to it) for the reminder.
  AWAIT(query_int(a.edge->db(), "SELECT count(*) FROM appointments WHERE code = '" + app_code + "' AND phone = '" +
                                    kAppPhone + "'") == 1);

  // Central has every event of both halls.
  auto all_at_central = [&](const Hall& h) {
    return query_int(h.edge->db(), "SELECT max(seq) FROM events") ==
           query_int(central.db(), "SELECT coalesce(max(seq), 0) FROM events WHERE hall = '" + h.id + "'");
  };
  AWAIT(query_int(central.db(), "SELECT count(*) FROM bookings WHERE source = 'hall'") == 1);
  AWAIT(all_at_central(a) && all_at_central(b));
  CHECK(query_int(central.db(), "SELECT count(*) FROM events WHERE type = 'help.requested'") == 1);
  CHECK(query_int(central.db(), "SELECT count(*) FROM events WHERE type = 'case.submitted'") == 1);

  // Every column of every table at central: none of the test's personal data.
  const std::vector<std::string> everywhere{kTicketPhone, kWalkUpName, kWalkUpId,      kWalkUpPhone, kWalkUpNeed,
                                            kAppName,     kAppId,      kHelpNeed,      kApplicantName,
                                            kApplicantId, kContactName, kContactPhone, "13900139005",
                                            "19850715",   "19900303",   "19781111"};
  // The app booking's phone and need: in central's bookings row only (by nature: the SMS, the desk).
  const std::vector<std::string> app_only{kAppPhone, kAppNeed};
  auto tables = query_strings(central.db(), "SELECT name FROM sqlite_master WHERE type = 'table'");
  REQUIRE(tables.size() > 10);
  std::size_t rows = 0;
  for (const auto& table : tables) {
    for (const auto& row : every_row(central.db(), table)) {
      ++rows;
      for (const auto& needle : everywhere) {
        INFO(table << ": " << row);
        CHECK(row.find(needle) == std::string::npos);
      }
      if (table == "bookings") continue;
      for (const auto& needle : app_only) {
        INFO(table << ": " << row);
        CHECK(row.find(needle) == std::string::npos);
      }
    }
  }
  CHECK(rows > 20);
  // The sealed contact is ciphertext at central: its case shows no contact.
  auto central_case = json::parse(central.get("/api/v1/cases/" + case_id, kOperatorToken).body);
  CHECK(central_case["contact"].is_null());
  CHECK(central_case["sealed"] == true);

  // The events API: viewers refused, operators served and audited.
  CHECK(central.get("/api/v1/halls/hall-a/events", kViewerToken).status == 403);
  CHECK(query_int(central.db(), "SELECT count(*) FROM central_access WHERE id = 'events:hall-a'") == 0);
  auto events = central.get("/api/v1/halls/hall-a/events?limit=1000", kOperatorToken);
  REQUIRE(events.status == 200);
  for (const auto& needle : everywhere) CHECK(events.body.find(needle) == std::string::npos);
  CHECK(query_int(central.db(), "SELECT count(*) FROM central_access WHERE id = 'events:hall-a' AND by_whom LIKE "
                                "'central:central-operator%' AND what = 'events after=0 limit=1000'") == 1);

  // The hall keeps what it needs: the ticket's phone and the walk-up's need, in its own tables.
  CHECK(query_int(a.edge->db(), std::string("SELECT count(*) FROM tickets WHERE phone = '") + kTicketPhone + "'") == 1);
  CHECK(query_int(a.edge->db(), std::string("SELECT count(*) FROM appointments WHERE special_need = '") +
                                    kWalkUpNeed + "'") == 1);

  // Owner-only files and folders (umask 077 in both daemons, the blob store's own modes).
  check_owner_only(central.db(), dir / "central" / "central.blobs");
  check_owner_only(a.edge->db(), a.data / "edge.blobs");
  check_owner_only(b.edge->db(), b.data / "edge.blobs");
}
