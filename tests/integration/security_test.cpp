// Security against real processes: a broker provisioned by `yiban-edge
// provision` (per-device credentials, ACL, no anonymous access, TLS) and
// central's CURVE endpoint (the matrix of libzmq's own security tests).

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <cstring>
#include <zmq.hpp>

#include "support/central_process.h"
#include "support/edge_process.h"
#include "support/mosquitto_broker.h"
#include "support/mqtt_test_client.h"
#include "support/test_support.h"
#include "yiban/protocol/curve_cert.h"

using namespace yiban::test;
using nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr int kNotAuthorized = 0x87;

// A PUBACK reason code of success (0, or 0x10 "no matching subscribers").
bool accepted(int reason) { return reason >= 0 && reason < 0x80; }

std::string password_of(const fs::path& broker_dir, const std::string& user) {
  auto text = read_file(broker_dir / "credentials" / (user + ".password"));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

// Runs `yiban-edge provision` for the hall config into dir/broker.
fs::path provision(const fs::path& dir, const fs::path& hall_config, std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"provision", "--hall-config", hall_config.string(), "--out", (dir / "broker").string()};
  args.insert(args.end(), extra.begin(), extra.end());
  int status = run_program(YIBAN_EDGE_BINARY, args, dir / "provision.log");
  if (status != 0) throw std::runtime_error("provision failed:\n" + read_file(dir / "provision.log"));
  return dir / "broker";
}

MqttLogin login(const fs::path& broker_dir, const std::string& user, const std::string& ca_file = "") {
  return MqttLogin{user, password_of(broker_dir, user), ca_file};
}

std::vector<std::string> edge_login_args(const fs::path& broker_dir) {
  return {"--mqtt-user", "yiban.edge", "--mqtt-password-file",
          (broker_dir / "credentials" / "yiban.edge.password").string()};
}

std::string topic(const std::string& rest) { return std::string("yiban/v1/") + kHall + "/" + rest; }

}  // namespace

