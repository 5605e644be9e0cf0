// wick record on the known-answer workloads, then every wick report format from the real
// program: the table's order, pprof decoded by protoc, the flame graph's embedded totals,
// inlined frames by default. Shares are the workload's (a 60 %, b 30 %, c 10 % under main -> work).
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
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

uint64_t FoldedTotal(const std::string& text) { return ParseFoldedOrFail(text).total(); }

// The rows of `wick report`'s table: the head ("EVENT: N samples" and the column names), then
// rows "SELF% SELF TOTAL% TOTAL  FUNCTION [MODULE]", then at most one "unsymbolized: ..." line.
// A line of any other shape fails the test.
std::vector<std::string> TableRows(const std::string& out, const std::string& event = "cpu-clock") {
  std::vector<std::string> lines = absl::StrSplit(out, '\n', absl::SkipEmpty());
  std::vector<std::string> rows;
  if (lines.size() < 2) {
    ADD_FAILURE() << "no table";
    return rows;
  }
  EXPECT_TRUE(absl::StartsWith(lines[0], event + ": ") && absl::EndsWith(lines[0], " samples"))
      << lines[0];
  EXPECT_EQ(lines[1], "  Self%      Self  Total%     Total  Function [Module]");
  for (size_t i = 2; i < lines.size(); ++i) {
    if (absl::StartsWith(lines[i], "unsymbolized: ")) {
      EXPECT_EQ(i + 1, lines.size()) << "the unsymbolized line ends the table:\n" << out;
      break;
    }
    std::vector<std::string> cols = absl::StrSplit(lines[i], ' ', absl::SkipEmpty());
    double pct = 0;
    uint64_t n = 0;
    const bool ok = cols.size() >= 5 && absl::EndsWith(cols[0], "%") &&
                    absl::SimpleAtod(absl::StripSuffix(cols[0], "%"), &pct) &&
                    absl::SimpleAtoi(cols[1], &n) && absl::EndsWith(cols[2], "%") &&
                    absl::SimpleAtod(absl::StripSuffix(cols[2], "%"), &pct) &&
                    absl::SimpleAtoi(cols[3], &n);
    if (!ok) {
      ADD_FAILURE() << "not a table row: '" << lines[i] << "'";
      continue;
    }
    rows.push_back(lines[i]);
  }
  return rows;
}

class ReportE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    recording_ = new std::string(TempPath("report_e2e.wick"));
    record_result_ =
        new RunResult(RunProgram({kWick, "record", "-F", "999", "-g", "-o", *recording_, "--",
                                  workloads::KnownTreePath(), "r100"}));
  }
  static void TearDownTestSuite() {
    unlink(recording_->c_str());
    delete recording_;
    delete record_result_;
  }
  void SetUp() override {
    if (record_result_->exit_code != 0) {
      WICK_SKIP_OR_FAIL("wick record cannot open perf events here: " + record_result_->err);
    }
  }

  static std::string* recording_;
  static RunResult* record_result_;
};
std::string* ReportE2eTest::recording_ = nullptr;
RunResult* ReportE2eTest::record_result_ = nullptr;

