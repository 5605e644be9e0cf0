// Report-time symbol sources a user points wick at: --symfs for binaries copied from another
// machine or a container, --debug-dir for debug files in a build-id tree. And the names of code
// without symbols (the function .eh_frame places it in) and of functions with several
// (libc's aliases), against the unstripped program and perf.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "folded.h"
#include "run.h"
#include "testing/testing.h"
#include "workloads.h"

namespace wick::testing {
namespace {

namespace fs = std::filesystem;
const std::string kWick = WICK_BINARY;

// A frame named by module and offset: the binary kt without its symbols.
bool UnnamedInKt(const std::string& frame) { return absl::StartsWith(frame, "kt+0x"); }

class SymbolsE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RunResult r =
        RunProgram({kWick, "record", "-o", TempPath("probe-sym.wick"), "--", "/bin/true"});
    if (r.exit_code != 0) WICK_SKIP_OR_FAIL("wick record cannot open perf events: " + r.err);
    char templ[] = "/tmp/wick-symbols-XXXXXX";
    ASSERT_NE(mkdtemp(templ), nullptr);
    dir_ = templ;
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }

  Folded Report(const std::vector<std::string>& extra) {
    return ReportFolded(kWick, dir_ + "/r.wick", extra);
  }

  std::string dir_;
};

