#include "wick/perf_event.h"

#include <dirent.h>
#include <errno.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "wick/status.h"

namespace wick {
namespace {

constexpr char kMaxSampleRatePath[] = "/proc/sys/kernel/perf_event_max_sample_rate";

perf_event_attr BaseAttr(const ResolvedEvent& event, const EventSpec& modifiers) {
  perf_event_attr attr;
  std::memset(&attr, 0, sizeof(attr));
  attr.size = sizeof(attr);
  attr.type = event.type;
  attr.config = event.config;
  attr.exclude_user = modifiers.exclude_user;
  attr.exclude_kernel = modifiers.exclude_kernel || event.user_only;
  // As perf does for :u / :k, leave the hypervisor out whenever a side was chosen.
  attr.exclude_hv = attr.exclude_user || attr.exclude_kernel;
  return attr;
}

std::string TargetText(pid_t pid, int cpu) {
  return absl::StrCat(pid == -1  ? std::string("all processes")
                      : pid == 0 ? std::string("pid 0 (this process)")
                                 : absl::StrCat("pid ", pid),
                      cpu == -1 ? std::string(", any cpu") : absl::StrCat(", cpu ", cpu));
}

// Words for one errno of perf_event_open: the likely cause on this machine and its fix.
// Re-reads KernelCaps: this runs only on the error path, where the current sysctl values
// matter more than a cached probe (the kernel lowers max_sample_rate by itself).
std::string OpenErrorHint(int err, const perf_event_attr& attr, std::string_view description,
                          pid_t pid, int cpu) {
  absl::StatusOr<KernelCaps> probed = KernelCaps::Probe();
  KernelCaps caps = probed.ok() ? *std::move(probed) : KernelCaps();
  if (!probed.ok()) caps.is_root = geteuid() == 0;
  switch (err) {
    case EACCES:
    case EPERM:
      if (pid == -1 && !caps.PerfmonCapable()) {
        // System-wide events are refused above paranoid 0 whatever the event.
        return absl::StrCat(
            "system-wide profiling (-a) needs root or CAP_PERFMON, or "
            "sysctl kernel.perf_event_paranoid=0 (it is ",
            caps.perf_event_paranoid, ")");
      }
      if (attr.type == PERF_TYPE_TRACEPOINT && !caps.PerfmonCapable() &&
          caps.perf_event_paranoid > -1) {
        return absl::StrCat(
            "tracepoints with raw data need root or CAP_PERFMON, or sysctl "
            "kernel.perf_event_paranoid=-1 (it is ",
            caps.perf_event_paranoid, ")");
      }
      return PermissionHint(caps);
    case ESRCH:
      return absl::StrCat("no process with pid ", pid, " (did it exit?)");
    case ENOENT:
    case EOPNOTSUPP:
      return absl::StrCat("event ", Sv(description), " is not supported by this kernel/hardware");
    case ENODEV:
      if (cpu >= 0 && probed.ok() &&
          !std::binary_search(caps.online_cpus.begin(), caps.online_cpus.end(), cpu)) {
        return absl::StrCat("cpu ", cpu, " is not online");
      }
      return absl::StrCat("event ", Sv(description), " is not supported by this kernel/hardware");
    case EINVAL:
      if (attr.freq && attr.sample_freq > caps.perf_event_max_sample_rate) {
        return absl::StrCat("sampling frequency ", attr.sample_freq, " Hz exceeds ",
                            kMaxSampleRatePath, " (", caps.perf_event_max_sample_rate,
                            "; the kernel lowers it when sampling takes too long); ask for less "
                            "or raise it: sysctl kernel.perf_event_max_sample_rate=",
                            attr.sample_freq);
      }
      if (cpu >= 0 && probed.ok() &&
          !std::binary_search(caps.online_cpus.begin(), caps.online_cpus.end(), cpu)) {
        return absl::StrCat("cpu ", cpu, " is not online");
      }
      return "the kernel rejected perf_event_attr (an option this kernel does not support?)";
    case EMFILE: {
      rlimit limit{};
      getrlimit(RLIMIT_NOFILE, &limit);
      return absl::StrCat("wick has as many files open as RLIMIT_NOFILE allows (", limit.rlim_cur,
                          "); raise it (ulimit -n) or profile fewer threads");
    }
    case ENFILE:
      return "the system's limit of open files (sysctl fs.file-max) is reached";
    case EBUSY:
      return "the PMU is in exclusive use by another event (another profiler running?)";
    case E2BIG:
      return absl::StrCat("this kernel is older than wick's perf_event_attr (size ", attr.size,
                          ")");
    case EOVERFLOW:
      return absl::StrCat("callchain depth ", attr.sample_max_stack,
                          " exceeds kernel.perf_event_max_stack (", caps.perf_event_max_stack,
                          "); raise it with sysctl kernel.perf_event_max_stack=",
                          attr.sample_max_stack, " or ask for less");
    default:
      return "";
  }
}

absl::Status NotOpen() { return absl::FailedPreconditionError("perf event is not open"); }

}  // namespace

absl::StatusOr<perf_event_attr> MakeSamplingAttr(const ResolvedEvent& event,
                                                 const EventSpec& modifiers,
                                                 const SamplingOptions& options,
                                                 const KernelCaps& caps) {
  if ((options.frequency == 0) == (options.period == 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampling ", event.name, " needs exactly one of a frequency or a period (got ",
                     options.frequency == 0 ? "neither" : "both", ")"));
  }
  if (options.frequency > caps.perf_event_max_sample_rate) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sampling frequency ", options.frequency, " Hz exceeds kernel.perf_event_max_sample_rate (",
        kMaxSampleRatePath, " is ", caps.perf_event_max_sample_rate,
        "); ask for less or raise it: sysctl kernel.perf_event_max_sample_rate=",
        options.frequency));
  }
  if (options.max_stack > caps.perf_event_max_stack) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max-stack ", options.max_stack, " exceeds kernel.perf_event_max_stack (",
        caps.perf_event_max_stack, "); raise it with sysctl kernel.perf_event_max_stack=",
        options.max_stack, " or ask for less"));
  }
  if (options.max_stack > std::numeric_limits<decltype(perf_event_attr::sample_max_stack)>::max()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max-stack ", options.max_stack, " exceeds the kernel ABI limit of ",
                     std::numeric_limits<decltype(perf_event_attr::sample_max_stack)>::max()));
  }

  perf_event_attr attr = BaseAttr(event, modifiers);
  if (options.frequency != 0) {
    attr.freq = 1;
    attr.sample_freq = options.frequency;
  } else {
    attr.sample_period = options.period;
  }
  attr.sample_type = PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME |
                     PERF_SAMPLE_CPU | PERF_SAMPLE_PERIOD;
  if (options.callchain) {
    attr.sample_type |= PERF_SAMPLE_CALLCHAIN;
    attr.sample_max_stack = static_cast<uint16_t>(options.max_stack);
  }
  // Software events have no skid to reduce; precise_ip > 0 fails on them and on VMs.
  attr.precise_ip = 0;
  // One clock for samples of every CPU and for the rest of wick (clock_gettime()).
  attr.use_clockid = 1;
  attr.clockid = CLOCK_MONOTONIC;
  attr.inherit = options.inherit;
  attr.enable_on_exec = options.enable_on_exec;
  attr.disabled = options.disabled;
  if (options.track_tasks) {
    // mmap2 extends (and needs) mmap; mmap_data stays 0: data mappings don't hold code.
    attr.mmap = 1;
    attr.mmap2 = 1;
    attr.comm = 1;
    attr.comm_exec = 1;
    attr.task = 1;
    attr.mmap_data = 0;
  }
  if (options.wakeup_watermark_bytes != 0) {
    attr.watermark = 1;
    attr.wakeup_watermark = options.wakeup_watermark_bytes;
  }
  attr.sample_id_all = options.sample_id_all;
  return attr;
}

