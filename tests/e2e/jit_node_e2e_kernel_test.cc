// A real JIT: node --perf-basic-prof writes /tmp/perf-PID.map as V8 compiles; wick record
// reads it at the end of the recording, and `wick report --folded` names the JIT frames
// ("JS:*hotFunction [eval]:1:21"). In both modes the stacks run through the JIT code back into
// node's own C++ frames: with -g by the kernel's frame-pointer walk, with --call-graph dwarf by
// the unwinder's frame-pointer steps through JIT code (counted as unwind_fp_steps).
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "folded.h"
#include "run.h"
#include "testing/testing.h"
#include "wick/recording.h"

namespace wick::testing {
namespace {

const std::string kWick = WICK_BINARY;

// About 2 s in one hot JS function and the functions it calls (V8 optimizes it early and may
// inline them; most samples land in its code).
constexpr char kScript[] =
    "function leaf(n){let s=0;for(let i=0;i<n;i++){s+=Math.sqrt(i)*i%7;}return s;}"
    "function middle(n){return leaf(n)+leaf(n>>1);}"
    "function hotFunction(n){let t=0;for(let k=0;k<4;k++){t+=middle(n>>2);}return t;}"
    "const start=process.cpuUsage();let t=0;"
    "for(let u=start;u.user+u.system<2e6;u=process.cpuUsage(start)){t+=hotFunction(1e5);}"
    "console.log(t>0?'done':'?');";

std::string FindNode() {
  for (const char* p : {"/usr/bin/node", "/usr/bin/nodejs", "/usr/local/bin/node"}) {
    if (access(p, X_OK) == 0) return p;
  }
  return "";
}

// A frame of kScript's JS functions, named from the perf map: V8 names optimized code
// "JS:*leaf /path:1:14" (older: "LazyCompile:*leaf ..."). Interpreted frames are named by the
// interpreter's builtin (Builtins_InterpreterEntryTrampoline) instead: V8 makes no per-function
// code for them without --interpreted-frames-native-stack.
bool IsScriptFunction(const std::string& frame) {
  if (!absl::StartsWith(frame, "JS:") && !absl::StartsWith(frame, "LazyCompile:")) return false;
  for (const char* name : {"hotFunction ", "middle ", "leaf "}) {
    if (absl::StrContains(frame, name)) return true;
  }
  return false;
}

struct Counts {
  uint64_t total = 0;
  uint64_t under_node = 0;      // samples whose stack has node::Start (node's main calls it)
  uint64_t hot = 0;             // samples with a frame naming one of kScript's functions
  uint64_t hot_under_node = 0;  // ... whose stack also has node::Start further out
  std::string example;          // one folded line with such a frame
};

Counts Count(const std::string& folded) {
  Counts c;
  const Folded parsed = ParseFoldedOrFail(folded);
  c.total = parsed.total();
  for (const FoldedStack& s : parsed.stacks()) {
    if (std::any_of(s.frames.begin(), s.frames.end(),
                    [](const std::string& f) { return absl::StartsWith(f, "node::Start("); })) {
      c.under_node += s.count;
    }
    const auto hot = std::find_if(s.frames.begin(), s.frames.end(),
                                  [](const std::string& f) { return IsScriptFunction(f); });
    if (hot == s.frames.end()) continue;
    c.hot += s.count;
    if (c.example.empty()) c.example = absl::StrJoin(s.frames, ";");
    if (std::any_of(s.frames.begin(), hot,
                    [](const std::string& f) { return absl::StartsWith(f, "node::Start("); })) {
      c.hot_under_node += s.count;
    }
  }
  return c;
}

class JitNodeE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    node_ = FindNode();
    if (node_.empty()) WICK_SKIP_OR_FAIL("no node binary (apt-get install nodejs)");
  }

