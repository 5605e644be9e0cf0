// Unit tests of the build-id reader (against ELF files the build links with known notes) and
// of ProcessTable (against fixture /proc trees written to a temporary directory).
#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "testing/testing.h"
#include "wick/build_id.h"
#include "wick/process_table.h"
#include "wick/scoped.h"
#include "workloads.h"

namespace wick {
namespace {

namespace fs = std::filesystem;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteAll(const fs::path& path, std::string_view data) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  ASSERT_TRUE(out.good()) << path;
}

std::span<const std::byte> Bytes(std::string_view s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

std::string FromHex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "wick_process_test.XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// ---------------------------------------------------------------------------------------
// Build-id reader.

TEST(BuildIdTest, FixedBuildIdIsExact) {
  WICK_ASSERT_OK_AND_ASSIGN(std::string id, ReadBuildId(WICK_BUILD_ID_FIXED_PATH));
  EXPECT_EQ(BuildIdToHex(id), WICK_FIXED_BUILD_ID);
  EXPECT_EQ(id.size(), 20u);
}

TEST(BuildIdTest, Sha1MatchesReadelf) {
  std::string cmd = std::string(WICK_READELF) + " -n " + WICK_BUILD_ID_SHA1_PATH;
  FILE* pipe = popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof(buf), pipe)) output.append(buf, n);
  ASSERT_EQ(pclose(pipe), 0) << cmd;
  size_t pos = output.find("Build ID: ");
  ASSERT_NE(pos, std::string::npos) << output;
  std::string expected = output.substr(pos + 10, 40);

  WICK_ASSERT_OK_AND_ASSIGN(std::string id, ReadBuildId(WICK_BUILD_ID_SHA1_PATH));
  EXPECT_EQ(BuildIdToHex(id), expected);
  EXPECT_NE(BuildIdToHex(id), WICK_FIXED_BUILD_ID);
}

TEST(BuildIdTest, NoBuildIdIsNotFound) {
  absl::StatusOr<std::string> id = ReadBuildId(WICK_BUILD_ID_NONE_PATH);
  EXPECT_TRUE(absl::IsNotFound(id.status())) << id.status();
  EXPECT_NE(id.status().message().find("build_id_none"), absl::string_view::npos);
}

TEST(BuildIdTest, SeparateDebugFileUsesSections) {
  WICK_ASSERT_OK_AND_ASSIGN(std::string id, ReadBuildId(WICK_BUILD_ID_DEBUG_PATH));
  EXPECT_EQ(BuildIdToHex(id), WICK_FIXED_BUILD_ID);
}

TEST(BuildIdTest, NotElfIsInvalidArgument) {
  TempDir dir;
  WriteAll(dir.path() / "text", "#!/bin/sh\necho this is not an ELF file\n");
  WriteAll(dir.path() / "empty", "");
  for (const char* name : {"text", "empty"}) {
    absl::StatusOr<std::string> id = ReadBuildId((dir.path() / name).string());
    EXPECT_TRUE(absl::IsInvalidArgument(id.status())) << name << ": " << id.status();
  }
  EXPECT_TRUE(absl::IsInvalidArgument(ReadBuildId(dir.path().string()).status()));  // a dir
  EXPECT_TRUE(absl::IsNotFound(ReadBuildId((dir.path() / "missing").string()).status()));
}

TEST(BuildIdTest, TruncatedElfIsInvalidArgument) {
  std::string elf = ReadAll(WICK_BUILD_ID_FIXED_PATH);
  ASSERT_GT(elf.size(), 1000u);
  TempDir dir;
  for (size_t len : {size_t{20}, size_t{64}, size_t{100}, size_t{300}}) {
    WriteAll(dir.path() / "cut", std::string_view(elf).substr(0, len));
    absl::StatusOr<std::string> id = ReadBuildId((dir.path() / "cut").string());
    EXPECT_TRUE(absl::IsInvalidArgument(id.status())) << len << ": " << id.status();
  }
}

// Every prefix of a real ELF file: never a read past the end (ASan builds check), and any
// answer given is the right one.
TEST(BuildIdTest, EveryPrefixIsSafe) {
  std::string elf = ReadAll(WICK_BUILD_ID_FIXED_PATH);
  const std::string expected = FromHex(WICK_FIXED_BUILD_ID);
  size_t found = 0;
  // Every length near the start (headers, program headers, notes) and near the end (section
  // headers), and a stride in between: all lengths would be quadratic in the file size,
  // which sanitizer builds make about a megabyte.
  std::vector<size_t> lengths;
  for (size_t len = 0; len <= elf.size();
       len += (len < 8192 || len + 8192 > elf.size()) ? 1 : 4099) {
    lengths.push_back(len);
  }
  for (size_t len : lengths) {
    // A copy of exactly len bytes, so ASan sees any overread.
    std::vector<std::byte> prefix(len);
    if (len != 0) std::memcpy(prefix.data(), elf.data(), len);
    absl::StatusOr<std::string> id = ParseBuildId(prefix, "prefix");
    if (id.ok()) {
      EXPECT_EQ(*id, expected) << len;
      ++found;
    } else {
      EXPECT_TRUE(absl::IsInvalidArgument(id.status())) << len << ": " << id.status();
    }
  }
  EXPECT_GT(found, 0u);
  EXPECT_TRUE(ParseBuildId(Bytes(elf), "whole").ok());
}

