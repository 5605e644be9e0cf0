// The unwinder on real kernel samples: workloads built -O2 -fomit-frame-pointer are sampled
// with user registers + stack copies (as --call-graph dwarf does), then every sample is
// unwound by both backends and checked against the known call tree.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "testing/testing.h"
#include "unwind_capture.h"
#include "wick/process_table.h"
#include "wick/unwinder.h"
#include "workloads.h"

namespace wick {
namespace {

using testing::CapturedSample;

struct Range {
  std::string path;  // canonical
  uint64_t lo = 0, hi = 0;
};

Range FunctionRange(const std::string& binary, const std::string& name) {
  auto sym = workloads::FindElfSymbol(binary, name);
  EXPECT_TRUE(sym.ok()) << sym.status();
  if (!sym.ok()) return {};
  return Range{std::filesystem::canonical(binary).string(), sym->file_offset,
               sym->file_offset + sym->size};
}

bool In(ProcessTable& table, const Frame& f, const Range& r) {
  return f.kind == FrameKind::kUserFile && f.value >= r.lo && f.value < r.hi &&
         table.binaries().path(f.binary) == r.path;
}

// Index of the first frame in `r`, or -1.
int Find(ProcessTable& table, std::span<const Frame> frames, const Range& r) {
  for (size_t i = 0; i < frames.size(); ++i) {
    if (In(table, frames[i], r)) return static_cast<int>(i);
  }
  return -1;
}

struct Unwound {
  std::vector<std::vector<Frame>> stacks;
  std::vector<StopReason> reasons;
  Stats stats;
};

Unwound UnwindAll(ProcessTable& table, const std::vector<CapturedSample>& samples,
                  UnwindBackend backend, size_t max_frames = 256) {
  Unwound out;
  Unwinder unwinder(&table, &out.stats, backend);
  std::vector<Frame> buf(max_frames);
  for (const CapturedSample& s : samples) {
    UnwindResult r = unwinder.Unwind(s.View(), buf);
    out.stacks.emplace_back(buf.begin(), buf.begin() + static_cast<ptrdiff_t>(r.frames));
    out.reasons.push_back(r.reason);
  }
  return out;
}

void PrintReasons(const char* what, const Unwound& u) {
  std::map<std::string_view, int> counts;
  for (StopReason r : u.reasons) counts[StopReasonName(r)]++;
  std::string line;
  for (auto& [name, n] : counts) line += std::string(name) + "=" + std::to_string(n) + " ";
  std::printf("%s: %zu samples: %s\n", what, u.reasons.size(), line.c_str());
}

absl::StatusOr<std::vector<CapturedSample>> Capture(const std::vector<std::string>& argv,
                                                    ProcessTable* table,
                                                    uint32_t stack_size = kDefaultStackUserSize) {
  testing::CaptureOptions options;
  options.stack_size = stack_size;
  return testing::CaptureCommand(argv, options, table);
}

// Skips (or fails under WICK_REQUIRE_PERF=1) when perf_event_open is refused.
#define CAPTURE_OR_SKIP(var, expr)                                                     \
  auto var##_or = (expr);                                                              \
  WICK_REQUIRE(!absl::IsUnavailable(var##_or.status()), var##_or.status().ToString()); \
  ASSERT_TRUE(var##_or.ok()) << var##_or.status();                                     \
  std::vector<CapturedSample> var = *std::move(var##_or)

class UnwinderKernelTest : public ::testing::TestWithParam<UnwindBackend> {};

TEST_P(UnwinderKernelTest, KnownTreeO2ReachesMainWithTheRightSplit) {
  ProcessTable table(nullptr);
  const std::string bin = workloads::KnownTreeO2NoFpPath();
  CAPTURE_OR_SKIP(samples, Capture({bin, "r150"}, &table));
  ASSERT_GT(samples.size(), 500u);
  Unwound u = UnwindAll(table, samples, GetParam());
  PrintReasons("known_tree_o2_nofp", u);
  const Range main_fn = FunctionRange(bin, "main"), work = FunctionRange(bin, "work");
  const Range fa = FunctionRange(bin, "a"), fb = FunctionRange(bin, "b"),
              fc = FunctionRange(bin, "c");
  size_t reach_main = 0, in_abc[3] = {0, 0, 0}, abc = 0;
  for (const auto& stack : u.stacks) {
    const int m = Find(table, stack, main_fn);
    if (m < 0) continue;
    ++reach_main;
    const int w = Find(table, stack, work);
    if (w < 0) continue;
    int which = -1;
    for (int i = 0; i < w && which < 0; ++i) {
      if (In(table, stack[i], fa)) which = 0;
      if (In(table, stack[i], fb)) which = 1;
      if (In(table, stack[i], fc)) which = 2;
    }
    if (which >= 0) {
      ++in_abc[which];
      ++abc;
    }
  }
  const double pct_main = 100.0 * reach_main / samples.size();
  std::printf("reach main %.2f %% of %zu; a/b/c = %zu/%zu/%zu\n", pct_main, samples.size(),
              in_abc[0], in_abc[1], in_abc[2]);
  EXPECT_GE(pct_main, 99.0);
  ASSERT_GT(abc, 0u);
  EXPECT_NEAR(100.0 * in_abc[0] / abc, 60.0, 3.0);
  EXPECT_NEAR(100.0 * in_abc[1] / abc, 30.0, 3.0);
  EXPECT_NEAR(100.0 * in_abc[2] / abc, 10.0, 3.0);
  EXPECT_GE(u.stats.Get(Stat::kUnwindComplete), samples.size() * 99 / 100);
}

TEST_P(UnwinderKernelTest, ThreadsReachTheirStartRoutine) {
  ProcessTable table(nullptr);
  const std::string bin = workloads::KnownTreeO2NoFpPath();
  CAPTURE_OR_SKIP(samples, Capture({bin, "r100", "threads", "2"}, &table));
  ASSERT_GT(samples.size(), 500u);
  Unwound u = UnwindAll(table, samples, GetParam());
  PrintReasons("threads", u);
  const Range thread_main = FunctionRange(bin, "ThreadMain");
  std::map<pid_t, int> per_tid;
  size_t rooted = 0;
  for (size_t i = 0; i < samples.size(); ++i) {
    if (samples[i].tid == samples[i].pid) continue;  // the main thread only waits
    per_tid[samples[i].tid]++;
    if (Find(table, u.stacks[i], thread_main) >= 0 && u.reasons[i] == StopReason::kRoot) ++rooted;
  }
  EXPECT_EQ(per_tid.size(), 2u);
  size_t total = 0;
  for (auto& [tid, n] : per_tid) total += n;
  ASSERT_GT(total, 0u);
  EXPECT_GE(100.0 * rooted / total, 99.0);
}

TEST_P(UnwinderKernelTest, ThroughLibcQsortWithoutFramePointers) {
  ProcessTable table(nullptr);
  const std::string bin = workloads::UnwindTargetPath();
  CAPTURE_OR_SKIP(samples, Capture({bin, "qsort", "1"}, &table));
  ASSERT_GT(samples.size(), 300u);
  Unwound u = UnwindAll(table, samples, GetParam());
  PrintReasons("qsort", u);
  const Range cmp = FunctionRange(bin, "compare_ints"), loop = FunctionRange(bin, "sort_loop"),
              main_fn = FunctionRange(bin, "main");
  size_t in_cmp = 0, through_libc = 0;
  for (const auto& stack : u.stacks) {
    if (stack.empty() || !In(table, stack[0], cmp)) continue;
    ++in_cmp;
    const int l = Find(table, stack, loop);
    if (l < 0 || Find(table, stack, main_fn) < 0) continue;
    bool libc = false;
    for (int i = 1; i < l; ++i) {
      libc |= stack[i].kind == FrameKind::kUserFile &&
              table.binaries().path(stack[i].binary).find("libc.so") != std::string::npos;
    }
    if (libc) ++through_libc;
  }
  std::printf("comparator samples %zu, through libc qsort to main %zu\n", in_cmp, through_libc);
  ASSERT_GT(in_cmp, 100u);
  EXPECT_GE(100.0 * through_libc / in_cmp, 99.0);
}

TEST_P(UnwinderKernelTest, ThroughLibraryDlopenedMidRun) {
  ProcessTable table(nullptr);
  const std::string bin = workloads::UnwindTargetPath();
  const std::string lib = workloads::UnwindPluginPath();
  CAPTURE_OR_SKIP(samples, Capture({bin, "dlopen", "1.5", lib}, &table));
  ASSERT_GT(samples.size(), 500u);
  Unwound u = UnwindAll(table, samples, GetParam());
  PrintReasons("dlopen", u);
  const Range leaf = FunctionRange(lib, "plugin_leaf"), work = FunctionRange(lib, "plugin_work"),
              call = FunctionRange(bin, "call_plugin"), main_fn = FunctionRange(bin, "main");
  size_t in_plugin = 0, rooted = 0;
  for (const auto& stack : u.stacks) {
    if (stack.empty() || !(In(table, stack[0], leaf) || In(table, stack[0], work))) continue;
    ++in_plugin;
    if (Find(table, stack, work) >= 0 && Find(table, stack, call) >= 0 &&
        Find(table, stack, main_fn) >= 0) {
      ++rooted;
    }
  }
  std::printf("plugin samples %zu, reaching main %zu\n", in_plugin, rooted);
  ASSERT_GT(in_plugin, 300u);
  EXPECT_GE(100.0 * rooted / in_plugin, 99.0);
}

TEST_P(UnwinderKernelTest, RecursionDeeperThanTheSnapshotIsCountedAsTruncated) {
  ProcessTable table(nullptr);
  const std::string bin = workloads::UnwindTargetPath();
  CAPTURE_OR_SKIP(samples, Capture({bin, "deep", "1", "3000"}, &table, 4096));
  ASSERT_GT(samples.size(), 300u);
  Unwound u = UnwindAll(table, samples, GetParam(), 1024);
  PrintReasons("deep", u);
  const Range rec = FunctionRange(bin, "recurse"), spin = FunctionRange(bin, "spin_leaf");
  size_t in_spin = 0, truncated = 0, max_frames = 0;
  for (size_t i = 0; i < samples.size(); ++i) {
    const auto& stack = u.stacks[i];
    if (stack.empty() || !In(table, stack[0], spin)) continue;
    ++in_spin;
    max_frames = std::max(max_frames, stack.size());
    if (u.reasons[i] == StopReason::kStackTooSmall && stack.size() > 10 &&
        In(table, stack.back(), rec)) {
      ++truncated;
    }
  }
  std::printf("deep: %zu samples in spin_leaf, %zu truncated, deepest %zu frames\n", in_spin,
              truncated, max_frames);
  ASSERT_GT(in_spin, 100u);
  EXPECT_GE(100.0 * truncated / in_spin, 99.0);
  EXPECT_GE(u.stats.Get(Stat::kUnwindStackTooSmall), truncated);
  EXPECT_LT(max_frames, 1024u);  // stopped by the snapshot, not by the depth limit
}

TEST_P(UnwinderKernelTest, FramePointerFallbackWithoutUnwindTables) {
  ProcessTable table(nullptr);
  const std::string bin = workloads::KnownTreeFpNoEhPath();
  CAPTURE_OR_SKIP(samples, Capture({bin, "r150"}, &table));
  ASSERT_GT(samples.size(), 300u);
  Unwound u = UnwindAll(table, samples, GetParam());
  PrintReasons("known_tree_fp_noeh", u);
  const Range main_fn = FunctionRange(bin, "main"), work = FunctionRange(bin, "work");
  size_t reach = 0;
  for (const auto& stack : u.stacks) {
    if (Find(table, stack, work) >= 0 && Find(table, stack, main_fn) >= 0) ++reach;
  }
  const double pct = 100.0 * reach / samples.size();
  std::printf("fp fallback: %.2f %% reach work and main\n", pct);
  // Samples on a function's first instruction (before push %rbp) lose their caller.
  EXPECT_GE(pct, 95.0);
  // Back in libc's code, which has CFI, DWARF unwinding goes on from the frame-pointer steps'
  // registers to _start: the root (it ended at a wrong address after main).
  EXPECT_GE(u.stats.Get(Stat::kUnwindComplete), samples.size() * 95 / 100);
}

// wick's own CFI steps (cfi_rules.h) against libunwind's on the same real samples: the same
// frames and stop reason for every sample, through the workload, libc (qsort, thread start),
// a library dlopened mid-run, stacks deeper than the copy and code without unwind tables; and
// the own steps do most of the work (else the test would compare libunwind with itself).
TEST(OwnCfiStepsTest, SameStacksAsLibunwind) {
  struct Case {
    const char* name;
    std::vector<std::string> argv;
    double min_own_share;  // of the samples, unwound wholly by the own steps
  };
  const std::vector<Case> cases = {
      {"known_tree_o2_nofp", {workloads::KnownTreeO2NoFpPath(), "r100", "threads", "2"}, 0.9},
      {"qsort", {workloads::UnwindTargetPath(), "qsort", "1"}, 0.9},
      {"dlopen",
       {workloads::UnwindTargetPath(), "dlopen", "1", workloads::UnwindPluginPath()},
       0.9},
      {"recursion", {workloads::UnwindTargetPath(), "deep", "1", "30"}, 0.9},
      {"recursion deeper than the copy", {workloads::UnwindTargetPath(), "deep", "1", "3000"}, 0.0},
      {"no unwind tables", {workloads::KnownTreeFpNoEhPath(), "r100"}, 0.0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ProcessTable table(nullptr);
    CAPTURE_OR_SKIP(samples, Capture(c.argv, &table));
    ASSERT_GT(samples.size(), 100u);
    auto unwind_all = [&](bool libunwind_only, size_t* own) {
      if (libunwind_only) setenv("WICK_UNWIND_LIBUNWIND_ONLY", "1", 1);
      Unwound out;
      Unwinder unwinder(&table, &out.stats, UnwindBackend::kLibunwind);
      unsetenv("WICK_UNWIND_LIBUNWIND_ONLY");
      std::vector<Frame> buf(256);
      for (const CapturedSample& s : samples) {
        UnwindResult r = unwinder.Unwind(s.View(), buf);
        out.stacks.emplace_back(buf.begin(), buf.begin() + static_cast<ptrdiff_t>(r.frames));
        out.reasons.push_back(r.reason);
        *own += r.own_cfi;
      }
      return out;
    };
    size_t own = 0, none = 0;
    const Unwound mine = unwind_all(false, &own);
    const Unwound theirs = unwind_all(true, &none);
    EXPECT_EQ(none, 0u);
    std::printf("%s: %zu samples, %zu unwound by the own steps alone\n", c.name, samples.size(),
                own);
    EXPECT_GE(double(own), c.min_own_share * double(samples.size()));
    size_t differ = 0;
    for (size_t i = 0; i < samples.size(); ++i) {
      bool same =
          mine.reasons[i] == theirs.reasons[i] && mine.stacks[i].size() == theirs.stacks[i].size();
      for (size_t f = 0; same && f < mine.stacks[i].size(); ++f) {
        same = mine.stacks[i][f].value == theirs.stacks[i][f].value &&
               mine.stacks[i][f].binary == theirs.stacks[i][f].binary;
      }
      differ += !same;
    }
    EXPECT_EQ(differ, 0u) << "of " << samples.size();
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, UnwinderKernelTest,
                         ::testing::Values(UnwindBackend::kLibdw, UnwindBackend::kLibunwind),
                         [](const auto& info) {
                           return std::string(info.param == UnwindBackend::kLibdw ? "libdw"
                                                                                  : "libunwind");
                         });

}  // namespace
}  // namespace wick
