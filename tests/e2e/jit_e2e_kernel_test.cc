// wick record on a JIT-like workload (code in anonymous memory, named in /tmp/perf-PID.map):
// the recording carries the map's symbols and the sampled raw frames fall in them.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "absl/strings/match.h"
#include "folded.h"
#include "run.h"
#include "testing/testing.h"
#include "wick/jit_map.h"
#include "wick/recording.h"

namespace wick::testing {
namespace {

const std::string kWick = WICK_BINARY;
const std::string kJitWorkload = WICK_JIT_WORKLOAD;

TEST(JitE2eTest, RawFramesAreNamedFromThePerfMap) {
  const std::string file = TempPath("jit.wick");
  RunResult r = RunProgram({kWick, "record", "-g", "-o", file, "--", kJitWorkload, "2"});
  if (r.exit_code != 0 && r.err.find("x86-64 only") != std::string::npos) {
    GTEST_SKIP() << "the JIT workload is x86-64 only";
  }
  if (r.exit_code != 0 && r.err.find("perf_event_open") != std::string::npos) {
    WICK_SKIP_OR_FAIL("wick record cannot open perf events here: " + r.err);
  }
  ASSERT_EQ(r.exit_code, 0) << r.err;
  WICK_ASSERT_OK_AND_ASSIGN(Recording rec, ReadRecording(file));
  ASSERT_TRUE(rec.complete) << rec.truncation_note;

  const JitSymbol* jitted = nullptr;
  for (const JitSymbol& s : rec.jit_symbols) {
    if (s.name == "jitted_loop") jitted = &s;
  }
  ASSERT_NE(jitted, nullptr) << rec.jit_symbols.size() << " JIT symbols in the recording";
  // The workload leaves its map behind, as JIT runtimes do; it is ours to remove.
  std::remove(("/tmp/perf-" + std::to_string(jitted->pid) + ".map").c_str());
  EXPECT_EQ(rec.stats.Get(Stat::kJitMapsRead), 1u);
  EXPECT_EQ(rec.stats.Get(Stat::kJitMapsSkipped), 0u);

  uint64_t total = 0, in_jit = 0, in_jit_with_caller = 0;
  for (const RecordedStack& stack : rec.stacks) {
    total += stack.count;
    // The first user frame (kernel frames come first when the sample hit the kernel).
    for (size_t i = 0; i < stack.frames.size(); ++i) {
      const Frame& f = stack.frames[i];
      if (f.kind == FrameKind::kKernel) continue;
      if (f.kind == FrameKind::kUserRaw && LookupJitSymbol(rec, f.binary, f.value) == jitted) {
        EXPECT_EQ(f.binary, jitted->pid);
        in_jit += stack.count;
        // The frame pointer the JIT code sets up leads back into the workload binary.
        if (i + 1 < stack.frames.size() && stack.frames[i + 1].kind == FrameKind::kUserFile) {
          in_jit_with_caller += stack.count;
        }
      }
      break;
    }
  }
  ASSERT_GT(total, 100u);  // ~4000 Hz of its 2 s of CPU time
  // The workload spends nearly all its time in the loop.
  EXPECT_GT(in_jit, total * 8 / 10) << in_jit << " of " << total << " samples in jitted_loop";
  EXPECT_GT(in_jit_with_caller, in_jit * 8 / 10);

  // And users see the name: the folded output names the JIT function, as the leaf, under main.
  const Folded folded = ReportFolded(kWick, file);
  EXPECT_GT(folded.CountIf([](const FoldedStack& s) {
    return s.frames.back() == "jitted_loop" && s.frames[s.frames.size() - 2] == "main";
  }),
            in_jit * 8 / 10);
}

// With --call-graph dwarf the JIT code has no unwind tables: the unwinder leaves jitted_loop
// by the frame pointer it keeps, then unwinds main and libc by DWARF again, to the root.
TEST(JitE2eTest, DwarfStacksGoThroughJitCodeByFramePointer) {
  const std::string file = TempPath("jit-dwarf.wick");
  RunResult r =
      RunProgram({kWick, "record", "--call-graph", "dwarf", "-o", file, "--", kJitWorkload, "2"});
  if (r.exit_code != 0 && r.err.find("x86-64 only") != std::string::npos) {
    GTEST_SKIP() << "the JIT workload is x86-64 only";
  }
  if (r.exit_code != 0 && r.err.find("perf_event_open") != std::string::npos) {
    WICK_SKIP_OR_FAIL("wick record cannot open perf events here: " + r.err);
  }
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "[unwind_fp_steps]")) << r.err;
  WICK_ASSERT_OK_AND_ASSIGN(Recording rec, ReadRecording(file));
  ASSERT_FALSE(rec.jit_symbols.empty());
  std::remove(("/tmp/perf-" + std::to_string(rec.jit_symbols[0].pid) + ".map").c_str());

  const Folded folded = ReportFolded(kWick, file);
  const uint64_t in_jit =
      folded.CountIf([](const FoldedStack& s) { return s.frames.back() == "jitted_loop"; });
  ASSERT_GT(folded.total(), 100u);
  EXPECT_GT(in_jit, folded.total() * 8 / 10) << in_jit << " of " << folded.total();
  // Samples on jitted_loop's push/mov or pop/ret (before its frame exists) lose main; they
  // are 4 of its instructions, run once per 10 million loop iterations.
  EXPECT_GE(folded.With({"main", "jitted_loop"}), in_jit * 95 / 100);
  // One frame-pointer step per sample in the JIT code, and those stacks reach the root.
  EXPECT_GE(rec.stats.Get(Stat::kUnwindFpSteps), in_jit * 95 / 100);
  EXPECT_GE(rec.stats.Get(Stat::kUnwindComplete), folded.total() * 95 / 100);
}

}  // namespace
}  // namespace wick::testing