TEST(BuildIdTest, CorruptNoteSizesAreBounded) {
  std::string elf = ReadAll(WICK_BUILD_ID_FIXED_PATH);
  const std::string expected = FromHex(WICK_FIXED_BUILD_ID);
  size_t desc = elf.find(expected);
  ASSERT_NE(desc, std::string::npos);
  // Layout before the descriptor: namesz, descsz, type, "GNU\0".
  size_t nhdr = desc - 16;
  ASSERT_EQ(elf.substr(nhdr + 12, 4), std::string("GNU\0", 4));
  for (uint32_t bad : {0xffffffffu, 0x7ffffff0u, 21u, 0u}) {
    for (size_t field : {size_t{0}, size_t{4}}) {
      std::string copy = elf;
      std::memcpy(copy.data() + nhdr + field, &bad, 4);
      absl::StatusOr<std::string> id = ParseBuildId(Bytes(copy), "corrupt");
      if (id.ok()) {
        EXPECT_NE(*id, expected) << bad << " at " << field;
      }
    }
  }
}

TEST(BuildIdTest, Hex) {
  EXPECT_EQ(BuildIdToHex(std::string("\x01\xab\xff\x00", 4)), "01abff00");
  EXPECT_EQ(BuildIdToHex(""), "");
}

// ---------------------------------------------------------------------------------------
// Which alias names a function.

TEST(SymbolNamesTest, PreferTheNameAUserTypes) {
  auto prefer = [](SymbolNameCandidate a, SymbolNameCandidate b) {
    return PreferSymbolName(a, b) && !PreferSymbolName(b, a);
  };
  // Exported over local, whatever the underscores.
  EXPECT_TRUE(prefer({"__libc_write", STB_WEAK}, {"write_impl", STB_LOCAL}));
  EXPECT_TRUE(prefer({"write", STB_WEAK}, {"__GI___libc_write", STB_LOCAL}));
  // Global over weak (as perf: the vDSO's __vdso_clock_gettime, not its weak clock_gettime).
  EXPECT_TRUE(prefer({"__vdso_clock_gettime", STB_GLOBAL}, {"clock_gettime", STB_WEAK}));
  // Without the prefix when an alias of the same binding exists.
  EXPECT_TRUE(prefer({"malloc", STB_GLOBAL}, {"__libc_malloc", STB_GLOBAL}));
  EXPECT_TRUE(prefer({"write", STB_WEAK}, {"__write", STB_WEAK}));
  // An old version's compat alias only when nothing else is current.
  EXPECT_TRUE(prefer({"free", STB_GLOBAL}, {"cfree@GLIBC_2.2.5", STB_GLOBAL}));
  EXPECT_TRUE(prefer({"free", STB_GLOBAL}, {"cfree", STB_GLOBAL, /*hidden_version=*/true}));
  EXPECT_TRUE(prefer({"memcpy@@GLIBC_2.14", STB_GLOBAL}, {"memcpy@GLIBC_2.2.5", STB_GLOBAL}));
  EXPECT_TRUE(prefer({"memcpy@GLIBC_2.2.5", STB_GLOBAL}, {"__memcpy_sse2", STB_LOCAL}));
  // Then perf's longest name.
  EXPECT_TRUE(prefer({"__memmove_avx_unaligned_erms", STB_LOCAL},
                     {"__memcpy_avx_unaligned_erms", STB_LOCAL}));
  // A full tie keeps the first in table order.
  EXPECT_FALSE(PreferSymbolName({"_ZN3FooC2Ev", STB_GLOBAL}, {"_ZN3FooC1Ev", STB_GLOBAL}));
}

