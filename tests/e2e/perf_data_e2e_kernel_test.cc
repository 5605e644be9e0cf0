// perf.data through wick's commands: files recorded on the spot by Debian's perf from the
// known-answer workloads, read by `wick report`, `script`, `diff` and `convert`, checked
// against the workload's known split and against `perf script`'s own stacks of the same file.
//
// perf record runs with --buildid-mmap (the kernel's build-ids in MMAP2 records; see
// perf_data_kernel_test's KernelBuildIdBitLeak for why perf must not read them itself here).
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "folded.h"
#include "gtest/gtest.h"
#include "run.h"
#include "testing/testing.h"
#include "workloads.h"

namespace wick::testing {
namespace {

const std::string kWick = WICK_BINARY;
const std::string kPerf = "/usr/bin/perf";
// cpu-clock's period in ns: not a divisor of known_tree's 10 ms round, so sampling cannot
// lock onto its phases.
const std::string kPeriod = "1013700";

// Stacks leaf first, names normalized the way wick's folded output spells them: kernel
// frames end in "_[k]", anything unnamed is "[unknown]".
using Stacks = std::map<std::vector<std::string>, uint64_t>;

std::string Normalize(absl::string_view name, bool kernel) {
  if (name.empty() || absl::StartsWith(name, "[unknown") || absl::StrContains(name, "+0x")) {
    return "[unknown]";
  }
  return kernel ? absl::StrCat(name, "_[k]") : std::string(name);
}

// `perf script -F comm,event,ip,sym,dso --no-inline` of `event`'s samples: each sample is a
// "COMM EVENT:" line, then "\tADDR SYM (DSO)" lines leaf first, then a blank line. Strict: a
// line of another shape fails the test.
Stacks PerfScriptStacks(const std::string& file, const std::string& event) {
  const RunResult r =
      RunProgram({kPerf, "script", "-i", file, "-F", "comm,event,ip,sym,dso", "--no-inline"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  Stacks stacks;
  std::vector<std::string> stack;
  std::string comm;
  bool wanted = false;
  auto end_sample = [&] {
    if (wanted) {
      stack.push_back(comm);
      ++stacks[stack];
    }
    stack.clear();
    wanted = false;
  };
  for (absl::string_view line : absl::StrSplit(r.out, '\n')) {
    if (line.empty()) {
      end_sample();
      continue;
    }
    if (line[0] != '\t') {
      end_sample();
      line = absl::StripTrailingAsciiWhitespace(line);
      const size_t space = line.rfind(' ');
      EXPECT_NE(space, absl::string_view::npos) << "perf script header: " << line;
      if (space == absl::string_view::npos) return {};
      const absl::string_view ev = line.substr(space + 1);
      comm = std::string(absl::StripAsciiWhitespace(line.substr(0, space)));
      // perf names it as its command line did: "page-faults/period=1/:" too.
      wanted = absl::StartsWith(ev, event + ":") || absl::StartsWith(ev, event + "/");
      continue;
    }
    line = absl::StripLeadingAsciiWhitespace(line);
    const size_t space = line.find(' ');
    const size_t paren = line.rfind(" (");
    EXPECT_TRUE(space != absl::string_view::npos && paren != absl::string_view::npos &&
                paren >= space && absl::EndsWith(line, ")"))
        << "perf script frame: " << line;
    if (space == absl::string_view::npos || paren == absl::string_view::npos || paren < space) {
      return {};
    }
    const absl::string_view sym = line.substr(space + 1, paren - space - 1);
    const absl::string_view dso = line.substr(paren + 2, line.size() - paren - 3);
    stack.push_back(Normalize(sym, dso == "[kernel.kallsyms]" || absl::StartsWith(dso, "[")));
  }
  end_sample();
  return stacks;
}

Stacks WickStacks(const Folded& folded) {
  Stacks stacks;
  for (const FoldedStack& s : folded.stacks()) {
    std::vector<std::string> leaf_first;
    for (auto it = s.frames.rbegin(); it != s.frames.rend(); ++it) {
      const bool kernel = absl::EndsWith(*it, "_[k]");
      leaf_first.push_back(kernel
                               ? Normalize(absl::string_view(*it).substr(0, it->size() - 4), true)
                               : (it + 1 == s.frames.rend() ? *it : Normalize(*it, false)));
    }
    stacks[leaf_first] += s.count;
  }
  return stacks;
}

void WriteFileOrDie(const std::string& path, absl::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

uint64_t Total(const Stacks& s) {
  uint64_t n = 0;
  for (const auto& [k, c] : s) n += c;
  return n;
}

// How perf's samples compare with wick's: on the same stack, on a stack wick unwound deeper
// (perf's is wick's cut short at the root side, comm aside), or elsewhere.
// A third kind: the same length and leaf, one caller named apart. perf names a return
// address as it is, wick the call before it: where the call ends its function, perf names the
// next one (the idle loop's x86_64_start_reservations shows as __pfx_clear_bss in perf).
struct Agreement {
  uint64_t same = 0, wick_deeper = 0, call_site = 0, total = 0;
  std::string ToString() const {
    return absl::StrCat(same, " same, ", wick_deeper, " deeper in wick, ", call_site,
                        " with one caller named apart, of ", total);
  }
};

bool OneCallerApart(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  if (a.size() != b.size() || a.size() < 3 || a[0] != b[0] || a.back() != b.back()) return false;
  size_t apart = 0;
  for (size_t i = 1; i + 1 < a.size(); ++i) apart += a[i] != b[i];
  return apart == 1;
}

Agreement Compare(const Stacks& perf, Stacks wick) {
  Agreement a;
  a.total = Total(perf);
  Stacks perf_left;
  for (const auto& [stack, n] : perf) {
    auto it = wick.find(stack);
    const uint64_t same = it == wick.end() ? 0 : std::min(it->second, n);
    a.same += same;
    if (it != wick.end()) it->second -= same;
    if (n > same) perf_left[stack] = n - same;
  }
  for (auto& [stack, n] : perf_left) {
    const std::string& comm = stack.back();
    for (auto& [w, m] : wick) {
      if (n == 0) break;
      if (m == 0 || w.back() != comm || w.size() <= stack.size()) continue;
      if (!std::equal(stack.begin(), stack.end() - 1, w.begin())) continue;
      const uint64_t take = std::min(n, m);
      a.wick_deeper += take;
      n -= take;
      m -= take;
    }
    for (auto& [w, m] : wick) {
      if (n == 0) break;
      if (m == 0 || !OneCallerApart(stack, w)) continue;
      const uint64_t take = std::min(n, m);
      a.call_site += take;
      n -= take;
      m -= take;
    }
  }
  return a;
}

// `wick report -i FILE --folded --no-inline --event EVENT` against perf script's stacks of
// the same file: the same number of samples, and at least `min_same` of them on the same stack.
Agreement ExpectStacksLikePerfScript(const std::string& file, const std::string& event,
                                     double min_same) {
  std::vector<std::string> extra = {"--no-inline", "--event", event};
  const Folded folded = ReportFolded(kWick, file, extra);
  const Stacks perf = PerfScriptStacks(file, event);
  EXPECT_GT(Total(perf), 0u) << event;
  EXPECT_EQ(folded.total(), Total(perf)) << event;
  const Agreement a = Compare(perf, WickStacks(folded));
  EXPECT_GE(double(a.same + a.call_site), min_same * double(a.total))
      << event << ": " << a.ToString();
  std::fprintf(stderr, "%s in %s vs perf script: %s\n", event.c_str(), file.c_str(),
               a.ToString().c_str());
  return a;
}

class PerfDataE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const RunResult version = RunProgram({kPerf, "--version"});
    WICK_REQUIRE(version.exit_code == 0, "no perf (apt-get install linux-perf): " + version.err);
    const RunResult probe = RunProgram({kPerf, "record", "-q", "-o", TempPath("probe.perf.data"),
                                        "-e", "cpu-clock", "--", "/bin/true"});
    if (probe.exit_code != 0) WICK_SKIP_OR_FAIL("perf record cannot open events: " + probe.err);
  }

  // perf record OPTIONS -o NAME -- COMMAND; the file, and perf's run in *r.
  std::string Record(const std::string& name, const std::vector<std::string>& options,
                     const std::vector<std::string>& command, RunResult* r) {
    const std::string path = TempPath(name);
    std::vector<std::string> argv = {kPerf, "record", "-q", "--buildid-mmap", "-o", path};
    argv.insert(argv.end(), options.begin(), options.end());
    argv.push_back("--");
    argv.insert(argv.end(), command.begin(), command.end());
    *r = RunProgram(argv);
    EXPECT_EQ(r->exit_code, 0) << absl::StrJoin(argv, " ") << ": " << r->err;
    return path;
  }
};

// A frame-pointer perf.data: the known split within 3 pp, every sample of perf's in wick's
// report, and the same stacks as perf script's, but for the few where perf names a return
// address and wick the call before it (a call that ends a function: ld.so's _start).
TEST_F(PerfDataE2eTest, FramePointerFileHasTheKnownSplitAndPerfScriptsStacks) {
  RunResult r;
  const std::string file = Record("fp.perf.data", {"-e", "cpu-clock", "-c", kPeriod, "-g"},
                                  {workloads::KnownTreePath(), "r150"}, &r);
  const Folded folded = ReportFolded(kWick, file, {"--no-inline"});
  const Stacks perf = PerfScriptStacks(file, "cpu-clock");
  ASSERT_GT(Total(perf), 0u);
  EXPECT_EQ(folded.total(), Total(perf));
  ExpectKnownSplit(KnownTreeSplit(folded), 3.0, folded.total() * 6 / 10);
  const Agreement a = Compare(perf, WickStacks(folded));
  RecordProperty("agreement", a.ToString());
  EXPECT_GE(double(a.same), 0.98 * double(a.total)) << a.ToString();
  // Kernel frames are named: the file was recorded on this boot.
  EXPECT_GT(folded.WithFrame([](const std::string& f) { return absl::EndsWith(f, "_[k]"); }), 0u);
  // Only a startup frame with no frame pointer (ld.so's close, address 0 in perf script too).
  EXPECT_LE(folded.WithFrame([](const std::string& f) { return f == "[unknown]"; }),
            folded.total() / 100);
}

// A --call-graph dwarf perf.data of a program without frame pointers: wick unwinds the
// samples' stack copies itself. The known split holds, stacks reach main, and perf script's
// stacks are wick's (or wick's reach deeper: how often is recorded, and is in the README).
TEST_F(PerfDataE2eTest, DwarfFileIsUnwoundByWick) {
  RunResult r;
  const std::string file =
      Record("dwarf.perf.data", {"-e", "cpu-clock", "-c", kPeriod, "--call-graph", "dwarf"},
             {workloads::KnownTreeO2NoFpPath(), "r100"}, &r);
  const RunResult report = RunProgram({kWick, "report", "-i", file, "--folded", "--no-inline"});
  ASSERT_EQ(report.exit_code, 0) << report.err;
  EXPECT_TRUE(absl::StrContains(report.err, "reached the root")) << report.err;
  const Folded folded = ParseFoldedOrFail(report.out);
  const Stacks perf = PerfScriptStacks(file, "cpu-clock");
  EXPECT_EQ(folded.total(), Total(perf));
  EXPECT_GE(double(folded.With({"main"})), 0.97 * double(folded.total()));
  ExpectKnownSplit(KnownTreeSplit(folded), 3.0, folded.total() * 6 / 10);
  const Agreement a = Compare(perf, WickStacks(folded));
  RecordProperty("agreement", a.ToString());
  std::fprintf(stderr, "dwarf perf.data vs perf script: %s\n", a.ToString().c_str());
  EXPECT_GE(double(a.same + a.wick_deeper), 0.95 * double(a.total)) << a.ToString();
}

// Two events in one file: each keeps its own samples (perf script's count of each), and
// the default report is the first event.
TEST_F(PerfDataE2eTest, SeveralEventsStayApart) {
  RunResult r;
  const std::string file =
      Record("two.perf.data",
             {"-e", "cpu-clock/period=" + kPeriod + "/", "-e", "page-faults/period=1/", "-g"},
             {workloads::KnownTreePath(), "r50"}, &r);
  const Stacks clock = PerfScriptStacks(file, "cpu-clock");
  const Stacks faults = PerfScriptStacks(file, "page-faults");
  ASSERT_GT(Total(faults), 10u);
  EXPECT_EQ(ReportFolded(kWick, file).total(), Total(clock));
  EXPECT_EQ(ReportFolded(kWick, file, {"--event", "cpu-clock"}).total(), Total(clock));
  EXPECT_EQ(ReportFolded(kWick, file, {"--event", "page-faults"}).total(), Total(faults));
  ExpectStacksLikePerfScript(file, "cpu-clock", 0.98);
  // Most page faults are ld.so's at startup: a loader without frame pointers, whose chains
  // hold stray entries that perf and wick name apart (a few samples of 60).
  ExpectStacksLikePerfScript(file, "page-faults", 0.85);
  const RunResult table = RunProgram({kWick, "report", "-i", file});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_TRUE(absl::StrContains(table.err, "page-faults")) << table.err;  // the note on others
}

// wick script decodes a tracepoint from the format perf kept in the file: one line per
// openat of the workload, as many as it made and as perf script prints.
TEST_F(PerfDataE2eTest, ScriptPrintsTracepointsOfAPerfData) {
  RunResult r;
  const std::string file = Record("tp.perf.data", {"-e", "syscalls:sys_enter_openat", "-g"},
                                  {WICK_OPENAT_N, "7", "3"}, &r);
  const RunResult script = RunProgram({kWick, "script", "-i", file});
  ASSERT_EQ(script.exit_code, 0) << script.err;
  std::map<std::string, int> modes;
  for (absl::string_view line : absl::StrSplit(script.out, '\n')) {
    line = absl::StripLeadingAsciiWhitespace(line);
    if (!absl::StartsWith(line, "openat_n ")) continue;
    EXPECT_TRUE(absl::StrContains(line, "syscalls:sys_enter_openat: ")) << line;
    const size_t at = line.find(" mode=");
    if (at != absl::string_view::npos) ++modes[std::string(line.substr(at + 6))];
  }
  EXPECT_EQ(modes["0"], 7) << script.out.substr(0, 3000);
  EXPECT_EQ(modes["420"], 3) << script.out.substr(0, 3000);  // 0644
  const RunResult perf = RunProgram({kPerf, "script", "-i", file, "-F", "comm"});
  size_t theirs = 0;
  for (absl::string_view line : absl::StrSplit(perf.out, '\n')) {
    theirs += absl::StripAsciiWhitespace(line) == "openat_n";
  }
  size_t all_ours = 0;
  for (absl::string_view line : absl::StrSplit(script.out, '\n')) {
    all_ours += absl::StartsWith(absl::StripLeadingAsciiWhitespace(line), "openat_n ");
  }
  EXPECT_EQ(all_ours, theirs);
  // Its stacks (-g), in the report of that event.
  ExpectStacksLikePerfScript(file, "syscalls:sys_enter_openat", 0.98);
}

// A uprobe made by perf probe: every hit, on the stacks perf script gives.
TEST_F(PerfDataE2eTest, UprobeHitsOnPerfScriptsStacks) {
  const PerfUprobe probe(WICK_UPROBE_TARGET, "wick_uprobe_target", "wicke2e");
  ASSERT_EQ(probe.added().exit_code, 0) << probe.added().err;
  const std::string& event = probe.event();
  RunResult r;
  const std::string file =
      Record("uprobe.perf.data", {"-e", event, "-g"}, {WICK_UPROBE_TARGET, "37"}, &r);
  ExpectStacksLikePerfScript(file, event, 1.0);
  EXPECT_EQ(ReportFolded(kWick, file, {"--event", event}).total(), 37u);
}

// perf record -p of a running process, and -a: the same samples and stacks. Under -a, other
// tasks' kernel stack walks on this loaded VM may run into garbage that perf script prints
// its own way, hence the lower bar.
TEST_F(PerfDataE2eTest, AttachedAndSystemWideFiles) {
  Background tree({workloads::KnownTreePath(), "r300", "pid"});
  const std::string line = tree.ReadLine();
  ASSERT_TRUE(absl::StartsWith(line, "pid ")) << line;
  ASSERT_GT(WaitForCpu(tree.pid(), 0.05), 0.04);
  RunResult r;
  const std::string p = Record(
      "p.perf.data", {"-e", "cpu-clock", "-c", kPeriod, "-g", "-p", std::to_string(tree.pid())},
      {"sleep", "0.5"}, &r);
  ExpectStacksLikePerfScript(p, "cpu-clock", 0.98);
  const std::string a =
      Record("a.perf.data", {"-a", "-e", "cpu-clock", "-F", "499", "-g"}, {"sleep", "0.5"}, &r);
  ExpectStacksLikePerfScript(a, "cpu-clock", 0.9);
  tree.Signal(SIGKILL);
}

// perf's pipe mode read from stdin, and a -z (zstd) file: the same known split.
TEST_F(PerfDataE2eTest, PipeModeAndCompressedFiles) {
  const std::string folded_path = TempPath("pipe.folded");
  const RunResult pipe =
      RunProgram({"/bin/sh", "-c",
                  absl::StrCat(kPerf, " record -q -e cpu-clock -c ", kPeriod, " -g -o - -- ",
                               workloads::KnownTreePath(), " r100 2>/dev/null | ", kWick,
                               " report -i - --folded > ", folded_path)});
  ASSERT_EQ(pipe.exit_code, 0) << pipe.err;
  const Folded piped = ParseFoldedOrFail(ReadFile(folded_path));
  ExpectKnownSplit(KnownTreeSplit(piped), 3.0, 300);
  // A pipe-format file (perf record -o - > FILE) read by both.
  const std::string pipe_file = TempPath("pipe-format.perf.data");
  const RunResult saved = RunProgram(
      {"/bin/sh", "-c",
       absl::StrCat(kPerf, " record -q --buildid-mmap -e cpu-clock -c ", kPeriod, " -g -o - -- ",
                    workloads::KnownTreePath(), " r50 2>/dev/null > ", pipe_file)});
  ASSERT_EQ(saved.exit_code, 0) << saved.err;
  ExpectStacksLikePerfScript(pipe_file, "cpu-clock", 0.98);

  RunResult r;
  const std::string file = Record("z.perf.data", {"-z", "-e", "cpu-clock", "-c", kPeriod, "-g"},
                                  {workloads::KnownTreePath(), "r100"}, &r);
  const Folded z = ReportFolded(kWick, file);
  ExpectStacksLikePerfScript(file, "cpu-clock", 0.98);
  ExpectKnownSplit(KnownTreeSplit(z), 3.0, 300);
}

// wick convert: a smaller file that reads as the perf.data did, an older recording kept,
// and diff between the two says nothing changed.
TEST_F(PerfDataE2eTest, ConvertWritesTheSameProfileSmaller) {
  RunResult r;
  const std::string file = Record("conv.perf.data", {"-e", "cpu-clock", "-c", kPeriod, "-g"},
                                  {workloads::KnownTreePath(), "r100"}, &r);
  const std::string out = TempPath("conv.wick");
  RunResult c = RunProgram({kWick, "convert", "-i", file, "-o", out});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_TRUE(absl::StrContains(c.err, "distinct stacks")) << c.err;
  struct stat in {
  }, conv{};
  ASSERT_EQ(stat(file.c_str(), &in), 0);
  ASSERT_EQ(stat(out.c_str(), &conv), 0);
  EXPECT_LT(conv.st_size * 4, in.st_size) << conv.st_size << " vs " << in.st_size;
  const RunResult a = RunProgram({kWick, "report", "-i", file, "--folded"});
  const RunResult b = RunProgram({kWick, "report", "-i", out, "--folded"});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  c = RunProgram({kWick, "convert", "-i", file, "-o", out});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(stat((out + ".old").c_str(), &conv), 0);
  const RunResult d = RunProgram({kWick, "diff", file, out, "--folded"});
  ASSERT_EQ(d.exit_code, 0) << d.err;
  ASSERT_TRUE(absl::StrContains(d.out, ";a ")) << d.out;  // a stack of each, not nothing
  for (absl::string_view line : absl::StrSplit(d.out, '\n', absl::SkipEmpty())) {
    const std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
    ASSERT_EQ(f.size(), 3u) << line;
    EXPECT_EQ(f[1], f[2]) << line;
  }
}

// Bad input: one line naming the input and what is wrong; what a cut-short file holds is
// still reported.
TEST_F(PerfDataE2eTest, BadInputIsOneLine) {
  const std::string text = TempPath("not.perf.data");
  WriteFileOrDie(text, "hello, this is not a recording\n");
  RunResult r = RunProgram({kWick, "convert", "-i", text, "-o", TempPath("x.wick")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "wick convert: " + text +
                       " is not a perf.data file (no PERFILE2 magic); wick convert reads perf "
                       "record's output\n");
  r = RunProgram({kWick, "convert", "-i", TempPath("missing.perf.data")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(r.err, "No such file")) << r.err;

  r = RunProgram({"/bin/sh", "-c", absl::StrCat("true | ", kWick, " report -i -")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "stdin")) << r.err;

  RunResult rec;
  const std::string file = Record("cut.perf.data", {"-e", "cpu-clock", "-c", kPeriod, "-g"},
                                  {workloads::KnownTreePath(), "r100"}, &rec);
  const std::string whole = ReadFile(file);
  ASSERT_GT(whole.size(), 40000u);
  const std::string cut = TempPath("cut-short.perf.data");
  WriteFileOrDie(cut, whole.substr(0, whole.size() / 2));
  r = RunProgram({kWick, "report", "-i", cut, "--folded"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "warning: " + cut + " is incomplete")) << r.err;
  const Folded part = ParseFoldedOrFail(r.out);
  EXPECT_GT(part.total(), 100u);
  EXPECT_LT(part.total(), ReportFolded(kWick, file).total());
}

}  // namespace
}  // namespace wick::testing
