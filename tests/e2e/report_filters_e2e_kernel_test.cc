// wick report's thread options and wick diff on real recordings of the known-answer workload:
// `known_tree_fp r100 threads 2` gives two worker threads doing the same work, so
// --per-thread shows two thread roots of one process, --tid keeps one, --comm and --pid select
// as they should; --callers/--callees name work's neighbours; `wick diff` of the 6:3:1 split
// against a 1:3:6 split says a shrank and c grew, by about 50 points each.
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
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

// Folded output: samples per root (the first frame of each line).
std::map<std::string, uint64_t> Roots(const std::string& folded) {
  return ParseFoldedOrFail(folded).ByRoot();
}

// "tree-worker-0-123/125" -> {123, 125}.
std::pair<uint32_t, uint32_t> PidTid(const std::string& root) {
  const size_t dash = root.rfind('-'), slash = root.rfind('/');
  uint32_t pid = 0, tid = 0;
  EXPECT_TRUE(dash != std::string::npos && slash != std::string::npos && dash < slash) << root;
  EXPECT_TRUE(absl::SimpleAtoi(root.substr(dash + 1, slash - dash - 1), &pid)) << root;
  EXPECT_TRUE(absl::SimpleAtoi(root.substr(slash + 1), &tid)) << root;
  return {pid, tid};
}

