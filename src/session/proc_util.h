// Reading /proc for the session: the threads of a process a -p target names.
#ifndef WICK_SRC_SESSION_PROC_UTIL_H_
#define WICK_SRC_SESSION_PROC_UTIL_H_

#include <sys/types.h>

#include <vector>

#include "absl/status/statusor.h"

namespace wick {

// Thread ids of process `pid` from /proc/PID/task, sorted. NotFound "no process with pid N"
// when it does not exist.
absl::StatusOr<std::vector<pid_t>> ListThreads(pid_t pid);

}  // namespace wick

#endif  // WICK_SRC_SESSION_PROC_UTIL_H_