TEST_CASE("a provisioned hall broker: anonymous and wrong passwords refused, each device only its own topics",
          "[integration][security][mqtt]") {
  TempDir dir;
  auto config = write_test_hall_config(dir.path());
  auto broker_dir = provision(dir.path(), config);
  MosquittoBroker broker(dir.path(), BrokerOptions{.provisioned_config = broker_dir / "mosquitto.conf"});

  // Anonymous connect: refused (CONNACK "not authorized"); a wrong password too.
  auto anonymous = anonymous_connack(broker.uri(), 2s);
  REQUIRE(anonymous.has_value());
  CHECK(*anonymous == kNotAuthorized);
  CHECK_THROWS_WITH(MqttTestClient(broker.uri(), "intruder", MqttLogin{"kiosk-1", "not-the-password", ""}),
                    Catch::Contains("cannot connect"));
  CHECK_THROWS(MqttTestClient(broker.uri(), "intruder-2", MqttLogin{"yiban.edge", password_of(broker_dir, "kiosk-1"), ""}));

  EdgeProcess edge(dir.path(), config, broker.uri(), edge_login_args(broker_dir));
  edge.watch_as(login(broker_dir, "yiban.edge"));
  edge.start();

  // A monitor sees everything the broker lets through, in order.
  MqttTestClient monitor(broker.uri(), "monitor", login(broker_dir, "yiban.monitor"));
  monitor.subscribe(topic("#"));
  CHECK(monitor.publish_acknowledged(topic("catalog"), "{}") == kNotAuthorized);  // read-only

  MqttTestClient kiosk(broker.uri(), "kiosk-1-client", login(broker_dir, "kiosk-1"));
  auto taken = kiosk.request(kHall, "kiosk-1", "ticket.take", R"({"service":"A"})");
  REQUIRE(taken);
  REQUIRE(reply_ok(*taken));

  // The kiosk's credentials cannot act as a counter, write the board, the
  // catalog, the alerts or a command, or pose as another device.
  const std::vector<std::string> forbidden{
      topic("devices/counter-1/req/counter.open"),  // another device's op
      topic("devices/counter-1/req/counter.call_next"),
      topic("devices/kiosk-2/req/ticket.take"),  // impersonation
      topic("devices/kiosk-2/status"),
      topic("devices/kiosk-1/cmd"),  // only the edge commands devices
      topic("devices/kiosk-1/res"),  // nor can it forge its own replies
      topic("board/calls"),
      topic("board/announce"),
      topic("catalog"),
      topic("alerts"),
      "yiban/v1/other-hall/devices/kiosk-1/req/ticket.take",
  };
  for (const auto& t : forbidden) {
    INFO(t);
    CHECK(kiosk.publish_acknowledged(t, R"({"service":"A"})", t.find("/board/") != std::string::npos) ==
          kNotAuthorized);
  }
  // Nor read another device's replies or commands: Mosquitto grants the
  // subscription but delivers nothing the ACL does not let it read (checked below).
  kiosk.subscribe(topic("devices/counter-1/res"));
  kiosk.subscribe(topic("devices/counter-1/#"));
  // What it may read.
  CHECK(kiosk.subscribe_result(topic("board/#")) == 1);  // granted QoS 1
  CHECK(kiosk.subscribe_result(topic("catalog")) == 1);

  // A counter op on its own topic passes the broker but the edge refuses it.
  auto op = kiosk.request(kHall, "kiosk-1", "counter.call_next", "{}");
  REQUIRE(op);
  CHECK(reply_error_code(*op) == "not_allowed");

  // Proof that nothing refused got through: the kiosk's next allowed
  // message reaches the monitor, and nothing refused came before it.
  CHECK(accepted(kiosk.publish_acknowledged(topic("devices/kiosk-1/telemetry"), R"({"ts":1,"metrics":{}})")));
  REQUIRE(monitor.wait_for([](const ReceivedMessage& m) { return m.topic == topic("devices/kiosk-1/telemetry"); }, 5s));
  for (const auto& m : monitor.received()) {
    INFO(m.topic << " " << m.payload);
    CHECK(m.topic.find("/devices/counter-1/req/") == std::string::npos);
    CHECK(m.topic.find("/devices/kiosk-2/") == std::string::npos);
    CHECK(m.topic != topic("devices/kiosk-1/cmd"));
    if (m.topic == topic("board/calls") || m.topic == topic("catalog")) CHECK(m.payload != R"({"service":"A"})");
  }
  // The edge recorded no counter action and no second ticket.
  CHECK(query_int(edge.db(), "SELECT count(*) FROM events WHERE type LIKE 'counter.%'") == 0);
  CHECK(query_int(edge.db(), "SELECT count(*) FROM events WHERE type = 'ticket.issued'") == 1);

  // The real counter does what the kiosk could not; the display sees the call.
  MqttTestClient display(broker.uri(), "display-1-client", login(broker_dir, "display-1"));
  display.subscribe(topic("board/calls"));
  MqttTestClient counter(broker.uri(), "counter-1-client", login(broker_dir, "counter-1"));
  REQUIRE(reply_ok(counter.request(kHall, "counter-1", "counter.open", "{}").value_or("")));
  auto called = counter.request(kHall, "counter-1", "counter.call_next", "{}");
  REQUIRE(called);
  REQUIRE(reply_ok(*called));
  auto number = json::parse(*called)["ticket"]["number"].get<std::string>();
  CHECK(display.wait_for([&](const ReceivedMessage& m) { return m.payload.find(number) != std::string::npos; }, 5s));

  // A second edge with a wrong password is refused and says why in its log.
  write_file(dir / "wrong.password", "not-the-password\n");
  auto wrong_log = dir / "wrong-edge.log";
  ChildProcess wrong(YIBAN_EDGE_BINARY,
                     {"--hall-config", config.string(), "--db", (dir / "wrong.db").string(), "--mqtt", broker.uri(),
                      "--mqtt-user", "yiban.edge", "--mqtt-password-file", (dir / "wrong.password").string(),
                      "--mqtt-client-id", "wrong-edge"},
                     wrong_log);
  CHECK(eventually([&] { return read_file(wrong_log).find("the broker refused user yiban.edge") != std::string::npos; },
                   10s));
  // The edge answered the counter before the kiosk's next request: had the
  // broker let the kiosk read counter-1's replies, they would have come first.
  REQUIRE(kiosk.request(kHall, "kiosk-1", "ticket.take", R"({"service":"B"})"));
  for (const auto& m : kiosk.received()) CHECK(m.topic.find("/devices/counter-1/") == std::string::npos);
}

