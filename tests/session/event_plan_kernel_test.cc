// The event planner against this machine's tracefs and probe PMUs: a tracepoint and a builtin
// event plan into two events of their kinds, a glob into one event per tracepoint tracefs
// lists, --filter stays with tracepoints, and a counting plan opens and counts known answers
// (each usleep() switches this thread out at least once). Needs root for tracefs.
#include <linux/perf_event.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "event_plan.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/testing.h"

// A function of this binary to put a uprobe on.
extern "C" __attribute__((noinline, used)) int wick_event_plan_probe_target(int x) { return x + 1; }

namespace wick {
namespace {

using ::testing::HasSubstr;

class EventPlanKernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WICK_ASSERT_OK_AND_ASSIGN(caps_, KernelCaps::Probe());
    WICK_REQUIRE(caps_.is_root || caps_.has_cap_sys_admin, "needs root for tracefs");
  }

  static SamplingOptions Sampling() {
    SamplingOptions so;
    so.frequency = 99;
    so.callchain = true;
    so.disabled = true;
    return so;
  }

  KernelCaps caps_;
};

TEST_F(EventPlanKernelTest, TracepointAndBuiltinPlanTwoEventsOfTheirKinds) {
  EventPlanner planner(caps_, {});
  std::vector<PlannedEvent> events;
  WICK_ASSERT_OK(planner.Plan({"sched:sched_switch", "prev_pid != 0"},
                              AttrPolicy::Sample(Sampling()), &events));
  WICK_ASSERT_OK(planner.Plan({"cpu-clock", ""}, AttrPolicy::Sample(Sampling()), &events));
  ASSERT_EQ(events.size(), 2u);
  ASSERT_NE(planner.tracefs(), nullptr) << "a tracepoint mounts tracefs";

  const PlannedEvent& sw = events[0];
  EXPECT_EQ(sw.name, "sched:sched_switch");
  EXPECT_EQ(sw.kind, EventKind::kTracepoint);
  EXPECT_TRUE(sw.is_trace());
  ASSERT_TRUE(sw.tracepoint);
  EXPECT_EQ(*sw.tracepoint, (TracepointName{"sched", "sched_switch"}));
  EXPECT_EQ(sw.filter, "prev_pid != 0");
  WICK_ASSERT_OK_AND_ASSIGN(uint64_t id, planner.tracefs()->ReadId(*sw.tracepoint));
  EXPECT_EQ(sw.attr.type, PERF_TYPE_TRACEPOINT);
  EXPECT_EQ(sw.attr.config, id);
  EXPECT_EQ(sw.event.config, id);
  // Every hit, raw fields included, whatever frequency the builtin events sample at.
  EXPECT_FALSE(sw.attr.freq);
  EXPECT_EQ(sw.attr.sample_period, 1u);
  EXPECT_TRUE(sw.attr.sample_type & PERF_SAMPLE_RAW);
  EXPECT_TRUE(sw.attr.sample_type & PERF_SAMPLE_CALLCHAIN);
  ASSERT_NE(sw.trace.format, nullptr);
  EXPECT_THAT(sw.trace.format_text, HasSubstr("prev_state"));

  const PlannedEvent& clock = events[1];
  EXPECT_EQ(clock.name, "cpu-clock");
  EXPECT_EQ(clock.kind, EventKind::kBuiltin);
  EXPECT_FALSE(clock.is_trace());
  EXPECT_FALSE(clock.tracepoint);
  EXPECT_EQ(clock.attr.type, PERF_TYPE_SOFTWARE);
  EXPECT_TRUE(clock.attr.freq);
  EXPECT_EQ(clock.attr.sample_freq, 99u);
}

TEST_F(EventPlanKernelTest, GlobPlansOneEventPerTracepointTracefsLists) {
  EventPlanner planner(caps_, {});
  std::vector<PlannedEvent> events;
  WICK_ASSERT_OK(planner.Plan({"sched:sched_wak*", ""}, AttrPolicy::Count(), &events));
  ASSERT_NE(planner.tracefs(), nullptr);
  WICK_ASSERT_OK_AND_ASSIGN(std::vector<TracepointName> listed,
                            planner.tracefs()->Expand("sched", "sched_wak*"));
  ASSERT_GE(listed.size(), 2u) << "sched_waking and sched_wakeup at least";
  ASSERT_EQ(events.size(), listed.size());
  for (size_t i = 0; i < listed.size(); ++i) {
    EXPECT_EQ(events[i].name, listed[i].FullName());
    EXPECT_EQ(events[i].kind, EventKind::kTracepoint);
    WICK_ASSERT_OK_AND_ASSIGN(uint64_t id, planner.tracefs()->ReadId(listed[i]));
    EXPECT_EQ(events[i].attr.config, id) << events[i].name;
    EXPECT_EQ(events[i].attr.sample_type, 0u) << "a counter, not sampled";
  }
}

TEST_F(EventPlanKernelTest, FilterAfterAProbeIsRefusedByName) {
  WICK_REQUIRE(caps_.has_uprobe_pmu, "no uprobe PMU");
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  ASSERT_GT(n, 0);
  const std::string spec =
      "uprobe:" + std::string(self, size_t(n)) + ":wick_event_plan_probe_target";
  EventPlanner planner(caps_, {});
  std::vector<PlannedEvent> events;
  // Without a filter the probe plans, with its PMU's type and config1's string kept alive.
  WICK_ASSERT_OK(planner.Plan({spec, ""}, AttrPolicy::Count(), &events));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, EventKind::kUprobe);
  EXPECT_TRUE(events[0].is_trace());
  EXPECT_FALSE(events[0].tracepoint);
  ASSERT_NE(events[0].trace.probe_string, nullptr);
  EXPECT_EQ(events[0].attr.config1, uint64_t(uintptr_t(events[0].trace.probe_string->c_str())));
  EXPECT_EQ(planner.tracefs(), nullptr) << "probes need no tracefs";

  absl::Status s = planner.Plan({spec, "arg1 > 0"}, AttrPolicy::Count(), &events);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_EQ(s.message(), "--filter 'arg1 > 0' follows -e " + spec +
                             ", which is not a tracepoint; filters apply to tracepoints "
                             "(SYSTEM:EVENT)");
}

TEST_F(EventPlanKernelTest, CountingPlanOpensAndCountsSwitches) {
  EventPlanner planner(caps_, {});
  std::vector<PlannedEvent> events;
  WICK_ASSERT_OK(planner.Plan({"sched:sched_switch", ""}, AttrPolicy::Count(), &events));
  WICK_ASSERT_OK(planner.Plan({"context-switches", ""}, AttrPolicy::Count(), &events));
  ASSERT_EQ(events.size(), 2u);
  std::vector<PerfEvent> open;
  for (const PlannedEvent& e : events) {
    WICK_ASSERT_OK_AND_ASSIGN(PerfEvent ev, PerfEvent::Open(e.attr, 0, -1, -1, e.name));
    open.push_back(std::move(ev));
  }
  constexpr int kSleeps = 20;
  for (int i = 0; i < kSleeps; ++i) usleep(1000);
  for (size_t i = 0; i < open.size(); ++i) {
    uint64_t value = 0;
    ASSERT_EQ(read(open[i].fd(), &value, sizeof(value)), ssize_t(sizeof(value)));
    EXPECT_GE(value, uint64_t{kSleeps}) << events[i].name << ": each sleep switches out";
  }
}

}  // namespace
}  // namespace wick
