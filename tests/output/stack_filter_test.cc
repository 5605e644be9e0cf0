// Report options over hand-built recordings with several processes and threads: --pid/--tid/
// --comm filters in every output format, --per-thread and --no-comm roots, the callers/callees
// tables, and the tables and folded lines of `wick diff`.
#include "wick/stack_filter.h"

#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "output_fixture.h"
#include "testing/testing.h"
#include "wick/flamegraph.h"
#include "wick/folded.h"
#include "wick/pprof.h"
#include "wick/top_table.h"

namespace wick {
namespace {

StackFilter Filter(std::vector<uint32_t> pids, std::vector<uint32_t> tids,
                   std::vector<std::string> comms) {
  StackFilter f;
  f.pids = std::move(pids);
  f.tids = std::move(tids);
  f.comms = std::move(comms);
  return f;
}

TopOptions AllRows() {
  TopOptions opts;
  opts.top = 0;
  return opts;
}

class StackFilterTest : public OutputTest {
 protected:
  void AddThreadStack(uint32_t comm, uint32_t pid, uint32_t tid, std::vector<Frame> frames,
                      uint64_t count) {
    AddStack(comm, std::move(frames), count);
    rec_.stacks.back().pid = pid;
    rec_.stacks.back().tid = tid;
  }

  // Process 100 (main thread "known_tree_fp", worker "tree-worker-1" = tid 101) and process
  // 200 (another "known_tree_fp").
  void AddThreads() {
    rec_.comms.push_back({1, "tree-worker-1"});
    AddThreadStack(0, 100, 100, {F("a"), F("work"), F("main")}, 6);
    AddThreadStack(1, 100, 101, {F("a"), F("work"), F("main")}, 4);
    AddThreadStack(1, 100, 101, {F("b"), F("work"), F("main")}, 3);
    AddThreadStack(0, 200, 200, {F("c"), F("work"), F("main")}, 1);
  }

  std::string Folded(const Recording& rec, const FoldedOptions& opts = {}) {
    std::ostringstream out;
    WICK_EXPECT_OK(WriteFolded(ProfileOf(rec), out, opts));
    return out.str();
  }
  std::string Folded(const FoldedOptions& opts = {}) { return Folded(rec_, opts); }