TEST_CASE("re-provisioning after adding a device keeps every password and revokes removed devices",
          "[integration][security][mqtt]") {
  TempDir dir;
  auto config = write_test_hall_config(dir.path());
  auto broker_dir = provision(dir.path(), config);
  auto kiosk_password = password_of(broker_dir, "kiosk-1");
  auto edge_password = password_of(broker_dir, "yiban.edge");
  MosquittoBroker broker(dir.path(), BrokerOptions{.provisioned_config = broker_dir / "mosquitto.conf"});
  MqttTestClient before(broker.uri(), "kiosk-before", login(broker_dir, "kiosk-1"));

  // Add kiosk-3, remove display-1, provision again and reload the broker.
  auto hall = json::parse(read_file(config));
  hall["devices"].push_back({{"id", "kiosk-3"}, {"kind", "kiosk"}});
  auto& devices = hall["devices"];
  devices.erase(std::remove_if(devices.begin(), devices.end(), [](const json& d) { return d["id"] == "display-1"; }),
                devices.end());
  write_file(config, hall.dump());
  auto display_password = password_of(broker_dir, "display-1");
  provision(dir.path(), config);
  CHECK(password_of(broker_dir, "kiosk-1") == kiosk_password);
  CHECK(password_of(broker_dir, "yiban.edge") == edge_password);
  CHECK_FALSE(fs::exists(broker_dir / "credentials" / "display-1.password"));
  CHECK_THAT(read_file(dir.path() / "provision.log"), Catch::Contains("revoked:        display-1"));
  broker.reload();

  // The new kiosk gets in once the broker has reloaded; the removed display no longer.
  std::unique_ptr<MqttTestClient> added;
  REQUIRE(eventually(
      [&] {
        try {
          added = std::make_unique<MqttTestClient>(broker.uri(), "kiosk-3-client", login(broker_dir, "kiosk-3"));
          return true;
        } catch (const std::exception&) {
          return false;
        }
      },
      10s));
  CHECK(accepted(added->publish_acknowledged(topic("devices/kiosk-3/req/ticket.take"), "{}")));
  CHECK(added->publish_acknowledged(topic("devices/kiosk-1/req/ticket.take"), "{}") == kNotAuthorized);
  CHECK_THROWS(MqttTestClient(broker.uri(), "display-after", MqttLogin{"display-1", display_password, ""}));
  // The old kiosk's kept password still works, for a new connection too.
  MqttTestClient after(broker.uri(), "kiosk-after", MqttLogin{"kiosk-1", kiosk_password, ""});
  CHECK(accepted(after.publish_acknowledged(topic("devices/kiosk-1/req/ticket.take"), "{}")));
}

