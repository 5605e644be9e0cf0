// wick stat's arithmetic: scaling of multiplexed counters, -I intervals, -r means and spreads,
// and perf's metrics (CPUs utilized, rates). This machine has no hardware PMU, and software
// events are never multiplexed, so the kernel cannot be made to multiplex here: the
// arithmetic on the (value, time_enabled, time_running) triples read() returns is tested
// directly.
#include <cmath>

#include "gtest/gtest.h"
#include "wick/stat_session.h"

namespace wick {
namespace {

TEST(StatScalingTest, CounterThatRanAllAlongIsNotScaled) {
  CounterReading r;
  AccumulateCounter(1000, 5'000'000, 5'000'000, &r);
  EXPECT_EQ(r.raw, 1000u);
  EXPECT_DOUBLE_EQ(r.value, 1000.0);
  EXPECT_FALSE(r.scaled);
  EXPECT_FALSE(r.not_counted);
}

TEST(StatScalingTest, MultiplexedCounterIsScaledByEnabledOverRunning) {
  CounterReading r;
  AccumulateCounter(1000, 4'000'000, 1'000'000, &r);  // on the PMU a quarter of the time
  EXPECT_EQ(r.raw, 1000u);
  EXPECT_DOUBLE_EQ(r.value, 4000.0);
  EXPECT_TRUE(r.scaled);
  EXPECT_EQ(r.time_enabled, 4'000'000u);
  EXPECT_EQ(r.time_running, 1'000'000u);
}

// Per-CPU (or per-thread) counters are each scaled by their own share before summing.
TEST(StatScalingTest, EachCounterIsScaledByItsOwnShare) {
  CounterReading r;
  AccumulateCounter(1000, 2'000'000, 1'000'000, &r);  // x2
  AccumulateCounter(300, 3'000'000, 3'000'000, &r);   // x1
  EXPECT_EQ(r.raw, 1300u);
  EXPECT_DOUBLE_EQ(r.value, 2300.0);
  EXPECT_TRUE(r.scaled);
}

TEST(StatScalingTest, CounterThatNeverRanIsNotCounted) {
  CounterReading r;
  AccumulateCounter(0, 2'000'000, 0, &r);
  EXPECT_TRUE(r.not_counted);
  EXPECT_DOUBLE_EQ(r.value, 0.0);
  EXPECT_FALSE(r.scaled);
  // Once another counter of the event ran, the event counted.
  AccumulateCounter(50, 1'000'000, 1'000'000, &r);
  EXPECT_FALSE(r.not_counted);
  EXPECT_DOUBLE_EQ(r.value, 50.0);
}

TEST(StatScalingTest, NeverEnabledIsZeroNotMissing) {
  CounterReading r;
  AccumulateCounter(0, 0, 0, &r);  // a target that exited before it was enabled
  EXPECT_FALSE(r.not_counted);
  EXPECT_DOUBLE_EQ(r.value, 0.0);
}

CounterReading Reading(const std::string& event, uint64_t value, uint64_t enabled,
                       uint64_t running) {
  CounterReading r;
  r.event = event;
  r.unit = event == "task-clock" || event == "cpu-clock" ? "ns" : "";
  AccumulateCounter(value, enabled, running, &r);
  return r;
}

// Every field of an interval is the interval's own: the intervals add up to the total.
TEST(StatIntervalTest, FieldsArePerInterval) {
  CounterReading first = Reading("page-faults", 100, 1'000'000, 1'000'000);
  CounterReading second = Reading("page-faults", 250, 3'000'000, 3'000'000);
  CounterReading a = IntervalOf(first, CounterReading{});
  CounterReading b = IntervalOf(second, first);
  EXPECT_EQ(b.event, "page-faults");
  EXPECT_EQ(b.raw, 150u);
  EXPECT_DOUBLE_EQ(b.value, 150.0);
  EXPECT_EQ(b.time_enabled, 2'000'000u);
  EXPECT_EQ(b.time_running, 2'000'000u);
  EXPECT_DOUBLE_EQ(a.value + b.value, second.value);
  EXPECT_EQ(a.time_enabled + b.time_enabled, second.time_enabled);
  EXPECT_FALSE(b.scaled);
}

TEST(StatIntervalTest, MultiplexedIntervalIsScaledByItsOwnShare) {
  CounterReading first = Reading("cycles", 1000, 1'000'000, 1'000'000);  // ran all along
  CounterReading second = Reading("cycles", 1500, 3'000'000, 1'500'000);
  CounterReading b = IntervalOf(second, first);  // 500 counted in half of 2 ms
  EXPECT_TRUE(b.scaled);
  EXPECT_DOUBLE_EQ(b.value, 500.0 * 2'000'000 / 500'000);
}

TEST(StatIntervalTest, IntervalThatNeverRanIsNotCounted) {
  CounterReading first = Reading("cycles", 1000, 1'000'000, 1'000'000);
  CounterReading second = Reading("cycles", 1000, 2'000'000, 1'000'000);
  EXPECT_TRUE(IntervalOf(second, first).not_counted);
  // A task that did not run in the interval: enabled and running both stood still, it
  // counted nothing.
  CounterReading idle = IntervalOf(first, first);
  EXPECT_FALSE(idle.not_counted);
  EXPECT_DOUBLE_EQ(idle.value, 0.0);
}

TEST(StatRunsTest, SpreadIsPerfs) {
  Spread s = SpreadOf({12, 22, 32});
  EXPECT_EQ(s.runs, 3u);
  EXPECT_DOUBLE_EQ(s.mean, 22.0);
  EXPECT_DOUBLE_EQ(s.stddev, 10.0);  // sample standard deviation
  // perf's "+- X%": the standard deviation of the mean, relative to the mean.
  EXPECT_DOUBLE_EQ(s.NoisePct(), 100.0 * 10.0 / std::sqrt(3.0) / 22.0);
  EXPECT_DOUBLE_EQ(SpreadOf({5}).stddev, 0.0);
  EXPECT_DOUBLE_EQ(SpreadOf({5}).NoisePct(), 0.0);
  EXPECT_DOUBLE_EQ(SpreadOf({0, 0}).NoisePct(), 0.0);
}

TEST(StatRunsTest, SummaryIsTheMeanOfEachCounter) {
  std::vector<std::vector<CounterReading>> runs = {
      {Reading("task-clock", 10'000'000, 10'000'000, 10'000'000), Reading("page-faults", 12, 1, 1)},
      {Reading("task-clock", 20'000'000, 20'000'000, 20'000'000), Reading("page-faults", 32, 1, 1)},
  };
  std::vector<CounterSummary> s = SummarizeRuns(runs);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].mean.event, "task-clock");
  EXPECT_EQ(s[0].mean.unit, "ns");
  EXPECT_DOUBLE_EQ(s[0].mean.value, 15'000'000.0);
  EXPECT_EQ(s[0].mean.time_enabled, 15'000'000u);
  EXPECT_EQ(s[1].mean.raw, 22u);
  EXPECT_DOUBLE_EQ(s[1].value.stddev, std::sqrt(200.0));
  EXPECT_EQ(s[1].value.runs, 2u);
  EXPECT_FALSE(s[1].mean.not_counted);
  // Not counted only when no run counted.
  runs[0][1] = Reading("page-faults", 0, 1, 0);
  EXPECT_FALSE(SummarizeRuns(runs)[1].mean.not_counted);
  runs[1][1] = Reading("page-faults", 0, 1, 0);
  EXPECT_TRUE(SummarizeRuns(runs)[1].mean.not_counted);
}

TEST(StatMetricsTest, ClocksAreCpusAndCountsArePerSecondOfTaskClock) {
  std::vector<CounterReading> r = {Reading("task-clock", 500'000'000, 1, 1),
                                   Reading("page-faults", 2000, 1, 1)};
  std::vector<CounterMetric> m = MetricsOf(r, 250'000'000);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].kind, CounterMetric::Kind::kCpusUtilized);
  EXPECT_DOUBLE_EQ(m[0].value, 2.0);  // 0.5 s of CPU in 0.25 s
  EXPECT_EQ(m[1].kind, CounterMetric::Kind::kPerSecond);
  EXPECT_DOUBLE_EQ(m[1].value, 4000.0);  // per second of task-clock, as perf
  EXPECT_EQ(m[1].per, "task-clock");
}

TEST(StatMetricsTest, TaskClockIsPreferredThenCpuClockThenElapsed) {
  std::vector<CounterReading> r = {Reading("page-faults", 100, 1, 1),
                                   Reading("cpu-clock", 200'000'000, 1, 1),
                                   Reading("task-clock", 100'000'000, 1, 1)};
  EXPECT_DOUBLE_EQ(MetricsOf(r, 1e9)[0].value, 1000.0);
  r.pop_back();
  EXPECT_EQ(MetricsOf(r, 1e9)[0].per, "cpu-clock");
  EXPECT_DOUBLE_EQ(MetricsOf(r, 1e9)[0].value, 500.0);
  r.pop_back();
  EXPECT_EQ(MetricsOf(r, 0.5e9)[0].per, "elapsed");
  EXPECT_DOUBLE_EQ(MetricsOf(r, 0.5e9)[0].value, 200.0);
  // Nothing to divide by, or nothing counted: no metric.
  EXPECT_EQ(MetricsOf(r, 0)[0].kind, CounterMetric::Kind::kNone);
  EXPECT_EQ(MetricsOf({Reading("cycles", 0, 5, 0)}, 1e9)[0].kind, CounterMetric::Kind::kNone);
}

}  // namespace
}  // namespace wick
