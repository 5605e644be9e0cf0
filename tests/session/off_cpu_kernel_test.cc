// wick record --off-cpu against the real kernel: a program that sleeps (nanosleep, 2 ms at a
// time) and measures its own sleeping with CLOCK_MONOTONIC is recorded with -g and with
// --call-graph dwarf, and the off-CPU stacks of the recording must hold that time.
//
// The bounds hold by construction, on any CPU, loaded or not: the sleeper's off-CPU time
// inside its nanosleep calls is their wall time minus what it ran on the CPU in them, which is
// at most the thread's CPU time over the loop. So the blocks charged (sleep, plus runnable for
// a preemption in between) are at least wall - cpu; the sleep blocks are at most main's wall
// time; and every nanosleep blocks at least once.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "testing/testing.h"
#include "wick/frame.h"
#include "wick/kernel_caps.h"
#include "wick/recording.h"
#include "wick/session.h"

namespace wick {
namespace {

struct Truth {
  uint64_t wall_ns = 0, loop_cpu_ns = 0, main_ns = 0;
  int rounds = 0;
};

struct Charged {
  uint64_t sleep_ns = 0, runnable_ns = 0, other_ns = 0;
  uint64_t sleep_blocks = 0;
  uint64_t sleep_stacks_with_binary = 0, sleep_stacks_with_kernel = 0, sleep_stacks = 0;
};

class OffCpuKernelTest : public ::testing::TestWithParam<uint32_t> {
 protected:
  void SetUp() override {
    absl::StatusOr<KernelCaps> caps = KernelCaps::Probe();
    ASSERT_TRUE(caps.ok()) << caps.status();
    WICK_REQUIRE(caps->PerfmonCapable() || caps->perf_event_paranoid <= -1,
                 "needs root, CAP_PERFMON or perf_event_paranoid -1 (raw tracepoint data)");
  }
};

TEST_P(OffCpuKernelTest, SleepTimeOfANanosleepLoopIsChargedToItsStack) {
  const std::string dir = ::testing::TempDir();
  const std::string truth_path = dir + "/off_cpu_truth_" + std::to_string(GetParam());
  const std::string output = dir + "/off_cpu_" + std::to_string(GetParam()) + ".wick";
  const std::string sleeper = WICK_OFF_CPU_SLEEPER;
  RecordOptions options;
  options.callchain = true;
  options.dwarf_stack_size = GetParam();
  options.off_cpu = true;
  options.command = {sleeper, "150", truth_path};
  options.output = output;
  options.force = true;
  absl::StatusOr<std::unique_ptr<RecordSession>> session = RecordSession::Prepare(options);
  if (!session.ok()) WICK_SKIP_OR_FAIL(session.status().ToString());
  absl::StatusOr<RecordSummary> summary = (*session)->Run();
  ASSERT_TRUE(summary.ok()) << summary.status();
  ASSERT_TRUE(WIFEXITED(summary->command_wait_status) &&
              WEXITSTATUS(summary->command_wait_status) == 0);
  EXPECT_TRUE(summary->off_cpu);

  Truth truth;
  std::ifstream(truth_path) >> truth.wall_ns >> truth.loop_cpu_ns >> truth.main_ns >> truth.rounds;
  ASSERT_EQ(truth.rounds, 150);
  ASSERT_GT(truth.wall_ns, 0u);

  absl::StatusOr<Recording> rec = ReadRecording(output);
  ASSERT_TRUE(rec.ok()) << rec.status();
  ASSERT_TRUE(rec->complete);
  // The event types: cpu-clock, then sched:sched_switch, then off-cpu.
  ASSERT_EQ(rec->event_types.size(), 3u);
  EXPECT_EQ(rec->event_types[0].name, "cpu-clock");
  EXPECT_EQ(rec->event_types[1].name, "sched:sched_switch");
  EXPECT_EQ(rec->event_types[2].name, kOffCpuEventName);
  const uint32_t off_cpu = rec->event_types[2].id;
  // A lost record could break a pair and leave the bound short: nothing may be lost here.
  ASSERT_EQ(rec->stats.Get(Stat::kLostRecords), 0u);
  EXPECT_EQ(rec->stats.Get(Stat::kOffCpuUnpaired), 0u);

  uint32_t sleeper_binary = UINT32_MAX;
  for (const RecordedBinary& b : rec->binaries) {
    if (b.path == sleeper) sleeper_binary = b.id;
  }
  Charged c;
  for (const RecordedStack& s : rec->stacks) {
    if (s.event != off_cpu || s.frames.empty()) continue;
    // Only the sleeper's own thread: the recording also holds the launcher's last moments.
    ASSERT_EQ(s.frames[0].kind, FrameKind::kOffCpu);
    if (s.count == 0) continue;
    const auto reason = static_cast<OffCpuReason>(s.frames[0].value);
    bool in_sleeper = false, kernel = false;
    for (const Frame& f : s.frames) {
      in_sleeper |= f.kind == FrameKind::kUserFile && f.binary == sleeper_binary;
      kernel |= f.kind == FrameKind::kKernel;
    }
    if (!in_sleeper) continue;
    if (reason == OffCpuReason::kSleep) {
      c.sleep_ns += s.weight;
      c.sleep_blocks += s.count;
      ++c.sleep_stacks;
      c.sleep_stacks_with_kernel += kernel;
    } else if (reason == OffCpuReason::kRunnable) {
      c.runnable_ns += s.weight;
    } else {
      c.other_ns += s.weight;
    }
  }
  SCOPED_TRACE(::testing::Message()
               << "measured: wall in nanosleep " << truth.wall_ns << " ns, cpu in loop "
               << truth.loop_cpu_ns << " ns, main " << truth.main_ns << " ns; charged: sleep "
               << c.sleep_ns << " ns in " << c.sleep_blocks << " blocks, runnable " << c.runnable_ns
               << " ns, other " << c.other_ns << " ns");
  EXPECT_GE(c.sleep_blocks, 150u);
  // Each switch out leaves a moment on no clock: the scheduler has charged the thread's CPU
  // time up to pick_next_task, then the sched_switch sample walks its stack (with dwarf, copies
  // 32 KiB of it), and only the switch-out record after that starts the block. Under load that
  // was 1.7 us per block (0.25 ms short of 328 ms); 20 us per 2 ms block still catches blocks
  // cut short or lost.
  EXPECT_GE(c.sleep_ns + c.runnable_ns + truth.loop_cpu_ns + c.sleep_blocks * 20'000,
            truth.wall_ns);
  EXPECT_LE(c.sleep_ns, truth.main_ns);
  // The blocked stacks are the kernel's path to schedule() plus the sleeper's own frames.
  EXPECT_GT(c.sleep_stacks, 0u);
  EXPECT_EQ(c.sleep_stacks_with_kernel, c.sleep_stacks);
  // The summary's counters are the recording's.
  EXPECT_EQ(rec->stats.Get(Stat::kOffCpuSleepNs), summary->stats.Get(Stat::kOffCpuSleepNs));
  EXPECT_GE(rec->stats.Get(Stat::kOffCpuSleepNs), c.sleep_ns);
  EXPECT_GE(rec->stats.Get(Stat::kOffCpuSwitches), 150u);
  std::remove(output.c_str());
  std::remove(truth_path.c_str());
}

INSTANTIATE_TEST_SUITE_P(FramePointersAndDwarf, OffCpuKernelTest, ::testing::Values(0u, 32768u),
                         [](const ::testing::TestParamInfo<uint32_t>& info) {
                           return info.param == 0 ? std::string("fp") : std::string("dwarf");
                         });

// The refusals that need no kernel feature missing: without stacks, with --overwrite, and
// as a user without the right to read raw tracepoint data (root drops to nobody in a child).
TEST(OffCpuRefusalTest, WithoutStacksOrWithOverwrite) {
  RecordOptions options;
  options.off_cpu = true;
  options.command = {"/bin/true"};
  options.output = ::testing::TempDir() + "/off_cpu_refused.wick";
  absl::StatusOr<std::unique_ptr<RecordSession>> s = RecordSession::Prepare(options);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.status().message(), "-g or --call-graph dwarf")) << s.status();
  options.callchain = true;
  options.overwrite = true;
  s = RecordSession::Prepare(options);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.status().message(), "--overwrite")) << s.status();
}

