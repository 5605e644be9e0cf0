// The per-sample hot path of a recording: a sample's callchain (or lone ip) becomes frames
// in a preallocated pool, then one entry of the stack map. Kernel addresses stay addresses;
// user addresses become (binary, file offset) through the ProcessTable.
//
// One StackBuilder per CPU reader: it owns its frame pool (the user-space twin of the
// kernel's per-CPU callchain entries), so readers share no buffer and take no lock. After
// construction it never allocates (tests/session/stack_builder_test.cc proves it). The
// ProcessTable, StackMap, Stats and Unwinder are borrowed and must outlive it; the Unwinder
// (its caches of mapped ELF files and unwind tables) is shared by every CPU's builder, all
// of which run on the one reader thread.
#ifndef WICK_SRC_SESSION_STACK_BUILDER_H_
#define WICK_SRC_SESSION_STACK_BUILDER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "wick/frame.h"
#include "wick/process_table.h"
#include "wick/record.h"
#include "wick/stack_map.h"
#include "wick/stats.h"
#include "wick/unwinder.h"

namespace wick {

class StackBuilder {
 public:
  // `max_stack`: the deepest chain the events were opened with (kernel.perf_event_max_stack
  // when not set), per context; a chain that reaches it is counted as truncated.
  // With `unwinder` (--call-graph dwarf; `dwarf_regs_mask` the sampled registers), user
  // frames come from unwinding the sample's REGS_USER + STACK_USER copy; the callchain then
  // holds kernel frames only, and at most `dwarf_max_frames` user frames are unwound (0: as
  // many as a 64 KiB copy can hold; --max-stack N limits them to N, counted as "maximum
  // depth" where the stack was deeper).
  StackBuilder(ProcessTable* processes, StackMap* stacks, Stats* stats, uint64_t sample_type,
               uint32_t max_stack, uint64_t dwarf_regs_mask = 0, Unwinder* unwinder = nullptr,
               uint32_t dwarf_max_frames = 0);

  // Points later samples at another stack map (an --overwrite snapshot's own).
  void set_stack_map(StackMap* stacks) { stacks_ = stacks; }
  // Samples with SampleTarget::user_fp_in_copy carry user registers `regs_mask` (which must
  // hold bp, sp and ip): their user frames are the frame-pointer chain the kernel would have
  // walked (64- or 32-bit), read from the stack copy instead of the task's memory. wick's
  // walk ends at fp 0, a zero return address, a frame that does not climb the stack,
  // max_stack frames (counted as truncated when the chain went on), or the copy's end:
  // counted as fp_chains_cut_by_copy when the next frame lies past a full copy.
  void WalkFramePointersInCopies(uint64_t regs_mask);

  // What OnSample made of a sample: its stack id in the stack map, or kNoStack (from
  // recording.h's convention, 0xffffffff) when the map is full; and its thread's comm id.
  struct SampleIds {
    uint32_t stack;
    uint32_t comm;
  };
  // Where a sample goes in the stack map: the event it counts for (an index into the
  // recording's event types), how many samples and what weight (the sum of their periods) it
  // adds, and an optional synthetic frame put below the sample's own leaf (an off-CPU
  // reason).
  struct SampleTarget {
    uint32_t event = 0;
    uint64_t count = 1;
    uint64_t weight = 0;
    std::optional<Frame> leaf;
    // Whether the sample carries a callchain; unset: the builder's sample_type says (a
    // perf.data file may mix events with and without callchains).
    std::optional<bool> callchain;
    // The kernel gave kernel frames only, and the user frames are walked here by frame
    // pointer in the sample's REGS_USER + STACK_USER copy (--off-cpu -g; see
    // WalkFramePointersInCopies).
    bool user_fp_in_copy = false;
  };
  // Adds one PERF_RECORD_SAMPLE to the stack map.
  SampleIds OnSample(const ParsedRecord& record, const SampleTarget& target);
  SampleIds OnSample(const ParsedRecord& record) { return OnSample(record, SampleTarget{}); }

 private:
  ProcessTable* processes_;
  StackMap* stacks_;
  Stats* stats_;
  uint64_t sample_type_;
  uint32_t max_stack_;
  size_t dwarf_max_frames_;
  uint32_t swapper_comm_;  // pid 0, the idle tasks, which /proc does not list
  uint64_t dwarf_regs_mask_;
  Unwinder* unwinder_;  // --call-graph dwarf only
  // WalkFramePointersInCopies: the positions of bp, sp and ip in a sample's user registers;
  // -1: not set.
  int fp_reg_bp_ = -1;
  int fp_reg_sp_ = -1;
  int fp_reg_ip_ = -1;

  // Appends the user frames of `s` walked in its stack copy; returns how many.
  size_t WalkCopy(const SampleRecord& s, pid_t pid, const ProcessTable::Process* process,
                  Frame* frames, size_t room);
  std::vector<Frame> pool_;
};

}  // namespace wick

#endif  // WICK_SRC_SESSION_STACK_BUILDER_H_
