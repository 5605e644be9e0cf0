// The sink of a recording: turns records, handed over in time order by a record source (the
// live per-CPU rings of a session; later a perf.data file), into stacks and a recording.
//
// A RecordSink owns what the records build: the process table, the --call-graph dwarf
// unwinder, the stack map (renewed when most of its stacks are of exited processes), one
// StackBuilder per source stream (each owns its preallocated frame pool), the writer, the
// counters (Stats) and samples per event type, the kernel symbols of the stacks written, and
// the --off-cpu pairing. The source owns the rings, the merge and the choice of event type
// for each sample; the sink never reads a ring nor prints.
//
// An --overwrite snapshot is a second sink over the first one's process state (process
// table, unwinder, kernel symbols: the processes are the same), with its own stack map,
// builders, counters and writer; the first sink must outlive it and is not fed meanwhile.
//
// Handle() allocates nothing for a sample of a known stack (record_sink_test and
// stack_builder_test count); a trace sample is appended to the writer's reused buffer.
// Single-threaded: everything runs on the session's reader thread.
#ifndef WICK_SRC_SESSION_RECORD_SINK_H_
#define WICK_SRC_SESSION_RECORD_SINK_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "off_cpu.h"
#include "stack_builder.h"
#include "wick/kernel_symbols.h"
#include "wick/process_table.h"
#include "wick/record.h"
#include "wick/recording.h"
#include "wick/stack_map.h"
#include "wick/stats.h"
#include "wick/unwinder.h"

namespace wick {

class RecordSink : private OffCpuCharger {
 public:
  // One event type of the recording, as the sink needs it: its index in `events` is the
  // event id written for its stacks.
  struct EventType {
    std::string name;
    std::string format_text;  // trace events: the tracefs format, for `wick script`
    bool is_trace = false;    // its samples are also written as trace samples
    // --off-cpu's sched:sched_switch: its samples are switch-outs, not stacks of their own.
    bool off_cpu_switch = false;
    // Its own sample_type when events differ (a perf.data file); 0: Options::sample_type.
    uint64_t sample_type = 0;
    // Opened per CPU for task targets (--off-cpu): samples of processes the table does not
    // know (not targets; the idle task) are left out, counted as samples_other_tasks.
    bool targets_only = false;
  };
  struct Options {
    std::vector<EventType> events;
    uint64_t sample_type = 0;  // of every sample record
    uint32_t max_stack = 0;    // the chains' depth limit (kernel.perf_event_max_stack if unset)
    // --call-graph dwarf: the sampled user registers (0: no unwinder), the backend, and the
    // most user frames to unwind (--max-stack; 0: no limit).
    uint64_t dwarf_regs_mask = 0;
    UnwindBackend unwinder = UnwindBackend::kLibunwind;
    uint32_t dwarf_max_frames = 0;
    bool callchain = false;  // trace samples carry their stack
    // --overwrite: samples are handled at the end (or at a snapshot), after every exec and pid
    // reuse: the process table keeps history, and the stack map is never renewed.
    bool keep_history = false;
    // --off-cpu: where prev_state lies in sched_switch's raw data, and the shortest block.
    std::optional<SchedSwitchLayout> switch_layout;
    uint64_t off_cpu_min_ns = 0;
    // --off-cpu -g with --off-cpu-stack: the sampled user registers of the sched_switch
    // samples, whose user frames are walked by frame pointer in their stack copy; 0: their
    // callchain holds them.
    uint64_t off_cpu_fp_regs_mask = 0;
  };
  // Passed to Handle() for a sample of no known event type (counted under event 0).
  static constexpr uint32_t kUnknownEvent = UINT32_MAX;

  explicit RecordSink(Options options);
  // A snapshot's sink: the same events over `parent`'s process state, writing to `writer`.
  // Until it is destroyed, the shared process table and unwinder count into its Stats.
  RecordSink(RecordSink& parent, std::unique_ptr<RecordingWriter> writer);
  ~RecordSink() override;
  RecordSink(const RecordSink&) = delete;
  RecordSink& operator=(const RecordSink&) = delete;

