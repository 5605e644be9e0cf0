// wick record --call-graph dwarf on binaries without frame pointers: complete stacks through
// Debian's libc, a library dlopen'ed mid-recording, threads, and an honest stop when a stack
// is deeper than the copy.
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "folded.h"
#include "run.h"
#include "testing/testing.h"
#include "workloads.h"

namespace wick::testing {
namespace {

const std::string kWick = WICK_BINARY;

Folded Report(const std::string& file) { return ReportFolded(kWick, file); }

// A known_tree run (`r`, recorded to `file`) whose stacks are whole: the samples reach main
// with the known 60/30/10 split of work's callees.
void ExpectCompleteKnownTree(const RunResult& r, const std::string& file) {
  EXPECT_TRUE(absl::StrContains(r.err, "reached the root")) << r.err;
  const Folded l = Report(file);
  // 999 Hz of the CPU time the command measured itself.
  ASSERT_GT(double(l.total()), 0.8 * 999 * KnownTreeCpu(r.err));
  EXPECT_GE(double(l.With({"main"})), 0.99 * double(l.total()))
      << l.With({"main"}) << " of " << l.total() << " reach main";
  const KnownSplit split{l.With({"main", "work", "a"}), l.With({"main", "work", "b"}),
                         l.With({"main", "work", "c"})};
  ExpectKnownSplit(split, 3.0, l.total() * 6 / 10);
}

class DwarfE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RunResult r = RunProgram({kWick, "record", "--call-graph", "dwarf", "-o",
                              TempPath("probe-dwarf.wick"), "--", "/bin/true"});
    if (r.exit_code != 0) WICK_SKIP_OR_FAIL("wick record cannot open perf events: " + r.err);
  }
};

