// DWARF unwinding of user stacks copied by the kernel (--call-graph dwarf): a sample's user
// registers (PERF_SAMPLE_REGS_USER) and stack bytes (PERF_SAMPLE_STACK_USER) become user
// frames, leaf first, as (binary id, file offset) values through the ProcessTable.
//
// Unwind tables (.eh_frame_hdr/.eh_frame, .debug_frame) are read once per (process, binary)
// and cached; per sample nothing is parsed twice. A frame without CFI, in JIT code (anonymous
// executable memory: V8, the JVM, ...) or in code built without unwind tables, is left by its
// frame pointer, which those JITs keep: the libunwind backend takes that step itself (counted
// as unwind_fp_steps) and resumes DWARF unwinding in the next frame that has CFI; libdw takes
// libdwfl's own rbp-chain step. Every stack that does not reach its root is counted with the
// reason (unwind_* counters in stats.h).
// Backends: libunwind (default: ~1.45x the samples/s of libdw on the same samples and no
// malloc per sample, where libdw makes ~130) and elfutils libdw (also reads .debug_frame);
// numbers in tests/unwinder/unwinder_benchmark.cc. Not thread-safe: one Unwinder per reader
// thread; the ProcessTable is borrowed and must outlive it. Bad input is data, not an
// error: Unwind() never fails, it reports a StopReason.
#ifndef WICK_UNWINDER_H_
#define WICK_UNWINDER_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "wick/frame.h"
#include "wick/process_table.h"
#include "wick/stats.h"

namespace wick {

// perf_event_attr.sample_regs_user the unwinder needs on x86_64: the 16 general registers
// and IP (PERF_REG_X86_{AX..DI,BP,SP,IP,R8..R15}), not flags or segment registers.
uint64_t UnwinderRegsMask();
// The registers a frame-pointer walk starts from: PERF_REG_X86_{BP,SP,IP}.
uint64_t FramePointerRegsMask();

// Largest perf_event_attr.sample_stack_user the kernel accepts (multiple of 8, < 64 KiB).
inline constexpr uint32_t kMaxStackUserSize = 65528;
// Default copied stack size per sample (perf's default).
inline constexpr uint32_t kDefaultStackUserSize = 8192;

enum class StopReason : uint8_t {
  kRoot,           // reached the outermost frame (CFI undefined return address, _start, clone)
  kNoUnwindInfo,   // no CFI for a frame and the frame-pointer fallback did not continue
  kStackTooSmall,  // needed stack bytes beyond the copied snapshot (raise SIZE)
  kUnmapped,       // an address outside every file mapping (anonymous memory, stale maps)
  kJit,            // in JIT code (anonymous executable memory) the frame-pointer chain ended
  kMaxDepth,       // the output span was full
  kBadRegisters,   // no user registers (kernel thread), 32-bit ABI, or mask without IP/SP
  kError,          // the unwinder library failed otherwise (corrupt stack, loop, bad CFI)
};
std::string_view StopReasonName(StopReason reason);

// One sample's user state, as decoded from PERF_RECORD_SAMPLE (SampleRecord fields).
struct UserStack {
  pid_t pid = 0;
  pid_t tid = 0;
  uint64_t abi = 0;                  // regs_user_abi (PERF_SAMPLE_REGS_ABI_*)
  uint64_t regs_mask = 0;            // the attr's sample_regs_user
  std::span<const uint64_t> regs;    // popcount(regs_mask) values, ascending register number
  std::span<const std::byte> stack;  // stack_user (size = requested sample_stack_user)
  uint64_t dyn_size = 0;             // stack_user_dyn_size: valid bytes at the front
};

struct UnwindResult {
  size_t frames = 0;  // frames written to `out`, leaf (the sampled IP) first
  StopReason reason = StopReason::kError;
  // A frame without CFI in a file was left through the rbp chain (libunwind backend only;
  // libdw's fallback is internal to it).
  bool used_frame_pointers = false;
  // Frames without CFI (JIT code or files) left by frame pointer (libunwind backend; counted
  // as unwind_fp_steps).
  uint32_t fp_steps = 0;
  // Every frame was stepped by wick's own reading of .eh_frame (libunwind backend; see
  // src/unwinder/cfi_rules.h), none by libunwind itself.
  bool own_cfi = false;
};

enum class UnwindBackend : uint8_t { kLibdw, kLibunwind };

class Unwinder {
 public:
  // `processes` resolves addresses to mappings (and is used for the output Frames);
  // `stats` (may be null) receives the unwind_* counters. Both must outlive the Unwinder.
  explicit Unwinder(ProcessTable* processes, Stats* stats,
                    UnwindBackend backend = UnwindBackend::kLibunwind);
  ~Unwinder();
  Unwinder(const Unwinder&) = delete;
  Unwinder& operator=(const Unwinder&) = delete;
  // Counts into `stats` from now on (null: internally), e.g. an --overwrite snapshot's own.
  void set_stats(Stats* stats);

  // Unwinds one sample into `out` (leaf first). Never fails; counts one unwind_* stat for
  // the stop reason (unwind_complete for kRoot). Frames are ProcessTable::Resolve() values:
  // the leaf is the sampled IP, the others are return addresses (as in kernel callchains).
  UnwindResult Unwind(const UserStack& sample, std::span<Frame> out);

  // Drops the cached state of `pid` (its modules and unwind tables), e.g. after exec or exit.
  void ForgetProcess(pid_t pid);

  UnwindBackend backend() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace wick

#endif  // WICK_UNWINDER_H_
