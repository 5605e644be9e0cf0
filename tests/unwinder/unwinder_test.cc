// Unwinder tests without the kernel's sampling: a real stack of this process captured with
// inline asm (registers + a copy of the stack bytes, like PERF_SAMPLE_REGS_USER/STACK_USER),
// and synthesized corrupt inputs (garbage stacks, registers pointing nowhere, dyn_size < size,
// bad masks): every case must end without a crash or hang and be counted.
#include "wick/unwinder.h"

#include <asm/perf_regs.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bit>
#include <cstring>
#include <filesystem>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "testing/testing.h"
#include "wick/process_table.h"
#include "wick/scoped.h"
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

// JIT code in this process: a trampoline copied into anonymous executable memory that keeps a
// frame pointer, as V8's code does, and calls back into compiled code:
//   void trampoline(Snapshot* out, size_t size, void (*fn)(Snapshot*, size_t))
class JitTrampoline {
 public:
  static constexpr unsigned char kCode[] = {
      0x55,              // push %rbp
      0x48, 0x89, 0xe5,  // mov %rsp,%rbp
      0xff, 0xd2,        // call *%rdx
      0x5d,              // pop %rbp
      0xc3,              // ret
  };
  static constexpr uint64_t kCallOffset = 4;    // the call instruction
  static constexpr uint64_t kReturnOffset = 6;  // its return address

  JitTrampoline() {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    void* p = mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return;
    mem_ = ScopedMmap(p, page);
    std::memcpy(static_cast<unsigned char*>(p) + 0x40, kCode, sizeof kCode);
    if (mprotect(p, page, PROT_READ | PROT_EXEC) != 0) mem_.reset();
  }
  bool ok() const { return static_cast<bool>(mem_); }
  uint64_t code() const { return reinterpret_cast<uint64_t>(mem_.data()) + 0x40; }
  void Call(Snapshot* out, size_t size, void (*fn)(Snapshot*, size_t)) const {
    using Fn = void (*)(Snapshot*, size_t, void (*)(Snapshot*, size_t));
    Fn trampoline;
    const void* p = reinterpret_cast<const void*>(code());
    std::memcpy(&trampoline, &p, sizeof trampoline);
    trampoline(out, size, fn);
  }

 private:
  ScopedMmap mem_;
};

// The libunwind backend leaves JIT frames by frame pointer and goes back to DWARF in the
// caller (libdw's own rbp fallback is not counted, and not tested here).
class UnwinderJitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (kAsan) GTEST_SKIP() << "frames are not on the thread stack under AddressSanitizer";
    ASSERT_TRUE(jit_.ok()) << "mmap/mprotect of executable memory failed";
    // Through the trampoline: CaptureHere <- Level2 <- Level1 <- JIT <- this test <- main.
    jit_.Call(&through_jit_, 32768, &Level1);
    WICK_ASSERT_OK(table_.ScanProcess(getpid()));  // knows the JIT mapping now
  }

  // The same stack sampled with its leaf in the JIT code, at the call instruction: the JIT
  // frame's rsp and rbp are where it pushed the caller's rbp, 8 bytes above the slot that
  // holds the JIT return address in the captured copy.
  Snapshot LeafInJit() const {
    const uint64_t ret = jit_.code() + JitTrampoline::kReturnOffset;
    const uint64_t sp = through_jit_.regs[7];
    for (size_t off = 0; off + 8 <= through_jit_.dyn_size; off += 8) {
      uint64_t v;
      std::memcpy(&v, through_jit_.stack.data() + off, 8);
      if (v != ret) continue;
      const size_t frame = off + 8;
      Snapshot out;
      out.regs = through_jit_.regs;
      out.regs[6] = out.regs[7] = sp + frame;  // rbp, rsp
      out.regs[8] = jit_.code() + JitTrampoline::kCallOffset;
      out.stack.assign(through_jit_.stack.begin() + static_cast<ptrdiff_t>(frame),
                       through_jit_.stack.end());
      out.dyn_size = through_jit_.dyn_size - frame;
      return out;
    }
    ADD_FAILURE() << "the JIT frame's return address is not in the captured stack";
    return through_jit_;
  }

  // SetUp() calls the trampoline (mangled ...UnwinderJitTest5SetUpEv).
  static absl::StatusOr<workloads::ElfSymbol> JitCaller() {
    return workloads::FindElfSymbolContaining(SelfPath(), "UnwinderJitTest5SetUp");
  }

  bool InJit(const Frame& f) const {
    return f.kind == FrameKind::kUserRaw && f.value >= jit_.code() &&
           f.value < jit_.code() + sizeof JitTrampoline::kCode;
  }

  JitTrampoline jit_;
  Snapshot through_jit_;
  Stats stats_;
  ProcessTable table_{nullptr};
};

