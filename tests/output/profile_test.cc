// Resolved profiles of hand-built format-3 recordings (several event types, off-CPU stacks with
// reason frames, per-stack weights): one event per profile, never summed; the wall profile adds
// clock and off-CPU time; folded microseconds, table units, flame graph kinds; old recordings
// (no event or weight per stack); unknown events.
#include "wick/profile.h"

#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "output_fixture.h"
#include "testing/testing.h"
#include "wick/flamegraph.h"
#include "wick/folded.h"
#include "wick/top_table.h"

namespace wick {
namespace {

Frame OffCpu(OffCpuReason reason) { return {static_cast<uint64_t>(reason), 0, FrameKind::kOffCpu}; }

class ProfileTest : public OutputTest {
 protected:
  void SetUp() override {
    OutputTest::SetUp();
    rec_.version = 3;
  }

  void AddEventTypes(std::vector<std::string> names) {
    for (std::string& name : names) {
      RecordedEventType t;
      t.id = static_cast<uint32_t>(rec_.event_types.size());
      t.name = std::move(name);
      rec_.event_types.push_back(std::move(t));
    }
  }

  void AddEventStack(uint32_t event, std::vector<Frame> frames, uint64_t count, uint64_t weight) {
    AddStack(0, std::move(frames), count);
    rec_.stacks.back().event = event;
    rec_.stacks.back().weight = weight;
  }

  std::string Folded(const std::string& event = "", const FoldedOptions& opts = {}) {
    std::ostringstream out;
    WICK_EXPECT_OK(WriteFolded(ProfileOf(rec_, true, event), out, opts));
    return out.str();
  }

  std::string Table(const std::string& event = "") {
    std::ostringstream out;
    TopOptions opts;
    opts.top = 3;
    WICK_EXPECT_OK(WriteTopTable(ComputeTopTable(ProfileOf(rec_, true, event), opts), out, opts));
    return out.str();
  }

  // cpu-clock: a 6 samples of 1 ms each; page-faults: b 3 samples, 5 faults.
  void AddClockAndFaults() {
    AddEventTypes({"cpu-clock", "page-faults"});
    AddEventStack(0, {F("a"), F("work"), F("main")}, 6, 6'000'000);
    AddEventStack(1, {F("b"), F("work"), F("main")}, 3, 5);
  }

