#include "wick/session.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "event_plan.h"
#include "launcher.h"
#include "off_cpu.h"
#include "proc_util.h"
#include "record_sink.h"
#include "wick/event_spec.h"
#include "wick/jit_map.h"
#include "wick/kernel_caps.h"
#include "wick/kernel_symbols.h"
#include "wick/perf_event.h"
#include "wick/process_table.h"
#include "wick/record.h"
#include "wick/recording.h"
#include "wick/ring_buffer.h"
#include "wick/stack_map.h"
#include "wick/status.h"
#include "wick/trace_event.h"
#include "wick/trace_format.h"
#include "wick/tracefs.h"
#include "wick/unwinder.h"

namespace wick {
namespace {

// Rings are drained at least this often, even without a wakeup (a ring whose leader event
// hung up no longer wakes us); the file is flushed every kFlushTicks drains.
constexpr int64_t kDrainIntervalNs = 100'000'000;
// How long a run whose command a stop signal killed waits for wick's own handler of the same
// signal (see Run()).
constexpr int kStopSignalGraceMs = 500;
constexpr int kFlushTicks = 10;
// How long a sample of a process not known yet waits for the record that makes it known
// (DrainAll): far longer than the few microseconds between a record's time stamp and its
// commit, unless the vCPU was preempted in between.
constexpr uint64_t kOrderMarginNs = 100'000'000;
// Data pages of the forward (tracking-only) ring of each CPU under --overwrite.
constexpr uint32_t kTrackingPages = 16;
// Data pages of each CPU's --snapshot-on ring: a hit is 40 bytes, so 64 KiB holds ~1,600
// hits that come while a snapshot is being written (more are counted as lost).
constexpr uint32_t kTriggerPages = 16;

uint64_t RealtimeNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// One CPU's ring buffer and everything its reader needs, allocated before recording: its
// stream in the sink (whose stack builder holds the stack being built), and the parsed form
// of the record at the head of the ring.
struct CpuReader {
  int cpu = -1;
  int leader_fd = -1;
  std::optional<MappedRing> ring;
  // --overwrite: the sampling events write backward into this read-only ring, read once at
  // the end; `ring` then carries only the tracking records (mmaps, comms, forks, exits).
  std::optional<MappedRing> backward;
  int backward_leader_fd = -1;
  // --snapshot-on: the trigger events' own forward ring, which wakes the reader at every hit.
  std::optional<MappedRing> trigger;
  int trigger_leader_fd = -1;
  bool trigger_in_epoll = false;
  uint32_t stream = 0;  // in the sink: this CPU's stack builder and its frame pool
  ParsedRecord current;
  bool has_current = false;
  uint64_t current_time = 0;
  std::span<const std::byte> current_bytes;  // `current` as read, to put back
  bool in_epoll = false;
};

class Session : public RecordSession {
 public:
  explicit Session(const RecordOptions& options) : options_(options) {}

  absl::Status Init();
  int StopFd() const override { return stop_fd_.get(); }
  int SnapshotFd() const override { return snapshot_fd_.get(); }
  absl::StatusOr<RecordSummary> Run() override;

 private:
  absl::Status OpenEvents(const std::vector<pid_t>& tasks);
  absl::Status AddToEpoll(int fd, uint64_t tag);
  void Notice(const std::string& s) {
    if (options_.notice) options_.notice(s);
  }
  // Reads every ring and handles its records in time order; `final`: the events are
  // disabled, so nothing more can come and nothing waits.
  void DrainAll(bool final = false);
  // True while every ring is less than half full: DrainAll may leave records for later.
  bool RoomToWait() const;
  // Hands what the backward rings hold to `sink`, in time order; records newer than `cut_ns`
  // (a trigger's time) are left out, counted.
  void SnapshotBackwardRings(RecordSink& sink, RecordSummary* summary, bool resume,
                             uint64_t cut_ns = UINT64_MAX);
  // `why`: "SIGUSR2", or the trigger event that hit at `cut_ns`.
  absl::Status WriteSnapshot(uint32_t n, uint64_t start_ns, uint64_t cut_ns,
                             const std::string& why);
  // A snapshot now (SIGUSR2), or at a trigger's hit at `cut_ns`, unless --snapshot-limit
  // snapshots were taken already (counted).
  void TakeSnapshot(RecordSummary* summary, uint64_t start_ns, uint64_t cut_ns = UINT64_MAX,
                    const std::string& trigger = "");
  // --snapshot-on: reads every trigger ring and takes a snapshot for each hit that is
  // neither too soon after the last triggered one (--snapshot-gap) nor over the limit.
  void TakeTriggeredSnapshots(RecordSummary* summary, uint64_t start_ns);
  // A writer for `path`, after keeping a previous recording there as PATH.old.
  absl::StatusOr<std::unique_ptr<RecordingWriter>> OpenOutput(const std::string& path);
  bool Advance(CpuReader& r);
  // The event type (index in types_) of a sample record, else RecordSink::kUnknownEvent.
  uint32_t EventOf(const ParsedRecord& rec) const;

  // One kind of event the user asked for (a glob may bring several). Its attr is opened on
  // every CPU × task; all kinds share one sample_type so any record parses the same way.
  struct EventType : PlannedEvent {
    // --off-cpu's sched:sched_switch: its samples are switch-outs, neither trace samples nor
    // stacks of their own.
    bool off_cpu_switch = false;
    // --off-cpu on tasks: the on-CPU clock events are opened once per CPU, not per task, and
    // their samples of other tasks left out (see OnCpuPerCpu).
    bool per_cpu = false;
  };
  absl::Status ResolveEventTypes(const SamplingOptions& so);
  // The event types of one -e (a glob may bring several), appended to *out.
  absl::Status ResolveRequest(const EventRequest& request, const SamplingOptions& so,
                              std::vector<EventType>* out);
  // --snapshot-on: the trigger events, sampled as -e would, minus what a hit does not need.
  absl::Status ResolveTriggerTypes(const SamplingOptions& so);
  // --off-cpu: sched:sched_switch, with context-switch records, after the -e events.
  absl::Status AddSchedSwitchType(const SamplingOptions& so);
  // --off-cpu on tasks: the on-CPU clock events become per CPU.
  void OnCpuPerCpu();
  // --off-cpu with frame-pointer stacks and a --off-cpu-stack copy.
  bool UserFpInCopy() const {
    return options_.off_cpu && options_.callchain && options_.dwarf_stack_size == 0 &&
           options_.off_cpu_stack_size != 0;
  }
  std::string EventNames() const;

