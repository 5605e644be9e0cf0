// The one registry of run counters: every lost, skipped or unresolved thing is counted here
// and printed at the end of a run when non-zero (Perfetto's stats.h, simpleperf RecordStat).
//
// A Stats is a plain array of uint64_t owned by whoever runs the session; it is not
// thread-safe (each reader owns one and they are summed with Merge()). Adding a counter
// means adding one line to WICK_STATS below; its name is stored in recordings by name, so
// names are stable once released. A name ending in "_ns" counts nanoseconds (printed as
// seconds).
#ifndef WICK_STATS_H_
#define WICK_STATS_H_

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace wick {

enum class Severity : uint8_t { kInfo, kDataLoss, kError };

// X(id, name, severity, description)
#define WICK_STATS(X)                                                                             \
  X(kSamples, "samples", kInfo, "samples recorded")                                               \
  X(kLostSamples, "lost_samples", kDataLoss,                                                      \
    "samples the kernel dropped because a ring buffer was full (PERF_RECORD_LOST); try -m")       \
  X(kLostSamplesNoBuffer, "lost_samples_unreadable", kDataLoss,                                   \
    "samples the kernel could not write (PERF_RECORD_LOST_SAMPLES)")                              \
  X(kLostRecords, "lost_records", kDataLoss, "PERF_RECORD_LOST records received")                 \
  X(kThrottle, "throttle_events", kDataLoss,                                                      \
    "times the kernel throttled sampling (PERF_RECORD_THROTTLE); lower -F")                       \
  X(kUnthrottle, "unthrottle_events", kInfo, "times sampling resumed after throttling")           \
  X(kMalformedRecords, "malformed_records", kError, "records that failed to parse, skipped")      \
  X(kUnknownRecords, "unknown_records", kInfo, "records of a type wick does not use")             \
  X(kTruncatedCallchains, "truncated_callchains", kInfo,                                          \
    "callchains that reached --max-stack and were cut")                                           \
  X(kUserFrames, "user_frames", kInfo, "user-space frames seen")                                  \
  X(kKernelFrames, "kernel_frames", kInfo, "kernel frames seen")                                  \
  X(kFramesNoBuildId, "frames_without_build_id", kInfo,                                           \
    "user frames in a file whose build-id could not be read (stored by path + offset)")           \
  X(kFramesUnmapped, "frames_unmapped", kInfo,                                                    \
    "user frames outside any known mapping (anonymous or JIT code), stored as raw address")       \
  X(kSamplesNoPid, "samples_without_pid", kInfo,                                                  \
    "samples of a task in the last steps of its exit, which the kernel gives no pid for")         \
  X(kSamplesUnknownPid, "samples_unknown_process", kInfo,                                         \
    "samples of a process wick had no mappings for")                                              \
  X(kStackMapFull, "stacks_dropped_map_full", kDataLoss,                                          \
    "samples dropped because the stack map reached its size limit")                               \
  X(kUnsymbolizedFrames, "unsymbolized_frames", kInfo,                                            \
    "frames no symbol was found for at report time")                                              \
  X(kBuildIdMismatch, "build_id_mismatch", kInfo,                                                 \
    "binaries found on disk whose build-id differs from the recorded one (not used)")             \
  X(kJitMapsRead, "jit_maps_read", kInfo, "/tmp/perf-PID.map files read for JIT symbols")         \
  X(kJitMapsSkipped, "jit_maps_skipped", kInfo,                                                   \
    "perf-PID.map files refused: a symlink, not a regular file, foreign owner or too big")        \
  X(kJitMapBadLines, "jit_map_bad_lines", kInfo, "perf-PID.map lines that did not parse")         \
  X(kUnwindComplete, "unwind_complete", kInfo, "DWARF-unwound user stacks that reached the root") \
  X(kUnwindNoInfo, "unwind_no_info", kInfo,                                                       \
    "DWARF unwinds stopped early: no unwind info and no frame pointer for a frame")               \
  X(kUnwindStackTooSmall, "unwind_stack_too_small", kInfo,                                        \
    "DWARF unwinds stopped early: stack copy too small (raise dwarf,SIZE)")                       \
  X(kUnwindUnmapped, "unwind_unmapped", kInfo,                                                    \
    "DWARF unwinds stopped early at an address outside every file mapping")                       \
  X(kUnwindJit, "unwind_jit", kInfo,                                                              \
    "DWARF unwinds stopped early in JIT code: its frame-pointer chain ended")                     \
  X(kUnwindMaxDepth, "unwind_max_depth", kInfo, "DWARF unwinds cut at the maximum depth")         \
  X(kUnwindBadRegisters, "unwind_bad_registers", kInfo,                                           \
    "samples without usable user registers (kernel threads, 32-bit processes)")                   \
  X(kUnwindError, "unwind_error", kInfo,                                                          \
    "DWARF unwinds stopped early on a corrupt stack or unwinder error")                           \
  X(kUnwindFpSteps, "unwind_fp_steps", kInfo,                                                     \
    "frames without unwind tables (JIT code, code built without CFI) left by frame pointer")      \
  X(kTextNotUtf8, "text_not_utf8", kInfo,                                                         \
    "bytes of names that were not UTF-8, shown as U+FFFD in JSON, HTML and pprof")                \
  X(kFilesReplaced, "files_replaced", kInfo,                                                      \
    "mapped files deleted or replaced on disk since they were mapped (upgrades)")                 \
  X(kStackMapRenewals, "stack_map_renewals", kInfo,                                               \
    "times the stacks of exited processes (all written) were dropped from memory")                \
  X(kProcessesForgotten, "processes_forgotten", kInfo,                                            \
    "processes that exited during the run, their mappings freed two seconds later")               \
  X(kCountersScaled, "counters_scaled", kInfo,                                                    \
    "counters the kernel multiplexed: counted part of the time, scaled to all of it")             \
  X(kCountersNotCounted, "counters_not_counted", kDataLoss,                                       \
    "counters that never ran (more events than the PMU has counters?)")                           \
  X(kOffCpuSwitches, "off_cpu_switches", kInfo,                                                   \
    "times a recorded thread left the CPU (--off-cpu: sched_switch samples)")                     \
  X(kOffCpuBlocks, "off_cpu_blocks", kInfo,                                                       \
    "times off the CPU charged to the stack that left it (a switch-out paired with its "          \
    "switch-in)")                                                                                 \
  X(kOffCpuSleepNs, "off_cpu_sleep_ns", kInfo, "off the CPU sleeping (S)")                        \
  X(kOffCpuIoNs, "off_cpu_io_ns", kInfo, "off the CPU in uninterruptible waits, mostly I/O (D)")  \
  X(kOffCpuRunnableNs, "off_cpu_runnable_ns", kInfo,                                              \
    "off the CPU while runnable, waiting for a CPU (R, R+: preempted)")                           \
  X(kOffCpuStoppedNs, "off_cpu_stopped_ns", kInfo, "off the CPU stopped or traced (T, t)")        \
  X(kOffCpuIdleNs, "off_cpu_idle_ns", kInfo, "off the CPU idle (I: kernel threads)")              \
  X(kOffCpuOtherNs, "off_cpu_other_ns", kInfo, "off the CPU in other states (P, ...)")            \
  X(kOffCpuOpenAtEnd, "off_cpu_open_at_end", kInfo,                                               \
    "threads still off the CPU when recording stopped, charged up to the stop")                   \
  X(kOffCpuUnpaired, "off_cpu_unpaired", kDataLoss,                                               \
    "switches whose other half was lost (lost records): not charged, never guessed")              \
  X(kOffCpuFirstSwitchIn, "off_cpu_first_switch_ins", kInfo,                                      \
    "switch-ins of threads not seen leaving the CPU before (off it when recording started, or "   \
    "new): nothing to charge")                                                                    \
  X(kOffCpuExitSwitches, "off_cpu_exit_switches", kInfo,                                          \
    "last switches of exiting threads (X, Z): nothing to charge")                                 \
  X(kOffCpuShortDropped, "off_cpu_short_dropped", kInfo,                                          \
    "times off the CPU shorter than --off-cpu-min, dropped")                                      \
  X(kOffCpuShortDroppedNs, "off_cpu_short_dropped_ns", kInfo,                                     \
    "off the CPU in blocks shorter than --off-cpu-min, dropped")                                  \
  X(kSnapshotTriggers, "snapshot_triggers", kInfo, "hits of the --snapshot-on event")             \
  X(kSnapshotTriggersTooSoon, "snapshot_triggers_too_soon", kInfo,                                \
    "snapshot triggers ignored: too soon (--snapshot-gap)")                                       \
  X(kSnapshotTriggersOverLimit, "snapshot_triggers_over_limit", kInfo,                            \
    "snapshot triggers ignored: over the limit (--snapshot-limit)")                               \
  X(kSnapshotRequestsOverLimit, "snapshot_requests_over_limit", kInfo,                            \
    "SIGUSR2 snapshot requests ignored: over the limit (--snapshot-limit)")                       \
  X(kSnapshotTriggersLost, "snapshot_triggers_lost", kDataLoss,                                   \
    "--snapshot-on hits the kernel dropped (their ring was full): no snapshot for them")          \
  X(kSnapshotSamplesAfterTrigger, "snapshot_samples_after_trigger", kInfo,                        \
    "samples newer than the hit that triggered a snapshot, left out of it")                       \
  X(kCallchainFramesSkipped, "callchain_frames_skipped", kInfo,                                   \
    "callchain entries of a guest, the hypervisor or an unknown context marker, not named")       \
  X(kInputSamplesUnreadable, "input_samples_unreadable", kDataLoss,                               \
    "perf.data samples that could not be read (unknown event id, sample format, malformed)")      \
  X(kInputRecordsSkipped, "input_records_skipped", kInfo,                                         \
    "perf.data records of types wick does not use or that did not parse")                         \
  X(kSamplesOtherTasks, "samples_other_tasks", kInfo,                                             \
    "on-CPU samples of tasks that are not targets, left out (--off-cpu samples per CPU)")         \
  X(kFpChainsCutByCopy, "fp_chains_cut_by_copy", kInfo,                                           \
    "off-CPU user stacks whose frame pointer pointed past the stack copy: cut there, or a "       \
    "register of code without frame pointers (raise --off-cpu-stack to tell)")

enum class Stat : uint16_t {
#define WICK_STAT_ENUM(id, name, sev, desc) id,
  WICK_STATS(WICK_STAT_ENUM)
#undef WICK_STAT_ENUM
      kCount
};

inline constexpr size_t kNumStats = static_cast<size_t>(Stat::kCount);

struct StatInfo {
  std::string_view name;
  Severity severity;
  std::string_view description;
};

const StatInfo& GetStatInfo(Stat stat);

// Looks a counter up by its stable name (used by the recording reader); false if unknown.
bool StatFromName(std::string_view name, Stat* out);

class Stats {
 public:
  void Add(Stat s, uint64_t n = 1) { values_[static_cast<size_t>(s)] += n; }
  void Set(Stat s, uint64_t n) { values_[static_cast<size_t>(s)] = n; }
  uint64_t Get(Stat s) const { return values_[static_cast<size_t>(s)]; }
  void Merge(const Stats& other) {
    for (size_t i = 0; i < kNumStats; ++i) values_[i] += other.values_[i];
  }

 private:
  std::array<uint64_t, kNumStats> values_{};
};

// The one formatter of counters: every non-zero counter of `stats` but those in `skip` (a
// caller that already said them), one line each, errors and data loss first, as
// "VALUE DESCRIPTION [name]"; DWARF unwind outcomes also as a share of all unwinds.
std::vector<std::string> FormatStats(const Stats& stats, std::span<const Stat> skip = {});

}  // namespace wick

#endif  // WICK_STATS_H_
