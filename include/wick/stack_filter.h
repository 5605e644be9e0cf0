// Which stacks a report shows and what roots them: `wick report --pid/--tid/--comm` keep the
// stacks of some processes, threads or thread names; `--per-thread` makes each thread a root
// of its own instead of its thread name. Both rewrite a Recording in place before any writer
// (folded, table, pprof, flame graph) sees it, so every output format filters the same way.
//
// Stack ids stay valid (trace samples refer to them): a rejected stack keeps its frames and
// gets count 0, which every writer skips. Single-threaded; no errors.
#ifndef WICK_STACK_FILTER_H_
#define WICK_STACK_FILTER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "wick/recording.h"

namespace wick {

struct StackFilter {
  // A stack is kept when it matches every non-empty list (any entry of each list).
  std::vector<uint32_t> pids;
  std::vector<uint32_t> tids;
  std::vector<std::string> comms;  // exact thread names

  bool empty() const { return pids.empty() && tids.empty() && comms.empty(); }
  bool Matches(const Recording& rec, const RecordedStack& stack) const;
};

// Sets the count of every stack `filter` rejects to 0; returns the samples kept.
uint64_t ApplyStackFilter(const StackFilter& filter, Recording* rec);

// The root name of a thread with --per-thread: "comm-pid/tid" (stackcollapse-perf's
// --pid --tid convention).
std::string PerThreadRootName(std::string_view comm, uint32_t pid, uint32_t tid);

// Points every stack at a comm named PerThreadRootName(its comm, pid, tid), added to
// rec->comms (the original comms stay, so their ids remain valid).
void SplitCommsByThread(Recording* rec);

}  // namespace wick

#endif  // WICK_STACK_FILTER_H_