  RecordOptions options_;
  KernelCaps caps_;
  std::optional<EventPlanner> planner_;  // owns the tracefs, once a tracepoint needs it
  std::vector<EventType> types_;
  absl::flat_hash_map<uint64_t, uint32_t> type_of_id_;  // PERF_SAMPLE_IDENTIFIER → types_
  SampleFormat format_;
  // --overwrite: a dummy event per CPU and task that carries the tracking records into the
  // forward ring while the samples go to the backward one.
  perf_event_attr tracking_attr_{};
  uint32_t max_stack_ = 0;

  // --snapshot-on: the trigger events (opened on every CPU × task into CpuReader::trigger),
  // their records' format, which trigger an id is, the hits of one read (time, trigger) and
  // the time of the hit that took the last triggered snapshot (for --snapshot-gap).
  std::vector<EventType> trigger_types_;
  SampleFormat trigger_format_;
  absl::flat_hash_map<uint64_t, uint32_t> trigger_of_id_;
  std::vector<std::pair<uint64_t, uint32_t>> hits_;
  std::optional<uint64_t> last_trigger_snapshot_ns_;
  bool limit_noticed_ = false;

  std::optional<Launcher> launcher_;
  std::vector<PerfEvent> events_;
  // Indices in events_ of per-CPU events (EventType::per_cpu): enable_on_exec cannot turn
  // them on, since they belong to no task; Run() enables them when the command starts.
  std::vector<size_t> per_cpu_events_;
  std::vector<std::unique_ptr<CpuReader>> readers_;
  TargetWatch targets_;  // readable when a target exits

  // What the records become: process table, stacks, the recording and its counters.
  std::unique_ptr<RecordSink> sink_;
  absl::Status write_status_;
  // --off-cpu: where prev_state lies in sched_switch's raw data (for the sink).
  std::optional<SchedSwitchLayout> switch_layout_;

