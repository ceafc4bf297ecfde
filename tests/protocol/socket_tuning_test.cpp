#include "yiban/runtime/socket_tuning.h"

#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

using yiban::runtime::broker_port;

TEST_CASE("the broker port is read from the URI, with MQTT's defaults", "[protocol][socket]") {
  CHECK(broker_port("tcp://127.0.0.1:18830") == 18830);
  CHECK(broker_port("tcp://broker") == 1883);
  CHECK(broker_port("mqtt://broker:1884/") == 1884);
  CHECK(broker_port("ssl://broker") == 8883);
  CHECK(broker_port("ssl://broker:8884") == 8884);
  CHECK(broker_port("tcp://[::1]") == 1883);
  CHECK(broker_port("tcp://[::1]:1999") == 1999);
  CHECK(broker_port("tcp://host:notaport") == 1883);
  CHECK(broker_port("tcp://host:70000") == 1883);
}

TEST_CASE("TCP_NODELAY is set on this process's sockets towards the broker port only", "[protocol][socket]") {
  int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  REQUIRE(::listen(listener, 4) == 0);
  socklen_t length = sizeof address;
  REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  int port = ntohs(address.sin_port);
  int client = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(::connect(client, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  int accepted = ::accept(listener, nullptr, nullptr);
  auto nodelay = [](int fd) {
    int value = 0;
    socklen_t size = sizeof value;
    ::getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &value, &size);
    return value != 0;
  };
  CHECK_FALSE(nodelay(client));
  CHECK(yiban::runtime::set_nodelay_towards("tcp://127.0.0.1:" + std::to_string(port)) == 1);
  CHECK(nodelay(client));
  CHECK_FALSE(nodelay(accepted));  // its peer port is the client's, not the broker's
  ::close(accepted);
  ::close(client);
  ::close(listener);
}
