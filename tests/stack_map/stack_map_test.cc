// Unit tests of StackMap: dedup, ids, counts and deltas, capacity limits, collisions, and
// the no-allocation guarantee of the per-sample path.
#include "wick/stack_map.h"

#include <cstdint>
#include <map>
#include <tuple>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "testing/testing.h"

namespace wick {
namespace {

std::vector<Frame> MakeStack(uint64_t seed, size_t depth) {
  std::vector<Frame> frames;
  for (size_t i = 0; i < depth; ++i) {
    frames.push_back(Frame{.value = seed * 1000 + i,
                           .binary = static_cast<uint32_t>(i % 3),
                           .kind = i == 0 ? FrameKind::kKernel : FrameKind::kUserFile});
  }
  return frames;
}

std::vector<std::pair<uint32_t, uint64_t>> TakeDeltas(StackMap& map) {
  std::vector<std::pair<uint32_t, uint64_t>> out;
  map.TakeCountDeltas([&](uint32_t id, uint64_t delta) { out.emplace_back(id, delta); });
  return out;
}

TEST(StackMapTest, DeduplicatesAndCounts) {
  StackMap map(1000, 100);
  auto a = MakeStack(1, 5), b = MakeStack(2, 5);
  EXPECT_EQ(map.Insert(7, 0, 0, a), 0u);
  EXPECT_EQ(map.Insert(7, 0, 0, b), 1u);
  EXPECT_EQ(map.Insert(7, 0, 0, a), 0u);
  EXPECT_EQ(map.Insert(7, 0, 0, a, 10), 0u);
  ASSERT_EQ(map.size(), 2u);
  EXPECT_EQ(map.Count(0), 12u);
  EXPECT_EQ(map.Count(1), 1u);
  EXPECT_EQ(map.Comm(1), 7u);
  auto frames = map.Frames(1);
  EXPECT_EQ(std::vector<Frame>(frames.begin(), frames.end()), b);
  EXPECT_EQ(map.frames_used(), 10u);
}

// A map that replaces one whose stacks were all written: its ids continue.
TEST(StackMapTest, IdsContinueFromFirstId) {
  StackMap map(1000, 100, nullptr, 500);
  auto a = MakeStack(1, 5), b = MakeStack(2, 3);
  EXPECT_EQ(map.size(), 500u);
  EXPECT_EQ(map.held(), 0u);
  EXPECT_EQ(map.Insert(7, 10, 11, a), 500u);
  EXPECT_EQ(map.Insert(8, 10, 12, b, 4), 501u);
  EXPECT_EQ(map.Insert(7, 10, 11, a), 500u);
  EXPECT_EQ(map.first_id(), 500u);
  EXPECT_EQ(map.size(), 502u);
  EXPECT_EQ(map.held(), 2u);
  EXPECT_EQ(map.Count(500), 2u);
  EXPECT_EQ(map.Comm(501), 8u);
  EXPECT_EQ(map.Tid(501), 12u);
  EXPECT_EQ(map.Frames(501).size(), 3u);
  EXPECT_EQ(TakeDeltas(map), (std::vector<std::pair<uint32_t, uint64_t>>{{500, 2}, {501, 4}}));
}

TEST(StackMapTest, CommSeparatesStacks) {
  StackMap map(1000, 100);
  auto a = MakeStack(1, 3);
  EXPECT_EQ(map.Insert(1, 0, 0, a), 0u);
  EXPECT_EQ(map.Insert(2, 0, 0, a), 1u);
  EXPECT_EQ(map.Insert(1, 0, 0, a), 0u);
  EXPECT_EQ(map.Comm(0), 1u);
  EXPECT_EQ(map.Comm(1), 2u);
}

TEST(StackMapTest, SameFramesInAnotherProcessOrThreadAreAnotherStack) {
  StackMap map(1000, 100);
  const std::vector<Frame> a = MakeStack(1, 3);
  EXPECT_EQ(map.Insert(1, 100, 100, a), 0u);
  EXPECT_EQ(map.Insert(1, 100, 101, a), 1u);  // another thread of the process
  EXPECT_EQ(map.Insert(1, 200, 100, a), 2u);  // another process (pid reused as a tid)
  EXPECT_EQ(map.Insert(1, 100, 101, a, 4), 1u);
  EXPECT_EQ(map.Insert(1, 100, 100, a), 0u);
  EXPECT_EQ(map.size(), 3u);
  EXPECT_EQ(map.Pid(0), 100u);
  EXPECT_EQ(map.Tid(0), 100u);
  EXPECT_EQ(map.Pid(1), 100u);
  EXPECT_EQ(map.Tid(1), 101u);
  EXPECT_EQ(map.Pid(2), 200u);
  EXPECT_EQ(map.Tid(2), 100u);
  EXPECT_EQ(map.Count(0), 2u);
  EXPECT_EQ(map.Count(1), 5u);
  EXPECT_EQ(map.Count(2), 1u);
  EXPECT_EQ(map.frames_used(), 9u);
  EXPECT_NE(StackMap::DefaultHash({0, 1, 100, 100}, a), StackMap::DefaultHash({0, 1, 100, 101}, a));
  EXPECT_NE(StackMap::DefaultHash({0, 1, 100, 100}, a), StackMap::DefaultHash({0, 1, 101, 100}, a));
  EXPECT_NE(StackMap::DefaultHash({0, 1, 100, 100}, a), StackMap::DefaultHash({1, 1, 100, 100}, a));
}

TEST(StackMapTest, EventsSeparateStacksAndWeightsAddUp) {
  StackMap map(1000, 100);
  const std::vector<Frame> a = MakeStack(1, 3);
  EXPECT_EQ(map.Insert(StackKey{0, 1, 100, 100}, a, 1, 1'000'000), 0u);
  EXPECT_EQ(map.Insert(StackKey{1, 1, 100, 100}, a, 1, 1), 1u);  // page-faults, same frames
  EXPECT_EQ(map.Insert(StackKey{0, 1, 100, 100}, a, 1, 990'000), 0u);
  // Defined with nothing yet (an off-CPU stack at switch-out), grown at switch-in.
  EXPECT_EQ(map.Insert(StackKey{2, 1, 100, 100}, a, 0, 0), 2u);
  EXPECT_EQ(map.Event(2), 2u);
  EXPECT_EQ(map.Count(2), 0u);
  std::vector<std::tuple<uint32_t, uint64_t, uint64_t>> deltas;
  auto take = [&] {
    deltas.clear();
    map.TakeDeltas([&](uint32_t id, uint64_t count, uint64_t weight) {
      deltas.emplace_back(id, count, weight);
    });
    return deltas;
  };
  using D = std::vector<std::tuple<uint32_t, uint64_t, uint64_t>>;
  EXPECT_EQ(take(), (D{{0, 2, 1'990'000}, {1, 1, 1}}));
  map.AddTo(2, 1, 2'000'000);
  map.AddTo(0, 0, 5);
  EXPECT_EQ(take(), (D{{2, 1, 2'000'000}, {0, 0, 5}}));
  EXPECT_EQ(take(), D{});
  EXPECT_EQ(map.Weight(0), 1'990'005u);
  EXPECT_EQ(map.Weight(2), 2'000'000u);
  EXPECT_EQ(map.Event(1), 1u);
}

TEST(StackMapTest, PrefixesKindsAndEmptyStacksAreDistinct) {
  StackMap map(1000, 100);
  auto a = MakeStack(1, 4);
  std::vector<Frame> prefix(a.begin(), a.begin() + 3);
  std::vector<Frame> other_kind = a;
  other_kind[2].kind = FrameKind::kUserRaw;
  std::vector<Frame> other_binary = a;
  other_binary[2].binary += 1;
  EXPECT_EQ(map.Insert(0, 0, 0, a), 0u);
  EXPECT_EQ(map.Insert(0, 0, 0, prefix), 1u);
  EXPECT_EQ(map.Insert(0, 0, 0, other_kind), 2u);
  EXPECT_EQ(map.Insert(0, 0, 0, other_binary), 3u);
  EXPECT_EQ(map.Insert(0, 0, 0, {}), 4u);
  EXPECT_EQ(map.Insert(0, 0, 0, {}), 4u);
  EXPECT_TRUE(map.Frames(4).empty());
  EXPECT_EQ(map.size(), 5u);
}

uint64_t ConstantHash(const StackKey&, std::span<const Frame>) { return 42; }

TEST(StackMapTest, HashCollisionsNeverMergeOrOverwrite) {
  StackMap map(10000, 330, &ConstantHash);
  for (uint64_t i = 0; i < 300; ++i) {
    EXPECT_EQ(map.Insert(static_cast<uint32_t>(i % 2), 0, 0, MakeStack(i, 1 + i % 7)), i);
  }
  // Same comm and frames as stacks 0..29, other thread or process: new stacks, even though
  // every hash is equal.
  for (uint64_t i = 0; i < 30; ++i) {
    EXPECT_EQ(map.Insert(static_cast<uint32_t>(i % 2), uint32_t(i % 2), uint32_t(1 - i % 2),
                         MakeStack(i, 1 + i % 7)),
              300 + i);
  }
  for (uint64_t i = 0; i < 300; ++i) {
    EXPECT_EQ(map.Insert(static_cast<uint32_t>(i % 2), 0, 0, MakeStack(i, 1 + i % 7), i), i);
  }
  ASSERT_EQ(map.size(), 330u);
  for (uint32_t id = 300; id < 330; ++id) EXPECT_EQ(map.Count(id), 1u);
  for (uint32_t id = 0; id < 300; ++id) {
    EXPECT_EQ(map.Count(id), 1u + id);
    auto expected = MakeStack(id, 1 + id % 7);
    auto frames = map.Frames(id);
    EXPECT_EQ(std::vector<Frame>(frames.begin(), frames.end()), expected);
  }
}

TEST(StackMapTest, ManyStacksWithDefaultHash) {
  StackMap map(200000 * 4, 200000);
  for (uint64_t i = 0; i < 200000; ++i) ASSERT_EQ(map.Insert(0, 0, 0, MakeStack(i, 4)), i);
  for (uint64_t i = 0; i < 200000; i += 7) ASSERT_EQ(map.Insert(0, 0, 0, MakeStack(i, 4)), i);
  EXPECT_EQ(map.size(), 200000u);
}

TEST(StackMapTest, FullMapFailsWithoutChangingAnything) {
  StackMap map(10, 3);
  EXPECT_EQ(map.Insert(0, 0, 0, MakeStack(1, 2)), 0u);
  EXPECT_EQ(map.Insert(0, 0, 0, MakeStack(2, 2)), 1u);
  EXPECT_EQ(map.Insert(0, 0, 0, MakeStack(3, 7)), std::nullopt);  // 11 frames > 10
  EXPECT_EQ(map.Insert(0, 0, 0, MakeStack(4, 6)), 2u);            // exactly 10
  EXPECT_EQ(map.Insert(0, 0, 0, MakeStack(5, 0)), std::nullopt);  // 4th stack
  EXPECT_EQ(map.size(), 3u);
  EXPECT_EQ(map.frames_used(), 10u);
  // Known stacks still count when full.
  EXPECT_EQ(map.Insert(0, 0, 0, MakeStack(1, 2)), 0u);
  EXPECT_EQ(map.Count(0), 2u);
  auto frames = map.Frames(2);
  EXPECT_EQ(std::vector<Frame>(frames.begin(), frames.end()), MakeStack(4, 6));

  StackMap empty(0, 0);
  EXPECT_EQ(empty.Insert(0, 0, 0, {}), std::nullopt);
}

TEST(StackMapTest, CountDeltasSinceLastTake) {
  StackMap map(1000, 100);
  map.Insert(0, 0, 0, MakeStack(1, 3));
  map.Insert(0, 0, 0, MakeStack(2, 3), 5);
  map.Insert(0, 0, 0, MakeStack(1, 3));
  using Deltas = std::vector<std::pair<uint32_t, uint64_t>>;
  EXPECT_EQ(TakeDeltas(map), (Deltas{{0, 2}, {1, 5}}));
  EXPECT_EQ(TakeDeltas(map), Deltas{});
  map.Insert(0, 0, 0, MakeStack(2, 3));
  map.Insert(0, 0, 0, MakeStack(3, 3), 0);  // a new stack with no weight: defined, no delta
  map.Insert(0, 0, 0, MakeStack(2, 3), 3);
  EXPECT_EQ(TakeDeltas(map), (Deltas{{1, 4}}));
  EXPECT_EQ(map.size(), 3u);
  EXPECT_EQ(map.Count(1), 9u);
  // Incremental writer: stacks past the watermark, then deltas.
  size_t written = 2;
  map.Insert(0, 0, 0, MakeStack(4, 1));
  std::vector<uint32_t> new_ids;
  for (size_t id = written; id < map.size(); ++id) new_ids.push_back(static_cast<uint32_t>(id));
  EXPECT_EQ(new_ids, (std::vector<uint32_t>{2, 3}));
  EXPECT_EQ(TakeDeltas(map), (Deltas{{3, 1}}));
}

void* volatile allocation_sink;

TEST(StackMapTest, RepeatedStacksDoNotAllocate) {
  constexpr size_t kStacks = 1000, kDepth = 20;
  StackMap map(kStacks * kDepth, kStacks);
  std::vector<std::vector<Frame>> stacks;
  for (size_t i = 0; i < kStacks; ++i) stacks.push_back(MakeStack(i, kDepth));
  uint64_t sum = 0;
  {
    // New stacks go to preallocated memory too.
    ::wick::testing::AllocationCounter counter;
    for (size_t i = 0; i < kStacks; ++i)
      sum += *map.Insert(static_cast<uint32_t>(i % 4), uint32_t(i % 4), uint32_t(i % 4 + 1),
                         stacks[i]);
    EXPECT_EQ(counter.Count(), 0u);
  }
  ::wick::testing::AllocationCounter counter;
  for (size_t n = 0; n < 100000; ++n) {
    const uint32_t k = static_cast<uint32_t>(n % kStacks % 4);
    sum += map.Insert(k, k, k + 1, stacks[n % kStacks]).value();
    if (n % 10000 == 0) map.TakeCountDeltas([&](uint32_t id, uint64_t d) { sum += id + d; });
  }
  EXPECT_EQ(counter.Count(), 0u);
  {
    // Control: the counter does see allocations.
    ::wick::testing::AllocationCounter control;
    std::vector<Frame> grow(3);
    allocation_sink = grow.data();
    EXPECT_GT(control.Count(), 0u);
  }
  EXPECT_EQ(map.size(), kStacks);
  EXPECT_EQ(map.Count(999), 101u);
  EXPECT_NE(sum, 0u);
}

TEST(StackMapTest, Movable) {
  StackMap map(100, 10);
  map.Insert(3, 0, 0, MakeStack(1, 2));
  StackMap moved = std::move(map);
  EXPECT_EQ(moved.Insert(3, 0, 0, MakeStack(1, 2)), 0u);
  EXPECT_EQ(moved.Insert(3, 0, 0, MakeStack(2, 2)), 1u);
  EXPECT_EQ(moved.Count(0), 2u);
}

}  // namespace
}  // namespace wick
