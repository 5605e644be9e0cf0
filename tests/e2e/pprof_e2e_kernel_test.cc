// wick report --pprof read back by a real client: Go's own pprof (`go tool pprof`, Debian's
// golang-go), which shares no code with wick or libprotobuf. The known-answer workload
// (main -> work -> a 60 %, b 30 %, c 10 %) must come out of pprof's -top with that split,
// the sample count of wick's folded output, the thread label and source lines.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
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
const std::string kGo = WICK_GO;

struct TopRow {
  double flat = 0;
  double cum_percent = 0;
  std::string location;  // "file:line" with -lines, else ""
};

// Parses `go tool pprof -top` rows ("flat flat% sum% cum cum% name [location]"), keyed by
// name; with -lines a function may have several rows (its flat values are summed, the first
// row's location is kept).
// 1-based number of the first line of the file at `path` containing `text`, 0 if none.
int LineContaining(const std::string& path, const std::string& text) {
  std::ifstream in(path);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.find(text) != std::string::npos) return n;
  }
  return 0;
}

std::map<std::string, TopRow> ParseTop(const std::string& text) {
  std::map<std::string, TopRow> rows;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (f.size() < 6 || !absl::EndsWith(f[1], "%") || !absl::EndsWith(f[4], "%")) continue;
    double flat = 0, cum_percent = 0;
    if (!absl::SimpleAtod(f[0], &flat)) continue;
    if (!absl::SimpleAtod(absl::StripSuffix(f[4], "%"), &cum_percent)) continue;
    TopRow& row = rows[std::string(f[5])];
    if (row.location.empty() && f.size() > 6) row.location = std::string(f[6]);
    row.flat += flat;
    row.cum_percent = std::max(row.cum_percent, cum_percent);
  }
  return rows;
}

class PprofE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(kGo.c_str(), X_OK) != 0) {
      WICK_SKIP_OR_FAIL(kGo + " not found (apt-get install golang-go)");
    }
    RunResult probe =
        RunProgram({kWick, "record", "-o", TempPath("probe.wick"), "--", "/bin/true"});
    if (probe.exit_code != 0) WICK_SKIP_OR_FAIL("cannot open perf events: " + probe.err);
    home_ = TempPath("gohome");
    mkdir(home_.c_str(), 0755);
  }

  // `go tool pprof ARGS...` with a private HOME and caches and no module downloads: a local
  // profile needs no network.
  RunResult Pprof(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"/usr/bin/env",
                                     "HOME=" + home_,
                                     "GOCACHE=" + home_ + "/cache",
                                     "GOPATH=" + home_ + "/gopath",
                                     "GOPROXY=off",
                                     "GOFLAGS=",
                                     "PPROF_TMPDIR=" + home_,
                                     kGo,
                                     "tool",
                                     "pprof"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProgram(argv);
  }

  std::string home_;
};

