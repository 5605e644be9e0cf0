// The one layer that plans a run's events and the tasks they are opened for, shared by
// `record` (and `top`, a record session) and `stat`: they differ in how they open and read
// events (rings or counters), not in what an -e or a -p means.
//
// EventPlanner turns each -e request (spec + optional --filter) into PlannedEvents: a builtin
// event resolved against KernelCaps, or the trace events a spec names (a tracepoint glob gives
// one each; probes are resolved through their PMUs), each with the attr of the caller's
// AttrPolicy: sampled (MakeSamplingAttr) or counted (MakeCountingAttr), completed for trace
// events by ApplyTraceEvent. A notice (the cycles → cpu-clock fallback, user space only) goes
// to the planner's callback as the event is planned. The planner owns the Tracefs, found or
// mounted at the first tracepoint, and lends it; a PlannedEvent owns what its attr points at
// (config1's probe string), so it must outlive the perf_event_open() of that attr (copies
// share it).
//
// PlanTargets() turns -a / -p / -t / COMMAND into the tasks to open events for (starting the
// command, held before exec) and the targets whose exit ends the run; TargetWatch holds their
// pidfds. Not thread-safe. Errors are one line naming the spec, filter or pid: those of
// ParseEventSpec, ResolveEvent, ResolveTraceEvents, MakeSamplingAttr, Tracefs::FindOrMount and
// ListThreads, and InvalidArgument for a --filter after an event that is not a tracepoint.
#ifndef WICK_SRC_SESSION_EVENT_PLAN_H_
#define WICK_SRC_SESSION_EVENT_PLAN_H_

#include <linux/perf_event.h>
#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "launcher.h"
#include "wick/event_spec.h"
#include "wick/kernel_caps.h"
#include "wick/perf_event.h"
#include "wick/scoped.h"
#include "wick/session.h"
#include "wick/trace_event.h"
#include "wick/tracefs.h"

namespace wick {

// One event the run opens on every target: what it is, and the attr to open it with.
struct PlannedEvent {
  std::string name;  // as resolved: "cpu-clock" for a cycles fallback, "sched:sched_switch"
  EventKind kind = EventKind::kBuiltin;      // of the spec that brought it
  ResolvedEvent event;                       // type, config, name (trace events: trace.event)
  ResolvedTraceEvent trace;                  // trace events only: format, config1's string
  std::optional<TracepointName> tracepoint;  // tracepoints only
  std::string filter;                        // --filter, tracepoints only
  perf_event_attr attr{};

  bool is_trace() const { return kind != EventKind::kBuiltin; }
};

// How a planned event's attr is made: sampled (record, top) or counted (stat).
struct AttrPolicy {
  static AttrPolicy Sample(const SamplingOptions& options) { return AttrPolicy{options}; }
  static AttrPolicy Count() { return AttrPolicy{std::nullopt}; }
  std::optional<SamplingOptions> sampling;  // empty: MakeCountingAttr
};

class EventPlanner {
 public:
  // `caps` is borrowed and must outlive the planner; `notice` may be empty.
  EventPlanner(const KernelCaps& caps, std::function<void(const std::string&)> notice)
      : caps_(caps), notice_(std::move(notice)) {}

  // Appends the events of one -e request to *out, in the order tracefs lists a glob's.
  absl::Status Plan(const EventRequest& request, const AttrPolicy& policy,
                    std::vector<PlannedEvent>* out);

  // The tracefs of the run, found or mounted on first use (a plan with a tracepoint has it).
  absl::StatusOr<const Tracefs*> MountTracefs();
  // The tracefs if it was needed so far, else nullptr.
  const Tracefs* tracefs() const { return tracefs_ ? &*tracefs_ : nullptr; }

 private:
  const KernelCaps& caps_;
  std::function<void(const std::string&)> notice_;
  std::optional<Tracefs> tracefs_;
};

// Who a run's events are opened for, as the user named them.
struct TargetOptions {
  bool system_wide = false;
  std::vector<pid_t> pids;  // -p: every thread of each process
  std::vector<pid_t> tids;  // -t: those threads only
  std::vector<std::string> command;
  // InvalidArgument message when none of the above is given.
  std::string nothing_error;
};

struct Targets {
  // The tasks to open events for: threads, or the command's pid (its children are inherited);
  // {-1} under -a (every task, once per CPU).
  std::vector<pid_t> tasks;
  // Targets whose exit ends the run: (pid, pidfd_open flags).
  std::vector<std::pair<pid_t, unsigned>> watch;
  // The command, started and held before exec until Launcher::Release().
  std::optional<Launcher> launcher;
};

// `on_process`, when given, is called with each -p process once its threads are listed, and
// with the process of each -t thread, e.g. to scan its mappings; its error ends the plan.
absl::StatusOr<Targets> PlanTargets(const TargetOptions& options,
                                    const std::function<absl::Status(pid_t)>& on_process = {});

// Whether an open of `task` failed only because the thread exited since /proc listed it: a
// thread of a -p process (`pids`), not the process itself. Such a task is skipped.
bool ExitedSinceListed(const absl::Status& open_status, pid_t task, const std::vector<pid_t>& pids);

// The pidfds of the watched targets; readable when a target exits. A target the kernel gives
// no pidfd for is not watched (the run then ends by time or signal).
class TargetWatch {
 public:
  static TargetWatch Open(const std::vector<std::pair<pid_t, unsigned>>& watch);

  size_t size() const { return fds_.size(); }
  int fd(size_t i) const { return fds_[i].get(); }
  bool watching(size_t i) const { return bool(fds_[i]); }
  // Target i exited: closes its pidfd. True once every watched target has exited.
  bool Exited(size_t i);
  // Watched targets that have not exited yet.
  size_t alive() const { return alive_; }
  // True when some target was watched and every one has exited.
  bool AllExited() const { return !fds_.empty() && alive_ == 0; }

 private:
  std::vector<ScopedFd> fds_;
  size_t alive_ = 0;
};

}  // namespace wick

#endif  // WICK_SRC_SESSION_EVENT_PLAN_H_
