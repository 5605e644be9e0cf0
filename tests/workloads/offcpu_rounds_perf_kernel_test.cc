// offcpu_rounds' own measurement judged by perf, which shares no code with wick: perf records
// sched:sched_switch system-wide (filtered to the workload's main thread by name) with the
// kernel's callchain; each switch-out of the main thread is paired with its next switch-in, and
// the time between is charged to what the kernel stack says the thread waited in (nanosleep, a
// pipe read, a futex, a direct read) and to the state it left the CPU in. Those times must match
// the parts' times the workload printed (within 5 points of its wall time), the time between
// switch-in and switch-out its CPU time from /proc (within 10 %), and the disk mode must really
// wait in state D on this machine. The off-CPU end-to-end tests rely on all three.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "run.h"
#include "testing/testing.h"

namespace wick::testing {
namespace {

const std::string kPerf = "/usr/bin/perf";
const std::string kWorkloads = WICK_WORKLOAD_DIR;

// One sched_switch as perf script -F tid,time,trace,ip,sym prints it.
struct Switch {
  double time = 0;
  std::string prev_pid, next_pid, prev_state;
  std::vector<std::string> kernel;  // the kernel callchain's symbols, leaf first
};

// The value of `key=` in a sched_switch's trace text (comms may hold spaces: found by key).
std::string TraceField(absl::string_view trace, absl::string_view key) {
  const size_t at = trace.find(absl::StrCat(" ", key, "="));
  if (at == absl::string_view::npos) return "";
  absl::string_view rest = trace.substr(at + key.size() + 2);
  return std::string(rest.substr(0, rest.find(' ')));
}

std::vector<Switch> ParseSwitches(const std::string& text) {
  std::vector<Switch> out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.empty()) continue;
    if (line[0] == '\t') {
      // "\t ADDRESS SYMBOL": kernel addresses have the top bit set.
      absl::string_view rest = absl::StripLeadingAsciiWhitespace(line);
      const size_t space = rest.find(' ');
      uint64_t address = 0;
      if (out.empty() || space == absl::string_view::npos ||
          !absl::SimpleHexAtoi(rest.substr(0, space), &address)) {
        ADD_FAILURE() << "not a callchain line of perf script: '" << line << "'";
        return {};
      }
      if (address >> 63) out.back().kernel.emplace_back(rest.substr(space + 1));
      continue;
    }
    // "TID SECONDS.MICROS: prev_comm=... prev_pid=... prev_state=S ==> next_comm=... next_pid=..."
    std::vector<absl::string_view> w =
        absl::StrSplit(absl::StripLeadingAsciiWhitespace(line), absl::MaxSplits(' ', 2));
    Switch s;
    if (w.size() != 3 || !absl::ConsumeSuffix(&w[1], ":") || !absl::SimpleAtod(w[1], &s.time)) {
      ADD_FAILURE() << "not a sched_switch line of perf script: '" << line << "'";
      return {};
    }
    const std::string trace = absl::StrCat(" ", w[2]);
    s.prev_pid = TraceField(trace, "prev_pid");
    s.next_pid = TraceField(trace, "next_pid");
    s.prev_state = TraceField(trace, "prev_state");
    out.push_back(std::move(s));
  }
  return out;
}

// What the main thread did, as perf saw it: seconds off the CPU per "REASON WAIT" (WAIT: the
// first of `waits` found in the switch-out's kernel stack, else "other"), and seconds on it.
struct Judged {
  std::map<std::string, double> off;
  double on = 0;
  double Off(const std::string& key) const { return off.count(key) ? off.at(key) : 0; }
};

Judged Judge(const std::vector<Switch>& switches, const std::string& tid,
             const std::vector<std::string>& waits) {
  Judged j;
  double out_at = -1, in_at = -1;
  std::string key;
  for (const Switch& s : switches) {
    if (s.next_pid == tid) {
      if (out_at >= 0) j.off[key] += s.time - out_at;
      out_at = -1;
      in_at = s.time;
    }
    if (s.prev_pid == tid) {
      if (in_at >= 0) j.on += s.time - in_at;
      in_at = -1;
      out_at = s.time;
      std::string wait = "other";
      for (const std::string& frame : s.kernel) {
        for (const std::string& w : waits) {
          if (wait == "other" && absl::StrContains(frame, w)) wait = w;
        }
      }
      // "R+" (preempted) and "R" are both runnable.
      key = absl::StrCat(s.prev_state.substr(0, 1), " ", wait);
    }
  }
  return j;
}

struct Case {
  std::string name;
  std::string binary;
  std::vector<std::string> args;
  std::vector<std::string> waits;  // kernel functions that tell the waits apart
  // Part of the workload -> the "STATE WAIT" its time must be off the CPU in.
  std::map<std::string, std::string> parts;
};

