// wick record + wick report --folded on the known-answer workload (main -> work -> a 60 %,
// b 30 %, c 10 %), run as a user would: the real program, the real kernel.
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
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

bool PerfUsable(std::string* why) {
  // A tiny recording tells whether this machine lets us open events at all.
  RunResult r = RunProgram({kWick, "record", "-o", TempPath("probe.wick"), "--", "/bin/true"});
  if (r.exit_code != 0) {
    *why = "wick record cannot open perf events here: " + r.err;
    return false;
  }
  return true;
}

class RecordE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!PerfUsable(&why)) WICK_SKIP_OR_FAIL(why);
  }

  Folded Report(const std::string& file) { return ReportFolded(kWick, file); }

  // The known split, within `tolerance` percentage points, and ≥95 % of samples rooted in
  // main (in work for threads, whose stacks start at start_thread).
  void ExpectKnownTree(const Folded& p, double tolerance, bool threads = false) {
    ExpectKnownSplit(KnownTreeSplit(p), tolerance, 200);
    const uint64_t rooted = p.With({threads ? "work" : "main"});
    EXPECT_GE(double(rooted), 0.95 * double(p.total()))
        << rooted << " of " << p.total() << " samples reach " << (threads ? "work" : "main");
  }

  // Runs `wick record ARGS... -o FILE` in the background until `target` has used `cpu_s`
  // more seconds of CPU after wick opened its events (however busy the machine is), then stops
  // it with SIGINT; expects it to end well.
  static void RecordWhileTargetRuns(std::vector<std::string> args, const std::string& file,
                                    pid_t target, double cpu_s) {
    args.insert(args.begin(), {kWick, "record"});
    args.insert(args.end(), {"--duration", "300", "-o", file});
    Background wick(args);
    ASSERT_GT(WaitForPerfEvents(wick.pid(), 1), 0) << "wick opened no event";
    const double start = CpuSeconds(target);
    EXPECT_GE(WaitForCpu(target, start + cpu_s), start + cpu_s) << "the target stopped running";
    wick.Signal(SIGINT);
    EXPECT_EQ(wick.Wait(), 0);
  }

  // At least 80 % of the samples `cpu` seconds at `hz` give (steal time on a busy host can
  // add some: cpu-clock's timer runs while the vCPU is preempted), and at most twice as many.
  static void ExpectSamplesForCpu(uint64_t samples, double cpu, double hz) {
    EXPECT_GT(double(samples), 0.8 * hz * cpu) << cpu << " s of CPU";
    EXPECT_LT(double(samples), 2.0 * hz * cpu) << cpu << " s of CPU";
  }
};

