#include "wick/stat_session.h"

#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <optional>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "event_plan.h"
#include "launcher.h"
#include "proc_util.h"
#include "wick/event_spec.h"
#include "wick/kernel_caps.h"
#include "wick/perf_event.h"
#include "wick/status.h"

namespace wick {
namespace {

bool IsClock(const ResolvedEvent& ev) {
  return ev.type == PERF_TYPE_SOFTWARE &&
         (ev.config == PERF_COUNT_SW_CPU_CLOCK || ev.config == PERF_COUNT_SW_TASK_CLOCK);
}

class StatSessionImpl : public StatSession {
 public:
  explicit StatSessionImpl(const StatOptions& options) : options_(options) {}

  absl::Status Init();
  int StopFd() const override { return options_.stop_fd >= 0 ? options_.stop_fd : stop_fd_.get(); }
  bool StopRequested() const override;
  absl::Status Start() override;
  bool Wait(int timeout_ms) override;
  absl::StatusOr<std::vector<CounterReading>> Read() override;
  int Finish() override;
  uint64_t ElapsedNs() const override { return (finished_ ? end_ns_ : MonotonicNs()) - start_ns_; }
  bool StoppedCommand() const override { return stopped_command_; }

 private:
  struct Counter {
    PlannedEvent event;  // keeps a probe's config1 string alive
    std::vector<PerfEvent> fds;
  };
  absl::Status OpenCounter(Counter counter, const std::vector<std::pair<pid_t, int>>& targets);
  StatOptions options_;
  std::vector<Counter> counters_;
  std::optional<Launcher> launcher_;
  TargetWatch watch_;
  ScopedFd stop_fd_;
  uint64_t start_ns_ = 0;
  uint64_t end_ns_ = 0;
  bool finished_ = false;
  bool stopped_command_ = false;
  int wait_status_ = -1;
};

absl::Status StatSessionImpl::Init() {
  if (options_.events.empty()) return absl::InvalidArgumentError("no event to count (-e)");
  WICK_ASSIGN_OR_RETURN(KernelCaps caps, KernelCaps::Probe());

  TargetOptions who;
  who.system_wide = options_.system_wide;
  who.pids = options_.pids;
  who.command = options_.command;
  who.nothing_error = "nothing to count: give -p PID, -a, or -- COMMAND";
  WICK_ASSIGN_OR_RETURN(Targets planned, PlanTargets(who));
  launcher_ = std::move(planned.launcher);
  // Targets: (pid, cpu) pairs each event is opened on.
  std::vector<std::pair<pid_t, int>> targets;
  for (pid_t task : planned.tasks) {
    if (task >= 0) {
      targets.push_back({task, -1});
      continue;
    }
    for (int cpu : caps.online_cpus) targets.push_back({-1, cpu});
  }

  EventPlanner planner(caps, options_.notice);
  for (const std::string& text : options_.events) {
    // Tracepoint globs bring one counter each.
    std::vector<PlannedEvent> events;
    WICK_RETURN_IF_ERROR(planner.Plan({text, ""}, AttrPolicy::Count(), &events));
    for (PlannedEvent& event : events) {
      WICK_RETURN_IF_ERROR(OpenCounter(Counter{std::move(event), {}}, targets));
    }
  }

  if (options_.stop_fd < 0) {
    stop_fd_ = ScopedFd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!stop_fd_) return ErrnoError(errno, "eventfd");
  }
  watch_ = TargetWatch::Open(planned.watch);
  return absl::OkStatus();
}

absl::Status StatSessionImpl::OpenCounter(Counter counter,
                                          const std::vector<std::pair<pid_t, int>>& targets) {
  perf_event_attr attr = counter.event.attr;
  attr.read_format = PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
  attr.disabled = 1;
  attr.inherit = options_.system_wide ? 0 : 1;
  attr.enable_on_exec = launcher_ ? 1 : 0;
  WICK_RETURN_IF_ERROR(ReserveFileDescriptors(
      targets.size(), absl::StrCat(counter.event.name, " on ", targets.size(),
                                   options_.system_wide ? " cpus" : " threads")));
  for (auto [pid, cpu] : targets) {
    std::string what = pid < 0 ? absl::StrCat(counter.event.name, " on cpu ", cpu)
                               : absl::StrCat(counter.event.name, " for pid ", pid);
    auto ev = PerfEvent::Open(attr, pid, cpu, -1, what);
    if (!ev.ok()) {
      // A thread that exited since the /proc scan is not an error.
      if (ExitedSinceListed(ev.status(), pid, options_.pids)) continue;
      return ev.status();
    }
    counter.fds.push_back(std::move(*ev));
  }
  counters_.push_back(std::move(counter));
  return absl::OkStatus();
}

absl::Status StatSessionImpl::Start() {
  start_ns_ = MonotonicNs();
  if (launcher_) return launcher_->Release();
  for (Counter& c : counters_) {
    for (PerfEvent& ev : c.fds) WICK_RETURN_IF_ERROR(ev.Enable());
  }
  return absl::OkStatus();
}

bool StatSessionImpl::Wait(int timeout_ms) {
  const uint64_t deadline =
      options_.duration_s > 0 ? start_ns_ + uint64_t(options_.duration_s * 1e9) : 0;
  if (deadline != 0) {
    uint64_t now = MonotonicNs();
    if (now >= deadline) return true;
    int left = int((deadline - now + 999'999) / 1'000'000);
    if (timeout_ms < 0 || left < timeout_ms) timeout_ms = left;
  }
  std::vector<pollfd> fds;
  fds.push_back({StopFd(), POLLIN, 0});
  for (size_t i = 0; i < watch_.size(); ++i) fds.push_back({watch_.fd(i), POLLIN, 0});
  int n;
  do {
    n = poll(fds.data(), fds.size(), timeout_ms);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) {
    return deadline != 0 && MonotonicNs() >= deadline;
  }
  if (fds[0].revents) return true;
  for (size_t i = 1; i < fds.size(); ++i) {
    if (fds[i].revents && watch_.watching(i - 1)) watch_.Exited(i - 1);
  }
  return watch_.AllExited();
}

bool StatSessionImpl::StopRequested() const {
  // Polled, not read: the request stays for the caller's next run, and for its own check.
  pollfd p = {StopFd(), POLLIN, 0};
  int n;
  do {
    n = poll(&p, 1, 0);
  } while (n < 0 && errno == EINTR);
  return n > 0 && (p.revents & POLLIN);
}

}  // namespace

void AccumulateCounter(uint64_t value, uint64_t enabled, uint64_t running, CounterReading* r) {
  r->raw += value;
  r->time_enabled += enabled;
  r->time_running += running;
  // Each counter is scaled by its own share of time on the PMU, before summing: one CPU's
  // counter may have been multiplexed while another's ran all along.
  if (running != 0 && running < enabled) {
    r->value += double(value) * double(enabled) / double(running);
    r->scaled = true;
  } else {
    r->value += double(value);
  }
  r->not_counted = r->time_running == 0 && r->raw == 0 && r->time_enabled > 0;
}

CounterReading IntervalOf(const CounterReading& now, const CounterReading& before) {
  // Counters only grow; a smaller `now` (not one reading of the same counters) gives 0.
  auto since = [](uint64_t a, uint64_t b) { return a > b ? a - b : 0; };
  CounterReading r;
  r.event = now.event;
  r.unit = now.unit;
  r.raw = since(now.raw, before.raw);
  r.time_enabled = since(now.time_enabled, before.time_enabled);
  r.time_running = since(now.time_running, before.time_running);
  // The interval's own estimate, as perf's -I: scaled by its own share of time on the PMU
  // (summed over the event's counters), not the difference of two estimates of the totals,
  // which can go down when a multiplexed counter ran and counted little.
  r.scaled = r.time_running != 0 && r.time_running < r.time_enabled;
  r.value =
      r.scaled ? double(r.raw) * double(r.time_enabled) / double(r.time_running) : double(r.raw);
  r.not_counted = r.time_running == 0 && r.raw == 0 && r.time_enabled > 0;
  return r;
}

double Spread::NoisePct() const {
  if (runs < 2 || mean == 0) return 0;
  return 100.0 * stddev / std::sqrt(double(runs)) / std::fabs(mean);
}

Spread SpreadOf(const std::vector<double>& samples) {
  Spread s;
  s.runs = samples.size();
  if (samples.empty()) return s;
  double sum = 0;
  for (double v : samples) sum += v;
  s.mean = sum / double(samples.size());
  if (samples.size() < 2) return s;
  double squares = 0;
  for (double v : samples) squares += (v - s.mean) * (v - s.mean);
  s.stddev = std::sqrt(squares / double(samples.size() - 1));
  return s;
}

std::vector<CounterSummary> SummarizeRuns(const std::vector<std::vector<CounterReading>>& runs) {
  std::vector<CounterSummary> out;
  if (runs.empty()) return out;
  const double n = double(runs.size());
  for (size_t i = 0; i < runs[0].size(); ++i) {
    CounterSummary s;
    s.mean.event = runs[0][i].event;
    s.mean.unit = runs[0][i].unit;
    s.mean.not_counted = true;
    double raw = 0, enabled = 0, running = 0;
    std::vector<double> values;
    for (const std::vector<CounterReading>& run : runs) {
      const CounterReading& r = run.at(i);
      raw += double(r.raw);
      enabled += double(r.time_enabled);
      running += double(r.time_running);
      values.push_back(r.value);
      s.mean.scaled |= r.scaled;
      s.mean.not_counted &= r.not_counted;
    }
    s.mean.raw = uint64_t(std::llround(raw / n));
    s.mean.time_enabled = uint64_t(std::llround(enabled / n));
    s.mean.time_running = uint64_t(std::llround(running / n));
    s.value = SpreadOf(values);
    s.mean.value = s.value.mean;
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<CounterMetric> MetricsOf(const std::vector<CounterReading>& readings,
                                     double elapsed_ns) {
  auto is_clock = [](const CounterReading& r) { return r.unit == "ns"; };
  // perf's shadow stat: counts are per second of the clock counted with them.
  const CounterReading* clock = nullptr;
  for (const char* name : {"task-clock", "cpu-clock"}) {
    for (const CounterReading& r : readings) {
      if (!clock && is_clock(r) && r.event == name && !r.not_counted && r.value > 0) clock = &r;
    }
  }
  std::vector<CounterMetric> out;
  for (const CounterReading& r : readings) {
    CounterMetric m;
    if (r.not_counted) {
      // Nothing to compare.
    } else if (is_clock(r)) {
      if (elapsed_ns > 0) {
        m.kind = CounterMetric::Kind::kCpusUtilized;
        m.value = r.value / elapsed_ns;
      }
    } else if (clock) {
      m.kind = CounterMetric::Kind::kPerSecond;
      m.value = r.value * 1e9 / clock->value;
      m.per = clock->event;
    } else if (elapsed_ns > 0) {
      m.kind = CounterMetric::Kind::kPerSecond;
      m.value = r.value * 1e9 / elapsed_ns;
      m.per = "elapsed";
    }
    out.push_back(std::move(m));
  }
  return out;
}

namespace {

absl::StatusOr<std::vector<CounterReading>> StatSessionImpl::Read() {
  std::vector<CounterReading> out;
  for (Counter& c : counters_) {
    CounterReading r;
    r.event = c.event.name;
    r.unit = IsClock(c.event.event) ? "ns" : "";
    for (PerfEvent& ev : c.fds) {
      uint64_t values[3] = {};
      ssize_t n;
      do {
        n = read(ev.fd(), values, sizeof(values));
      } while (n < 0 && errno == EINTR);
      if (n != sizeof(values)) {
        return ErrnoError(n < 0 ? errno : EIO, absl::StrCat("reading ", ev.description()));
      }
      AccumulateCounter(values[0], values[1], values[2], &r);
    }
    out.push_back(std::move(r));
  }
  return out;
}

int StatSessionImpl::Finish() {
  if (finished_) return wait_status_;
  finished_ = true;
  end_ns_ = MonotonicNs();
  for (Counter& c : counters_) {
    for (PerfEvent& ev : c.fds) (void)ev.Disable();
  }
  if (launcher_) {
    if (!launcher_->reaped()) {
      // Still running when the duration or a signal ended the count: end it, as perf does.
      if (watch_.alive() > 0) {
        launcher_->Terminate();
        stopped_command_ = true;
      }
    }
    wait_status_ = launcher_->Wait();
    // The same Ctrl-C (or SIGTERM to the group) that stopped wick ended the command; its
    // exit may have been seen first.
    if (Launcher::EndedByStopSignal(wait_status_) && StopRequested()) stopped_command_ = true;
  }
  return wait_status_;
}

}  // namespace

absl::StatusOr<std::unique_ptr<StatSession>> StatSession::Prepare(const StatOptions& options) {
  auto session = std::make_unique<StatSessionImpl>(options);
  WICK_RETURN_IF_ERROR(session->Init());
  return std::unique_ptr<StatSession>(std::move(session));
}

}  // namespace wick
