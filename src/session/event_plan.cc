#include "event_plan.h"

#include <fcntl.h>

#include <algorithm>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "proc_util.h"
#include "wick/status.h"

namespace wick {
namespace {

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif

// The process (thread group) a thread belongs to, from /proc/TID/status.
absl::StatusOr<pid_t> ThreadGroupOf(pid_t tid) {
  std::ifstream in(absl::StrCat("/proc/", tid, "/status"));
  if (!in) return absl::NotFoundError(absl::StrCat("no thread with tid ", tid, " (not in /proc)"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Tgid:", 0) == 0) {
      int32_t tgid;
      if (absl::SimpleAtoi(absl::string_view(line).substr(5), &tgid)) return tgid;
    }
  }
  return absl::NotFoundError(absl::StrCat("no thread group for tid ", tid));
}

}  // namespace

absl::Status EventPlanner::Plan(const EventRequest& request, const AttrPolicy& policy,
                                std::vector<PlannedEvent>* out) {
  WICK_ASSIGN_OR_RETURN(EventSpec spec, ParseEventSpec(request.spec));
  auto not_a_tracepoint = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("--filter '", request.filter, "' follows -e ", request.spec,
                     ", which is not a tracepoint; filters apply to tracepoints (SYSTEM:EVENT)"));
  };
  auto make_attr = [&](const ResolvedEvent& event) -> absl::StatusOr<perf_event_attr> {
    if (policy.sampling) return MakeSamplingAttr(event, spec, *policy.sampling, caps_);
    return MakeCountingAttr(event, spec);
  };
  if (spec.kind == EventKind::kBuiltin) {
    if (!request.filter.empty()) return not_a_tracepoint();
    WICK_ASSIGN_OR_RETURN(ResolvedEvent event, ResolveEvent(spec, caps_));
    if (!event.notice.empty() && notice_) notice_(event.notice);
    PlannedEvent planned;
    planned.name = event.name;
    planned.kind = spec.kind;
    WICK_ASSIGN_OR_RETURN(planned.attr, make_attr(event));
    planned.event = std::move(event);
    out->push_back(std::move(planned));
    return absl::OkStatus();
  }
  // Only tracepoints need tracefs; probes come from their PMUs.
  if (spec.kind == EventKind::kTracepoint) WICK_RETURN_IF_ERROR(MountTracefs().status());
  WICK_ASSIGN_OR_RETURN(std::vector<ResolvedTraceEvent> resolved,
                        ResolveTraceEvents(spec, caps_, tracefs()));
  for (ResolvedTraceEvent& r : resolved) {
    if (!request.filter.empty() && !r.is_tracepoint()) return not_a_tracepoint();
    PlannedEvent planned;
    planned.name = r.event.name;
    planned.kind = r.kind;
    planned.event = r.event;
    planned.filter = request.filter;
    if (r.is_tracepoint()) {
      size_t colon = r.event.name.find(':');
      planned.tracepoint =
          TracepointName{r.event.name.substr(0, colon), r.event.name.substr(colon + 1)};
    }
    WICK_ASSIGN_OR_RETURN(planned.attr, make_attr(r.event));
    planned.trace = std::move(r);
    ApplyTraceEvent(planned.trace, &planned.attr);
    out->push_back(std::move(planned));
  }
  return absl::OkStatus();
}

absl::StatusOr<const Tracefs*> EventPlanner::MountTracefs() {
  if (!tracefs_) {
    WICK_ASSIGN_OR_RETURN(Tracefs tracefs, Tracefs::FindOrMount());
    tracefs_.emplace(std::move(tracefs));
  }
  return &*tracefs_;
}

absl::StatusOr<Targets> PlanTargets(const TargetOptions& options,
                                    const std::function<absl::Status(pid_t)>& on_process) {
  Targets targets;
  if (options.system_wide) {
    targets.tasks.push_back(-1);
  } else if (!options.pids.empty()) {
    for (pid_t pid : options.pids) {
      WICK_ASSIGN_OR_RETURN(std::vector<pid_t> tids, ListThreads(pid));
      targets.tasks.insert(targets.tasks.end(), tids.begin(), tids.end());
      if (on_process) WICK_RETURN_IF_ERROR(on_process(pid));
      targets.watch.push_back({pid, 0});
    }
  } else if (!options.tids.empty()) {
    for (pid_t tid : options.tids) {
      WICK_ASSIGN_OR_RETURN(pid_t tgid, ThreadGroupOf(tid));
      if (on_process) WICK_RETURN_IF_ERROR(on_process(tgid));
      targets.tasks.push_back(tid);
      targets.watch.push_back({tid, PIDFD_THREAD});
    }
  } else if (!options.command.empty()) {
    WICK_ASSIGN_OR_RETURN(Launcher launcher, Launcher::Start(options.command));
    targets.tasks.push_back(launcher.pid());
    targets.watch.push_back({launcher.pid(), 0});
    targets.launcher.emplace(std::move(launcher));
  } else {
    return absl::InvalidArgumentError(options.nothing_error);
  }
  return targets;
}

bool ExitedSinceListed(const absl::Status& open_status, pid_t task,
                       const std::vector<pid_t>& pids) {
  return absl::IsNotFound(open_status) && !pids.empty() &&
         std::find(pids.begin(), pids.end(), task) == pids.end();
}

TargetWatch TargetWatch::Open(const std::vector<std::pair<pid_t, unsigned>>& watch) {
  TargetWatch w;
  for (auto [pid, flags] : watch) {
    ScopedFd fd = PidFdOpen(pid, flags);
    if (!fd) continue;
    w.fds_.push_back(std::move(fd));
    ++w.alive_;
  }
  return w;
}

bool TargetWatch::Exited(size_t i) {
  if (fds_[i]) {
    fds_[i].reset();
    --alive_;
  }
  return alive_ == 0;
}

}  // namespace wick