class ReportFiltersE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    threads_ = new std::string(TempPath("filters_threads.wick"));
    base_ = new std::string(TempPath("filters_base.wick"));
    new_ = new std::string(TempPath("filters_new.wick"));
    const std::string tree = workloads::KnownTreePath();
    results_ = new std::vector<RunResult>{
        RunProgram({kWick, "record", "-F", "999", "-g", "-o", *threads_, "--", tree, "r100",
                    "threads", "2"}),
        RunProgram({kWick, "record", "-F", "999", "-g", "-o", *base_, "--", tree, "r60"}),
        RunProgram({kWick, "record", "-F", "999", "-g", "-o", *new_, "--", tree, "r60", "split",
                    "1", "3", "6"}),
    };
  }
  static void TearDownTestSuite() {
    for (const std::string* p : {threads_, base_, new_}) {
      unlink(p->c_str());
      delete p;
    }
    delete results_;
  }
  void SetUp() override {
    for (const RunResult& r : *results_) {
      if (r.exit_code != 0) WICK_SKIP_OR_FAIL("wick record cannot open perf events here: " + r.err);
    }
  }

  static RunResult Report(std::vector<std::string> args) {
    std::vector<std::string> argv = {kWick, "report", "-i", *threads_};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProgram(argv);
  }

  // The per-thread roots of the two workers ("tree-worker-N-PID/TID" -> samples).
  static std::map<std::string, uint64_t> WorkerRoots() {
    RunResult r = Report({"--folded", "--per-thread"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::map<std::string, uint64_t> workers;
    for (const auto& [root, n] : Roots(r.out)) {
      if (absl::StartsWith(root, "tree-worker-")) workers[root] = n;
    }
    return workers;
  }

  static std::string* threads_;
  static std::string* base_;
  static std::string* new_;
  static std::vector<RunResult>* results_;
};
std::string* ReportFiltersE2eTest::threads_ = nullptr;
std::string* ReportFiltersE2eTest::base_ = nullptr;
std::string* ReportFiltersE2eTest::new_ = nullptr;
std::vector<RunResult>* ReportFiltersE2eTest::results_ = nullptr;

TEST_F(ReportFiltersE2eTest, PerThreadShowsTwoWorkerRootsOfOneProcess) {
  RunResult all = Report({"--folded"});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  const uint64_t total = ParseFoldedOrFail(all.out).total();
  ASSERT_GT(total, 200u) << all.out;

  const std::map<std::string, uint64_t> workers = WorkerRoots();
  ASSERT_EQ(workers.size(), 2u) << "one root per worker thread";
  auto it = workers.begin();
  const std::string w0 = it->first, w1 = (++it)->first;
  EXPECT_TRUE(absl::StartsWith(w0, "tree-worker-0-")) << w0;
  EXPECT_TRUE(absl::StartsWith(w1, "tree-worker-1-")) << w1;
  const auto [pid0, tid0] = PidTid(w0);
  const auto [pid1, tid1] = PidTid(w1);
  EXPECT_EQ(pid0, pid1) << "threads of one process";
  EXPECT_NE(tid0, tid1);
  EXPECT_NE(tid0, pid0) << "workers are not the main thread";
  // Same work in each: each worker has a good part of the samples, and they add up to
  // (nearly) all of them (the main thread mostly waits in pthread_join).
  for (const auto& [root, n] : workers) EXPECT_GT(n, total / 5) << root;
  EXPECT_GT(workers.at(w0) + workers.at(w1), total * 9 / 10);
}

TEST_F(ReportFiltersE2eTest, TidPidAndCommFiltersSelectThreads) {
  const std::map<std::string, uint64_t> workers = WorkerRoots();
  ASSERT_EQ(workers.size(), 2u);
  const std::string w0 = workers.begin()->first;
  const auto [pid, tid0] = PidTid(w0);

  // --tid keeps one worker: its root, with exactly that worker's samples, and nothing of
  // other threads (a sample taken before the thread named itself may keep the old comm).
  RunResult one = Report({"--folded", "--per-thread", "--tid", std::to_string(tid0)});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  const std::map<std::string, uint64_t> one_roots = Roots(one.out);
  ASSERT_EQ(one_roots.count(w0), 1u) << one.out;
  EXPECT_EQ(one_roots.at(w0), workers.at(w0));
  const std::string thread_suffix = "-" + std::to_string(pid) + "/" + std::to_string(tid0);
  uint64_t tid_total = 0;  // every sample of the thread, under whichever name it had
  for (const auto& [root, n] : one_roots) {
    tid_total += n;
    EXPECT_TRUE(absl::EndsWith(root, thread_suffix)) << root;
    if (root != w0) {
      EXPECT_LE(n, 5u) << root;
    }
  }

  // The same thread by name (comm roots, no per-thread split).
  RunResult by_comm = Report({"--folded", "--comm", "tree-worker-0"});
  ASSERT_EQ(by_comm.exit_code, 0) << by_comm.err;
  EXPECT_EQ(Roots(by_comm.out),
            (std::map<std::string, uint64_t>{{"tree-worker-0", workers.at(w0)}}));

  // --pid keeps the whole process; an unknown pid keeps nothing (and warns).
  RunResult process = Report({"--folded", "--pid", std::to_string(pid) + ",1"});
  ASSERT_EQ(process.exit_code, 0) << process.err;
  EXPECT_EQ(Roots(process.out).count("tree-worker-1"), 1u) << process.out;
  RunResult nobody = Report({"--folded", "--pid", "1"});
  ASSERT_EQ(nobody.exit_code, 0) << nobody.err;
  EXPECT_EQ(nobody.out, "");
  EXPECT_NE(nobody.err.find("no samples"), std::string::npos) << nobody.err;
  // The table too: one warning, no empty table after it.
  nobody = Report({"--pid", "1"});
  ASSERT_EQ(nobody.exit_code, 0) << nobody.err;
  EXPECT_EQ(nobody.out, "");
  EXPECT_EQ(std::count(nobody.err.begin(), nobody.err.end(), '\n'), 1) << nobody.err;

  // The table and the flame graph filter the same way.
  RunResult table = Report({"--tid", std::to_string(tid0), "--sort", "total", "--limit", "2"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  std::vector<std::string> rows = absl::StrSplit(table.out, '\n', absl::SkipEmpty());
  // The table may end with an "unsymbolized: ..." summary line; it is not a row.
  if (!rows.empty() && absl::StartsWith(rows.back(), "unsymbolized:")) rows.pop_back();
  ASSERT_GE(rows.size(), 4u) << table.out;
  EXPECT_EQ(rows.size(), 4u) << "--limit 2: two lines of head and two rows\n" << table.out;
  // The outermost function (clone3 or so) is on (nearly) every stack of the thread.
  std::vector<absl::string_view> cols = absl::StrSplit(rows[2], ' ', absl::SkipEmpty());
  ASSERT_GE(cols.size(), 5u) << table.out;
  uint64_t outer_total = 0;
  ASSERT_TRUE(absl::SimpleAtoi(cols[3], &outer_total)) << table.out;
  EXPECT_LE(outer_total, tid_total) << table.out;
  EXPECT_GE(outer_total, tid_total * 9 / 10) << table.out;
  const std::string html = TempPath("filters.html");
  RunResult fg = Report({"--flamegraph", html, "--tid", std::to_string(tid0), "--per-thread"});
  ASSERT_EQ(fg.exit_code, 0) << fg.err;
  const std::string page = ReadFile(html);
  unlink(html.c_str());
  EXPECT_NE(page.find("\"" + w0 + "\""), std::string::npos);
  EXPECT_EQ(page.find("\"tree-worker-1"), std::string::npos);

  // --no-comm: no thread-name roots at all.
  RunResult bare = Report({"--folded", "--no-comm"});
  ASSERT_EQ(bare.exit_code, 0) << bare.err;
  ASSERT_FALSE(Roots(bare.out).empty()) << "no stacks to check";
  for (const auto& [root, n] : Roots(bare.out)) {
    EXPECT_FALSE(absl::StartsWith(root, "tree-worker")) << root;
  }
  RunResult both = Report({"--folded", "--no-comm", "--per-thread"});
  EXPECT_NE(both.exit_code, 0) << "contradictory root options are refused";
}

TEST_F(ReportFiltersE2eTest, CallersAndCallees) {
  RunResult callees = Report({"--callees", "work"});
  ASSERT_EQ(callees.exit_code, 0) << callees.err;
  std::vector<std::string> rows = absl::StrSplit(callees.out, '\n', absl::SkipEmpty());
  ASSERT_GE(rows.size(), 5u) << callees.out;
  EXPECT_TRUE(absl::StartsWith(rows[0], "work: ")) << callees.out;
  EXPECT_TRUE(absl::EndsWith(rows[2], "  a [known_tree_fp]")) << callees.out;
  EXPECT_TRUE(absl::EndsWith(rows[3], "  b [known_tree_fp]")) << callees.out;
  EXPECT_TRUE(absl::EndsWith(rows[4], "  c [known_tree_fp]")) << callees.out;

  RunResult callers = Report({"--callers", "a"});
  ASSERT_EQ(callers.exit_code, 0) << callers.err;
  rows = absl::StrSplit(callers.out, '\n', absl::SkipEmpty());
  ASSERT_GE(rows.size(), 3u) << callers.out;
  EXPECT_TRUE(absl::EndsWith(rows[2], "  work [known_tree_fp]")) << callers.out;

  // A callers table cannot be folded, pprof or HTML: refused, not dropped. Nor can a table
  // have -1 rows.
  for (const std::vector<std::string>& bad : std::vector<std::vector<std::string>>{
           {"--callers", "a", "--folded"},
           {"--callees", "work", "--flamegraph", TempPath("x.html")},
           {"--callers", "a", "--pprof", TempPath("x.pb.gz")},
           {"--top", "-1"}}) {
    RunResult r = Report(bad);
    EXPECT_EQ(r.exit_code, 2) << bad[0] << " " << bad[2] << ": " << r.err;
    EXPECT_EQ(r.out, "") << bad[0];
  }

  RunResult missing = Report({"--callers", "no_such_function"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("no_such_function"), std::string::npos) << missing.err;
}

// Row of the diff table for function `name` -> {self delta, total delta} in points.
std::pair<double, double> DiffRow(const std::string& table, const std::string& name) {
  for (absl::string_view line : absl::StrSplit(table, '\n', absl::SkipEmpty())) {
    if (!absl::EndsWith(line, "  " + name + " [known_tree_fp]")) continue;
    std::vector<absl::string_view> cols = absl::StrSplit(line, ' ', absl::SkipEmpty());
    double self = 0, total = 0;
    EXPECT_GE(cols.size(), 7u) << line;
    EXPECT_TRUE(absl::SimpleAtod(cols[2], &self)) << line;
    EXPECT_TRUE(absl::SimpleAtod(cols[5], &total)) << line;
    return {self, total};
  }
  ADD_FAILURE() << name << " not in\n" << table;
  return {0, 0};
}

TEST_F(ReportFiltersE2eTest, DiffSaysWhichWayTheSplitMoved) {
  // base a:b:c = 6:3:1, new 1:3:6: a loses about 50 points of self share, c gains as much, b
  // stays near 30 %.
  RunResult diff = RunProgram({kWick, "diff", *base_, *new_});
  ASSERT_EQ(diff.exit_code, 0) << diff.err;
  const auto [a_self, a_total] = DiffRow(diff.out, "a");
  const auto [c_self, c_total] = DiffRow(diff.out, "c");
  EXPECT_LT(a_self, -30) << diff.out;
  EXPECT_LT(a_total, -30) << diff.out;
  EXPECT_GT(c_self, 30) << diff.out;
  EXPECT_GT(c_total, 30) << diff.out;
  // The largest changes come first.
  std::vector<std::string> rows = absl::StrSplit(diff.out, '\n', absl::SkipEmpty());
  ASSERT_GE(rows.size(), 4u) << diff.out;
  EXPECT_TRUE(absl::EndsWith(rows[2], "  a [known_tree_fp]") ||
              absl::EndsWith(rows[2], "  c [known_tree_fp]"))
      << diff.out;

  // Reversed, the signs flip.
  RunResult back = RunProgram({kWick, "diff", *new_, *base_});
  ASSERT_EQ(back.exit_code, 0) << back.err;
  EXPECT_GT(DiffRow(back.out, "a").first, 30) << back.out;
  EXPECT_LT(DiffRow(back.out, "c").first, -30) << back.out;

  // Differential flame graph and folded pairs.
  const std::string html = TempPath("diff.html");
  RunResult fg = RunProgram({kWick, "diff", *base_, *new_, "--flamegraph", html, "--folded"});
  ASSERT_EQ(fg.exit_code, 0) << fg.err;
  const std::string page = ReadFile(html);
  unlink(html.c_str());
  EXPECT_NE(page.find("\"diff\":{\"base_total\":"), std::string::npos);
  uint64_t a_base = 0, a_new = 0;
  for (absl::string_view line : absl::StrSplit(fg.out, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
    ASSERT_GE(f.size(), 3u) << line;
    uint64_t b = 0, n = 0;
    ASSERT_TRUE(absl::SimpleAtoi(f[f.size() - 2], &b)) << line;
    ASSERT_TRUE(absl::SimpleAtoi(f[f.size() - 1], &n)) << line;
    if (absl::EndsWith(f[0], ";work;a")) {
      a_base += b;
      a_new += n;
    }
  }
  EXPECT_GT(a_base, 3 * a_new) << fg.out;

  RunResult bad = RunProgram({kWick, "diff", *base_, "/nonexistent/x.wick"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("/nonexistent/x.wick"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace wick::testing