TEST_F(ReportE2eTest, DefaultTableRanksABC) {
  RunResult r = RunProgram({kWick, "report", "-i", *recording_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> rows = TableRows(r.out);
  ASSERT_GE(rows.size(), 3u) << r.out;
  // The three leaves, by self share, each in the workload's binary.
  EXPECT_TRUE(absl::EndsWith(rows[0], "  a [known_tree_fp]")) << r.out;
  EXPECT_TRUE(absl::EndsWith(rows[1], "  b [known_tree_fp]")) << r.out;
  EXPECT_TRUE(absl::EndsWith(rows[2], "  c [known_tree_fp]")) << r.out;
  EXPECT_LE(rows.size(), 30u);  // --top 30
  // main is on (nearly) every stack.
  bool main_found = false;
  for (const std::string& line : rows) {
    if (!absl::EndsWith(line, "  main [known_tree_fp]")) continue;
    main_found = true;
    double total_pct = 0;
    std::vector<std::string> cols = absl::StrSplit(line, ' ', absl::SkipEmpty());
    ASSERT_TRUE(absl::SimpleAtod(absl::StripSuffix(cols[2], "%"), &total_pct)) << line;
    EXPECT_GE(total_pct, 95.0) << line;
  }
  EXPECT_TRUE(main_found) << r.out;

  r = RunProgram({kWick, "report", "-i", *recording_, "--top", "2", "--sort", "total"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(TableRows(r.out).size(), 2u) << r.out;
  r = RunProgram({kWick, "report", "-i", *recording_, "--sort", "bogus"});
  EXPECT_NE(r.exit_code, 0);
}

TEST_F(ReportE2eTest, AllFormatsInOneRunAgree) {
  const std::string pb = TempPath("report_e2e.pb.gz"), html = TempPath("report_e2e.html");
  RunResult r = RunProgram(
      {kWick, "report", "-i", *recording_, "--folded", "--pprof", pb, "--flamegraph", html});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const uint64_t total = FoldedTotal(r.out);
  ASSERT_GT(total, 200u) << r.out;

  // pprof: protoc decodes it; sample counts add up; the binary's build-id is in hex.
  const std::string txt = TempPath("report_e2e.pb.txt");
  const std::string cmd =
      absl::StrCat("zcat ", pb, " | ", WICK_PROTOC, " --decode=perftools.profiles.Profile -I ",
                   WICK_PROTO_DIR, " profile.proto > ", txt);
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const std::string decoded = ReadFile(txt);
  uint64_t pprof_samples = 0;
  bool in_sample = false, first_value = false;
  for (absl::string_view line : absl::StrSplit(decoded, '\n')) {
    if (line == "sample {") in_sample = first_value = true;
    if (line == "}") in_sample = false;
    uint64_t v = 0;
    if (in_sample && first_value && absl::ConsumePrefix(&line, "  value: ") &&
        absl::SimpleAtoi(line, &v)) {
      pprof_samples += v;
      first_value = false;  // the second value is nanoseconds
    }
  }
  EXPECT_EQ(pprof_samples, total);
  absl::StatusOr<std::string> build_id = workloads::ReadElfBuildId(workloads::KnownTreePath());
  ASSERT_TRUE(build_id.ok());
  EXPECT_NE(decoded.find("string_table: \"" + absl::BytesToHexString(*build_id) + "\""),
            std::string::npos);
  for (const char* name : {"a", "b", "c", "work", "main", "thread", "known_tree_fp"}) {
    EXPECT_NE(decoded.find(absl::StrCat("string_table: \"", name, "\"")), std::string::npos)
        << name;
  }

  // Flame graph: the root ("all", name 0) holds every sample.
  const std::string page = ReadFile(html);
  EXPECT_NE(page.find(absl::StrCat("\"tree\":[0,", total, ",")), std::string::npos);
  EXPECT_NE(page.find("\"work\""), std::string::npos);
  unlink(pb.c_str());
  unlink(html.c_str());
  unlink(txt.c_str());
}

// --minwidth reaches the page's script; a bad value, or one without a flame graph to apply
// to, is a usage error naming the flag.
TEST_F(ReportE2eTest, FlameGraphMinWidth) {
  const std::string html = TempPath("report_e2e_minwidth.html");
  RunResult r =
      RunProgram({kWick, "report", "-i", *recording_, "--flamegraph", html, "--minwidth", "0.5%"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(ReadFile(html).find("const MINW={\"value\":0.5,\"percent\":true};"), std::string::npos);
  r = RunProgram({kWick, "report", "-i", *recording_, "--flamegraph", html, "--minwidth", "-2"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--minwidth"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("minimum width '-2'"), std::string::npos) << r.err;
  r = RunProgram({kWick, "report", "-i", *recording_, "--minwidth", "2"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--flamegraph"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
  unlink(html.c_str());
}

TEST_F(ReportE2eTest, UnwritablePprofPathIsOneClearLine) {
  RunResult r =
      RunProgram({kWick, "report", "-i", *recording_, "--pprof", "/nonexistent-dir/x.pb.gz"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("/nonexistent-dir/x.pb.gz"), std::string::npos) << r.err;
}

// Total share of `function` in the table's rows ("... FUNCTION [MODULE]"); -1 when absent.
double TotalPercent(const std::vector<std::string>& rows, const std::string& function) {
  for (const std::string& row : rows) {
    std::vector<std::string> cols = absl::StrSplit(row, ' ', absl::SkipEmpty());
    if (cols.size() < 5 || cols[4] != function) continue;
    double pct = -1;
    if (!absl::SimpleAtod(absl::StripSuffix(cols[2], "%"), &pct)) ADD_FAILURE() << row;
    return pct;
  }
  return -1;
}

// An -O2 program whose two hot functions are always inlined (2/3 and 1/3 of the time by
// construction): every output shows them by default, as perf does; --no-inline charges them to
// outer.
TEST_F(ReportE2eTest, InlinedFunctionsAreShownByDefault) {
  const std::string file = TempPath("report_e2e_inline.wick");
  const std::string pb = TempPath("report_e2e_inline.pb.gz");
  const std::string html = TempPath("report_e2e_inline.html");
  RunResult rec = RunProgram(
      {kWick, "record", "-F", "999", "-g", "-o", file, "--", workloads::InlinePairPath(), "1"});
  ASSERT_EQ(rec.exit_code, 0) << rec.err;

  RunResult r = RunProgram({kWick, "report", "-i", file, "--top", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> rows = TableRows(r.out);
  const double a = TotalPercent(rows, "hot_a"), b = TotalPercent(rows, "hot_b");
  EXPECT_NEAR(a, 100.0 * 2 / 3, 5.0) << r.out;
  EXPECT_NEAR(b, 100.0 / 3, 5.0) << r.out;
  r = RunProgram({kWick, "report", "-i", file, "--no-inline"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  rows = TableRows(r.out);
  EXPECT_EQ(TotalPercent(rows, "hot_a"), -1) << r.out;
  EXPECT_EQ(TotalPercent(rows, "hot_b"), -1) << r.out;
  EXPECT_GE(TotalPercent(rows, "outer"), 95.0) << r.out;

  const Folded folded = ReportFolded(kWick, file);
  ASSERT_GT(folded.total(), 300u);
  const std::map<std::string, uint64_t> leaf = folded.LeafMost({"hot_a_[i]", "hot_b_[i]"});
  const double total = double(folded.total());
  EXPECT_NEAR(100.0 * double(leaf.count("hot_a_[i]") ? leaf.at("hot_a_[i]") : 0) / total,
              100.0 * 2 / 3, 5.0);
  EXPECT_GE(double(folded.With({"main", "outer", "hot_b_[i]"})), 0.25 * total);
  const Folded plain = ReportFolded(kWick, file, {"--no-inline"});
  EXPECT_EQ(plain.WithFrame([](const std::string& f) { return absl::StrContains(f, "hot_"); }), 0u);
  EXPECT_EQ(plain.total(), folded.total());

  // pprof (its decoded function names) and the flame graph's names, with and without.
  r = RunProgram({kWick, "report", "-i", file, "--pprof", pb, "--flamegraph", html});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(ReadFile(html).find("\"hot_a\""), std::string::npos);
  RunResult gz = RunProgram({"/bin/sh", "-c", "gzip -dc " + pb + " | grep -c -a hot_b"});
  EXPECT_EQ(gz.exit_code, 0) << "pprof has no hot_b";
  r = RunProgram({kWick, "report", "-i", file, "--no-inline", "--pprof", pb, "--flamegraph", html});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFile(html).find("\"hot_a\""), std::string::npos);
  gz = RunProgram({"/bin/sh", "-c", "gzip -dc " + pb + " | grep -c -a hot_b"});
  EXPECT_NE(gz.exit_code, 0) << "--no-inline pprof still has hot_b";

  // diff of the recording with itself: its stacks name them by default, not with --no-inline.
  r = RunProgram({kWick, "diff", file, file, "--folded"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "outer;hot_a_[i] ")) << r.out;
  r = RunProgram({kWick, "diff", file, file, "--folded", "--no-inline"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(absl::StrContains(r.out, "hot_a")) << r.out;
  unlink(file.c_str());
  unlink(pb.c_str());
  unlink(html.c_str());
}

// The samples of the table's head "EVENT: N samples".
uint64_t TableSamples(const std::string& out) {
  const std::string head = out.substr(0, out.find('\n'));
  std::vector<std::string> words = absl::StrSplit(head, ' ');
  uint64_t n = 0;
  EXPECT_TRUE(words.size() == 3 && absl::SimpleAtoi(words[1], &n)) << head;
  return n;
}

// Two events recorded together are two profiles: the report shows the first (and says the
// other is there), --event the other; never their sum.
TEST_F(ReportE2eTest, EventsAreReportedApart) {
  const std::string file = TempPath("report_e2e_two_events.wick");
  RunResult rec = RunProgram({kWick, "record", "-e", "cpu-clock,page-faults", "-g", "-o", file,
                              "--", workloads::KnownTreePath(), "r50"});
  ASSERT_EQ(rec.exit_code, 0) << rec.err;

  RunResult clock = RunProgram({kWick, "report", "-i", file});
  ASSERT_EQ(clock.exit_code, 0) << clock.err;
  const std::vector<std::string> rows = TableRows(clock.out, "cpu-clock");
  ASSERT_GE(rows.size(), 3u) << clock.out;
  EXPECT_TRUE(absl::EndsWith(rows[0], "  a [known_tree_fp]")) << clock.out;
  EXPECT_TRUE(absl::StrContains(clock.err, "also has page-faults")) << clock.err;
  EXPECT_TRUE(absl::StrContains(clock.err, "--event")) << clock.err;

  RunResult faults = RunProgram({kWick, "report", "-i", file, "--event", "page-faults"});
  ASSERT_EQ(faults.exit_code, 0) << faults.err;
  TableRows(faults.out, "page-faults");
  const uint64_t fault_samples = TableSamples(faults.out);
  EXPECT_GT(fault_samples, 0u) << faults.out;
  EXPECT_FALSE(absl::StrContains(faults.err, "also has")) << "--event given: no note\n"
                                                          << faults.err;

  // Folded agrees with the table, and the two profiles add up to all samples recorded.
  const Folded folded = ReportFolded(kWick, file);
  EXPECT_EQ(folded.total(), TableSamples(clock.out));
  EXPECT_EQ(ReportFolded(kWick, file, {"--event", "page-faults"}).total(), fault_samples);
  EXPECT_EQ(ReportFolded(kWick, file, {"--event", "cpu-clock"}).total(), folded.total());
  RunResult summary = RunProgram({kWick, "report", "-i", file, "--folded"});
  EXPECT_TRUE(absl::StrContains(summary.err, "folded stacks: cpu-clock, values in samples"))
      << summary.err;
  EXPECT_TRUE(absl::StrContains(summary.err,
                                absl::StrCat(folded.total() + fault_samples, " samples recorded")))
      << summary.err;

  RunResult unknown = RunProgram({kWick, "report", "-i", file, "--event", "cycles"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_EQ(unknown.out, "");
  EXPECT_TRUE(absl::StrContains(unknown.err, "cpu-clock, page-faults")) << unknown.err;
  EXPECT_EQ(std::count(unknown.err.begin(), unknown.err.end(), '\n'), 1) << unknown.err;
  unlink(file.c_str());
}

}  // namespace
}  // namespace wick::testing
