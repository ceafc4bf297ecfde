// `yiban-edge provision`: the files it writes, in-process (the broker's own
// verdict on them is in tests/integration/security_test.cpp).

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <openssl/evp.h>

#include <sstream>

#include "support/test_support.h"
#include "yiban/edge/broker_provision.h"

using namespace yiban::test;
using yiban::edge::ProvisionOptions;
namespace fs = std::filesystem;

namespace {

yiban::protocol::HallConfig test_hall(const fs::path& dir) {
  auto hall = yiban::protocol::load_hall_config(write_test_hall_config(dir));
  REQUIRE(hall);
  return *hall;
}

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// The topic lines between "user NAME" and the next user line.
std::vector<std::string> rules_of(const std::string& acl, const std::string& user) {
  std::vector<std::string> rules;
  bool in = false;
  for (const auto& line : lines_of(acl)) {
    if (line.starts_with("user ")) in = line == "user " + user;
    else if (in && line.starts_with("topic ")) rules.push_back(line);
  }
  return rules;
}

}  // namespace

TEST_CASE("the password hash is Mosquitto's $7$ PBKDF2-SHA512 format", "[edge][provision]") {
  std::string salt = "0123456789ab";
  auto hash = yiban::edge::mosquitto_password_hash("secret", salt);
  REQUIRE(hash.starts_with("$7$101$MDEyMzQ1Njc4OWFi$"));  // base64 of the salt
  // The digest part is 64 bytes of PBKDF2-HMAC-SHA512 over 101 rounds.
  unsigned char expected[64];
  REQUIRE(PKCS5_PBKDF2_HMAC("secret", 6, reinterpret_cast<const unsigned char*>(salt.data()), 12, 101, EVP_sha512(),
                            64, expected) == 1);
  unsigned char encoded[89];
  EVP_EncodeBlock(encoded, expected, 64);
  CHECK(hash.substr(hash.rfind('$') + 1) == reinterpret_cast<const char*>(encoded));
  CHECK(yiban::edge::mosquitto_password_hash("secret", salt) == hash);
  CHECK(yiban::edge::mosquitto_password_hash("secreT", salt) != hash);
}

TEST_CASE("the ACL gives each device only its own topics and the edge the whole hall", "[edge][provision]") {
  TempDir dir;
  auto hall = test_hall(dir.path());
  auto acl = yiban::edge::broker_acl(hall);
  const std::string root = "yiban/v1/test-hall";
  CHECK(rules_of(acl, "yiban.edge") == std::vector<std::string>{"topic readwrite " + root + "/#"});
  CHECK(rules_of(acl, "yiban.monitor") == std::vector<std::string>{"topic read " + root + "/#"});
  auto kiosk = rules_of(acl, "kiosk-1");
  CHECK(kiosk == std::vector<std::string>{
                     "topic write " + root + "/devices/kiosk-1/status",
                     "topic write " + root + "/devices/kiosk-1/req/+",
                     "topic write " + root + "/devices/kiosk-1/telemetry",
                     "topic read " + root + "/devices/kiosk-1/res/#",
                     "topic read " + root + "/devices/kiosk-1/cmd",
                     "topic read " + root + "/board/#",
                     "topic read " + root + "/catalog",
                     "topic read " + root + "/alerts",
                 });
  // Every device has its own block; no rule is outside a user (anonymous gets nothing).
  for (const auto& device : hall.devices) CHECK(rules_of(acl, device.id).size() == 8);
  bool before_first_user = true;
  for (const auto& line : lines_of(acl)) {
    if (line.starts_with("user ")) before_first_user = false;
    if (before_first_user) CHECK_FALSE(line.starts_with("topic "));
    if (line.starts_with("topic write")) CHECK(line.find("/board") == std::string::npos);
  }
}

