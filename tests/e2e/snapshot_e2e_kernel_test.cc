// wick record --overwrite --snapshot-on EVENT, the flight recorder fired by an event: each hit
// writes what the rings hold up to the hit to OUTPUT.N and recording goes on; --snapshot-limit
// and --snapshot-gap bound the files, and what they ignore is counted in the summary.
// phases_trigger (tests/workloads/) burns known amounts of its own CPU time in phase_a,
// phase_b and phase_c around its calls to trigger(), where the uprobe fires.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
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

namespace wick::testing {
namespace {

const std::string kWick = WICK_BINARY;
const std::string kPhases = WICK_PHASES_TRIGGER;
const std::string kTrigger = "uprobe:" + kPhases + ":trigger";

bool Exists(const std::string& path) { return std::ifstream(path).good(); }

// Samples per phase (the leaf-most of phase_a, phase_b, phase_c on each stack) and in total.
struct Phases {
  uint64_t total = 0;
  std::map<std::string, uint64_t> leaf;
};

Phases Report(const std::string& file) {
  const Folded folded = ReportFolded(kWick, file);
  return Phases{folded.total(), folded.LeafMost({"phase_a", "phase_b", "phase_c"})};
}

// The number in wick's summary line "N DESCRIPTION [name]" of counter `name`, or 0 when the
// summary has none (wick prints only non-zero counters); a line that names the counter but
// does not start with a number fails the test.
uint64_t Counter(const std::string& err, const std::string& name) {
  const std::string tag = absl::StrCat(" [", name, "]");
  for (absl::string_view line : absl::StrSplit(err, '\n')) {
    if (!absl::EndsWith(line, tag)) continue;
    absl::string_view rest = line;
    if (!absl::ConsumePrefix(&rest, "wick record: ")) continue;
    uint64_t n = 0;
    EXPECT_TRUE(absl::SimpleAtoi(rest.substr(0, rest.find(' ')), &n)) << line;
    return n;
  }
  return 0;
}

// Everything a Background program still writes, up to its end.
std::string ReadRest(Background& program) {
  std::string text;
  for (std::string line = program.ReadLine(); !line.empty(); line = program.ReadLine()) {
    absl::StrAppend(&text, line, "\n");
  }
  return text;
}

class SnapshotE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A uprobe on the workload: perf events, tracefs and the uprobe PMU all work.
    RunResult r = RunProgram({kWick, "record", "-e", kTrigger, "-o", TempPath("probe-snap.wick"),
                              "--", kPhases, "phases", "0", "0", "0"});
    if (r.exit_code != 0) WICK_SKIP_OR_FAIL("wick record cannot open a uprobe: " + r.err);
  }
};

// phase_a, then phase_b, trigger(), then phase_c. wick is stopped (SIGSTOP, as a reader kept
// off the CPU would be) from the middle of phase_b until phase_c has run for 0.2 s of CPU: the
// rings then hold the end of phase_b and the start of phase_c, and the hit is read only now.
// The snapshot must hold the end of phase_b and nothing of phase_c (cut at the hit's time),
// and recording goes on: the final recording holds phase_c.
TEST_F(SnapshotE2eTest, SnapshotHoldsTheSamplesUpToTheTriggerOnly) {
  const std::string file = TempPath("snap-phases.wick");
  // -m 16: about 0.6 s of -g samples per CPU at 999 Hz; phase_b lasts 0.8 s, phase_c 1 s.
  Background wick(WithStderr({kWick, "record", "--overwrite", "-m", "16", "-g", "--snapshot-on",
                              kTrigger, "-o", file, "--", "/usr/bin/taskset", "-c", "0", kPhases,
                              "phases", "100", "800", "1000"}));
  const pid_t child = WaitForChild(wick.pid());
  ASSERT_GT(child, 0);
  ASSERT_GE(WaitForCpu(child, 0.5), 0.5);  // half-way through phase_b
  wick.Signal(SIGSTOP);
  ASSERT_GE(WaitForCpu(child, 1.1), 1.1);  // 0.2 s into phase_c
  wick.Signal(SIGCONT);
  const std::string err = ReadRest(wick);
  ASSERT_EQ(wick.Wait(), 0) << err;

  EXPECT_TRUE(Exists(file + ".1")) << err;
  EXPECT_FALSE(Exists(file + ".2")) << err;
  EXPECT_EQ(Counter(err, "snapshot_triggers"), 1u) << err;
  // phase_c's samples read with the snapshot and left out of it: the cut had work to do.
  EXPECT_GT(Counter(err, "snapshot_samples_after_trigger"), 50u) << err;
  Phases snapshot = Report(file + ".1");
  EXPECT_GT(snapshot.leaf["phase_b"], 50u) << snapshot.total << "\n" << err;
  EXPECT_EQ(snapshot.leaf["phase_c"], 0u) << "samples after the trigger in the snapshot\n" << err;
  Phases last = Report(file);
  EXPECT_GT(last.leaf["phase_c"], 50u) << last.total;
  EXPECT_EQ(last.leaf["phase_b"], 0u) << last.total;
}

