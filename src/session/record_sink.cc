#include "record_sink.h"

#include <linux/perf_event.h>

#include <algorithm>
#include <utility>

#include "wick/jit_map.h"

namespace wick {
namespace {

// Capacity of the stack map, reserved up front (virtual memory; pages are touched as used).
constexpr size_t kMaxStacks = 1 << 19;
constexpr size_t kMaxFrames = size_t{1} << 23;
// A map holding this many stacks or more is checked for stacks of exited processes.
constexpr size_t kRenewMinStacks = 16384;

}  // namespace

RecordSink::RecordSink(Options options)
    : options_(std::move(options)),
      own_processes_(std::make_unique<ProcessTable>(&stats_)),
      own_kernel_(std::make_unique<KernelSymbolCache>()),
      processes_(own_processes_.get()),
      unwinder_(nullptr),
      kernel_(own_kernel_.get()),
      stacks_(std::make_unique<StackMap>(kMaxFrames, kMaxStacks)),
      samples_(options_.events.size(), 0),
      next_renew_check_(kRenewMinStacks),
      off_cpu_event_(static_cast<uint32_t>(options_.events.size())) {
  if (options_.keep_history) processes_->KeepHistory();
  if (options_.dwarf_regs_mask) {
    own_unwinder_ = std::make_unique<Unwinder>(processes_, &stats_, options_.unwinder);
    unwinder_ = own_unwinder_.get();
  }
  if (options_.switch_layout) {
    off_cpu_ = std::make_unique<OffCpuPairing>(&stats_, static_cast<OffCpuCharger*>(this),
                                               options_.off_cpu_min_ns);
  }
}

RecordSink::RecordSink(RecordSink& parent, std::unique_ptr<RecordingWriter> writer)
    : options_(parent.options_),
      parent_(&parent),
      processes_(parent.processes_),
      unwinder_(parent.unwinder_),
      kernel_(parent.kernel_),
      stacks_(std::make_unique<StackMap>(kMaxFrames, kMaxStacks)),
      samples_(options_.events.size(), 0),
      next_renew_check_(kRenewMinStacks),
      off_cpu_event_(parent.off_cpu_event_) {
  // What handling the snapshot's records costs the process table and the unwinder goes in
  // the snapshot's counters, not the recording's (which handles the same records again).
  processes_->set_stats(&stats_);
  if (unwinder_) unwinder_->set_stats(&stats_);
  for (size_t i = 0; i < parent.builders_.size(); ++i) AddStream();
  SetWriter(std::move(writer));
}

RecordSink::~RecordSink() {
  if (parent_) {
    processes_->set_stats(&parent_->stats_);
    if (unwinder_) unwinder_->set_stats(&parent_->stats_);
  }
}

void RecordSink::SetWriter(std::unique_ptr<RecordingWriter> writer) {
  writer_ = std::move(writer);
  AddEventTypes();
}

void RecordSink::AddEventTypes() {
  for (uint32_t i = 0; i < options_.events.size(); ++i) {
    writer_->AddEventType(i, options_.events[i].name, options_.events[i].format_text);
  }
  // The off-CPU stacks' own event, never opened: its weights are nanoseconds off the CPU.
  if (off_cpu_) writer_->AddEventType(off_cpu_event_, std::string(kOffCpuEventName), "");
}

uint32_t RecordSink::AddStream() {
  builders_.push_back(std::make_unique<StackBuilder>(
      processes_, stacks_.get(), &stats_, options_.sample_type, options_.max_stack,
      options_.dwarf_regs_mask, unwinder_, options_.dwarf_max_frames));
  if (options_.off_cpu_fp_regs_mask) {
    builders_.back()->WalkFramePointersInCopies(options_.off_cpu_fp_regs_mask);
  }
  return static_cast<uint32_t>(builders_.size() - 1);
}

void RecordSink::Handle(uint32_t stream, const ParsedRecord& rec, uint32_t event) {
  StackBuilder& builder = *builders_[stream];
  switch (rec.type) {
    case PERF_RECORD_SAMPLE: {
      // Each event's stacks are its own (a page fault is not a millisecond of CPU); the period
      // weighs the sample: ns for clock events, events counted for the others.
      StackBuilder::SampleTarget target;
      target.event = event == kUnknownEvent ? 0 : event;
      target.weight = rec.sample.period;
      if (event == kUnknownEvent) {
        builder.OnSample(rec, target);
        break;
      }
      const EventType& type = options_.events[event];
      if (type.targets_only &&
          (rec.sample.pid == 0 || !processes_->KnowsProcess(pid_t(rec.sample.pid)))) {
        stats_.Add(Stat::kSamplesOtherTasks);
        break;
      }
      ++samples_[event];
      if (type.off_cpu_switch) {
        OnSwitchOut(builder, rec);
        break;
      }
      bool callchain = options_.callchain;
      if (type.sample_type != 0) {
        callchain = (type.sample_type & PERF_SAMPLE_CALLCHAIN) != 0;
        target.callchain = callchain;
      }
      const StackBuilder::SampleIds ids = builder.OnSample(rec, target);
      if (type.is_trace) {
        // What `wick script` prints: every hit of a trace event, with its payload.
        const SampleRecord& s = rec.sample;
        writer_->AddTraceSample(s.time, s.cpu, s.pid, s.tid, ids.comm, event,
                                callchain ? ids.stack : kNoStack, s.raw);
      }
      break;
    }
    case PERF_RECORD_MMAP:
      processes_->OnMmap(rec.mmap.pid, rec.mmap.tid, rec.mmap.addr, rec.mmap.len, rec.mmap.pgoff,
                         rec.mmap.filename, ProcessTable::kProtUnknown, {});
      break;
    case PERF_RECORD_MMAP2: {
      // Without the kernel's build-id, the file's device and inode tell whether the file
      // found at the path is the one mapped.
      const ProcessTable::MappedFile file{rec.mmap.maj, rec.mmap.min, rec.mmap.ino};
      processes_->OnMmap(rec.mmap.pid, rec.mmap.tid, rec.mmap.addr, rec.mmap.len, rec.mmap.pgoff,
                         rec.mmap.filename, rec.mmap.prot,
                         rec.mmap.has_build_id ? rec.mmap.build_id : std::span<const std::byte>(),
                         !rec.mmap.has_build_id && rec.mmap.ino != 0 ? &file : nullptr);
      break;
    }
    case PERF_RECORD_COMM:
      processes_->OnComm(rec.comm.pid, rec.comm.tid, rec.comm.comm, rec.comm.exec,
                         rec.has_sample_id ? rec.sample_id.time : 0);
      if (rec.comm.exec) {
        if (unwinder_) unwinder_->ForgetProcess(pid_t(rec.comm.pid));
      }
      break;
    case PERF_RECORD_FORK:
      processes_->OnFork(rec.fork_exit.pid, rec.fork_exit.ppid, rec.fork_exit.tid,
                         rec.fork_exit.ptid, rec.fork_exit.time);
      break;
    case PERF_RECORD_EXIT:
      processes_->OnExit(rec.fork_exit.pid, rec.fork_exit.tid);
      if (off_cpu_) off_cpu_->OnExit(rec.fork_exit.tid);
      if (rec.fork_exit.pid == rec.fork_exit.tid) {
        if (unwinder_) unwinder_->ForgetProcess(pid_t(rec.fork_exit.pid));
      }
      break;
    case PERF_RECORD_LOST:
      stats_.Add(Stat::kLostRecords);
      stats_.Add(Stat::kLostSamples, rec.lost.lost);
      if (off_cpu_) off_cpu_->OnLost(RecordTime(rec));
      break;
    case PERF_RECORD_SWITCH:
    case PERF_RECORD_SWITCH_CPU_WIDE:
      // Switch-outs come as sched_switch samples (with their stack and prev_state); the
      // records give the switch-ins. pid 0 is a CPU's idle task.
      if (off_cpu_ && rec.has_sample_id && rec.sample_id.pid != 0 &&
          rec.sample_id.pid != UINT32_MAX) {
        if (rec.switch_.out) {
          off_cpu_->OnSwitchOutRecord(rec.sample_id.tid, rec.sample_id.time);
        } else {
          off_cpu_->OnSwitchIn(rec.sample_id.tid, rec.sample_id.time);
        }
      }
      break;
    case PERF_RECORD_LOST_SAMPLES:
      stats_.Add(Stat::kLostSamplesNoBuffer, rec.lost_samples.lost);
      break;
    case PERF_RECORD_THROTTLE:
      stats_.Add(Stat::kThrottle);
      break;
    case PERF_RECORD_UNTHROTTLE:
      stats_.Add(Stat::kUnthrottle);
      break;
    default:
      stats_.Add(Stat::kUnknownRecords);
      break;
  }
}

void RecordSink::OnSwitchOut(StackBuilder& builder, const ParsedRecord& rec) {
  const SampleRecord& s = rec.sample;
  // The idle task (pid 0) is not off the CPU; -1: a task past the point of its exit.
  if (s.pid == 0 || s.pid == UINT32_MAX) return;
  const std::optional<uint64_t> prev_state = options_.switch_layout->ReadPrevState(s.raw);
  if (!prev_state) {
    stats_.Add(Stat::kMalformedRecords);
    return;
  }
  const SwitchOutState state = options_.switch_layout->Classify(*prev_state);
  if (state.exiting) {
    stats_.Add(Stat::kOffCpuExitSwitches);
    return;
  }
  // The stack that blocked, under its reason; count and weight come with the switch-in.
  const StackBuilder::SampleIds ids = builder.OnSample(
      rec, {.event = off_cpu_event_,
            .count = 0,
            .weight = 0,
            .leaf = Frame{static_cast<uint64_t>(state.reason), 0, FrameKind::kOffCpu},
            .callchain = {},
            .user_fp_in_copy = options_.off_cpu_fp_regs_mask != 0});
  if (ids.stack == kNoStack) return;  // the map is full (counted)
  off_cpu_->OnSwitchOut(s.tid, s.time, ids.stack, state.reason);
}

absl::Status RecordSink::Flush() {
  BinaryTable& binaries = processes_->binaries();
  for (; binaries_written_ < binaries.size(); ++binaries_written_) {
    uint32_t id = uint32_t(binaries_written_);
    writer_->AddBinary(id, binaries.build_id(id), binaries.path(id));
  }
  // Functions of replaced or deleted binaries, read while they were still mapped.
  for (auto& [id, symbols] : processes_->TakeCapturedSymbols()) {
    writer_->AddBinarySymbols(id, std::move(symbols));
  }
  CommTable& comms = processes_->comms();
  for (; comms_written_ < comms.size(); ++comms_written_) {
    uint32_t id = uint32_t(comms_written_);
    writer_->AddComm(id, comms.name(id));
  }
  std::vector<uint64_t> kernel_addresses;  // of the stacks written now
  for (; stacks_written_ < stacks_->size(); ++stacks_written_) {
    uint32_t id = uint32_t(stacks_written_);
    const StackKey& key = stacks_->Key(id);
    writer_->AddStack(id, key.event, key.comm, key.pid, key.tid, stacks_->Frames(id));
    for (const Frame& f : stacks_->Frames(id)) {
      if (f.kind == FrameKind::kKernel) kernel_addresses.push_back(f.value);
    }
  }
  // Their kernel symbols go with them, so a recording cut short (kill -9) names its kernel
  // frames too.
  AddKernelSymbolsFor(&kernel_addresses);
  stacks_->TakeDeltas(
      [&](uint32_t id, uint64_t count, uint64_t weight) { writer_->AddCount(id, count, weight); });
  writer_->NoteStats(stats_);
  return writer_->Flush();
}

void RecordSink::AddKernelSymbolsFor(std::vector<uint64_t>* addresses) {
  if (addresses->empty()) return;
  std::sort(addresses->begin(), addresses->end());
  addresses->erase(std::unique(addresses->begin(), addresses->end()), addresses->end());
  std::vector<uint64_t> unknown;
  for (uint64_t a : *addresses) {
    if (kernel_->seen.insert(a).second) unknown.push_back(a);
  }
  if (!unknown.empty()) {
    if (kernel_->kallsyms) {
      for (KernelSymbol& k : kernel_->kallsyms->Lookup(unknown)) {
        kernel_->symbols.push_back(std::move(k));
      }
      SortKernelSymbols(&kernel_->symbols);
    }
  }
  // The writer keeps each symbol once (a snapshot's writer starts empty).
  std::vector<KernelSymbol> needed;
  for (uint64_t a : *addresses) {
    const KernelSymbol* k = LookupKernelSymbol(kernel_->symbols, a);
    if (k != nullptr && (needed.empty() || needed.back().address != k->address)) {
      needed.push_back(*k);
    }
  }
  writer_->AddKernelSymbols(needed);
}

void RecordSink::MaybeRenewStackMap() {
  // A stack's pid is part of its key: once its process has exited and been forgotten, the
  // stack (written already) can never be sampled again. With processes coming and going, such
  // stacks would be most of the map: a new map, whose ids continue where this one's end,
  // keeps memory to the live stacks (they are defined again when next sampled). --overwrite
  // handles its samples at the end and keeps every process's images, so it keeps its map.
  if (options_.keep_history || stacks_written_ != stacks_->size()) return;
  const size_t held = stacks_->held();
  if (held < next_renew_check_) return;
  size_t dead = 0;
  for (uint32_t id = stacks_->first_id(); id < stacks_->size(); ++id) {
    const pid_t pid = static_cast<pid_t>(stacks_->Pid(id));
    if (pid > 0 && !processes_->KnowsProcess(pid)) ++dead;
  }
  if (dead * 2 < held) {
    next_renew_check_ = held + held / 4;  // scans stay amortized O(1) per new stack
    return;
  }
  AddRawFramePids(*stacks_, &jit_pids_);
  std::sort(jit_pids_.begin(), jit_pids_.end());
  jit_pids_.erase(std::unique(jit_pids_.begin(), jit_pids_.end()), jit_pids_.end());
  auto fresh = std::make_unique<StackMap>(kMaxFrames, kMaxStacks, nullptr,
                                          static_cast<uint32_t>(stacks_->size()));
  if (off_cpu_) {
    // Blocks still open are charged at their switch-in: their stacks move to the new map.
    off_cpu_->RemapPendingStacks([&](uint32_t old) {
      const StackKey key{stacks_->Event(old), stacks_->Comm(old), stacks_->Pid(old),
                         stacks_->Tid(old)};
      return fresh->Insert(key, stacks_->Frames(old), 0, 0).value_or(kNoStack);
    });
  }
  stacks_ = std::move(fresh);
  for (auto& b : builders_) b->set_stack_map(stacks_.get());
  next_renew_check_ = kRenewMinStacks;
  stats_.Add(Stat::kStackMapRenewals);
}

absl::Status RecordSink::Finish(uint64_t duration_ns) {
  // Issue 6 (JIT maps): /tmp/perf-PID.map of every process with raw frames, into the file.
  writer_->AddJitSymbols(CaptureJitSymbolsForStacks(*stacks_, &stats_, {}, jit_pids_));
  return writer_->Finish({}, stats_, duration_ns);
}

}  // namespace wick
