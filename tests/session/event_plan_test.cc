// The event planner and target planning shared by record and stat, where no perf event is
// opened: builtin events planned under a made-up KernelCaps (a machine without a hardware
// PMU, as this one), the one-line errors record and stat print, and -p / -t / COMMAND turned
// into tasks and watched targets from /proc. Trace events need tracefs and the probe PMUs:
// event_plan_kernel_test.
#include "event_plan.h"

#include <linux/perf_event.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/testing.h"

namespace wick {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

KernelCaps NoPmuCaps() {
  KernelCaps caps;
  caps.online_cpus = {0, 1};
  caps.is_root = true;
  caps.has_cpu_pmu = false;
  return caps;
}

SamplingOptions Sampling() {
  SamplingOptions so;
  so.frequency = 999;
  so.callchain = true;
  return so;
}

TEST(EventPlannerTest, CyclesFallsBackToCpuClockWithOneNotice) {
  const KernelCaps caps = NoPmuCaps();
  std::vector<std::string> notices;
  EventPlanner planner(caps, [&](const std::string& n) { notices.push_back(n); });
  std::vector<PlannedEvent> events;
  WICK_ASSERT_OK(planner.Plan({"cycles", ""}, AttrPolicy::Sample(Sampling()), &events));
  WICK_ASSERT_OK(planner.Plan({"cs:u", ""}, AttrPolicy::Sample(Sampling()), &events));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].name, "cpu-clock");
  EXPECT_EQ(events[0].kind, EventKind::kBuiltin);
  EXPECT_FALSE(events[0].is_trace());
  EXPECT_EQ(events[0].attr.type, PERF_TYPE_SOFTWARE);
  EXPECT_EQ(events[0].attr.config, uint64_t{PERF_COUNT_SW_CPU_CLOCK});
  EXPECT_EQ(events[0].event.config, uint64_t{PERF_COUNT_SW_CPU_CLOCK});
  // The record policy samples: at the frequency asked, with stacks.
  EXPECT_TRUE(events[0].attr.freq);
  EXPECT_EQ(events[0].attr.sample_freq, 999u);
  EXPECT_TRUE(events[0].attr.sample_type & PERF_SAMPLE_CALLCHAIN);
  EXPECT_EQ(events[1].name, "context-switches");
  EXPECT_TRUE(events[1].attr.exclude_kernel);
  EXPECT_FALSE(events[1].attr.exclude_user);
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_THAT(notices[0], HasSubstr("cpu-clock"));
  EXPECT_EQ(planner.tracefs(), nullptr) << "builtin events need no tracefs";
}

TEST(EventPlannerTest, CountingPolicyMakesPlainCounters) {
  const KernelCaps caps = NoPmuCaps();
  EventPlanner planner(caps, {});  // no notice callback: the fallback is planned all the same
  std::vector<PlannedEvent> events;
  WICK_ASSERT_OK(planner.Plan({"cycles", ""}, AttrPolicy::Count(), &events));
  WICK_ASSERT_OK(planner.Plan({"page-faults", ""}, AttrPolicy::Count(), &events));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].name, "cpu-clock");
  EXPECT_EQ(events[1].name, "page-faults");
  for (const PlannedEvent& e : events) {
    EXPECT_EQ(e.attr.sample_type, 0u) << e.name;
    EXPECT_EQ(e.attr.sample_period, 0u) << e.name;
    EXPECT_FALSE(e.attr.freq) << e.name;
    EXPECT_EQ(e.attr.type, PERF_TYPE_SOFTWARE) << e.name;
  }
}

TEST(EventPlannerTest, FilterAfterABuiltinEventIsRefusedByName) {
  const KernelCaps caps = NoPmuCaps();
  std::vector<std::string> notices;
  EventPlanner planner(caps, [&](const std::string& n) { notices.push_back(n); });
  std::vector<PlannedEvent> events;
  absl::Status s =
      planner.Plan({"cycles", "prev_pid == 1"}, AttrPolicy::Sample(Sampling()), &events);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_EQ(s.message(),
            "--filter 'prev_pid == 1' follows -e cycles, which is not a tracepoint; filters apply "
            "to tracepoints (SYSTEM:EVENT)");
  EXPECT_TRUE(events.empty());
  EXPECT_TRUE(notices.empty()) << "refused before the event is resolved";
}

TEST(EventPlannerTest, ErrorsOfTheLayersBelowComeThroughUnchanged) {
  const KernelCaps caps = NoPmuCaps();
  EventPlanner planner(caps, {});
  std::vector<PlannedEvent> events;
  absl::Status unknown = planner.Plan({"cpu-clok", ""}, AttrPolicy::Count(), &events);
  EXPECT_TRUE(absl::IsInvalidArgument(unknown)) << unknown;
  EXPECT_THAT(std::string(unknown.message()), HasSubstr("did you mean 'cpu-clock'?"));
  // No hardware PMU: only cycles has a stand-in.
  absl::Status hw = planner.Plan({"instructions", ""}, AttrPolicy::Count(), &events);
  EXPECT_TRUE(absl::IsFailedPrecondition(hw)) << hw;
  // The sampling policy's own limit (MakeSamplingAttr), named with its sysctl.
  SamplingOptions too_fast = Sampling();
  too_fast.frequency = caps.perf_event_max_sample_rate + 1;
  absl::Status rate = planner.Plan({"cpu-clock", ""}, AttrPolicy::Sample(too_fast), &events);
  EXPECT_THAT(std::string(rate.message()), HasSubstr("perf_event_max_sample_rate"));
  EXPECT_TRUE(events.empty());
}