// 1,000 hits and --snapshot-gap 0: --snapshot-limit files, the other hits counted as over it.
TEST_F(SnapshotE2eTest, LimitCapsTheSnapshots) {
  const std::string file = TempPath("snap-limit.wick");
  RunResult r = RunProgram({kWick, "record", "--overwrite", "-m", "8", "-g", "--snapshot-on",
                            kTrigger, "--snapshot-gap", "0", "--snapshot-limit", "3", "-o", file,
                            "--", kPhases, "hits", "1000", "200"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (int n = 1; n <= 3; ++n) {
    EXPECT_TRUE(Exists(absl::StrCat(file, ".", n))) << n << "\n" << r.err;
    // A recording wick report reads (the first hits come before the first sample: it may
    // hold none).
    Report(absl::StrCat(file, ".", n));
  }
  EXPECT_FALSE(Exists(file + ".4")) << r.err;
  EXPECT_EQ(Counter(r.err, "snapshot_triggers"), 1000u) << r.err;
  EXPECT_EQ(Counter(r.err, "snapshot_triggers_lost"), 0u) << r.err;
  EXPECT_TRUE(
      absl::StrContains(r.err, "997 snapshot triggers ignored: over the limit (--snapshot-limit)"))
      << r.err;
  EXPECT_EQ(Counter(r.err, "snapshot_triggers_too_soon"), 0u) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "3 snapshots taken, 3 on a hit of " + kTrigger)) << r.err;
}

// A tracepoint as the trigger, hit 1,000 times within far less than --snapshot-gap: one
// snapshot, the other hits counted as too soon.
TEST_F(SnapshotE2eTest, GapIgnoresHitsTooSoonAfterTheLastSnapshot) {
  const std::string file = TempPath("snap-gap.wick");
  RunResult r = RunProgram({kWick, "record", "--overwrite", "-m", "8", "-g", "--snapshot-on",
                            "syscalls:sys_enter_getppid", "--snapshot-gap", "100", "-o", file, "--",
                            kPhases, "getppid", "1000", "200"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Exists(file + ".1")) << r.err;
  EXPECT_FALSE(Exists(file + ".2")) << r.err;
  Report(file + ".1");  // a recording wick report reads
  EXPECT_EQ(Counter(r.err, "snapshot_triggers"), 1000u) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "999 snapshot triggers ignored: too soon (--snapshot-gap)"))
      << r.err;
  EXPECT_EQ(Counter(r.err, "snapshot_triggers_over_limit"), 0u) << r.err;
}

