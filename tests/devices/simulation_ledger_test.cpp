// SimulationLedger: totals and waits of a hall simulation.

#include "yiban/devices/simulation_ledger.h"

#include <catch2/catch.hpp>

using namespace yiban::devices;

TEST_CASE("the ledger reports mean and p90 waits", "[devices]") {
  SimulationLedger ledger;
  for (int i = 0; i < 10; ++i) {
    ledger.issued("t" + std::to_string(i), 0, 1.0);
    ledger.called("t" + std::to_string(i), (i + 1) * 60'000);
  }
  ledger.called("t0", 99 * 60'000);  // a second call does not count
  auto s = ledger.summary();
  CHECK(s.issued == 10);
  CHECK(s.mean_wait_min == Approx(5.5));
  CHECK(s.p90_wait_min == Approx(9.0));
  CHECK(summary_text(s).find("issued: 10\n") != std::string::npos);
}