  // Where records go from now on (before the first Handle): the event types are written
  // into it at once.
  void SetWriter(std::unique_ptr<RecordingWriter> writer);
  // Names kernel frames from now on (loaded before sampling starts: it takes tens of ms).
  void SetKallsyms(KallsymsTable kallsyms) { kernel_->kallsyms.emplace(std::move(kallsyms)); }
  // A new source stream (a CPU's ring), with its own stack builder; returns its index.
  uint32_t AddStream();

  // One record of stream `stream`; `event`: the event type of a sample (kUnknownEvent when
  // its id matched none). Records of all streams come in time order.
  void Handle(uint32_t stream, const ParsedRecord& rec, uint32_t event);
  // Writes what is new since the last flush (binaries, comms, stacks, their kernel symbols,
  // counts, stats) and flushes the writer.
  absl::Status Flush();
  // After a Flush that wrote every stack: a new stack map when most of the stacks held are
  // of exited processes.
  void MaybeRenewStackMap();
  // --off-cpu: the run stopped at `stop_ns`; threads still off the CPU are charged up to it.
  void FinishOffCpu(uint64_t stop_ns) {
    if (off_cpu_) off_cpu_->Finish(stop_ns);
  }
  // After the last Flush: the JIT maps of the processes with raw frames, then the trailer.
  absl::Status Finish(uint64_t duration_ns);

  ProcessTable& processes() { return *processes_; }
  Stats& stats() { return stats_; }
  const StackMap& stacks() const { return *stacks_; }
  RecordingWriter& writer() { return *writer_; }
  const std::vector<EventType>& events() const { return options_.events; }
  uint64_t samples(uint32_t event) const { return samples_[event]; }

 private:
  // The kernel symbols of the addresses seen, shared with snapshot sinks (a snapshot's
  // writer starts empty, but the addresses need no second lookup).
  struct KernelSymbolCache {
    std::optional<KallsymsTable> kallsyms;  // empty: kernel frames stay unnamed
    absl::flat_hash_set<uint64_t> seen;
    std::vector<KernelSymbol> symbols;  // of the addresses seen, sorted by address
  };

  void AddEventTypes();
  // --off-cpu: a target thread left the CPU (a sched_switch sample).
  void OnSwitchOut(StackBuilder& builder, const ParsedRecord& rec);
  // Gives the writer the kernel symbols of `addresses` (sorted in place).
  void AddKernelSymbolsFor(std::vector<uint64_t>* addresses);
  // OffCpuCharger: a block off the CPU ended; `stack` (built with count 0) grows by it.
  void Charge(uint32_t stack, uint64_t ns) override {
    if (stack != kNoStack) stacks_->AddTo(stack, 1, ns);
  }

  Options options_;
  Stats stats_;
  RecordSink* parent_ = nullptr;  // a snapshot's sink: whose process state it borrows
  std::unique_ptr<ProcessTable> own_processes_;
  std::unique_ptr<Unwinder> own_unwinder_;
  std::unique_ptr<KernelSymbolCache> own_kernel_;
  ProcessTable* processes_;
  Unwinder* unwinder_;  // --call-graph dwarf: shared by every stream's builder
  KernelSymbolCache* kernel_;
  std::unique_ptr<StackMap> stacks_;
  std::vector<std::unique_ptr<StackBuilder>> builders_;
  std::unique_ptr<RecordingWriter> writer_;
  std::vector<uint64_t> samples_;  // per event type
  size_t binaries_written_ = 0, comms_written_ = 0, stacks_written_ = 0;
  // Pids of the raw frames of stacks a renewed map dropped, for the JIT maps at the end.
  std::vector<uint32_t> jit_pids_;
  size_t next_renew_check_;
  // --off-cpu: the pairing of switch-outs and switch-ins, and the id of the "off-cpu" event
  // type (after every opened one).
  std::unique_ptr<OffCpuPairing> off_cpu_;
  uint32_t off_cpu_event_ = 0;
};

}  // namespace wick

#endif  // WICK_SRC_SESSION_RECORD_SINK_H_