// SIGUSR2 snapshots count toward --snapshot-limit: with a limit of 1, a SIGUSR2 in phase_a
// takes the one snapshot and the later hit is counted as over the limit.
TEST_F(SnapshotE2eTest, Sigusr2CountsTowardTheLimit) {
  const std::string file = TempPath("snap-usr2.wick");
  Background wick(WithStderr({kWick, "record", "--overwrite", "-m", "8", "-g", "--snapshot-on",
                              kTrigger, "--snapshot-limit", "1", "-o", file, "--", kPhases,
                              "phases", "400", "100", "100"}));
  const pid_t child = WaitForChild(wick.pid());
  ASSERT_GT(child, 0);
  ASSERT_GE(WaitForCpu(child, 0.2), 0.2);  // in phase_a
  wick.Signal(SIGUSR2);
  const std::string err = ReadRest(wick);
  ASSERT_EQ(wick.Wait(), 0) << err;
  EXPECT_TRUE(Exists(file + ".1")) << err;
  EXPECT_FALSE(Exists(file + ".2")) << err;
  EXPECT_TRUE(absl::StrContains(err, "1 snapshot taken, 1 on SIGUSR2")) << err;
  EXPECT_EQ(Counter(err, "snapshot_triggers_over_limit"), 1u) << err;
  Phases snapshot = Report(file + ".1");
  EXPECT_GT(snapshot.leaf["phase_a"], 50u) << snapshot.total;
  EXPECT_EQ(snapshot.leaf["phase_b"], 0u) << snapshot.total;
}

// Bad input: one line saying what is wrong and what to do, exit status 1 (the library refused)
// or 2 (the command line did), nothing recorded.
TEST_F(SnapshotE2eTest, BadInputIsRefused) {
  const std::string file = TempPath("snap-bad.wick");
  auto record = [&](std::vector<std::string> flags) {
    std::vector<std::string> argv = {kWick, "record", "-o", file};
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.insert(argv.end(), {"--", kPhases, "phases", "0", "0", "0"});
    return RunProgram(argv);
  };
  // Each refused with one line that starts so; 1: the library refused, 2: the command line.
  struct Case {
    std::vector<std::string> flags;
    int exit_code;
    std::string starts;
  };
  const std::vector<std::string> on = {"--overwrite", "--snapshot-on", kTrigger};
  auto with = [&](std::vector<std::string> more) {
    more.insert(more.begin(), on.begin(), on.end());
    return more;
  };
  const Case cases[] = {
      {{"--snapshot-on", kTrigger},
       1,
       "wick record: --snapshot-on " + kTrigger + " needs --overwrite: "},
      {with({"--snapshot-limit", "0"}), 1, "wick record: --snapshot-limit 0: "},
      {with({"--snapshot-limit", "many"}), 2, "wick record: --snapshot-limit 'many': "},
      {with({"--snapshot-gap", "-1"}), 1, "wick record: --snapshot-gap -1: "},
      {with({"--snapshot-gap", "soon"}), 2, "wick record: --snapshot-gap 'soon': "},
      // --off-cpu is refused with --overwrite, whatever fires the snapshots.
      {with({"--off-cpu", "-g"}), 1, "wick record: --off-cpu cannot be combined with --overwrite"},
  };
  for (const Case& c : cases) {
    const RunResult r = record(c.flags);
    EXPECT_EQ(r.exit_code, c.exit_code) << c.starts;
    EXPECT_TRUE(absl::StartsWith(r.err, c.starts)) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }

  // An event that cannot be opened: the same error as -e gives for the same spec, after the
  // option's name (a typo; a kprobe, on a kernel without them such as this one).
  EXPECT_TRUE(absl::StartsWith(record({"-e", "sched:no_such_event"}).err,
                               "wick record: unknown tracepoint 'sched:no_such_event'"));
  for (const std::string spec : {"sched:no_such_event", "kprobe:do_sys_openat2"}) {
    const RunResult as_event = record({"-e", spec});
    if (as_event.exit_code == 0) continue;  // a kernel with kprobes
    ASSERT_EQ(as_event.exit_code, 1) << as_event.err;
    ASSERT_TRUE(absl::StartsWith(as_event.err, "wick record: ")) << as_event.err;
    const RunResult r = record({"--overwrite", "--snapshot-on", spec});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err, absl::StrCat("wick record: --snapshot-on ", spec, ": ",
                                  as_event.err.substr(sizeof("wick record: ") - 1)));
  }
  for (const char* suffix : {"", ".1"}) EXPECT_FALSE(Exists(file + suffix)) << suffix;
}

}  // namespace
}  // namespace wick::testing
