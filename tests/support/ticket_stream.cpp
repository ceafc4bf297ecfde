#include "support/ticket_stream.h"

#include "support/edge_process.h"
#include "yiban/protocol/chain.h"

#include <nlohmann/json.hpp>

namespace yiban::test {

using nlohmann::json;
using namespace std::chrono_literals;

bool chain_verifies(const std::filesystem::path& db) {
  auto texts = query_strings(db, "SELECT text FROM events ORDER BY seq");
  auto hexes = query_strings(db, "SELECT hex(chain) FROM events ORDER BY seq");
  if (texts.size() != hexes.size()) return false;
  yiban::protocol::ChainHash chain = yiban::protocol::kChainZero;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    chain = yiban::protocol::chain_next(chain, texts[i]);
    auto stored = yiban::protocol::chain_from_hex(hexes[i]);
    if (!stored || *stored != chain) return false;
  }
  return true;
}


void TicketStream::loop() {
  int n = 0;
  std::string corr;
  while (!stop_) {
    if (!pending_) {
      if (finishing_) {
        std::this_thread::sleep_for(5ms);
        continue;
      }
      corr = id_ + "-" + std::to_string(++n);
      pending_ = true;
    }
    auto reply = client_.request(hall_, device_, "ticket.take", R"({"service":"A"})", 1500ms, corr);
    if (!reply) continue;  // the edge is down: retry the same request
    auto j = json::parse(*reply, nullptr, false);
    if (j.is_object() && j["ok"] == true) {
      std::lock_guard lock(mutex_);
      tickets_.insert(j["ticket"]["id"].get<std::string>());
      ++ok_count_;
    }
    pending_ = false;
  }
}

}  // namespace yiban::test