std::string Name(const ::testing::TestParamInfo<Case>& info) { return info.param.name; }

class OffCpuRoundsPerfTest : public ::testing::TestWithParam<Case> {};

TEST_P(OffCpuRoundsPerfTest, PartsHoldAsPerfSeesThem) {
  const Case& c = GetParam();
  const RunResult version = RunProgram({kPerf, "--version"});
  WICK_REQUIRE(version.exit_code == 0, "no perf (apt-get install linux-perf): " + version.err);
  const std::string data = TempPath(c.name + ".perf.data");
  // The kernel keeps at most 15 characters of a comm.
  const std::string comm = c.binary.substr(0, 15);
  std::vector<std::string> argv = {
      kPerf,
      "record",
      "-q",
      "-a",
      "-e",
      "sched:sched_switch",
      "--filter",
      absl::StrCat("prev_comm == \"", comm, "\" || next_comm == \"", comm, "\""),
      "-g",
      "-o",
      data,
      "--",
      kWorkloads + "/" + c.binary};
  argv.insert(argv.end(), c.args.begin(), c.args.end());
  argv.push_back("dir");
  argv.push_back(TempPath(""));
  const RunResult record = RunProgram(argv);
  ASSERT_EQ(record.exit_code, 0) << record.err;
  const RunResult script = RunProgram({kPerf, "script", "-i", data, "-F", "tid,time,trace,ip,sym"});
  ASSERT_EQ(script.exit_code, 0) << script.err;

  // The workload's line: "offcpu_rounds: KEY VALUE ...".
  std::map<std::string, std::string> truth;
  for (absl::string_view line : absl::StrSplit(record.err, '\n')) {
    if (!absl::ConsumePrefix(&line, "offcpu_rounds: ")) continue;
    std::vector<std::string> w = absl::StrSplit(line, ' ');
    for (size_t i = 0; i + 1 < w.size(); i += 2) truth[w[i]] = w[i + 1];
  }
  const auto get = [&truth](const std::string& key) {
    double v = -1;
    EXPECT_TRUE(truth.count(key) && absl::SimpleAtod(truth[key], &v)) << "no " << key;
    return v;
  };
  if (truth.count("direct") && truth["direct"] == "0" && c.parts.count("disk_part")) {
    GTEST_SKIP() << "the filesystem of " << TempPath("") << " refuses O_DIRECT";
  }
  const double wall_s = get("wall_us") / 1e6;
  ASSERT_GT(wall_s, 0) << record.err;

  const Judged j = Judge(ParseSwitches(script.out), truth["tid"], c.waits);
  std::string seen;
  for (const auto& [key, s] : j.off) absl::StrAppend(&seen, " [", key, "] ", s, " s");
  std::printf("%s: wall %.3f s, on-CPU %.3f s, off:%s\n", c.name.c_str(), wall_s, j.on,
              seen.c_str());
  for (const auto& [part, key] : c.parts) {
    EXPECT_NEAR(100 * j.Off(key) / wall_s, 100 * get(part) / 1e6 / wall_s, 5.0)
        << part << " off the CPU in [" << key << "]; perf saw" << seen;
  }
  const double cpu_s = get("stat_cpu_us") / 1e6;
  EXPECT_NEAR(j.on, cpu_s, 0.10 * cpu_s) << "on-CPU time between switch-in and switch-out";
}

std::vector<Case> Cases() {
  return {
      {"rounds_nofp",
       "offcpu_rounds_nofp",
       {"rounds", "r300"},
       {"nanosleep", "pipe_read"},
       {{"sleep_part", "S nanosleep"}, {"pipe_part", "S pipe_read"}}},
      {"rounds_fp_raw",
       "offcpu_rounds_fp",
       {"rounds", "r300", "raw"},
       {"nanosleep", "pipe_read"},
       {{"sleep_part", "S nanosleep"}, {"pipe_part", "S pipe_read"}}},
      {"mutex_nofp",
       "offcpu_rounds_nofp",
       {"mutex", "r400"},
       {"futex", "pipe_read"},
       {{"mutex_part", "S futex"}}},
      // The reads wait for the device uninterruptibly (D); the file's setup (write, fsync) is
      // outside disk_part, and its fsync waits are under do_fsync, not pread.
      {"disk_nofp", "offcpu_rounds_nofp", {"disk", "r200"}, {"pread"}, {{"disk_part", "D pread"}}},
  };
}

INSTANTIATE_TEST_SUITE_P(Modes, OffCpuRoundsPerfTest, ::testing::ValuesIn(Cases()), Name);

}  // namespace
}  // namespace wick::testing