perf_event_attr MakeCountingAttr(const ResolvedEvent& event, const EventSpec& modifiers) {
  return BaseAttr(event, modifiers);
}

absl::Status ReserveFileDescriptors(uint64_t needed, std::string_view what) {
  uint64_t open = 0;
  if (DIR* dir = opendir("/proc/self/fd")) {
    while (readdir(dir) != nullptr) ++open;  // counts ".", ".." and its own fd: slack
    closedir(dir);
  }
  // Room for what a run opens besides the events (rings' epoll, pidfds, files read).
  constexpr uint64_t kSlack = 64;
  const uint64_t want = open + needed + kSlack;
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return ErrnoError(errno, "getrlimit(RLIMIT_NOFILE)");
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < want) {
    // As perf does: the soft limit up to the hard one, which needs no privilege.
    limit.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
      return ErrnoError(errno, "raising the soft RLIMIT_NOFILE to the hard limit");
    }
  }
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < want) {
    return absl::FailedPreconditionError(absl::StrCat(
        std::string(what), " need ", needed,
        " perf event file descriptors, more than RLIMIT_NOFILE allows (", limit.rlim_cur,
        " open files, hard limit; ", open,
        " already open): raise it (ulimit -Hn as root, LimitNOFILE= for a service) or profile "
        "fewer threads"));
  }
  return absl::OkStatus();
}

