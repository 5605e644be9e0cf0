// A recording session: opens the events on every CPU for the chosen target, reads the
// per-CPU ring buffers until the run ends, turns every sample into a deduplicated stack and
// writes the recording file as it goes.
//
// The run ends when the --duration elapses, when the target (a launched command or every
// -p process) exits, or when StopFd() becomes readable (write any 8 bytes to it from a signal
// handler: it is an eventfd, so stopping is async-signal-safe). Everything read until then
// is kept. One thread drives all readers through epoll; each reader owns its ring buffer,
// copy buffer and preallocated frame pool, so no lock is shared and no allocation is made
// per sample. Errors: Prepare() fails, with a one-line reason, before anything is recorded
// (bad option, no such process, event refused by the kernel); Run() fails only when the
// output cannot be written, and then everything already flushed stays readable.
#ifndef WICK_SESSION_H_
#define WICK_SESSION_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "wick/recording.h"
#include "wick/stats.h"
#include "wick/unwinder.h"

namespace wick {

// One -e: an event spec ("cpu-clock", "sched:sched_switch", "uprobe:/bin/bash:readline") and
// the --filter that followed it (tracepoints only).
struct EventRequest {
  std::string spec;
  std::string filter;
};

// --off-cpu-stack's default. Every byte of it is written to the ring at every switch (the
// kernel reserves the whole size), and bigger copies cost the target more: on pingpong,
// 1-2 KiB copies cost a fraction of the kernel's walk, 4-8 KiB ones about as much at times.
inline constexpr uint32_t kDefaultOffCpuStackSize = 2048;

struct RecordOptions {
  std::vector<EventRequest> events = {{"cpu-clock", ""}};
  uint64_t frequency = 999;  // Hz; ignored when period != 0
  uint64_t period = 0;
  bool callchain = false;  // -g / --call-graph fp (or dwarf, see below)
  // --call-graph dwarf[,SIZE]: bytes of user stack copied per sample (0: frame pointers).
  uint32_t dwarf_stack_size = 0;
  // --unwinder: the library that unwinds the copies. libdw also reads .debug_frame, for
  // binaries built without .eh_frame; libunwind is faster and walks JIT code.
  UnwindBackend unwinder = UnwindBackend::kLibunwind;
  uint32_t max_stack = 0;            // 0: the kernel's kernel.perf_event_max_stack
  std::vector<pid_t> pids;           // -p: every thread, and threads/children created later
  std::vector<pid_t> tids;           // -t: just these threads
  bool system_wide = false;          // -a
  std::vector<std::string> command;  // -- command args...
  double duration_s = 0;             // 0: until the target exits or a stop request
  // Data pages per CPU ring buffer (power of two); 0: 128, or 1024 for --call-graph dwarf.
  uint32_t mmap_pages = 0;
  // --overwrite, the flight recorder: samples go to rings the kernel overwrites when full,
  // read once when the run ends; the recording holds the newest samples that fit in
  // mmap_pages per CPU. Nothing is written to the file before the end.
  bool overwrite = false;
  // --snapshot-on (needs overwrite): the flight recorder fired by an event. Each spec is any
  // event -e takes (a tracepoint, a uprobe, a kprobe where the kernel has them), sampled as -e
  // samples it, opened on the same targets and CPUs in rings of its own that wake the reader
  // at every hit. A hit writes what the sample rings held at that moment to OUTPUT.N, as
  // SIGUSR2 does (SnapshotFd), and recording goes on: every ring's records are cut at the
  // hit's time stamp, so the snapshot holds nothing the targets did after the hit, however
  // late it is read. Hits are counted (Stat::kSnapshotTriggers), never samples of the profile.
  std::vector<std::string> snapshot_on;
  // --snapshot-limit: snapshots of a run, triggered and SIGUSR2 ones together (each one is a
  // file); requests past it are counted, not written. At least 1.
  uint32_t snapshot_limit = 16;
  // --snapshot-gap: a hit less than this many seconds (by its sample time) after the hit that
  // took the last triggered snapshot is counted and ignored, so a burst of hits writes one
  // file. SIGUSR2 requests are not held to it. 0 or more.
  double snapshot_gap_s = 1.0;
  // --off-cpu: also record where the targets block. sched:sched_switch is sampled (with the
  // stack of the thread leaving the CPU and its prev_state) together with context-switch
  // records (the switch-in times); each block off the CPU is charged to its switch-out stack,
  // under a [off-cpu: REASON] leaf frame, in the "off-cpu" event (weight: nanoseconds). Needs
  // callchain; refused with overwrite. Blocks shorter than off_cpu_min_ns are dropped (in
  // user space: the kernel does not know a block's length when it switches out), counted.
  // For -p and a command, the on-CPU clock events are opened per CPU rather than per task (a
  // per-task clock's timer is stopped and restarted at each of the target's switches, in the
  // target) and samples of other tasks are left out (samples_other_tasks).
  bool off_cpu = false;
  uint64_t off_cpu_min_ns = 0;
  // --off-cpu-stack: with frame-pointer stacks (-g), the sched_switch samples carry bytes of
  // the user stack (STACK_USER, with bp/sp/ip) instead of a user callchain, and wick walks the
  // frame pointers in that copy. The kernel's own walk reads the task's memory a word at a
  // time at every switch, in the target, which cost pingpong several times the copy's here;
  // chains longer than the copy are cut there (counted: fp_chains_cut_by_copy). 0: the
  // kernel walks them (whole chains up to kernel.perf_event_max_stack). A multiple of 8 from
  // 16 to kMaxStackUserSize.
  uint32_t off_cpu_stack_size = kDefaultOffCpuStackSize;
  std::string output = "wick.data";
  // An existing recording at `output` (or OUTPUT.N) is kept as OUTPUT.old; any other file
  // there is refused unless `force` (-f).
  bool force = false;
  std::string command_line;  // stored in the recording
  // Instead of the file at `output` (`output` and `force` are then unused): the recording goes
  // to the writer this returns, given the recording's metadata. `wick top` keeps it in memory.
  // The session owns the writer; Flush() is called every flush_interval_ms from Run()'s thread.
  std::function<absl::StatusOr<std::unique_ptr<RecordingWriter>>(const RecordingMeta&)> open_sink;
  // How often what was read goes to the writer (the file, or open_sink's); 0: every second.
  uint32_t flush_interval_ms = 0;
  // Receives one-line notices (e.g. the cycles → cpu-clock fallback). May be empty.
  std::function<void(const std::string&)> notice;
};

struct RecordSummary {
  Stats stats;
  uint64_t duration_ns = 0;
  uint64_t output_bytes = 0;
  uint64_t distinct_stacks = 0;
  std::string event;  // the events actually recorded (after fallback), comma-separated
  // Samples of each event type, in the order opened.
  std::vector<std::pair<std::string, uint64_t>> samples_by_event;
  // CPU time wick itself used (user + system, without the profiled command).
  uint64_t self_cpu_ns = 0;
  // For a launched command: its wait status (from waitpid), else -1.
  int command_wait_status = -1;
  // Why the run ended: every target exited, --duration elapsed, a stop request (StopFd:
  // Ctrl-C, SIGTERM), or the recording could not be written (the disk is full).
  enum class End { kTargetsExited, kDuration, kStopRequest, kWriteFailed };
  End end = End::kTargetsExited;
  // The launched command was still running when the run ended by --duration or a stop
  // request, and wick ended it (SIGTERM, then SIGKILL), or the same Ctrl-C did: its wait
  // status is then not the command's own.
  bool command_stopped = false;
  // --overwrite snapshots taken while recording (files OUTPUT.1, ...), of which
  // `triggered_snapshots` on a --snapshot-on hit and the others on request (SIGUSR2). The hits,
  // and the ones ignored (too soon, over the limit), are in `stats` (snapshot_*).
  uint32_t snapshots = 0;
  uint32_t triggered_snapshots = 0;
  std::string snapshot_on;  // the --snapshot-on events opened, comma-separated
  // --overwrite: whether any ring filled and lost older samples, and if so how far back from
  // the newest sample every CPU's ring still reached.
  bool overwrite = false;
  bool overwrite_wrapped = false;
  // --off-cpu: the run's switches, off-CPU time per reason etc. are in `stats` (off_cpu_*).
  bool off_cpu = false;
  uint64_t overwrite_kept_ns = 0;
  // Set when writing the recording failed (ENOSPC): the file was cut back to its last
  // complete chunk, which holds `samples_written` samples; `samples_not_written` were lost.
  std::string write_error;
  uint64_t samples_written = 0;
  uint64_t samples_not_written = 0;
};

class RecordSession {
 public:
  // Validates options, probes the kernel, opens and maps every event, and (for a command)
  // forks the child, held before exec until Run().
  static absl::StatusOr<std::unique_ptr<RecordSession>> Prepare(const RecordOptions& options);
  virtual ~RecordSession() = default;

  // An eventfd; writing an 8-byte count to it (async-signal-safe) ends Run() cleanly.
  virtual int StopFd() const = 0;
  // Eventfd: write 8 bytes (async-signal-safe) to write an --overwrite snapshot now: what the
  // rings hold at that moment goes to OUTPUT.N (N = 1, 2, ...), a recording of its own, and
  // recording goes on. Ignored without --overwrite; counted and not written past
  // --snapshot-limit.
  virtual int SnapshotFd() const = 0;
  // Records until the end condition; always finishes the recording file.
  virtual absl::StatusOr<RecordSummary> Run() = 0;
};

}  // namespace wick

#endif  // WICK_SESSION_H_
