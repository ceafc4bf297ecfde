// Appointments as processes (issue 7): real yiban-central with --booking,
// a real yiban-edge and broker; many bookers racing for the last seat, the
// quota split while the hall is cut off, check-in at a disconnected hall, and
// unused central seats moving to the hall before the slot.

#include <catch2/catch.hpp>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/booking_support.h"
#include "support/central_process.h"
#include "support/edge_process.h"
#include "support/mosquitto_broker.h"
#include "support/mqtt_test_client.h"
#include "support/test_support.h"
#include "yiban/runtime/http_client.h"
#include "yiban/runtime/httplib.h"  // the SMS receiver (httplib::Server) until the new server lands
#include "yiban/runtime/notifier.h"

using namespace yiban::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr const char* kEdgeManager = "edge-manager-0123456789";

json zhang_booking(std::int64_t slot, const std::string& id) {
  return book_body(kHall, slot, id, "张小三", "138 0013 8000");
}

struct City {
  TempDir dir;
  std::unique_ptr<MosquittoBroker> broker;
  std::unique_ptr<CentralProcess> central;
  std::unique_ptr<EdgeProcess> edge;
  int edge_port = free_tcp_port();

  City(const std::string& config, std::vector<std::string> central_args = {}) {
    std::filesystem::create_directories(dir / "central");
    std::filesystem::create_directories(dir / "edge");
    std::ofstream(dir / "booking.json") << config;
    std::ofstream(dir / "case.key") << "city-case-key-for-tests-0123456789abcdef\n";
    central = std::make_unique<CentralProcess>(dir / "central", std::vector<std::string>{kHall});
    central->add_args({"--booking", (dir / "booking.json").string(), "--case-key-file", (dir / "case.key").string()});
    central->add_args(central_args);
    central->start();
  }
  void start_edge(bool with_central = true) {
    if (!broker) broker = std::make_unique<MosquittoBroker>(dir.path());
    auto hall = json::parse(read_file(write_test_hall_config(dir.path())));
    hall["appointments"] = {{"early_min", 120}, {"late_min", 15}};
    std::ofstream(dir / "hall.json") << hall.dump();
    std::ofstream(dir / "edge-tokens.txt") << kEdgeManager << " hall-manager " << kHall << "\n";
    std::vector<std::string> args{"--http", "127.0.0.1:" + std::to_string(edge_port), "--tokens",
                                  (dir / "edge-tokens.txt").string(), "--case-key-file", (dir / "case.key").string()};
    if (with_central) {
      auto c = central->edge_args(kHall);
      args.insert(args.end(), c.begin(), c.end());
    }
    edge = std::make_unique<EdgeProcess>(dir / "edge", dir / "hall.json", broker->uri(), args);
    edge->start();
  }
  HttpResponse walk_up(std::int64_t slot, const std::string& id) {
    auto body = zhang_booking(slot, id);
    body.erase("hall");
    return http_request(edge_port, "POST", "/api/v1/bookings", body.dump(), kEdgeManager);
  }
  long long edge_count(const std::string& sql) { return query_int(edge->db(), sql); }
  long long central_count(const std::string& sql) { return query_int(central->db(), sql); }
};

}  // namespace

