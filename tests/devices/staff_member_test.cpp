// StaffMember: a counter's staff state machine against canned edge replies.

#include "yiban/devices/staff_member.h"

#include <catch2/catch.hpp>

#include "devices/device_test_hall.h"
#include "devices/fake_request_sender.h"
#include "yiban/devices/simulation_ledger.h"

using namespace yiban::devices;
using yiban::devices::test::FakeRequestSender;

namespace {

const char* kTicket =
    R"({"ok":true,"ticket":{"id":"t1","number":"A001","service":"A","issued_ts":1,)"
    R"("state":"called","waiting_ahead":0,"estimated_wait_s":0}})";
const char* kOpen = R"({"ok":true,"counter":{"id":"1","state":"open"}})";
const char* kEmpty = R"({"ok":false,"error":{"code":"queue_empty","message":"无人等候"}})";

StaffHabits plain_habits() {
  StaffHabits habits;
  habits.no_show_share = 0.0;
  habits.transfer_share = 0.0;
  habits.break_share = 0.0;
  habits.rating_share = 1.0;
  return habits;
}

}  // namespace

TEST_CASE("staff open, call, start, finish and ask for a rating", "[devices]") {
  auto hall = yiban::devices::test::load_test_hall();
  FakeRequestSender terminal;
  FakeRequestSender pad;
  SimulationLedger ledger;
  ledger.issued("t1", 0, 4.0);
  terminal.replies = {kOpen, kEmpty, kTicket, kTicket, kTicket};
  pad.replies = {R"({"ok":true})"};
  StaffMember staff(hall, "1", terminal, &pad, ledger, 1, plain_habits());

  std::int64_t now = 60'000;
  now = staff.step(now);  // open
  CHECK(staff.state() == StaffMember::State::kIdle);
  auto due = staff.step(now);  // queue_empty: try again later
  CHECK(due == now + 20'000);
  CHECK(staff.step(now + 1000) == due);  // nothing due yet
  now = staff.step(due);                 // call
  CHECK(staff.state() == StaffMember::State::kCalled);
  auto walked_up = now;
  now = staff.step(now);  // start; finish is due after the planned 4 minutes
  CHECK(staff.state() == StaffMember::State::kServing);
  CHECK(now == walked_up + 4 * 60'000);
  staff.step(now);  // finish
  CHECK(staff.state() == StaffMember::State::kIdle);

  std::vector<std::string> ops;
  for (auto& r : terminal.requests) ops.push_back(r.first);
  CHECK(ops == std::vector<std::string>{"counter.open", "counter.call_next", "counter.call_next",
                                        "counter.start", "counter.finish"});
  REQUIRE(pad.requests.size() == 1);
  CHECK(pad.requests[0].first == "rating.submit");
  auto summary = ledger.summary();
  CHECK(summary.served == 1);
  CHECK(summary.ratings == 1);
  CHECK(summary.waits == 1);
  CHECK(summary.mean_wait_min == Approx((60'000 + 20'000) / 60'000.0));
}

TEST_CASE("staff recall then no-show a citizen who does not come", "[devices]") {
  auto hall = yiban::devices::test::load_test_hall();
  FakeRequestSender terminal;
  SimulationLedger ledger;
  ledger.issued("t1", 0, 4.0);
  terminal.replies = {kOpen, kTicket, kTicket, kTicket};
  auto habits = plain_habits();
  habits.no_show_share = 1.0;
  StaffMember staff(hall, "1", terminal, nullptr, ledger, 1, habits);
  std::int64_t now = 0;
  for (int i = 0; i < 4; ++i) now = staff.step(now);
  CHECK(terminal.requests.back().first == "counter.no_show");
  CHECK(terminal.requests[2].first == "counter.recall");
  CHECK(ledger.summary().no_shows == 1);
  CHECK(ledger.occupancy() == 0);
}

TEST_CASE("draining staff finish the current ticket and call nobody new", "[devices]") {
  auto hall = yiban::devices::test::load_test_hall();
  FakeRequestSender terminal;
  SimulationLedger ledger;
  terminal.replies = {kOpen, kTicket, kTicket, kTicket};
  StaffMember staff(hall, "1", terminal, nullptr, ledger, 1, plain_habits());
  std::int64_t now = 0;
  for (int i = 0; i < 3; ++i) now = staff.step(now);  // open, call, start
  REQUIRE(staff.state() == StaffMember::State::kServing);
  staff.drain();
  now = staff.step(now);  // finish
  staff.step(now);
  CHECK(staff.done());
  CHECK(terminal.requests.back().first == "counter.finish");
  CHECK(ledger.summary().served == 1);
}

TEST_CASE("a counter whose link is gone stops", "[devices]") {
  auto hall = yiban::devices::test::load_test_hall();
  FakeRequestSender terminal;  // no replies at all
  SimulationLedger ledger;
  StaffMember staff(hall, "1", terminal, nullptr, ledger, 1);
  staff.step(0);
  CHECK(staff.done());
}