TEST_F(DwarfE2eTest, KnownTreeWithoutFramePointersIsComplete) {
  std::string file = TempPath("o2.wick");
  RunResult r = RunProgram({kWick, "record", "--call-graph", "dwarf", "-o", file, "--",
                            workloads::KnownTreeO2NoFpPath(), "r150"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ExpectCompleteKnownTree(r, file);
}

// A binary whose own unwind tables are only in .debug_frame (built -g without .eh_frame, as
// some embedded toolchains and hand-tuned builds do) and without frame pointers: libunwind,
// which reads .eh_frame, cannot leave its frames, and the summary says why; --unwinder libdw
// reads .debug_frame and recovers the whole tree. (Debian's perf gets ~0 % of such stacks to
// main, too.)
TEST_F(DwarfE2eTest, DebugFrameOnlyBinaryNeedsTheLibdwUnwinder) {
  const std::string bin = workloads::KnownTreeDebugFramePath();
  std::string file = TempPath("debug-frame-libunwind.wick");
  RunResult r =
      RunProgram({kWick, "record", "--call-graph", "dwarf", "-o", file, "--", bin, "r100"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "no unwind info")) << r.err;
  const Folded without = Report(file);
  ASSERT_GT(without.total(), 300u);
  EXPECT_LT(double(without.With({"main"})), 0.1 * double(without.total()));

  file = TempPath("debug-frame-libdw.wick");
  r = RunProgram({kWick, "record", "--call-graph", "dwarf", "--unwinder", "libdw", "-o", file, "--",
                  bin, "r100"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ExpectCompleteKnownTree(r, file);
}

TEST_F(DwarfE2eTest, UnwinderMustBeKnownAndNeedsDwarf) {
  RunResult r = RunProgram({kWick, "record", "--call-graph", "dwarf", "--unwinder", "gdb", "-o",
                            TempPath("bad.wick"), "--", "/bin/true"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(r.err, "--unwinder 'gdb': unknown (use libunwind, or libdw"))
      << r.err;
  r = RunProgram({kWick, "record", "-g", "--unwinder", "libdw", "-o", TempPath("bad.wick"), "--",
                  "/bin/true"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(r.err, "only --call-graph dwarf unwinds")) << r.err;
}

// --max-stack limits the unwound user stacks too (it limited only the kernel's callchain:
// --max-stack 3 gave 14-frame stacks), and the summary says why they stopped.
TEST_F(DwarfE2eTest, MaxStackLimitsUnwoundStacks) {
  std::string file = TempPath("maxstack.wick");
  RunResult r = RunProgram({kWick, "record", "--call-graph", "dwarf", "--max-stack", "3", "-o",
                            file, "--", workloads::KnownTreeO2NoFpPath(), "r30"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "maximum depth")) << r.err;
  // Frames as unwound: inlined functions expanded would add frames of their own.
  Folded l = ReportFolded(kWick, file, {"--no-inline"});
  ASSERT_GT(l.total(), 100u);
  size_t deepest_user = 0;
  for (const FoldedStack& s : l.stacks()) {
    size_t user = 0;
    for (size_t i = 1; i < s.frames.size(); ++i) user += !absl::EndsWith(s.frames[i], "_[k]");
    deepest_user = std::max(deepest_user, user);
  }
  EXPECT_EQ(deepest_user, 3u);
  // The three innermost user frames: main -> work -> a (or b, c).
  EXPECT_GT(l.With({"work", "a"}), l.total() / 3);
}

TEST_F(DwarfE2eTest, StacksCrossLibcWithoutFramePointers) {
  std::string file = TempPath("qsort.wick");
  RunResult r = RunProgram({kWick, "record", "--call-graph", "dwarf", "-o", file, "--",
                            workloads::UnwindTargetPath(), "qsort", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Folded l = Report(file);
  // The comparator is called by libc's qsort (msort), which has no frame pointers; the
  // stack still reaches main through it. (How much of the time msort itself takes depends on
  // the CPU: ~10 % here. The comparator's samples are the ones to check.)
  const uint64_t in_compare = l.With({"compare_ints"});
  const uint64_t through = l.With({"main", "sort_loop", "compare_ints"});
  EXPECT_GT(in_compare, l.total() / 2) << in_compare << " of " << l.total();
  EXPECT_GE(double(through), 0.98 * double(in_compare)) << through << " of " << in_compare;
  EXPECT_GT(l.With({"main", "sort_loop", "qsort", "compare_ints"}) +
                l.With({"main", "sort_loop", "qsort_r", "compare_ints"}) +
                l.With({"main", "sort_loop", "__qsort_r", "compare_ints"}),
            0u);
}

TEST_F(DwarfE2eTest, LibraryDlopenedMidRecording) {
  std::string file = TempPath("dlopen.wick");
  RunResult r =
      RunProgram({kWick, "record", "--call-graph", "dwarf", "-o", file, "--",
                  workloads::UnwindTargetPath(), "dlopen", "3", workloads::UnwindPluginPath()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Folded l = Report(file);
  uint64_t plugin = l.With({"main", "call_plugin", "plugin_work"});
  // Two thirds of the time run in the plugin, loaded after recording began.
  EXPECT_GT(double(plugin), 0.5 * double(l.total())) << plugin << " of " << l.total();
}

TEST_F(DwarfE2eTest, SeveralThreads) {
  std::string file = TempPath("dwarf-threads.wick");
  RunResult r = RunProgram({kWick, "record", "--call-graph", "dwarf", "-o", file, "--",
                            workloads::KnownTreeO2NoFpPath(), "r100", "threads", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Folded l = Report(file);
  // Each thread ran 1 s of CPU.
  std::map<std::string, uint64_t> roots = l.ByRoot();
  EXPECT_GT(roots["tree-worker-0"], l.total() * 4 / 10);
  EXPECT_GT(roots["tree-worker-1"], l.total() * 4 / 10);
  EXPECT_GE(double(l.With({"work"})), 0.99 * double(l.total()));
}

TEST_F(DwarfE2eTest, DeeperThanTheCopyStopsCleanlyAndIsCounted) {
  std::string file = TempPath("deep.wick");
  // ~1000 frames of ~100 bytes: far more than an 8 KiB copy.
  RunResult r = RunProgram({kWick, "record", "--call-graph", "dwarf,8192", "-o", file, "--",
                            workloads::UnwindTargetPath(), "deep", "1.5", "1000"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "stack copy too small")) << r.err;
  Folded l = Report(file);
  EXPECT_GT(l.total(), 100u);
  EXPECT_GT(l.With({"recurse", "recurse", "spin_leaf"}), l.total() / 2);
}

// Nothing is dropped silently: with rings that hold only ~3 samples, two busy threads and a
// sample every 250 us of CPU, whatever the reader cannot keep up with is counted as lost, so
// recorded + lost matches the target's CPU time (measured by GNU time, the profiled command).
TEST_F(DwarfE2eTest, EverySampleIsRecordedOrCountedLost) {
  std::string file = TempPath("dwarf-lost.wick");
  RunResult r = RunProgram({kWick, "record", "--call-graph", "dwarf,16384", "-m", "16", "-c",
                            "250000", "-o", file, "--", "/usr/bin/time", "-f", "target-cpu %U %S",
                            workloads::KnownTreeO2NoFpPath(), "r100", "threads", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "expect lost samples")) << r.err;
  double user = 0, sys = 0;
  uint64_t samples = 0, lost = 0;
  for (absl::string_view line : absl::StrSplit(r.err, '\n')) {
    std::vector<std::string> w = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (w.size() == 3 && w[0] == "target-cpu") {
      ASSERT_TRUE(absl::SimpleAtod(w[1], &user) && absl::SimpleAtod(w[2], &sys)) << line;
    }
    // "wick record: N samples of ..." and "wick record: lost samples: N (...)".
    if (w.size() > 4 && w[0] == "wick" && w[3] == "samples" && w[4] == "of") {
      ASSERT_TRUE(absl::SimpleAtoi(w[2], &samples)) << line;
    }
    if (w.size() > 4 && w[2] == "lost" && w[3] == "samples:") {
      ASSERT_TRUE(absl::SimpleAtoi(w[4], &lost)) << line;
    }
  }
  const double expected = (user + sys) / 250e-6;
  ASSERT_GT(expected, 2000.0) << r.err;
  EXPECT_NEAR(double(samples + lost), expected, 0.15 * expected)
      << samples << " recorded + " << lost << " lost\n"
      << r.err;
  EXPECT_EQ(Report(file).total(), samples);
}

TEST_F(DwarfE2eTest, RingThatCannotHoldOneSampleIsRefused) {
  RunResult r = RunProgram({kWick, "record", "--call-graph", "dwarf,16384", "-m", "2", "-o",
                            TempPath("tiny.wick"), "--", "/bin/true"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(r.err, "cannot hold one sample")) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "use -m 128")) << r.err;
}

TEST_F(DwarfE2eTest, BadSizesAndLbrAreRefused) {
  for (const char* bad : {"dwarf,100", "dwarf,65536", "dwarf,0", "dwarf,abc"}) {
    RunResult r = RunProgram(
        {kWick, "record", "--call-graph", bad, "-o", TempPath("bad.wick"), "--", "/bin/true"});
    EXPECT_EQ(r.exit_code, 2) << bad;
    EXPECT_TRUE(absl::StrContains(r.err, "multiple of 8")) << r.err;
  }
  RunResult r = RunProgram(
      {kWick, "record", "--call-graph", "lbr", "-o", TempPath("lbr.wick"), "--", "/bin/true"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(r.err, "no hardware PMU")) << r.err;
}

// A caller frame is named at its return address - 1, inside the call: ends_with_call's last
// instruction calls a noreturn function, so its return address is next_function's first byte.
// Both call-graph modes must name ends_with_call, and --lines the call's own line (addr2line's
// answer for the call instruction, the last 5 bytes of ends_with_call).
TEST_F(DwarfE2eTest, CallThatEndsItsFunctionNamesTheCaller) {
  const std::string path = workloads::NoreturnCallPath();
  absl::StatusOr<workloads::ElfSymbol> fn = workloads::FindElfSymbol(path, "ends_with_call");
  ASSERT_TRUE(fn.ok()) << fn.status();
  ASSERT_GT(fn->size, 5u);
  RunResult a2l = RunProgram(
      {"/usr/bin/addr2line", "-e", path, absl::StrCat("0x", absl::Hex(fn->value + fn->size - 5))});
  ASSERT_EQ(a2l.exit_code, 0) << a2l.err;
  const std::string call_line(absl::StripSuffix(a2l.out.substr(a2l.out.rfind(':') + 1), "\n"));
  const std::string frame = "ends_with_call (noreturn_call.c:" + call_line + ")";
  for (const char* mode : {"fp", "dwarf"}) {
    SCOPED_TRACE(mode);
    const std::string file = TempPath(absl::StrCat("noreturn_", mode, ".wick"));
    RunResult r =
        RunProgram({kWick, "record", "--call-graph", mode, "-o", file, "--", path, "0.5"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    Folded l = Report(file);
    const uint64_t spinning = l.With({"spin_then_exit"});
    ASSERT_GT(spinning, 200u);
    EXPECT_GE(double(l.With({"main", "ends_with_call", "spin_then_exit"})),
              0.95 * double(spinning));
    EXPECT_EQ(l.With({"next_function"}), 0u);
    Folded lines = ReportFolded(kWick, file, {"--lines"});
    EXPECT_GE(double(lines.WithFrame([&](const std::string& f) { return f == frame; })),
              0.95 * double(spinning))
        << "no " << frame;
  }
}

}  // namespace
}  // namespace wick::testing
