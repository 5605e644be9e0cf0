// wick record --overwrite, the flight recorder: the recording holds the newest samples the
// per-CPU rings kept, and stacks still get their names from the separately tracked mappings.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "folded.h"
#include "run.h"
#include "testing/testing.h"
#include "workloads.h"

namespace wick::testing {
namespace {

const std::string kWick = WICK_BINARY;

// Samples per phase of known_tree (a, b, c: the leaf-most of them) and in total.
struct Leaves {
  uint64_t total = 0;
  std::map<std::string, uint64_t> leaf;
};

Leaves Report(const std::string& file) {
  const Folded folded = ReportFolded(kWick, file);
  return Leaves{folded.total(), folded.LeafMost({"a", "b", "c"})};
}

class OverwriteE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RunResult r = RunProgram({kWick, "record", "-o", TempPath("probe-ow.wick"), "--", "/bin/true"});
    if (r.exit_code != 0) WICK_SKIP_OR_FAIL("wick record cannot open perf events: " + r.err);
  }
};

// Two phases on one CPU: ~1 s in a() only, then ~1 s in c() only. A ring of 8 pages holds a
// few hundred samples, so only the end of the second phase survives, with full names (the
// processes started after recording began: their mappings came from the tracking ring).
TEST_F(OverwriteE2eTest, KeepsOnlyTheNewestSamples) {
  const std::string file = TempPath("ow-phases.wick");
  const std::string tree = workloads::KnownTreePath();
  RunResult r =
      RunProgram({kWick, "record", "--overwrite", "-m", "8", "-g", "-o", file, "--",
                  "/usr/bin/taskset", "-c", "0", "/bin/sh", "-c",
                  absl::StrCat(tree, " r100 split 10 0 0 && ", tree, " r100 split 0 0 10")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "older samples were overwritten")) << r.err;
  Leaves l = Report(file);
  EXPECT_GT(l.leaf["c"], 50u) << l.total;
  EXPECT_EQ(l.leaf["a"], 0u) << "samples of the first phase survived";
  // Roughly one CPU's ring: 8 pages at ~100-200 bytes a sample (and ~2,000 were taken).
  EXPECT_LT(l.total, 600u);
  EXPECT_GE(double(l.leaf["c"]), 0.9 * double(l.total));
}

// A ring large enough for the whole run loses nothing: the same samples as a normal
// recording would have, and the summary says nothing was overwritten.
TEST_F(OverwriteE2eTest, LargeRingKeepsTheWholeRun) {
  const std::string file = TempPath("ow-large.wick");
  RunResult r = RunProgram({kWick, "record", "--overwrite", "-m", "256", "-g", "-o", file, "--",
                            workloads::KnownTreePath(), "r50"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "nothing was overwritten")) << r.err;
  Leaves l = Report(file);
  // ~0.5 s of CPU at 999 Hz, all of it kept, in the known 6:3:1 split.
  EXPECT_GT(l.total, 300u);
  const uint64_t abc = l.leaf["a"] + l.leaf["b"] + l.leaf["c"];
  EXPECT_GE(double(abc), 0.9 * double(l.total));
  EXPECT_NEAR(100.0 * double(l.leaf["a"]) / double(abc), 60.0, 8.0);
}