TEST_F(UnwinderJitTest, DwarfResumesInTheCallerOfAJitFrame) {
  Unwinder unwinder(&table_, &stats_);
  std::vector<Frame> frames(128);
  const UnwindResult r = unwinder.Unwind(through_jit_.View(), frames);
  EXPECT_EQ(r.reason, StopReason::kRoot) << StopReasonName(r.reason);
  ASSERT_GE(r.frames, 6u);
  WICK_ASSERT_OK_AND_ASSIGN(auto level1, workloads::FindElfSymbolContaining(SelfPath(), "Level1"));
  WICK_ASSERT_OK_AND_ASSIGN(auto caller, JitCaller());
  WICK_ASSERT_OK_AND_ASSIGN(auto main_fn, workloads::FindElfSymbol(SelfPath(), "main"));
  EXPECT_TRUE(InFunction(table_, frames[2], level1));
  EXPECT_TRUE(InJit(frames[3])) << frames[3].value;
  // Named inside its call instruction: the return address - 1.
  EXPECT_EQ(frames[3].value, jit_.code() + JitTrampoline::kReturnOffset - 1);
  EXPECT_TRUE(InFunction(table_, frames[4], caller));  // DWARF again, from the JIT's caller
  bool saw_main = false;
  for (size_t i = 5; i < r.frames; ++i) saw_main |= InFunction(table_, frames[i], main_fn);
  EXPECT_TRUE(saw_main);
  EXPECT_EQ(r.fp_steps, 1u);
  EXPECT_EQ(stats_.Get(Stat::kUnwindFpSteps), 1u);
  EXPECT_EQ(stats_.Get(Stat::kUnwindComplete), 1u);
}

TEST_F(UnwinderJitTest, SteadyStateAllocatesNothing) {
  Unwinder unwinder(&table_, &stats_);
  std::vector<Frame> frames(128);
  const UnwindResult first = unwinder.Unwind(through_jit_.View(), frames);  // loads tables
  ASSERT_EQ(first.fp_steps, 1u);
  testing::AllocationCounter allocations;
  for (int i = 0; i < 100; ++i)
    ASSERT_EQ(unwinder.Unwind(through_jit_.View(), frames).frames, first.frames);
  EXPECT_EQ(allocations.Count(), 0u);
}

TEST_F(UnwinderJitTest, LeafInJitCodeReachesMain) {
  const Snapshot leaf = LeafInJit();
  Unwinder unwinder(&table_, &stats_);
  std::vector<Frame> frames(128);
  const UnwindResult r = unwinder.Unwind(leaf.View(), frames);
  EXPECT_EQ(r.reason, StopReason::kRoot) << StopReasonName(r.reason);
  ASSERT_GE(r.frames, 3u);
  EXPECT_TRUE(InJit(frames[0]));
  WICK_ASSERT_OK_AND_ASSIGN(auto caller, JitCaller());
  WICK_ASSERT_OK_AND_ASSIGN(auto main_fn, workloads::FindElfSymbol(SelfPath(), "main"));
  EXPECT_TRUE(InFunction(table_, frames[1], caller));
  bool saw_main = false;
  for (size_t i = 2; i < r.frames; ++i) saw_main |= InFunction(table_, frames[i], main_fn);
  EXPECT_TRUE(saw_main);
  EXPECT_EQ(r.fp_steps, 1u);
}

