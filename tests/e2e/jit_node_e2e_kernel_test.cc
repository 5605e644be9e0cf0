// A real JIT: node --perf-basic-prof writes /tmp/perf-PID.map as V8 compiles; wick record
// reads it at the end of the recording, and `wick report --folded` names the JIT frames
// ("JS:*hotFunction [eval]:1:21"). In frame-pointer mode the stacks also run through the JIT
// code back into node's own C++ frames; with --call-graph dwarf the name must appear too.
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "run.h"
#include "testing/testing.h"
#include "wick/recording.h"

namespace wick::testing {
namespace {

const std::string kWick = WICK_BINARY;

// About 2 s in one hot JS function (V8 optimizes it early; most samples land in its code).
constexpr char kScript[] =
    "function hotFunction(n){let s=0;for(let i=0;i<n;i++){s+=Math.sqrt(i)*i%7;}return s;}"
    "const end=Date.now()+2000;let t=0;"
    "while(Date.now()<end){t+=hotFunction(1e5);}"
    "console.log(t>0?'done':'?');";

std::string FindNode() {
  for (const char* p : {"/usr/bin/node", "/usr/bin/nodejs", "/usr/local/bin/node"}) {
    if (access(p, X_OK) == 0) return p;
  }
  return "";
}

struct Counts {
  uint64_t total = 0;
  uint64_t hot = 0;             // samples with a frame naming hotFunction
  uint64_t hot_under_node = 0;  // ... whose stack also has node::Start further out
  std::string example;          // one folded line with hotFunction
};

Counts Count(const std::string& folded) {
  Counts c;
  for (absl::string_view line : absl::StrSplit(folded, '\n', absl::SkipEmpty())) {
    const size_t space = line.rfind(' ');
    uint64_t n = 0;
    if (space == absl::string_view::npos || !absl::SimpleAtoi(line.substr(space + 1), &n)) {
      continue;
    }
    c.total += n;
    const size_t hot = line.find("hotFunction");
    if (hot == absl::string_view::npos) continue;
    c.hot += n;
    if (c.example.empty()) c.example = std::string(line);
    const size_t start = line.find("node::Start(");
    if (start != absl::string_view::npos && start < hot) c.hot_under_node += n;
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
  // folded report. Removes the perf map node leaves behind.
  std::string RecordNode(const std::string& mode, const std::string& name) {
    const std::string file = TempPath(name);
    RunResult r = RunProgram(
        {kWick, "record", mode, "-o", file, "--", node_, "--perf-basic-prof", "-e", kScript});
    if (r.exit_code != 0 && r.err.find("perf_event_open") != std::string::npos) {
      skipped_ = true;
      return "";
    }
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "done\n");
    absl::StatusOr<Recording> rec = ReadRecording(file);
    EXPECT_TRUE(rec.ok()) << rec.status();
    if (rec.ok()) {
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
  // V8 names optimized code "JS:*hotFunction ..." (older: "LazyCompile:*hotFunction").
  EXPECT_GE(double(c.hot), 0.6 * double(c.total))
      << c.hot << " of " << c.total << " samples in hotFunction\n"
      << folded.substr(0, 3000);
  // V8's JIT code keeps frame pointers: the walk continues into node's C++ frames.
  EXPECT_GE(double(c.hot_under_node), 0.9 * double(c.hot)) << c.example;
}

TEST_F(JitNodeE2eTest, HotJsFunctionIsNamedWithDwarfUnwinding) {
  const std::string folded = RecordNode("--call-graph=dwarf", "node_dwarf.wick");
  if (skipped_) WICK_SKIP_OR_FAIL("wick record cannot open perf events here");
  const Counts c = Count(folded);
  ASSERT_GT(c.total, 500u) << folded.substr(0, 2000);
  // The leaf in JIT code has no unwind tables; it must still be named from the map.
  EXPECT_GE(double(c.hot), 0.6 * double(c.total))
      << c.hot << " of " << c.total << " samples in hotFunction\n"
      << folded.substr(0, 3000);
}

}  // namespace
}  // namespace wick::testing