TEST_CASE("fifty bookers racing for the last seat: exactly one gets it", "[integration][bookings]") {
  City city(booking_config(kHall, 2, 0.5, 0));  // one central seat per slot
  const std::int64_t slot = next_slot();
  std::atomic<int> created{0}, full{0}, other{0};
  std::mutex odd_mutex;
  std::vector<std::string> odd;  // guarded by odd_mutex
  std::vector<std::thread> bookers;
  for (int i = 0; i < 50; ++i) {
    bookers.emplace_back([&, i] {
      yiban::runtime::HttpClient::Options options;
      options.timeout = 10s;
      options.keep_alive = false;
      auto client = yiban::runtime::HttpClient::create(city.central->http_url(), options);
      if (!client) {  // no Catch assertion off the test's thread
        ++other;
        std::lock_guard lock(odd_mutex);
        odd.push_back(client.error().message);
        return;
      }
      // A burst of new connections can meet a reset (Debian's cpp-httplib
      // listens with a backlog of 5): the app tries again, which is safe,
      // since one person cannot hold two bookings of a service that day.
      HttpResponse r;
      for (int attempt = 0; attempt < 5 && r.status == 0; ++attempt) {
        auto res = client->post("/api/v1/bookings", zhang_booking(slot, "E" + std::to_string(10000000 + i)).dump(),
                                "application/json", {{"Authorization", std::string("Bearer ") + kOperatorToken}});
        r = HttpResponse{res ? res->status : 0, res ? res->body : res.error().message};
      }
      if (r.status == 201 || (r.status == 409 && r.body.find("\"duplicate\"") != std::string::npos)) ++created;
      else if (r.status == 409 && r.body.find("\"full\"") != std::string::npos) ++full;
      else {
        ++other;
        std::lock_guard lock(odd_mutex);
        odd.push_back(std::to_string(r.status) + " " + r.body);
      }
    });
  }
  for (auto& t : bookers) t.join();
  CHECK(created == 1);
  CHECK(full == 49);
  CHECK(other == 0);
  for (const auto& o : odd) UNSCOPED_INFO(o);
  if (!odd.empty()) UNSCOPED_INFO(city.central->log_text());
  CHECK(odd.empty());
  CHECK(city.central_count("SELECT count(*) FROM bookings WHERE state = 'booked'") == 1);
  CHECK(city.central_count("SELECT count(*) FROM commands WHERE type = 'booking.add'") == 1);
  // The seat is gone for the app; the same person cannot book the service twice that day.
  auto slots = json::parse(city.central->get("/api/v1/booking/slots?hall=test-hall&service=A&day=" +
                                             [&] {
                                               std::time_t t = (slot + 8 * 3600000) / 1000;
                                               char b[11];
                                               std::strftime(b, sizeof b, "%Y-%m-%d", std::gmtime(&t));
                                               return std::string(b);
                                             }())
                               .body);
  bool seen = false;
  for (const auto& s : slots["slots"]) {
    if (s["start"] != slot) continue;
    seen = true;
    CHECK(s["available"] == 0);
    CHECK(s["booked_central"] == 1);
  }
  CHECK(seen);
  auto winner = json::parse(city.central->get("/api/v1/bookings?state=booked", kOperatorToken).body);
  REQUIRE(winner["bookings"].size() == 1);
  const std::string code = winner["bookings"][0]["code"];
  // Refusals: a viewer cannot book; a slot beyond the horizon; a past slot.
  CHECK(city.central->post("/api/v1/bookings", zhang_booking(slot, "E99999999").dump(), kViewerToken).status == 403);
  CHECK(city.central->post("/api/v1/bookings", zhang_booking(slot + 8 * 86400000LL, "E99999999").dump(), kOperatorToken)
            .status == 400);
  CHECK(city.central->post("/api/v1/bookings", zhang_booking(slot - 2 * 3600000, "E99999999").dump(), kOperatorToken)
            .status == 400);
  // Cancelled: the seat is free again.
  CHECK(city.central->request("DELETE", "/api/v1/bookings/" + code, "", kOperatorToken).status == 200);
  CHECK(city.central->post("/api/v1/bookings", zhang_booking(slot, "E20000000").dump(), kOperatorToken).status == 201);
}

