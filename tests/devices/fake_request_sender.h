#pragma once
// A RequestSender that records requests and answers with canned replies.

#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "yiban/devices/request_sender.h"

namespace yiban::devices::test {

class FakeRequestSender final : public RequestSender {
 public:
  // Replies handed out in order; an empty queue means "no reply" (an Error).
  std::deque<std::string> replies;
  std::vector<std::pair<std::string, std::string>> requests;  // op, payload

  protocol::Expected<protocol::Reply> request(std::string_view op,
                                              std::string_view payload_json) override {
    requests.emplace_back(std::string(op), std::string(payload_json));
    if (replies.empty()) return protocol::error("no reply");
    std::string reply = std::move(replies.front());
    replies.pop_front();
    return protocol::decode_reply(reply);
  }
};

}  // namespace yiban::devices::test
