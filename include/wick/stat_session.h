// Counting mode (`wick stat`): opens counting events for a command, processes or the whole
// system, and reads them, scaled when the kernel multiplexed them.
//
// Each event is opened once per task (per thread for -p, inherited by children created
// later) or once per online CPU (-a); its counts are summed. Read() can be called at any time
// (for -I intervals) and returns cumulative values. Not thread-safe. Errors: Prepare() fails
// with a one-line reason naming the event, pid or command; Read() fails only when a counter
// cannot be read.
#ifndef WICK_STAT_SESSION_H_
#define WICK_STAT_SESSION_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace wick {

struct StatOptions {
  std::vector<std::string> events = {"task-clock", "context-switches", "cpu-migrations",
                                     "page-faults"};
  std::vector<pid_t> pids;
  bool system_wide = false;
  std::vector<std::string> command;
  double duration_s = 0;
  std::function<void(const std::string&)> notice;
};

struct CounterReading {
  std::string event;  // as resolved (e.g. "cpu-clock" for a "cycles" fallback)
  std::string unit;   // "ns" for clocks, "" for counts
  uint64_t raw = 0;   // sum of the counters' values
  uint64_t time_enabled = 0;
  uint64_t time_running = 0;
  double value = 0;  // raw scaled by enabled/running when multiplexed
  bool scaled = false;
  bool not_counted = false;  // never ran (time_running == 0)
};

// Adds one counter's read() triple (value, time_enabled, time_running) to `r`: the raw sum,
// and `value` scaled by enabled/running when the kernel multiplexed that counter (ran for
// less than the time it was enabled). A counter that never ran leaves `r` not counted.
void AccumulateCounter(uint64_t value, uint64_t enabled, uint64_t running, CounterReading* r);

class StatSession {
 public:
  static absl::StatusOr<std::unique_ptr<StatSession>> Prepare(const StatOptions& options);
  virtual ~StatSession() = default;

  // Eventfd: write 8 bytes (async-signal-safe) to end Wait() early.
  virtual int StopFd() const = 0;
  // Starts counting (releases the command).
  virtual absl::Status Start() = 0;
  // Waits until the target exits, the duration passes, StopFd fires, or `timeout_ms` (>= 0)
  // elapses. True when the run is over.
  virtual bool Wait(int timeout_ms) = 0;
  // Cumulative readings, in the order of options.events.
  virtual absl::StatusOr<std::vector<CounterReading>> Read() = 0;
  // Stops counting, ends a still-running command (SIGTERM) and reaps it; returns its wait
  // status, or -1 when there was no command.
  virtual int Finish() = 0;
  // After Finish(): true when the command was still running and Finish() ended it (its wait
  // status is then wick's doing, not the command's).
  virtual bool StoppedCommand() const = 0;
  // Nanoseconds since Start().
  virtual uint64_t ElapsedNs() const = 0;
};

}  // namespace wick

#endif  // WICK_STAT_SESSION_H_
