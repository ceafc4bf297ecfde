#pragma once
// A socket option both MQTT
// ends (edge and devices) need on Paho's sockets.

#include <string_view>

namespace yiban::runtime {

// Paho C never sets TCP_NODELAY on its sockets (paho.mqtt.c #530), so a reply
// that follows a PUBACK waits for the broker's delayed ACK: up to 40 ms. This
// sets TCP_NODELAY on every TCP socket of this process whose peer port is the
// broker's, found through /proc/self/fd. Call it from the connected handler,
// after every (re)connect. Returns how many sockets it changed.
int set_nodelay_towards(std::string_view broker_uri);

// The port of tcp://host:port, ssl://host:port, mqtt://…; 1883 (8883 for
// ssl) when none is given.
int broker_port(std::string_view broker_uri);

}  // namespace yiban::runtime