  // The folded output of a copy of rec_ filtered by `filter`; `kept` gets the samples kept.
  std::string FilteredFolded(const StackFilter& filter, uint64_t* kept = nullptr) {
    Recording copy = rec_;
    const uint64_t n = ApplyStackFilter(filter, &copy);
    if (kept != nullptr) *kept = n;
    return Folded(copy);
  }
};

TEST_F(StackFilterTest, PidTidAndCommFilters) {
  AddThreads();
  uint64_t kept = 0;
  EXPECT_EQ(FilteredFolded(StackFilter(), &kept),
            "known_tree_fp;main;work;a 6\n"
            "known_tree_fp;main;work;c 1\n"
            "tree-worker-1;main;work;a 4\n"
            "tree-worker-1;main;work;b 3\n");
  EXPECT_EQ(kept, 14u);
  EXPECT_EQ(FilteredFolded(Filter({100}, {}, {}), &kept),
            "known_tree_fp;main;work;a 6\n"
            "tree-worker-1;main;work;a 4\n"
            "tree-worker-1;main;work;b 3\n");
  EXPECT_EQ(kept, 13u);
  EXPECT_EQ(FilteredFolded(Filter({200, 999}, {}, {}), &kept), "known_tree_fp;main;work;c 1\n");
  EXPECT_EQ(kept, 1u);
  EXPECT_EQ(FilteredFolded(Filter({}, {101}, {}), &kept),
            "tree-worker-1;main;work;a 4\n"
            "tree-worker-1;main;work;b 3\n");
  EXPECT_EQ(kept, 7u);
  EXPECT_EQ(FilteredFolded(Filter({}, {}, {"known_tree_fp"})),
            "known_tree_fp;main;work;a 6\n"
            "known_tree_fp;main;work;c 1\n");
  // Every list must match: pid 100 and comm known_tree_fp is the main thread only.
  EXPECT_EQ(FilteredFolded(Filter({100}, {}, {"known_tree_fp"})), "known_tree_fp;main;work;a 6\n");
  EXPECT_EQ(FilteredFolded(Filter({}, {100, 200}, {"tree-worker-1"}), &kept), "");
  EXPECT_EQ(kept, 0u);
  EXPECT_EQ(FilteredFolded(Filter({}, {}, {"known_tree"})), "") << "names match exactly";
}

TEST_F(StackFilterTest, FiltersKeepStackIdsAndApplyToEveryFormat) {
  AddThreads();
  ASSERT_EQ(ApplyStackFilter(Filter({}, {101}, {}), &rec_), 7u);
  ASSERT_EQ(rec_.stacks.size(), 4u);  // ids stay valid: rejected stacks only lose their count
  EXPECT_EQ(rec_.stacks[0].count, 0u);
  EXPECT_EQ(rec_.stacks[2].count, 3u);
  EXPECT_EQ(rec_.stacks[3].frames.size(), 3u);

  const TopTable table = ComputeTopTable(Prof());
  EXPECT_EQ(table.all, 7u);
  ASSERT_EQ(table.entries.size(), 4u);
  EXPECT_EQ(table.entries[0].function, "a");
  EXPECT_EQ(table.entries[0].self, 4u);
  EXPECT_EQ(table.entries[1].function, "b");

  const std::string json = FlameGraphJson(Prof());
  EXPECT_NE(json.find("\"tree-worker-1\""), std::string::npos);
  EXPECT_EQ(json.find("\"known_tree_fp\""), std::string::npos) << json;
  EXPECT_EQ(json.find("\"c\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"tree\":[0,7,"), std::string::npos) << json;

  EXPECT_NE(EncodePprofProfile(Prof()).find("tree-worker-1"), std::string::npos);
  Recording main_thread = rec_;
  for (RecordedStack& s : main_thread.stacks) s.count = 1;
  ASSERT_EQ(ApplyStackFilter(Filter({}, {100}, {}), &main_thread), 1u);
  EXPECT_EQ(EncodePprofProfile(ProfileOf(main_thread)).find("tree-worker-1"), std::string::npos)
      << "no sample of that thread, no label naming it";
}

TEST_F(StackFilterTest, PerThreadRootsAndNoComm) {
  AddThreads();
  SplitCommsByThread(&rec_);
  EXPECT_EQ(Folded(),
            "known_tree_fp-100/100;main;work;a 6\n"
            "known_tree_fp-200/200;main;work;c 1\n"
            "tree-worker-1-100/101;main;work;a 4\n"
            "tree-worker-1-100/101;main;work;b 3\n");
  // The original comms keep their ids; the stacks point at the added per-thread ones.
  ASSERT_EQ(rec_.comms.size(), 5u);
  EXPECT_EQ(rec_.comms[0].name, "known_tree_fp");
  EXPECT_EQ(rec_.comms[2].name, "known_tree_fp-100/100");
  EXPECT_EQ(rec_.comms[2].id, 2u);
  // Filters still see the thread's own name after the split (report filters first anyway).
  EXPECT_EQ(PerThreadRootName("swapper", 0, 0), "swapper-0/0");

  const std::string json = FlameGraphJson(Prof());
  EXPECT_NE(json.find("\"tree-worker-1-100/101\""), std::string::npos) << json;

  FoldedOptions no_comm;
  no_comm.include_comm = false;
  EXPECT_EQ(Folded(no_comm),
            "main;work;a 10\n"
            "main;work;b 3\n"
            "main;work;c 1\n");
  FlameGraphOptions flat;
  flat.include_comm = false;
  const std::string flat_json = FlameGraphJson(Prof(), flat);
  EXPECT_EQ(flat_json.find("tree-worker"), std::string::npos) << flat_json;
  // "all" (name 0) has main as its only child, with every sample.
  EXPECT_NE(flat_json.find("\"tree\":[0,14,[[1,14,"), std::string::npos) << flat_json;
}

TEST_F(StackFilterTest, CallersAndCallees) {
  AddKnownTree();  // main -> work -> {a 6, b 3, c 1 + 2 with kernel frames below c}
  CallTable callees = ComputeCallTable(Prof(), "work", CallDirection::kCallees);
  EXPECT_EQ(callees.all, 12u);
  EXPECT_EQ(callees.function_total, 12u);
  EXPECT_EQ(callees.function_self, 0u);
  ASSERT_EQ(callees.entries.size(), 3u);
  EXPECT_EQ(callees.entries[0].function, "a");
  EXPECT_EQ(callees.entries[0].total, 6u);
  EXPECT_EQ(callees.entries[1].function, "b");
  EXPECT_EQ(callees.entries[1].total, 3u);
  EXPECT_EQ(callees.entries[2].function, "c");
  EXPECT_EQ(callees.entries[2].total, 3u);
  std::ostringstream out;
  WICK_EXPECT_OK(WriteCallTable(callees, CallDirection::kCallees, out));
  EXPECT_EQ(out.str(),
            "work: 12 samples total (100.00%), 0 self (0.00%); calls:\n"
            "  Samples    All%   Func%  Function [Module]\n"
            "        6  50.00%  50.00%  a [known_tree_fp]\n"
            "        3  25.00%  25.00%  b [known_tree_fp]\n"
            "        3  25.00%  25.00%  c [known_tree_fp]\n");

  // c calls the kernel in 2 of its 3 samples; its caller is work.
  CallTable c_callees = ComputeCallTable(Prof(), "c", CallDirection::kCallees);
  EXPECT_EQ(c_callees.function_total, 3u);
  EXPECT_EQ(c_callees.function_self, 1u);
  ASSERT_EQ(c_callees.entries.size(), 1u);
  EXPECT_EQ(c_callees.entries[0].function, "entry_SYSCALL_64");
  EXPECT_TRUE(c_callees.entries[0].kernel);
  EXPECT_EQ(c_callees.entries[0].total, 2u);
  CallTable c_callers = ComputeCallTable(Prof(), "c", CallDirection::kCallers);
  ASSERT_EQ(c_callers.entries.size(), 1u);
  EXPECT_EQ(c_callers.entries[0].function, "work");
  EXPECT_EQ(c_callers.entries[0].total, 3u);

  CallTable main_callers = ComputeCallTable(Prof(), "main", CallDirection::kCallers);
  ASSERT_EQ(main_callers.entries.size(), 1u);
  EXPECT_EQ(main_callers.entries[0].function, "[root]");
  EXPECT_EQ(main_callers.entries[0].total, 12u);

  CallTable none = ComputeCallTable(Prof(), "nosuchfunction", CallDirection::kCallers);
  EXPECT_EQ(none.function_total, 0u);
  EXPECT_TRUE(none.entries.empty());
}

// --callers/--callees take any name of the function: libc's malloc is shown as "malloc" and
// found as "__libc_malloc" too; a versioned .symtab name also without its version.
TEST_F(StackFilterTest, CallersOfAnyAlias) {
  const std::string libc = workloads::LoadedLibraryPath("libc.so.6");
  ASSERT_FALSE(libc.empty());
  rec_.binaries.push_back({2, "", libc});
  for (const char* name : {"malloc", "clock_gettime"}) {
    absl::StatusOr<workloads::ElfSymbol> sym = workloads::FindElfSymbol(libc, name);
    ASSERT_TRUE(sym.ok()) << sym.status();
    AddStack(0, {User(2, sym->file_offset + 1), F("work"), F("main")}, 2);
  }
  for (const char* asked : {"malloc", "__libc_malloc"}) {
    const CallTable callers = ComputeCallTable(Prof(), asked, CallDirection::kCallers);
    EXPECT_EQ(callers.function, "malloc") << asked;
    EXPECT_EQ(callers.function_total, 2u) << asked;
    EXPECT_EQ(callers.function_self, 2u) << asked;
    ASSERT_EQ(callers.entries.size(), 1u) << asked;
    EXPECT_EQ(callers.entries[0].function, "work");
  }
  // Named clock_gettime@@GLIBC_2.17 from libc6-dbg's .symtab, clock_gettime from .dynsym.
  const CallTable clock = ComputeCallTable(Prof(), "clock_gettime", CallDirection::kCallers);
  EXPECT_EQ(clock.function_total, 2u);
  EXPECT_TRUE(absl::StartsWith(clock.function, "clock_gettime")) << clock.function;
  const CallTable callees = ComputeCallTable(Prof(), "__libc_malloc", CallDirection::kCallees);
  EXPECT_EQ(callees.function_total, 2u);
  EXPECT_TRUE(callees.entries.empty());
  EXPECT_EQ(ComputeCallTable(Prof(), "__libc_mallo", CallDirection::kCallers).function_total, 0u);
}

TEST_F(StackFilterTest, CallersCountOncePerStackUnderRecursion) {
  // main -> work -> a -> work -> a (leaf): work calls a twice, a is called by work twice.
  AddStack(0, {F("a"), F("work"), F("a", 1), F("work", 1), F("main")}, 5);
  AddStack(0, {F("b"), F("work"), F("main")}, 2);
  CallTable callers = ComputeCallTable(Prof(), "a", CallDirection::kCallers);
  EXPECT_EQ(callers.function_total, 5u);
  EXPECT_EQ(callers.function_self, 5u);
  ASSERT_EQ(callers.entries.size(), 1u);
  EXPECT_EQ(callers.entries[0].total, 5u);
  CallTable callees = ComputeCallTable(Prof(), "work", CallDirection::kCallees);
  EXPECT_EQ(callees.function_total, 7u);
  ASSERT_EQ(callees.entries.size(), 2u);
  EXPECT_EQ(callees.entries[0].function, "a");
  EXPECT_EQ(callees.entries[0].total, 5u);
  EXPECT_EQ(callees.entries[1].function, "b");
  EXPECT_EQ(callees.entries[1].total, 2u);
}

TEST_F(StackFilterTest, DiffTableNormalizesEachProfile) {
  AddKnownTree();  // base: a 6, b 3, c 3 (1 + 2 in the kernel) of 12
  Recording base = rec_;
  // new: twice the samples, a 4, b 16, c 4 (of which kernel 4) = 24; ext4_sync_fs 2 -> 4.
  rec_.stacks[0].count = 4;
  rec_.stacks[1].count = 16;
  rec_.stacks[2].count = 0;
  rec_.stacks[3].count = 4;
  const TopTable old_table = ComputeTopTable(ProfileOf(base), AllRows());
  const TopTable new_table = ComputeTopTable(Prof(), AllRows());
  const DiffTable diff = ComputeDiffTable(old_table, new_table);
  EXPECT_EQ(diff.base_all, 12u);
  EXPECT_EQ(diff.new_all, 24u);
  ASSERT_EQ(diff.entries.size(), 8u);
  // b: 25 % -> 66.67 % (+41.67 points), a: 50 % -> 16.67 % (-33.33), c: 8.33 % -> 0 %.
  EXPECT_EQ(diff.entries[0].function, "b");
  EXPECT_NEAR(diff.entries[0].self_delta(), 16.0 / 24 - 3.0 / 12, 1e-12);
  EXPECT_EQ(diff.entries[1].function, "a");
  EXPECT_NEAR(diff.entries[1].self_delta(), 4.0 / 24 - 6.0 / 12, 1e-12);
  EXPECT_EQ(diff.entries[2].function, "c");
  EXPECT_NEAR(diff.entries[2].self_delta(), -1.0 / 12, 1e-12);
  EXPECT_NEAR(diff.entries[2].total_delta(), 4.0 / 24 - 3.0 / 12, 1e-12);
  EXPECT_EQ(diff.entries[2].base_total, 3u);
  EXPECT_EQ(diff.entries[2].new_total, 4u);
  std::ostringstream out;
  WICK_EXPECT_OK(WriteDiffTable(diff, out, 3));
  EXPECT_EQ(out.str(),
            "base: 12 samples, new: 24 samples; shares of each profile's samples, deltas in "
            "percentage points\n"
            "BaseSelf%  NewSelf%     Delta  BaseTotal% NewTotal%     Delta  Function [Module]\n"
            "   25.00%    66.67%    +41.67      25.00%    66.67%    +41.67  b [known_tree_fp]\n"
            "   50.00%    16.67%    -33.33      50.00%    16.67%    -33.33  a [known_tree_fp]\n"
            "    8.33%     0.00%     -8.33      25.00%    16.67%     -8.33  c [known_tree_fp]\n");
  // main and work are on every stack of both, ext4_sync_fs is 1/6 of both: unchanged, so
  // left out of the table even without a row limit.
  std::ostringstream all;
  WICK_EXPECT_OK(WriteDiffTable(diff, all, 0));
  EXPECT_EQ(all.str(), out.str());
}

TEST_F(StackFilterTest, DiffFoldedPairsCounts) {
  AddKnownTree();
  Recording base = rec_;
  rec_.stacks[0].count = 1;
  rec_.stacks[2].count = 0;
  AddStack(0, {F("b", 1), F("main")}, 5);  // new-only line
  std::ostringstream out;
  FoldedOptions opts;
  opts.include_comm = false;
  WICK_EXPECT_OK(WriteDiffFolded(ProfileOf(base), Prof(), out, opts));
  EXPECT_EQ(out.str(),
            "main;b 0 5\n"
            "main;work;a 6 1\n"
            "main;work;b 3 3\n"
            "main;work;c 1 0\n"
            "main;work;c;entry_SYSCALL_64_[k];do_syscall_64_[k];ext4_sync_fs_[k] 2 2\n");
}

}  // namespace
}  // namespace wick
