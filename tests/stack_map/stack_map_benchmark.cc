// StackMap throughput with 20-frame stacks: inserting new stacks (arena append + hash
// insert) and repeated stacks (hash + compare + count), the per-sample steady state.
#include <vector>

#include "benchmark/benchmark.h"
#include "wick/stack_map.h"

namespace wick {
namespace {

constexpr size_t kDepth = 20;

std::vector<Frame> MakeStacks(size_t n) {
  std::vector<Frame> frames(n * kDepth);
  for (size_t s = 0; s < n; ++s) {
    for (size_t i = 0; i < kDepth; ++i) {
      // Realistic shape: shared outer frames (main, libc start), distinct leaves.
      uint64_t v = i < kDepth / 2 ? 0x401000 + i * 64 + s * 0x40 : 0x7f0000001000 + i * 0x10;
      frames[s * kDepth + i] =
          Frame{.value = v, .binary = static_cast<uint32_t>(i % 4), .kind = FrameKind::kUserFile};
    }
  }
  return frames;
}

void BM_InsertNewStacks(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  std::vector<Frame> frames = MakeStacks(n);
  for (auto _ : state) {
    state.PauseTiming();
    StackMap map(n * kDepth, n);
    state.ResumeTiming();
    for (size_t s = 0; s < n; ++s) {
      benchmark::DoNotOptimize(map.Insert(1, 0, 0, std::span(frames).subspan(s * kDepth, kDepth)));
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
}
BENCHMARK(BM_InsertNewStacks)->Arg(1000)->Arg(100000);

void BM_InsertRepeatedStacks(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  std::vector<Frame> frames = MakeStacks(n);
  StackMap map(n * kDepth, n);
  for (size_t s = 0; s < n; ++s) map.Insert(1, 0, 0, std::span(frames).subspan(s * kDepth, kDepth));
  size_t s = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(map.Insert(1, 0, 0, std::span(frames).subspan(s * kDepth, kDepth)));
    if (++s == n) s = 0;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_InsertRepeatedStacks)->Arg(1000)->Arg(100000);

}  // namespace
}  // namespace wick
