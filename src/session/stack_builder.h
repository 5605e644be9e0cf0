// The per-sample hot path of a recording: a sample's callchain (or lone ip) becomes frames
// in a preallocated pool, then one entry of the stack map. Kernel addresses stay addresses;
// user addresses become (binary, file offset) through the ProcessTable.
//
// One StackBuilder per CPU reader: it owns its frame pool (the user-space twin of the
// kernel's per-CPU callchain entries), so readers share no buffer and take no lock. After
// construction it never allocates (tests/session/stack_builder_test.cc proves it). The
// ProcessTable, StackMap and Stats are borrowed and must outlive it.
#ifndef WICK_SRC_SESSION_STACK_BUILDER_H_
#define WICK_SRC_SESSION_STACK_BUILDER_H_

#include <cstdint>
#include <vector>

#include "wick/frame.h"
#include "wick/process_table.h"
#include "wick/record.h"
#include "wick/stack_map.h"
#include "wick/stats.h"

namespace wick {

class StackBuilder {
 public:
  // `max_stack`: the deepest chain the events were opened with (kernel.perf_event_max_stack
  // when not set), per context; a chain that reaches it is counted as truncated.
  StackBuilder(ProcessTable* processes, StackMap* stacks, Stats* stats, uint64_t sample_type,
               uint32_t max_stack);

  // Adds one PERF_RECORD_SAMPLE to the stack map.
  void OnSample(const ParsedRecord& record);

 private:
  ProcessTable* processes_;
  StackMap* stacks_;
  Stats* stats_;
  uint64_t sample_type_;
  uint32_t max_stack_;
  uint32_t swapper_comm_;  // pid 0, the idle tasks, which /proc does not list
  std::vector<Frame> pool_;
};

}  // namespace wick

#endif  // WICK_SRC_SESSION_STACK_BUILDER_H_
