// perf_event_attr construction and the RAII owner of one perf_event_open() fd.
//
// MakeSamplingAttr() turns a resolved event plus options into a validated attr, checking
// the limits the kernel would otherwise reject with a bare EINVAL/EOVERFLOW (sample rate,
// max stack) and naming the sysctl to change. PerfEvent owns the fd (ScopedFd, CLOEXEC);
// it is move-only and closes on destruction. Open() turns errno into one line that names
// the event, pid and cpu and the fix. A PerfEvent may be used from any one thread at a time.
#ifndef WICK_PERF_EVENT_H_
#define WICK_PERF_EVENT_H_

#include <linux/perf_event.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "wick/event_spec.h"
#include "wick/kernel_caps.h"
#include "wick/scoped.h"

namespace wick {

struct SamplingOptions {
  uint64_t frequency = 0;       // samples per second; 0 means use `period`
  uint64_t period = 0;          // events per sample; exactly one of frequency/period is non-zero
  bool callchain = false;       // PERF_SAMPLE_CALLCHAIN
  uint32_t max_stack = 0;       // sample_max_stack; 0 = kernel default (perf_event_max_stack)
  bool inherit = false;         // follow children created after open
  bool enable_on_exec = false;  // start counting at the target's exec()
  bool disabled = false;        // open disabled; Enable() later
  bool track_tasks = false;     // mmap + mmap2 + comm + comm_exec + task records (mmap_data=0)
  uint32_t wakeup_watermark_bytes = 0;  // wake the reader after this many bytes; 0 = kernel
                                        // default (half the ring buffer)
  bool sample_id_all = true;            // sample_id trailer on non-sample records
};

// sample_type = IDENTIFIER|IP|TID|TIME|CPU|PERIOD (+CALLCHAIN), precise_ip 0,
// use_clockid with CLOCK_MONOTONIC, exclude_* from `modifiers`. InvalidArgument when both
// or neither of frequency/period are set, when frequency > caps.perf_event_max_sample_rate
// or max_stack > caps.perf_event_max_stack (the message names the sysctl and its value).
absl::StatusOr<perf_event_attr> MakeSamplingAttr(const ResolvedEvent& event,
                                                 const EventSpec& modifiers,
                                                 const SamplingOptions& options,
                                                 const KernelCaps& caps);

// A plain counting attr (no sampling, read_format 0: read() returns one u64), enabled at open.
perf_event_attr MakeCountingAttr(const ResolvedEvent& event, const EventSpec& modifiers);

// Makes room for `needed` more file descriptors (perf events are one fd each per task and
// cpu: -p of a 2,000-thread process opens thousands). Raises the soft RLIMIT_NOFILE to the
// hard limit when the files open now plus `needed` would not fit, as perf does. Returns
// FailedPrecondition naming RLIMIT_NOFILE, the limit and `what` (e.g. "2001 threads x 2
// cpus x 1 event") when even the hard limit is too low.
absl::Status ReserveFileDescriptors(uint64_t needed, std::string_view what);

class PerfEvent {
 public:
  // perf_event_open(attr, pid, cpu, group_fd, PERF_FLAG_FD_CLOEXEC). `description` names the
  // event in errors (defaults to "type T config C"). Errors are one line naming event, pid,
  // cpu and the fix (paranoid / CAP_PERFMON, exited pid, unsupported event, sysctls, ulimit).
  static absl::StatusOr<PerfEvent> Open(const perf_event_attr& attr, pid_t pid, int cpu,
                                        int group_fd = -1, std::string_view description = {});

  PerfEvent() = default;  // empty; fd() == -1
  PerfEvent(PerfEvent&&) noexcept = default;
  PerfEvent& operator=(PerfEvent&&) noexcept = default;
  PerfEvent(const PerfEvent&) = delete;
  PerfEvent& operator=(const PerfEvent&) = delete;

  int fd() const { return fd_.get(); }
  const std::string& description() const { return description_; }
  pid_t pid() const { return pid_; }
  int cpu() const { return cpu_; }

  absl::Status Enable();   // PERF_EVENT_IOC_ENABLE
  absl::Status Disable();  // PERF_EVENT_IOC_DISABLE
  // PERF_EVENT_IOC_SET_OUTPUT: this event's records go into `target`'s ring buffer (same
  // CPU, or both per-thread; target must have been mmap()ed).
  absl::Status SetOutput(const PerfEvent& target);
  absl::StatusOr<uint64_t> Id() const;  // PERF_EVENT_IOC_ID: the id in PERF_SAMPLE_IDENTIFIER
  // read() of the counter; the first u64 (the value) for any non-group read_format.
  absl::StatusOr<uint64_t> ReadCount() const;

 private:
  PerfEvent(ScopedFd fd, std::string description, pid_t pid, int cpu)
      : fd_(std::move(fd)), description_(std::move(description)), pid_(pid), cpu_(cpu) {}

  ScopedFd fd_;
  std::string description_;
  pid_t pid_ = -1;
  int cpu_ = -1;
};

}  // namespace wick

#endif  // WICK_PERF_EVENT_H_