TEST_CASE("cut off from central, the hall checks bookings in and takes walk-ups on its own seats; together never "
          "more than capacity",
          "[integration][bookings]") {
  City city(booking_config(kHall, 4, 0.5, 0));  // 2 central seats, 2 hall seats, no rebalancing
  const std::int64_t slot = next_slot();
  city.start_edge();
  REQUIRE(eventually([&] { return city.edge_count("SELECT count(*) FROM meta WHERE key = 'booking_config'") == 1; },
                     15s));
  auto first = city.central->post("/api/v1/bookings", zhang_booking(slot, "E10000001").dump(), kOperatorToken);
  INFO(first.body);
  REQUIRE(first.status == 201);
  const std::string code = json::parse(first.body)["code"];
  REQUIRE(eventually([&] { return city.edge_count("SELECT count(*) FROM appointments WHERE code = '" + code + "'") == 1; },
                     15s));

  // The partition: central goes away.
  city.central->kill9();
  MqttTestClient kiosk(city.broker->uri(), "kiosk-test");
  auto reply = kiosk.request(kHall, "kiosk-1", "appointment.checkin", json{{"code", code}}.dump(), 3000ms);
  REQUIRE(reply);
  auto checked = json::parse(*reply);
  INFO(*reply);
  CHECK(checked["ok"] == true);
  CHECK(checked["ticket"]["appointment"] == code);
  auto bad = json::parse(kiosk.request(kHall, "kiosk-1", "appointment.checkin", R"({"code":"ZZZZZZZZ"})", 3000ms).value());
  CHECK(bad["ok"] == false);
  // The hall's own two seats; the third walk-up is refused.
  CHECK(city.walk_up(slot, "E20000001").status == 201);
  CHECK(city.walk_up(slot, "E20000002").status == 201);
  auto third = city.walk_up(slot, "E20000003");
  CHECK(third.status == 409);
  CHECK_THAT(third.body, Catch::Contains("full"));
  // Central, on the other side, sells only its own remaining seat.
  city.central->start();
  CHECK(city.central->post("/api/v1/bookings", zhang_booking(slot, "E10000002").dump(), kOperatorToken).status == 201);
  CHECK(city.central->post("/api/v1/bookings", zhang_booking(slot, "E10000003").dump(), kOperatorToken).status == 409);
  // Once connected again both sides know all four: exactly the capacity.
  REQUIRE(eventually(
      [&] {
        return city.central_count("SELECT count(*) FROM bookings WHERE slot_start = " + std::to_string(slot) +
                                  " AND state IN ('booked', 'checked_in')") == 4 &&
               city.edge_count("SELECT count(*) FROM appointments WHERE slot_start = " + std::to_string(slot) +
                               " AND state IN ('booked', 'checked_in')") == 4;
      },
      20s));
  CHECK(city.central_count("SELECT count(*) FROM bookings WHERE code = '" + code + "' AND state = 'checked_in'") == 1);
  CHECK(city.central_count("SELECT count(*) FROM bookings WHERE source = 'hall'") == 2);
  // No phone number left the hall.
  CHECK(query_int(city.central->db(), "SELECT count(*) FROM events WHERE text LIKE '%13800138000%'") == 0);
}

TEST_CASE("unused central seats move to a connected hall before the slot, one way", "[integration][bookings]") {
  City city(booking_config(kHall, 4, 0.5, 180), {"--rebalance-every", "1"});
  const std::int64_t slot = next_slot();
  city.start_edge();
  // Within 180 minutes of the slot, central's two unused seats go to the hall.
  REQUIRE(eventually(
      [&] {
        return city.edge_count("SELECT coalesce(sum(moved), 0) FROM booking_quota WHERE slot_start = " +
                               std::to_string(slot)) == 2;
      },
      20s));
  CHECK(city.central->post("/api/v1/bookings", zhang_booking(slot, "E10000001").dump(), kOperatorToken).status == 409);
  for (int i = 0; i < 4; ++i) CHECK(city.walk_up(slot, "E3000000" + std::to_string(i)).status == 201);
  CHECK(city.walk_up(slot, "E30000009").status == 409);
  CHECK(city.central_count("SELECT moved FROM booking_moves WHERE slot_start = " + std::to_string(slot)) == 2);
}