TEST(PlanTargetsTest, NothingToTargetIsTheCallersMessage) {
  TargetOptions who;
  who.nothing_error = "nothing to count: give -p PID, -a, or -- COMMAND";
  absl::StatusOr<Targets> t = PlanTargets(who);
  ASSERT_FALSE(t.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(t.status()));
  EXPECT_EQ(t.status().message(), who.nothing_error);
}

TEST(PlanTargetsTest, SystemWideIsEveryTaskAndWatchesNothing) {
  TargetOptions who;
  who.system_wide = true;
  WICK_ASSERT_OK_AND_ASSIGN(Targets t, PlanTargets(who));
  EXPECT_THAT(t.tasks, ElementsAre(-1));
  EXPECT_TRUE(t.watch.empty());
  EXPECT_FALSE(t.launcher);
}

TEST(PlanTargetsTest, ProcessBringsEveryThreadAndIsWatched) {
  // A second thread of this process, alive while the plan lists them.
  std::atomic<bool> stop{false};
  std::atomic<pid_t> other{0};
  std::thread thread([&] {
    other = pid_t(syscall(SYS_gettid));
    while (!stop) usleep(1000);
  });
  while (other == 0) usleep(100);
  TargetOptions who;
  who.pids = {getpid()};
  std::vector<pid_t> scanned;
  WICK_ASSERT_OK_AND_ASSIGN(Targets t, PlanTargets(who, [&](pid_t p) {
                              scanned.push_back(p);
                              return absl::OkStatus();
                            }));
  stop = true;
  thread.join();
  EXPECT_THAT(t.tasks, ::testing::Contains(getpid()));
  EXPECT_THAT(t.tasks, ::testing::Contains(other.load()));
  EXPECT_THAT(scanned, ElementsAre(getpid()));
  ASSERT_EQ(t.watch.size(), 1u);
  EXPECT_EQ(t.watch[0].first, getpid());
  EXPECT_EQ(t.watch[0].second, 0u);
}

TEST(PlanTargetsTest, ThreadBringsItselfAndItsProcess) {
  const pid_t tid = pid_t(syscall(SYS_gettid));
  TargetOptions who;
  who.tids = {tid};
  std::vector<pid_t> scanned;
  WICK_ASSERT_OK_AND_ASSIGN(Targets t, PlanTargets(who, [&](pid_t p) {
                              scanned.push_back(p);
                              return absl::OkStatus();
                            }));
  EXPECT_THAT(t.tasks, ElementsAre(tid));
  EXPECT_THAT(scanned, ElementsAre(getpid()));
  ASSERT_EQ(t.watch.size(), 1u);
  EXPECT_NE(t.watch[0].second, 0u) << "a thread is watched with PIDFD_THREAD";
}

TEST(PlanTargetsTest, MissingTargetsAreNamed) {
  TargetOptions who;
  who.pids = {2'000'000'000};
  absl::StatusOr<Targets> p = PlanTargets(who);
  EXPECT_TRUE(absl::IsNotFound(p.status())) << p.status();
  EXPECT_THAT(std::string(p.status().message()), HasSubstr("no process with pid 2000000000"));
  who.pids.clear();
  who.tids = {2'000'000'000};
  absl::StatusOr<Targets> t = PlanTargets(who);
  EXPECT_TRUE(absl::IsNotFound(t.status())) << t.status();
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("no thread with tid 2000000000"));
}

TEST(PlanTargetsTest, ScanErrorEndsThePlan) {
  TargetOptions who;
  who.pids = {getpid()};
  absl::StatusOr<Targets> t =
      PlanTargets(who, [](pid_t) { return absl::PermissionDeniedError("maps unreadable"); });
  EXPECT_TRUE(absl::IsPermissionDenied(t.status())) << t.status();
}

TEST(PlanTargetsTest, CommandIsHeldBeforeExecAndWatched) {
  TargetOptions who;
  who.command = {"/bin/true"};
  WICK_ASSERT_OK_AND_ASSIGN(Targets t, PlanTargets(who));
  ASSERT_TRUE(t.launcher);
  EXPECT_THAT(t.tasks, ElementsAre(t.launcher->pid()));
  ASSERT_EQ(t.watch.size(), 1u);
  EXPECT_EQ(t.watch[0].first, t.launcher->pid());
  TargetWatch watch = TargetWatch::Open(t.watch);
  ASSERT_EQ(watch.size(), 1u);
  EXPECT_EQ(watch.alive(), 1u);
  EXPECT_FALSE(watch.AllExited());
  pollfd p = {watch.fd(0), POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, 0), 0) << "the command is still held";
  WICK_ASSERT_OK(t.launcher->Release());
  const int status = t.launcher->Wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(poll(&p, 1, 0), 1) << "the pidfd tells the exit";
  EXPECT_TRUE(watch.Exited(0));
  EXPECT_TRUE(watch.AllExited());
  EXPECT_FALSE(watch.watching(0));
  EXPECT_TRUE(watch.Exited(0)) << "a second report of the same exit changes nothing";
  EXPECT_EQ(watch.alive(), 0u);
}

TEST(TargetWatchTest, NothingWatchedNeverEndsTheRun) {
  TargetWatch watch = TargetWatch::Open({});
  EXPECT_EQ(watch.size(), 0u);
  EXPECT_FALSE(watch.AllExited());
}

TEST(ExitedSinceListedTest, OnlyAThreadOfAProcessTargetThatIsGone) {
  const absl::Status gone = absl::NotFoundError("no such process");
  EXPECT_TRUE(ExitedSinceListed(gone, 101, {100}));
  EXPECT_FALSE(ExitedSinceListed(gone, 100, {100})) << "the process itself is an error";
  EXPECT_FALSE(ExitedSinceListed(gone, 101, {})) << "not a -p run";
  EXPECT_FALSE(ExitedSinceListed(absl::PermissionDeniedError("paranoid"), 101, {100}));
}

}  // namespace
}  // namespace wick
