// Test/benchmark helper: runs a command under a cpu-clock sampling event with user registers
// and user stack copies (what `wick record --call-graph dwarf` asks for) and keeps every
// sample, while feeding the MMAP2/COMM/FORK/EXIT records to a ProcessTable, so tests and the
// benchmark can unwind real kernel samples as often as they like. Needs perf_event_open.
#ifndef WICK_TESTS_UNWINDER_UNWIND_CAPTURE_H_
#define WICK_TESTS_UNWINDER_UNWIND_CAPTURE_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "wick/process_table.h"
#include "wick/unwinder.h"

namespace wick::testing {

struct CapturedSample {
  pid_t pid = 0, tid = 0;
  uint64_t ip = 0;
  uint64_t abi = 0;
  uint64_t regs_mask = 0;
  std::vector<uint64_t> regs;
  std::vector<std::byte> stack;  // requested size
  uint64_t dyn_size = 0;

  UserStack View() const {
    return UserStack{.pid = pid,
                     .tid = tid,
                     .abi = abi,
                     .regs_mask = regs_mask,
                     .regs = regs,
                     .stack = stack,
                     .dyn_size = dyn_size};
  }
};

struct CaptureOptions {
  uint32_t stack_size = kDefaultStackUserSize;  // sample_stack_user
  // cpu-clock period per thread. Not a divisor of known_tree's 10 ms rounds: with exactly 1 ms
  // the samples lock to a phase of the round, each phase boundary then takes a sample or not
  // as a whole run, and c (1 sample per round) read 13.9 % instead of 10 under load in CI.
  // 1.0137 ms moves the phase 0.137 ms a round, so 150 rounds sweep it about 20 times.
  uint64_t period_ns = 1013700;
  int timeout_ms = 20000;  // the command is killed after this
};

// Forks and execs `argv` (argv[0] a path), sampling it and its threads until it exits.
// Unavailable when perf_event_open is refused.
absl::StatusOr<std::vector<CapturedSample>> CaptureCommand(const std::vector<std::string>& argv,
                                                           const CaptureOptions& options,
                                                           ProcessTable* table);

}  // namespace wick::testing

#endif  // WICK_TESTS_UNWINDER_UNWIND_CAPTURE_H_
