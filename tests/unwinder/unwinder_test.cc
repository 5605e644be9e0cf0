// Unwinder tests without the kernel's sampling: a real stack of this process captured with
// inline asm (registers + a copy of the stack bytes, like PERF_SAMPLE_REGS_USER/STACK_USER),
// and synthesized corrupt inputs (garbage stacks, registers pointing nowhere, dyn_size < size,
// bad masks): every case must end without a crash or hang and be counted.
#include "wick/unwinder.h"

#include <asm/perf_regs.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <unistd.h>

#include <bit>
#include <cstring>
#include <filesystem>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "testing/testing.h"
#include "wick/process_table.h"
#include "workloads.h"

namespace wick {
namespace {

struct Snapshot {
  std::vector<uint64_t> regs;  // UnwinderRegsMask() order
  std::vector<std::byte> stack;
  uint64_t dyn_size = 0;
  UserStack View() const {
    return UserStack{.pid = getpid(),
                     .tid = gettid(),
                     .abi = PERF_SAMPLE_REGS_ABI_64,
                     .regs_mask = UnwinderRegsMask(),
                     .regs = regs,
                     .stack = stack,
                     .dyn_size = dyn_size};
  }
};

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAsan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAsan = true;
#else
constexpr bool kAsan = false;
#endif
#else
constexpr bool kAsan = false;
#endif

// Copies stack bytes (redzones included) the way the kernel does: not through ASan's memcpy.
__attribute__((no_sanitize("address"), noinline)) void CopyRaw(std::byte* dst, uint64_t src,
                                                               size_t n) {
  const volatile std::byte* from = reinterpret_cast<const volatile std::byte*>(src);
  for (size_t i = 0; i < n; ++i) dst[i] = from[i];
}

// Captures this thread's registers at one instruction and copies the stack above it.
__attribute__((noinline)) void CaptureHere(Snapshot* out, size_t size) {
  uint64_t r[17];  // PERF_REG_X86 order of the mask: ax bx cx dx si di bp sp ip r8..r15
  asm volatile(
      "movq %%rax, 0(%0)\n\t"
      "movq %%rbx, 8(%0)\n\t"
      "movq %%rcx, 16(%0)\n\t"
      "movq %%rdx, 24(%0)\n\t"
      "movq %%rsi, 32(%0)\n\t"
      "movq %%rdi, 40(%0)\n\t"
      "movq %%rbp, 48(%0)\n\t"
      "movq %%rsp, 56(%0)\n\t"
      "1: leaq 1b(%%rip), %%rax\n\t"
      "movq %%rax, 64(%0)\n\t"
      "movq %%r8, 72(%0)\n\t"
      "movq %%r9, 80(%0)\n\t"
      "movq %%r10, 88(%0)\n\t"
      "movq %%r11, 96(%0)\n\t"
      "movq %%r12, 104(%0)\n\t"
      "movq %%r13, 112(%0)\n\t"
      "movq %%r14, 120(%0)\n\t"
      "movq %%r15, 128(%0)\n\t"
      :
      : "r"(r)
      : "rax", "memory");
  out->regs.assign(r, r + 17);
  // Copy no further than the top of this thread's stack, as the kernel's copy stops there.
  pthread_attr_t attr;
  void* base = nullptr;
  size_t stack_size = 0;
  pthread_getattr_np(pthread_self(), &attr);
  pthread_attr_getstack(&attr, &base, &stack_size);
  pthread_attr_destroy(&attr);
  const uint64_t sp = r[7];
  const uint64_t top = reinterpret_cast<uint64_t>(base) + stack_size;
  out->stack.assign(size, std::byte{0});
  out->dyn_size = std::min<uint64_t>(size, top - sp);
  CopyRaw(out->stack.data(), sp, out->dyn_size);
}

__attribute__((noinline)) void Level2(Snapshot* out, size_t size) {
  CaptureHere(out, size);
  asm volatile("" ::: "memory");
}
__attribute__((noinline)) void Level1(Snapshot* out, size_t size) {
  Level2(out, size);
  asm volatile("" ::: "memory");
}

std::string SelfPath() { return std::filesystem::canonical("/proc/self/exe").string(); }

bool InFunction(ProcessTable& table, const Frame& f, const workloads::ElfSymbol& sym) {
  return f.kind == FrameKind::kUserFile && table.binaries().path(f.binary) == SelfPath() &&
         f.value >= sym.file_offset && f.value < sym.file_offset + sym.size;
}

class UnwinderTest : public ::testing::TestWithParam<UnwindBackend> {
 protected:
  void SetUp() override { WICK_ASSERT_OK(table_.ScanProcess(getpid())); }

