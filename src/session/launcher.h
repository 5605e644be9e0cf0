// Starts a command for profiling: forked at once, held before exec until Release(), so that
// events opened with enable_on_exec on its pid count nothing of wick's own start-up.
// The child owns nothing of wick's (every wick fd is CLOEXEC). Wait() reaps it.
#ifndef WICK_SRC_SESSION_LAUNCHER_H_
#define WICK_SRC_SESSION_LAUNCHER_H_

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "wick/scoped.h"

namespace wick {

class Launcher {
 public:
  // Forks; the child blocks until Release(). NotFound/PermissionDenied for a command that
  // cannot be found or run are reported by Release(), which waits for the exec.
  static absl::StatusOr<Launcher> Start(const std::vector<std::string>& argv);

  Launcher(Launcher&& other) noexcept { *this = std::move(other); }
  Launcher& operator=(Launcher&& other) noexcept;
  ~Launcher();

  pid_t pid() const { return pid_; }
  // Lets the child exec; returns once exec succeeded or failed (then the child has exited).
  absl::Status Release();
  // Ends a child that is still running: SIGTERM, then SIGKILL if it has not exited within
  // `grace_ms`; reaps it and returns its wait status.
  int Terminate(int grace_ms = 2000);
  // Reaps the child; returns its wait status.
  int Wait();
  bool reaped() const { return reaped_; }
  // Whether `wait_status` says the child died of a signal that stops a run (SIGINT, SIGTERM,
  // SIGHUP): the same Ctrl-C or group SIGTERM that stopped wick.
  static bool EndedByStopSignal(int wait_status);

 private:
  Launcher() = default;
  pid_t pid_ = -1;
  bool reaped_ = false;
  int wait_status_ = -1;
  std::string name_;
  ScopedFd go_write_;  // closed (or written) to let the child exec
  ScopedFd err_read_;  // the child writes errno here when exec fails; EOF on success
};

}  // namespace wick

#endif  // WICK_SRC_SESSION_LAUNCHER_H_