  ScopedFd epoll_fd_, stop_fd_, timer_fd_, snapshot_fd_;
  RecordingMeta meta_;
};

enum : uint64_t {
  kTagStop = 1ull << 62,
  kTagTimer,
  kTagSnapshot,
  kTagPidFd = 1ull << 61,
  kTagRing = 1ull << 60,
  kTagTrigger = 1ull << 59
};

std::string Session::EventNames() const {
  std::string names;
  for (const EventType& t : types_) absl::StrAppend(&names, names.empty() ? "" : ",", t.name);
  return names;
}

absl::Status Session::ResolveRequest(const EventRequest& request, const SamplingOptions& so,
                                     std::vector<EventType>* out) {
  std::vector<PlannedEvent> planned;
  WICK_RETURN_IF_ERROR(planner_->Plan(request, AttrPolicy::Sample(so), &planned));
  for (PlannedEvent& p : planned) out->push_back({std::move(p), /*off_cpu_switch=*/false});
  return absl::OkStatus();
}

absl::Status Session::ResolveTriggerTypes(const SamplingOptions& so) {
  // No stack, no tracking, no watermark: a hit needs only its time, and to wake us at once.
  SamplingOptions trigger_so = so;
  trigger_so.callchain = false;
  trigger_so.max_stack = 0;
  trigger_so.track_tasks = false;
  trigger_so.wakeup_watermark_bytes = 0;
  trigger_so.sample_id_all = false;
  for (const std::string& spec : options_.snapshot_on) {
    absl::Status s = ResolveRequest({spec, ""}, trigger_so, &trigger_types_);
    if (!s.ok()) return Annotate(s, absl::StrCat("--snapshot-on ", spec));
  }
  for (EventType& t : trigger_types_) {
    t.attr.sample_type =
        PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_CPU;
    t.attr.wakeup_events = 1;
  }
  if (!trigger_types_.empty()) trigger_format_ = SampleFormat::FromAttr(trigger_types_[0].attr);
  return absl::OkStatus();
}

absl::Status Session::ResolveEventTypes(const SamplingOptions& so) {
  if (options_.events.empty()) return absl::InvalidArgumentError("no event to record (-e)");
  for (const EventRequest& request : options_.events) {
    WICK_RETURN_IF_ERROR(ResolveRequest(request, so, &types_));
  }
  if (options_.off_cpu) {
    WICK_RETURN_IF_ERROR(AddSchedSwitchType(so));
    OnCpuPerCpu();
  }
  // One sample_type for all, so that every record parses with one SampleFormat; the
  // identifier says which event a sample belongs to.
  uint64_t sample_type = 0;
  for (const EventType& t : types_) sample_type |= t.attr.sample_type;
  if (options_.dwarf_stack_size) {
    // The kernel copies the user registers and stack; it walks kernel frames only.
    sample_type |= PERF_SAMPLE_REGS_USER | PERF_SAMPLE_STACK_USER | PERF_SAMPLE_CALLCHAIN;
  }
  // --off-cpu -g: the switch-outs' user frames come from a stack copy (RecordOptions::
  // off_cpu_stack_size). Every event samples the same registers, since one format parses
  // them all; the others keep their kernel-walked chains and copy one word of stack, not
  // none: with sample_stack_user 0 the kernel reserves 8 bytes for STACK_USER but writes 16
  // (the size, then dyn_size) for any task with user registers, past the record's end.
  const bool fp_in_copy = UserFpInCopy();
  if (fp_in_copy) sample_type |= PERF_SAMPLE_REGS_USER | PERF_SAMPLE_STACK_USER;
  for (EventType& t : types_) {
    t.attr.sample_type = sample_type;
    if (options_.dwarf_stack_size) {
      t.attr.exclude_callchain_user = 1;
      t.attr.sample_regs_user = UnwinderRegsMask();
      t.attr.sample_stack_user = options_.dwarf_stack_size;
    } else if (fp_in_copy) {
      t.attr.sample_regs_user = FramePointerRegsMask();
      t.attr.sample_stack_user = t.off_cpu_switch ? options_.off_cpu_stack_size : 8;
      t.attr.exclude_callchain_user = t.off_cpu_switch;
    }
    // Ask the kernel to put each mapping's build-id in MMAP2 (Linux 5.12+), which saves
    // reading the file; OpenEvents drops the bit again on a kernel that refuses it.
    // Under --overwrite the sampling events track nothing: the dummy event asks instead.
    t.attr.build_id = !options_.overwrite;
    t.attr.write_backward = options_.overwrite;
  }
  if (options_.overwrite) {
    // Same sample_type (so its records' sample_id trailers parse alike), never samples.
    tracking_attr_ = types_.front().attr;
    tracking_attr_.type = PERF_TYPE_SOFTWARE;
    tracking_attr_.config = PERF_COUNT_SW_DUMMY;
    tracking_attr_.freq = 0;
    tracking_attr_.sample_period = 1;
    tracking_attr_.write_backward = 0;
    tracking_attr_.build_id = 1;
    tracking_attr_.mmap = tracking_attr_.mmap2 = tracking_attr_.comm = 1;
    tracking_attr_.comm_exec = tracking_attr_.task = 1;
    tracking_attr_.watermark = 1;
    tracking_attr_.wakeup_watermark =
        uint32_t(std::min(options_.mmap_pages, kTrackingPages) * sysconf(_SC_PAGESIZE) / 4);
  }
  format_ = SampleFormat::FromAttr(types_.front().attr);
  return ValidateSampleFormat(format_);
}

void Session::OnCpuPerCpu() {
  // A per-task clock event is switched out and in with its task: its timer is cancelled and
  // started again at every context switch, in the switching task. In a target that switches
  // 200,000 times (the off-CPU benchmark's pingpong) that cost 2.5 s of the target's CPU here,
  // more than the sched_switch samples. Opened per CPU instead, the clock runs on regardless;
  // the tasks it samples that are not targets are left out by the sink (and counted). The
  // sched_switch events stay per task: they track the targets' processes, and the sink knows
  // which tasks are targets from them. -t (some threads of a process) and -a keep per task.
  if (options_.system_wide || !options_.tids.empty()) return;
  for (EventType& t : types_) {
    if (t.is_trace() || t.off_cpu_switch) continue;
    t.per_cpu = true;
    t.attr.inherit = 0;
    t.attr.enable_on_exec = 0;
    t.attr.mmap = t.attr.mmap2 = t.attr.comm = t.attr.comm_exec = t.attr.task = 0;
    t.attr.context_switch = 0;
  }
}

absl::Status Session::AddSchedSwitchType(const SamplingOptions& so) {
  constexpr std::string_view kSchedSwitch = "sched:sched_switch";
  for (const EventType& t : types_) {
    if (t.name == kSchedSwitch) {
      return absl::InvalidArgumentError(
          "--off-cpu records sched:sched_switch itself: drop -e sched:sched_switch");
    }
  }
  WICK_ASSIGN_OR_RETURN(const Tracefs* tracefs, planner_->MountTracefs());
  WICK_ASSIGN_OR_RETURN(std::string format_text, ReadSchedSwitchFormat(*tracefs));
  WICK_ASSIGN_OR_RETURN(TraceFormat format, TraceFormat::Parse(format_text));
  WICK_ASSIGN_OR_RETURN(switch_layout_, SchedSwitchLayout::FromFormat(format));
  std::vector<PlannedEvent> resolved;
  WICK_RETURN_IF_ERROR(
      planner_->Plan({std::string(kSchedSwitch), ""}, AttrPolicy::Sample(so), &resolved));
  if (resolved.size() != 1) {
    return absl::NotFoundError("--off-cpu: sched:sched_switch resolved to no single tracepoint");
  }
  EventType type{std::move(resolved[0]), /*off_cpu_switch=*/true};
  // Every switch, whatever -c the on-CPU events sample by.
  type.attr.freq = 0;
  type.attr.sample_period = 1;
  // PERF_RECORD_SWITCH(_CPU_WIDE): the switch-in times that end each block.
  type.attr.context_switch = 1;
  types_.push_back(std::move(type));
  return absl::OkStatus();
}

absl::Status Session::Init() {
  if (!options_.snapshot_on.empty() && !options_.overwrite) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--snapshot-on ", options_.snapshot_on.front(),
        " needs --overwrite: a snapshot is what the flight recorder's rings hold at the hit (add "
        "--overwrite, and -m for how much they keep); without it the recording is written as it "
        "goes"));
  }
  if (options_.snapshot_limit == 0) {
    return absl::InvalidArgumentError(
        "--snapshot-limit 0: the limit counts the snapshot files a run may write, 1 or more "
        "(default 16)");
  }
  if (!(options_.snapshot_gap_s >= 0) || options_.snapshot_gap_s > 1e9) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--snapshot-gap %g: expected seconds between triggered snapshots, 0 or more (e.g. "
        "--snapshot-gap 0.5)",
        options_.snapshot_gap_s));
  }
  WICK_ASSIGN_OR_RETURN(caps_, KernelCaps::Probe());
  planner_.emplace(caps_, options_.notice);
  if (options_.off_cpu) {
    if (!options_.callchain) {
      return absl::InvalidArgumentError(
          "--off-cpu needs the stacks that block: add -g or --call-graph dwarf");
    }
    if (options_.overwrite) {
      return absl::InvalidArgumentError(
          "--off-cpu cannot be combined with --overwrite: the flight recorder reads its rings "
          "only at the end or at a snapshot, when the switch-outs of the oldest blocks are "
          "overwritten while their "
          "switch-ins are kept, so off-CPU times would be partial; record without --overwrite");
    }
    WICK_RETURN_IF_ERROR(CheckOffCpuRights(caps_));
  }

  // DWARF samples (and --off-cpu -g's switch-outs) carry a stack copy each: give them room
  // (4 MiB per CPU by default).
  if (options_.mmap_pages == 0) {
    options_.mmap_pages = options_.dwarf_stack_size || UserFpInCopy() ? 1024 : 128;
  }
  uint32_t pages = options_.mmap_pages;
  WICK_RETURN_IF_ERROR(CheckRingPages(pages));
  const size_t page_size = size_t(sysconf(_SC_PAGESIZE));
  size_t ring_bytes = size_t{pages} * page_size;
  if (options_.dwarf_stack_size) {
    // Every sample carries its stack copy (plus registers, fields and the kernel's chain).
    const size_t sample_bytes = options_.dwarf_stack_size + 256;
    const size_t holds = ring_bytes / sample_bytes;
    uint32_t enough = 1;  // pages for 16 samples, a power of two
    while (enough * page_size < 16 * sample_bytes) enough *= 2;
    if (holds == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "-m ", pages, ": a ring of ", ring_bytes / 1024, " KiB cannot hold one sample with a ",
          options_.dwarf_stack_size, "-byte stack copy (every sample would be lost); use -m ",
          enough, " or more, or a smaller --call-graph dwarf,SIZE"));
    }
    if (options_.overwrite) {
      Notice(absl::StrCat("overwrite mode: each CPU's ring of ", ring_bytes / 1024,
                          " KiB holds about ", holds, " samples with ", options_.dwarf_stack_size,
                          "-byte stack copies; raise -m to keep more"));
    } else if (holds < 16) {
      Notice(absl::StrCat("-m ", pages, ": each CPU's ring holds only about ", holds,
                          " samples with ", options_.dwarf_stack_size,
                          "-byte stack copies, so expect lost samples; -m ", enough,
                          " or more holds 16"));
    }
  }

  SamplingOptions so;
  so.frequency = options_.period ? 0 : options_.frequency;
  so.period = options_.period;
  so.callchain = options_.callchain;
  so.max_stack = options_.max_stack;
  so.inherit = !options_.pids.empty() || !options_.command.empty();
  so.enable_on_exec = !options_.command.empty();
  so.disabled = true;
  // In overwrite mode the sampling events neither track tasks nor wake anyone up: a dummy
  // event does the tracking into a forward ring (see ResolveEventTypes).
  so.track_tasks = !options_.overwrite;
  so.wakeup_watermark_bytes = uint32_t(ring_bytes / 4);
  so.sample_id_all = true;
  WICK_RETURN_IF_ERROR(ResolveEventTypes(so));
  WICK_RETURN_IF_ERROR(ResolveTriggerTypes(so));
  max_stack_ = options_.max_stack ? options_.max_stack : caps_.perf_event_max_stack;

  {
    RecordSink::Options sink;
    for (const EventType& t : types_) {
      sink.events.push_back({.name = t.name,
                             .format_text = t.trace.format_text,
                             .is_trace = t.is_trace() && !t.off_cpu_switch,
                             .off_cpu_switch = t.off_cpu_switch,
                             .sample_type = 0,
                             .targets_only = t.per_cpu});
    }
    sink.sample_type = format_.sample_type;
    sink.max_stack = max_stack_;
    if (options_.dwarf_stack_size) sink.dwarf_regs_mask = format_.sample_regs_user;
    sink.unwinder = options_.unwinder;
    sink.dwarf_max_frames = options_.max_stack;
    sink.callchain = options_.callchain;
    // --overwrite handles its samples at the end, after every exec and pid reuse of the run.
    sink.keep_history = options_.overwrite;
    if (options_.off_cpu) sink.switch_layout = switch_layout_;
    sink.off_cpu_min_ns = options_.off_cpu_min_ns;
    if (UserFpInCopy()) sink.off_cpu_fp_regs_mask = format_.sample_regs_user;
    sink_ = std::make_unique<RecordSink>(std::move(sink));
  }
  ProcessTable& processes = sink_->processes();
  WICK_ASSIGN_OR_RETURN(
      Targets targets,
      PlanTargets({.system_wide = options_.system_wide,
                   .pids = options_.pids,
                   .tids = options_.tids,
                   .command = options_.command,
                   .nothing_error = "nothing to profile: give -p, -t, -a or a command"},
                  [&](pid_t pid) {
                    return processes.KnowsProcess(pid) ? absl::OkStatus()
                                                       : processes.ScanProcess(pid);
                  }));
  if (options_.system_wide) WICK_RETURN_IF_ERROR(processes.ScanAll());
  launcher_ = std::move(targets.launcher);
  // Which tasks to open events on; -1 means every task (system-wide).
  const std::vector<pid_t>& tasks = targets.tasks;

  {
    // One fd per task, cpu and event (and the tracking event with --overwrite).
    const uint64_t per_task = types_.size() + trigger_types_.size() + (options_.overwrite ? 1 : 0);
    const uint64_t cpus = caps_.online_cpus.size();
    WICK_RETURN_IF_ERROR(
        ReserveFileDescriptors(tasks.size() * cpus * per_task,
                               absl::StrCat(tasks.size(), tasks.size() == 1 ? " task" : " tasks",
                                            " x ", cpus, cpus == 1 ? " cpu" : " cpus", " x ",
                                            per_task, per_task == 1 ? " event" : " events")));
  }

  stop_fd_ = ScopedFd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop_fd_) return ErrnoError(errno, "eventfd");
  epoll_fd_ = ScopedFd(epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_fd_) return ErrnoError(errno, "epoll_create1");
  timer_fd_ = ScopedFd(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  if (!timer_fd_) return ErrnoError(errno, "timerfd_create");
  WICK_RETURN_IF_ERROR(AddToEpoll(stop_fd_.get(), kTagStop));
  WICK_RETURN_IF_ERROR(AddToEpoll(timer_fd_.get(), kTagTimer));
  snapshot_fd_ = ScopedFd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!snapshot_fd_) return ErrnoError(errno, "eventfd");
  if (options_.overwrite) WICK_RETURN_IF_ERROR(AddToEpoll(snapshot_fd_.get(), kTagSnapshot));

  WICK_RETURN_IF_ERROR(OpenEvents(tasks));

  targets_ = TargetWatch::Open(targets.watch);
  for (size_t i = 0; i < targets_.size(); ++i) {
    WICK_RETURN_IF_ERROR(AddToEpoll(targets_.fd(i), kTagPidFd | i));
  }

  meta_.command_line = options_.command_line;
  meta_.event = EventNames();
  meta_.sample_period = options_.period;
  meta_.sample_freq = options_.period ? 0 : options_.frequency;
  utsname un;
  if (uname(&un) == 0) {
    meta_.hostname = un.nodename;
    meta_.kernel_release = un.release;
  }
  meta_.start_time_ns = RealtimeNs();
  meta_.boot_id = ThisBootId();
  // /proc/kallsyms, read once before sampling starts (reading and sorting it takes tens of
  // ms, which the reader thread cannot spend while rings fill): every flush names the kernel
  // frames of its new stacks from it.
  absl::StatusOr<KallsymsTable> kallsyms = KallsymsTable::Load();
  if (kallsyms.ok()) {
    sink_->SetKallsyms(*std::move(kallsyms));
  } else {
    Notice(absl::StrCat("kernel frames will stay unnamed: ", kallsyms.status().message()));
  }
  std::unique_ptr<RecordingWriter> writer;
  if (options_.open_sink) {
    WICK_ASSIGN_OR_RETURN(writer, options_.open_sink(meta_));
  } else {
    WICK_ASSIGN_OR_RETURN(writer, OpenOutput(options_.output));
  }
  sink_->SetWriter(std::move(writer));
  return absl::OkStatus();
}

