// perf-PID.map parsing, the careful open (symlinks, FIFOs, foreign owners, huge files refused),
// capture for a set of pids against fixture directories, and address lookup.
#include "wick/jit_map.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "testing/testing.h"

namespace wick {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "wick_jit_XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string Write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

std::vector<uid_t> Owners() { return {0, ::geteuid()}; }

TEST(JitMapTest, ParsesPerfMapLines) {
  uint64_t bad = 0;
  const std::vector<JitSymbol> syms = ParsePerfMap(
      "7f0000001000 40 LazyCompile:*fib /app/fib.js:3\n"  // node: names with spaces
      "0x7f0000002000 0x10 py::work:/app/x.py\n"          // 0x prefixes
      "7f0000003000\t20\tjava.lang.String::hashCode\r\n"  // tabs, CRLF
      "\n",
      42, &bad);
  EXPECT_EQ(bad, 0u);
  ASSERT_EQ(syms.size(), 3u);
  EXPECT_EQ(syms[0].pid, 42u);
  EXPECT_EQ(syms[0].start, 0x7f0000001000u);
  EXPECT_EQ(syms[0].size, 0x40u);
  EXPECT_EQ(syms[0].name, "LazyCompile:*fib /app/fib.js:3");
  EXPECT_EQ(syms[1].start, 0x7f0000002000u);
  EXPECT_EQ(syms[1].size, 0x10u);
  EXPECT_EQ(syms[1].name, "py::work:/app/x.py");
  EXPECT_EQ(syms[2].name, "java.lang.String::hashCode");
}

TEST(JitMapTest, GarbageLinesAreCountedAndSkipped) {
  uint64_t bad = 0;
  const std::vector<JitSymbol> syms = ParsePerfMap(
      "hello world\n"
      "7f00 zz name\n"                // size not hex
      "7f00 10\n"                     // no name
      "7f00 10 \n"                    // empty name
      "7f00 0 zero_size\n"            // size 0
      "ffffffffffffff00 200 wraps\n"  // wraps around
      "1000 10 ok\n"
      "   1000 10 leading_space\n"     // not the format
      "99999999999999999999 1 big\n",  // overflows u64
      7, &bad);
  ASSERT_EQ(syms.size(), 1u);
  EXPECT_EQ(syms[0].name, "ok");
  EXPECT_EQ(bad, 8u);
  // bad_lines may be null.
  EXPECT_EQ(ParsePerfMap("x\n1 1 y", 1, nullptr).size(), 1u);
}

TEST(JitMapTest, ReadsAMapAndDropsACutLastLine) {
  TempDir dir;
  const std::string path = Write(dir.File("perf-1.map"), "1000 10 one\n2000 10 two\n3000 1");
  uint64_t bad = 0;
  WICK_ASSERT_OK_AND_ASSIGN(std::vector<JitSymbol> syms, ReadPerfMap(path, 1, Owners(), &bad));
  ASSERT_EQ(syms.size(), 2u);
  EXPECT_EQ(syms[1].name, "two");
  EXPECT_EQ(bad, 0u);
}

TEST(JitMapTest, MissingMapIsNotFound) {
  TempDir dir;
  auto r = ReadPerfMap(dir.File("perf-1.map"), 1, Owners(), nullptr);
  EXPECT_TRUE(absl::IsNotFound(r.status())) << r.status();
}

TEST(JitMapTest, SymlinkIsRefused) {
  TempDir dir;
  const std::string target = Write(dir.File("real"), "1000 10 one\n");
  const std::string link = dir.File("perf-1.map");
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  auto r = ReadPerfMap(link, 1, Owners(), nullptr);
  EXPECT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
  EXPECT_NE(r.status().message().find("symbolic link"), absl::string_view::npos) << r.status();
}

TEST(JitMapTest, FifoAndDirectoryAreRefusedWithoutBlocking) {
  TempDir dir;
  const std::string fifo = dir.File("perf-1.map");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto r = ReadPerfMap(fifo, 1, Owners(), nullptr);
  EXPECT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
  const std::string subdir = dir.File("perf-2.map");
  fs::create_directory(subdir);
  EXPECT_TRUE(absl::IsFailedPrecondition(ReadPerfMap(subdir, 2, Owners(), nullptr).status()));
}

TEST(JitMapTest, ForeignOwnerIsRefused) {
  TempDir dir;
  const std::string path = Write(dir.File("perf-1.map"), "1000 10 one\n");
  // Allowed owners that do not include the file's.
  const uid_t others[] = {54321};
  auto r = ReadPerfMap(path, 1, others, nullptr);
  EXPECT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
  EXPECT_NE(r.status().message().find("owned by uid"), absl::string_view::npos);
  // And a file really chowned to another user, against the default owners.
  if (::geteuid() != 0) WICK_SKIP_OR_FAIL("chown to another uid needs root");
  ASSERT_EQ(::chown(path.c_str(), 54321, 54321), 0);
  EXPECT_TRUE(absl::IsFailedPrecondition(ReadPerfMap(path, 1, Owners(), nullptr).status()));
  const uid_t owner_too[] = {0, ::geteuid(), 54321};
  EXPECT_TRUE(ReadPerfMap(path, 1, owner_too, nullptr).ok());
}

TEST(JitMapTest, HugeMapIsRefusedWithoutReadingIt) {
  TempDir dir;
  const std::string path = Write(dir.File("perf-1.map"), "1000 10 one\n");
  // Sparse: 1 byte over the limit costs no disk.
  fs::resize_file(path, kMaxPerfMapBytes + 1);
  auto r = ReadPerfMap(path, 1, Owners(), nullptr);
  EXPECT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
  EXPECT_NE(r.status().message().find("limit"), absl::string_view::npos) << r.status();
  // At the limit it is read (a smaller limit keeps the test fast).
  Write(path, "1000 10 one\n");
  EXPECT_TRUE(ReadPerfMap(path, 1, Owners(), nullptr, 12).ok());
  EXPECT_FALSE(ReadPerfMap(path, 1, Owners(), nullptr, 11).ok());
}

TEST(JitMapTest, CaptureReadsEachPidOnceAndCounts) {
  TempDir tmp;
  TempDir proc;
  Write(tmp.File("perf-10.map"), "2000 100 ten_b\n1000 100 ten_a\nbad line\n1000 80 ten_a_v2\n");
  Write(tmp.File("perf-11.map"), "1000 100 eleven\n");
  const std::string target = Write(tmp.File("elsewhere"), "1000 100 evil\n");
  ASSERT_EQ(::symlink(target.c_str(), tmp.File("perf-12.map").c_str()), 0);
  // pid 13 has no map; 0 is ignored.
  Stats stats;
  const uint32_t pids[] = {11, 10, 13, 12, 10, 0};
  JitCaptureOptions options;
  options.tmp_dir = tmp.File("");
  options.proc_root = proc.File("");
  const std::vector<JitSymbol> syms = CaptureJitSymbols(pids, &stats, options);
  EXPECT_EQ(stats.Get(Stat::kJitMapsRead), 2u);
  EXPECT_EQ(stats.Get(Stat::kJitMapsSkipped), 1u);
  EXPECT_EQ(stats.Get(Stat::kJitMapBadLines), 1u);
  ASSERT_EQ(syms.size(), 3u);
  // Sorted by (pid, start); the later line at 0x1000 replaced the earlier one.
  EXPECT_EQ(syms[0].pid, 10u);
  EXPECT_EQ(syms[0].name, "ten_a_v2");
  EXPECT_EQ(syms[0].size, 0x80u);
  EXPECT_EQ(syms[1].name, "ten_b");
  EXPECT_EQ(syms[2].pid, 11u);
  EXPECT_EQ(syms[2].name, "eleven");
}

TEST(JitMapTest, CaptureAcceptsTheLiveProcesssOwner) {
  if (::geteuid() != 0) WICK_SKIP_OR_FAIL("chown to another uid needs root");
  TempDir tmp;
  TempDir proc;
  const std::string map = Write(tmp.File("perf-20.map"), "1000 100 theirs\n");
  ASSERT_EQ(::chown(map.c_str(), 54321, 54321), 0);
  JitCaptureOptions options;
  options.tmp_dir = tmp.File("");
  options.proc_root = proc.File("");
  const uint32_t pids[] = {20};
  Stats stats;
  // The process is gone (no PROC/20): a file of another user is not trusted.
  EXPECT_TRUE(CaptureJitSymbols(pids, &stats, options).empty());
  EXPECT_EQ(stats.Get(Stat::kJitMapsSkipped), 1u);
  // PROC/20 owned by that user: the process's own map.
  fs::create_directory(proc.File("20"));
  ASSERT_EQ(::chown(proc.File("20").c_str(), 54321, 54321), 0);
  ASSERT_EQ(CaptureJitSymbols(pids, &stats, options).size(), 1u);
}

TEST(JitMapTest, CaptureForStacksUsesThePidsOfRawFrames) {
  TempDir tmp;
  Write(tmp.File("perf-30.map"), "7f0000001000 100 raw_thirty\n");
  Write(tmp.File("perf-31.map"), "7f0000001000 100 not_sampled_raw\n");
  StackMap stacks(1024, 64);
  const Frame s0[] = {{0x7f0000001010, 30, FrameKind::kUserRaw},
                      {0x400, 31, FrameKind::kUserFile}};  // binary 31 is a binary id, not a pid
  stacks.Insert(0, 0, 0, s0);
  JitCaptureOptions options;
  options.tmp_dir = tmp.File("");
  Stats stats;
  const std::vector<JitSymbol> syms = CaptureJitSymbolsForStacks(stacks, &stats, options);
  ASSERT_EQ(syms.size(), 1u);
  EXPECT_EQ(syms[0].name, "raw_thirty");
}

TEST(JitMapTest, LookupByPidAndAddress) {
  std::vector<JitSymbol> syms = {
      {1, 0x1000, 0x100, "one_a"}, {1, 0x1100, 0x100, "one_b"}, {2, 0x1000, 0x100, "two_a"},
      {1, 0x3000, 0x1000, "big"},  {1, 0x3100, 0x10, "inner"},  {3, 0x10, 0x10, "three"},
  };
  SortJitSymbols(&syms);
  EXPECT_EQ(LookupJitSymbol(syms, 1, 0x1000)->name, "one_a");
  EXPECT_EQ(LookupJitSymbol(syms, 1, 0x10ff)->name, "one_a");
  EXPECT_EQ(LookupJitSymbol(syms, 1, 0x1100)->name, "one_b");
  EXPECT_EQ(LookupJitSymbol(syms, 2, 0x1050)->name, "two_a");
  EXPECT_EQ(LookupJitSymbol(syms, 1, 0x1200), nullptr);  // past one_b
  EXPECT_EQ(LookupJitSymbol(syms, 1, 0xfff), nullptr);
  EXPECT_EQ(LookupJitSymbol(syms, 2, 0x1100), nullptr);  // pid 2 has no second symbol
  EXPECT_EQ(LookupJitSymbol(syms, 4, 0x1000), nullptr);  // unknown pid
  EXPECT_EQ(LookupJitSymbol(syms, 0, 0x1000), nullptr);
  // Overlaps: the innermost (greatest start) containing symbol, else the outer one.
  EXPECT_EQ(LookupJitSymbol(syms, 1, 0x3105)->name, "inner");
  EXPECT_EQ(LookupJitSymbol(syms, 1, 0x3200)->name, "big");
  EXPECT_EQ(LookupJitSymbol(syms, 3, 0x1f)->name, "three");
  EXPECT_EQ(LookupJitSymbol(std::span<const JitSymbol>(), 1, 0x1000), nullptr);

  Recording rec;
  rec.jit_symbols = syms;
  EXPECT_EQ(LookupJitSymbol(rec, 1, 0x1000)->name, "one_a");
}

}  // namespace
}  // namespace wick