// A process that works and then execs another program: its samples from before the exec are
// read at the end, after the exec replaced its mappings, and must still resolve in the image
// they ran in (with its name), not be lost or misnamed.
TEST_F(OverwriteE2eTest, SamplesFromBeforeAnExecKeepTheirImage) {
  const std::string file = TempPath("ow-exec.wick");
  const std::string cc = workloads::KnownTreeCcPath();
  RunResult r = RunProgram({kWick, "record", "--overwrite", "-m", "256", "-g", "-o", file, "--",
                            workloads::KnownTreePath(), "r60", "exec", cc, "r60"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Folded folded = ReportFolded(kWick, file);
  // The C program before the exec, under its own name; the C++ one after.
  const uint64_t before = folded.OnlyRoot("known_tree_fp").With({"main", "work"});
  const uint64_t after = folded.OnlyRoot("known_tree_cc_f").WithFrame([](const std::string& f) {
    return absl::StrContains(f, "Tree::Work");
  });
  const uint64_t total = folded.total();
  // 0.6 s of CPU before the exec at 999 Hz and 0.6 s after it (60 rounds of 10 ms each).
  EXPECT_GT(before, 400u) << total;
  EXPECT_GT(after, 400u) << total;
  EXPECT_GE(double(before + after), 0.9 * double(total));
}

// SIGUSR2 writes what the rings hold at that moment to OUTPUT.1 and recording goes on: the
// snapshot has the first phase (a, b and c), the final recording only the second (c alone).
TEST_F(OverwriteE2eTest, Sigusr2WritesASnapshotAndRecordingGoesOn) {
  const std::string file = TempPath("ow-usr2.wick");
  const std::string tree = workloads::KnownTreePath();
  Background wick({kWick, "record", "--overwrite", "-m", "8", "-g", "-o", file, "--",
                   "/usr/bin/taskset", "-c", "0", "/bin/sh", "-c",
                   absl::StrCat(tree, " r100 pid && ", tree, " r100 split 0 0 10")});
  const std::string line = wick.ReadLine();
  ASSERT_TRUE(absl::StartsWith(line, "pid ")) << line;
  pid_t first = 0;
  ASSERT_TRUE(absl::SimpleAtoi(line.substr(4), &first)) << line;
  // Half-way through the first phase (1 s of CPU in all).
  ASSERT_GE(WaitForCpu(first, 0.5), 0.5);
  wick.Signal(SIGUSR2);
  EXPECT_EQ(wick.Wait(), 0);

  Leaves snapshot = Report(file + ".1");
  EXPECT_GT(snapshot.leaf["a"], 50u) << snapshot.total;
  EXPECT_LT(snapshot.total, 600u);  // about one 8-page ring
  Leaves last = Report(file);
  EXPECT_EQ(last.leaf["a"], 0u);
  EXPECT_GT(last.leaf["c"], 50u) << last.total;
}

// Without --overwrite there is nothing to snapshot: SIGUSR2 must not end the run (its default
// action), and the recording ends complete when the target does.
TEST_F(OverwriteE2eTest, Sigusr2WithoutOverwriteIsIgnored) {
  const std::string file = TempPath("usr2-plain.wick");
  Background wick(
      {kWick, "record", "-g", "-o", file, "--", workloads::KnownTreePath(), "r60", "pid"});
  const std::string line = wick.ReadLine();
  ASSERT_TRUE(absl::StartsWith(line, "pid ")) << line;
  wick.Signal(SIGUSR2);
  EXPECT_EQ(wick.Wait(), 0);
  RunResult r = RunProgram({kWick, "report", "-i", file, "--folded"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(absl::StrContains(r.err, "incomplete")) << r.err;
  EXPECT_FALSE(std::ifstream(file + ".1").good());
}

// The flight recorder's use: system-wide until Ctrl-C; the snapshot is written on the way out.
TEST_F(OverwriteE2eTest, CtrlCWritesTheSnapshot) {
  const std::string file = TempPath("ow-sigint.wick");
  Background wick({kWick, "record", "--overwrite", "-a", "-g", "-o", file});
  Background target({workloads::KnownTreePath(), "r150", "pid"});
  ASSERT_EQ(target.ReadLine(), "pid " + std::to_string(target.pid()));
  EXPECT_EQ(target.Wait(), 0);
  wick.Signal(SIGINT);
  EXPECT_EQ(wick.Wait(), 0);
  // The target's own samples (other programs of the same name may run).
  const Folded l = ReportFolded(kWick, file, {"--pid", std::to_string(target.pid())});
  const KnownSplit split = KnownTreeSplit(l);
  EXPECT_GT(split.sum(), 100u) << l.total();
}

}  // namespace
}  // namespace wick::testing