TEST_F(UnwinderJitTest, BrokenFramePointerChainsStopInJitCode) {
  const Snapshot leaf = LeafInJit();
  Unwinder unwinder(&table_, &stats_);
  std::vector<Frame> frames(128);
  const uint64_t sp = leaf.regs[7];
  auto put = [](Snapshot* s, uint64_t offset, uint64_t value) {
    std::memcpy(s->stack.data() + offset, &value, 8);
  };

  Snapshot below = leaf;  // rbp below rsp: a general register, not a frame pointer
  below.regs[6] = sp - 64;
  UnwindResult r = unwinder.Unwind(below.View(), frames);
  EXPECT_EQ(r.reason, StopReason::kJit) << StopReasonName(r.reason);
  EXPECT_EQ(r.frames, 1u);

  // A chain that points at itself: [rbp] = rbp, [rbp + 8] = the JIT code again. The second
  // step would not climb, so the walk stops instead of looping.
  Snapshot loop = leaf;
  put(&loop, 0, sp);
  put(&loop, 8, jit_.code() + JitTrampoline::kCallOffset);
  r = unwinder.Unwind(loop.View(), frames);
  EXPECT_EQ(r.reason, StopReason::kJit) << StopReasonName(r.reason);
  EXPECT_EQ(r.frames, 2u);
  EXPECT_EQ(r.fp_steps, 1u);

  Snapshot nowhere = leaf;  // a return address nothing maps
  put(&nowhere, 8, 0x100000000000);
  ASSERT_FALSE(table_.MayBeMapped(getpid(), 0x100000000000));
  r = unwinder.Unwind(nowhere.View(), frames);
  EXPECT_EQ(r.reason, StopReason::kJit) << StopReasonName(r.reason);
  EXPECT_EQ(r.frames, 1u);

  Snapshot zero = leaf;  // the end of an rbp chain is no caller of JIT code
  put(&zero, 8, 0);
  r = unwinder.Unwind(zero.View(), frames);
  EXPECT_EQ(r.reason, StopReason::kJit) << StopReasonName(r.reason);
  EXPECT_EQ(r.frames, 1u);

  // rbp past the end of a copy that SIZE cut (dyn_size == size): a bigger copy had it.
  Snapshot cut = leaf;
  cut.stack.resize(512);
  cut.dyn_size = 512;
  cut.regs[6] = sp + 4096;
  r = unwinder.Unwind(cut.View(), frames);
  EXPECT_EQ(r.reason, StopReason::kStackTooSmall) << StopReasonName(r.reason);
  EXPECT_EQ(r.frames, 1u);

  EXPECT_EQ(stats_.Get(Stat::kUnwindJit), 4u);
  EXPECT_EQ(stats_.Get(Stat::kUnwindStackTooSmall), 1u);
  EXPECT_EQ(stats_.Get(Stat::kUnwindFpSteps), 1u);
}

INSTANTIATE_TEST_SUITE_P(Backends, UnwinderTest,
                         ::testing::Values(UnwindBackend::kLibdw, UnwindBackend::kLibunwind),
                         [](const auto& info) {
                           return std::string(info.param == UnwindBackend::kLibdw ? "libdw"
                                                                                  : "libunwind");
                         });

// An executable (ET_EXEC) whose text is also mapped a second time elsewhere, as node maps its
// builtins: frames in the copy are unwound with the file's CFI at the copy's own bias. Sampled
// in _start after its first instruction, where its CFI marks the return address undefined:
// the root, in either copy.
TEST(UnwinderExecutableCopyTest, SecondMappingIsUnwoundAtItsOwnAddress) {
  const std::string bin = std::filesystem::canonical(workloads::KnownTreeNoPiePath()).string();
  WICK_ASSERT_OK_AND_ASSIGN(auto start, workloads::FindElfSymbol(bin, "_start"));
  ProcessTable table(nullptr);
  const pid_t pid = 0x3fffff00;  // no such process: only these mappings
  const uint64_t page = 4096;
  const uint64_t at = start.value & ~(page - 1);
  const uint64_t copy = at + (uint64_t{1} << 32);
  const uint64_t pgoff = start.file_offset & ~(page - 1);
  table.OnMmap(pid, pid, at, 2 * page, pgoff, bin, PROT_READ | PROT_EXEC, {});
  table.OnMmap(pid, pid, copy, 2 * page, pgoff, bin, PROT_READ | PROT_EXEC, {});
  Stats stats;
  Unwinder unwinder(&table, &stats);
  std::vector<std::byte> stack(64);
  std::vector<Frame> frames(16);
  // Two IPs in the copy, as each is looked up once (libunwind caches by IP).
  for (const auto& [base, offset] : {std::pair{at, 4}, {copy, 4}, {copy, 12}}) {
    const uint64_t ip = base + (start.value - at) + offset;
    std::vector<uint64_t> regs(17, 0);
    regs[7] = 0x7ff000000000;  // rsp
    regs[8] = ip;
    const UserStack sample{.pid = pid,
                           .tid = pid,
                           .abi = PERF_SAMPLE_REGS_ABI_64,
                           .regs_mask = UnwinderRegsMask(),
                           .regs = regs,
                           .stack = stack,
                           .dyn_size = stack.size()};
    const UnwindResult r = unwinder.Unwind(sample, frames);
    EXPECT_EQ(r.reason, StopReason::kRoot) << std::hex << ip << ": " << StopReasonName(r.reason);
    EXPECT_EQ(r.frames, 1u);
  }
}

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
