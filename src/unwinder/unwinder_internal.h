// Pieces shared by the unwinder backends: register extraction, the bounded stack snapshot,
// the per-binary ELF cache (PT_LOADs, .eh_frame_hdr, a read-only mmap of the file) and the
// frame-pointer fallback. Internal to src/unwinder/.
#ifndef WICK_SRC_UNWINDER_UNWINDER_INTERNAL_H_
#define WICK_SRC_UNWINDER_UNWINDER_INTERNAL_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "wick/frame.h"
#include "wick/process_table.h"
#include "wick/scoped.h"
#include "wick/unwinder.h"

namespace wick::unwinder_internal {

// DWARF x86_64 register numbers (also libunwind's UNW_X86_64_*): rax rdx rcx rbx rsi rdi
// rbp rsp r8..r15, then the return address column (rip) = 16.
inline constexpr int kDwarfRegs = 17;
inline constexpr int kDwarfRbp = 6;
inline constexpr int kDwarfRsp = 7;
inline constexpr int kDwarfRip = 16;

struct Regs {
  uint64_t dwarf[kDwarfRegs] = {};
  uint64_t ip() const { return dwarf[kDwarfRip]; }
  uint64_t sp() const { return dwarf[kDwarfRsp]; }
  uint64_t bp() const { return dwarf[kDwarfRbp]; }
};

// Converts sample_regs_user values (ascending PERF_REG_X86_* order) to DWARF order.
// Registers absent from the mask are 0. False without IP and SP or for a non-64-bit ABI.
bool ExtractRegs(const UserStack& sample, Regs* out);

// Why the last out-of-snapshot read failed.
enum class ReadFailure : uint8_t { kNone, kBeyondSnapshot, kOutside };

// The copied stack: [sp, sp + dyn_size) readable, 8 bytes at a time.
class StackMemory {
 public:
  StackMemory(uint64_t sp, std::span<const std::byte> stack, uint64_t dyn_size);
  bool Contains(uint64_t addr) const {
    return addr >= sp_ && addr - sp_ < size_ && size_ - (addr - sp_) >= 8;
  }
  // Reads 8 bytes at addr; on failure records why (failure()).
  bool Read(uint64_t addr, uint64_t* value);
  ReadFailure failure() const { return failure_; }
  // Forgets the last failure: each unwind step is judged by its own reads (a failed read of
  // code bytes by an earlier step says nothing about the end of the walk).
  void ClearFailure() { failure_ = ReadFailure::kNone; }
  uint64_t end() const { return sp_ + size_; }

 private:
  uint64_t sp_;
  const std::byte* data_;
  uint64_t size_;
  bool full_;  // dyn_size == requested size: the real stack may go on past the snapshot
  ReadFailure failure_ = ReadFailure::kNone;
};

// A binary's load information, read once per binary id.
struct ElfImage {
  bool ok = false;
  uint16_t e_type = 0;
  struct Load {
    uint64_t vaddr, memsz, offset, filesz;
  };
  std::vector<Load> loads;
  uint64_t min_vaddr = 0, max_vaddr = 0;  // span of the PT_LOADs
  // PT_GNU_EH_FRAME (.eh_frame_hdr): vaddr and size; 0 when absent.
  uint64_t eh_frame_hdr_vaddr = 0, eh_frame_hdr_size = 0;
  ScopedMmap file;  // the whole file, read-only
  std::span<const std::byte> bytes;
  std::string path;

  // File offset -> link-time vaddr through the PT_LOAD holding it; false when none does.
  bool OffsetToVaddr(uint64_t offset, uint64_t* vaddr) const;
  // Link-time vaddr -> bytes of the file (8 bytes read); false outside PT_LOAD file bytes.
  bool ReadVaddr(uint64_t vaddr, uint64_t* value) const;
};

// Per-binary-id cache of ElfImages (shared by every process).
class ElfCache {
 public:
  explicit ElfCache(ProcessTable* processes) : processes_(processes) {}
  // Never null; `->ok` false when the file could not be read.
  const ElfImage* Get(uint32_t binary);

 private:
  ProcessTable* processes_;
  absl::flat_hash_map<uint32_t, std::unique_ptr<ElfImage>> images_;
};

// Where a user address is: the binary and its load bias (runtime - link-time address).
struct Placement {
  const ElfImage* image = nullptr;  // null: not in a file mapping
  uint32_t binary = 0;
  uint64_t bias = 0;
};
Placement Place(ProcessTable* processes, ElfCache* elves, pid_t pid, uint64_t addr);

// True when `addr` is executable memory of `process` (ProcessTable::Find; may be null) that
// is no file: an anonymous executable mapping, memfd, [anon:...]. JIT code, without unwind
// tables. (The ProcessTable keeps executable mappings only.)
bool InJitCode(const ProcessTable::Process* process, uint64_t addr);

// Leaves a frame without CFI (JIT code, code built without unwind tables) through its frame
// pointer, as compilers and the JITs that keep one lay it out (V8, the JVM, .NET): the
// caller's rbp at [rbp], the return address at [rbp + 8], the caller's rsp = rbp + 16. `regs`
// are the frame's registers and become the caller's (rip, rsp, rbp; the others are left as
// they were). rbp must lie at or above rsp, so every step climbs the stack and a corrupt chain
// cannot loop. False when the step is not possible, with *why: kStackTooSmall when the frame
// lies beyond the copied snapshot, kJit when rbp is no frame pointer of this stack.
bool FramePointerStep(StackMemory* stack, Regs* regs, StopReason* why);

// Common state of one Unwind() call, shared by the backends' callbacks.
class Backend {
 public:
  virtual ~Backend() = default;
  // Fills the address that names each frame into `pcs`, leaf first: the sampled IP, then for
  // each caller its return address - 1 (inside the call instruction, so a call that ends its
  // function names that function and its line), except a frame interrupted by a signal, whose
  // address is the interrupted instruction itself. Returns the count and stop reason (without
  // counting stats).
  virtual UnwindResult Unwind(pid_t pid, pid_t tid, const Regs& regs, StackMemory* stack,
                              std::span<uint64_t> pcs) = 0;
  virtual void ForgetProcess(pid_t pid) = 0;
};

std::unique_ptr<Backend> MakeLibdwBackend(ProcessTable* processes, ElfCache* elves);
std::unique_ptr<Backend> MakeLibunwindBackend(ProcessTable* processes, ElfCache* elves);

// Why an unwind stopped at `pc` when the library gave up (not at the root).
StopReason ClassifyFailure(ProcessTable* processes, ElfCache* elves, pid_t pid, uint64_t pc,
                           const StackMemory& stack, bool has_cfi);

}  // namespace wick::unwinder_internal

#endif  // WICK_SRC_UNWINDER_UNWINDER_INTERNAL_H_