  // Records node running kScript with `mode` ("-g" or "--call-graph=dwarf"); returns the
  // folded report. Removes the perf map node leaves behind. The recording's counters go to
  // `stats`, wick record's summary to `summary` (when not null).
  std::string RecordNode(const std::string& mode, const std::string& name, Stats* stats = nullptr,
                         std::string* summary = nullptr) {
    const std::string file = TempPath(name);
    RunResult r = RunProgram(
        {kWick, "record", mode, "-o", file, "--", node_, "--perf-basic-prof", "-e", kScript});
    if (r.exit_code != 0 && r.err.find("perf_event_open") != std::string::npos) {
      skipped_ = true;
      return "";
    }
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "done\n");
    if (summary != nullptr) *summary = r.err;
    absl::StatusOr<Recording> rec = ReadRecording(file);
    EXPECT_TRUE(rec.ok()) << rec.status();
    if (rec.ok()) {
      if (stats != nullptr) *stats = rec->stats;
      EXPECT_EQ(rec->stats.Get(Stat::kJitMapsRead), 1u);
      EXPECT_GT(rec->jit_symbols.size(), 100u);
      // node leaves its map behind; the pid is in the recorded JIT symbols.
      if (!rec->jit_symbols.empty()) {
        std::remove(("/tmp/perf-" + std::to_string(rec->jit_symbols[0].pid) + ".map").c_str());
      }
    }
    RunResult report = RunProgram({kWick, "report", "-i", file, "--folded"});
    EXPECT_EQ(report.exit_code, 0) << report.err;
    return report.out;
  }

  std::string node_;
  bool skipped_ = false;
};

TEST_F(JitNodeE2eTest, HotJsFunctionIsNamedWithFramePointers) {
  const std::string folded = RecordNode("-g", "node_fp.wick");
  if (skipped_) WICK_SKIP_OR_FAIL("wick record cannot open perf events here");
  const Counts c = Count(folded);
  ASSERT_GT(c.total, 500u) << folded.substr(0, 2000);
  // Most samples are in the script's optimized code.
  EXPECT_GE(double(c.hot), 0.6 * double(c.total))
      << c.hot << " of " << c.total << " samples in kScript's functions\n"
      << folded.substr(0, 3000);
  // V8's JIT code keeps frame pointers: the walk continues into node's C++ frames.
  EXPECT_GE(double(c.hot_under_node), 0.9 * double(c.hot)) << c.example;
}

// JIT code has no unwind tables: the unwinder leaves V8's frames by their frame pointers and
// goes back to DWARF in node's own code, so the stacks reach node's main and say so.
TEST_F(JitNodeE2eTest, HotJsFunctionIsNamedWithDwarfUnwinding) {
  Stats stats;
  std::string summary;
  const std::string folded = RecordNode("--call-graph=dwarf", "node_dwarf.wick", &stats, &summary);
  if (skipped_) WICK_SKIP_OR_FAIL("wick record cannot open perf events here");
  const Counts c = Count(folded);
  ASSERT_GT(c.total, 500u) << folded.substr(0, 2000);
  // The leaf in JIT code has no unwind tables; it must still be named from the map.
  EXPECT_GE(double(c.hot), 0.6 * double(c.total))
      << c.hot << " of " << c.total << " samples in kScript's functions\n"
      << folded.substr(0, 3000);
  EXPECT_GE(double(c.hot_under_node), 0.9 * double(c.hot)) << c.example;
  // The rest: node's start-up and V8's compiler and GC threads (which start in clone).
  EXPECT_GE(double(c.under_node), 0.9 * double(c.total));
  // And the summary says so: the unwinds reached the root, through frame-pointer steps.
  uint64_t unwinds = 0;
  for (Stat s : {Stat::kUnwindComplete, Stat::kUnwindNoInfo, Stat::kUnwindStackTooSmall,
                 Stat::kUnwindUnmapped, Stat::kUnwindJit, Stat::kUnwindMaxDepth,
                 Stat::kUnwindBadRegisters, Stat::kUnwindError}) {
    unwinds += stats.Get(s);
  }
  EXPECT_GE(double(stats.Get(Stat::kUnwindComplete)), 0.9 * double(unwinds)) << summary;
  EXPECT_LE(double(stats.Get(Stat::kUnwindError)), 0.02 * double(unwinds)) << summary;
  EXPECT_GE(stats.Get(Stat::kUnwindFpSteps), c.hot) << summary;
  EXPECT_TRUE(absl::StrContains(summary, "[unwind_fp_steps]")) << summary;
}

}  // namespace
}  // namespace wick::testing
