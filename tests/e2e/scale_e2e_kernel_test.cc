// wick at scale, against the real kernel: a process with 2,000 threads (-p opens one event
// per thread and cpu: thousands of file descriptors), and a storm of 5,000 short-lived
// processes (spawn + exec + exit) under -p (children inherit the events) and -a. Each task of
// many_tasks burns a known amount of its own CPU time, so with a sampling period of task
// time every task has samples by construction, on any CPU.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <set>
#include <string>
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
constexpr int kThreads = 2000;
constexpr int kProcesses = 5000;

class ScaleE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RunResult r = RunProgram({kWick, "record", "-o", TempPath("probe.wick"), "--", "/bin/true"});
    if (r.exit_code != 0) WICK_SKIP_OR_FAIL("wick record cannot open perf events here: " + r.err);
  }

  // The value of the summary line "wick record: N DESCRIPTION [name]" (0 when absent).
  static uint64_t Counter(const std::string& err, const std::string& name) {
    for (absl::string_view line : absl::StrSplit(err, '\n')) {
      if (!absl::EndsWith(line, "[" + name + "]")) continue;
      std::vector<std::string> words = absl::StrSplit(line, ' ');
      uint64_t v = 0;
      if (words.size() > 2 && absl::SimpleAtoi(words[2], &v)) return v;
    }
    return 0;
  }

  // pid/tid of a --per-thread root "comm-pid/tid".
  static std::string TaskOf(const std::string& root) { return root.substr(root.rfind('-') + 1); }
};

// The soft RLIMIT_NOFILE starts at 1024 (a common default) while -p needs 2,001 tasks x cpus
// descriptors: wick raises the soft limit to the hard one, as perf does, and samples every
// thread. With the hard limit at 1024, it says which limit stopped it and what to do.
TEST_F(ScaleE2eTest, TwoThousandThreadsGetTheirDescriptorsOrTheLimitIsNamed) {
  rlimit limit{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  const uint64_t needed = uint64_t(kThreads + 1) * uint64_t(cpus);

  Background target({workloads::ManyTasksPath(), "threads", absl::StrCat(kThreads), "3"});
  ASSERT_EQ(target.ReadLine(), "ready");
  const std::string pid = absl::StrCat(target.pid());

  // A hard limit too low: one line naming RLIMIT_NOFILE, the count and the fix.
  RunResult low = RunProgram({"/usr/bin/prlimit", "--nofile=1024:1024", kWick, "record", "-p", pid,
                              "-o", TempPath("threads-low.wick")});
  EXPECT_EQ(low.exit_code, 1) << low.err;
  EXPECT_NE(low.err.find(absl::StrCat("wick record: ", kThreads + 1, " tasks x ", cpus)),
            std::string::npos)
      << low.err;
  EXPECT_NE(low.err.find(absl::StrCat("need ", needed,
                                      " perf event file descriptors, more than "
                                      "RLIMIT_NOFILE allows (1024 open files, hard limit")),
            std::string::npos)
      << low.err;
  RunResult stat_low = RunProgram(
      {"/usr/bin/prlimit", "--nofile=1024:1024", kWick, "stat", "-p", pid, "--duration", "1"});
  EXPECT_EQ(stat_low.exit_code, 1) << stat_low.err;
  EXPECT_NE(stat_low.err.find("more than RLIMIT_NOFILE allows"), std::string::npos) << stat_low.err;

  // Soft 1024, hard as this machine allows (raising a hard limit needs CAP_SYS_RESOURCE).
  const std::string file = TempPath("threads.wick");
  Background wick(WithStderr({"/usr/bin/prlimit", absl::StrCat("--nofile=1024:", limit.rlim_max),
                              kWick, "record", "-p", pid, "-c", "1000000", "-o", file}));
  if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < needed + 200) {
    // This machine's own limit is too low: then wick must say so, not half-open.
    const int code = wick.Wait();
    EXPECT_EQ(code, 1);
    GTEST_SKIP() << "the hard RLIMIT_NOFILE here (" << limit.rlim_max << ") is below " << needed;
  }
  ASSERT_TRUE(WaitForRecording(wick));
  EXPECT_GE(WaitForPerfEvents(wick.pid(), int(needed)), int(needed));
  target.Signal(SIGUSR1);  // each thread now burns 3 ms of its CPU time and exits
  EXPECT_EQ(target.Wait(), 0);
  EXPECT_EQ(wick.Wait(), 0);
  // A period of 1 ms of task time on each cpu: a thread that burns 3 ms runs at least 1.5 ms
  // on one cpu, so every one of them has a sample.
  const Folded p = ReportFolded(kWick, file, {"--per-thread"});
  std::set<std::string> workers;
  for (const FoldedStack& s : p.stacks()) {
    if (absl::StartsWith(s.frames[0], "worker-")) workers.insert(TaskOf(s.frames[0]));
  }
  EXPECT_EQ(workers.size(), size_t(kThreads));
}