namespace {

// A message sender as the city would run one: a real HTTP server on a free
// port that records what it gets; it can refuse the first calls.
struct Receiver {
  httplib::Server server;
  int port = 0;
  std::thread thread;
  std::mutex mutex;
  std::condition_variable arrived;
  std::vector<std::pair<std::string, std::string>> calls;  // signature, body; guarded by mutex
  int refuse_first = 0;  // guarded by mutex
  Receiver() {
    server.Post("/sms", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mutex);
      calls.emplace_back(req.get_header_value("X-Yiban-Signature"), req.body);
      res.status = refuse_first-- > 0 ? 503 : 200;
      arrived.notify_all();
    });
    port = server.bind_to_any_port("127.0.0.1");
    thread = std::thread([this] { server.listen_after_bind(); });
  }
  ~Receiver() {
    server.stop();
    thread.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port) + "/sms"; }
  // Waits for a delivered (accepted) call whose body contains text.
  std::optional<std::pair<std::string, std::string>> await(const std::string& text, int nth_attempt = 1) {
    std::unique_lock lock(mutex);
    std::optional<std::pair<std::string, std::string>> found;
    arrived.wait_for(lock, 20s, [&] {
      int seen = 0;
      for (const auto& c : calls) {
        if (c.second.find(text) == std::string::npos) continue;
        if (++seen == nth_attempt) {
          found = c;
          return true;
        }
      }
      return false;
    });
    return found;
  }
};

}  // namespace

TEST_CASE("reminders go to the configured sender, signed, retried when it fails", "[integration][bookings]") {
  Receiver city_sender;
  Receiver hall_sender;
  {
    std::lock_guard lock(city_sender.mutex);
    city_sender.refuse_first = 1;  // the first call fails; the notifier tries again
  }
  TempDir keys;
  std::ofstream(keys / "secret") << "webhook-secret-0123456789\n";
  City city(booking_config(kHall, 4, 0.5, 0), {"--notify-url", city_sender.url(), "--notify-secret-file",
                                         (keys / "secret").string(), "--rebalance-every", "1"});
  const std::int64_t slot = next_slot();
  auto booked = city.central->post("/api/v1/bookings", zhang_booking(slot, "E10000001").dump(), kOperatorToken);
  REQUIRE(booked.status == 201);
  const std::string code = json::parse(booked.body)["code"];
  const std::string confirmed = R"("type":"booking.confirmed")";
  auto first = city_sender.await(confirmed, 1);
  auto second = city_sender.await(confirmed, 2);
  REQUIRE(first);
  REQUIRE(second);
  CHECK(first->second == second->second);  // the same message again
  CHECK(yiban::runtime::verify_signature("webhook-secret-0123456789", second->second, second->first));
  CHECK_FALSE(yiban::runtime::verify_signature("another-secret", second->second, second->first));
  auto message = json::parse(second->second);
  CHECK(message["code"] == code);
  CHECK(message["phone"] == "13800138000");
  // The slot starts within 24 h: a day-before reminder follows (once).
  REQUIRE(city_sender.await("booking.reminder"));

  // The hall's own sender: "your turn is near" for a ticket with a phone number.
  std::ofstream(city.dir / "hall-secret") << "hall-secret-0123456789\n";
  city.edge_port = free_tcp_port();
  {
    if (!city.broker) city.broker = std::make_unique<MosquittoBroker>(city.dir.path());
    auto hall = json::parse(read_file(write_test_hall_config(city.dir.path())));
    std::ofstream(city.dir / "hall.json") << hall.dump();
    city.edge = std::make_unique<EdgeProcess>(
        city.dir / "edge", city.dir / "hall.json", city.broker->uri(),
        std::vector<std::string>{"--notify-url", hall_sender.url(), "--notify-secret-file",
                                 (city.dir / "hall-secret").string()});
    city.edge->start();
  }
  MqttTestClient kiosk(city.broker->uri(), "kiosk-near");
  auto taken = kiosk.request(kHall, "kiosk-1", "ticket.take", R"({"service":"B","phone":"13900139000"})", 3000ms);
  REQUIRE(taken);
  const std::string number = json::parse(*taken)["ticket"]["number"];
  auto near = hall_sender.await("ticket.turn_near");
  REQUIRE(near);
  CHECK(yiban::runtime::verify_signature("hall-secret-0123456789", near->second, near->first));
  auto m = json::parse(near->second);
  CHECK(m["number"] == number);
  CHECK(m["phone"] == "13900139000");
  // Once per ticket, and the phone number is nowhere in the hall's log (it never goes to central).
  CHECK(query_int(city.edge->db(), "SELECT count(*) FROM turn_near_sent") == 1);
  CHECK(query_int(city.edge->db(), "SELECT count(*) FROM events WHERE text LIKE '%13900139000%'") == 0);
}