absl::Status Session::AddToEpoll(int fd, uint64_t tag) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = tag;
  if (epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd, &ev) != 0)
    return ErrnoError(errno, "epoll_ctl");
  return absl::OkStatus();
}

absl::Status Session::OpenEvents(const std::vector<pid_t>& tasks) {
  // One ring per CPU: the first event opened on a CPU owns it, every other event on that CPU
  // sends its records there (PERF_EVENT_IOC_SET_OUTPUT), so each CPU has exactly one reader.
  for (int cpu : caps_.online_cpus) {
    auto reader = std::make_unique<CpuReader>();
    reader->cpu = cpu;
    // Indices in events_ (which may reallocate) of the events that own this CPU's rings.
    std::optional<size_t> leader, backward_leader, trigger_leader;
    // Makes events_.back() write into this CPU's ring of its direction, mapping the ring when
    // it is the first event there.
    auto attach = [&](bool backward) -> absl::Status {
      std::optional<size_t>& owner = backward ? backward_leader : leader;
      if (owner) return events_.back().SetOutput(events_[*owner]);
      // With --overwrite the forward ring carries only tracking records, which are few:
      // a smaller one keeps the pair within perf_event_mlock_kb for unprivileged users.
      const uint32_t pages = options_.overwrite && !backward
                                 ? std::min(options_.mmap_pages, kTrackingPages)
                                 : options_.mmap_pages;
      auto ring = MappedRing::Map(events_.back().fd(), pages,
                                  backward ? RingMode::kOverwrite : RingMode::kForward);
      if (!ring.ok()) return Annotate(ring.status(), absl::StrCat("ring buffer of cpu ", cpu));
      (backward ? reader->backward : reader->ring).emplace(std::move(*ring));
      (backward ? reader->backward_leader_fd : reader->leader_fd) = events_.back().fd();
      owner = events_.size() - 1;
      return absl::OkStatus();
    };
    // The same for a --snapshot-on event: its hits go to this CPU's trigger ring.
    auto attach_trigger = [&]() -> absl::Status {
      if (trigger_leader) return events_.back().SetOutput(events_[*trigger_leader]);
      auto ring = MappedRing::Map(events_.back().fd(), kTriggerPages);
      if (!ring.ok()) {
        return Annotate(ring.status(), absl::StrCat("--snapshot-on ring buffer of cpu ", cpu));
      }
      reader->trigger.emplace(std::move(*ring));
      reader->trigger_leader_fd = events_.back().fd();
      trigger_leader = events_.size() - 1;
      return absl::OkStatus();
    };
    // Opens `attr` for `task` on this CPU. On a kernel too old for attr.build_id (the first
    // event tells), build-ids come from the mapped files instead. Sets *gone (and returns an
    // error nobody reads) for a thread of a -p process that exited since the /proc scan.
    auto open = [&](perf_event_attr& attr, pid_t task, const std::string& name,
                    bool* gone) -> absl::StatusOr<PerfEvent> {
      const std::string what = task < 0 ? absl::StrCat(name, " on cpu ", cpu)
                                        : absl::StrCat(name, " for pid ", task, " on cpu ", cpu);
      auto ev = PerfEvent::Open(attr, task, cpu, -1, what);
      if (!ev.ok() && attr.build_id && events_.empty() && absl::IsInvalidArgument(ev.status())) {
        tracking_attr_.build_id = 0;
        for (EventType& t : types_) t.attr.build_id = 0;
        ev = PerfEvent::Open(attr, task, cpu, -1, what);
      }
      *gone = !ev.ok() && ExitedSinceListed(ev.status(), task, options_.pids);
      return ev;
    };
    for (pid_t task : tasks) {
      bool gone = false;
      if (options_.overwrite) {
        auto ev = open(tracking_attr_, task, "task tracking", &gone);
        if (gone) continue;
        if (!ev.ok()) return ev.status();
        events_.push_back(std::move(*ev));
        WICK_RETURN_IF_ERROR(attach(/*backward=*/false));
      }
      for (uint32_t type_index = 0; type_index < types_.size(); ++type_index) {
        EventType& type = types_[type_index];
        if (type.per_cpu) continue;
        auto ev = open(type.attr, task, type.name, &gone);
        if (gone) break;
        if (!ev.ok() && type.off_cpu_switch && absl::IsInvalidArgument(ev.status())) {
          // A kernel before 4.3 refuses the context_switch bit (a reserved bit to it): if
          // the tracepoint opens without it, that is what is missing.
          perf_event_attr without = type.attr;
          without.context_switch = 0;
          if (PerfEvent::Open(without, task, cpu, -1, type.name).ok()) {
            return absl::UnimplementedError(
                "--off-cpu needs context-switch records (perf_event_attr.context_switch, Linux "
                "4.3+) for the times threads come back on a CPU, and this kernel refuses them");
          }
        }
        if (!ev.ok()) return ev.status();
        if (type.tracepoint && !type.filter.empty()) {
          WICK_RETURN_IF_ERROR(SetFilter(*ev, type.filter, type.trace.format.get(),
                                         planner_->tracefs(), &*type.tracepoint));
        }
        WICK_ASSIGN_OR_RETURN(uint64_t id, ev->Id());
        type_of_id_[id] = type_index;
        events_.push_back(std::move(*ev));
        WICK_RETURN_IF_ERROR(attach(/*backward=*/options_.overwrite));
      }
      for (uint32_t trigger_index = 0; trigger_index < trigger_types_.size() && !gone;
           ++trigger_index) {
        EventType& trigger = trigger_types_[trigger_index];
        auto ev = open(trigger.attr, task, trigger.name, &gone);
        if (gone) break;
        if (!ev.ok()) return Annotate(ev.status(), "--snapshot-on");
        WICK_ASSIGN_OR_RETURN(uint64_t id, ev->Id());
        trigger_of_id_[id] = trigger_index;
        events_.push_back(std::move(*ev));
        WICK_RETURN_IF_ERROR(attach_trigger());
      }
    }
    for (uint32_t type_index = 0; type_index < types_.size() && leader; ++type_index) {
      EventType& type = types_[type_index];
      if (!type.per_cpu) continue;
      bool gone = false;
      auto ev = open(type.attr, -1, type.name, &gone);
      if (!ev.ok()) return ev.status();
      WICK_ASSIGN_OR_RETURN(uint64_t id, ev->Id());
      type_of_id_[id] = type_index;
      per_cpu_events_.push_back(events_.size());
      events_.push_back(std::move(*ev));
      WICK_RETURN_IF_ERROR(attach(/*backward=*/false));
    }
    if (!leader) continue;
    WICK_RETURN_IF_ERROR(AddToEpoll(reader->leader_fd, kTagRing | readers_.size()));
    reader->in_epoll = true;
    if (trigger_leader) {
      WICK_RETURN_IF_ERROR(AddToEpoll(reader->trigger_leader_fd, kTagTrigger | readers_.size()));
      reader->trigger_in_epoll = true;
    }
    reader->stream = sink_->AddStream();
    readers_.push_back(std::move(reader));
  }
  if (readers_.empty()) return absl::NotFoundError("no event could be opened on any CPU");
  return absl::OkStatus();
}

