// Symbolizer against the known-answer workloads and the system libc; kallsyms capture
// against fixtures and the running kernel's /proc/kallsyms.
#include "wick/symbolizer.h"

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "testing/testing.h"
#include "wick/build_id.h"
#include "wick/kernel_symbols.h"
#include "workloads.h"

namespace wick {
namespace {

namespace fs = std::filesystem;

// 1-based number of the first line of the source file at `path` containing `text`, 0 if none.
uint32_t LineContaining(const std::string& path, const std::string& text) {
  std::ifstream in(path);
  std::string line;
  for (uint32_t n = 1; std::getline(in, line); ++n) {
    if (line.find(text) != std::string::npos) return n;
  }
  return 0;
}

std::string_view Basename(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}
using workloads::ElfSymbol;
using workloads::FindElfSymbol;
using workloads::FindElfSymbolContaining;
using workloads::KnownTreePath;
using workloads::ReadElfBuildId;

// A fresh empty directory, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "wick_sym_XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Debug dirs that hold nothing, so the system's /usr/lib/debug cannot answer for a file.
SymbolizerOptions NoDebugDirs(const TempDir& dir) {
  SymbolizerOptions options;
  options.debug_dirs = {dir.path()};
  return options;
}

// /usr/lib/debug/.build-id/xx/rest.debug: where a -dbg package puts the debug file of
// `build_id` (raw bytes).
std::string SystemDebugFile(const std::string& build_id) {
  const std::string hex = absl::BytesToHexString(build_id);
  return absl::StrCat("/usr/lib/debug/.build-id/", hex.substr(0, 2), "/", hex.substr(2), ".debug");
}

TEST(SymbolizerTest, NamesKnownTreeFunctions) {
  const std::string path = KnownTreePath();
  WICK_ASSERT_OK_AND_ASSIGN(std::string build_id, ReadElfBuildId(path));
  TempDir empty;
  Symbolizer sym(NoDebugDirs(empty));
  for (const char* name : {"a", "b", "c", "work", "main"}) {
    WICK_ASSERT_OK_AND_ASSIGN(ElfSymbol elf_sym, FindElfSymbol(path, name));
    ASSERT_GT(elf_sym.size, 4u);
    // At the start, and inside the function (where samples land).
    const SymbolizedAddress& start = sym.SymbolizeFile(build_id, path, elf_sym.file_offset);
    EXPECT_EQ(start.function, name);
    EXPECT_EQ(start.function_offset, 0u);
    EXPECT_EQ(start.address, elf_sym.value);
    EXPECT_EQ(start.reason, SymbolizeReason::kOk);
    const SymbolizedAddress& inside = sym.SymbolizeFile(build_id, path, elf_sym.file_offset + 4);
    EXPECT_EQ(inside.function, name);
    EXPECT_EQ(inside.function_offset, 4u);
    // The last byte still belongs to the function.
    EXPECT_EQ(sym.SymbolizeFile(build_id, path, elf_sym.file_offset + elf_sym.size - 1).function,
              name);
  }
  EXPECT_EQ(sym.stats().Get(Stat::kUnsymbolizedFrames), 0u);
}

TEST(SymbolizerTest, EmptyBuildIdAcceptsThePath) {
  const std::string path = KnownTreePath();
  WICK_ASSERT_OK_AND_ASSIGN(ElfSymbol elf_sym, FindElfSymbol(path, "work"));
  TempDir empty;
  Symbolizer sym(NoDebugDirs(empty));
  EXPECT_EQ(sym.SymbolizeFile("", path, elf_sym.file_offset + 1).function, "work");
}

TEST(SymbolizerTest, ResultsAreCachedPerAddress) {
  const std::string path = KnownTreePath();
  WICK_ASSERT_OK_AND_ASSIGN(ElfSymbol elf_sym, FindElfSymbol(path, "a"));
  Symbolizer sym;
  const SymbolizedAddress& first = sym.SymbolizeFile("", path, elf_sym.file_offset + 2);
  // Many other lookups (rehashing the cache) leave the first reference valid.
  for (uint64_t i = 0; i < 1000; ++i) sym.SymbolizeFile("", path, elf_sym.file_offset + i % 300);
  const SymbolizedAddress& again = sym.SymbolizeFile("", path, elf_sym.file_offset + 2);
  EXPECT_EQ(&first, &again);
  EXPECT_EQ(first.function, "a");
}

TEST(SymbolizerTest, DemanglesCxxNames) {
  const std::string path = workloads::KnownTreeCcPath();
  TempDir empty;
  Symbolizer sym(NoDebugDirs(empty));
  WICK_ASSERT_OK_AND_ASSIGN(ElfSymbol burn,
                            FindElfSymbolContaining(path, "_ZN13wick_workload4BurnILi6EEEvl"));
  EXPECT_EQ(sym.SymbolizeFile("", path, burn.file_offset + 3).function,
            "void wick_workload::Burn<6>(long)");
  WICK_ASSERT_OK_AND_ASSIGN(ElfSymbol work, FindElfSymbolContaining(path, "Tree4Work"));
  EXPECT_EQ(sym.SymbolizeFile("", path, work.file_offset + 3).function,
            "wick_workload::Tree::Work(double, long)");
}

// Checks that every address of outer() in the known_tree_inline binary at `path` names outer,
// and that those inside the inlined burn() carry it as an inlined frame with lines.
void ExpectInlinedBurn(const std::string& path) {
  WICK_ASSERT_OK_AND_ASSIGN(ElfSymbol outer, FindElfSymbol(path, "outer"));
  TempDir empty;
  Symbolizer sym(NoDebugDirs(empty));
  int inlined = 0;
  for (uint64_t i = 0; i < outer.size; ++i) {
    const SymbolizedAddress& r = sym.SymbolizeFile("", path, outer.file_offset + i);
    EXPECT_EQ(r.function, "outer");
    if (r.inlined.empty()) continue;
    ++inlined;
    ASSERT_EQ(r.inlined.size(), 1u);
    EXPECT_EQ(r.inlined[0].function, "burn");
    EXPECT_NE(r.inlined[0].file.find("known_tree_inline.c"), std::string::npos);
    // The loop line inside burn().
    EXPECT_EQ(r.inlined[0].line, LineContaining(r.inlined[0].file, "sink += (uint64_t)i;"));
    // outer's own position is the call site of burn(), not the address's line-table row.
    EXPECT_NE(r.file.find("known_tree_inline.c"), std::string::npos) << r.file;
    EXPECT_EQ(r.line, LineContaining(r.file, "burn(1000000);")) << r.file;
  }
  EXPECT_GT(inlined, 0);
}

TEST(SymbolizerTest, InlinedFramesFromDwarf) {
  ExpectInlinedBurn(workloads::KnownTreeInlinePath());
  // The frame-pointer workload was built with -fno-inline: no inlined frames there.
  TempDir empty;
  Symbolizer sym(NoDebugDirs(empty));
  WICK_ASSERT_OK_AND_ASSIGN(ElfSymbol a, FindElfSymbol(KnownTreePath(), "a"));
  EXPECT_TRUE(sym.SymbolizeFile("", KnownTreePath(), a.file_offset + 6).inlined.empty());
}

// Without debug_info, only the symbol tables are read: the same names, no inlined frames and
// no lines (what `report --no-inline` needs).
TEST(SymbolizerTest, WithoutDebugInfoNamesFromSymbolTablesOnly) {
  WICK_ASSERT_OK_AND_ASSIGN(ElfSymbol outer,
                            FindElfSymbol(workloads::KnownTreeInlinePath(), "outer"));
  TempDir empty;
  SymbolizerOptions options = NoDebugDirs(empty);
  options.debug_info = false;
  Symbolizer sym(options);
  for (uint64_t i = 0; i < outer.size; ++i) {
    const SymbolizedAddress& r =
        sym.SymbolizeFile("", workloads::KnownTreeInlinePath(), outer.file_offset + i);
    EXPECT_EQ(r.function, "outer");
    EXPECT_TRUE(r.inlined.empty());
    EXPECT_TRUE(r.file.empty()) << r.file;
  }
}

// clang writes no .debug_aranges unless asked, and libdwfl finds compile units only through
// it: the same binary without the section still gets its inlined frames and lines.
TEST(SymbolizerTest, InlinedFramesWithoutDebugAranges) {
  TempDir dir;
  const std::string copy = dir.path() + "/known_tree_inline_noaranges";
  const std::string cmd =
      "objcopy --remove-section=.debug_aranges " + workloads::KnownTreeInlinePath() + " " + copy;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const std::string sections = "readelf -S " + copy + " | grep -q debug_aranges";
  ASSERT_NE(std::system(sections.c_str()), 0) << "the copy still has .debug_aranges";
  ExpectInlinedBurn(copy);
}

// The outermost function's own file:line (no inlining here) is the line table's row for the
// address: the same answer binutils' addr2line, an independent DWARF reader, gives.
TEST(SymbolizerTest, OuterFunctionLineMatchesAddr2line) {
  const std::string path = KnownTreePath();
  WICK_ASSERT_OK_AND_ASSIGN(ElfSymbol a, FindElfSymbol(path, "a"));
  TempDir empty;
  Symbolizer sym(NoDebugDirs(empty));
  std::string cmd = "addr2line -e " + path;
  for (uint64_t i = 0; i < a.size; ++i) cmd += " 0x" + absl::StrCat(absl::Hex(a.value + i));
  FILE* pipe = popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr) << cmd;
  std::set<uint32_t> lines;
  uint32_t first = 0, loop = 0;
  char buf[4096];
  for (uint64_t i = 0; i < a.size; ++i) {
    ASSERT_NE(fgets(buf, sizeof(buf), pipe), nullptr) << cmd;
    std::string want(buf);
    if (!want.empty() && want.back() == '\n') want.pop_back();
    want = want.substr(0, want.find(' '));  // drop " (discriminator N)"
    const SymbolizedAddress& r = sym.SymbolizeFile("", path, a.file_offset + i);
    EXPECT_EQ(r.function, "a");
    EXPECT_TRUE(r.inlined.empty());
    ASSERT_NE(r.file.find("known_tree.c"), std::string::npos) << r.file;
    if (first == 0) {
      first = LineContaining(r.file, "void a(int64_t until_ns");
      loop = LineContaining(r.file, "KNOWN_TREE_PHASE(sink_a,");
      ASSERT_GT(first, 0u) << r.file;
      ASSERT_GT(loop, first) << r.file;
    }
    // a() is 4 lines: signature, loop (a macro), checkpoint() call, closing brace.
    EXPECT_GE(r.line, first);
    EXPECT_LE(r.line, first + 3);
    const std::string got = std::string(Basename(r.file)) + ":" + std::to_string(r.line);
    EXPECT_EQ(std::string(Basename(want)), got) << "a+" << i;
    lines.insert(r.line);
  }
  pclose(pipe);
  EXPECT_TRUE(lines.count(loop)) << "no address on a()'s loop line";
  EXPECT_TRUE(lines.count(loop + 1)) << "no address on a()'s checkpoint() call";
  // An address nobody can name has no position either.
  const SymbolizedAddress& bad = sym.SymbolizeFile("", path, 1ull << 40);
  EXPECT_TRUE(bad.file.empty());
  EXPECT_EQ(bad.line, 0u);
}

// [vdso] has no file on disk: it is named from this process's own vDSO image.
TEST(SymbolizerTest, NamesVdsoFromOwnImage) {
  const std::string& build_id = OwnVdsoBuildId();
  ASSERT_FALSE(build_id.empty()) << "this process has no vDSO";
  ASSERT_FALSE(OwnVdsoFile().empty());
  std::error_code ec;
  const uint64_t size = fs::file_size(OwnVdsoFile(), ec);
  ASSERT_FALSE(ec) << ec.message();
  TempDir empty;
  Symbolizer sym(NoDebugDirs(empty));
  std::set<std::string> names;
  for (uint64_t offset = 0; offset < size; ++offset) {
    const SymbolizedAddress& r = sym.SymbolizeFile(build_id, "[vdso]", offset);
    if (r.known()) names.insert(r.function);
  }
  EXPECT_TRUE(names.count("__vdso_clock_gettime")) << absl::StrJoin(names, " ");
  EXPECT_TRUE(names.count("__vdso_gettimeofday")) << absl::StrJoin(names, " ");
}

TEST(SymbolizerTest, RefusesBuildIdMismatch) {
  const std::string path = KnownTreePath();
  WICK_ASSERT_OK_AND_ASSIGN(ElfSymbol elf_sym, FindElfSymbol(path, "a"));
  TempDir empty;
  Symbolizer sym(NoDebugDirs(empty));
  const std::string other_id(20, '\x42');
  const SymbolizedAddress& r = sym.SymbolizeFile(other_id, path, elf_sym.file_offset);
  EXPECT_FALSE(r.known());
  EXPECT_EQ(r.function, "");
  EXPECT_EQ(r.reason, SymbolizeReason::kBuildIdMismatch);
  sym.SymbolizeFile(other_id, path, elf_sym.file_offset + 1);
  EXPECT_EQ(sym.stats().Get(Stat::kBuildIdMismatch), 1u);     // per binary
  EXPECT_EQ(sym.stats().Get(Stat::kUnsymbolizedFrames), 2u);  // per distinct address
}

TEST(SymbolizerTest, FindsFileUnderSymfs) {
  const std::string path = KnownTreePath();
  WICK_ASSERT_OK_AND_ASSIGN(std::string build_id, ReadElfBuildId(path));
  WICK_ASSERT_OK_AND_ASSIGN(ElfSymbol elf_sym, FindElfSymbol(path, "b"));
  TempDir root;
  const std::string recorded = "/opt/app/bin/known_tree_fp";  // where the target ran it
  fs::create_directories(root.path() + "/opt/app/bin");
  fs::copy_file(path, root.path() + recorded);
  SymbolizerOptions options = NoDebugDirs(root);
  options.symfs = root.path();
  Symbolizer sym(options);
  EXPECT_EQ(sym.SymbolizeFile(build_id, recorded, elf_sym.file_offset).function, "b");
}

TEST(SymbolizerTest, FindsDebugFileByBuildId) {
  const std::string path = KnownTreePath();
  WICK_ASSERT_OK_AND_ASSIGN(std::string build_id, ReadElfBuildId(path));
  WICK_ASSERT_OK_AND_ASSIGN(ElfSymbol elf_sym, FindElfSymbol(path, "c"));
  TempDir debug;
  const std::string hex = absl::BytesToHexString(absl::string_view(build_id));
  fs::create_directories(debug.path() + "/.build-id/" + hex.substr(0, 2));
  fs::copy_file(workloads::KnownTreePath() + "",
                debug.path() + "/.build-id/" + hex.substr(0, 2) + "/" + hex.substr(2) + ".debug");
  SymbolizerOptions options;
  options.debug_dirs = {debug.path()};
  Symbolizer sym(options);
  // The binary is gone from where it ran; its debug file is found by build-id.
  EXPECT_EQ(sym.SymbolizeFile(build_id, "/gone/known_tree_fp", elf_sym.file_offset).function, "c");
  // Without a build-id there is nothing to look for.
  const SymbolizedAddress& r = sym.SymbolizeFile("", "/gone/known_tree_fp", elf_sym.file_offset);
  EXPECT_EQ(r.reason, SymbolizeReason::kNoFile);
}

TEST(SymbolizerTest, StrippedBinaryUsesDebuglink) {
  const std::string path = workloads::KnownTreeStrippedPath();
  WICK_ASSERT_OK_AND_ASSIGN(std::string build_id, ReadElfBuildId(path));
  // The stripped copy has the same layout as known_tree_fp.
  WICK_ASSERT_OK_AND_ASSIGN(ElfSymbol elf_sym, FindElfSymbol(KnownTreePath(), "work"));
  TempDir empty;
  Symbolizer sym(NoDebugDirs(empty));
  EXPECT_EQ(sym.SymbolizeFile(build_id, path, elf_sym.file_offset + 5).function, "work");
}

// A stripped binary whose debug file is neither beside it nor in a .debug/ subdirectory
// but under <debug dir>/<the binary's directory>/<debuglink name>, as gdb looks for it.
TEST(SymbolizerTest, DebuglinkUnderDebugDirMirrorsTheBinarysDirectory) {
  const std::string stripped = workloads::KnownTreeStrippedPath();
  const std::string debug_file =
      fs::path(stripped).parent_path().string() + "/known_tree_fp.debug";  // the debuglink
  WICK_ASSERT_OK_AND_ASSIGN(std::string build_id, ReadElfBuildId(stripped));
  WICK_ASSERT_OK_AND_ASSIGN(ElfSymbol elf_sym, FindElfSymbol(KnownTreePath(), "b"));
  TempDir bin;
  TempDir debug;
  const std::string binary = bin.path() + "/app";
  fs::copy_file(stripped, binary);
  // Without the debug file the stripped binary has no symbol for b.
  {
    Symbolizer sym(NoDebugDirs(debug));
    EXPECT_EQ(sym.SymbolizeFile(build_id, binary, elf_sym.file_offset + 2).reason,
              SymbolizeReason::kNoSymbol);
  }
  fs::create_directories(debug.path() + bin.path());
  fs::copy_file(debug_file, debug.path() + bin.path() + "/known_tree_fp.debug");
  Symbolizer sym(NoDebugDirs(debug));
  EXPECT_EQ(sym.SymbolizeFile(build_id, binary, elf_sym.file_offset + 2).function, "b");
}

// A debug file found by debuglink but of another build is not used.
TEST(SymbolizerTest, DebuglinkTargetOfAnotherBuildIsNotUsed) {
  const std::string stripped = workloads::KnownTreeStrippedPath();
  WICK_ASSERT_OK_AND_ASSIGN(std::string build_id, ReadElfBuildId(stripped));
  WICK_ASSERT_OK_AND_ASSIGN(ElfSymbol elf_sym, FindElfSymbol(KnownTreePath(), "b"));
  TempDir bin;
  TempDir debug;
  const std::string binary = bin.path() + "/app";
  fs::copy_file(stripped, binary);
  fs::create_directories(debug.path() + bin.path());
  // Same debuglink name, other build (the no-frame-pointer workload, with symbols).
  fs::copy_file(workloads::KnownTreeNoFpPath(), debug.path() + bin.path() + "/known_tree_fp.debug");
  Symbolizer sym(NoDebugDirs(debug));
  const SymbolizedAddress& r = sym.SymbolizeFile(build_id, binary, elf_sym.file_offset + 2);
  EXPECT_NE(r.function, "b");
  EXPECT_EQ(r.reason, SymbolizeReason::kNoSymbol);
}

TEST(SymbolizerTest, MismatchesAreListedOncePerBinary) {
  const std::string path = KnownTreePath();
  WICK_ASSERT_OK_AND_ASSIGN(std::string real_id, ReadElfBuildId(path));
  WICK_ASSERT_OK_AND_ASSIGN(ElfSymbol elf_sym, FindElfSymbol(path, "a"));
  TempDir empty;
  Symbolizer sym(NoDebugDirs(empty));
  const std::string other_id(20, '\x42');
  sym.SymbolizeFile(other_id, path, elf_sym.file_offset);
  sym.SymbolizeFile(other_id, path, elf_sym.file_offset + 1);
  ASSERT_EQ(sym.mismatches().size(), 1u);
  const BuildIdMismatch& m = sym.mismatches()[0];
  EXPECT_EQ(m.recorded_path, path);
  EXPECT_EQ(m.file, path);
  std::string expected_hex;
  for (int i = 0; i < 20; ++i) expected_hex += "42";
  EXPECT_EQ(m.expected_hex, expected_hex);
  EXPECT_EQ(m.found_hex, absl::BytesToHexString(absl::string_view(real_id)));
  // The right build-id at the same path: no mismatch.
  sym.SymbolizeFile(real_id, path, elf_sym.file_offset);
  EXPECT_EQ(sym.mismatches().size(), 1u);
}

// A stale file at the path does not matter when the right one is found by build-id.
TEST(SymbolizerTest, MismatchHealedByDebugDirIsNotListed) {
  WICK_ASSERT_OK_AND_ASSIGN(std::string build_id, ReadElfBuildId(KnownTreePath()));
  WICK_ASSERT_OK_AND_ASSIGN(ElfSymbol elf_sym, FindElfSymbol(KnownTreePath(), "c"));
  TempDir bin;
  TempDir debug;
  const std::string stale = bin.path() + "/app";
  fs::copy_file(workloads::KnownTreeNoFpPath(), stale);  // another build at the recorded path
  const std::string hex = absl::BytesToHexString(absl::string_view(build_id));
  fs::create_directories(debug.path() + "/.build-id/" + hex.substr(0, 2));
  fs::copy_file(KnownTreePath(),
                debug.path() + "/.build-id/" + hex.substr(0, 2) + "/" + hex.substr(2) + ".debug");
  Symbolizer sym(NoDebugDirs(debug));
  EXPECT_EQ(sym.SymbolizeFile(build_id, stale, elf_sym.file_offset).function, "c");
  EXPECT_EQ(sym.stats().Get(Stat::kBuildIdMismatch), 1u);
  EXPECT_TRUE(sym.mismatches().empty());
}

// The debug dir under --symfs: <symfs>/usr/lib/debug/.build-id is searched.
TEST(SymbolizerTest, SymfsDebugDirIsSearched) {
  WICK_ASSERT_OK_AND_ASSIGN(std::string build_id, ReadElfBuildId(KnownTreePath()));
  WICK_ASSERT_OK_AND_ASSIGN(ElfSymbol elf_sym, FindElfSymbol(KnownTreePath(), "a"));
  TempDir root;
  TempDir empty;
  const std::string hex = absl::BytesToHexString(absl::string_view(build_id));
  const std::string dir = root.path() + "/usr/lib/debug/.build-id/" + hex.substr(0, 2);
  fs::create_directories(dir);
  fs::copy_file(KnownTreePath(), dir + "/" + hex.substr(2) + ".debug");
  SymbolizerOptions options = NoDebugDirs(empty);
  options.symfs = root.path();
  Symbolizer sym(options);
  EXPECT_EQ(sym.SymbolizeFile(build_id, "/opt/gone/app", elf_sym.file_offset + 1).function, "a");
}

TEST(SymbolizerTest, UnsymbolizedAddressesAreCountedPerBinary) {
  const std::string path = KnownTreePath();
  WICK_ASSERT_OK_AND_ASSIGN(ElfSymbol elf_sym, FindElfSymbol(path, "a"));
  TempDir empty;
  Symbolizer sym(NoDebugDirs(empty));
  EXPECT_TRUE(sym.UnsymbolizedByBinary().empty());
  for (uint64_t off : {0x1000, 0x2000, 0x3000, 0x2000}) sym.SymbolizeFile("", "/gone/libx.so", off);
  sym.SymbolizeFile("", path, 0);                    // the ELF header: no symbol
  sym.SymbolizeFile("", path, elf_sym.file_offset);  // named: not counted
  sym.SymbolizeFile("", "/gone/liby.so", 0x10);
  const std::vector<UnsymbolizedBinary> u = sym.UnsymbolizedByBinary();
  ASSERT_EQ(u.size(), 3u);
  EXPECT_EQ(u[0].path, "/gone/libx.so");
  EXPECT_EQ(u[0].addresses, 3u);  // distinct addresses
  EXPECT_EQ(u[0].reason, SymbolizeReason::kNoFile);
  // The other two tie on one address each and are ordered by path; where the checkout
  // lives decides which of them comes first.
  const bool real_first = path < "/gone/liby.so";
  const UnsymbolizedBinary& liby = u[real_first ? 2 : 1];
  const UnsymbolizedBinary& real = u[real_first ? 1 : 2];
  EXPECT_EQ(liby.path, "/gone/liby.so");
  EXPECT_EQ(liby.addresses, 1u);
  EXPECT_EQ(real.path, path);
  EXPECT_EQ(real.addresses, 1u);
  EXPECT_EQ(real.reason, SymbolizeReason::kNoSymbol);
}

TEST(SymbolizerTest, UnknownsCarryAReason) {
  const std::string path = KnownTreePath();
  TempDir empty;
  Symbolizer sym(NoDebugDirs(empty));
  EXPECT_EQ(sym.SymbolizeFile("", "/nonexistent/libfoo.so", 0x1000).reason,
            SymbolizeReason::kNoFile);
  // A [vdso] of another kernel (another build-id) has no file here.
  EXPECT_EQ(sym.SymbolizeFile("not-our-vdso", "[vdso]", 0x1000).reason, SymbolizeReason::kNoFile);
  EXPECT_EQ(sym.SymbolizeFile("", "/etc/hostname", 0).reason, SymbolizeReason::kNoFile);
  EXPECT_EQ(sym.SymbolizeFile("", path, uint64_t{1} << 40).reason, SymbolizeReason::kBadOffset);
  // Offset 0 is the ELF header: loaded, but no function is there.
  const SymbolizedAddress& header = sym.SymbolizeFile("", path, 0);
  EXPECT_EQ(header.reason, SymbolizeReason::kNoSymbol);
  EXPECT_FALSE(header.known());
  EXPECT_EQ(sym.stats().Get(Stat::kUnsymbolizedFrames), 5u);
  EXPECT_EQ(SymbolizeReasonName(SymbolizeReason::kBuildIdMismatch), "build-id mismatch");
}

TEST(SymbolizerTest, NamesQsortInLibc) {
  const std::string libc = workloads::LoadedLibraryPath("libc.so.6");
  ASSERT_FALSE(libc.empty());
  WICK_ASSERT_OK_AND_ASSIGN(std::string build_id, ReadElfBuildId(libc));
  WICK_ASSERT_OK_AND_ASSIGN(ElfSymbol elf_sym, FindElfSymbol(libc, "qsort"));
  // qsort is a small wrapper (8 bytes here): stay inside it.
  const uint64_t inside = elf_sym.size / 2;
  Symbolizer sym;  // the system's /usr/lib/debug too, as in a real report
  const SymbolizedAddress& r = sym.SymbolizeFile(build_id, libc, elf_sym.file_offset + inside);
  EXPECT_EQ(r.function, "qsort") << libc << ": " << SymbolizeReasonName(r.reason);
  EXPECT_EQ(r.function_offset, inside);
  // Also with the .dynsym alone (no debug file).
  TempDir empty;
  Symbolizer dynsym_only(NoDebugDirs(empty));
  EXPECT_EQ(dynsym_only.SymbolizeFile(build_id, libc, elf_sym.file_offset + inside).function,
            "qsort");
}

// A stripped program still has its .eh_frame: every address of a function maps to the start
// of the function's FDE, which is where the unstripped copy's symbol says it starts.
TEST(SymbolizerTest, StrippedFunctionsAreNamedByTheirFdeStart) {
  const std::string stripped = workloads::KnownTreeFpNoSymsPath();
  TempDir empty;
  Symbolizer sym(NoDebugDirs(empty));
  uint64_t addresses = 0;
  for (const char* name : {"a", "b", "c", "work", "main", "checkpoint"}) {
    SCOPED_TRACE(name);
    WICK_ASSERT_OK_AND_ASSIGN(ElfSymbol elf_sym, FindElfSymbol(KnownTreePath(), name));
    for (uint64_t at = 0; at < elf_sym.size; ++at, ++addresses) {
      const SymbolizedAddress& r = sym.SymbolizeFile("", stripped, elf_sym.file_offset + at);
      ASSERT_FALSE(r.known()) << r.function;
      ASSERT_EQ(r.reason, SymbolizeReason::kNoSymbol);
      ASSERT_TRUE(r.unnamed_function) << "+" << at;
      ASSERT_EQ(r.function_file_offset, elf_sym.file_offset) << "+" << at;
      ASSERT_EQ(r.function_offset, at);
      ASSERT_EQ(r.address, elf_sym.value + at);
    }
  }
  // The ELF header is in no function; the PLT's one FDE spans the stubs of every import.
  const SymbolizedAddress& header = sym.SymbolizeFile("", stripped, 0x10);
  EXPECT_FALSE(header.unnamed_function);
  EXPECT_EQ(header.reason, SymbolizeReason::kNoSymbol);
  WICK_ASSERT_OK_AND_ASSIGN(uint64_t plt, workloads::FindSectionOffset(stripped, ".plt"));
  EXPECT_FALSE(sym.SymbolizeFile("", stripped, plt + 0x14).unnamed_function);
  const std::vector<UnsymbolizedBinary> u = sym.UnsymbolizedByBinary();
  ASSERT_EQ(u.size(), 1u);
  EXPECT_EQ(u[0].addresses, addresses + 2);
  EXPECT_EQ(u[0].unnamed_functions, 6u);
  // The unstripped copy is named by its symbols, not by FDEs.
  WICK_ASSERT_OK_AND_ASSIGN(ElfSymbol a, FindElfSymbol(KnownTreePath(), "a"));
  const SymbolizedAddress& named = sym.SymbolizeFile("", KnownTreePath(), a.file_offset + 3);
  EXPECT_EQ(named.function, "a");
  EXPECT_FALSE(named.unnamed_function);
}

void ExpectSameAddress(const SymbolizedAddress& a, const SymbolizedAddress& b) {
  EXPECT_EQ(a.function, b.function);
  EXPECT_EQ(a.function_offset, b.function_offset);
  EXPECT_EQ(a.address, b.address);
  EXPECT_EQ(a.file, b.file);
  EXPECT_EQ(a.line, b.line);
  EXPECT_EQ(a.aliases, b.aliases);
  EXPECT_EQ(a.unnamed_function, b.unnamed_function);
  EXPECT_EQ(a.function_file_offset, b.function_file_offset);
  EXPECT_EQ(a.reason, b.reason);
  ASSERT_EQ(a.inlined.size(), b.inlined.size());
  for (size_t i = 0; i < a.inlined.size(); ++i) {
    EXPECT_EQ(a.inlined[i].function, b.inlined[i].function);
    EXPECT_EQ(a.inlined[i].file, b.inlined[i].file);
    EXPECT_EQ(a.inlined[i].line, b.inlined[i].line);
  }
}

// Every address of outer() in known_tree_inline (names, inlined frames, lines) and a few
// past the file's end, symbolized by `sym`.
std::vector<SymbolizedAddress> SymbolizeOuter(Symbolizer& sym, const std::string& build_id,
                                              const std::string& path) {
  std::vector<SymbolizedAddress> out;
  auto outer = FindElfSymbol(workloads::KnownTreeInlinePath(), "outer");
  EXPECT_TRUE(outer.ok());
  if (!outer.ok()) return out;
  for (uint64_t i = 0; i < outer->size; ++i) {
    out.push_back(sym.SymbolizeFile(build_id, path, outer->file_offset + i));
  }
  out.push_back(sym.SymbolizeFile(build_id, path, uint64_t{1} << 40));  // kBadOffset
  return out;
}

// The cache gives back exactly what the binary gave, without reading the binary; an offset it
// lacks is still read from the binary.
TEST(SymbolCacheTest, ASecondRunNamesFromTheCache) {
  const std::string path = workloads::KnownTreeInlinePath();
  WICK_ASSERT_OK_AND_ASSIGN(std::string build_id, ReadElfBuildId(path));
  ASSERT_FALSE(build_id.empty());
  TempDir empty, cache;
  SymbolizerOptions options = NoDebugDirs(empty);
  options.cache_dir = cache.path() + "/symbols";
  std::vector<SymbolizedAddress> first;
  {
    Symbolizer sym(options);
    first = SymbolizeOuter(sym, build_id, path);
    EXPECT_EQ(sym.cache_hits(), 0u);
  }
  int inlined = 0;
  for (const SymbolizedAddress& a : first) inlined += !a.inlined.empty();
  ASSERT_GT(inlined, 0) << "the test needs inlined frames to compare";
  ASSERT_EQ(first.back().reason, SymbolizeReason::kBadOffset);

  Symbolizer again(options);
  std::vector<SymbolizedAddress> second = SymbolizeOuter(again, build_id, path);
  EXPECT_EQ(again.cache_hits(), first.size());
  ASSERT_EQ(second.size(), first.size());
  for (size_t i = 0; i < first.size(); ++i) {
    SCOPED_TRACE(i);
    ExpectSameAddress(second[i], first[i]);
  }
  EXPECT_EQ(again.stats().Get(Stat::kUnsymbolizedFrames), 1u);  // the bad offset, as before
  WICK_ASSERT_OK_AND_ASSIGN(ElfSymbol main_sym, FindElfSymbol(path, "main"));
  EXPECT_EQ(again.SymbolizeFile(build_id, path, main_sym.file_offset + 1).function, "main");
  EXPECT_EQ(again.cache_hits(), first.size());

  // Other options (no DWARF) are another entry: no inlined frames from the first one's.
  options.debug_info = false;
  Symbolizer plain(options);
  for (const SymbolizedAddress& a : SymbolizeOuter(plain, build_id, path)) {
    EXPECT_TRUE(a.inlined.empty());
  }
  EXPECT_EQ(plain.cache_hits(), 0u);
}

// A stripped copy keeps the build-id of the file it was stripped from; the names cached for
// the unstripped file must not name it.
TEST(SymbolCacheTest, AStrippedCopyWithTheSameBuildIdIsNotNamedFromTheCache) {
  WICK_ASSERT_OK_AND_ASSIGN(std::string build_id, ReadElfBuildId(KnownTreePath()));
  WICK_ASSERT_OK_AND_ASSIGN(std::string stripped_id,
                            ReadElfBuildId(workloads::KnownTreeFpNoSymsPath()));
  ASSERT_EQ(build_id, stripped_id) << "the test needs a stripped copy with the same build-id";
  WICK_ASSERT_OK_AND_ASSIGN(ElfSymbol a, FindElfSymbol(KnownTreePath(), "a"));
  TempDir empty, cache;
  SymbolizerOptions options = NoDebugDirs(empty);
  options.cache_dir = cache.path();
  {
    Symbolizer sym(options);
    EXPECT_EQ(sym.SymbolizeFile(build_id, KnownTreePath(), a.file_offset + 2).function, "a");
  }
  Symbolizer sym(options);
  const SymbolizedAddress& r =
      sym.SymbolizeFile(build_id, workloads::KnownTreeFpNoSymsPath(), a.file_offset + 2);
  EXPECT_FALSE(r.known()) << r.function;
  EXPECT_TRUE(r.unnamed_function);
  EXPECT_EQ(sym.cache_hits(), 0u);
}

// libc6-dbg's debug file has zlib-compressed DWARF, which elfutils would inflate at each open:
// the cache keeps an inflated copy, read by later runs, and the names (inlined frames and lines
// included) are the same as from the original.
TEST(SymbolCacheTest, CompressedDebugInfoIsReadFromAnInflatedCopy) {
  const std::string libc = workloads::LoadedLibraryPath("libc.so.6");
  ASSERT_FALSE(libc.empty());
  WICK_ASSERT_OK_AND_ASSIGN(std::string build_id, ReadElfBuildId(libc));
  const std::string debug_file = SystemDebugFile(build_id);
  ASSERT_TRUE(fs::exists(debug_file)) << "libc6-dbg is not installed (tools/setup installs it)";
  WICK_ASSERT_OK_AND_ASSIGN(uint64_t text, workloads::FindSectionOffset(libc, ".text"));
  TempDir cache;
  SymbolizerOptions options;
  options.cache_dir = cache.path();
  Symbolizer plain;
  auto symbolize_all = [&](Symbolizer& sym) {
    std::vector<SymbolizedAddress> out;
    for (uint64_t at = 0; at < 200000; at += 331) {
      out.push_back(sym.SymbolizeFile(build_id, libc, text + at));
    }
    return out;
  };
  const std::vector<SymbolizedAddress> expected = symbolize_all(plain);
  int inlined = 0;
  for (const SymbolizedAddress& a : expected) inlined += !a.inlined.empty();
  ASSERT_GT(inlined, 0) << "the test needs inlined frames from libc's DWARF";
  for (int run = 0; run < 2; ++run) {
    SCOPED_TRACE(run);
    {
      Symbolizer sym(options);
      const std::vector<SymbolizedAddress> got = symbolize_all(sym);
      EXPECT_EQ(sym.cache_hits(), 0u);
      ASSERT_EQ(got.size(), expected.size());
      for (size_t i = 0; i < got.size(); ++i) ExpectSameAddress(got[i], expected[i]);
    }
    std::vector<fs::path> copies;
    for (const auto& e : fs::directory_iterator(cache.path() + "/inflated")) {
      copies.push_back(e.path());
    }
    ASSERT_EQ(copies.size(), 1u);
    WICK_ASSERT_OK_AND_ASSIGN(std::string copy_id, ReadElfBuildId(copies[0].string()));
    EXPECT_EQ(copy_id, build_id);
    EXPECT_GT(fs::file_size(copies[0]), fs::file_size(debug_file)) << "not inflated";
    // The names came from the copy: the entry lists it among the files they depend on.
    int entries_naming_the_copy = 0;
    for (const auto& e : fs::directory_iterator(cache.path())) {
      if (!e.is_regular_file()) continue;
      std::ifstream in(e.path(), std::ios::binary);
      const std::string bytes((std::istreambuf_iterator<char>(in)), {});
      entries_naming_the_copy += bytes.find(copies[0].string() + "\t") != std::string::npos;
    }
    EXPECT_EQ(entries_naming_the_copy, 1);
    // The next run finds the copy but no names (removed here), so it reads the copy's DWARF.
    for (const auto& e : fs::directory_iterator(cache.path())) {
      if (e.is_regular_file()) fs::remove(e.path());
    }
  }
}

// A binary changed on disk (here: its mtime), or a cache file cut short or overwritten, is a
// miss: the names come from the binary again.
TEST(SymbolCacheTest, AChangedBinaryOrABrokenEntryIsAMiss) {
  TempDir empty, cache, bin;
  const std::string path = bin.path() + "/known_tree_fp";
  fs::copy_file(KnownTreePath(), path);
  WICK_ASSERT_OK_AND_ASSIGN(std::string build_id, ReadElfBuildId(path));
  WICK_ASSERT_OK_AND_ASSIGN(ElfSymbol b, FindElfSymbol(path, "b"));
  SymbolizerOptions options = NoDebugDirs(empty);
  options.cache_dir = cache.path();
  auto run = [&](uint64_t expected_hits) {
    Symbolizer sym(options);
    EXPECT_EQ(sym.SymbolizeFile(build_id, path, b.file_offset + 3).function, "b");
    EXPECT_EQ(sym.cache_hits(), expected_hits);
  };
  run(0);
  run(1);
  fs::last_write_time(path, fs::last_write_time(path) - std::chrono::hours(1));
  run(0);
  run(1);
  std::vector<fs::path> entries;
  for (const auto& e : fs::directory_iterator(cache.path())) entries.push_back(e.path());
  ASSERT_EQ(entries.size(), 1u);
  const uintmax_t size = fs::file_size(entries[0]);
  fs::resize_file(entries[0], size - 3);
  run(0);
  run(1);
  {
    std::ofstream garbage(entries[0], std::ios::binary | std::ios::trunc);
    garbage << "WICKSYC1" << std::string(size, '\xff');
  }
  run(0);
  run(1);
}

bool HasAlias(const SymbolizedAddress& r, const std::string& alias) {
  return std::find(r.aliases.begin(), r.aliases.end(), alias) != r.aliases.end();
}

// Of the names libc gives one function, the one a user types: malloc, not __libc_malloc
// (libdwfl's first); free, not the compat alias cfree@GLIBC_2.2.5 (perf's pick); write and
// access, not __GI___libc_write and __GI___access (perf's, which prefers locals to weak
// names). The others are the function's aliases.
TEST(SymbolizerTest, LibcFunctionsGetTheNamesUsersType) {
  const std::string libc = workloads::LoadedLibraryPath("libc.so.6");
  ASSERT_FALSE(libc.empty());
  WICK_ASSERT_OK_AND_ASSIGN(std::string build_id, ReadElfBuildId(libc));
  const std::string debug = SystemDebugFile(build_id);
  WICK_REQUIRE(access(debug.c_str(), R_OK) == 0,
               "no debug file for " + libc + " (apt-get install libc6-dbg)");
  TempDir empty;
  Symbolizer with_debug;  // the system's /usr/lib/debug: libc6-dbg's .symtab
  Symbolizer dynsym_only(NoDebugDirs(empty));
  struct Case {
    const char* exported;  // looked up in libc's .dynsym
    const char* shown;
    const char* alias;  // one of its other names in the .symtab
  };
  for (const Case& c :
       {Case{"malloc", "malloc", "__libc_malloc"}, Case{"free", "free", "cfree@GLIBC_2.2.5"},
        Case{"realloc", "realloc", "__libc_realloc"}, Case{"write", "write", "__GI___libc_write"},
        Case{"access", "access", "__GI___access"}}) {
    SCOPED_TRACE(c.exported);
    WICK_ASSERT_OK_AND_ASSIGN(ElfSymbol elf_sym, FindElfSymbol(libc, c.exported));
    const SymbolizedAddress& r = with_debug.SymbolizeFile(build_id, libc, elf_sym.file_offset + 1);
    EXPECT_EQ(r.function, c.shown) << absl::StrJoin(r.aliases, " ");
    EXPECT_TRUE(HasAlias(r, c.alias)) << absl::StrJoin(r.aliases, " ");
    // .dynsym alone: the same choice (cfree is a hidden version there, without "@").
    EXPECT_EQ(dynsym_only.SymbolizeFile(build_id, libc, elf_sym.file_offset + 1).function, c.shown);
  }
  // Two local names of one memmove/memcpy variant: perf's longest-name rule, memmove.
  WICK_ASSERT_OK_AND_ASSIGN(ElfSymbol malloc_dyn, FindElfSymbol(libc, "malloc"));
  WICK_ASSERT_OK_AND_ASSIGN(ElfSymbol variant,
                            workloads::FindElfSymbolUnplaced(debug, "__memcpy_avx_unaligned_erms"));
  // Both in libc's text segment, where file offset - address is the same.
  const uint64_t offset = variant.value + malloc_dyn.file_offset - malloc_dyn.value;
  const SymbolizedAddress& r = with_debug.SymbolizeFile(build_id, libc, offset + 2);
  EXPECT_EQ(r.function, "__memmove_avx_unaligned_erms");
  EXPECT_TRUE(HasAlias(r, "__memcpy_avx_unaligned_erms"));
}

// --- kallsyms ---

std::string WriteFile(const TempDir& dir, const std::string& name, const std::string& text) {
  const std::string path = dir.path() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

constexpr char kKallsyms[] =
    "0000000000000000 A fixed_percpu_data\n"
    "ffffffff81000000 T _stext\n"
    "ffffffff81000000 t startup_64\n"
    "ffffffff81001000 T do_one_initcall\n"
    "ffffffff81001200 D some_data\n"
    "ffffffff81001400 t local_helper\n"
    "ffffffff81002000 W weak_thing\n"
    "ffffffff81003000 T _etext\n"
    "ffffffffc0a00000 t ext4_fill_super\t[ext4]\n"
    "ffffffffc0a00800 T ext4_sync_fs\t[ext4]\n"
    "ffffffffc0a01000 t last_symbol\t[ext4]\n";

// Out of address order (the kernel lists its own text in order, but a file may not be), with
// aliases: sorted, and one symbol per address (a global, then the first name). A file of
// several MB, read in growing steps, loses no line at a step's edge.
TEST(KernelSymbolsTest, UnsortedAliasesAndALargeFile) {
  TempDir dir;
  std::string text =
      "ffffffffc0a00000 t mod_func\t[mod]\n"
      "ffffffffc0a00100 t mod_end\t[mod]\n"
      "ffffffff81002000 t local_alias\n"
      "ffffffff81002000 T b_global\n"
      "ffffffff81002000 T a_global\n"
      "ffffffff81001000 T first\n";
  constexpr uint64_t kMany = 100000;  // ~4.5 MB of lines past the first step (1 MiB)
  for (uint64_t i = 0; i < kMany; ++i) {
    text += absl::StrFormat("%016x t filler_%06d\n", 0xffffffff82000000 + 16 * i, i);
  }
  const std::string path = WriteFile(dir, "kallsyms", text);
  const uint64_t addrs[] = {0xffffffff81002004, 0xffffffff81001000, 0xffffffffc0a00001,
                            0xffffffff82000000 + 16 * (kMany - 1) + 1,
                            0xffffffff82000000 + 16 * 77777};
  WICK_ASSERT_OK_AND_ASSIGN(std::vector<KernelSymbol> syms, CaptureKernelSymbols(addrs, path));
  ASSERT_EQ(syms.size(), 5u);
  EXPECT_EQ(syms[0].name, "first");
  EXPECT_EQ(syms[1].name, "a_global");
  EXPECT_EQ(syms[2].name, "filler_077777");
  EXPECT_EQ(syms[3].name, absl::StrFormat("filler_%06d", kMany - 1));
  EXPECT_EQ(syms[4].name, "mod_func");
  EXPECT_EQ(syms[4].module, "mod");
}

TEST(KernelSymbolsTest, KeepsOnlySymbolsOfTheAddresses) {
  TempDir dir;
  const std::string path = WriteFile(dir, "kallsyms", kKallsyms);
  const uint64_t addrs[] = {
      0xffffffffc0a00010, 0xffffffff81001210, 0xffffffff81000005, 0xffffffff81001210, 0x1000,
      0xffffffffc0a0ffff};
  WICK_ASSERT_OK_AND_ASSIGN(std::vector<KernelSymbol> syms, CaptureKernelSymbols(addrs, path));
  ASSERT_EQ(syms.size(), 3u);
  EXPECT_EQ(syms[0].name, "_stext");  // the global alias wins at a shared address
  EXPECT_EQ(syms[0].address, 0xffffffff81000000u);
  EXPECT_EQ(syms[0].size, 0x1000u);
  EXPECT_EQ(syms[0].module, "");
  EXPECT_EQ(syms[1].name, "do_one_initcall");  // data symbols do not end text symbols
  EXPECT_EQ(syms[1].size, 0x400u);
  EXPECT_EQ(syms[2].name, "ext4_fill_super");
  EXPECT_EQ(syms[2].module, "ext4");
  EXPECT_EQ(syms[2].size, 0x800u);

  EXPECT_EQ(LookupKernelSymbol(syms, 0xffffffff81000fff)->name, "_stext");
  EXPECT_EQ(LookupKernelSymbol(syms, 0xffffffff81001000)->name, "do_one_initcall");
  EXPECT_EQ(LookupKernelSymbol(syms, 0xffffffff81001400), nullptr);
  EXPECT_EQ(LookupKernelSymbol(syms, 0xffffffff80000000), nullptr);
  EXPECT_EQ(LookupKernelSymbol(syms, 0xffffffffc0a00800), nullptr);
  EXPECT_EQ(LookupKernelSymbol({}, 0xffffffffc0a00800), nullptr);
}

TEST(KernelSymbolsTest, HiddenAddressesNameKptrRestrict) {
  TempDir dir;
  const std::string path = WriteFile(dir, "kallsyms",
                                     "0000000000000000 T _stext\n"
                                     "0000000000000000 t foo\t[ext4]\n");
  const uint64_t addrs[] = {0xffffffff81000005};
  absl::StatusOr<std::vector<KernelSymbol>> syms = CaptureKernelSymbols(addrs, path);
  ASSERT_FALSE(syms.ok());
  EXPECT_EQ(syms.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(syms.status().message().find("/proc/sys/kernel/kptr_restrict"), absl::string_view::npos)
      << syms.status();
}

TEST(KernelSymbolsTest, MissingFileIsNotFound) {
  const uint64_t addrs[] = {1};
  absl::StatusOr<std::vector<KernelSymbol>> syms =
      CaptureKernelSymbols(addrs, "/nonexistent/kallsyms");
  ASSERT_FALSE(syms.ok());
  EXPECT_EQ(syms.status().code(), absl::StatusCode::kNotFound) << syms.status();
  EXPECT_NE(syms.status().message().find("/nonexistent/kallsyms"), absl::string_view::npos);
}

// A recording cut short before its last kernel symbols were written: on the boot it was made
// on, the report takes them from /proc/kallsyms (only those missing); on another boot, never.
TEST(KernelSymbolsTest, MissingSymbolsComeFromThisBootOnly) {
  TempDir dir;
  const std::string path = WriteFile(dir, "kallsyms", kKallsyms);
  ASSERT_FALSE(ThisBootId().empty());
  Recording rec;
  rec.meta.boot_id = ThisBootId();
  rec.stacks.push_back(RecordedStack{.id = 0,
                                     .frames = {Frame{0xffffffff81001210, 0, FrameKind::kKernel},
                                                Frame{0xffffffff81000005, 0, FrameKind::kKernel}},
                                     .count = 1});
  rec.kernel_symbols.push_back(KernelSymbol{0xffffffff81000000, 0x1000, "_stext", ""});
  WICK_ASSERT_OK_AND_ASSIGN(size_t added, AddMissingKernelSymbolsOfThisBoot(&rec, path));
  EXPECT_EQ(added, 1u);
  ASSERT_EQ(rec.kernel_symbols.size(), 2u);
  EXPECT_EQ(LookupKernelSymbol(rec.kernel_symbols, 0xffffffff81001210)->name, "do_one_initcall");
  WICK_ASSERT_OK_AND_ASSIGN(added, AddMissingKernelSymbolsOfThisBoot(&rec, path));
  EXPECT_EQ(added, 0u) << "nothing missing any more";

  Recording other = rec;
  other.kernel_symbols.clear();
  other.meta.boot_id = "00000000-0000-0000-0000-000000000000";
  WICK_ASSERT_OK_AND_ASSIGN(added, AddMissingKernelSymbolsOfThisBoot(&other, path));
  EXPECT_EQ(added, 0u);
  EXPECT_TRUE(other.kernel_symbols.empty());
  other.meta.boot_id = "";  // a file from before boot ids were recorded
  WICK_ASSERT_OK_AND_ASSIGN(added, AddMissingKernelSymbolsOfThisBoot(&other, path));
  EXPECT_EQ(added, 0u);
}

// The copy of the kernel image's symbols names what kallsyms names, and an address outside
// the image (a module) loads kallsyms itself; a changed file is not read from a stale copy.
TEST(KernelSymbolsTest, CachedCopyOfTheImageSymbols) {
  TempDir dir, cache;
  const std::string path = WriteFile(dir, "kallsyms", kKallsyms);
  const uint64_t image[] = {0xffffffff81000005, 0xffffffff81001210, 0xffffffff81002001,
                            0xffffffff81003004};
  const uint64_t module[] = {0xffffffffc0a00010};
  WICK_ASSERT_OK_AND_ASSIGN(KallsymsTable plain, KallsymsTable::Load(path));
  // Another boot's copy goes when this boot's is made; this boot's copy of another file stays.
  const std::string old_boot =
      WriteFile(cache, "kallsyms-00000000-0000-0000-0000-000000000000-1", "x");
  const std::string other_file =
      WriteFile(cache, absl::StrCat("kallsyms-", ThisBootId(), "-0123456789abcdef"), "x");
  WICK_ASSERT_OK_AND_ASSIGN(KallsymsTable first, KallsymsTable::LoadCached(path, cache.path()));
  EXPECT_FALSE(first.from_cache());
  EXPECT_FALSE(fs::exists(old_boot));
  EXPECT_TRUE(fs::exists(other_file));
  fs::remove(other_file);
  WICK_ASSERT_OK_AND_ASSIGN(KallsymsTable copy, KallsymsTable::LoadCached(path, cache.path()));
  ASSERT_TRUE(copy.from_cache());
  const auto same = [](const std::vector<KernelSymbol>& a, const std::vector<KernelSymbol>& b) {
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].name, b[i].name);
      EXPECT_EQ(a[i].address, b[i].address);
      EXPECT_EQ(a[i].size, b[i].size);
      EXPECT_EQ(a[i].module, b[i].module);
    }
  };
  const std::vector<KernelSymbol> expected = plain.Lookup(image);
  ASSERT_EQ(expected.size(), 4u);  // _etext, the last image symbol, ends at the first module's
  same(copy.Lookup(image), expected);
  EXPECT_FALSE(copy.loaded_whole());
  const std::vector<KernelSymbol> in_module = copy.Lookup(module);
  EXPECT_TRUE(copy.loaded_whole());
  ASSERT_EQ(in_module.size(), 1u);
  EXPECT_EQ(in_module[0].name, "ext4_fill_super");
  EXPECT_EQ(in_module[0].module, "ext4");
  same(copy.Lookup(image), expected);