  uint64_t TotalUnwinds() const {
    uint64_t n = 0;
    for (Stat s : {Stat::kUnwindComplete, Stat::kUnwindNoInfo, Stat::kUnwindStackTooSmall,
                   Stat::kUnwindUnmapped, Stat::kUnwindJit, Stat::kUnwindMaxDepth,
                   Stat::kUnwindBadRegisters, Stat::kUnwindError}) {
      n += stats_.Get(s);
    }
    return n;
  }

  Stats stats_;
  ProcessTable table_{nullptr};
};

TEST_P(UnwinderTest, OwnStackReachesMainAndTheRoot) {
  // ASan moves frames to its fake stack (detect_stack_use_after_return): no contiguous stack.
  if (kAsan) GTEST_SKIP() << "frames are not on the thread stack under AddressSanitizer";
  Snapshot snap;
  Level1(&snap, 32768);
  Unwinder unwinder(&table_, &stats_, GetParam());
  std::vector<Frame> frames(128);
  UnwindResult r = unwinder.Unwind(snap.View(), frames);
  EXPECT_EQ(r.reason, StopReason::kRoot) << StopReasonName(r.reason);
  ASSERT_GE(r.frames, 4u);
  WICK_ASSERT_OK_AND_ASSIGN(auto capture,
                            workloads::FindElfSymbolContaining(SelfPath(), "CaptureHere"));
  WICK_ASSERT_OK_AND_ASSIGN(auto level2, workloads::FindElfSymbolContaining(SelfPath(), "Level2"));
  WICK_ASSERT_OK_AND_ASSIGN(auto level1, workloads::FindElfSymbolContaining(SelfPath(), "Level1"));
  WICK_ASSERT_OK_AND_ASSIGN(auto main_fn, workloads::FindElfSymbol(SelfPath(), "main"));
  EXPECT_TRUE(InFunction(table_, frames[0], capture));
  EXPECT_TRUE(InFunction(table_, frames[1], level2));
  EXPECT_TRUE(InFunction(table_, frames[2], level1));
  bool saw_main = false;
  for (size_t i = 0; i < r.frames; ++i) saw_main |= InFunction(table_, frames[i], main_fn);
  EXPECT_TRUE(saw_main);
  EXPECT_EQ(stats_.Get(Stat::kUnwindComplete), 1u);
}

TEST_P(UnwinderTest, SmallSnapshotStopsWithStackTooSmall) {
  Snapshot snap;
  Level1(&snap, 256);
  ASSERT_EQ(snap.dyn_size, 256u);
  Unwinder unwinder(&table_, &stats_, GetParam());
  std::vector<Frame> frames(128);
  UnwindResult r = unwinder.Unwind(snap.View(), frames);
  EXPECT_EQ(r.reason, StopReason::kStackTooSmall) << StopReasonName(r.reason);
  EXPECT_GE(r.frames, 1u);
  EXPECT_EQ(stats_.Get(Stat::kUnwindStackTooSmall), 1u);
}

TEST_P(UnwinderTest, DepthLimitIsCounted) {
  Snapshot snap;
  Level1(&snap, 32768);
  Unwinder unwinder(&table_, &stats_, GetParam());
  std::vector<Frame> frames(2);
  UnwindResult r = unwinder.Unwind(snap.View(), frames);
  EXPECT_EQ(r.reason, StopReason::kMaxDepth);
  EXPECT_EQ(r.frames, 2u);
  EXPECT_EQ(stats_.Get(Stat::kUnwindMaxDepth), 1u);
  EXPECT_EQ(unwinder.Unwind(snap.View(), std::span<Frame>()).reason, StopReason::kMaxDepth);
}

TEST_P(UnwinderTest, BadRegistersAreCounted) {
  Snapshot snap;
  Level1(&snap, 1024);
  Unwinder unwinder(&table_, &stats_, GetParam());
  std::vector<Frame> frames(16);
  UserStack kernel_thread = snap.View();
  kernel_thread.abi = PERF_SAMPLE_REGS_ABI_NONE;
  kernel_thread.regs = {};
  EXPECT_EQ(unwinder.Unwind(kernel_thread, frames).reason, StopReason::kBadRegisters);
  UserStack abi32 = snap.View();
  abi32.abi = PERF_SAMPLE_REGS_ABI_32;
  EXPECT_EQ(unwinder.Unwind(abi32, frames).reason, StopReason::kBadRegisters);
  UserStack no_ip = snap.View();
  no_ip.regs_mask &= ~(uint64_t{1} << PERF_REG_X86_IP);
  EXPECT_EQ(unwinder.Unwind(no_ip, frames).reason, StopReason::kBadRegisters);  // size mismatch
  std::vector<uint64_t> fewer(snap.regs.begin(), snap.regs.end() - 1);
  no_ip.regs = fewer;
  no_ip.regs_mask &= ~(uint64_t{1} << PERF_REG_X86_R15);
  EXPECT_EQ(unwinder.Unwind(no_ip, frames).reason, StopReason::kBadRegisters);  // no IP
  EXPECT_EQ(stats_.Get(Stat::kUnwindBadRegisters), 4u);
}

TEST_P(UnwinderTest, RegistersPointingNowhere) {
  Snapshot snap;
  Level1(&snap, 1024);
  Unwinder unwinder(&table_, &stats_, GetParam());
  std::vector<Frame> frames(16);
  snap.regs[8] = 0x10;  // IP in no mapping
  UnwindResult r = unwinder.Unwind(snap.View(), frames);
  ASSERT_GE(r.frames, 1u);
  // With no unwind info for the IP, libunwind may guess on through the frame-pointer chain,
  // which exists when the test is built with frame pointers (the sanitizer builds): then it
  // goes on past the unmapped leaf, never to a wrong root.
  if (r.frames == 1) {
    EXPECT_EQ(r.reason, StopReason::kUnmapped) << StopReasonName(r.reason);
  } else {
    EXPECT_NE(r.reason, StopReason::kRoot) << StopReasonName(r.reason);
  }
  EXPECT_EQ(frames[0].kind, FrameKind::kUserRaw);
  EXPECT_EQ(frames[0].value, 0x10u);
  snap.regs[7] = 0;  // and SP too
  snap.regs[6] = 0;
  r = unwinder.Unwind(snap.View(), frames);
  EXPECT_NE(r.reason, StopReason::kRoot);
  EXPECT_EQ(TotalUnwinds(), 2u);
}

// _fini (crti.o, in every executable) has no CFI, as in the exit handlers of real programs: a
// sample at its entry leaves libunwind to guess through rbp, and a guess that leads to an
// address nothing maps must end the stack there, not show a bare unknown frame.
extern "C" void _fini();

TEST_P(UnwinderTest, GuessIntoNoMappingEndsTheStack) {
  Snapshot snap;
  Level1(&snap, 1024);
  const uint64_t nowhere = 0x100000000000;  // user space, not mapped in this process
  ASSERT_FALSE(table_.MayBeMapped(getpid(), nowhere));
  snap.regs[8] = reinterpret_cast<uint64_t>(&_fini);
  // rbp -> {saved rbp one frame up, return address nowhere}, inside the snapshot.
  const uint64_t sp = snap.regs[7];
  const uint64_t chain[2] = {sp + 64, nowhere};
  std::memcpy(snap.stack.data() + 32, chain, sizeof(chain));
  snap.regs[6] = sp + 32;
  Unwinder unwinder(&table_, &stats_, GetParam());
  std::vector<Frame> frames(16);
  const UnwindResult r = unwinder.Unwind(snap.View(), frames);
  ASSERT_GE(r.frames, 1u);
  EXPECT_EQ(frames[0].kind, FrameKind::kUserFile);
  for (size_t i = 1; i < r.frames; ++i) EXPECT_NE(frames[i].value, nowhere) << i;
  EXPECT_EQ(r.frames, 1u);
  EXPECT_NE(r.reason, StopReason::kRoot) << StopReasonName(r.reason);
}

TEST_P(UnwinderTest, DynSizeSmallerThanSizeIsNotReadPast) {
  Snapshot snap;
  Level1(&snap, 4096);
  // Only 24 valid bytes although 4096 were requested: the real stack "ended" there, so a
  // read beyond is an error, not a too-small snapshot; and the garbage after dyn_size is
  // never used.
  snap.dyn_size = 24;
  std::memset(snap.stack.data() + 24, 0x41, snap.stack.size() - 24);
  Unwinder unwinder(&table_, &stats_, GetParam());
  std::vector<Frame> frames(64);
  UnwindResult r = unwinder.Unwind(snap.View(), frames);
  EXPECT_NE(r.reason, StopReason::kRoot);
  EXPECT_NE(r.reason, StopReason::kStackTooSmall);
  EXPECT_LE(r.frames, 3u);
  for (size_t i = 0; i < r.frames; ++i) EXPECT_NE(frames[i].value, 0x4141414141414141u);
}

TEST_P(UnwinderTest, GarbageStacksNeverCrashOrHang) {
  Snapshot snap;
  Level1(&snap, 8192);
  Unwinder unwinder(&table_, &stats_, GetParam());
  std::vector<Frame> frames(256);
  std::mt19937_64 rng(42);
  // Addresses that look like code of this binary make the garbage harder to reject.
  const uint64_t ip = snap.regs[8];
  constexpr int kRounds = 2000;
  for (int round = 0; round < kRounds; ++round) {
    Snapshot bad = snap;
    for (size_t i = 0; i + 8 <= bad.stack.size(); i += 8) {
      uint64_t v = rng();
      switch (rng() % 4) {
        case 0:
          v = ip + (v % 65536) - 32768;
          break;  // near code
        case 1:
          v = bad.regs[7] + (v % bad.stack.size());
          break;  // into the stack
        case 2:
          v = 0;
          break;
        default:
          break;
      }
      std::memcpy(bad.stack.data() + i, &v, 8);
    }
    if (round % 3 == 1) bad.regs[6] = bad.regs[7] + rng() % 8192;  // rbp into the garbage
    if (round % 5 == 2) bad.dyn_size = rng() % 8192;
    UnwindResult r = unwinder.Unwind(bad.View(), frames);
    ASSERT_LE(r.frames, frames.size());
  }
  EXPECT_EQ(TotalUnwinds(), static_cast<uint64_t>(kRounds));
}

TEST_P(UnwinderTest, SteadyStateAllocations) {
  Snapshot snap;
  Level1(&snap, 16384);
  Unwinder unwinder(&table_, &stats_, GetParam());
  std::vector<Frame> frames(128);
  UnwindResult first = unwinder.Unwind(snap.View(), frames);  // loads tables
  testing::AllocationCounter allocations;
  constexpr int kRuns = 100;
  for (int i = 0; i < kRuns; ++i)
    ASSERT_EQ(unwinder.Unwind(snap.View(), frames).frames, first.frames);
  const double per_unwind = static_cast<double>(allocations.Count()) / kRuns;
  std::printf("%s: %.1f allocations per unwind of %zu frames\n",
              GetParam() == UnwindBackend::kLibdw ? "libdw" : "libunwind", per_unwind,
              first.frames);
  // libdw allocates each Dwfl_Frame (one malloc per frame + thread state); libunwind none.
  EXPECT_LE(per_unwind, 4.0 * static_cast<double>(first.frames) + 8);
}

INSTANTIATE_TEST_SUITE_P(Backends, UnwinderTest,
                         ::testing::Values(UnwindBackend::kLibdw, UnwindBackend::kLibunwind),
                         [](const auto& info) {
                           return std::string(info.param == UnwindBackend::kLibdw ? "libdw"
                                                                                  : "libunwind");
                         });

TEST(UnwinderRegsMaskTest, HasTheGeneralRegistersOnly) {
  const uint64_t mask = UnwinderRegsMask();
  EXPECT_EQ(std::popcount(mask), 17);
  for (int r : {PERF_REG_X86_IP, PERF_REG_X86_SP, PERF_REG_X86_BP, PERF_REG_X86_BX,
                PERF_REG_X86_R12, PERF_REG_X86_R15}) {
    EXPECT_NE(mask & (uint64_t{1} << r), 0u) << r;
  }
  EXPECT_EQ(mask & (uint64_t{1} << PERF_REG_X86_FLAGS), 0u);
}

}  // namespace
}  // namespace wick
