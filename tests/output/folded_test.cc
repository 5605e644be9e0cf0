// Folded output of hand-built recordings whose user frames point into the known_tree_fp
// workload: exact lines, kernel naming, merging, unknown frames, separators in names.
#include "wick/folded.h"

#include <map>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "output_fixture.h"
#include "testing/testing.h"
#include "workloads.h"

namespace wick {
namespace {

using workloads::FindElfSymbol;
using workloads::KnownTreePath;

// The shared hand-built recording (output_fixture.h), printed as folded stacks.
class FoldedTest : public OutputTest {
 protected:
  std::string Folded(const FoldedOptions& opts = {}, bool inlined = true) {
    std::ostringstream out;
    absl::Status status = WriteFolded(Prof(inlined), out, opts);
    EXPECT_TRUE(status.ok()) << status;
    return out.str();
  }
};

TEST_F(FoldedTest, KnownTreeLinesAreExactAndSorted) {
  AddStack(0, {F("c"), F("work"), F("main")}, 1);
  AddStack(0, {F("a"), F("work"), F("main")}, 6);
  AddStack(0, {F("b"), F("work"), F("main")}, 3);
  EXPECT_EQ(Folded(),
            "known_tree_fp;main;work;a 6\n"
            "known_tree_fp;main;work;b 3\n"
            "known_tree_fp;main;work;c 1\n");
  FoldedOptions no_comm;
  no_comm.include_comm = false;
  EXPECT_EQ(Folded(no_comm),
            "main;work;a 6\n"
            "main;work;b 3\n"
            "main;work;c 1\n");
  EXPECT_EQ(sym_.stats().Get(Stat::kUnsymbolizedFrames), 0u);
}

TEST_F(FoldedTest, IdenticalLinesFromDifferentStacksAreMerged) {
  // Different offsets inside the same functions: different stacks, one folded line.
  AddStack(0, {F("a", 0), F("work", 0), F("main")}, 5);
  AddStack(0, {F("a", 3), F("work", 1), F("main")}, 2);
  AddStack(0, {F("a", 3), F("work", 1), F("main")}, 0);  // no samples: no line
  EXPECT_EQ(Folded(), "known_tree_fp;main;work;a 7\n");
}

TEST_F(FoldedTest, KernelFramesAreSuffixed) {
  AddStack(0,
           {Kernel(kKernelBase + 0x1004), Kernel(kKernelBase + 0x120), Kernel(kKernelBase + 0x10),
            F("c"), F("work"), F("main")},
           4);
  AddStack(0, {Kernel(kKernelBase + 0x5000)}, 1);  // no symbol covers it
  EXPECT_EQ(
      Folded(),
      "known_tree_fp;[unknown]_[k] 1\n"
      "known_tree_fp;main;work;c;entry_SYSCALL_64_[k];do_syscall_64_[k];ext4_sync_fs_[k] 4\n");
  FoldedOptions plain;
  plain.kernel_suffix = false;
  EXPECT_EQ(Folded(plain),
            "known_tree_fp;[unknown] 1\n"
            "known_tree_fp;main;work;c;entry_SYSCALL_64;do_syscall_64;ext4_sync_fs 4\n");
}

TEST_F(FoldedTest, UnknownFrames) {
  // libfoo.so is not on disk: basename + file offset. Raw addresses: [unknown]. Offset 0 of
  // known_tree_fp has no symbol: known_tree_fp+0x0. A binary id outside the table: [unknown].
  AddStack(0, {User(1, 0x1a2b), Raw(0x7f0000001000), F("main")}, 2);
  AddStack(0, {User(0, 0), F("main")}, 1);
  AddStack(0, {User(7, 0x10)}, 1);
  EXPECT_EQ(Folded(),
            "known_tree_fp;[unknown] 1\n"
            "known_tree_fp;main;[unknown];libfoo.so+0x1a2b 2\n"
            "known_tree_fp;main;known_tree_fp+0x0 1\n");
  // One per distinct (binary, offset) without a name.
  EXPECT_EQ(sym_.stats().Get(Stat::kUnsymbolizedFrames), 2u);
  EXPECT_EQ(FrameName(rec_, sym_, Raw(1)), "[unknown]");
  EXPECT_EQ(FrameName(rec_, sym_, F("work")), "work");
  EXPECT_EQ(FrameName(rec_, sym_, Kernel(kKernelBase + 0x100)), "do_syscall_64");
}

TEST_F(FoldedTest, SeparatorsInNamesDoNotBreakLines) {
  rec_.comms.push_back({1, "we;ird\nname"});
  rec_.kernel_symbols.push_back({kKernelBase + 0x2000, 0x10, "odd;sym", ""});
  AddStack(1, {Kernel(kKernelBase + 0x2001), F("main")}, 3);
  AddStack(5, {F("main")}, 1);  // comm id outside the table
  EXPECT_EQ(Folded(),
            "[unknown];main 1\n"
            "we:ird name;main;odd:sym_[k] 3\n");
}

TEST_F(FoldedTest, ExpandsInlinedFunctions) {
  const std::string path = workloads::KnownTreeInlinePath();
  absl::StatusOr<workloads::ElfSymbol> outer = FindElfSymbol(path, "outer");
  ASSERT_TRUE(outer.ok()) << outer.status();
  absl::StatusOr<workloads::ElfSymbol> main_sym = FindElfSymbol(path, "main");
  ASSERT_TRUE(main_sym.ok()) << main_sym.status();
  // An offset inside outer where burn() was inlined.
  uint64_t offset = 0;
  for (uint64_t i = 0; i < outer->size && offset == 0; ++i) {
    if (!sym_.SymbolizeFile("", path, outer->file_offset + i).inlined.empty()) {
      offset = outer->file_offset + i;
    }
  }
  ASSERT_NE(offset, 0u);
  rec_.binaries.push_back({2, "", path});
  AddStack(0, {User(2, offset), User(2, main_sym->file_offset + 1)}, 9);
  EXPECT_EQ(Folded({}, /*inlined=*/false), "known_tree_fp;main;outer 9\n");
  FoldedOptions expand;  // the default
  EXPECT_EQ(Folded(), "known_tree_fp;main;outer;burn_[i] 9\n");
  EXPECT_EQ(Folded(expand), "known_tree_fp;main;outer;burn_[i] 9\n");
  expand.inline_suffix = false;
  EXPECT_EQ(Folded(expand), "known_tree_fp;main;outer;burn 9\n");
  // With lines: the inlined function's line, the call site of burn() in outer and main's own
  // line (the symbolizer's test checks the numbers against the source).
  expand.inline_suffix = true;
  expand.lines = true;
  const uint32_t line = sym_.SymbolizeFile("", path, offset).inlined[0].line;
  ASSERT_NE(line, 0u);
  const uint32_t main_line = sym_.SymbolizeFile("", path, main_sym->file_offset + 1).line;
  ASSERT_NE(main_line, 0u);
  const uint32_t call_line = sym_.SymbolizeFile("", path, offset).line;
  ASSERT_NE(call_line, 0u);
  EXPECT_EQ(Folded(expand), absl::StrCat("known_tree_fp;main (known_tree_inline.c:", main_line,
                                         ");outer (known_tree_inline.c:", call_line,
                                         ");burn (known_tree_inline.c:", line, ")_[i] 9\n"));
}

TEST_F(FoldedTest, EmptyRecordingWritesNothing) { EXPECT_EQ(Folded(), ""); }

TEST_F(FoldedTest, StreamFailureIsAnError) {
  AddStack(0, {F("main")}, 1);
  std::ostringstream out;
  out.setstate(std::ios::badbit);
  EXPECT_FALSE(WriteFolded(Prof(), out).ok());
}

}  // namespace
}  // namespace wick
