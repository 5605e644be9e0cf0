#include "unwind_capture.h"

#include <fcntl.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "wick/record.h"
#include "wick/ring_buffer.h"
#include "wick/scoped.h"
#include "wick/status.h"

namespace wick::testing {

absl::StatusOr<std::vector<CapturedSample>> CaptureCommand(const std::vector<std::string>& argv,
                                                           const CaptureOptions& options,
                                                           ProcessTable* table) {
  int go[2];
  if (pipe2(go, O_CLOEXEC) != 0) return ErrnoError(errno, "pipe2");
  ScopedFd go_read(go[0]), go_write(go[1]);
  const pid_t child = fork();
  if (child < 0) return ErrnoError(errno, "fork");
  if (child == 0) {
    char c;
    go_write.reset();
    if (read(go_read.get(), &c, 1) != 1) _exit(126);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  go_read.reset();
  auto kill_child = [&] {
    kill(child, SIGKILL);
    int st;
    waitpid(child, &st, 0);
  };

  perf_event_attr attr{};
  attr.size = sizeof attr;
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_CPU_CLOCK;
  attr.sample_period = options.period_ns;
  attr.sample_type = PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_REGS_USER |
                     PERF_SAMPLE_STACK_USER;
  attr.sample_regs_user = UnwinderRegsMask();
  attr.sample_stack_user = options.stack_size;
  attr.exclude_kernel = 1;
  attr.exclude_hv = 1;
  attr.disabled = 1;
  attr.enable_on_exec = 1;
  attr.inherit = 1;
  attr.mmap = 1;
  attr.mmap2 = 1;
  attr.comm = 1;
  attr.comm_exec = 1;
  attr.task = 1;
  attr.sample_id_all = 1;
  const SampleFormat fmt = SampleFormat::FromAttr(attr);

  // Inherited events cannot be mmapped per task (any CPU): one event per CPU.
  const int ncpu = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  std::vector<ScopedFd> fds;
  std::vector<MappedRing> rings;
  for (int cpu = 0; cpu < ncpu; ++cpu) {
    int fd =
        static_cast<int>(syscall(SYS_perf_event_open, &attr, child, cpu, -1, PERF_FLAG_FD_CLOEXEC));
    if (fd < 0) {
      const int err = errno;
      kill_child();
      return absl::UnavailableError(absl::StrCat("perf_event_open: ", strerror(err)));
    }
    fds.emplace_back(fd);
    auto ring = MappedRing::Map(fd, 256);
    if (!ring.ok()) {
      kill_child();
      return ring.status();
    }
    rings.push_back(std::move(*ring));
  }
  std::vector<CapturedSample> samples;
  ParsedRecord rec;
  auto drain = [&] {
    for (MappedRing& mr : rings) {
      RingBuffer& ring = mr.ring();
      for (auto r = ring.Next(); !r.empty(); r = ring.Next()) {
        if (!ParseRecord(r, fmt, &rec).ok()) continue;
        switch (rec.type) {
          case PERF_RECORD_SAMPLE: {
            const SampleRecord& s = rec.sample;
            CapturedSample c;
            c.pid = static_cast<pid_t>(s.pid);
            c.tid = static_cast<pid_t>(s.tid);
            c.ip = s.ip;
            c.abi = s.regs_user_abi;
            c.regs_mask = attr.sample_regs_user;
            c.regs.assign(s.regs_user.begin(), s.regs_user.end());
            c.stack.assign(s.stack_user.begin(), s.stack_user.end());
            c.dyn_size = s.stack_user_dyn_size;
            samples.push_back(std::move(c));
            break;
          }
          case PERF_RECORD_MMAP2:
            table->OnMmap(rec.mmap.pid, rec.mmap.tid, rec.mmap.addr, rec.mmap.len, rec.mmap.pgoff,
                          rec.mmap.filename, rec.mmap.prot,
                          rec.mmap.has_build_id ? rec.mmap.build_id : std::span<const std::byte>());
            break;
          case PERF_RECORD_COMM:
            table->OnComm(rec.comm.pid, rec.comm.tid, rec.comm.comm, rec.comm.exec);
            break;
          case PERF_RECORD_FORK:
            table->OnFork(rec.fork_exit.pid, rec.fork_exit.ppid, rec.fork_exit.tid,
                          rec.fork_exit.ptid);
            break;
          case PERF_RECORD_EXIT:
            table->OnExit(rec.fork_exit.pid, rec.fork_exit.tid);
            break;
        }
      }
      ring.Consume();
    }
  };
  // The child is stopped before exec: its pre-exec state (our own mappings) must not be
  // taken for the command's, so the table learns the process from the exec records only.
  if (write(go_write.get(), "g", 1) != 1) {
    kill_child();
    return ErrnoError(errno, "write to child");
  }
  go_write.reset();
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(options.timeout_ms);
  int status = 0;
  for (;;) {
    drain();
    const pid_t r = waitpid(child, &status, WNOHANG);
    if (r == child) break;
    if (std::chrono::steady_clock::now() > deadline) {
      kill_child();
      return absl::DeadlineExceededError(absl::StrCat(argv[0], " did not exit in time"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  drain();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(absl::StrCat(argv[0], " failed, status ", status));
  }
  return samples;
}

}  // namespace wick::testing
