// Announcer: in order, each in full, never overlapping.

#include "yiban/devices/announcer.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <thread>

using namespace yiban::devices;
using namespace std::chrono_literals;

TEST_CASE("announcements are spoken in order, one at a time, each in full", "[devices]") {
  std::atomic<int> speaking{0};
  std::atomic<int> overlaps{0};
  std::vector<std::string> finished;  // written only by the speaker thread
  {
    Announcer announcer([&](const std::string& text) {
      if (speaking.fetch_add(1) != 0) ++overlaps;
      std::this_thread::sleep_for(30ms);
      finished.push_back(text);
      speaking.fetch_sub(1);
    });
    announcer.enqueue("请A001号到1号窗口");
    announcer.enqueue("请A002号到2号窗口");
    announcer.enqueue("请A003号到3号窗口");
    REQUIRE(announcer.wait_idle(5s));
    CHECK(announcer.spoken() == announcer.queued());
    announcer.enqueue("请A004号到1号窗口");
  }  // the destructor still speaks A004 in full
  CHECK(overlaps == 0);
  CHECK(finished == std::vector<std::string>{"请A001号到1号窗口", "请A002号到2号窗口",
                                             "请A003号到3号窗口", "请A004号到1号窗口"});
}

TEST_CASE("the console speaker prints what it would say", "[devices]") {
  std::vector<std::string> printed;
  auto speaker =
      make_console_speaker(false, [&](const std::string& line) { printed.push_back(line); });
  speaker("请A007号到7号窗口");
  CHECK(printed == std::vector<std::string>{"[播报] 请A007号到7号窗口"});
  CHECK(program_on_path("sh"));
  CHECK_FALSE(program_on_path("no-such-program-yiban"));
}
