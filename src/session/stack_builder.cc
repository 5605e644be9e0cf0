#include "stack_builder.h"

#include <asm/perf_regs.h>
#include <linux/perf_event.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <optional>

namespace wick {

// Deepest user stack a DWARF unwind may produce: a 64 KiB copy holds at most 4096 frames of
// 16 bytes (return address + saved frame), so this never cuts a stack the copy holds.
constexpr size_t kMaxDwarfFrames = 4096;

StackBuilder::StackBuilder(ProcessTable* processes, StackMap* stacks, Stats* stats,
                           uint64_t sample_type, uint32_t max_stack, uint64_t dwarf_regs_mask,
                           Unwinder* unwinder, uint32_t dwarf_max_frames)
    : processes_(processes),
      stacks_(stacks),
      stats_(stats),
      sample_type_(sample_type),
      max_stack_(max_stack),
      dwarf_max_frames_(dwarf_max_frames == 0
                            ? kMaxDwarfFrames
                            : std::min<size_t>(dwarf_max_frames, kMaxDwarfFrames)),
      swapper_comm_(processes->comms().Intern("swapper")),
      dwarf_regs_mask_(dwarf_regs_mask),
      unwinder_(dwarf_regs_mask ? unwinder : nullptr),
      // Kernel and user contexts may each bring up to max_stack entries; DWARF unwinding is
      // not bound by kernel.perf_event_max_stack, only by the stack copy (64 KiB at most).
      // One more for a synthetic leaf (SampleTarget::leaf).
      pool_(size_t{max_stack} + 3 + (dwarf_regs_mask ? kMaxDwarfFrames : size_t{max_stack})) {}

void StackBuilder::WalkFramePointersInCopies(uint64_t regs_mask) {
  // REGS_USER values come in ascending register-number order: a register's position is the
  // number of sampled registers below it.
  auto position = [regs_mask](int reg) {
    const uint64_t bit = uint64_t{1} << reg;
    return (regs_mask & bit) ? std::popcount(regs_mask & (bit - 1)) : -1;
  };
  fp_reg_bp_ = position(PERF_REG_X86_BP);
  fp_reg_sp_ = position(PERF_REG_X86_SP);
  fp_reg_ip_ = position(PERF_REG_X86_IP);
}

size_t StackBuilder::WalkCopy(const SampleRecord& s, pid_t pid,
                              const ProcessTable::Process* process, Frame* frames, size_t room) {
  // A 32-bit task's frames are {u32 saved fp, u32 return address}, as the kernel's
  // perf_callchain_user32 reads them; a kernel thread has no user registers.
  uint64_t word_size = 0;
  if (s.regs_user_abi == PERF_SAMPLE_REGS_ABI_64) word_size = 8;
  if (s.regs_user_abi == PERF_SAMPLE_REGS_ABI_32) word_size = 4;
  if (word_size == 0 || fp_reg_bp_ < 0 || fp_reg_sp_ < 0 || fp_reg_ip_ < 0) return 0;
  const int highest = std::max({fp_reg_bp_, fp_reg_sp_, fp_reg_ip_});
  if (s.regs_user.size() <= size_t(highest) || room == 0) return 0;
  const uint64_t mask = word_size == 8 ? ~uint64_t{0} : uint64_t{0xffffffff};
  const uint64_t sp = s.regs_user[size_t(fp_reg_sp_)] & mask;
  uint64_t fp = s.regs_user[size_t(fp_reg_bp_)] & mask;
  // The copy holds the user memory [sp, sp + copied).
  const uint64_t copied = std::min<uint64_t>(s.stack_user_dyn_size, s.stack_user.size());
  const uint64_t frame_size = 2 * word_size;
  const size_t limit = std::min<size_t>(room, max_stack_);
  size_t n = 0;
  frames[n++] = processes_->ResolveIn(pid, process, s.regs_user[size_t(fp_reg_ip_)] & mask);
  // The kernel's walk: the leaf's ip, then per frame {saved fp, return address} at fp. wick
  // also stops at a zero return address and at a frame that does not climb the stack (the
  // kernel goes on to max_stack through such garbage), and where the copy ends.
  // A chain past a full copy but this close above sp is the stack the copy did not reach.
  constexpr uint64_t kStackReach = uint64_t{64} << 20;
  uint64_t previous = 0;
  bool more = false;  // the chain went on when `limit` stopped it
  while (true) {
    if (fp < sp || fp <= previous) break;
    if (copied < frame_size || fp - sp > copied - frame_size) {
      if (copied != 0 && copied == s.stack_user.size() && fp - sp < kStackReach) {
        stats_->Add(Stat::kFpChainsCutByCopy);
      }
      break;
    }
    uint64_t next = 0, ret = 0;
    std::memcpy(&next, s.stack_user.data() + (fp - sp), word_size);
    std::memcpy(&ret, s.stack_user.data() + (fp - sp) + word_size, word_size);
    if (ret == 0) break;
    if (n == limit) {
      more = true;
      break;
    }
    // A return address: step back into the call instruction, as for the kernel's chains.
    frames[n++] = processes_->ResolveIn(pid, process, ret - 1);
    previous = fp;
    fp = next;
  }
  if (more) stats_->Add(Stat::kTruncatedCallchains);
  return n;
}

StackBuilder::SampleIds StackBuilder::OnSample(const ParsedRecord& rec,
                                               const SampleTarget& target) {
  const SampleRecord& s = rec.sample;
  stats_->Add(Stat::kSamples);
  Frame* frames = pool_.data();
  const size_t capacity = pool_.size();
  size_t n = 0;
  if (target.leaf) frames[n++] = *target.leaf;
  const pid_t pid = pid_t(s.pid);
  // Looked up once for all the sample's user frames.
  const ProcessTable::Process* process = processes_->Find(pid);
  if (pid == -1) {
    // The kernel gives no pid for a task past the point of its exit where its pid is freed.
    stats_->Add(Stat::kSamplesNoPid);
  } else if (pid != 0 && process == nullptr) {
    stats_->Add(Stat::kSamplesUnknownPid);
  }
  if (target.callchain.value_or((sample_type_ & PERF_SAMPLE_CALLCHAIN) != 0)) {
    CallchainContext context = CallchainContext::kUnknown;
    bool first_in_context = true;
    size_t in_context = 0;
    bool truncated = false;
    for (uint64_t ip : s.callchain) {
      if (IsContextMarker(ip)) {
        if (in_context >= max_stack_) truncated = true;
        context = ClassifyContextMarker(ip);
        first_in_context = true;
        in_context = 0;
        continue;
      }
      ++in_context;
      if (n == capacity) {
        truncated = true;
        break;
      }
      // Every entry but the first of a context is a return address: step back into the call
      // instruction so the frame names the call site, not the instruction after it (which
      // may belong to the next function when the call was the last instruction).
      const uint64_t addr = first_in_context ? ip : ip - 1;
      first_in_context = false;
      if (context == CallchainContext::kKernel) {
        frames[n++] = Frame{addr, 0, FrameKind::kKernel};
        stats_->Add(Stat::kKernelFrames);
      } else if (context == CallchainContext::kUser) {
        frames[n++] = processes_->ResolveIn(pid, process, addr);
        stats_->Add(Stat::kUserFrames);
      } else {
        // Hypervisor and guest frames are not ours to name, nor entries under a marker this
        // build does not know (or before any marker, in a damaged chain): skipped, counted.
        stats_->Add(Stat::kCallchainFramesSkipped);
      }
    }
    if (in_context >= max_stack_) truncated = true;
    if (truncated) stats_->Add(Stat::kTruncatedCallchains);
    // DWARF mode: the kernel gave kernel frames only; unwind the user stack copy and append
    // its frames (leaf first), stitching one stack. Kernel threads have no user registers.
    if (unwinder_ && s.regs_user_abi != PERF_SAMPLE_REGS_ABI_NONE && n < capacity) {
      UserStack user{.pid = pid,
                     .tid = pid_t(s.tid),
                     .abi = s.regs_user_abi,
                     .regs_mask = dwarf_regs_mask_,
                     .regs = s.regs_user,
                     .stack = s.stack_user,
                     .dyn_size = s.stack_user_dyn_size};
      UnwindResult result = unwinder_->Unwind(
          user, std::span<Frame>(frames + n, std::min(capacity - n, dwarf_max_frames_)));
      stats_->Add(Stat::kUserFrames, result.frames);
      n += result.frames;
    }
    if (target.user_fp_in_copy && n < capacity) {
      const size_t walked = WalkCopy(s, pid, process, frames + n, capacity - n);
      stats_->Add(Stat::kUserFrames, walked);
      n += walked;
    }
  } else {
    const uint16_t mode = rec.misc & PERF_RECORD_MISC_CPUMODE_MASK;
    if (mode == PERF_RECORD_MISC_KERNEL) {
      frames[n++] = Frame{s.ip, 0, FrameKind::kKernel};
      stats_->Add(Stat::kKernelFrames);
    } else {
      frames[n++] = processes_->ResolveIn(pid, process, s.ip);
      stats_->Add(Stat::kUserFrames);
    }
  }
  const uint32_t comm = pid == 0 ? swapper_comm_ : processes_->CommId(pid, pid_t(s.tid));
  std::optional<uint32_t> id =
      stacks_->Insert(StackKey{target.event, comm, s.pid, s.tid}, std::span<const Frame>(frames, n),
                      target.count, target.weight);
  if (!id) {
    stats_->Add(Stat::kStackMapFull);
    return {0xffffffffu, comm};
  }
  return {*id, comm};
}

}  // namespace wick