TEST(OffCpuRefusalTest, WithoutTheRightToReadRawDataSaysWhichIsMissing) {
  if (geteuid() != 0) WICK_SKIP_OR_FAIL("needs root, to drop to nobody");
  int paranoid = 2;
  std::ifstream("/proc/sys/kernel/perf_event_paranoid") >> paranoid;
  if (paranoid <= -1) GTEST_SKIP() << "perf_event_paranoid -1 lets anyone read raw data";
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(pipe_fds[0]);
    // setresuid from root to nobody clears the effective and permitted capabilities.
    std::string message = "could not drop to nobody";
    if (setresgid(65534, 65534, 65534) == 0 && setresuid(65534, 65534, 65534) == 0) {
      RecordOptions options;
      options.off_cpu = true;
      options.callchain = true;
      options.command = {"/bin/true"};
      options.output = "/dev/null";
      absl::StatusOr<std::unique_ptr<RecordSession>> s = RecordSession::Prepare(options);
      message = s.ok() ? "prepared" : std::string(s.status().message());
    }
    [[maybe_unused]] ssize_t n = write(pipe_fds[1], message.data(), message.size());
    _exit(0);
  }
  close(pipe_fds[1]);
  std::string message;
  char buf[512];
  for (ssize_t n; (n = read(pipe_fds[0], buf, sizeof(buf))) > 0;) message.append(buf, size_t(n));
  close(pipe_fds[0]);
  int status;
  waitpid(child, &status, 0);
  EXPECT_TRUE(absl::StrContains(message, "not root")) << message;
  EXPECT_TRUE(absl::StrContains(message, "CAP_PERFMON")) << message;
  EXPECT_TRUE(
      absl::StrContains(message, "kernel.perf_event_paranoid is " + std::to_string(paranoid)))
      << message;
  EXPECT_FALSE(absl::StrContains(message, "\n")) << message;
}

}  // namespace
}  // namespace wick