// Loads the next record of `r` into r.current; false when the ring's batch is done.
bool Session::Advance(CpuReader& r) {
  r.has_current = false;
  while (true) {
    std::span<const std::byte> bytes = r.ring->ring().Next();
    if (bytes.empty()) return false;
    absl::Status s = ParseRecord(bytes, format_, &r.current);
    if (!s.ok()) {
      sink_->stats().Add(Stat::kMalformedRecords);
      continue;
    }
    r.current_bytes = bytes;
    r.has_current = true;
    r.current_time = RecordTime(r.current);
    return true;
  }
}

uint32_t Session::EventOf(const ParsedRecord& rec) const {
  if (rec.type != PERF_RECORD_SAMPLE) return RecordSink::kUnknownEvent;
  auto it = type_of_id_.find(rec.sample.identifier);
  return it == type_of_id_.end() ? RecordSink::kUnknownEvent : it->second;
}

bool Session::RoomToWait() const {
  // Records left in a ring take the kernel's room: never wait with a ring half full.
  for (const auto& r : readers_) {
    const RingBuffer& ring = r->ring->ring();
    if (ring.Available() >= ring.data_size() / 2) return false;
  }
  return true;
}

// Reads every ring up to its current head and handles the records in time order across
// CPUs (a k-way merge), so a mapping recorded on one CPU is known before a sample on another
// CPU that runs code in it.
void Session::DrainAll(bool final) {
  // A record is stamped before the kernel commits it to its ring: a FORK on one CPU may
  // still be on its way while a sample of the new process on another CPU is already read.
  // Such a sample (of a process not known yet) waits for the next drain, unless it is older
  // than kOrderMarginNs, or this is the last drain.
  const uint64_t settled = final ? UINT64_MAX : MonotonicNs() - kOrderMarginNs;
  uint32_t known_pid = 0;  // the last pid found known: runs of samples skip the lookup
  for (auto& r : readers_) Advance(*r);
  while (true) {
    CpuReader* next = nullptr;
    for (auto& r : readers_) {
      if (r->has_current && (next == nullptr || r->current_time < next->current_time)) {
        next = r.get();
      }
    }
    if (next == nullptr) break;
    const ParsedRecord& rec = next->current;
    if (rec.type == PERF_RECORD_SAMPLE && next->current_time > settled &&
        rec.sample.pid != known_pid && rec.sample.pid != UINT32_MAX) {
      if (sink_->processes().KnowsProcess(static_cast<pid_t>(rec.sample.pid))) {
        known_pid = rec.sample.pid;
      } else if (RoomToWait()) {
        // Stop the merge here: every ring keeps its current record for the next drain.
        for (auto& r : readers_) {
          if (r->has_current) r->ring->ring().PutBack(r->current_bytes);
          r->has_current = false;
        }
        break;
      }
    }
    sink_->Handle(next->stream, rec, EventOf(rec));
    Advance(*next);
  }
  for (auto& r : readers_) r->ring->ring().Consume();
}

