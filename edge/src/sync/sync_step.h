#pragma once
// What the sync client hands the engine thread besides central's commands
// (protocol/README.md "Store identity"): steps that change the hall's store,
// applied by the engine in its own transaction, in order with the commands.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "yiban/protocol/chain.h"

namespace yiban::edge::sync {

struct SyncStep {
  enum class Kind {
    kRebase,  // central's DOWN epoch is not the one down_applied counts in
    kAdopt,   // events of central's log of this hall that the store lacks
  };
  Kind kind = Kind::kRebase;
  // kRebase: down_applied becomes applied_after, counted in to_epoch; lost:
  // commands the hall applied that this central does not hold.
  std::string from_epoch;
  std::string to_epoch;
  std::int64_t applied_before = 0;
  std::int64_t applied_after = 0;
  std::int64_t lost = 0;
  // kAdopt: central's events from, from+1, …; final_chain is set on the batch
  // that ends at what central holds (chain(to) must equal it).
  std::int64_t from = 0;
  std::vector<std::string> texts;
  std::optional<protocol::ChainHash> final_chain;
};

}  // namespace yiban::edge::sync