TEST_F(RecordE2eTest, LaunchedCommandGivesKnownSplit) {
  std::string file = TempPath("cmd.wick");
  RunResult r = RunProgram(
      {kWick, "record", "-g", "-F", "999", "-o", file, "--", workloads::KnownTreePath(), "r150"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("samples of cpu-clock"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("lost samples: 0"), std::string::npos) << r.err;
  Folded p = Report(file);
  ExpectKnownTree(p, 5.0);
  // 999 Hz of the CPU time the command measured itself (150 rounds of 10 ms).
  ExpectSamplesForCpu(p.total(), KnownTreeCpu(r.err), 999);
  EXPECT_EQ(p.ByRoot().count("known_tree_fp"), 1u);
}

TEST_F(RecordE2eTest, AttachToRunningProcess) {
  Background target({workloads::KnownTreePath(), "600", "pid"});
  std::string line = target.ReadLine();
  ASSERT_EQ(line, "pid " + std::to_string(target.pid()));
  std::string file = TempPath("pid.wick");
  RecordWhileTargetRuns({"-g", "-p", std::to_string(target.pid())}, file, target.pid(), 0.6);
  ExpectKnownTree(Report(file), 5.0);
}

TEST_F(RecordE2eTest, MultiThreadedTarget) {
  std::string file = TempPath("threads.wick");
  RunResult r = RunProgram({kWick, "record", "-g", "-o", file, "--", workloads::KnownTreePath(),
                            "r100", "threads", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Folded p = Report(file);
  ExpectKnownTree(p, 5.0, /*threads=*/true);
  // Both threads (they name themselves) are sampled, each for its 1 s of CPU.
  std::map<std::string, uint64_t> comms = p.ByRoot();
  ASSERT_EQ(comms.count("tree-worker-0"), 1u);
  ASSERT_EQ(comms.count("tree-worker-1"), 1u);
  EXPECT_GT(comms.at("tree-worker-0"), p.total() * 4 / 10);
  EXPECT_GT(comms.at("tree-worker-1"), p.total() * 4 / 10);
}

TEST_F(RecordE2eTest, ForkingTarget) {
  std::string file = TempPath("fork.wick");
  RunResult r = RunProgram(
      {kWick, "record", "-g", "-o", file, "--", workloads::KnownTreePath(), "r100", "fork"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Folded p = Report(file);
  ExpectKnownTree(p, 5.0);
  // Parent and child both run work() for 1 s of CPU: the child (which renames itself) is
  // recorded too.
  std::map<std::string, uint64_t> comms = p.ByRoot();
  ASSERT_EQ(comms.count("tree-child"), 1u);
  ASSERT_EQ(comms.count("known_tree_fp"), 1u);
  EXPECT_GT(comms.at("tree-child"), p.total() * 4 / 10);
  EXPECT_GT(comms.at("known_tree_fp"), p.total() * 4 / 10);
}

TEST_F(RecordE2eTest, SystemWideSeesTheWorkload) {
  Background target({workloads::KnownTreePath(), "600", "pid"});
  ASSERT_EQ(target.ReadLine(), "pid " + std::to_string(target.pid()));
  std::string file = TempPath("all.wick");
  RecordWhileTargetRuns({"-a", "-g"}, file, target.pid(), 0.6);
  Folded p = Report(file);
  // The workload had 0.6 s of CPU while wick recorded. Its own samples (by pid: other programs of
  // the same name may run) have the known split.
  std::map<std::string, uint64_t> comms = p.ByRoot();
  ASSERT_EQ(comms.count("known_tree_fp"), 1u);
  const Folded target_only = ReportFolded(kWick, file, {"--pid", std::to_string(target.pid())});
  EXPECT_GT(target_only.total(), 200u);
  EXPECT_GE(comms.at("known_tree_fp"), target_only.total());
  ExpectKnownTree(target_only, 5.0);
}

TEST_F(RecordE2eTest, OneThreadWithTid) {
  Background target({workloads::KnownTreePath(), "600", "pid"});
  ASSERT_EQ(target.ReadLine(), "pid " + std::to_string(target.pid()));
  std::string file = TempPath("tid.wick");
  RecordWhileTargetRuns({"-g", "-t", std::to_string(target.pid())}, file, target.pid(), 0.5);
  ExpectKnownTree(Report(file), 6.0);
}

TEST_F(RecordE2eTest, UserOnlyModifierDropsKernelFrames) {
  std::string file = TempPath("user.wick");
  RunResult r = RunProgram({kWick, "record", "-g", "-e", "cpu-clock:u", "-o", file, "--",
                            workloads::KnownTreePath(), "r80"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Folded p = Report(file);
  // Samples in the kernel (a few % of the time: the workload's clock reads) are not taken.
  ExpectSamplesForCpu(p.total(), 0.9 * KnownTreeCpu(r.err), 999);
  for (const FoldedStack& s : p.stacks()) {
    for (const std::string& f : s.frames) EXPECT_FALSE(absl::EndsWith(f, "_[k]")) << f;
  }
}

TEST_F(RecordE2eTest, FrequencyAboveSysctlNamesIt) {
  RunResult r =
      RunProgram({kWick, "record", "-F", "100000000", "-o", TempPath("f.wick"), "--", "/bin/true"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("perf_event_max_sample_rate"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST_F(RecordE2eTest, MissingCommandIsOneClearLine) {
  RunResult r =
      RunProgram({kWick, "record", "-o", TempPath("nocmd.wick"), "--", "/nonexistent/program"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("cannot run '/nonexistent/program'"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST_F(RecordE2eTest, ExitCodeOfCommandPassesThrough) {
  RunResult r =
      RunProgram({kWick, "record", "-o", TempPath("exit.wick"), "--", "/bin/sh", "-c", "exit 7"});
  EXPECT_EQ(r.exit_code, 7) << r.err;
  // A command killed by a signal of its own: 128 + the signal, as a shell says.
  r = RunProgram(
      {kWick, "record", "-o", TempPath("exit.wick"), "--", "/bin/sh", "-c", "kill -USR1 $$"});
  EXPECT_EQ(r.exit_code, 128 + SIGUSR1) << r.err;
}

// `wick record --duration 5 -- server && wick report` works: when wick ends the command, the
// run succeeded, and the summary says the command was ended.
TEST_F(RecordE2eTest, CommandEndedByDurationExitsZero) {
  RunResult r = RunProgram(
      {kWick, "record", "--duration", "0.3", "-o", TempPath("dur.wick"), "--", "/bin/sleep", "30"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("the command was still running when --duration elapsed"), std::string::npos)
      << r.err;
}

// wick's options end at the first word that is not one of them, as perf's do: the command's
// own options (-c, -l) are the command's.
TEST_F(RecordE2eTest, OptionsEndAtTheCommand) {
  const std::string text = TempPath("hundred.txt");
  {
    std::ofstream out(text);
    for (int i = 0; i < 1000; ++i) out << "line " << i << "\n";
  }
  RunResult r = RunProgram(
      {kWick, "record", "-g", "-o", TempPath("head.wick"), "/usr/bin/head", "-c", "100", text});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, ReadFile(text).substr(0, 100));
  // A 100-event period would have made a run this short record thousands of samples.
  EXPECT_NE(r.err.find("samples of cpu-clock"), std::string::npos) << r.err;
  r = RunProgram({kWick, "record", "-o", TempPath("ls.wick"), "/bin/ls", "-ld", "/"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.substr(0, 1), "d") << r.out;
  r = RunProgram({kWick, "record", "-F", "499", "-o", TempPath("sh.wick"), "/bin/sh", "-c",
                  "echo $0-$1", "x", "-e"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "x--e\n");
}

// -o never destroys a file by surprise: a user's own file is refused (unless -f), and a
// previous recording is kept as FILE.old, as perf keeps perf.data.old.
TEST_F(RecordE2eTest, OutputFileIsNeverLostBySurprise) {
  const std::string sql = TempPath("q.sql");
  std::ofstream(sql) << "select 1;\n";
  RunResult r = RunProgram({kWick, "record", "-o", sql, "/bin/true"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("not a wick recording: not overwriting it (use -f"), std::string::npos)
      << r.err;
  EXPECT_EQ(ReadFile(sql), "select 1;\n");
  r = RunProgram({kWick, "record", "-f", "-o", sql, "/bin/true"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFile(sql).substr(0, 7), "WICKREC");

  const std::string file = TempPath("kept.wick");
  unlink(file.c_str());
  unlink((file + ".old").c_str());
  r = RunProgram({kWick, "record", "-o", file, workloads::KnownTreePath(), "r20"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const uint64_t first = Report(file).total();
  ASSERT_GT(first, 0u);
  r = RunProgram({kWick, "record", "-o", file, "/bin/true"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("the previous recording is kept as " + file + ".old"), std::string::npos)
      << r.err;
  EXPECT_EQ(Report(file + ".old").total(), first);
}

// ENOSPC: a 16 KiB tmpfs fills within seconds with a busy two-thread target under -g. wick
// stops, cuts the file back to its last complete chunk, says how many samples it keeps and how
// many the disk lost (kept + lost = every sample), and exits 1; the file reads as a recording
// cut short with exactly the samples it says.
TEST_F(RecordE2eTest, AFullDiskKeepsEveryCompleteChunk) {
  const std::string dir = TempPath("full-disk");
  mkdir(dir.c_str(), 0755);
  if (mount("wick-full", dir.c_str(), "tmpfs", 0, "size=16k") != 0) {
    WICK_SKIP_OR_FAIL("cannot mount a tmpfs (needs root): " + std::string(strerror(errno)));
  }
  struct Unmount {
    std::string dir;
    ~Unmount() { umount2(dir.c_str(), MNT_DETACH); }
  } unmount{dir};
  const std::string file = dir + "/out.wick";
  // Far more CPU than the disk can hold samples of: wick ends it when the disk is full.
  RunResult r = RunProgram({kWick, "record", "-g", "-F", "999", "-o", file, "--",
                            workloads::KnownTreePath(), "r100000", "threads", "2"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("No space left on device"), std::string::npos) << r.err;
  const std::string keeps = " was cut back to its last complete chunk and keeps ";
  const size_t at = r.err.find(keeps);
  ASSERT_NE(at, std::string::npos) << r.err;
  uint64_t kept = 0, lost = 0;
  const std::string rest = r.err.substr(at + keeps.size());
  ASSERT_EQ(std::sscanf(rest.c_str(), "%" SCNu64 " samples (wick report reads it), %" SCNu64, &kept,
                        &lost),
            2)
      << r.err;
  EXPECT_GT(kept, 0u) << r.err;
  // `lost` is whatever the chunk that did not fit held: 0 when it was one without samples (a
  // flush's kernel symbols after its data), which depends on where the 16 KiB ran out. The
  // sum below holds either way.
  // Every line of the summary still came, with the total that includes both.
  EXPECT_NE(r.err.find(absl::StrCat(kept, " of them kept in ", file)), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(absl::StrCat("wick record: ", kept + lost, " samples of cpu-clock")),
            std::string::npos)
      << r.err;
  const Folded p = Report(file);
  EXPECT_EQ(p.total(), kept);
  EXPECT_GE(double(p.With({"work"})), 0.95 * double(p.total()));
  // Nothing of the chunk that did not fit is left in the file: it ends where a chunk ends.
  struct stat st = {};
  ASSERT_EQ(stat(file.c_str(), &st), 0);
  const RunResult report = RunProgram({kWick, "report", "-i", file, "--folded"});
  EXPECT_NE(report.err.find(absl::StrCat("cut short after ", st.st_size, " of ", st.st_size,
                                         " bytes: recovered")),
            std::string::npos)
      << report.err;
}

// A package upgrade under a running program: its file is replaced on disk (mv of a new
// build over it), or deleted, before wick attaches. wick reads the mapped file through
// /proc/PID/map_files (build-id and functions), so the frames are named as before.
TEST_F(RecordE2eTest, AnUpgradedOrDeletedBinaryKeepsItsNames) {
  for (const bool deleted : {false, true}) {
    SCOPED_TRACE(deleted ? "deleted" : "replaced");
    const std::string dir = TempPath(deleted ? "deleted" : "upgraded");
    std::filesystem::create_directories(dir);
    const std::string app = dir + "/app";
    std::filesystem::copy_file(workloads::KnownTreePath(), app,
                               std::filesystem::copy_options::overwrite_existing);
    Background target({app, "r100000"});
    ASSERT_GT(WaitForCpu(target.pid(), 0.2), 0.1);
    if (deleted) {
      ASSERT_EQ(unlink(app.c_str()), 0);
    } else {
      // Another program at the same path: a different build-id and different functions.
      std::filesystem::copy_file(workloads::KnownTreeCcPath(), app + ".new");
      ASSERT_EQ(rename((app + ".new").c_str(), app.c_str()), 0);
    }
    const std::string file = TempPath("upgrade.wick");
    const double cpu = CpuSeconds(target.pid());
    Background wick(
        {kWick, "record", "-g", "-F", "999", "-p", std::to_string(target.pid()), "-o", file});
    WaitForCpu(target.pid(), cpu + 2);
    wick.Signal(SIGINT);
    EXPECT_EQ(wick.Wait(), 0);
    const Folded p = Report(file);
    ExpectKnownTree(p, 3.0);
    EXPECT_EQ(p.WithFrame([](const std::string& f) { return absl::StrContains(f, "app+0x"); }), 0u);
  }
}

// Usage errors: status 2, one line that names the subcommand.
TEST_F(RecordE2eTest, UsageErrorsAreOneLineWithStatusTwo) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"record", "--bogus", "/bin/true"},
                                             {"record", "-F", "abc", "/bin/true"},
                                             {"record", "-p", "1", "-p", "2"},
                                             {"report", "--sort", "foo"},
                                             {"stat", "--bogus", "/bin/true"},
                                             // Values that would mean nothing.
                                             {"record", "-F", "0", "/bin/true"},
                                             {"record", "-c", "0", "/bin/true"},
                                             {"record", "--duration", "0", "/bin/true"},
                                             {"record", "-m", "abc", "/bin/true"},
                                             {"stat", "-I", "0", "/bin/true"},
                                             {"stat", "--duration", "0", "/bin/true"}}) {
    std::vector<std::string> argv = {kWick};
    argv.insert(argv.end(), args.begin(), args.end());
    RunResult r = RunProgram(argv);
    EXPECT_EQ(r.exit_code, 2) << args[1] << ": " << r.err;
    EXPECT_EQ(r.err.rfind("wick " + args[0] + ": ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  RunResult r = RunProgram({kWick, "recrod"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "wick: unknown command 'recrod' (see wick --help)\n");
}

TEST_F(RecordE2eTest, SigintStopsCleanlyAndKeepsEverything) {
  std::string file = TempPath("sigint.wick");
  Background wick({kWick, "record", "-g", "-o", file, "--", workloads::KnownTreePath(), "30"});
  // cpu-clock samples follow the target's CPU time, whatever else the machine is doing: stop
  // once it has run 1 s of its CPU.
  const pid_t target = WaitForChild(wick.pid());
  ASSERT_GT(target, 0) << "wick's command not found";
  double cpu = WaitForCpu(target, 1.0);
  ASSERT_GE(cpu, 1.0) << "the command did not run: the sample check below would mean nothing";
  wick.Signal(SIGINT);
  // wick ended the command (SIGTERM): its status is not the command's, and the run succeeded.
  EXPECT_EQ(wick.Wait(), 0);
  RunResult r = RunProgram({kWick, "report", "-i", file, "--folded"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("incomplete"), std::string::npos) << r.err;
  EXPECT_GT(double(ParseFoldedOrFail(r.out).total()), 0.8 * 999 * cpu) << cpu << " s of CPU";
}

TEST_F(RecordE2eTest, KillNineLosesAtMostTheLastSecond) {
  std::string file = TempPath("kill9.wick");
  Background wick({kWick, "record", "-g", "-o", file, "--", workloads::KnownTreePath(), "30"});
  // Killed once the command has run 3 s of its CPU (however long that takes here).
  pid_t target = WaitForChild(wick.pid());
  ASSERT_GT(target, 0);
  double cpu = WaitForCpu(target, 3.0);
  ASSERT_GE(cpu, 3.0) << "the command ran too little for the check below to mean anything";
  wick.Signal(SIGKILL);
  wick.Wait();
  kill(target, SIGKILL);  // orphaned by wick's death
  RunResult r = RunProgram({kWick, "report", "-i", file, "--folded"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("incomplete"), std::string::npos) << r.err;
  // Flushed at least once a second: all but the last second or so of the target's CPU time
  // (999 samples per CPU second) is in the file.
  const Folded folded = ParseFoldedOrFail(r.out);
  EXPECT_GT(double(folded.total()), 0.8 * 999 * (cpu - 1.3)) << cpu << " s of CPU";
  EXPECT_GT(folded.total(), 0u);
  // Kernel frames keep their names: their symbols go out with each flush (and the last
  // second's come from this boot's kallsyms). The workload's clock reads bring some.
  EXPECT_GT(folded.WithFrame([](const std::string& f) { return absl::EndsWith(f, "_[k]"); }), 0u);
  EXPECT_EQ(folded.WithFrame([](const std::string& f) { return f == "[unknown]_[k]"; }), 0u)
      << r.out;
}

TEST_F(RecordE2eTest, CyclesFallsBackToCpuClockWithNotice) {
  std::string file = TempPath("cycles.wick");
  RunResult r = RunProgram({kWick, "record", "-e", "cycles", "-o", file, "--", "/bin/true"});
  if (access("/sys/bus/event_source/devices/cpu", F_OK) == 0) GTEST_SKIP() << "has a PMU";
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("using cpu-clock"), std::string::npos) << r.err;
}

TEST_F(RecordE2eTest, NonexistentPidIsOneClearLine) {
  // pid_max is at most 4194304: this pid cannot exist.
  RunResult r = RunProgram({kWick, "record", "-p", "4194304", "-o", TempPath("nopid.wick")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no process with pid 4194304"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST_F(RecordE2eTest, UnknownEventSuggestsNearestName) {
  RunResult r =
      RunProgram({kWick, "record", "-e", "cpu-clok", "-o", TempPath("ev.wick"), "--", "/bin/true"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("cpu-clock"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST_F(RecordE2eTest, BadRingSizeIsRefused) {
  RunResult r =
      RunProgram({kWick, "record", "-m", "3", "-o", TempPath("m.wick"), "--", "/bin/true"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("power of two"), std::string::npos) << r.err;
}

TEST_F(RecordE2eTest, MaxStackAboveSysctlNamesIt) {
  std::ifstream in("/proc/sys/kernel/perf_event_max_stack");
  int max_stack = 0;
  in >> max_stack;
  ASSERT_GT(max_stack, 0);
  RunResult r = RunProgram({kWick, "record", "--max-stack", std::to_string(max_stack + 1), "-o",
                            TempPath("ms.wick"), "--", "/bin/true"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("kernel.perf_event_max_stack"), std::string::npos) << r.err;
}

TEST_F(RecordE2eTest, TruncatedRecordingIsReadUpToTheCut) {
  std::string file = TempPath("trunc.wick");
  RunResult rec =
      RunProgram({kWick, "record", "-g", "-o", file, "--", workloads::KnownTreePath(), "r100"});
  ASSERT_EQ(rec.exit_code, 0) << rec.err;
  struct stat st;
  ASSERT_EQ(stat(file.c_str(), &st), 0);
  ASSERT_EQ(truncate(file.c_str(), st.st_size - 5), 0);
  RunResult r = RunProgram({kWick, "report", "-i", file, "--folded"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.err.find("incomplete"), std::string::npos) << r.err;
  EXPECT_GT(ParseFoldedOrFail(r.out).total(), 0u);
}

TEST_F(RecordE2eTest, EmptyAndForeignFilesAreRefusedInOneLine) {
  std::string empty = TempPath("empty.wick");
  std::ofstream(empty).close();
  RunResult r = RunProgram({kWick, "report", "-i", empty, "--folded"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("empty"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;

  r = RunProgram({kWick, "report", "-i", "/bin/true", "--folded"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not a wick recording"), std::string::npos) << r.err;

  r = RunProgram({kWick, "report", "-i", TempPath("does-not-exist.wick"), "--folded"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

}  // namespace
}  // namespace wick::testing