// --overwrite, at the end: what the backward rings hold, handled in time order across CPUs
// after every tracking record. Mappings are kept after a process exits, and the process
// table keeps the images that execs and reused pids replaced, so each sample resolves in its
// process as it was when sampled.
// A trigger's snapshot is cut at the hit: the rings went on filling until they were paused
// here, and what the targets did after the hit is no part of what led to it.
void Session::SnapshotBackwardRings(RecordSink& sink, RecordSummary* summary, bool resume,
                                    uint64_t cut_ns) {
  // Records are parsed again when handled rather than kept parsed: a ParsedRecord is far
  // larger than the span, and a snapshot can hold hundreds of thousands of records.
  struct Item {
    uint64_t time;
    CpuReader* reader;
    std::span<const std::byte> bytes;
  };
  std::vector<Item> items;
  uint64_t complete_since = 0, newest = 0;
  ParsedRecord rec;
  for (auto& r : readers_) {
    if (!r->backward) continue;
    // The events are disabled already; pausing is the ring's own contract for a reader.
    ioctl(r->backward_leader_fd, PERF_EVENT_IOC_PAUSE_OUTPUT, 1);
    BackwardRing& ring = r->backward->backward();
    uint64_t oldest = UINT64_MAX;
    const auto& records = ring.Snapshot();
    // The snapshot is a copy: the kernel may write on at once.
    if (resume) ioctl(r->backward_leader_fd, PERF_EVENT_IOC_PAUSE_OUTPUT, 0);
    for (std::span<const std::byte> bytes : records) {
      if (!ParseRecord(bytes, format_, &rec).ok()) {
        sink.stats().Add(Stat::kMalformedRecords);
        continue;
      }
      const uint64_t time = RecordTime(rec);
      if (rec.type == PERF_RECORD_SAMPLE) oldest = std::min(oldest, time);
      if (time > cut_ns) {
        if (rec.type == PERF_RECORD_SAMPLE) sink.stats().Add(Stat::kSnapshotSamplesAfterTrigger);
        continue;
      }
      if (rec.type == PERF_RECORD_SAMPLE) newest = std::max(newest, time);
      items.push_back({time, r.get(), bytes});
    }
    sink.stats().Add(Stat::kMalformedRecords, ring.corrupt());
    if (ring.wrapped() && oldest != UINT64_MAX) {
      summary->overwrite_wrapped = true;
      complete_since = std::max(complete_since, oldest);
    }
  }
  std::stable_sort(items.begin(), items.end(),
                   [](const Item& a, const Item& b) { return a.time < b.time; });
  for (const Item& item : items) {
    if (!ParseRecord(item.bytes, format_, &rec).ok()) continue;
    // Each sample resolves in its process as it was then (an exec or a reused pid since).
    sink.processes().SetResolveTime(item.time);
    sink.Handle(item.reader->stream, rec, EventOf(rec));
  }
  sink.processes().SetResolveTime(UINT64_MAX);
  // How far back from the stop (or the hit) every CPU's samples are complete.
  const uint64_t end = cut_ns != UINT64_MAX ? cut_ns : newest;
  summary->overwrite_kept_ns =
      summary->overwrite_wrapped && end > complete_since ? end - complete_since : 0;
}

absl::StatusOr<std::unique_ptr<RecordingWriter>> Session::OpenOutput(const std::string& path) {
  WICK_ASSIGN_OR_RETURN(bool kept, KeepPreviousRecording(path, options_.force));
  if (kept) Notice(absl::StrCat("the previous recording is kept as ", path, ".old"));
  return RecordingWriter::Open(path, meta_);
}

