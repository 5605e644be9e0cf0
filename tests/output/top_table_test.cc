// The top-functions table over hand-built known_tree_fp recordings: exact rows, self/total,
// recursion counted once per stack, sorting, --top, kernel marks, unsymbolized summary, stripped
// functions named by .eh_frame.
#include "wick/top_table.h"

#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "output_fixture.h"
#include "testing/testing.h"

namespace wick {
namespace {

class TopTableTest : public OutputTest {
 protected:
  std::string Table(const TopOptions& opts = {}) {
    const TopTable table = ComputeTopTable(Prof(), opts);
    std::ostringstream out;
    WICK_EXPECT_OK(WriteTopTable(table, out, opts));
    return out.str();
  }
};

constexpr char kColumns[] = "  Self%      Self  Total%     Total  Function [Module]\n";

// The table's head for a recording of `samples` samples of an unnamed event (hand-built
// recordings name none).
std::string Header(uint64_t samples) { return absl::StrCat(samples, " samples\n", kColumns); }

TEST_F(TopTableTest, KnownTreeBySelf) {
  AddKnownTree();
  EXPECT_EQ(Table(), Header(12) +
                         " 50.00%         6  50.00%         6  a [known_tree_fp]\n"
                         " 25.00%         3  25.00%         3  b [known_tree_fp]\n"
                         " 16.67%         2  16.67%         2  ext4_sync_fs [k] [ext4]\n"
                         "  8.33%         1  25.00%         3  c [known_tree_fp]\n"
                         "  0.00%         0 100.00%        12  main [known_tree_fp]\n"
                         "  0.00%         0 100.00%        12  work [known_tree_fp]\n"
                         "  0.00%         0  16.67%         2  do_syscall_64 [k]\n"
                         "  0.00%         0  16.67%         2  entry_SYSCALL_64 [k]\n");
}

TEST_F(TopTableTest, ByTotalAndTopN) {
  AddKnownTree();
  TopOptions opts;
  opts.sort = TopSort::kTotal;
  opts.top = 4;
  EXPECT_EQ(Table(opts), Header(12) +
                             "  0.00%         0 100.00%        12  main [known_tree_fp]\n"
                             "  0.00%         0 100.00%        12  work [known_tree_fp]\n"
                             " 50.00%         6  50.00%         6  a [known_tree_fp]\n"
                             " 25.00%         3  25.00%         3  b [known_tree_fp]\n");
}

TEST_F(TopTableTest, RecursionCountsOncePerStack) {
  AddStack(0, {F("a"), F("work"), F("a", 1), F("work", 1), F("main")}, 5);
  const TopTable table = ComputeTopTable(Prof());
  ASSERT_EQ(table.entries.size(), 3u);
  EXPECT_EQ(table.all, 5u);
  EXPECT_EQ(table.entries[0].function, "a");
  EXPECT_EQ(table.entries[0].self, 5u);
  EXPECT_EQ(table.entries[0].total, 5u);
  EXPECT_EQ(table.entries[1].function, "main");
  EXPECT_EQ(table.entries[2].function, "work");
  EXPECT_EQ(table.entries[2].total, 5u);
  EXPECT_EQ(table.entries[2].self, 0u);
}

TEST_F(TopTableTest, UnsymbolizedFramesAreSummarized) {
  AddStack(0, {User(1, 0x1a2b), Raw(0x7f0000001000), F("main")}, 4);
  AddStack(0, {User(1, 0x1a2c), F("main")}, 1);
  EXPECT_EQ(Table(), Header(5) +
                         " 80.00%         4  80.00%         4  libfoo.so+0x1a2b [libfoo.so]\n"
                         " 20.00%         1  20.00%         1  libfoo.so+0x1a2c [libfoo.so]\n"
                         "  0.00%         0 100.00%         5  main [known_tree_fp]\n"
                         "  0.00%         0  80.00%         4  [unknown]\n"
                         "unsymbolized: libfoo.so 2 addresses (no file), [anonymous] 1 address "
                         "(no file)\n");
}

TEST_F(TopTableTest, InlinedFunctionsOwnSelfWhenExpanded) {
  const auto [outer, main_offset] = AddInlineBinary();
  AddStack(0, {User(2, outer), User(2, main_offset)}, 9);
  TopTable table = ComputeTopTable(Prof(/*inlined=*/false));
  ASSERT_EQ(table.entries.size(), 2u);
  EXPECT_EQ(table.entries[0].function, "outer");
  EXPECT_EQ(table.entries[0].self, 9u);
  TopOptions opts;  // the default: expanded
  table = ComputeTopTable(Prof(), opts);
  ASSERT_EQ(table.entries.size(), 3u);
  EXPECT_EQ(table.entries[0].function, "burn");
  EXPECT_EQ(table.entries[0].module, "known_tree_inline");
  EXPECT_EQ(table.entries[0].self, 9u);
  EXPECT_EQ(table.entries[1].function, "main");
  EXPECT_EQ(table.entries[2].function, "outer");
  EXPECT_EQ(table.entries[2].self, 0u);
  EXPECT_EQ(table.entries[2].total, 9u);
  opts.lines = true;
  table = ComputeTopTable(Prof(), opts);
  const uint32_t line =
      sym_.SymbolizeFile("", workloads::KnownTreeInlinePath(), outer).inlined[0].line;
  EXPECT_EQ(table.entries[0].function, "burn (known_tree_inline.c:" + std::to_string(line) + ")");
}

// A stripped copy of known_tree_fp: its addresses are named by the function .eh_frame places
// them in, so a function is one row; the ELF header is in no function.
TEST_F(TopTableTest, StrippedFunctionsAreOneRowEach) {
  rec_.binaries.push_back({2, "", workloads::KnownTreeFpNoSymsPath()});
  absl::StatusOr<workloads::ElfSymbol> a =
      workloads::FindElfSymbol(workloads::KnownTreePath(), "a");
  ASSERT_TRUE(a.ok()) << a.status();
  absl::StatusOr<workloads::ElfSymbol> work =
      workloads::FindElfSymbol(workloads::KnownTreePath(), "work");
  ASSERT_TRUE(work.ok()) << work.status();
  AddStack(0, {User(2, a->file_offset + 2), User(2, work->file_offset + 30)}, 3);
  AddStack(0, {User(2, a->file_offset + 9), User(2, work->file_offset + 40)}, 2);
  AddStack(0, {User(2, 0x10)}, 1);
  const std::string fun_a =
      absl::StrCat("fun_", absl::Hex(a->file_offset), "@known_tree_fp_nosyms");
  const std::string fun_work =
      absl::StrCat("fun_", absl::Hex(work->file_offset), "@known_tree_fp_nosyms");
  EXPECT_EQ(Table(), Header(6) + " 83.33%         5  83.33%         5  " + fun_a +
                         " [known_tree_fp_nosyms]\n"
                         " 16.67%         1  16.67%         1  known_tree_fp_nosyms+0x10 "
                         "[known_tree_fp_nosyms]\n"
                         "  0.00%         0  83.33%         5  " +
                         fun_work +
                         " [known_tree_fp_nosyms]\n"
                         "unsymbolized: known_tree_fp_nosyms 5 addresses (no symbol; in 2 "
                         "functions of .eh_frame)\n");
}

TEST_F(TopTableTest, EmptyRecordingIsJustTheHeader) { EXPECT_EQ(Table(), Header(0)); }

}  // namespace
}  // namespace wick