  // The file changes: its copy is stale.
  WriteFile(dir, "kallsyms", std::string(kKallsyms) + "ffffffffc0b00000 t more\t[xfs]\n");
  fs::last_write_time(path, fs::last_write_time(path) - std::chrono::hours(1));
  WICK_ASSERT_OK_AND_ASSIGN(KallsymsTable changed, KallsymsTable::LoadCached(path, cache.path()));
  EXPECT_FALSE(changed.from_cache());
  // A copy cut short is not read either.
  for (const auto& e : fs::directory_iterator(cache.path())) {
    fs::resize_file(e.path(), fs::file_size(e.path()) - 5);
  }
  WICK_ASSERT_OK_AND_ASSIGN(KallsymsTable cut, KallsymsTable::LoadCached(path, cache.path()));
  EXPECT_FALSE(cut.from_cache());
  same(cut.Lookup(image), expected);
}

// The running kernel: the address of a well-known function, a little inside it, names it.
TEST(KernelSymbolsTest, RealKallsyms) {
  std::ifstream in("/proc/kallsyms");
  std::string addr_text, type, name;
  uint64_t schedule = 0;
  while (in >> addr_text >> type >> name) {
    if (name == "schedule" && (type == "T" || type == "t")) {
      schedule = std::stoull(addr_text, nullptr, 16);
      break;
    }
    in.ignore(1 << 20, '\n');
  }
  WICK_REQUIRE(schedule != 0, "/proc/kallsyms hides addresses (kptr_restrict) or is missing");
  const uint64_t addrs[] = {schedule + 1};
  WICK_ASSERT_OK_AND_ASSIGN(std::vector<KernelSymbol> syms, CaptureKernelSymbols(addrs));
  ASSERT_EQ(syms.size(), 1u);
  EXPECT_EQ(syms[0].name, "schedule");
  EXPECT_GT(syms[0].size, 1u);
  EXPECT_EQ(LookupKernelSymbol(syms, schedule + 1), &syms[0]);

  // This boot's copy of the image's symbols names it the same, without reading kallsyms.
  TempDir cache;
  WICK_ASSERT_OK_AND_ASSIGN(KallsymsTable first,
                            KallsymsTable::LoadCached("/proc/kallsyms", cache.path()));
  EXPECT_FALSE(first.from_cache());
  WICK_ASSERT_OK_AND_ASSIGN(KallsymsTable copy,
                            KallsymsTable::LoadCached("/proc/kallsyms", cache.path()));
  ASSERT_TRUE(copy.from_cache());
  const std::vector<KernelSymbol> from_copy = copy.Lookup(addrs);
  EXPECT_FALSE(copy.loaded_whole());
  ASSERT_EQ(from_copy.size(), 1u);
  EXPECT_EQ(from_copy[0].name, "schedule");
  EXPECT_EQ(from_copy[0].size, syms[0].size);
}

}  // namespace
}  // namespace wick
