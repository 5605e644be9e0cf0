// ProcessTable and ReadBuildId against the real /proc of the test process itself: the frame
// of one of our own functions must map back, through the executable's PT_LOAD headers, to
// that function's address; libc's frames carry libc's build-id.
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "testing/testing.h"
#include "wick/build_id.h"
#include "wick/process_table.h"

namespace wick {
namespace {

namespace fs = std::filesystem;

extern "C" __attribute__((noinline)) int WickProcessTestTarget(int x) {
  asm volatile("" ::: "memory");
  return x * 3 + 1;
}

uint64_t MainLoadBias() {
  uint64_t bias = 0;
  dl_iterate_phdr(
      [](struct dl_phdr_info* info, size_t, void* data) {
        *static_cast<uint64_t*>(data) = info->dlpi_addr;
        return 1;  // the first object is the main program
      },
      &bias);
  return bias;
}

// The link-time virtual address of file offset `offset` in ELF64 file `path`, via PT_LOAD.
std::optional<uint64_t> FileOffsetToVaddr(const std::string& path, uint64_t offset) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string elf = ss.str();
  if (elf.size() < sizeof(Elf64_Ehdr)) return std::nullopt;
  Elf64_Ehdr ehdr;
  std::memcpy(&ehdr, elf.data(), sizeof(ehdr));
  for (int i = 0; i < ehdr.e_phnum; ++i) {
    Elf64_Phdr phdr;
    size_t at = ehdr.e_phoff + static_cast<size_t>(i) * ehdr.e_phentsize;
    if (at + sizeof(phdr) > elf.size()) return std::nullopt;
    std::memcpy(&phdr, elf.data() + at, sizeof(phdr));
    if (phdr.p_type == PT_LOAD && offset >= phdr.p_offset &&
        offset < phdr.p_offset + phdr.p_filesz) {
      return offset - phdr.p_offset + phdr.p_vaddr;
    }
  }
  return std::nullopt;
}

pid_t GetTid() { return static_cast<pid_t>(syscall(SYS_gettid)); }

TEST(ProcessKernelTest, ResolvesOwnFunctionToExecutableOffset) {
  Stats stats;
  ProcessTable table(&stats);
  WICK_ASSERT_OK(table.ScanProcess(getpid()));
  const uint64_t addr = reinterpret_cast<uint64_t>(&WickProcessTestTarget);
  Frame frame = table.Resolve(getpid(), addr + 2);
  ASSERT_EQ(frame.kind, FrameKind::kUserFile);
  const std::string exe = fs::read_symlink("/proc/self/exe").string();
  EXPECT_EQ(table.binaries().path(frame.binary), exe);
  WICK_ASSERT_OK_AND_ASSIGN(std::string exe_id, ReadBuildId(exe));
  EXPECT_EQ(table.binaries().build_id(frame.binary), exe_id);
  EXPECT_FALSE(exe_id.empty());

  std::optional<uint64_t> vaddr = FileOffsetToVaddr(exe, frame.value);
  ASSERT_TRUE(vaddr.has_value()) << "offset " << frame.value << " not in a PT_LOAD of " << exe;
  EXPECT_EQ(*vaddr, addr + 2 - MainLoadBias());
  EXPECT_EQ(WickProcessTestTarget(1), 4);
  EXPECT_EQ(stats.Get(Stat::kFramesNoBuildId), 0u);
}

TEST(ProcessKernelTest, LibcFramesCarryLibcBuildId) {
  Dl_info info;
  ASSERT_NE(dladdr(reinterpret_cast<void*>(&getpid), &info), 0);
  ProcessTable table(nullptr);
  WICK_ASSERT_OK(table.ScanProcess(getpid()));
  Frame frame = table.Resolve(getpid(), reinterpret_cast<uint64_t>(&getpid));
  ASSERT_EQ(frame.kind, FrameKind::kUserFile);
  const std::string& path = table.binaries().path(frame.binary);
  EXPECT_EQ(fs::canonical(path), fs::canonical(info.dli_fname));
  WICK_ASSERT_OK_AND_ASSIGN(std::string libc_id, ReadBuildId(info.dli_fname));
  EXPECT_EQ(libc_id.size(), 20u);
  EXPECT_EQ(table.binaries().build_id(frame.binary), libc_id);
}

TEST(ProcessKernelTest, HeapAndStackAreRaw) {
  Stats stats;
  ProcessTable table(&stats);
  WICK_ASSERT_OK(table.ScanProcess(getpid()));
  auto heap = std::make_unique<char[]>(1 << 20);
  int on_stack = 0;
  for (uint64_t addr :
       {reinterpret_cast<uint64_t>(heap.get()), reinterpret_cast<uint64_t>(&on_stack)}) {
    Frame frame = table.Resolve(getpid(), addr);
    EXPECT_EQ(frame.kind, FrameKind::kUserRaw);
    EXPECT_EQ(frame.value, addr);
  }
  EXPECT_EQ(stats.Get(Stat::kFramesUnmapped), 2u);
}

TEST(ProcessKernelTest, ThreadNames) {
  ASSERT_EQ(pthread_setname_np(pthread_self(), "wick-main"), 0);
  std::atomic<pid_t> tid{0};
  std::atomic<bool> done{false};
  std::thread worker([&] {
    pthread_setname_np(pthread_self(), "wick-worker");
    tid = GetTid();
    while (!done) std::this_thread::yield();
  });
  while (tid == 0) std::this_thread::yield();
  ProcessTable table(nullptr);
  absl::Status status = table.ScanProcess(getpid());
  done = true;
  worker.join();
  WICK_ASSERT_OK(status);
  EXPECT_EQ(table.comms().name(table.CommId(getpid(), GetTid())), "wick-main");
  EXPECT_EQ(table.comms().name(table.CommId(getpid(), tid)), "wick-worker");
}

bool CanReadInitMaps() {
  std::ifstream in("/proc/1/maps");
  std::string line;
  return static_cast<bool>(std::getline(in, line));
}

TEST(ProcessKernelTest, ScanAllSeesInitAndUs) {
  ProcessTable table(nullptr);
  WICK_ASSERT_OK(table.ScanAll());
  EXPECT_TRUE(table.KnowsProcess(getpid()));
  // Not a perf capability (no WICK_REQUIRE): UnreadableProcessNamesPidAndFix covers the
  // other case, so one of the two always asserts something.
  if (!CanReadInitMaps()) GTEST_SKIP() << "/proc/1/maps is unreadable (no ptrace rights over 1)";
  EXPECT_TRUE(table.KnowsProcess(1));
  EXPECT_GT(table.MappingCount(1), 0u);
}

// Where pid 1 cannot be read (a sandbox without ptrace rights over it), ScanProcess says so.
TEST(ProcessKernelTest, UnreadableProcessNamesPidAndFix) {
  if (CanReadInitMaps()) GTEST_SKIP() << "/proc/1/maps is readable here";
  ProcessTable table(nullptr);
  absl::Status s = table.ScanProcess(1);
  EXPECT_TRUE(absl::IsPermissionDenied(s)) << s;
  EXPECT_NE(s.message().find("pid 1 "), absl::string_view::npos) << s;
  EXPECT_NE(s.message().find("ptrace"), absl::string_view::npos) << s;
}

TEST(ProcessKernelTest, MissingPidIsNotFound) {
  ProcessTable table(nullptr);
  absl::Status s = table.ScanProcess(0x3ffffff0);  // above pid_max's ceiling
  EXPECT_TRUE(absl::IsNotFound(s)) << s;
}

}  // namespace
}  // namespace wick