TEST_F(PprofE2eTest, GoToolPprofReadsTheKnownSplit) {
  const std::string rec = TempPath("pprof.wick");
  RunResult r = RunProgram(
      {kWick, "record", "-g", "-F", "999", "-o", rec, "--", workloads::KnownTreePath(), "r200"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const double target_cpu = KnownTreeCpu(r.err);
  const std::string pb = TempPath("known_tree.pb.gz");
  r = RunProgram({kWick, "report", "-i", rec, "--pprof", pb});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  // wick's own count of samples, from the folded output: 999 Hz of the 2 s of CPU the
  // command measured itself.
  const uint64_t folded_total = ReportFolded(kWick, rec).total();
  ASSERT_GT(double(folded_total), 0.8 * 999 * target_cpu);

  // Sample counts: the split of a, b and c, main and work on (nearly) every stack.
  RunResult top = Pprof({"-top", "-nodecount=20", "-sample_index=samples", pb});
  ASSERT_EQ(top.exit_code, 0) << top.err << top.out;
  EXPECT_NE(top.out.find("Type: samples"), std::string::npos) << top.out;
  // The main mapping with its build-id, as pprof prints it.
  absl::StatusOr<std::string> build_id = workloads::ReadElfBuildId(workloads::KnownTreePath());
  ASSERT_TRUE(build_id.ok()) << build_id.status();
  EXPECT_NE(top.out.find("File: known_tree_fp\nBuild ID: " + absl::BytesToHexString(*build_id)),
            std::string::npos)
      << top.out;
  EXPECT_NE(top.out.find("Total samples = " + std::to_string(folded_total) + " "),
            std::string::npos)
      << "wick's folded output has " << folded_total << " samples\n"
      << top.out;
  std::map<std::string, TopRow> rows = ParseTop(top.out);
  for (const char* name : {"a", "b", "c", "main", "work"}) {
    ASSERT_EQ(rows.count(name), 1u) << name << " missing from go tool pprof -top:\n" << top.out;
  }
  const double sum = rows["a"].flat + rows["b"].flat + rows["c"].flat;
  ASSERT_GT(sum, 0.9 * double(folded_total)) << top.out;
  EXPECT_NEAR(100.0 * rows["a"].flat / sum, 60.0, 5.0) << top.out;
  EXPECT_NEAR(100.0 * rows["b"].flat / sum, 30.0, 5.0) << top.out;
  EXPECT_NEAR(100.0 * rows["c"].flat / sum, 10.0, 5.0) << top.out;
  EXPECT_GE(rows["main"].cum_percent, 95.0) << top.out;
  EXPECT_GE(rows["work"].cum_percent, 95.0) << top.out;
  EXPECT_EQ(rows["main"].flat, 0) << top.out;

  // The default sample type of a clock event is CPU time, in nanoseconds.
  RunResult cpu = Pprof({"-top", "-nodecount=5", pb});
  ASSERT_EQ(cpu.exit_code, 0) << cpu.err;
  EXPECT_NE(cpu.out.find("Type: cpu"), std::string::npos) << cpu.out;

  // Source lines: a()'s flat samples sit on its loop (the line of the macro that writes it),
  // and work()'s frames on its call of a() (numbers found in the source that pprof names, so edits
  // to it cannot break this).
  RunResult lines = Pprof({"-top", "-lines", "-nodecount=40", "-sample_index=samples", pb});
  ASSERT_EQ(lines.exit_code, 0) << lines.err;
  const size_t a_row = lines.out.find(" a /");
  ASSERT_NE(a_row, std::string::npos) << lines.out;
  const size_t colon = lines.out.find(':', a_row);
  const std::string source = lines.out.substr(a_row + 3, colon - a_row - 3);
  EXPECT_TRUE(absl::EndsWith(source, "tests/workloads/known_tree.c")) << source;
  const int loop = LineContaining(source, "KNOWN_TREE_PHASE(sink_a,");
  const int call = LineContaining(source, " a(until_a,");
  ASSERT_GT(loop, 0) << source;
  ASSERT_GT(call, 0) << source;
  EXPECT_NE(lines.out.find(absl::StrCat(" a ", source, ":", loop, "\n")), std::string::npos)
      << lines.out;
  EXPECT_NE(lines.out.find(absl::StrCat(" work ", source, ":", call, "\n")), std::string::npos)
      << lines.out;

  // The thread label and the stacks' order (leaf first): a under work under main.
  RunResult traces = Pprof({"-traces", pb});
  ASSERT_EQ(traces.exit_code, 0) << traces.err;
  EXPECT_NE(traces.out.find("thread:  known_tree_fp"), std::string::npos) << traces.out;
  EXPECT_NE(traces.out.find("   a\n             work\n             main\n"), std::string::npos)
      << traces.out.substr(0, 2000);
}

// pprof's strings must be UTF-8: a thread named by a file name that is not (any byte but '/'
// and NUL) reaches go tool pprof as U+FFFD for the bad byte, and UTF-8 names as they are.
TEST_F(PprofE2eTest, ThreadNamesThatAreNotUtf8) {
  const std::string dir = TempPath("pprof-names");
  mkdir(dir.c_str(), 0755);
  const std::string name = "q\xff\xc5\xbe\"x";  // a stray byte, then "ž" and a quote
  const std::string program = dir + "/" + name;
  std::filesystem::copy_file(workloads::KnownTreePath(), program,
                             std::filesystem::copy_options::overwrite_existing);
  const std::string rec = TempPath("pprof-names.wick");
  RunResult r = RunProgram({kWick, "record", "-g", "-o", rec, "--", program, "r20"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string pb = TempPath("pprof-names.pb.gz");
  r = RunProgram({kWick, "report", "-i", rec, "--pprof", pb});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "were not UTF-8")) << r.err;
  RunResult traces = Pprof({"-traces", pb});
  ASSERT_EQ(traces.exit_code, 0) << traces.err;
  EXPECT_TRUE(absl::StrContains(traces.out, "thread:  q\xef\xbf\xbd\xc5\xbe\"x\n"))
      << traces.out.substr(0, 1000);
}

}  // namespace
}  // namespace wick::testing