TEST_CASE("provisioning writes the broker's files, keeps passwords and revokes removed devices", "[edge][provision]") {
  TempDir dir;
  auto hall = test_hall(dir.path());
  ProvisionOptions options;
  options.out = dir.path() / "broker";
  options.port = 18883;
  auto first = yiban::edge::provision_broker(hall, options);
  REQUIRE(first);
  CHECK(first->created.size() == hall.devices.size() + 2);
  CHECK(first->kept.empty());

  auto conf = read_file(options.out / "mosquitto.conf");
  CHECK_THAT(conf, Catch::Contains("\nlistener 18883 127.0.0.1\n"));
  CHECK_THAT(conf, Catch::Contains("\nallow_anonymous false\n"));
  CHECK_THAT(conf, Catch::Contains("\npassword_file " + fs::absolute(options.out / "passwd").string() + "\n"));
  CHECK_THAT(conf, Catch::Contains("\nacl_file " + fs::absolute(options.out / "acl").string() + "\n"));
  CHECK(mode_of(options.out / "passwd") == 0640);
  CHECK(mode_of(options.out / "credentials") == 0700);
  auto kiosk_password = read_file(options.out / "credentials" / "kiosk-1.password");
  CHECK(mode_of(options.out / "credentials" / "kiosk-1.password") == 0600);
  CHECK(kiosk_password.size() == 33);  // 32 characters and a newline
  CHECK(kiosk_password != read_file(options.out / "credentials" / "kiosk-2.password"));
  auto passwd = lines_of(read_file(options.out / "passwd"));
  REQUIRE(passwd.size() == hall.devices.size() + 2);
  CHECK(passwd[0].starts_with("yiban.edge:$7$101$"));

  // Drop display-1, add kiosk-3: kiosk-1 keeps its password, display-1 is revoked.
  std::erase_if(hall.devices, [](const auto& d) { return d.id == "display-1"; });
  hall.devices.push_back({"kiosk-3", yiban::protocol::DeviceKind::kKiosk, std::nullopt});
  auto second = yiban::edge::provision_broker(hall, options);
  REQUIRE(second);
  CHECK(second->created == std::vector<std::string>{"kiosk-3"});
  CHECK(second->revoked == std::vector<std::string>{"display-1"});
  CHECK(read_file(options.out / "credentials" / "kiosk-1.password") == kiosk_password);
  CHECK_FALSE(fs::exists(options.out / "credentials" / "display-1.password"));
  auto acl = read_file(options.out / "acl");
  CHECK_THAT(acl, Catch::Contains("user kiosk-3\n"));
  CHECK_THAT(acl, !Catch::Contains("display-1"));
  // The same password hashes differently with a new salt each run.
  auto again = lines_of(read_file(options.out / "passwd"));
  CHECK(again[0] != passwd[0]);
}

TEST_CASE("provisioning refuses bad options with a message naming them", "[edge][provision]") {
  TempDir dir;
  auto hall = test_hall(dir.path());
  ProvisionOptions options;
  options.out = dir.path() / "broker";
  options.port = 0;
  CHECK_THAT(yiban::edge::provision_broker(hall, options).error().message, Catch::Contains("--port 0"));
  options.port = 1883;
  options.cert_file = dir.path() / "broker.crt";
  CHECK_THAT(yiban::edge::provision_broker(hall, options).error().message, Catch::Contains("--tls-cert and --tls-key"));
  options.key_file = dir.path() / "broker.key";
  CHECK_THAT(yiban::edge::provision_broker(hall, options).error().message, Catch::Contains("broker.crt: no such file"));
  CHECK_FALSE(fs::exists(options.out));  // nothing written
  // An emptied credentials file is not silently replaced.
  options.cert_file.clear();
  options.key_file.clear();
  REQUIRE(yiban::edge::provision_broker(hall, options));
  write_file(options.out / "credentials" / "kiosk-1.password", "");
  CHECK_THAT(yiban::edge::provision_broker(hall, options).error().message, Catch::Contains("kiosk-1.password is empty"));
}

TEST_CASE("the broker config caps packets, in-flight and queued messages, sized for the hall's devices",
          "[edge][provision][limits]") {
  TempDir dir;
  auto hall = test_hall(dir.path());
  ProvisionOptions options;
  options.out = dir / "broker";
  REQUIRE(yiban::edge::provision_broker(hall, options));
  auto conf = read_file(options.out / "mosquitto.conf");
  auto value_of = [&](const std::string& key) -> long long {
    for (const auto& line : lines_of(conf))
      if (line.starts_with(key + " ")) return std::stoll(line.substr(key.size() + 1));
    FAIL("mosquitto.conf has no " << key << " line:\n" << conf);
    return -1;
  };
  // At least 64 KiB (four times the edge's own 16 KiB payload limit), far
  // below MQTT's 256 MB maximum that Mosquitto allows without the line.
  CHECK(value_of("max_packet_size") >= 64 * 1024);
  CHECK(value_of("max_packet_size") <= 1024 * 1024);
  CHECK(value_of("max_inflight_messages") == 100);
  CHECK(value_of("max_queued_messages") == 7 * yiban::edge::kQueuedMessagesPerDevice);  // 7 devices
  CHECK(value_of("max_queued_bytes") == 7LL * yiban::edge::kQueuedMessagesPerDevice * 4096);

  // A hall of two devices still gets Mosquitto's default of 1000.
  auto small = hall;
  small.devices.resize(2);
  CHECK(yiban::edge::broker_limits(small).max_queued_messages == 1000);

  // A big hall gets a queue that holds its devices' requests over an edge restart.
  for (int i = 0; i < 100; ++i)
    hall.devices.push_back({"kiosk-x" + std::to_string(i), yiban::protocol::DeviceKind::kKiosk, std::nullopt});
  auto limits = yiban::edge::broker_limits(hall);
  CHECK(limits.max_queued_messages == 107 * yiban::edge::kQueuedMessagesPerDevice);
  CHECK(limits.max_queued_bytes == 107LL * yiban::edge::kQueuedMessagesPerDevice * 4096);
  auto text = yiban::edge::broker_config(options, limits);
  CHECK_THAT(text, Catch::Contains("max_queued_messages 21400\n"));
  CHECK_THAT(text, Catch::Contains("max_packet_size " + std::to_string(limits.max_packet_size) + "\n"));
}
