// Off-CPU time from sched_switch samples and context-switch records (wick record --off-cpu).
//
// SchedSwitchLayout reads where prev_state lies in sched_switch's raw data and what its bits
// mean, from the tracepoint's format file (this kernel: `long prev_state` at offset 32, the
// state letters in the print fmt's __print_flags table, the preempted bit TASK_REPORT_MAX).
// OffCpuPairing pairs each thread's switch-out (the sched_switch sample, whose stack the
// session stored with count 0) with its next switch-in (PERF_RECORD_SWITCH*), and charges the
// interval to the switch-out stack through an OffCpuCharger. Records reach it merged by time,
// but a switch-in may still come before the switch-out it ends (committed to its ring later):
// it is paired retroactively, never counted twice. Nothing is guessed: a pair a lost record
// broke is counted "unpaired" (Stats), not charged. Single-threaded (the session's reader
// thread); after a thread's first switch nothing is allocated per switch.
#ifndef WICK_SRC_SESSION_OFF_CPU_H_
#define WICK_SRC_SESSION_OFF_CPU_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "wick/frame.h"
#include "wick/kernel_caps.h"
#include "wick/stats.h"
#include "wick/trace_format.h"
#include "wick/tracefs.h"

namespace wick {

// OK when this process may read tracepoint raw data from sampled events (root, CAP_PERFMON
// or CAP_SYS_ADMIN, or kernel.perf_event_paranoid -1), else PermissionDenied saying which
// right is missing and how to get one.
absl::Status CheckOffCpuRights(const KernelCaps& caps);

// The text of sched:sched_switch's format file, or NotFound saying that this kernel has no
// sched_switch tracepoint (so --off-cpu cannot work here).
absl::StatusOr<std::string> ReadSchedSwitchFormat(const Tracefs& tracefs);

// What a thread's prev_state says when it leaves the CPU.
struct SwitchOutState {
  bool exiting = false;  // X or Z: the thread's last switch, nothing will switch it back in
  OffCpuReason reason = OffCpuReason::kOther;
};

class SchedSwitchLayout {
 public:
  // From the parsed format file. InvalidArgument when prev_state is missing or not an
  // integer, or the print fmt has no state table to read the bits from.
  static absl::StatusOr<SchedSwitchLayout> FromFormat(const TraceFormat& format);

  // prev_state from a sample's PERF_SAMPLE_RAW payload; nullopt when it is too short.
  std::optional<uint64_t> ReadPrevState(std::span<const std::byte> raw) const;
  // S sleep, D io, R / R+ (0, or the preempted bit) runnable, T/t stopped, I idle, X/Z
  // exiting, anything else other.
  SwitchOutState Classify(uint64_t prev_state) const;

  uint64_t preempted_bit() const { return preempted_; }

 private:
  uint32_t offset_ = 0, size_ = 0;
  bool signed_ = false;
  uint64_t preempted_ = 0;  // TASK_REPORT_MAX
  uint64_t sleep_ = 0, io_ = 0, stopped_ = 0, idle_ = 0, exiting_ = 0;
};

// Where OffCpuPairing puts the time it pairs: the session grows the stack's count by one
// block and its weight by `ns` (StackMap::AddTo).
class OffCpuCharger {
 public:
  virtual ~OffCpuCharger() = default;
  virtual void Charge(uint32_t stack, uint64_t ns) = 0;
};

class OffCpuPairing {
 public:
  // `min_ns`: blocks shorter than this are dropped (--off-cpu-min), counted in
  // off_cpu_short_dropped*. `stats` and `charger` must outlive the pairing.
  OffCpuPairing(Stats* stats, OffCpuCharger* charger, uint64_t min_ns = 0);

  // Thread `tid` left the CPU at `time` (its sched_switch sample); `stack` is the id of its
  // off-CPU stack, with `reason` at its leaf.
  void OnSwitchOut(uint32_t tid, uint64_t time, uint32_t stack, OffCpuReason reason);
  // The kernel's switch-out record of thread `tid` (PERF_RECORD_SWITCH* with the out flag),
  // written on the same CPU after its sched_switch sample, once the sample's own work (the
  // stack walk) is done: the block starts there, so that work, which the thread's CPU time
  // counts, is not also counted off the CPU.
  void OnSwitchOutRecord(uint32_t tid, uint64_t time);
  // Thread `tid` came back on a CPU at `time` (a PERF_RECORD_SWITCH* switch-in).
  void OnSwitchIn(uint32_t tid, uint64_t time);
  // A PERF_RECORD_LOST at `time`: some thread's switch may be gone with it.
  void OnLost(uint64_t time);
  // Thread `tid` exited: its state is forgotten (a switch-out still waiting lost its
  // switch-in: unpaired).
  void OnExit(uint32_t tid);
  // Recording stopped at `stop_time`: threads still off the CPU are charged up to it (unless
  // a lost record since their switch-out may have taken their switch-in: unpaired), and
  // switch-ins still waiting for a switch-out are counted. Forgets every thread.
  void Finish(uint64_t stop_time);

  // Calls `remap(stack)` for every switch-out waiting to be charged and keeps the id it
  // returns (the session's stack map was renewed: the stack is defined again there).
  template <typename F>
  void RemapPendingStacks(F&& remap) {
    for (auto& [tid, t] : threads_) {
      if (t.out_pending) t.stack = remap(t.stack);
    }
  }

  size_t threads() const { return threads_.size(); }

 private:
  struct Thread {
    uint64_t out_time = 0;
    uint64_t early_in_time = 0;
    uint32_t stack = 0;
    OffCpuReason reason = OffCpuReason::kOther;
    bool out_pending = false;  // a switch-out waits for its switch-in
    bool early_in = false;     // a switch-in came with no switch-out before it (yet)
    bool seen_out = false;     // a switch-out of this thread was seen
  };

  void Charge(Thread& t, uint64_t end_time);
  // A switch-in no switch-out will pair with: the first of a thread (not an error) or a
  // broken pair.
  void DropEarlyIn(Thread& t);

  Stats* stats_;
  OffCpuCharger* charger_;
  uint64_t min_ns_;
  uint64_t last_lost_time_ = 0;
  bool any_lost_ = false;
  absl::flat_hash_map<uint32_t, Thread> threads_;
};

// The Stats counter of the off-CPU time of `reason`.
Stat OffCpuTimeStat(OffCpuReason reason);

}  // namespace wick

#endif  // WICK_SRC_SESSION_OFF_CPU_H_
