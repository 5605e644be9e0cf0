// What one `wick top` refresh costs with many distinct stacks: taking a period's counts, decaying
// and adding up the rows (BM_Refresh), and naming stacks the first time they arrive
// (BM_NewStacks). Stacks are 30 kernel frames deep over 2,000 functions, so naming reads the
// kernel symbol table and not the disk.
#include <memory>
#include <vector>

#include "benchmark/benchmark.h"
#include "wick/live_top.h"

namespace wick {
namespace {

constexpr size_t kDepth = 30;
constexpr uint64_t kBase = 0xffffffff81000000;
constexpr uint64_t kFunctions = 2000;

std::vector<KernelSymbol> Symbols() {
  std::vector<KernelSymbol> symbols;
  for (uint64_t f = 0; f < kFunctions; ++f) {
    symbols.push_back({kBase + f * 0x100, 0x100, "function_" + std::to_string(f), ""});
  }
  return symbols;
}

// Stack s: shared outer frames, a distinct inner path.
void Define(RecordingWriter& w, uint32_t first, uint32_t n) {
  std::vector<Frame> frames(kDepth);
  for (uint32_t s = first; s < first + n; ++s) {
    for (size_t i = 0; i < kDepth; ++i) {
      const uint64_t f = i < kDepth / 2 ? i : (s * 7 + i * 13) % kFunctions;
      frames[i] = Frame{kBase + f * 0x100 + (s % 16) * 8, 0, FrameKind::kKernel};
    }
    w.AddStack(s, 0, s % 8, 1, 1, frames);
  }
}

void Count(RecordingWriter& w, uint32_t n) {
  for (uint32_t s = 0; s < n; ++s) w.AddCount(s, 1 + s % 5, 0);
}

std::unique_ptr<RecordingWriter> Writer(TopFeed& feed) {
  std::unique_ptr<RecordingWriter> w = feed.OpenWriter(RecordingMeta());
  w->AddEventType(0, "cpu-clock", "");
  for (uint32_t c = 0; c < 8; ++c) w->AddComm(c, "comm" + std::to_string(c));
  w->AddKernelSymbols(Symbols());
  return w;
}

void BM_Refresh(benchmark::State& state) {
  const uint32_t n = uint32_t(state.range(0));
  TopFeed feed;
  std::unique_ptr<RecordingWriter> w = Writer(feed);
  Define(*w, 0, n);
  (void)w->Flush();
  LiveTop top({}, false);
  top.Apply(feed.Take());
  for (auto _ : state) {
    state.PauseTiming();
    Count(*w, n);  // the session's side of a period: every stack sampled again
    (void)w->Flush();
    state.ResumeTiming();
    top.Apply(feed.Take());
    top.EndPeriod();
    benchmark::DoNotOptimize(top.Rows(TopSort::kSelf, 40));
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * n);
}
BENCHMARK(BM_Refresh)->Arg(10000)->Unit(benchmark::kMillisecond);

void BM_NewStacks(benchmark::State& state) {
  const uint32_t n = uint32_t(state.range(0));
  for (auto _ : state) {
    state.PauseTiming();
    TopFeed feed;
    std::unique_ptr<RecordingWriter> w = Writer(feed);
    Define(*w, 0, n);
    Count(*w, n);
    (void)w->Flush();
    TopBatch batch = feed.Take();
    LiveTop top({}, false);
    state.ResumeTiming();
    top.Apply(std::move(batch));
    top.EndPeriod();
    benchmark::DoNotOptimize(top.Rows(TopSort::kSelf, 40));
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * n);
}
BENCHMARK(BM_NewStacks)->Arg(10000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace wick