absl::StatusOr<PerfEvent> PerfEvent::Open(const perf_event_attr& attr, pid_t pid, int cpu,
                                          int group_fd, std::string_view description) {
  std::string name = description.empty() ? absl::StrCat("type ", attr.type, " config ", attr.config)
                                         : std::string(description);
  const long fd = syscall(SYS_perf_event_open, &attr, pid, cpu, group_fd, PERF_FLAG_FD_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return ErrnoError(err, absl::StrCat("perf_event_open(", name, ", ", TargetText(pid, cpu), ")"),
                      OpenErrorHint(err, attr, name, pid, cpu));
  }
  return PerfEvent(ScopedFd(static_cast<int>(fd)), std::move(name), pid, cpu);
}

absl::Status PerfEvent::Enable() {
  if (!fd_) return NotOpen();
  if (ioctl(fd_.get(), PERF_EVENT_IOC_ENABLE, 0) != 0) {
    return ErrnoError(errno, absl::StrCat("enabling ", description_));
  }
  return absl::OkStatus();
}

absl::Status PerfEvent::Disable() {
  if (!fd_) return NotOpen();
  if (ioctl(fd_.get(), PERF_EVENT_IOC_DISABLE, 0) != 0) {
    return ErrnoError(errno, absl::StrCat("disabling ", description_));
  }
  return absl::OkStatus();
}

absl::Status PerfEvent::SetOutput(const PerfEvent& target) {
  if (!fd_ || !target.fd_) return NotOpen();
  if (ioctl(fd_.get(), PERF_EVENT_IOC_SET_OUTPUT, target.fd()) != 0) {
    const int err = errno;
    return ErrnoError(err,
                      absl::StrCat("redirecting ", description_, " (", TargetText(pid_, cpu_),
                                   ") into the ring buffer of ", target.description_, " (",
                                   TargetText(target.pid_, target.cpu_), ")"),
                      err == EINVAL ? "both events must be on the same cpu (or both per-thread "
                                      "on any cpu) and use the same clock"
                                    : "");
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> PerfEvent::Id() const {
  if (!fd_) return NotOpen();
  uint64_t id = 0;
  if (ioctl(fd_.get(), PERF_EVENT_IOC_ID, &id) != 0) {
    return ErrnoError(errno, absl::StrCat("reading the id of ", description_));
  }
  return id;
}

absl::StatusOr<uint64_t> PerfEvent::ReadCount() const {
  if (!fd_) return NotOpen();
  // value, time_enabled, time_running, id, lost: the most a non-group read_format returns.
  uint64_t values[5] = {};
  ssize_t n;
  do {
    n = read(fd_.get(), values, sizeof(values));
  } while (n < 0 && errno == EINTR);
  if (n < 0) return ErrnoError(errno, absl::StrCat("reading the count of ", description_));
  if (n < static_cast<ssize_t>(sizeof(uint64_t))) {
    return absl::DataLossError(
        absl::StrCat("reading the count of ", description_, ": short read of ", n, " bytes"));
  }
  return values[0];
}

}  // namespace wick