TEST_F(SymbolsE2eTest, SymfsFindsABinaryThatMovedAway) {
  fs::create_directories(dir_ + "/app");
  fs::copy_file(workloads::KnownTreePath(), dir_ + "/app/kt");
  RunResult r =
      RunProgram({kWick, "record", "-g", "-o", dir_ + "/r.wick", "--", dir_ + "/app/kt", "r30"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The binary leaves; a copy sits under a root elsewhere, at its recorded path.
  fs::create_directories(dir_ + "/root" + dir_ + "/app");
  fs::rename(dir_ + "/app/kt", dir_ + "/root" + dir_ + "/app/kt");
  const Folded without = Report({});
  EXPECT_EQ(without.With({"main", "work", "a"}), 0u);
  EXPECT_GT(without.WithFrame(UnnamedInKt), without.total() / 2);
  // a takes 60 % of the time.
  const Folded with = Report({"--symfs", dir_ + "/root"});
  EXPECT_GT(with.With({"main", "work", "a"}), with.total() * 4 / 10);
}

TEST_F(SymbolsE2eTest, DebugDirWithABuildIdTree) {
  // A stripped binary (only dynamic symbols) and its debug file in DIR/.build-id/xx/rest.debug.
  fs::create_directories(dir_ + "/app");
  fs::copy_file(workloads::KnownTreeStrippedPath(), dir_ + "/app/kt");
  WICK_ASSERT_OK_AND_ASSIGN(std::string id, workloads::ReadElfBuildId(dir_ + "/app/kt"));
  std::string hex = absl::BytesToHexString(absl::string_view(id.data(), id.size()));
  std::string debug = dir_ + "/debug/.build-id/" + hex.substr(0, 2);
  fs::create_directories(debug);
  fs::copy_file(workloads::KnownTreePath() + ".debug", debug + "/" + hex.substr(2) + ".debug");
  RunResult r =
      RunProgram({kWick, "record", "-g", "-o", dir_ + "/r.wick", "--", dir_ + "/app/kt", "r30"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Folded without = Report({});
  ASSERT_GT(without.total(), 0u);
  EXPECT_EQ(without.With({"work", "a"}), 0u);
  const Folded with = Report({"--debug-dir", dir_ + "/debug"});
  EXPECT_GT(with.With({"main", "work", "a"}), with.total() * 4 / 10);
}

// The functions of known_tree, by the file offset where the unstripped copy's symbols say
// each starts (a stripped copy has the same layout). Names the binary does not have at this
// optimization level (inlined away) are left out.
std::map<uint64_t, std::string> FunctionStarts(const std::string& unstripped) {
  std::map<uint64_t, std::string> starts;
  for (const char* name :
       {"_start", "main", "work", "a", "b", "c", "checkpoint", "Calibrate", "Now", "ReportCpu"}) {
    absl::StatusOr<workloads::ElfSymbol> sym = workloads::FindElfSymbol(unstripped, name);
    if (sym.ok()) starts[sym->file_offset] = name;
  }
  return starts;
}

// Records a stripped known_tree, then checks that each of its frames is named after the
// function it is in ("fun_OFFSET@BINARY", OFFSET where that function starts), never by its
// own address: the profile then has the unstripped program's shape and split.
void ExpectStrippedLikeUnstripped(const std::string& stripped, const std::string& unstripped,
                                  const std::vector<std::string>& call_graph,
                                  const std::string& file) {
  std::vector<std::string> cmd = {kWick, "record", "-F", "999"};
  cmd.insert(cmd.end(), call_graph.begin(), call_graph.end());
  cmd.insert(cmd.end(), {"-o", file, "--", stripped, "r300"});
  RunResult r = RunProgram(cmd);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::map<uint64_t, std::string> starts = FunctionStarts(unstripped);
  ASSERT_GE(starts.size(), 6u);
  const std::string base = stripped.substr(stripped.rfind('/') + 1);
  const Folded folded = ReportFolded(kWick, file);
  // Frames of the stripped binary translated to the unstripped names, the rest kept.
  std::string translated;
  std::set<std::string> bad;
  std::set<std::string> shapes;  // the binary's own frames of the a/b/c stacks
  for (const FoldedStack& stack : folded.stacks()) {
    std::vector<std::string> names, own;
    for (const std::string& frame : stack.frames) {
      std::string name = frame;
      uint64_t offset = 0;
      if (absl::StartsWith(frame, base + "+0x")) {
        bad.insert(frame);  // an address of the binary outside any function
      } else if (absl::StartsWith(frame, "fun_") && absl::EndsWith(frame, "@" + base)) {
        const std::string hex = frame.substr(4, frame.size() - 4 - base.size() - 1);
        auto it = absl::SimpleHexAtoi(hex, &offset) ? starts.find(offset) : starts.end();
        if (it == starts.end()) {
          bad.insert(frame);  // named by something that is not a function's start
        } else {
          name = it->second;
          own.push_back(name);
        }
      }
      names.push_back(name);
    }
    absl::StrAppend(&translated, absl::StrJoin(names, ";"), " ", stack.count, "\n");
    const bool in_phase = std::any_of(own.begin(), own.end(), [](const std::string& n) {
      return n == "a" || n == "b" || n == "c";
    });
    if (in_phase) shapes.insert(absl::StrJoin(own, ";"));
  }
  EXPECT_TRUE(bad.empty()) << absl::StrJoin(bad, "\n");
  const Folded named = ParseFoldedOrFail(translated);
  ExpectKnownSplit(KnownTreeSplit(named), 3.0, 1000);
  // Three call paths (and the checkpoint() each phase calls): not one per return address or
  // per sampled instruction.
  EXPECT_LE(shapes.size(), 6u) << absl::StrJoin(shapes, "\n");
  for (const std::string& shape : shapes) {
    EXPECT_TRUE(absl::StartsWith(shape, "_start;main;work;") ||
                absl::StartsWith(shape, "main;work;"))
        << shape;
  }
  EXPECT_GE(double(named.With({"main", "work"})), 0.95 * double(named.total()));
}

// A program stripped of every symbol (no debug link): frame-pointer stacks.
TEST_F(SymbolsE2eTest, StrippedProgramKeepsItsFunctions) {
  ExpectStrippedLikeUnstripped(workloads::KnownTreeFpNoSymsPath(), workloads::KnownTreePath(),
                               {"-g"}, dir_ + "/fp.wick");
}

// The same with -O2 code without frame pointers: DWARF unwinding through the stripped file.
TEST_F(SymbolsE2eTest, StrippedProgramKeepsItsFunctionsWithDwarfUnwinding) {
  ExpectStrippedLikeUnstripped(workloads::KnownTreeO2NoFpNoSymsPath(),
                               workloads::KnownTreeO2NoFpPath(), {"--call-graph", "dwarf"},
                               dir_ + "/dwarf.wick");
}

// libc's self samples by function, from `perf report --sort dso,sym` (perf's names) or from
// wick's table; functions with less than `min_percent` of the samples are left out.
std::map<std::string, double> PerfLibcFunctions(const std::string& report, double min_percent) {
  std::map<std::string, double> out;
  for (absl::string_view line : absl::StrSplit(report, '\n', absl::SkipEmpty())) {
    // "    21.45%  libc.so.6  [.] __memmove_avx512_unaligned_erms"
    std::vector<std::string> cols = absl::StrSplit(line, ' ', absl::SkipEmpty());
    double pct = 0;
    if (cols.size() != 4 || !absl::EndsWith(cols[0], "%") ||
        !absl::SimpleAtod(absl::StripSuffix(cols[0], "%"), &pct) ||
        (cols[2] != "[.]" && cols[2] != "[k]")) {
      ADD_FAILURE() << "not a line of perf report: '" << line << "'";
      continue;
    }
    if (cols[1] == "libc.so.6" && pct >= min_percent) out[cols[3]] += pct;
  }
  return out;
}

std::map<std::string, double> WickLibcFunctions(const std::string& table, double min_percent) {
  std::map<std::string, double> out;
  std::vector<std::string> lines = absl::StrSplit(table, '\n', absl::SkipEmpty());
  // Two lines of head: "cpu-clock: N samples" and the column names.
  for (size_t i = 2; i < lines.size(); ++i) {
    if (absl::StartsWith(lines[i], "unsymbolized: ")) break;
    // "SELF% SELF TOTAL% TOTAL  FUNCTION [MODULE]"
    std::vector<std::string> cols = absl::StrSplit(lines[i], ' ', absl::SkipEmpty());
    double pct = 0;
    if (cols.size() < 5 || !absl::EndsWith(cols[0], "%") ||
        !absl::SimpleAtod(absl::StripSuffix(cols[0], "%"), &pct)) {
      ADD_FAILURE() << "not a table row: '" << lines[i] << "'";
      continue;
    }
    if (cols.size() == 6 && cols[5] == "[libc.so.6]" && pct >= min_percent) out[cols[4]] += pct;
  }
  return out;
}

// libc's hot functions carry the names perf gives them (malloc, not libdwfl's __libc_malloc;
// __memmove_avx*_unaligned_erms, not __memcpy_...), but where perf's longest-name rule picks
// an old version's compat alias: free, where perf says cfree@GLIBC_2.2.5.
TEST_F(SymbolsE2eTest, LibcFunctionsAreNamedAsPerfNamesThem) {
  const std::string perf = "/usr/bin/perf";
  WICK_REQUIRE(access(perf.c_str(), X_OK) == 0, "no perf (apt-get install linux-perf)");
  const std::string program = workloads::LibcHotPath();
  const std::string perf_data = dir_ + "/perf.data";
  RunResult p = RunProgram({perf, "record", "-q", "--buildid-mmap", "-e", "cpu-clock", "-F", "999",
                            "-o", perf_data, program, "30000000"});
  ASSERT_EQ(p.exit_code, 0) << p.err;
  RunResult pr = RunProgram(
      {perf, "report", "-i", perf_data, "--no-children", "--sort", "dso,sym", "--stdio", "-q"});
  ASSERT_EQ(pr.exit_code, 0) << pr.err;
  // DWARF unwinding: libc's functions have no frame pointers, and --callers needs their caller.
  RunResult w = RunProgram({kWick, "record", "-F", "999", "--call-graph", "dwarf", "-o",
                            dir_ + "/r.wick", "--", program, "30000000"});
  ASSERT_EQ(w.exit_code, 0) << w.err;
  // Symbols, as perf's sym column: without the inlined functions wick shows by default.
  RunResult wr = RunProgram({kWick, "report", "-i", dir_ + "/r.wick", "--top", "0", "--no-inline"});
  ASSERT_EQ(wr.exit_code, 0) << wr.err;

  const std::map<std::string, std::string> deviations = {{"cfree@GLIBC_2.2.5", "free"}};
  auto as_wick = [&](const std::string& name) {
    auto it = deviations.find(name);
    return it == deviations.end() ? name : it->second;
  };
  // Each function over 3 % in one profile is in the other (a function near the threshold may
  // fall under it in the other run: present at all is enough there).
  const std::map<std::string, double> by_perf = PerfLibcFunctions(pr.out, 3.0);
  const std::map<std::string, double> by_wick = WickLibcFunctions(wr.out, 3.0);
  const std::map<std::string, double> all_perf = PerfLibcFunctions(pr.out, 0.0);
  const std::map<std::string, double> all_wick = WickLibcFunctions(wr.out, 0.0);
  ASSERT_GE(by_perf.size(), 3u) << pr.out;
  for (const auto& [name, pct] : by_perf) {
    EXPECT_TRUE(all_wick.count(as_wick(name))) << "perf: " << name << " " << pct << "%\n" << wr.out;
  }
  std::set<std::string> perf_names;
  for (const auto& [name, pct] : all_perf) perf_names.insert(as_wick(name));
  for (const auto& [name, pct] : by_wick) {
    EXPECT_TRUE(perf_names.count(name)) << "wick: " << name << " " << pct << "%\n" << pr.out;
  }
  for (const char* name : {"malloc", "free"}) EXPECT_TRUE(all_wick.count(name)) << wr.out;

  // The README's example, and any alias of the function.
  for (const char* asked : {"malloc", "__libc_malloc"}) {
    RunResult callers = RunProgram({kWick, "report", "-i", dir_ + "/r.wick", "--callers", asked});
    EXPECT_EQ(callers.exit_code, 0) << callers.err;
    EXPECT_TRUE(absl::StartsWith(callers.out, "malloc: ")) << callers.out;
    EXPECT_NE(callers.out.find(" main [libc_hot]"), std::string::npos) << callers.out;
  }
}

}  // namespace
}  // namespace wick::testing
