// Runs programs for end-to-end tests: wait for one and capture its output, or start one in
// the background and read the first line it prints.
#ifndef WICK_TESTS_E2E_RUN_H_
#define WICK_TESTS_E2E_RUN_H_

#include <sys/types.h>

#include <string>
#include <vector>

namespace wick::testing {

struct RunResult {
  int exit_code = -1;  // 128 + signal when killed
  std::string out;
  std::string err;
};

// Runs argv to completion (stdin from /dev/null) and returns its exit code and output.
RunResult RunProgram(const std::vector<std::string>& argv);

// A program running in the background with stdout on a pipe; killed (SIGKILL) and reaped by
// the destructor if still running.
class Background {
 public:
  explicit Background(const std::vector<std::string>& argv);
  ~Background();
  pid_t pid() const { return pid_; }
  // The next line the program writes to stdout ("" at EOF).
  std::string ReadLine();
  void Signal(int sig);
  // Waits for exit; returns the exit code (128 + signal when killed).
  int Wait();

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  bool reaped_ = false;
  int code_ = -1;
};

std::string TempPath(const std::string& name);

// The contents of `path` ("" when it cannot be read).
std::string ReadFile(const std::string& path);

// The first child of process `pid` (for wick, the command it launched), -1 when none.
pid_t ChildOf(pid_t pid);

// CPU seconds (user + system) process `pid` has used so far, from /proc/PID/stat; 0 when it
// is gone.
double CpuSeconds(pid_t pid);

// Waits (polling, at most `timeout_s` of wall time) until process `pid` has used `cpu_s` CPU
// seconds: a point in the target's own work, however busy the machine is. Returns the CPU
// seconds it had then (less than `cpu_s` on timeout, or when it is gone).
double WaitForCpu(pid_t pid, double cpu_s, double timeout_s = 120);

// Waits (at most `timeout_s`) until process `pid` holds at least `n` perf event fds (links to
// anon_inode:[perf_event] in /proc/PID/fd): wick has opened its events. Returns how many.
int WaitForPerfEvents(pid_t pid, int n, double timeout_s = 60);

// The first child of `parent`, waiting up to `timeout_s` for it to appear; -1 if none did.
pid_t WaitForChild(pid_t parent, double timeout_s = 30);

// argv run with its stderr on stdout (where Background reads lines).
std::vector<std::string> WithStderr(std::vector<std::string> argv);

// Reads the lines of a `wick record` started WithStderr until it says it is recording (its
// events are enabled: what runs from now on is recorded), echoing the lines before; false
// when wick ended first.
bool WaitForRecording(Background& wick);

// A uprobe on `function` of `binary` made by Debian's perf (`perf probe -x`), named
// GROUP:target with a group unique to this test process; the destructor deletes it.
class PerfUprobe {
 public:
  PerfUprobe(const std::string& binary, const std::string& function, const std::string& prefix);
  ~PerfUprobe();
  PerfUprobe(const PerfUprobe&) = delete;
  PerfUprobe& operator=(const PerfUprobe&) = delete;
  const std::string& event() const { return event_; }  // "GROUP:target", for -e
  const RunResult& added() const { return added_; }    // perf probe's run: exit_code 0 if made

 private:
  std::string group_, event_;
  RunResult added_;
};

}  // namespace wick::testing

#endif  // WICK_TESTS_E2E_RUN_H_
