#pragma once
// The call display: keeps the board (latest calls, queues, catalog) from the
// edge's retained topics and hands each announcement to the Announcer.
// handle_message() is called from one thread (the agent's message pump).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "yiban/devices/announcer.h"
#include "yiban/protocol/payloads.h"
#include "yiban/protocol/topics.h"

namespace yiban::devices {

class DisplayAgent {
 public:
  DisplayAgent(const protocol::Topics& topics, Announcer& announcer)
      : topics_(topics), announcer_(announcer) {}

  // The filters the display subscribes to.
  std::vector<std::string> subscriptions() const;
  // Takes one message; returns the board to show again when it changed.
  // Malformed payloads are ignored (logged).
  std::optional<std::string> handle_message(std::string_view topic, std::string_view payload);
  std::string render() const;

 private:
  struct Queue {
    std::string service;
    std::string name;
    int waiting = 0;
    int estimated_wait_s = 0;
    int open_counters = 0;
  };
  struct Service {
    std::string code;
    std::string name;
    bool open = true;
  };

  const protocol::Topics& topics_;
  Announcer& announcer_;
  std::string hall_name_;
  std::string notice_;  // central's notice (board/notice), shown on top
  std::vector<protocol::CallEntry> calls_;
  std::vector<Queue> queues_;
  std::vector<Service> services_;
};

}  // namespace yiban::devices