TEST_CASE("TLS to the hall broker with a generated CA: edge and devices connect, a stranger's CA does not",
          "[integration][security][mqtt][tls]") {
  TempDir dir;
  auto pki = dir.path() / "pki";
  fs::create_directories(pki);
  auto log = dir.path() / "openssl.log";
  auto openssl = [&](std::vector<std::string> args) { REQUIRE(run_program("/usr/bin/openssl", args, log) == 0); };
  auto ec_key = std::vector<std::string>{"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"};
  auto self_signed = [&](const std::string& name) {
    std::vector<std::string> args{"req", "-x509"};
    args.insert(args.end(), ec_key.begin(), ec_key.end());
    args.insert(args.end(), {"-keyout", (pki / (name + ".key")).string(), "-out", (pki / (name + ".crt")).string(),
                             "-days", "2", "-subj", "/CN=" + name});
    openssl(args);
  };
  self_signed("hall-ca");
  self_signed("stranger-ca");
  std::vector<std::string> request{"req"};
  request.insert(request.end(), ec_key.begin(), ec_key.end());
  request.insert(request.end(), {"-keyout", (pki / "broker.key").string(), "-out", (pki / "broker.csr").string(),
                                 "-subj", "/CN=hall-broker"});
  openssl(request);
  write_file(pki / "san.cnf", "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  openssl({"x509", "-req", "-in", (pki / "broker.csr").string(), "-CA", (pki / "hall-ca.crt").string(), "-CAkey",
           (pki / "hall-ca.key").string(), "-CAcreateserial", "-out", (pki / "broker.crt").string(), "-days", "2",
           "-extfile", (pki / "san.cnf").string()});

  auto config = write_test_hall_config(dir.path());
  auto broker_dir = provision(dir.path(), config,
                              {"--tls-cert", (pki / "broker.crt").string(), "--tls-key", (pki / "broker.key").string()});
  CHECK_THAT(read_file(broker_dir / "mosquitto.conf"), Catch::Contains("certfile "));
  MosquittoBroker broker(dir.path(), BrokerOptions{.provisioned_config = broker_dir / "mosquitto.conf"});
  REQUIRE(broker.uri().starts_with("ssl://"));
  auto ca = (pki / "hall-ca.crt").string();

  auto args = edge_login_args(broker_dir);
  args.insert(args.end(), {"--mqtt-ca-file", ca});
  EdgeProcess edge(dir.path(), config, broker.uri(), args);
  edge.watch_as(login(broker_dir, "yiban.edge", ca));
  edge.start();
  CHECK_THAT(edge.log_text(), Catch::Contains("mqtt: connected to ssl://"));

  MqttTestClient kiosk(broker.uri(), "kiosk-tls", login(broker_dir, "kiosk-1", ca));
  auto taken = kiosk.request(kHall, "kiosk-1", "ticket.take", R"({"service":"A"})");
  REQUIRE(taken);
  CHECK(reply_ok(*taken));

  // A broker certificate not from the trusted CA is refused by the client,
  // and a plain MQTT client gets no CONNACK from the TLS listener.
  CHECK_THROWS(MqttTestClient(broker.uri(), "kiosk-wrong-ca", login(broker_dir, "kiosk-1", (pki / "stranger-ca.crt").string())));
  auto plain_uri = "tcp://127.0.0.1:" + std::to_string(broker.port());
  CHECK_FALSE(anonymous_connack(plain_uri, 2s).has_value());
  // A CA file with a plain URI is a configuration error, named.
  CHECK_THROWS_WITH(MqttTestClient(plain_uri, "kiosk-plain", login(broker_dir, "kiosk-1", ca)),
                    Catch::Contains("needs a TLS broker URI"));

  // The device agents take the same options.
  auto devices_log = dir.path() / "kiosk-agent.log";
  ChildProcess agent(YIBAN_DEVICES_BINARY,
                     {"kiosk", "--hall-config", config.string(), "--device", "kiosk-2", "--mqtt", broker.uri(),
                      "--mqtt-user", "kiosk-2", "--mqtt-password-file",
                      (broker_dir / "credentials" / "kiosk-2.password").string(), "--mqtt-ca-file", ca},
                     devices_log);
  MqttTestClient watcher(broker.uri(), "status-watch", login(broker_dir, "yiban.monitor", ca));
  watcher.subscribe(topic("devices/kiosk-2/status"));
  CHECK(watcher.wait_for([](const ReceivedMessage& m) { return m.payload.find("online") != std::string::npos; }, 15s));
}

