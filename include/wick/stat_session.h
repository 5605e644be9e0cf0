// Counting mode (`wick stat`): opens counting events for a command, processes or the whole
// system, and reads them, scaled when the kernel multiplexed them.
//
// Each event is opened once per task (per thread for -p, inherited by children created
// later) or once per online CPU (-a); its counts are summed. Read() can be called at any time
// (for -I intervals) and returns cumulative values; IntervalOf() turns two of them into one
// interval's. A session counts one run: -r makes one session per run, and SummarizeRuns()
// gives the mean and spread of their readings. Not thread-safe. Errors: Prepare() fails with a
// one-line reason naming the event, pid or command; Read() fails only when a counter cannot
// be read. The arithmetic below (intervals, runs, metrics) never fails.
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
  // An eventfd the caller writes to (from a signal handler) to end Wait() early, borrowed: it
  // must outlive the session, and one fd can serve every run of a -r loop, so a Ctrl-C
  // between two runs is not lost. -1: the session makes its own (StopFd()).
  int stop_fd = -1;
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

// One -I interval of a counter: every field is the change between two cumulative readings of
// it (`before` is the previous interval's, or a zero reading for the first), so the intervals
// of a run sum to its total. A counter multiplexed during the interval is scaled by its share
// of the interval, as perf's -I (its intervals then sum to about the total); one enabled but
// never run then is not counted.
CounterReading IntervalOf(const CounterReading& now, const CounterReading& before);

// Mean and spread of one quantity over -r runs.
struct Spread {
  double mean = 0;
  double stddev = 0;  // sample standard deviation (n - 1), 0 for fewer than two runs
  size_t runs = 0;
  // perf's "+- X%": the standard deviation of the mean (stddev / sqrt(runs)) relative to the
  // mean; 0 when the mean is 0.
  double NoisePct() const;
};
Spread SpreadOf(const std::vector<double>& samples);

struct CounterSummary {
  CounterReading mean;  // value, raw, time_enabled, time_running averaged over the runs;
                        // scaled if any run was, not counted if no run counted
  Spread value;         // of `value` over the runs
};
// runs[i] holds run i's readings, every run's in the same order (options.events).
std::vector<CounterSummary> SummarizeRuns(const std::vector<std::vector<CounterReading>>& runs);

// perf's comment next to a count: "CPUs utilized" for a clock (its nanoseconds over the
// elapsed wall time), a rate for any other count. As perf, the rate is per second of the
// task-clock (else cpu-clock) counted alongside it, the CPU time the target used; with no
// clock counted it is per second of elapsed wall time.
struct CounterMetric {
  enum class Kind { kNone, kCpusUtilized, kPerSecond };
  Kind kind = Kind::kNone;
  double value = 0;
  std::string per;  // kPerSecond: "task-clock", "cpu-clock" or "elapsed"
};
// One metric per reading; elapsed_ns is the wall time the readings cover (the run, or the
// interval). A not-counted reading, or a zero denominator, has none.
std::vector<CounterMetric> MetricsOf(const std::vector<CounterReading>& readings,
                                     double elapsed_ns);

class StatSession {
 public:
  static absl::StatusOr<std::unique_ptr<StatSession>> Prepare(const StatOptions& options);
  virtual ~StatSession() = default;

  // Eventfd: write 8 bytes (async-signal-safe) to end Wait() early (options.stop_fd if set).
  virtual int StopFd() const = 0;
  // True once StopFd has been written to; it is left readable, so a caller sharing one fd
  // across runs sees the request too.
  virtual bool StopRequested() const = 0;
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
  // Nanoseconds since Start(), until Finish().
  virtual uint64_t ElapsedNs() const = 0;
};

}  // namespace wick

#endif  // WICK_STAT_SESSION_H_