TEST(SymbolNamesTest, FileSymbolsOfLibcTakeThePreferredAlias) {
  const std::string libc = workloads::LoadedLibraryPath("libc.so.6");
  ASSERT_FALSE(libc.empty());
  ScopedFd fd(open(libc.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(fd) << libc;
  WICK_ASSERT_OK_AND_ASSIGN(std::vector<FileSymbol> symbols, ReadFileSymbols(fd.get(), libc));
  auto has = [&](std::string_view name) {
    return std::any_of(symbols.begin(), symbols.end(),
                       [&](const FileSymbol& s) { return s.name == name; });
  };
  // libc's .dynsym: one name per function, the one a user types.
  for (const char* shown : {"malloc", "free", "realloc", "write"}) EXPECT_TRUE(has(shown)) << shown;
  for (const char* alias : {"__libc_malloc", "__libc_free", "cfree", "__libc_realloc", "__write"}) {
    EXPECT_FALSE(has(alias)) << alias;
  }
}

// ---------------------------------------------------------------------------------------
// Binary and comm tables.

TEST(BinaryTableTest, InternsDenseIdsAndKeepsPairsApart) {
  BinaryTable table;
  EXPECT_EQ(table.Intern("ab", "c"), 0u);
  EXPECT_EQ(table.Intern("a", "bc"), 1u);  // same concatenation, different pair
  EXPECT_EQ(table.Intern("", "/bin/x"), 2u);
  EXPECT_EQ(table.Intern("ab", "c"), 0u);
  ASSERT_EQ(table.size(), 3u);
  EXPECT_EQ(table.build_id(1), "a");
  EXPECT_EQ(table.path(1), "bc");
  // Incremental writing: a watermark picks up exactly the new ids.
  size_t written = table.size();
  table.Intern("zz", "/lib/z.so");
  table.Intern("ab", "c");
  ASSERT_EQ(table.size(), written + 1);
  EXPECT_EQ(table.path(static_cast<uint32_t>(written)), "/lib/z.so");
}

TEST(CommTableTest, InternsDenseIds) {
  CommTable table;
  EXPECT_EQ(table.Intern("bash"), 0u);
  EXPECT_EQ(table.Intern("worker"), 1u);
  EXPECT_EQ(table.Intern("bash"), 0u);
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(table.name(1), "worker");
}

// ---------------------------------------------------------------------------------------
// ProcessTable on fixture /proc trees.

class ProcessTableTest : public ::testing::Test {
 protected:
  std::string CommOf(ProcessTable& table, pid_t pid, pid_t tid) {
    return table.comms().name(table.CommId(pid, tid));
  }
  Stats stats_;
  TempDir dir_;
};

constexpr char kMaps100[] =
    "55d000000000-55d000001000 r--p 00000000 fe:01 123                        /usr/bin/app\n"
    "55d000001000-55d000005000 r-xp 00001000 fe:01 123                        /usr/bin/app\n"
    "55d000005000-55d000006000 rw-p 00005000 fe:01 123                        /usr/bin/app\n"
    "7f0000000000-7f0000002000 r-xp 00000000 00:00 0 \n"
    "7f0000010000-7f0000012000 r-xp 00000000 00:00 0                          [vdso]\n"
    "7f0000020000-7f0000030000 r-xp 00002000 fe:01 77                         "
    "/opt/lib/libgone.so (deleted)\n"
    "7f0000040000-7f0000050000 r-xp 00004000 fe:01 88                         "
    "/opt/my lib/with space.so\n"
    "7f0000060000-7f0000070000 r-xp 00000000 00:01 99                         "
    "/memfd:jit (deleted)\n"
    "7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0                          [stack]\n"
    "this line is garbage\n";

TEST_F(ProcessTableTest, ScanProcessReadsExecutableMappingsAndComms) {
  fs::path proc = dir_.path() / "proc";
  // The process's root: /usr/bin/app is found through PROC/100/root (a container's file),
  // the inode maps gives for it.
  fs::create_directories(proc / "100/root/usr/bin");
  fs::copy_file(WICK_BUILD_ID_FIXED_PATH, proc / "100/root/usr/bin/app");
  struct stat app = {};
  ASSERT_EQ(stat((proc / "100/root/usr/bin/app").c_str(), &app), 0);
  WriteAll(proc / "100/maps",
           absl::StrReplaceAll(kMaps100,
                               {{"fe:01 123     ", absl::StrFormat("fe:01 %-8d", app.st_ino)}}));
  WriteAll(proc / "100/comm", "app\n");
  WriteAll(proc / "100/task/100/comm", "app\n");
  WriteAll(proc / "100/task/101/comm", "worker 1\n");

  ProcessTable table(&stats_, proc.string());
  WICK_ASSERT_OK(table.ScanProcess(100));
  EXPECT_TRUE(table.KnowsProcess(100));
  // app text, anonymous, vdso, deleted, with space, memfd: the executable ones.
  EXPECT_EQ(table.MappingCount(100), 6u);

  Frame f = table.Resolve(100, 0x55d000001234);
  EXPECT_EQ(f.kind, FrameKind::kUserFile);
  EXPECT_EQ(f.value, 0x1234u);  // 0x234 into a mapping at file offset 0x1000
  EXPECT_EQ(table.binaries().path(f.binary), "/usr/bin/app");
  EXPECT_EQ(BuildIdToHex(table.binaries().build_id(f.binary)), WICK_FIXED_BUILD_ID);

  // A file that exists nowhere: still a file frame, with an empty build-id, and counted; its
  // path says it is not the file at that path (so no report names it from another file).
  f = table.Resolve(100, 0x7f0000040010);
  EXPECT_EQ(f.kind, FrameKind::kUserFile);
  EXPECT_EQ(f.value, 0x4010u);
  EXPECT_EQ(table.binaries().path(f.binary), "/opt/my lib/with space.so (replaced)");
  EXPECT_EQ(table.binaries().build_id(f.binary), "");
  EXPECT_EQ(stats_.Get(Stat::kFramesNoBuildId), 1u);
  // A deleted file (no map_files here to read it through): the same, as "(deleted)".
  f = table.Resolve(100, 0x7f0000020100);
  EXPECT_EQ(f.kind, FrameKind::kUserFile);
  EXPECT_EQ(f.value, 0x2100u);
  EXPECT_EQ(table.binaries().path(f.binary), "/opt/lib/libgone.so (deleted)");
  EXPECT_EQ(stats_.Get(Stat::kFilesReplaced), 2u);

  // The vDSO: a file frame of "[vdso]" with wick's own vDSO build-id (see OwnVdsoFile).
  ASSERT_FALSE(OwnVdsoBuildId().empty()) << "this process has no vDSO";
  f = table.Resolve(100, 0x7f0000010100);
  EXPECT_EQ(f.kind, FrameKind::kUserFile);
  EXPECT_EQ(f.value, 0x100u);
  EXPECT_EQ(table.binaries().path(f.binary), "[vdso]");
  EXPECT_EQ(table.binaries().build_id(f.binary), OwnVdsoBuildId());

  // Anonymous, memfd, non-executable file part, stack, nothing: raw.
  for (uint64_t addr : {0x7f0000000100ull, 0x7f0000060100ull, 0x55d000000100ull, 0x55d000005100ull,
                        0x7ffc00000100ull, 0x1000ull}) {
    f = table.Resolve(100, addr);
    EXPECT_EQ(f.kind, FrameKind::kUserRaw) << std::hex << addr;
    EXPECT_EQ(f.value, addr);
  }
  EXPECT_EQ(stats_.Get(Stat::kFramesUnmapped), 6u);
  EXPECT_EQ(stats_.Get(Stat::kFramesNoBuildId), 2u);

  // Mapping boundaries: end is exclusive.
  EXPECT_EQ(table.Resolve(100, 0x55d000001000).value, 0x1000u);
  EXPECT_EQ(table.Resolve(100, 0x55d000004fff).value, 0x4fffu);
  EXPECT_EQ(table.Resolve(100, 0x55d000005000).kind, FrameKind::kUserRaw);

  EXPECT_EQ(CommOf(table, 100, 100), "app");
  EXPECT_EQ(CommOf(table, 100, 101), "worker 1");
  EXPECT_EQ(CommOf(table, 100, 555), "app");  // unknown thread: its process's
  EXPECT_EQ(CommOf(table, 7, 8), ProcessTable::kUnknownComm);
  EXPECT_EQ(table.comms().name(table.CommId(101)), "worker 1");
}

TEST_F(ProcessTableTest, ScanOfMissingProcessIsNotFound) {
  fs::create_directories(dir_.path() / "proc");
  ProcessTable table(&stats_, (dir_.path() / "proc").string());
  absl::Status s = table.ScanProcess(12345);
  EXPECT_TRUE(absl::IsNotFound(s)) << s;
  EXPECT_NE(s.message().find("no process with pid 12345"), absl::string_view::npos) << s;
  EXPECT_FALSE(table.KnowsProcess(12345));
}

TEST_F(ProcessTableTest, ScanAllSkipsNonPidsAndVanishedProcesses) {
  fs::path proc = dir_.path() / "proc";
  WriteAll(proc / "100/maps", kMaps100);
  WriteAll(proc / "100/comm", "app\n");
  WriteAll(proc / "200/maps", "400000-401000 r-xp 00000000 fe:01 5 /bin/true\n");
  WriteAll(proc / "200/comm", "true\n");
  fs::create_directories(proc / "300");  // vanished: no maps any more
  WriteAll(proc / "self/maps", "");
  WriteAll(proc / "sys/x", "");
  ProcessTable table(&stats_, proc.string());
  WICK_ASSERT_OK(table.ScanAll());
  EXPECT_TRUE(table.KnowsProcess(100));
  EXPECT_TRUE(table.KnowsProcess(200));
  EXPECT_FALSE(table.KnowsProcess(300));
  EXPECT_EQ(table.Resolve(200, 0x400010).value, 0x10u);
  EXPECT_EQ(CommOf(table, 200, 200), "true");

  ProcessTable missing(&stats_, (dir_.path() / "nothing").string());
  EXPECT_FALSE(missing.ScanAll().ok());
}

// wick record -a scans /proc again once its events are enabled, for the processes started
// in between; the ones known already (and what records told about them since) are kept.
TEST_F(ProcessTableTest, ScanAllOnlyUnknownKeepsKnownProcesses) {
  fs::path proc = dir_.path() / "proc";
  WriteAll(proc / "200/maps", "400000-401000 r-xp 00000000 fe:01 5 /bin/true\n");
  WriteAll(proc / "200/comm", "true\n");
  ProcessTable table(&stats_, proc.string());
  WICK_ASSERT_OK(table.ScanAll());
  table.OnComm(200, 200, "renamed", /*exec=*/false, 0);
  WriteAll(proc / "300/maps", "500000-501000 r-xp 00000000 fe:01 6 /bin/false\n");
  WriteAll(proc / "300/comm", "false\n");
  WICK_ASSERT_OK(table.ScanAll(/*only_unknown=*/true));
  EXPECT_EQ(CommOf(table, 200, 200), "renamed");
  EXPECT_TRUE(table.KnowsProcess(300));
  EXPECT_EQ(table.Resolve(300, 0x500010).value, 0x10u);
  WICK_ASSERT_OK(table.ScanAll());
  EXPECT_EQ(CommOf(table, 200, 200), "true");
}

TEST_F(ProcessTableTest, MmapReplacesOverlaps) {
  ProcessTable table(&stats_, (dir_.path() / "proc").string());
  const std::string id_a(20, 'a'), id_b(20, 'b'), id_c(20, 'c');
  table.OnMmap(1, 1, 0x1000, 0x3000, 0, "/bin/a", PROT_READ | PROT_EXEC, Bytes(id_a));
  EXPECT_EQ(table.MappingCount(1), 1u);
  // Into the middle: a is split in two, the right part keeps its file offset.
  table.OnMmap(1, 1, 0x2000, 0x1000, 0x5000, "/bin/b", PROT_EXEC, Bytes(id_b));
  EXPECT_EQ(table.MappingCount(1), 3u);
  Frame left = table.Resolve(1, 0x1100), mid = table.Resolve(1, 0x2100),
        right = table.Resolve(1, 0x3100);
  EXPECT_EQ(table.binaries().path(left.binary), "/bin/a");
  EXPECT_EQ(left.value, 0x100u);
  EXPECT_EQ(table.binaries().path(mid.binary), "/bin/b");
  EXPECT_EQ(table.binaries().build_id(mid.binary), id_b);  // the kernel's build-id
  EXPECT_EQ(mid.value, 0x5100u);
  EXPECT_EQ(right.binary, left.binary);
  EXPECT_EQ(right.value, 0x2100u);

  // Partial overlap at the left end of the first mapping: it is trimmed, offset moved.
  table.OnMmap(1, 1, 0x0, 0x1800, 0, "/bin/c", PROT_EXEC, Bytes(id_c));
  EXPECT_EQ(table.MappingCount(1), 4u);
  EXPECT_EQ(table.binaries().path(table.Resolve(1, 0x17ff).binary), "/bin/c");
  Frame trimmed = table.Resolve(1, 0x1800);
  EXPECT_EQ(table.binaries().path(trimmed.binary), "/bin/a");
  EXPECT_EQ(trimmed.value, 0x800u);

  // Partial overlap at the right end of b and over a's right part.
  table.OnMmap(1, 1, 0x2800, 0x2000, 0, "/bin/c", PROT_EXEC, Bytes(id_c));
  EXPECT_EQ(table.Resolve(1, 0x27ff).value, 0x57ffu);  // b, trimmed on its right
  EXPECT_EQ(table.Resolve(1, 0x3100).value, 0x900u);   // c now
  EXPECT_EQ(table.MappingCount(1), 4u);                // c, a, b, c

  // Covering everything: one mapping remains.
  table.OnMmap(1, 1, 0x0, 0x10000, 0x7000, "/bin/b", ProcessTable::kProtUnknown, Bytes(id_b));
  EXPECT_EQ(table.MappingCount(1), 1u);
  EXPECT_EQ(table.Resolve(1, 0x3100).value, 0xa100u);

  // A non-executable mapping over part of it: not kept, but the code there is gone.
  table.OnMmap(1, 1, 0x4000, 0x1000, 0, "/bin/data", PROT_READ | PROT_WRITE, {});
  EXPECT_EQ(table.Resolve(1, 0x4100).kind, FrameKind::kUserRaw);
  EXPECT_EQ(table.Resolve(1, 0x3fff).kind, FrameKind::kUserFile);
  EXPECT_EQ(table.Resolve(1, 0x5000).value, 0xc000u);
  EXPECT_EQ(table.MappingCount(1), 2u);

  // An anonymous executable mapping (JIT) over code: raw from then on.
  table.OnMmap(1, 1, 0x6000, 0x1000, 0, "//anon", PROT_READ | PROT_EXEC, {});
  EXPECT_EQ(table.Resolve(1, 0x6100).kind, FrameKind::kUserRaw);
  EXPECT_EQ(table.MappingCount(1), 4u);

  // Same (build-id, path) in another process: the same binary id.
  table.OnMmap(2, 2, 0x9000, 0x1000, 0, "/bin/a", PROT_EXEC, Bytes(id_a));
  EXPECT_EQ(table.Resolve(2, 0x9000).binary, left.binary);
  EXPECT_EQ(table.binaries().size(), 3u);
  EXPECT_EQ(stats_.Get(Stat::kFramesNoBuildId), 0u);
}

TEST_F(ProcessTableTest, MmapReadsBuildIdThroughProcessRootThenPath) {
  fs::path proc = dir_.path() / "proc";
  fs::create_directories(proc / "5/root/opt");
  fs::copy_file(WICK_BUILD_ID_FIXED_PATH, proc / "5/root/opt/prog");
  ProcessTable table(&stats_, proc.string());
  table.OnMmap(5, 5, 0x1000, 0x1000, 0, "/opt/prog", PROT_EXEC, {});
  // Host path: no PROC/6/root, so the path itself is read.
  table.OnMmap(6, 6, 0x1000, 0x1000, 0, WICK_BUILD_ID_SHA1_PATH, PROT_EXEC, {});
  table.OnMmap(7, 7, 0x1000, 0x1000, 0, WICK_BUILD_ID_NONE_PATH, PROT_EXEC, {});
  Frame f5 = table.Resolve(5, 0x1000), f6 = table.Resolve(6, 0x1000), f7 = table.Resolve(7, 0x1000);
  EXPECT_EQ(BuildIdToHex(table.binaries().build_id(f5.binary)), WICK_FIXED_BUILD_ID);
  WICK_ASSERT_OK_AND_ASSIGN(std::string sha1, ReadBuildId(WICK_BUILD_ID_SHA1_PATH));
  EXPECT_EQ(table.binaries().build_id(f6.binary), sha1);
  EXPECT_EQ(table.binaries().build_id(f7.binary), "");
  EXPECT_EQ(f7.kind, FrameKind::kUserFile);
  EXPECT_EQ(stats_.Get(Stat::kFramesNoBuildId), 1u);
}

// A container whose library path crosses an absolute symlink: it resolves inside the
// container's root, not on the host, where the same absolute path holds another file. The
// host's file is used only when it is the mapped one (same inode); no file with the mapped
// inode anywhere is "(replaced)", never another file's build-id.
TEST_F(ProcessTableTest, ContainerPathsResolveInsideTheRoot) {
  const fs::path proc = dir_.path() / "proc";
  const fs::path ct = dir_.path() / "ct";
  const fs::path host_lib = dir_.path() / "hostlib";  // absolute, on the host and in ct
  fs::create_directories(proc / "9");
  fs::create_directories(ct / "usr");
  fs::create_directories(host_lib);
  fs::create_directories(ct / host_lib.relative_path());
  fs::create_symlink(ct, proc / "9/root");
  fs::create_symlink(host_lib, ct / "usr/lib");  // "/.../hostlib", as the container sees it
  fs::copy_file(WICK_BUILD_ID_FIXED_PATH, ct / host_lib.relative_path() / "libx.so");
  fs::copy_file(WICK_BUILD_ID_SHA1_PATH, host_lib / "libx.so");  // the host's, another file
  fs::copy_file(WICK_BUILD_ID_SHA1_PATH, host_lib / "libhost.so");
  struct stat in_ct = {}, on_host = {};
  ASSERT_EQ(stat((ct / host_lib.relative_path() / "libx.so").c_str(), &in_ct), 0);
  ASSERT_EQ(stat((host_lib / "libhost.so").c_str(), &on_host), 0);
  WICK_ASSERT_OK_AND_ASSIGN(std::string sha1, ReadBuildId(WICK_BUILD_ID_SHA1_PATH));

  ProcessTable table(&stats_, proc.string());
  const ProcessTable::MappedFile ct_file{0xfe, 1, in_ct.st_ino};
  table.OnMmap(9, 9, 0x1000, 0x1000, 0, "/usr/lib/libx.so", PROT_EXEC, {}, &ct_file);
  table.OnMmap(9, 9, 0x3000, 0x1000, 0, "/usr/lib/libx.so", PROT_EXEC, {});  // no inode given
  // Not in the container: the host's file of that name, when it is the mapped one...
  const ProcessTable::MappedFile host_file{0xfe, 1, on_host.st_ino};
  const std::string host_path = (host_lib / "libhost.so").string();
  table.OnMmap(9, 9, 0x5000, 0x1000, 0, host_path, PROT_EXEC, {}, &host_file);
  // ...and not when it is another.
  const ProcessTable::MappedFile other{0xfe, 1, in_ct.st_ino};
  table.OnMmap(9, 9, 0x7000, 0x1000, 0, host_path, PROT_EXEC, {}, &other);

  const Frame f1 = table.Resolve(9, 0x1010), f3 = table.Resolve(9, 0x3010);
  EXPECT_EQ(BuildIdToHex(table.binaries().build_id(f1.binary)), WICK_FIXED_BUILD_ID);
  EXPECT_EQ(BuildIdToHex(table.binaries().build_id(f3.binary)), WICK_FIXED_BUILD_ID);
  EXPECT_EQ(table.binaries().path(f1.binary), "/usr/lib/libx.so");
  const Frame f5 = table.Resolve(9, 0x5010), f7 = table.Resolve(9, 0x7010);
  EXPECT_EQ(table.binaries().build_id(f5.binary), sha1);
  EXPECT_EQ(table.binaries().build_id(f7.binary), "");
  EXPECT_EQ(table.binaries().path(f7.binary), host_path + " (replaced)");
  EXPECT_EQ(stats_.Get(Stat::kFilesReplaced), 1u);
}

TEST_F(ProcessTableTest, ForkCopiesMappingsAndComm) {
  ProcessTable table(&stats_, (dir_.path() / "proc").string());
  const std::string id(20, 'x');
  table.OnComm(10, 10, "parent", false);
  table.OnMmap(10, 10, 0x1000, 0x1000, 0x2000, "/bin/p", PROT_EXEC, Bytes(id));
  table.OnFork(11, 10, 11, 10);
  EXPECT_TRUE(table.KnowsProcess(11));
  EXPECT_EQ(table.Resolve(11, 0x1010), table.Resolve(10, 0x1010));
  EXPECT_EQ(table.Resolve(11, 0x1010).value, 0x2010u);
  EXPECT_EQ(CommOf(table, 11, 11), "parent");
  // The child's mappings are its own copy.
  table.OnMmap(11, 11, 0x1000, 0x1000, 0, "//anon", PROT_EXEC, {});
  EXPECT_EQ(table.Resolve(11, 0x1010).kind, FrameKind::kUserRaw);
  EXPECT_EQ(table.Resolve(10, 0x1010).kind, FrameKind::kUserFile);

  // A new thread: same process, the creating thread's comm, renamed independently.
  table.OnFork(10, 10, 12, 10);
  EXPECT_EQ(CommOf(table, 10, 12), "parent");
  table.OnComm(10, 12, "worker", false);
  EXPECT_EQ(CommOf(table, 10, 12), "worker");
  EXPECT_EQ(CommOf(table, 10, 10), "parent");
  table.OnFork(10, 10, 13, 12);
  EXPECT_EQ(CommOf(table, 10, 13), "worker");

  // Fork of a process wick never saw: known, empty.
  table.OnFork(21, 20, 21, 20);
  EXPECT_TRUE(table.KnowsProcess(21));
  EXPECT_EQ(table.MappingCount(21), 0u);
  EXPECT_EQ(CommOf(table, 21, 21), ProcessTable::kUnknownComm);
}

TEST_F(ProcessTableTest, ExecDropsMappingsAndExitKeepsThem) {
  ProcessTable table(&stats_, (dir_.path() / "proc").string());
  const std::string id(20, 'x');
  table.OnComm(10, 10, "sh", false);
  table.OnMmap(10, 10, 0x1000, 0x1000, 0, "/bin/sh", PROT_EXEC, Bytes(id));
  table.OnFork(11, 10, 11, 10);
  table.OnComm(11, 11, "ls", true);
  EXPECT_EQ(table.MappingCount(11), 0u);
  EXPECT_EQ(table.Resolve(11, 0x1010).kind, FrameKind::kUserRaw);
  EXPECT_EQ(CommOf(table, 11, 11), "ls");
  table.OnMmap(11, 11, 0x5000, 0x1000, 0, "/bin/ls", PROT_EXEC, Bytes(id));
  EXPECT_EQ(table.binaries().path(table.Resolve(11, 0x5000).binary), "/bin/ls");
  EXPECT_EQ(table.MappingCount(10), 1u);  // the parent is untouched

  table.OnExit(11, 11);
  EXPECT_TRUE(table.HasExited(11));
  EXPECT_FALSE(table.HasExited(10));
  EXPECT_TRUE(table.KnowsProcess(11));
  EXPECT_EQ(table.Resolve(11, 0x5000).kind, FrameKind::kUserFile);  // late samples
  EXPECT_EQ(CommOf(table, 11, 11), "ls");
}

// A fork storm: 5,000 processes (fork + exec + a second thread + exit), with ForgetExited()
// once per "second" of 100 processes. The table never holds more than the live ones plus two
// seconds' worth, a late sample right after an exit still resolves, and a pid or tid taken
// again before its exit is forgotten stays known.
TEST_F(ProcessTableTest, ExitedTasksAreForgottenOneIntervalLater) {
  ProcessTable table(&stats_, (dir_.path() / "proc").string());
  const std::string id(20, 'x');
  table.OnComm(1, 1, "init", false);
  table.OnMmap(1, 1, 0x1000, 0x1000, 0, "/bin/sh", PROT_EXEC, Bytes(id));
  size_t most_processes = 0, most_threads = 0;
  for (pid_t pid = 1000; pid < 6000; ++pid) {
    table.OnFork(pid, 1, pid, 1);
    table.OnComm(pid, pid, "job", true);
    table.OnMmap(pid, pid, 0x5000, 0x1000, 0, "/bin/ls", PROT_EXEC, Bytes(id));
    table.OnFork(pid, pid, pid + 100000, pid);  // a thread
    table.OnExit(pid, pid + 100000);
    EXPECT_FALSE(table.HasExited(pid)) << "a thread's exit is not its process's";
    table.OnExit(pid, pid);
    EXPECT_EQ(table.Resolve(pid, 0x5010).kind, FrameKind::kUserFile);  // a late sample
    if (pid % 100 == 0) table.ForgetExited();
    most_processes = std::max(most_processes, table.ProcessCount());
    most_threads = std::max(most_threads, table.ThreadCount());
  }
  EXPECT_LE(most_processes, 1u + 200u);
  EXPECT_LE(most_threads, 1u + 2 * 200u);
  EXPECT_GE(stats_.Get(Stat::kProcessesForgotten), 4700u);
  table.ForgetExited();
  table.ForgetExited();
  EXPECT_EQ(table.ProcessCount(), 1u);
  EXPECT_EQ(table.ThreadCount(), 1u);
  EXPECT_EQ(CommOf(table, 1, 1), "init");

  // Pid 7 exits and is taken again by a new process before the exit is forgotten.
  table.OnFork(7, 1, 7, 1);
  table.OnExit(7, 7);
  table.OnFork(7, 1, 7, 1);
  table.OnComm(7, 7, "again", true);
  table.ForgetExited();
  table.ForgetExited();
  EXPECT_TRUE(table.KnowsProcess(7));
  EXPECT_EQ(CommOf(table, 7, 7), "again");

  // The main thread of 8 exits first; its other thread runs on, then exits an interval later.
  table.OnFork(8, 1, 8, 1);
  table.OnFork(8, 8, 9, 8);
  table.OnExit(8, 8);
  table.ForgetExited();
  table.OnExit(8, 9);
  table.ForgetExited();
  EXPECT_TRUE(table.KnowsProcess(8)) << "forgotten while a thread still ran";
  table.ForgetExited();
  EXPECT_FALSE(table.KnowsProcess(8));
}

TEST_F(ProcessTableTest, ResolveUserCountsUnknownProcessOncePerSample) {
  ProcessTable table(&stats_, (dir_.path() / "proc").string());
  const std::string id(20, 'x');
  table.OnMmap(10, 10, 0x1000, 0x1000, 0, "/bin/sh", PROT_EXEC, Bytes(id));
  const uint64_t addrs[] = {0x1001, 0x1002, 0x9000};
  Frame out[3];
  table.ResolveUser(99, addrs, out);
  EXPECT_EQ(stats_.Get(Stat::kSamplesUnknownPid), 1u);
  EXPECT_EQ(stats_.Get(Stat::kFramesUnmapped), 3u);
  // Raw frames carry the pid (the key of the recording's JIT symbols).
  EXPECT_EQ(out[1], (Frame{.value = 0x1002, .binary = 99, .kind = FrameKind::kUserRaw}));
  table.ResolveUser(10, addrs, out);
  EXPECT_EQ(stats_.Get(Stat::kSamplesUnknownPid), 1u);
  EXPECT_EQ(stats_.Get(Stat::kFramesUnmapped), 4u);
  EXPECT_EQ(out[0].kind, FrameKind::kUserFile);
  EXPECT_EQ(out[1].value, 0x2u);
  EXPECT_EQ(out[2].kind, FrameKind::kUserRaw);
  EXPECT_EQ(out[2].binary, 10u);
}

TEST_F(ProcessTableTest, HotPathDoesNotAllocate) {
  ProcessTable table(nullptr, (dir_.path() / "proc").string());  // internal stats
  const std::string id(20, 'x');
  for (uint64_t i = 0; i < 200; ++i) {
    table.OnMmap(10, 10, 0x100000 + i * 0x2000, 0x1000, i * 0x1000, "/lib/l" + std::to_string(i),
                 PROT_EXEC, Bytes(id));
  }
  table.OnComm(10, 10, "x", false);
  uint64_t addrs[64];
  Frame out[64];
  for (size_t i = 0; i < 64; ++i) addrs[i] = 0x100000 + i * 0x1000 + 8;
  uint64_t sum = 0;
  ::wick::testing::AllocationCounter counter;
  for (int round = 0; round < 1000; ++round) {
    table.ResolveUser(10, addrs, out);
    sum += table.Resolve(10, addrs[round % 64]).value + table.CommId(10, 11);
  }
  EXPECT_EQ(counter.Count(), 0u);
  EXPECT_NE(sum, 0u);
  EXPECT_EQ(out[2].value, 0x1008u);             // mapping 1 at file offset 0x1000
  EXPECT_EQ(out[1].kind, FrameKind::kUserRaw);  // the gap between mappings 0 and 1
}

// --overwrite resolves samples long after the records around them: an exec or a reused pid
// must not rename what ran before it.
TEST_F(ProcessTableTest, HistoryResolvesSamplesInTheImageOfTheirTime) {
  ProcessTable table(&stats_, (dir_.path() / "noproc").string());
  table.KeepHistory();
  table.OnComm(7, 7, "sh", /*exec=*/false, 10);
  table.OnMmap(7, 7, 0x1000, 0x1000, 0, WICK_BUILD_ID_SHA1_PATH, PROT_EXEC, {});
  table.OnComm(7, 7, "server", /*exec=*/true, 100);
  table.OnMmap(7, 7, 0x5000, 0x1000, 0, WICK_BUILD_ID_FIXED_PATH, PROT_EXEC, {});
  const uint32_t sh = table.comms().Intern("sh"), server = table.comms().Intern("server");

  table.SetResolveTime(50);  // before the exec: the old image and name
  EXPECT_EQ(table.Resolve(7, 0x1010).kind, FrameKind::kUserFile);
  EXPECT_EQ(table.Resolve(7, 0x5010).kind, FrameKind::kUserRaw);
  EXPECT_EQ(table.CommId(7, 7), sh);
  table.SetResolveTime(150);  // after it
  EXPECT_EQ(table.Resolve(7, 0x1010).kind, FrameKind::kUserRaw);
  EXPECT_EQ(table.Resolve(7, 0x5010).kind, FrameKind::kUserFile);
  EXPECT_EQ(table.CommId(7, 7), server);

  // pid 7 exits and a new process 7 is forked from pid 1, at 300.
  table.OnExit(7, 7);
  table.OnComm(1, 1, "init", false, 0);
  table.OnMmap(1, 1, 0x9000, 0x1000, 0, WICK_BUILD_ID_SHA1_PATH, PROT_EXEC, {});
  table.OnFork(7, 1, 7, 1, 300);
  table.SetResolveTime(200);
  EXPECT_EQ(table.Resolve(7, 0x5010).kind, FrameKind::kUserFile);
  EXPECT_EQ(table.CommId(7, 7), server);
  table.SetResolveTime(350);
  EXPECT_EQ(table.Resolve(7, 0x5010).kind, FrameKind::kUserRaw);
  EXPECT_EQ(table.Resolve(7, 0x9010).kind, FrameKind::kUserFile);
  table.SetResolveTime(UINT64_MAX);  // now
  EXPECT_EQ(table.Resolve(7, 0x9010).kind, FrameKind::kUserFile);
}

TEST_F(ProcessTableTest, WithoutHistoryAnExecReplacesTheImage) {
  ProcessTable table(&stats_, (dir_.path() / "noproc").string());
  table.OnMmap(7, 7, 0x1000, 0x1000, 0, WICK_BUILD_ID_SHA1_PATH, PROT_EXEC, {});
  table.OnComm(7, 7, "server", /*exec=*/true, 100);
  table.SetResolveTime(50);
  EXPECT_EQ(table.Resolve(7, 0x1010).kind, FrameKind::kUserRaw);
}

TEST_F(ProcessTableTest, HistoryIsCapped) {
  ProcessTable table(&stats_, (dir_.path() / "noproc").string());
  table.KeepHistory();
  table.OnMmap(7, 7, 0x1000, 0x1000, 0, WICK_BUILD_ID_SHA1_PATH, PROT_EXEC, {});
  for (uint64_t t = 1; t <= ProcessTable::kMaxGenerations + 10; ++t) {
    table.OnComm(7, 7, "again", /*exec=*/true, t * 10);
    table.OnMmap(7, 7, 0x1000 * (t + 1), 0x1000, 0, WICK_BUILD_ID_SHA1_PATH, PROT_EXEC, {});
  }
  // The oldest images are gone: a sample from then finds the oldest image kept.
  table.SetResolveTime(5);
  EXPECT_EQ(table.Resolve(7, 0x1010).kind, FrameKind::kUserRaw);
  // A recent one is still there.
  const uint64_t t = ProcessTable::kMaxGenerations;  // image t lived from t*10 to (t+1)*10
  table.SetResolveTime(t * 10 + 5);
  EXPECT_EQ(table.Resolve(7, 0x1000 * (t + 1) + 0x10).kind, FrameKind::kUserFile);
}

}  // namespace
}  // namespace wick
