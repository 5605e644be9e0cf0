// The off-CPU unit: prev_state read and classified from this kernel's sched_switch format
// file, the rights check, and the pairing of switch-outs with switch-ins in every order the
// merged rings can deliver them (lost records, retroactive pairs, end of run, exits).
#include "off_cpu.h"

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "testing/testing.h"

namespace wick {
namespace {

// events/sched/sched_switch/format of Linux 6.1 (Debian 12, x86_64), as read on this machine.
constexpr char kSchedSwitchFormat[] =
    R"(name: sched_switch
ID: 372
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:char prev_comm[16];	offset:8;	size:16;	signed:0;
	field:pid_t prev_pid;	offset:24;	size:4;	signed:1;
	field:int prev_prio;	offset:28;	size:4;	signed:1;
	field:long prev_state;	offset:32;	size:8;	signed:1;
	field:char next_comm[16];	offset:40;	size:16;	signed:0;
	field:pid_t next_pid;	offset:56;	size:4;	signed:1;
	field:int next_prio;	offset:60;	size:4;	signed:1;

print fmt: "prev_comm=%s prev_pid=%d prev_prio=%d prev_state=%s%s ==> next_comm=%s next_pid=%d next_prio=%d", REC->prev_comm, REC->prev_pid, REC->prev_prio, (REC->prev_state & ((((0x00000000 | 0x00000001 | 0x00000002 | 0x00000004 | 0x00000008 | 0x00000010 | 0x00000020 | 0x00000040) + 1) << 1) - 1)) ? __print_flags(REC->prev_state & ((((0x00000000 | 0x00000001 | 0x00000002 | 0x00000004 | 0x00000008 | 0x00000010 | 0x00000020 | 0x00000040) + 1) << 1) - 1), "|", { 0x00000001, "S" }, { 0x00000002, "D" }, { 0x00000004, "T" }, { 0x00000008, "t" }, { 0x00000010, "X" }, { 0x00000020, "Z" }, { 0x00000040, "P" }, { 0x00000080, "I" }) : "R", REC->prev_state & (((0x00000000 | 0x00000001 | 0x00000002 | 0x00000004 | 0x00000008 | 0x00000010 | 0x00000020 | 0x00000040) + 1) << 1) ? "+" : "", REC->next_comm, REC->next_pid, REC->next_prio
)";

SchedSwitchLayout Layout() {
  absl::StatusOr<TraceFormat> format = TraceFormat::Parse(kSchedSwitchFormat);
  EXPECT_TRUE(format.ok()) << format.status();
  absl::StatusOr<SchedSwitchLayout> layout = SchedSwitchLayout::FromFormat(*format);
  EXPECT_TRUE(layout.ok()) << layout.status();
  return *layout;
}

// A raw payload as the kernel writes it (u32 size excluded) with prev_state = `state`.
std::vector<std::byte> Raw(int64_t state) {
  std::vector<std::byte> raw(68);
  std::memcpy(raw.data() + 32, &state, 8);
  return raw;
}

TEST(SchedSwitchLayoutTest, ReadsPrevStateAndPreemptedBitFromTheFormat) {
  const SchedSwitchLayout layout = Layout();
  EXPECT_EQ(layout.preempted_bit(), 0x100u);  // TASK_REPORT_MAX: ((0x7f) + 1) << 1
  EXPECT_EQ(layout.ReadPrevState(Raw(0x2)), 0x2u);
  // long is signed: a negative value reads as the same 64 bits.
  EXPECT_EQ(layout.ReadPrevState(Raw(-1)), ~uint64_t{0});
  std::vector<std::byte> short_raw(36);
  EXPECT_EQ(layout.ReadPrevState(short_raw), std::nullopt);
}

TEST(SchedSwitchLayoutTest, ClassifiesEveryState) {
  const SchedSwitchLayout layout = Layout();
  auto reason = [&](uint64_t state) { return layout.Classify(state).reason; };
  EXPECT_EQ(reason(0x0), OffCpuReason::kRunnable);    // R
  EXPECT_EQ(reason(0x100), OffCpuReason::kRunnable);  // R+ (preempted)
  EXPECT_EQ(reason(0x1), OffCpuReason::kSleep);       // S
  EXPECT_EQ(reason(0x2), OffCpuReason::kIo);          // D
  EXPECT_EQ(reason(0x4), OffCpuReason::kStopped);     // T
  EXPECT_EQ(reason(0x8), OffCpuReason::kStopped);     // t
  EXPECT_EQ(reason(0x80), OffCpuReason::kIdle);       // I
  EXPECT_EQ(reason(0x40), OffCpuReason::kOther);      // P (parked)
  EXPECT_FALSE(layout.Classify(0x1).exiting);
  EXPECT_TRUE(layout.Classify(0x10).exiting);  // X
  EXPECT_TRUE(layout.Classify(0x20).exiting);  // Z
}

TEST(SchedSwitchLayoutTest, RefusesFormatsWithoutPrevStateOrStateTable) {
  std::string no_field = kSchedSwitchFormat;
  no_field.replace(no_field.find("prev_state;"), 10, "prev_stats");
  absl::StatusOr<TraceFormat> format = TraceFormat::Parse(no_field);
  ASSERT_TRUE(format.ok()) << format.status();
  absl::StatusOr<SchedSwitchLayout> layout = SchedSwitchLayout::FromFormat(*format);
  EXPECT_EQ(layout.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(layout.status().message(), "prev_state")) << layout.status();

  std::string no_table = kSchedSwitchFormat;
  no_table.replace(no_table.find("__print_flags"), 13, "__print_flagz");
  format = TraceFormat::Parse(no_table);
  ASSERT_TRUE(format.ok()) << format.status();
  EXPECT_EQ(SchedSwitchLayout::FromFormat(*format).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(OffCpuRightsTest, SaysWhichRightIsMissing) {
  KernelCaps caps;
  caps.perf_event_paranoid = 2;
  absl::Status s = CheckOffCpuRights(caps);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(absl::StrContains(s.message(), "not root")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "CAP_PERFMON")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "kernel.perf_event_paranoid is 2")) << s;
  EXPECT_FALSE(absl::StrContains(s.message(), "\n")) << s;
  caps.perf_event_paranoid = -1;
  WICK_EXPECT_OK(CheckOffCpuRights(caps));
  caps.perf_event_paranoid = 2;
  caps.has_cap_perfmon = true;
  WICK_EXPECT_OK(CheckOffCpuRights(caps));
  caps.has_cap_perfmon = false;
  caps.is_root = true;
  WICK_EXPECT_OK(CheckOffCpuRights(caps));
}

TEST(SchedSwitchFormatTest, AKernelWithoutSchedSwitchIsNamed) {
  const std::string root =
      ::testing::TempDir() + "/wick_off_cpu_tracefs_" + std::to_string(getpid());
  std::filesystem::create_directories(root + "/events/sched/sched_wakeup");
  absl::StatusOr<std::string> text = ReadSchedSwitchFormat(Tracefs::AtRoot(root));
  EXPECT_EQ(text.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(text.status().message(),
                                "needs the sched:sched_switch tracepoint, which this kernel"))
      << text.status();
  std::filesystem::create_directories(root + "/events/sched/sched_switch");
  std::ofstream(root + "/events/sched/sched_switch/format") << kSchedSwitchFormat;
  text = ReadSchedSwitchFormat(Tracefs::AtRoot(root));
  WICK_ASSERT_OK(text.status());
  EXPECT_EQ(*text, kSchedSwitchFormat);
  std::filesystem::remove_all(root);
}

// Keeps what the pairing charged, per stack.
class Recorder : public OffCpuCharger {
 public:
  void Charge(uint32_t stack, uint64_t ns) override {
    blocks[stack] += 1;
    ns_[stack] += ns;
  }
  uint64_t Ns(uint32_t stack) { return ns_[stack]; }
  std::map<uint32_t, uint64_t> blocks;

