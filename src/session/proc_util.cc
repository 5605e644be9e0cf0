#include "proc_util.h"

#include <dirent.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "wick/status.h"

namespace wick {

absl::StatusOr<std::vector<pid_t>> ListThreads(pid_t pid) {
  std::string dir = absl::StrCat("/proc/", pid, "/task");
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) {
      return absl::NotFoundError(absl::StrCat("no process with pid ", pid, " (not in /proc)"));
    }
    return ErrnoError(errno, dir);
  }
  std::vector<pid_t> tids;
  while (dirent* e = readdir(d)) {
    int32_t tid;
    if (absl::SimpleAtoi(e->d_name, &tid)) tids.push_back(tid);
  }
  closedir(d);
  std::sort(tids.begin(), tids.end());
  return tids;
}

ScopedFd PidFdOpen(pid_t pid, unsigned flags) {
  const long fd = syscall(SYS_pidfd_open, pid, flags);
  return ScopedFd(fd >= 0 ? int(fd) : -1);
}

uint64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace wick
