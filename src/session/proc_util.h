// Process and clock helpers for the sessions: the threads of a process a -p target names,
// pidfds that tell when a target exits, and the monotonic clock.
#ifndef WICK_SRC_SESSION_PROC_UTIL_H_
#define WICK_SRC_SESSION_PROC_UTIL_H_

#include <sys/types.h>

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "wick/scoped.h"

namespace wick {

// Thread ids of process `pid` from /proc/PID/task, sorted. NotFound "no process with pid N"
// when it does not exist.
absl::StatusOr<std::vector<pid_t>> ListThreads(pid_t pid);

// A pidfd for `pid` (readable once it exits), or an invalid fd when the kernel has none.
ScopedFd PidFdOpen(pid_t pid, unsigned flags = 0);

// CLOCK_MONOTONIC in nanoseconds: the clock of perf samples (use_clockid) and of deadlines.
uint64_t MonotonicNs();

}  // namespace wick

#endif  // WICK_SRC_SESSION_PROC_UTIL_H_