 private:
  std::map<uint32_t, uint64_t> ns_;
};

class OffCpuPairingTest : public ::testing::Test {
 protected:
  Stats stats_;
  Recorder charged_;
  uint64_t Get(Stat s) const { return stats_.Get(s); }
};

// The stack walk of the sched_switch sample runs between the sample's time stamp and the
// switch-out record: on the CPU, in the thread's CPU time, so not off it.
TEST_F(OffCpuPairingTest, TheSwitchOutRecordStartsTheBlock) {
  OffCpuPairing p(&stats_, &charged_);
  p.OnSwitchOut(10, 1000, /*stack=*/7, OffCpuReason::kSleep);
  p.OnSwitchOutRecord(10, 1040);
  p.OnSwitchIn(10, 3000);
  EXPECT_EQ(charged_.Ns(7), 1960u);
  // A record of a thread with no switch-out waiting changes nothing.
  p.OnSwitchOutRecord(10, 3500);
  p.OnSwitchOutRecord(99, 3500);
  p.OnSwitchOut(10, 4000, /*stack=*/7, OffCpuReason::kSleep);
  p.OnSwitchIn(10, 4500);
  EXPECT_EQ(charged_.Ns(7), 1960u + 500u);
  // Paired retroactively (the switch-in read first): the record that follows is too late.
  p.OnSwitchIn(10, 6000);
  p.OnSwitchOut(10, 5000, /*stack=*/8, OffCpuReason::kSleep);
  p.OnSwitchOutRecord(10, 5100);
  EXPECT_EQ(charged_.Ns(8), 1000u);
  EXPECT_EQ(Get(Stat::kOffCpuUnpaired), 0u);
}

TEST_F(OffCpuPairingTest, ChargesTheSwitchOutStackUntilTheNextSwitchIn) {
  OffCpuPairing p(&stats_, &charged_);
  p.OnSwitchOut(10, 1000, /*stack=*/7, OffCpuReason::kSleep);
  p.OnSwitchOut(11, 1100, /*stack=*/8, OffCpuReason::kIo);
  p.OnSwitchIn(10, 3000);
  p.OnSwitchIn(11, 1600);
  p.OnSwitchOut(10, 4000, /*stack=*/7, OffCpuReason::kSleep);
  p.OnSwitchIn(10, 4500);
  EXPECT_EQ(charged_.Ns(7), 2000u + 500u);
  EXPECT_EQ(charged_.blocks[7], 2u);
  EXPECT_EQ(charged_.Ns(8), 500u);
  EXPECT_EQ(Get(Stat::kOffCpuSwitches), 3u);
  EXPECT_EQ(Get(Stat::kOffCpuBlocks), 3u);
  EXPECT_EQ(Get(Stat::kOffCpuSleepNs), 2500u);
  EXPECT_EQ(Get(Stat::kOffCpuIoNs), 500u);
  EXPECT_EQ(Get(Stat::kOffCpuUnpaired), 0u);
  p.Finish(10000);
  EXPECT_EQ(Get(Stat::kOffCpuOpenAtEnd), 0u);
}

TEST_F(OffCpuPairingTest, ASwitchInReadBeforeItsSwitchOutIsPairedOnce) {
  OffCpuPairing p(&stats_, &charged_);
  p.OnSwitchOut(10, 1000, 1, OffCpuReason::kSleep);
  p.OnSwitchIn(10, 2000);
  // The next block's switch-in (CPU B) is read before its switch-out (CPU A) was committed.
  p.OnSwitchIn(10, 5000);
  p.OnSwitchOut(10, 3000, 2, OffCpuReason::kIo);
  EXPECT_EQ(charged_.Ns(1), 1000u);
  EXPECT_EQ(charged_.Ns(2), 2000u);
  EXPECT_EQ(charged_.blocks[2], 1u);
  EXPECT_EQ(Get(Stat::kOffCpuBlocks), 2u);
  EXPECT_EQ(Get(Stat::kOffCpuUnpaired), 0u);
  EXPECT_EQ(Get(Stat::kOffCpuFirstSwitchIn), 0u);
  // Nothing left waiting: the end charges nothing more.
  p.Finish(9000);
  EXPECT_EQ(Get(Stat::kOffCpuBlocks), 2u);
  EXPECT_EQ(Get(Stat::kOffCpuOpenAtEnd), 0u);
}

TEST_F(OffCpuPairingTest, TheFirstSwitchInOfAThreadIsNotAnError) {
  OffCpuPairing p(&stats_, &charged_);
  // Off the CPU when recording started: its first record is a switch-in.
  p.OnSwitchIn(10, 500);
  p.OnSwitchOut(10, 1000, 1, OffCpuReason::kSleep);
  p.OnSwitchIn(10, 1500);
  // A new thread, seen only switching in, until the end.
  p.OnSwitchIn(12, 700);
  p.Finish(2000);
  EXPECT_EQ(charged_.Ns(1), 500u);
  EXPECT_EQ(Get(Stat::kOffCpuFirstSwitchIn), 2u);
  EXPECT_EQ(Get(Stat::kOffCpuUnpaired), 0u);
}

TEST_F(OffCpuPairingTest, ALostSwitchInOrSwitchOutIsUnpairedNeverGuessed) {
  OffCpuPairing p(&stats_, &charged_);
  p.OnSwitchOut(10, 1000, 1, OffCpuReason::kSleep);
  // Its switch-in was lost; the next switch-out must not be charged from 1000.
  p.OnLost(1500);
  p.OnSwitchOut(10, 2000, 2, OffCpuReason::kSleep);
  p.OnSwitchIn(10, 2500);
  EXPECT_EQ(charged_.Ns(1), 0u);
  EXPECT_EQ(charged_.Ns(2), 500u);
  EXPECT_EQ(Get(Stat::kOffCpuUnpaired), 1u);
  // A lost switch-out: the thread, seen before, switches in with nothing waiting.
  p.OnSwitchIn(10, 4000);
  p.OnSwitchOut(10, 5000, 3, OffCpuReason::kSleep);
  EXPECT_EQ(Get(Stat::kOffCpuUnpaired), 2u);
  EXPECT_EQ(Get(Stat::kOffCpuFirstSwitchIn), 0u);
  // Still off the CPU at the end, but a lost record came after its switch-out: its
  // switch-in may be what was lost, so it is not charged up to the stop.
  p.OnLost(6000);
  p.Finish(9000);
  EXPECT_EQ(charged_.Ns(3), 0u);
  EXPECT_EQ(Get(Stat::kOffCpuUnpaired), 3u);
  EXPECT_EQ(Get(Stat::kOffCpuOpenAtEnd), 0u);
  EXPECT_EQ(Get(Stat::kOffCpuBlocks), 1u);
}

TEST_F(OffCpuPairingTest, AThreadStillOffTheCpuIsChargedUpToTheStop) {
  OffCpuPairing p(&stats_, &charged_);
  p.OnSwitchOut(10, 1000, 1, OffCpuReason::kSleep);
  p.OnLost(500);  // before the switch-out: cannot have taken its switch-in
  p.OnSwitchOut(11, 3000, 2, OffCpuReason::kRunnable);
  p.Finish(10000);
  EXPECT_EQ(charged_.Ns(1), 9000u);
  EXPECT_EQ(charged_.Ns(2), 7000u);
  EXPECT_EQ(Get(Stat::kOffCpuOpenAtEnd), 2u);
  EXPECT_EQ(Get(Stat::kOffCpuRunnableNs), 7000u);
  EXPECT_EQ(p.threads(), 0u);
}

TEST_F(OffCpuPairingTest, BlocksShorterThanTheMinimumAreDroppedAndCounted) {
  OffCpuPairing p(&stats_, &charged_, /*min_ns=*/1000);
  p.OnSwitchOut(10, 1000, 1, OffCpuReason::kSleep);
  p.OnSwitchIn(10, 1999);  // 999 ns: dropped
  p.OnSwitchOut(10, 3000, 1, OffCpuReason::kSleep);
  p.OnSwitchIn(10, 4000);  // 1000 ns: kept
  p.OnSwitchOut(10, 5000, 1, OffCpuReason::kSleep);
  p.Finish(5200);  // 200 ns at the end: dropped too
  EXPECT_EQ(charged_.Ns(1), 1000u);
  EXPECT_EQ(charged_.blocks[1], 1u);
  EXPECT_EQ(Get(Stat::kOffCpuShortDropped), 2u);
  EXPECT_EQ(Get(Stat::kOffCpuShortDroppedNs), 999u + 200u);
  EXPECT_EQ(Get(Stat::kOffCpuSleepNs), 1000u);
}

TEST_F(OffCpuPairingTest, AnExitForgetsTheThread) {
  OffCpuPairing p(&stats_, &charged_);
  p.OnSwitchOut(10, 1000, 1, OffCpuReason::kSleep);
  p.OnSwitchIn(10, 1500);
  p.OnExit(10);
  EXPECT_EQ(p.threads(), 0u);
  // The tid reused by a new thread: its first switch-in is a first one, not a broken pair.
  p.OnSwitchIn(10, 5000);
  p.OnSwitchOut(10, 6000, 2, OffCpuReason::kSleep);
  EXPECT_EQ(Get(Stat::kOffCpuFirstSwitchIn), 1u);
  // An exit while a switch-out waits: its switch-in was lost.
  p.OnExit(10);
  EXPECT_EQ(Get(Stat::kOffCpuUnpaired), 1u);
  p.Finish(9000);
  EXPECT_EQ(charged_.Ns(2), 0u);
  EXPECT_EQ(charged_.Ns(1), 500u);
}

TEST_F(OffCpuPairingTest, RemapsTheStacksOfWaitingSwitchOuts) {
  OffCpuPairing p(&stats_, &charged_);
  p.OnSwitchOut(10, 1000, 1, OffCpuReason::kSleep);
  p.OnSwitchOut(11, 1000, 2, OffCpuReason::kSleep);
  p.OnSwitchIn(11, 1100);
  p.RemapPendingStacks([](uint32_t stack) { return stack + 100; });
  p.OnSwitchIn(10, 2000);
  EXPECT_EQ(charged_.Ns(101), 1000u);
  EXPECT_EQ(charged_.Ns(2), 100u);
  EXPECT_EQ(charged_.Ns(1), 0u);
}

TEST_F(OffCpuPairingTest, SwitchesOfKnownThreadsDoNotAllocate) {
  // A charger that allocates nothing itself (the session's grows the stack map in place).
  struct Sum : OffCpuCharger {
    void Charge(uint32_t, uint64_t ns) override { total += ns; }
    uint64_t total = 0;
  } sum;
  OffCpuPairing p(&stats_, &sum);
  for (uint32_t tid = 1; tid <= 64; ++tid) {
    p.OnSwitchOut(tid, 100, tid, OffCpuReason::kSleep);
    p.OnSwitchIn(tid, 200);
  }
  testing::AllocationCounter allocations;
  uint64_t now = 1000;
  for (int round = 0; round < 1000; ++round) {
    for (uint32_t tid = 1; tid <= 64; ++tid) {
      p.OnSwitchOut(tid, now, tid, OffCpuReason::kRunnable);
      p.OnSwitchIn(tid, now + 10);
      now += 20;
    }
  }
  EXPECT_EQ(allocations.Count(), 0u);
  EXPECT_EQ(Get(Stat::kOffCpuBlocks), 64u * 1001);
  EXPECT_EQ(sum.total, 64u * 100 + 64u * 1000 * 10);
}

}  // namespace
}  // namespace wick