  // The wall profile of one thread: main -> work -> a on the CPU for 3 ms (3 samples), blocked
  // in c's syscall: asleep for 2 ms (two stacks that fold to one line: 1.0006 ms + 0.9996 ms),
  // runnable for 0.7 ms. A page-faults stack, which the wall leaves out.
  void AddWall() {
    AddEventTypes({"cpu-clock", "sched:sched_switch", "off-cpu", "page-faults"});
    AddEventStack(0, {F("a"), F("work"), F("main")}, 3, 3'000'000);
    AddEventStack(
        2,
        {OffCpu(OffCpuReason::kSleep), Kernel(kKernelBase + 0x120), F("c"), F("work"), F("main")},
        1, 1'000'600);
    AddEventStack(2,
                  {OffCpu(OffCpuReason::kSleep), Kernel(kKernelBase + 0x121), F("c", 1), F("work"),
                   F("main")},
                  4, 999'600);
    AddEventStack(2,
                  {OffCpu(OffCpuReason::kRunnable), Kernel(kKernelBase + 0x120), F("c"), F("work"),
                   F("main")},
                  1, 700'000);
    AddEventStack(3, {F("b"), F("work"), F("main")}, 2, 2);
  }
};

TEST_F(ProfileTest, EventsAreNeverSummed) {
  AddClockAndFaults();
  EXPECT_EQ(DefaultProfileEvent(rec_), "cpu-clock");
  EXPECT_EQ(ProfileEvents(rec_), (std::vector<std::string>{"cpu-clock", "page-faults"}));
  EXPECT_EQ(OtherProfileEvents(rec_, "cpu-clock"), std::vector<std::string>{"page-faults"});
  EXPECT_EQ(OtherProfileEvents(rec_, "page-faults"), std::vector<std::string>{"cpu-clock"});
  EXPECT_EQ(Folded(), "known_tree_fp;main;work;a 6\n");
  EXPECT_EQ(Folded("cpu-clock"), "known_tree_fp;main;work;a 6\n");
  EXPECT_EQ(Folded("page-faults"), "known_tree_fp;main;work;b 3\n");

  const Profile clock = ProfileOf(rec_);
  EXPECT_EQ(clock.event, "cpu-clock");
  ASSERT_EQ(clock.value_types.size(), 2u);
  EXPECT_EQ(clock.value_types[0].type, "samples");
  EXPECT_EQ(clock.value_types[1].type, "cpu");
  EXPECT_EQ(clock.value_types[1].unit, "nanoseconds");
  EXPECT_EQ(clock.default_value, 0u);
  EXPECT_EQ(clock.totals, (std::vector<uint64_t>{6, 6'000'000}));
  EXPECT_EQ(FoldedUnit(clock), "samples");

  const Profile faults = ProfileOf(rec_, true, "page-faults");
  ASSERT_EQ(faults.value_types.size(), 2u);
  EXPECT_EQ(faults.value_types[1].type, "page-faults");
  EXPECT_EQ(faults.value_types[1].unit, "count");
  EXPECT_EQ(faults.totals, (std::vector<uint64_t>{3, 5}));

  EXPECT_EQ(Table(),
            "cpu-clock: 6 samples\n"
            "  Self%      Self  Total%     Total  Function [Module]\n"
            "100.00%         6 100.00%         6  a [known_tree_fp]\n"
            "  0.00%         0 100.00%         6  main [known_tree_fp]\n"
            "  0.00%         0 100.00%         6  work [known_tree_fp]\n");
  EXPECT_TRUE(absl::StartsWith(Table("page-faults"), "page-faults: 3 samples\n")) << Table();
}

TEST_F(ProfileTest, UnknownEventNamesTheRecordingsEvents) {
  AddClockAndFaults();
  for (const char* event : {"cycles", "wall"}) {
    absl::StatusOr<Profile> p = BuildProfile(rec_, sym_, {.event = event});
    ASSERT_FALSE(p.ok()) << event;
    EXPECT_EQ(p.status().code(), absl::StatusCode::kNotFound);
    const std::string message(p.status().message());
    EXPECT_NE(message.find(std::string("'") + event + "'"), std::string::npos) << message;
    EXPECT_NE(message.find("cpu-clock, page-faults"), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    EXPECT_FALSE(CheckProfileEvent(rec_, event).ok());
  }
  EXPECT_NE(
      std::string(BuildProfile(rec_, sym_, {.event = "wall"}).status().message()).find("--off-cpu"),
      std::string::npos);
  WICK_EXPECT_OK(CheckProfileEvent(rec_, "page-faults"));
  WICK_EXPECT_OK(CheckProfileEvent(rec_, ""));
}

TEST_F(ProfileTest, WallAddsClockAndOffCpuTime) {
  AddWall();
  EXPECT_EQ(DefaultProfileEvent(rec_), "wall");
  EXPECT_EQ(ProfileEvents(rec_).back(), "wall");
  // The wall has the clock and off-CPU stacks; only page-faults are left out.
  EXPECT_EQ(OtherProfileEvents(rec_, "wall"), std::vector<std::string>{"page-faults"});

  const Profile wall = ProfileOf(rec_);
  EXPECT_EQ(wall.event, "wall");
  ASSERT_EQ(wall.value_types.size(), 4u);
  const std::vector<std::string> types = {"samples", "wall", "cpu", "off-cpu"};
  for (size_t i = 0; i < types.size(); ++i) EXPECT_EQ(wall.value_types[i].type, types[i]);
  EXPECT_EQ(wall.shown_type().type, "wall");
  EXPECT_EQ(wall.shown_type().unit, "nanoseconds");
  EXPECT_EQ(wall.totals,
            (std::vector<uint64_t>{3, 3'000'000 + 2'000'200 + 700'000, 3'000'000, 2'700'200}));
  EXPECT_EQ(FoldedUnit(wall), "microseconds");

  // Microseconds, each line's nanoseconds summed before rounding: the two sleeps are one line
  // of 2000.2 us; the reason frame is the leaf.
  EXPECT_EQ(Folded(),
            "known_tree_fp;main;work;a 3000\n"
            "known_tree_fp;main;work;c;do_syscall_64_[k];[off-cpu: runnable] 700\n"
            "known_tree_fp;main;work;c;do_syscall_64_[k];[off-cpu: sleep] 2000\n");
  EXPECT_EQ(Folded("cpu-clock"), "known_tree_fp;main;work;a 3\n");
  EXPECT_EQ(Folded("off-cpu"),
            "known_tree_fp;main;work;c;do_syscall_64_[k];[off-cpu: runnable] 700\n"
            "known_tree_fp;main;work;c;do_syscall_64_[k];[off-cpu: sleep] 2000\n");
  const Profile off = ProfileOf(rec_, true, "off-cpu");
  ASSERT_EQ(off.value_types.size(), 2u);
  EXPECT_EQ(off.value_types[0].type, "blocks");
  EXPECT_EQ(off.shown_type().type, "off-cpu");
  EXPECT_EQ(off.totals, (std::vector<uint64_t>{6, 2'700'200}));

  // Tables: time in ms, the unit in the header.
  EXPECT_EQ(Table(),
            "wall: 5.70 ms\n"
            "  Self%   Self ms  Total%  Total ms  Function [Module]\n"
            " 52.63%      3.00  52.63%      3.00  a [known_tree_fp]\n"
            " 35.09%      2.00  35.09%      2.00  [off-cpu: sleep]\n"
            " 12.28%      0.70  12.28%      0.70  [off-cpu: runnable]\n");
  // Each display frame is named once: c at two offsets is one frame, do_syscall_64 too.
  size_t named_c = 0;
  for (const DisplayFrame& f : wall.frames) named_c += f.name == "c";
  EXPECT_EQ(named_c, 1u);
}

TEST_F(ProfileTest, FlameGraphColoursOffCpuReasonsAndSaysTheUnit) {
  AddWall();
  const std::string json = FlameGraphJson(ProfileOf(rec_));
  EXPECT_TRUE(absl::StartsWith(json, "{\"event\":\"wall\",\"unit\":\"nanoseconds\",")) << json;
  // names[i] has kinds[i]: find the reason frame's index and its kind.
  const size_t names_at = json.find("\"names\":[");
  const size_t kinds_at = json.find("\"kinds\":[");
  ASSERT_NE(names_at, std::string::npos);
  ASSERT_NE(kinds_at, std::string::npos);
  const std::vector<std::string> names =
      absl::StrSplit(json.substr(names_at + 9, kinds_at - 2 - names_at - 9), ',');
  const std::vector<std::string> kinds =
      absl::StrSplit(json.substr(kinds_at + 9, json.find(']', kinds_at) - kinds_at - 9), ',');
  ASSERT_EQ(names.size(), kinds.size());
  int off_cpu = 0;
  for (size_t i = 0; i < names.size(); ++i) {
    if (absl::StartsWith(names[i], "\"[off-cpu: ")) {
      EXPECT_EQ(kinds[i], std::to_string(static_cast<int>(FlameKind::kOffCpu))) << names[i];
      ++off_cpu;
    } else {
      EXPECT_NE(kinds[i], std::to_string(static_cast<int>(FlameKind::kOffCpu))) << names[i];
    }
  }
  EXPECT_EQ(off_cpu, 2);
  // The root holds the wall time in nanoseconds.
  EXPECT_NE(json.find("\"tree\":[0,5700200,"), std::string::npos) << json;
  std::ostringstream page;
  WICK_EXPECT_OK(WriteFlameGraph(ProfileOf(rec_), page));
  EXPECT_NE(page.str().find(">off-CPU</span>"), std::string::npos);

  // A count profile says what it counts.
  EXPECT_TRUE(absl::StartsWith(FlameGraphJson(ProfileOf(rec_, true, "cpu-clock")),
                               "{\"event\":\"cpu-clock\",\"unit\":\"samples\","));
}

TEST_F(ProfileTest, OffCpuFramesAreNamedByReason) {
  EXPECT_EQ(FrameName(rec_, sym_, OffCpu(OffCpuReason::kIo)), "[off-cpu: io]");
  EXPECT_EQ(FrameName(rec_, sym_, OffCpu(OffCpuReason::kRunnable)), "[off-cpu: runnable]");
  EXPECT_EQ(FrameName(rec_, sym_, {99, 0, FrameKind::kOffCpu}), "[off-cpu: other]");
  std::vector<DisplayFrame> frames;
  ResolveFrame(rec_, sym_, OffCpu(OffCpuReason::kSleep), true, &frames);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].category, FrameCategory::kOffCpu);
  EXPECT_FALSE(frames[0].kernel);
  EXPECT_EQ(frames[0].module, "");
}

// Files before format 3 keep no event or weight per stack: one profile of all their stacks,
// CPU time from the recorded period.
TEST_F(ProfileTest, OldRecordingsAreOneProfileWithTimeFromThePeriod) {
  rec_.version = 2;
  rec_.meta.event = "cpu-clock";
  rec_.meta.sample_period = 250'000;
  AddEventTypes({"sched:sched_switch"});  // v2 files listed trace events only
  AddKnownTree();
  EXPECT_EQ(DefaultProfileEvent(rec_), "cpu-clock");
  EXPECT_EQ(ProfileEvents(rec_), std::vector<std::string>{"cpu-clock"});
  EXPECT_TRUE(OtherProfileEvents(rec_, "cpu-clock").empty());
  const Profile p = ProfileOf(rec_);
  EXPECT_EQ(p.event, "cpu-clock");
  ASSERT_EQ(p.value_types.size(), 2u);
  EXPECT_EQ(p.totals, (std::vector<uint64_t>{12, 12 * 250'000}));
  EXPECT_EQ(p.clock_period_ns, 250'000u);
  EXPECT_EQ(
      Folded(),
      "known_tree_fp;main;work;a 6\n"
      "known_tree_fp;main;work;b 3\n"
      "known_tree_fp;main;work;c 1\n"
      "known_tree_fp;main;work;c;entry_SYSCALL_64_[k];do_syscall_64_[k];ext4_sync_fs_[k] 2\n");
  absl::StatusOr<Profile> faults = BuildProfile(rec_, sym_, {.event = "page-faults"});
  ASSERT_FALSE(faults.ok());
  EXPECT_NE(std::string(faults.status().message()).find("record it again"), std::string::npos)
      << faults.status();

  // Several events in an old file cannot be told apart: samples only, no time.
  rec_.meta.event = "cpu-clock,page-faults";
  const Profile mixed = ProfileOf(rec_);
  EXPECT_EQ(mixed.event, "cpu-clock,page-faults");
  EXPECT_EQ(mixed.totals, std::vector<uint64_t>{12});
}

}  // namespace
}  // namespace wick
