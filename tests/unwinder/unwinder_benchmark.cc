// Unwinding throughput (samples/s) on real kernel samples of known_tree_o2_nofp (-O2, no
// frame pointers), captured once at start, for both backends; the counters say how many
// stacks reached the root. Needs perf_event_open (root or perf_event_paranoid <= 1).
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>

#include "benchmark/benchmark.h"
#include "unwind_capture.h"
#include "wick/process_table.h"
#include "wick/unwinder.h"
#include "workloads.h"

// Counts C heap allocations (libdw and libunwind allocate with malloc, not operator new) by
// interposing malloc and friends over glibc's entry points.
extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
static uint64_t g_mallocs = 0;
void* malloc(size_t n) {
  ++g_mallocs;
  return __libc_malloc(n);
}
void* calloc(size_t n, size_t m) {
  ++g_mallocs;
  return __libc_calloc(n, m);
}
void* realloc(void* p, size_t n) {
  ++g_mallocs;
  return __libc_realloc(p, n);
}
}

namespace wick {
namespace {

struct Captured {
  std::unique_ptr<ProcessTable> table;
  std::vector<testing::CapturedSample> samples;
};

Captured& Samples(uint32_t stack_size) {
  static auto* by_size = new std::map<uint32_t, Captured>();
  Captured& c = (*by_size)[stack_size];
  if (c.table == nullptr) {
    c.table = std::make_unique<ProcessTable>(nullptr);
    testing::CaptureOptions options;
    options.stack_size = stack_size;
    auto samples = testing::CaptureCommand({workloads::UnwindTargetPath(), "qsort", "0.5"}, options,
                                           c.table.get());
    auto tree =
        testing::CaptureCommand({workloads::KnownTreeO2NoFpPath(), "0.5"}, options, c.table.get());
    if (!samples.ok() || !tree.ok()) {
      std::fprintf(stderr, "capture failed: %s %s\n", samples.status().ToString().c_str(),
                   tree.status().ToString().c_str());
      std::exit(1);
    }
    c.samples = std::move(*samples);
    c.samples.insert(c.samples.end(), tree->begin(), tree->end());
  }
  return c;
}

void BM_Unwind(benchmark::State& state) {
  const auto backend = static_cast<UnwindBackend>(state.range(0));
  Captured& c = Samples(static_cast<uint32_t>(state.range(1)));
  Stats stats;
  Unwinder unwinder(c.table.get(), &stats, backend);
  std::vector<Frame> frames(256);
  for (const auto& s : c.samples) unwinder.Unwind(s.View(), frames);  // load the tables
  stats = Stats();
  size_t i = 0, total_frames = 0;
  const uint64_t mallocs_before = g_mallocs;
  for (auto _ : state) {
    UnwindResult r = unwinder.Unwind(c.samples[i].View(), frames);
    total_frames += r.frames;
    benchmark::DoNotOptimize(frames.data());
    if (++i == c.samples.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(backend == UnwindBackend::kLibdw ? "libdw" : "libunwind");
  const double n = static_cast<double>(state.iterations());
  state.counters["mallocs"] = static_cast<double>(g_mallocs - mallocs_before) / n;
  state.counters["root_pct"] = 100.0 * stats.Get(Stat::kUnwindComplete) / n;
  state.counters["frames"] = total_frames / n;
  state.counters["samples"] = static_cast<double>(c.samples.size());
}
BENCHMARK(BM_Unwind)
    ->ArgsProduct({{static_cast<int>(UnwindBackend::kLibdw),
                    static_cast<int>(UnwindBackend::kLibunwind)},
                   {8192, 65528}})
    ->ArgNames({"backend", "stack"});

// First-use cost: a fresh Unwinder per batch (tables loaded, modules reported anew).
void BM_UnwindCold(benchmark::State& state) {
  const auto backend = static_cast<UnwindBackend>(state.range(0));
  Captured& c = Samples(8192);
  std::vector<Frame> frames(256);
  for (auto _ : state) {
    Unwinder unwinder(c.table.get(), nullptr, backend);
    for (size_t i = 0; i < 16; ++i) unwinder.Unwind(c.samples[i].View(), frames);
  }
  state.SetLabel(backend == UnwindBackend::kLibdw ? "libdw" : "libunwind");
}
BENCHMARK(BM_UnwindCold)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace wick