// A storm of 5,000 processes. Every sample of their work lands in a process with its name, no
// sample is of an unknown process, and the exited ones are forgotten as the run goes (the
// process table holds the live tasks plus those of the last two seconds, the stack map
// mostly the stacks of live ones).
TEST_F(ScaleE2eTest, AStormOfShortLivedProcessesKeepsNamesAndForgetsTheExited) {
  for (const bool system_wide : {false, true}) {
    SCOPED_TRACE(system_wide ? "-a" : "-p");
    // The storm lingers 3 s after its last child: every child has exited more than a flush
    // interval before the recording ends, however fast this machine runs the storm.
    Background storm({workloads::ManyTasksPath(), "storm", absl::StrCat(kProcesses), "2", "3"});
    ASSERT_EQ(storm.ReadLine(), "ready");
    const std::string file = TempPath("storm.wick");
    std::vector<std::string> argv = {kWick, "record", "-g", "-c", "500000", "-o", file};
    if (system_wide) {
      argv.insert(argv.end(), {"-a"});
    } else {
      argv.insert(argv.end(), {"-p", absl::StrCat(storm.pid())});
    }
    Background wick(WithStderr(argv));
    ASSERT_TRUE(WaitForRecording(wick));
    storm.Signal(SIGUSR1);
    EXPECT_EQ(storm.Wait(), 0);
    if (system_wide) wick.Signal(SIGINT);
    EXPECT_EQ(wick.Wait(), 0);
    // Samples in the children's work, per process (--per-thread roots: many_tasks-PID/TID).
    const Folded p = ReportFolded(kWick, file, {"--per-thread"});
    uint64_t in_children = 0, unnamed = 0;
    std::set<std::string> children;
    for (const FoldedStack& s : p.stacks()) {
      bool child = false;
      for (const std::string& f : s.frames) child = child || f == "storm_child";
      if (!child) continue;
      in_children += s.count;
      if (absl::StartsWith(s.frames[0], "many_tasks-")) {
        children.insert(TaskOf(s.frames[0]));
      } else {
        unnamed += s.count;
      }
    }
    EXPECT_EQ(unnamed, 0u) << "samples of the children's work under another name";
    // Each child burns 2 ms of its own CPU time: 4 samples' worth at 0.5 ms.
    EXPECT_GE(double(in_children), 0.8 * kProcesses * 4);
    if (!system_wide) {
      // Per-task events inherited by each child count its own time: every child has samples.
      EXPECT_EQ(children.size(), size_t(kProcesses));
    } else {
      EXPECT_GE(double(children.size()), 0.9 * kProcesses);
    }
    std::string err;
    {
      RunResult report = RunProgram({kWick, "report", "-i", file, "--top", "1"});
      err = report.err;
    }
    EXPECT_EQ(Counter(err, "samples_unknown_process"), 0u) << err;
    // Exited more than two seconds before the end (the storm lingers): forgotten.
    EXPECT_GE(double(Counter(err, "processes_forgotten")), 0.8 * kProcesses) << err;
    // Their stacks (tens of thousands, written as the run went) left wick's memory too.
    EXPECT_GE(Counter(err, "stack_map_renewals"), 1u) << err;
    rusage ru{};
    getrusage(RUSAGE_CHILDREN, &ru);
    std::printf(
        "%s: %llu samples in the children's work, %zu children sampled, %llu processes "
        "forgotten; largest child's max RSS so far %ld KiB\n",
        system_wide ? "-a" : "-p", static_cast<unsigned long long>(in_children), children.size(),
        static_cast<unsigned long long>(Counter(err, "processes_forgotten")), ru.ru_maxrss);
  }
}

}  // namespace
}  // namespace wick::testing
