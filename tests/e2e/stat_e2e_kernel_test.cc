// wick stat on the real kernel: counts, intervals, JSON, targets and errors.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "folded.h"
#include "run.h"
#include "testing/testing.h"
#include "workloads.h"

namespace wick::testing {
namespace {

const std::string kWick = WICK_BINARY;

// Value of `event` from --json output lines (the last one that names it).
double JsonValue(const std::string& out, const std::string& event) {
  double v = -1;
  for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    if (!absl::StrContains(line, "\"event\":\"" + event + "\"")) continue;
    size_t at = line.find("\"value\":");
    if (at == absl::string_view::npos) continue;
    absl::string_view rest = line.substr(at + 8);
    rest = rest.substr(0, rest.find(','));
    EXPECT_TRUE(absl::SimpleAtod(rest, &v)) << line;
  }
  return v;
}

class StatE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RunResult r = RunProgram({kWick, "stat", "-e", "task-clock", "--", "/bin/true"});
    if (r.exit_code != 0) WICK_SKIP_OR_FAIL("wick stat cannot open perf events here: " + r.err);
  }
};

TEST_F(StatE2eTest, CountsACommandAndPassesItsExitCode) {
  RunResult r = RunProgram({kWick, "stat", "-e", "task-clock,page-faults", "--json", "--",
                            workloads::KnownTreePath(), "r25"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  double task_clock = JsonValue(r.out, "task-clock");
  // The CPU time the command measured itself (25 rounds of 10 ms), however busy the machine:
  // task-clock counts it from exec, rusage from fork, both to the nanosecond.
  const double cpu = KnownTreeCpu(r.err);
  EXPECT_GT(cpu, 0.2);
  EXPECT_NEAR(task_clock, cpu * 1e9, 0.1 * cpu * 1e9 + 10e6);
  EXPECT_GT(JsonValue(r.out, "page-faults"), 10);

  r = RunProgram({kWick, "stat", "--", "/bin/sh", "-c", "exit 5"});
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "context-switches")) << r.err;
  // Without "--": stat's options end at the command's first word.
  r = RunProgram({kWick, "stat", "-e", "task-clock", "/bin/sh", "-c", "exit 6"});
  EXPECT_EQ(r.exit_code, 6) << r.err;
  // A command that wick ends (--duration): the count succeeded.
  r = RunProgram({kWick, "stat", "--duration", "0.3", "--", "/bin/sleep", "30"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "the command was still running")) << r.err;
}

TEST_F(StatE2eTest, ChildrenAreCounted) {
  // The shell only forks and waits: all the CPU time is its child's.
  RunResult r = RunProgram({kWick, "stat", "-e", "task-clock", "--json", "--", "/bin/sh", "-c",
                            workloads::KnownTreePath() + " r25; true"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_GT(JsonValue(r.out, "task-clock"), 0.9 * KnownTreeCpu(r.err) * 1e9);
}

TEST_F(StatE2eTest, IntervalsAndAttach) {
  Background target({workloads::KnownTreePath(), "3", "pid"});
  ASSERT_EQ(target.ReadLine(), "pid " + std::to_string(target.pid()));
  RunResult r = RunProgram({kWick, "stat", "-e", "task-clock", "-p", std::to_string(target.pid()),
                            "-I", "200", "--duration", "1", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  int intervals = 0;
  for (absl::string_view line : absl::StrSplit(r.out, '\n', absl::SkipEmpty())) {
    if (absl::StrContains(line, "\"interval\":")) ++intervals;
  }
  EXPECT_GE(intervals, 3);
  EXPECT_LE(intervals, 6);
  EXPECT_GT(JsonValue(r.out, "task-clock"), 0.05e9);
}

TEST_F(StatE2eTest, SystemWide) {
  RunResult r = RunProgram({kWick, "stat", "-a", "-e", "cpu-clock", "--duration", "0.5", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Every CPU's clock runs for the whole half second.
  EXPECT_GT(JsonValue(r.out, "cpu-clock"), 0.4e9 * double(sysconf(_SC_NPROCESSORS_ONLN)));
}

TEST_F(StatE2eTest, ErrorsAreOneLine) {
  RunResult r = RunProgram({kWick, "stat", "-e", "task-clok", "--", "/bin/true"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(r.err, "task-clock")) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  r = RunProgram({kWick, "stat", "-p", "4194304"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(r.err, "no process with pid 4194304")) << r.err;
}

}  // namespace
}  // namespace wick::testing