// An --overwrite snapshot while recording goes on: what the rings hold now, written to
// OUTPUT.n as a recording of its own by a second sink (its own stack map, counters and file,
// over the recording's process table); the recording's own sink is left as it was.
absl::Status Session::WriteSnapshot(uint32_t n, uint64_t start_ns, uint64_t cut_ns,
                                    const std::string& why) {
  const std::string path = absl::StrCat(options_.output, ".", n);
  // The tracking records up to now, so the newest mappings are known.
  DrainAll();
  WICK_ASSIGN_OR_RETURN(std::unique_ptr<RecordingWriter> writer, OpenOutput(path));
  RecordSummary summary;
  absl::Status status;
  uint64_t samples = 0, after_cut = 0;
  {
    RecordSink snapshot(*sink_, std::move(writer));
    SnapshotBackwardRings(snapshot, &summary, /*resume=*/true, cut_ns);
    status = snapshot.Flush();
    absl::Status finish = snapshot.Finish(std::min(MonotonicNs(), cut_ns) - start_ns);
    if (status.ok()) status = finish;
    samples = snapshot.stats().Get(Stat::kSamples);
    after_cut = snapshot.stats().Get(Stat::kSnapshotSamplesAfterTrigger);
  }
  sink_->stats().Add(Stat::kSnapshotSamplesAfterTrigger, after_cut);
  WICK_RETURN_IF_ERROR(status);
  const bool triggered = cut_ns != UINT64_MAX;
  Notice(absl::StrCat(
      "snapshot ", n, " (", why,
      triggered ? absl::StrFormat(" at %.3f s", (cut_ns - std::min(cut_ns, start_ns)) / 1e9) : "",
      "): ", samples, " samples",
      summary.overwrite_wrapped
          ? absl::StrFormat(", complete for the last %.2f s before %s",
                            summary.overwrite_kept_ns / 1e9, triggered ? "the hit" : "it")
          : std::string(", everything since the start"),
      triggered ? absl::StrCat(", ", after_cut, " newer left out") : "", ", written to ", path));
  return absl::OkStatus();
}

void Session::TakeSnapshot(RecordSummary* summary, uint64_t start_ns, uint64_t cut_ns,
                           const std::string& trigger) {
  const bool triggered = !trigger.empty();
  if (summary->snapshots >= options_.snapshot_limit) {
    sink_->stats().Add(triggered ? Stat::kSnapshotTriggersOverLimit
                                 : Stat::kSnapshotRequestsOverLimit);
    if (!limit_noticed_) {
      limit_noticed_ = true;
      Notice(absl::StrCat("--snapshot-limit ", options_.snapshot_limit,
                          " reached: later snapshot requests are counted, not written"));
    }
    return;
  }
  absl::Status s = WriteSnapshot(++summary->snapshots, start_ns, cut_ns,
                                 triggered ? absl::StrCat("on ", trigger) : "on SIGUSR2");
  if (!s.ok()) {
    Notice(absl::StrCat("snapshot failed: ", s.message()));
  } else if (triggered) {
    ++summary->triggered_snapshots;
  }
}

void Session::TakeTriggeredSnapshots(RecordSummary* summary, uint64_t start_ns) {
  hits_.clear();
  ParsedRecord rec;
  for (auto& r : readers_) {
    if (!r->trigger) continue;
    RingBuffer& ring = r->trigger->ring();
    for (std::span<const std::byte> bytes = ring.Next(); !bytes.empty(); bytes = ring.Next()) {
      if (!ParseRecord(bytes, trigger_format_, &rec).ok()) {
        sink_->stats().Add(Stat::kMalformedRecords);
      } else if (rec.type == PERF_RECORD_SAMPLE) {
        auto it = trigger_of_id_.find(rec.sample.identifier);
        hits_.push_back({rec.sample.time, it == trigger_of_id_.end() ? 0 : it->second});
      } else if (rec.type == PERF_RECORD_LOST) {
        sink_->stats().Add(Stat::kSnapshotTriggersLost, rec.lost.lost);
      }
    }
    ring.Consume();
  }
  // Hits on several CPUs, in the order they happened.
  std::sort(hits_.begin(), hits_.end());
  const uint64_t gap_ns = uint64_t(options_.snapshot_gap_s * 1e9);
  for (const auto& [time, trigger] : hits_) {
    sink_->stats().Add(Stat::kSnapshotTriggers);
    // Past the limit every hit counts as over it, whatever the gap.
    if (summary->snapshots < options_.snapshot_limit && last_trigger_snapshot_ns_ &&
        time < *last_trigger_snapshot_ns_ + gap_ns) {
      sink_->stats().Add(Stat::kSnapshotTriggersTooSoon);
      continue;
    }
    if (summary->snapshots < options_.snapshot_limit) last_trigger_snapshot_ns_ = time;
    TakeSnapshot(summary, start_ns, time, trigger_types_[trigger].name);
  }
}

