// wick stat's scaling of multiplexed counters. This machine has no hardware PMU, and software
// events are never multiplexed, so the kernel cannot be made to multiplex here: the
// arithmetic on the (value, time_enabled, time_running) triples read() returns is tested
// directly.
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

}  // namespace
}  // namespace wick