namespace {

// The first handshake outcome a ZeroMQ client socket reports: succeeded,
// failed (any reason) or disconnected, from its socket monitor.
enum class Handshake { kSucceeded, kFailed, kNone };

Handshake first_handshake_outcome(zmq::context_t& context, zmq::socket_t& socket, const std::string& endpoint,
                                  const std::string& name) {
  std::string monitor_endpoint = "inproc://monitor-" + name;
  REQUIRE(zmq_socket_monitor(socket.handle(), monitor_endpoint.c_str(),
                             ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                                 ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                                 ZMQ_EVENT_DISCONNECTED) == 0);
  zmq::socket_t events(context, zmq::socket_type::pair);
  events.set(zmq::sockopt::rcvtimeo, 10000);
  events.connect(monitor_endpoint);
  socket.connect(endpoint);
  zmq::message_t head;
  zmq::message_t address;
  if (!events.recv(head) || !events.recv(address)) return Handshake::kNone;
  std::uint16_t event = 0;
  std::memcpy(&event, head.data(), sizeof event);
  return event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED ? Handshake::kSucceeded : Handshake::kFailed;
}

std::pair<std::string, std::string> keypair() {
  char pub[41];
  char sec[41];
  REQUIRE(zmq_curve_keypair(pub, sec) == 0);
  return {pub, sec};
}

std::string public_key_of(const fs::path& cert) {
  auto parsed = yiban::protocol::parse_curve_cert(read_file(cert));
  REQUIRE(parsed);
  return parsed->public_key;
}

}  // namespace

TEST_CASE("central's CURVE endpoint refuses a bogus client key, a wrong server key and a plain client",
          "[integration][security][sync]") {
  TempDir dir;
  CentralProcess central(dir.path(), {kHall});
  central.start();
  auto server_key = public_key_of(dir.path() / "keys" / "central.pub");
  auto hall_cert = yiban::protocol::parse_curve_cert(read_file(dir.path() / "keys" / (std::string(kHall) + ".key")));
  REQUIRE(hall_cert);
  REQUIRE(hall_cert->secret_key);
  zmq::context_t context;
  auto curve_client = [&](const std::string& server, const std::string& pub, const std::string& sec) {
    zmq::socket_t s(context, zmq::socket_type::dealer);
    s.set(zmq::sockopt::linger, 0);
    s.set(zmq::sockopt::curve_serverkey, server);
    s.set(zmq::sockopt::curve_publickey, pub);
    s.set(zmq::sockopt::curve_secretkey, sec);
    return s;
  };
  auto refused = [&] {
    auto metrics = central.get("/metrics").body;
    const std::string needle = "\nyiban_central_refused_connections_total ";
    auto at = metrics.find(needle);
    return at == std::string::npos ? -1 : std::stol(metrics.substr(at + needle.size()));
  };
  long refused_at_start = refused();
  REQUIRE(refused_at_start == 0);

  SECTION("the allow-listed hall key with the right server key: accepted (the control)") {
    auto s = curve_client(server_key, hall_cert->public_key, *hall_cert->secret_key);
    CHECK(first_handshake_outcome(context, s, central.sync_uri(), "good") == Handshake::kSucceeded);
  }
  SECTION("a bogus client key (not allow-listed): refused by ZAP and counted") {
    auto [pub, sec] = keypair();
    auto s = curve_client(server_key, pub, sec);
    CHECK(first_handshake_outcome(context, s, central.sync_uri(), "bogus") == Handshake::kFailed);
    CHECK(eventually([&] { return refused() >= 1; }, 5s));
  }
  SECTION("the right client key but a wrong server key: the handshake fails") {
    auto [wrong_server, unused] = keypair();
    auto s = curve_client(wrong_server, hall_cert->public_key, *hall_cert->secret_key);
    CHECK(first_handshake_outcome(context, s, central.sync_uri(), "wrong-server") == Handshake::kFailed);
  }
  SECTION("a plain (NULL mechanism) client: the handshake fails") {
    zmq::socket_t s(context, zmq::socket_type::dealer);
    s.set(zmq::sockopt::linger, 0);
    CHECK(first_handshake_outcome(context, s, central.sync_uri(), "plain") == Handshake::kFailed);
  }
  SECTION("a client that takes the server's own key pair as its own: refused") {
    auto central_cert = yiban::protocol::parse_curve_cert(read_file(dir.path() / "keys" / "central.key"));
    REQUIRE(central_cert);
    auto s = curve_client(server_key, central_cert->public_key, *central_cert->secret_key);
    CHECK(first_handshake_outcome(context, s, central.sync_uri(), "server-key") == Handshake::kFailed);
  }
}