absl::StatusOr<RecordSummary> Session::Run() {
  RecordSummary summary;
  summary.event = EventNames();
  for (const EventType& t : trigger_types_) {
    absl::StrAppend(&summary.snapshot_on, summary.snapshot_on.empty() ? "" : ",", t.name);
  }
  const uint64_t start_ns = MonotonicNs();

  if (launcher_) {
    // enable_on_exec turns the events on when the command execs.
    for (size_t i : per_cpu_events_) WICK_RETURN_IF_ERROR(events_[i].Enable());
    absl::Status released = launcher_->Release();
    if (!released.ok()) {
      // Leave a valid (empty) recording rather than a file that reads as cut short.
      (void)sink_->writer().Finish({}, sink_->stats(), 0);
      return released;
    }
  } else {
    for (PerfEvent& ev : events_) WICK_RETURN_IF_ERROR(ev.Enable());
    // -a: processes started between the /proc scan of Init() and now sent their fork, exec and
    // mmap records to no one; from now on the rings have them, so a second scan of the ones
    // not known closes the gap (records read later apply on top of what it finds).
    if (options_.system_wide) (void)sink_->processes().ScanAll(/*only_unknown=*/true);
    // Attaching to running tasks can take a while (thousands of threads): say when it starts.
    Notice(absl::StrCat("recording: ", events_.size(), events_.size() == 1 ? " event" : " events",
                        " on ", readers_.size(), readers_.size() == 1 ? " cpu" : " cpus",
                        "; Ctrl-C to stop"));
  }

  itimerspec its{};
  its.it_interval.tv_nsec = kDrainIntervalNs;
  its.it_value.tv_nsec = kDrainIntervalNs;
  timerfd_settime(timer_fd_.get(), 0, &its, nullptr);
  const uint64_t deadline_ns =
      options_.duration_s > 0 ? start_ns + uint64_t(options_.duration_s * 1e9) : 0;

  bool stop = false;
  int ticks = 0;
  const int flush_ticks =
      options_.flush_interval_ms
          ? std::max<int>(1, int(options_.flush_interval_ms * 1'000'000ull / kDrainIntervalNs))
          : kFlushTicks;
  epoll_event events[16];
  while (!stop) {
    int timeout_ms = -1;
    if (deadline_ns) {
      uint64_t now = MonotonicNs();
      if (now >= deadline_ns) {
        summary.end = RecordSummary::End::kDuration;
        break;
      }
      timeout_ms = int((deadline_ns - now + 999'999) / 1'000'000);
    }
    int n = epoll_wait(epoll_fd_.get(), events, 16, timeout_ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      write_status_ = ErrnoError(errno, "epoll_wait");
      break;
    }
    bool flush = false;
    for (int i = 0; i < n; ++i) {
      uint64_t tag = events[i].data.u64;
      if (tag == kTagStop) {
        stop = true;
        summary.end = RecordSummary::End::kStopRequest;
      } else if (tag == kTagTimer) {
        uint64_t expirations;
        while (read(timer_fd_.get(), &expirations, sizeof(expirations)) > 0) {
        }
        if (++ticks >= flush_ticks) {
          ticks = 0;
          flush = true;
        }
      } else if (tag == kTagSnapshot) {
        uint64_t requests;
        while (read(snapshot_fd_.get(), &requests, sizeof(requests)) > 0) {
        }
        TakeSnapshot(&summary, start_ns);
      } else if (tag & kTagPidFd) {
        size_t index = tag & ~kTagPidFd;
        epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, targets_.fd(index), nullptr);
        if (targets_.Exited(index)) stop = true;
      } else if (tag & kTagRing) {
        CpuReader& r = *readers_[tag & ~kTagRing];
        if ((events[i].events & (EPOLLHUP | EPOLLERR)) && r.in_epoll) {
          // The leader's task is gone: it will never wake us again, but other tasks' events
          // may still write into its ring, which the periodic drain keeps reading.
          epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, r.leader_fd, nullptr);
          r.in_epoll = false;
        }
      } else if (tag & kTagTrigger) {
        CpuReader& r = *readers_[tag & ~kTagTrigger];
        if ((events[i].events & (EPOLLHUP | EPOLLERR)) && r.trigger_in_epoll) {
          epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, r.trigger_leader_fd, nullptr);
          r.trigger_in_epoll = false;
        }
      }
    }
    DrainAll();
    // Every trigger ring is read at each wakeup (a hit's, or the drain timer's).
    if (!trigger_types_.empty()) TakeTriggeredSnapshots(&summary, start_ns);
    // Everything up to now is read: tasks that exited a second ago or more are done with.
    if (flush) sink_->processes().ForgetExited();
    if (flush && write_status_.ok()) {
      write_status_ = sink_->Flush();
      if (write_status_.ok()) sink_->MaybeRenewStackMap();
      // The disk is full (or gone): nothing more can be kept, so stop as Ctrl-C would.
      if (!write_status_.ok()) {
        summary.end = RecordSummary::End::kWriteFailed;
        stop = true;
      }
    }
  }

  // Stop sampling, then read what is left. Threads still off the CPU are charged up to now.
  const uint64_t stop_ns = MonotonicNs();
  for (PerfEvent& ev : events_) (void)ev.Disable();
  // A stop request that came with the targets' exit (Ctrl-C in a terminal signals the
  // command too, and its exit may be seen first) still ended the run.
  const bool targets_exited = targets_.AllExited();
  if (summary.end == RecordSummary::End::kTargetsExited) {
    uint64_t requests = 0;
    bool requested = read(stop_fd_.get(), &requests, sizeof(requests)) == sizeof(requests);
    // The terminal's SIGINT reaches the command and wick at once: the command's death can be
    // read before wick's own handler has run. When a stop signal killed the command, give
    // that handler a moment to say whether wick was asked to stop too.
    if (!requested && launcher_ && targets_exited &&
        Launcher::EndedByStopSignal(launcher_->Wait())) {
      pollfd p{stop_fd_.get(), POLLIN, 0};
      requested = poll(&p, 1, kStopSignalGraceMs) == 1 &&
                  read(stop_fd_.get(), &requests, sizeof(requests)) == sizeof(requests);
    }
    if (requested) summary.end = RecordSummary::End::kStopRequest;
  }
  if (launcher_ && !launcher_->reaped() && !targets_exited) {
    // Ended by time or signal while the command still runs: end it, as perf does.
    launcher_->Terminate();
    summary.command_stopped = true;
  }
  if (launcher_) summary.command_wait_status = launcher_->Wait();
  // The same Ctrl-C (or SIGTERM to the group) that stopped wick ended the command.
  if (summary.end == RecordSummary::End::kStopRequest &&
      Launcher::EndedByStopSignal(summary.command_wait_status)) {
    summary.command_stopped = true;
  }
  DrainAll(/*final=*/true);
  sink_->FinishOffCpu(stop_ns);
  summary.off_cpu = options_.off_cpu;
  const uint64_t duration_ns = MonotonicNs() - start_ns;
  summary.overwrite = options_.overwrite;
  // Hits read only now (the target hit and exited at once) still get their snapshots.
  if (!trigger_types_.empty()) TakeTriggeredSnapshots(&summary, start_ns);
  if (options_.overwrite) SnapshotBackwardRings(*sink_, &summary, /*resume=*/false);

  for (auto& r : readers_) {
    sink_->stats().Add(Stat::kMalformedRecords, r->ring->ring().corrupt());
    if (r->trigger) sink_->stats().Add(Stat::kMalformedRecords, r->trigger->ring().corrupt());
  }
  if (write_status_.ok()) {
    write_status_ = sink_->Flush();
  } else {
    (void)sink_->Flush();  // fails at once; hands the writer the samples the disk lost
  }
  absl::Status finish = sink_->Finish(duration_ns);
  if (write_status_.ok()) write_status_ = finish;
  // After a failed write the writer has cut the file back to its last complete chunk: the run
  // still reports everything, and says what the file holds and what the disk lost.
  if (!write_status_.ok()) summary.write_error = std::string(write_status_.message());
  summary.samples_written = sink_->writer().SamplesWritten();
  summary.samples_not_written = sink_->writer().SamplesNotWritten();

  summary.stats = sink_->stats();
  summary.duration_ns = duration_ns;
  summary.output_bytes = sink_->writer().BytesWritten();
  summary.distinct_stacks = sink_->stacks().size();
  for (uint32_t i = 0; i < types_.size(); ++i) {
    summary.samples_by_event.push_back({types_[i].name, sink_->samples(i)});
  }
  rusage ru{};
  if (getrusage(RUSAGE_SELF, &ru) == 0) {
    summary.self_cpu_ns =
        (uint64_t(ru.ru_utime.tv_sec) + uint64_t(ru.ru_stime.tv_sec)) * 1'000'000'000 +
        (uint64_t(ru.ru_utime.tv_usec) + uint64_t(ru.ru_stime.tv_usec)) * 1'000;
  }
  return summary;
}

}  // namespace
absl::StatusOr<std::unique_ptr<RecordSession>> RecordSession::Prepare(
    const RecordOptions& options) {
  auto session = std::make_unique<Session>(options);
  WICK_RETURN_IF_ERROR(session->Init());
  return std::unique_ptr<RecordSession>(std::move(session));
}

}  // namespace wick
