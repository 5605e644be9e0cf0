// The known-answer workloads judged by perf, a profiler that shares no code with wick. Every
// build variant (frame pointers or not, -O2, no unwind tables, stripped + debuglink, C++,
// inlined) has the CPU split the other tests rely on: 60/30/10 % between its three phases
// within ±3 points, also rebuilt with its functions and loops aligned to 1 and to 64 bytes, so
// the answer does not depend on the microarchitecture or on where the code lies. perf's sample
// count also matches the CPU time the workload reports on stderr, which the end-to-end tests
// derive their expected sample counts from.
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "folded.h"
#include "gtest/gtest.h"
#include "run.h"
#include "testing/testing.h"

namespace wick::testing {
namespace {

const std::string kPerf = "/usr/bin/perf";
const std::string kWorkloads = WICK_WORKLOAD_DIR;

struct Phase {
  std::string function;  // a frame is this function when perf's symbol is it or it + "("
  double percent;
};

struct Variant {
  std::string binary;      // in the workloads' build directory
  std::string call_graph;  // perf record --call-graph
  std::string argument;    // how much work: 1 s of the workload's CPU time
  std::vector<Phase> phases;
};

std::string Name(const ::testing::TestParamInfo<Variant>& info) { return info.param.binary; }

// One sample of `perf script -F comm,tid,ip,sym`: its frames' symbols, leaf first.
using PerfSample = std::vector<std::string>;

// Parses perf script's output strictly: a header line ("COMM TID"), then one indented line
// per frame ("ADDRESS SYMBOL"), then a blank line. Any other line fails the test.
std::vector<PerfSample> ParsePerfScript(const std::string& text) {
  std::vector<PerfSample> samples;
  bool in_sample = false;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.empty()) {
      in_sample = false;
      continue;
    }
    if (line[0] != ' ' && line[0] != '\t') {
      samples.emplace_back();
      in_sample = true;
      continue;
    }
    // After the indent: the address, a space, the symbol (which may hold spaces).
    absl::string_view rest = absl::StripLeadingAsciiWhitespace(line);
    const size_t space = rest.find(' ');
    uint64_t address = 0;
    if (!in_sample || space == absl::string_view::npos ||
        !absl::SimpleHexAtoi(rest.substr(0, space), &address)) {
      ADD_FAILURE() << "not a line of perf script: '" << line << "'";
      return {};
    }
    samples.back().emplace_back(rest.substr(space + 1));
  }
  return samples;
}

bool IsFunction(const std::string& symbol, const std::string& function) {
  return symbol == function || absl::StartsWith(symbol, function + "(");
}

class WorkloadsPerfTest : public ::testing::TestWithParam<Variant> {};

TEST_P(WorkloadsPerfTest, SplitHoldsAsPerfSeesIt) {
  const Variant& v = GetParam();
  const RunResult version = RunProgram({kPerf, "--version"});
  WICK_REQUIRE(version.exit_code == 0, "no perf (apt-get install linux-perf): " + version.err);
  const std::string data = TempPath(v.binary + ".perf.data");
  const RunResult record = RunProgram({kPerf, "record", "-q", "--buildid-mmap", "-e", "cpu-clock",
                                       "-F", "999", "--call-graph", v.call_graph, "-o", data, "--",
                                       kWorkloads + "/" + v.binary, v.argument});
  ASSERT_EQ(record.exit_code, 0) << record.err;
  const RunResult script = RunProgram({kPerf, "script", "-i", data, "-F", "comm,tid,ip,sym"});
  ASSERT_EQ(script.exit_code, 0) << script.err;
  const std::vector<PerfSample> samples = ParsePerfScript(script.out);

  // 999 Hz of the CPU time the workload measured itself (steal time on a busy host may add
  // samples: cpu-clock's timer runs while the vCPU waits).
  const double cpu = KnownTreeCpu(record.err);
  EXPECT_GT(double(samples.size()), 0.8 * 999 * cpu) << cpu << " s of CPU";
  EXPECT_LT(double(samples.size()), 1.5 * 999 * cpu) << cpu << " s of CPU";

  // Each sample counts for the leaf-most phase on its stack.
  std::map<std::string, uint64_t> in_phase;
  uint64_t phases = 0, reach_main = 0;
  for (const PerfSample& frames : samples) {
    bool counted = false;
    for (const std::string& symbol : frames) {
      if (symbol == "main") ++reach_main;
      for (const Phase& p : v.phases) {
        if (counted || !IsFunction(symbol, p.function)) continue;
        ++in_phase[p.function];
        ++phases;
        counted = true;
      }
    }
  }
  std::string shares;
  for (const Phase& p : v.phases) {
    absl::StrAppend(&shares, " ", p.function, "=",
                    absl::StrFormat("%.1f", 100.0 * double(in_phase[p.function]) / phases));
  }
  std::printf("%s: %zu samples, %.3f s CPU, phases%s\n", v.binary.c_str(), samples.size(), cpu,
              shares.c_str());
  ASSERT_GT(phases, 500u);
  // Start-up, calibration and exit: a few samples outside the phases.
  EXPECT_GE(double(phases), 0.95 * double(samples.size()));
  EXPECT_GE(double(reach_main), 0.95 * double(samples.size())) << "perf's unwinding";
  for (const Phase& p : v.phases) {
    EXPECT_NEAR(100.0 * double(in_phase[p.function]) / double(phases), p.percent, 3.0)
        << p.function << ":" << shares;
  }
}

std::vector<Variant> Variants() {
  const std::vector<Phase> abc = {{"a", 60}, {"b", 30}, {"c", 10}};
  const std::vector<Phase> burn = {{"wick_workload::Burn<6>", 60},
                                   {"wick_workload::Burn<3>", 30},
                                   {"wick_workload::Burn<1>", 10}};
  std::vector<Variant> out;
  for (const std::string align : {"", "_align1", "_align64"}) {
    out.push_back({"known_tree_fp" + align, "fp", "r100", abc});
    out.push_back({"known_tree_fp_noeh" + align, "fp", "r100", abc});
    out.push_back({"known_tree_nofp" + align, "dwarf", "r100", abc});
    out.push_back({"known_tree_o2_nofp" + align, "dwarf", "r100", abc});
    out.push_back({"known_tree_cc_fp" + align, "fp", "r100", burn});
  }
  // known_tree_fp without symbols of its own: perf finds them through .gnu_debuglink.
  out.push_back({"known_tree_stripped", "fp", "r100", abc});
  // burn() is inlined into outer(): all the time is in outer's frame.
  out.push_back({"known_tree_inline", "fp", "1", {{"outer", 100}}});
  return out;
}

INSTANTIATE_TEST_SUITE_P(Variants, WorkloadsPerfTest, ::testing::ValuesIn(Variants()), Name);

}  // namespace
}  // namespace wick::testing
