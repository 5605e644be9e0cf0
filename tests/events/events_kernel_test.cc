// Tests of the events module against the running kernel: KernelCaps of this machine, real
// perf_event_open counters and the words its errors become.
#include <fcntl.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/testing.h"
#include "wick/event_spec.h"
#include "wick/kernel_caps.h"
#include "wick/perf_event.h"
#include "wick/scoped.h"

namespace wick {
namespace {

using ::testing::HasSubstr;

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

uint64_t ReadSysctl(const std::string& name) {
  std::ifstream in("/proc/sys/kernel/" + name);
  uint64_t value = 0;
  in >> value;
  return value;
}

// Burns `ms` milliseconds of this thread's CPU time, so that cpu-clock advances by as much
// however busy the machine is.
void Spin(int ms) {
  const auto cpu_ns = [] {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
  };
  const int64_t end = cpu_ns() + int64_t{ms} * 1'000'000;
  volatile uint64_t x = 0;
  while (cpu_ns() < end) {
    for (int i = 0; i < 1000; ++i) x = x + 1;
  }
}

ResolvedEvent Resolve(std::string_view text, const KernelCaps& caps) {
  absl::StatusOr<EventSpec> spec = ParseEventSpec(text);
  EXPECT_TRUE(spec.ok()) << spec.status();
  absl::StatusOr<ResolvedEvent> event = ResolveEvent(*spec, caps);
  EXPECT_TRUE(event.ok()) << event.status();
  return *event;
}

// Tests count user space only unless they are about the kernel, so that they also run
// unprivileged under perf_event_paranoid=2.
EventSpec UserOnly() {
  EventSpec spec;
  spec.exclude_kernel = true;
  return spec;
}

// True when perf_event_open itself works here (some containers forbid it).
bool PerfEventOpenWorks() {
  ResolvedEvent event{PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK, "cpu-clock", ""};
  return PerfEvent::Open(MakeCountingAttr(event, UserOnly()), 0, -1).ok();
}

TEST(KernelCapsKernelTest, ProbeMatchesThisMachine) {
  WICK_ASSERT_OK_AND_ASSIGN(KernelCaps caps, KernelCaps::Probe());
  EXPECT_EQ(static_cast<long>(caps.online_cpus.size()), sysconf(_SC_NPROCESSORS_ONLN));
  EXPECT_EQ(caps.perf_event_max_stack, ReadSysctl("perf_event_max_stack"));
  EXPECT_EQ(caps.perf_event_max_sample_rate, ReadSysctl("perf_event_max_sample_rate"));
  EXPECT_EQ(caps.PmuType("software"), uint32_t{PERF_TYPE_SOFTWARE});
  EXPECT_EQ(caps.PmuType("tracepoint"), uint32_t{PERF_TYPE_TRACEPOINT});
  EXPECT_EQ(caps.has_cpu_pmu, std::filesystem::exists("/sys/bus/event_source/devices/cpu"));
  EXPECT_EQ(caps.has_uprobe_pmu, std::filesystem::exists("/sys/bus/event_source/devices/uprobe"));
  EXPECT_EQ(caps.is_root, geteuid() == 0);
  if (caps.is_root) {
    EXPECT_TRUE(caps.PerfmonCapable());
  }
}

TEST(PerfEventKernelTest, CountsCpuClockOnSelf) {
  WICK_REQUIRE(PerfEventOpenWorks(), "perf_event_open is not permitted here");
  WICK_ASSERT_OK_AND_ASSIGN(KernelCaps caps, KernelCaps::Probe());
  const ResolvedEvent event = Resolve("cpu-clock", caps);
  WICK_ASSERT_OK_AND_ASSIGN(PerfEvent counter, PerfEvent::Open(MakeCountingAttr(event, UserOnly()),
                                                               0, -1, -1, "cpu-clock"));
  EXPECT_GE(counter.fd(), 0);
  EXPECT_EQ(counter.description(), "cpu-clock");
  Spin(30);
  WICK_ASSERT_OK_AND_ASSIGN(uint64_t running, counter.ReadCount());
  // cpu-clock counts nanoseconds: 30 ms of spinning is well above 1 ms.
  EXPECT_GT(running, 1'000'000u);

  // Disabled, the count stands still; enabled again, it moves.
  WICK_ASSERT_OK(counter.Disable());
  WICK_ASSERT_OK_AND_ASSIGN(uint64_t stopped, counter.ReadCount());
  Spin(10);
  WICK_ASSERT_OK_AND_ASSIGN(uint64_t still, counter.ReadCount());
  EXPECT_EQ(stopped, still);
  WICK_ASSERT_OK(counter.Enable());
  Spin(10);
  WICK_ASSERT_OK_AND_ASSIGN(uint64_t resumed, counter.ReadCount());
  EXPECT_GT(resumed, still);

  WICK_ASSERT_OK_AND_ASSIGN(uint64_t id, counter.Id());
  EXPECT_NE(id, 0u);

  // The fd is CLOEXEC.
  EXPECT_EQ(fcntl(counter.fd(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);

  // Moving keeps the one fd.
  const int fd = counter.fd();
  PerfEvent moved = std::move(counter);
  EXPECT_EQ(moved.fd(), fd);
  EXPECT_EQ(counter.fd(), -1);  // NOLINT(bugprone-use-after-move): documented empty state
}

TEST(PerfEventKernelTest, NonexistentPidIsNamed) {
  WICK_REQUIRE(PerfEventOpenWorks(), "perf_event_open is not permitted here");
  // Highest possible pid first (pid_max is at most 4194304), then downwards.
  pid_t pid = 4194303;
  while (pid > 1 && !(kill(pid, 0) == -1 && errno == ESRCH)) --pid;
  ASSERT_GT(pid, 1);
  WICK_ASSERT_OK_AND_ASSIGN(KernelCaps caps, KernelCaps::Probe());
  const ResolvedEvent event = Resolve("cpu-clock", caps);
  absl::StatusOr<PerfEvent> counter =
      PerfEvent::Open(MakeCountingAttr(event, UserOnly()), pid, -1, -1, "cpu-clock");
  ASSERT_FALSE(counter.ok());
  EXPECT_THAT(Msg(counter.status()), HasSubstr(absl::StrCat("no process with pid ", pid)));
  EXPECT_THAT(Msg(counter.status()), HasSubstr("cpu-clock"));
  EXPECT_THAT(Msg(counter.status()), HasSubstr(absl::StrCat("pid ", pid, ", any cpu")));
}

TEST(PerfEventKernelTest, UnsupportedEventIsNamed) {
  WICK_REQUIRE(PerfEventOpenWorks(), "perf_event_open is not permitted here");
  ResolvedEvent bogus{PERF_TYPE_SOFTWARE, 9999, "bogus", ""};
  absl::StatusOr<PerfEvent> counter =
      PerfEvent::Open(MakeCountingAttr(bogus, UserOnly()), 0, -1, -1, "bogus-software-9999");
  ASSERT_FALSE(counter.ok());
  EXPECT_THAT(Msg(counter.status()),
              HasSubstr("event bogus-software-9999 is not supported by this kernel/hardware"));
}

TEST(PerfEventKernelTest, KernelLimitsBecomeSysctlHints) {
  WICK_REQUIRE(PerfEventOpenWorks(), "perf_event_open is not permitted here");
  WICK_ASSERT_OK_AND_ASSIGN(KernelCaps caps, KernelCaps::Probe());
  const ResolvedEvent event = Resolve("cpu-clock", caps);
  SamplingOptions options;
  options.frequency = 100;
  options.callchain = true;
  WICK_ASSERT_OK_AND_ASSIGN(perf_event_attr attr,
                            MakeSamplingAttr(event, UserOnly(), options, caps));

  // Bypass MakeSamplingAttr's checks to see what the kernel itself says.
  perf_event_attr deep = attr;
  deep.sample_max_stack = static_cast<uint16_t>(caps.perf_event_max_stack + 1);
  absl::StatusOr<PerfEvent> overflow = PerfEvent::Open(deep, 0, -1, -1, "cpu-clock");
  ASSERT_FALSE(overflow.ok());
  EXPECT_THAT(Msg(overflow.status()),
              HasSubstr(absl::StrCat("exceeds kernel.perf_event_max_stack (",
                                     caps.perf_event_max_stack, ")")));

  perf_event_attr fast = attr;
  fast.sample_freq = ReadSysctl("perf_event_max_sample_rate") + 1;
  absl::StatusOr<PerfEvent> too_fast = PerfEvent::Open(fast, 0, -1, -1, "cpu-clock");
  ASSERT_FALSE(too_fast.ok());
  EXPECT_THAT(Msg(too_fast.status()), HasSubstr("/proc/sys/kernel/perf_event_max_sample_rate"));
}

TEST(PerfEventKernelTest, CyclesOnThisMachine) {
  WICK_REQUIRE(PerfEventOpenWorks(), "perf_event_open is not permitted here");
  WICK_ASSERT_OK_AND_ASSIGN(KernelCaps caps, KernelCaps::Probe());
  WICK_ASSERT_OK_AND_ASSIGN(EventSpec spec, ParseEventSpec("cycles:u"));
  WICK_ASSERT_OK_AND_ASSIGN(ResolvedEvent event, ResolveEvent(spec, caps));
  if (caps.has_cpu_pmu) {
    EXPECT_EQ(event.type, uint32_t{PERF_TYPE_HARDWARE});
    EXPECT_EQ(event.notice, "");
  } else {
    EXPECT_EQ(event.type, uint32_t{PERF_TYPE_SOFTWARE});
    EXPECT_EQ(event.config, uint64_t{PERF_COUNT_SW_CPU_CLOCK});
    EXPECT_EQ(event.name, "cpu-clock");
    EXPECT_THAT(event.notice, HasSubstr("using cpu-clock instead"));
    // And the PMU-less claim is true: the kernel refuses a hardware counter.
    ResolvedEvent hw{PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES, "cycles", ""};
    EXPECT_FALSE(PerfEvent::Open(MakeCountingAttr(hw, spec), 0, -1).ok());
  }
  WICK_ASSERT_OK_AND_ASSIGN(PerfEvent counter,
                            PerfEvent::Open(MakeCountingAttr(event, spec), 0, -1, -1, event.name));
  Spin(5);
  WICK_ASSERT_OK_AND_ASSIGN(uint64_t count, counter.ReadCount());
  EXPECT_GT(count, 0u);
}

TEST(PerfEventKernelTest, SamplingEventsShareOneRingBuffer) {
  WICK_REQUIRE(PerfEventOpenWorks(), "perf_event_open is not permitted here");
  WICK_ASSERT_OK_AND_ASSIGN(KernelCaps caps, KernelCaps::Probe());
  SamplingOptions options;
  options.frequency = 1000;
  options.callchain = true;
  options.max_stack = 32;
  options.track_tasks = true;
  options.disabled = true;
  WICK_ASSERT_OK_AND_ASSIGN(
      perf_event_attr clock_attr,
      MakeSamplingAttr(Resolve("cpu-clock", caps), UserOnly(), options, caps));
  options.track_tasks = false;
  options.frequency = 0;
  options.period = 1;
  WICK_ASSERT_OK_AND_ASSIGN(
      perf_event_attr faults_attr,
      MakeSamplingAttr(Resolve("page-faults", caps), UserOnly(), options, caps));

  WICK_ASSERT_OK_AND_ASSIGN(PerfEvent clock, PerfEvent::Open(clock_attr, 0, -1, -1, "cpu-clock"));
  WICK_ASSERT_OK_AND_ASSIGN(PerfEvent faults,
                            PerfEvent::Open(faults_attr, 0, -1, -1, "page-faults"));
  WICK_ASSERT_OK_AND_ASSIGN(uint64_t clock_id, clock.Id());
  WICK_ASSERT_OK_AND_ASSIGN(uint64_t faults_id, faults.Id());
  EXPECT_NE(clock_id, faults_id);

  // Without a ring buffer on the target the kernel refuses the redirection.
  EXPECT_FALSE(faults.SetOutput(clock).ok());

  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t ring_size = (1 + 8) * page;
  void* ring = mmap(nullptr, ring_size, PROT_READ | PROT_WRITE, MAP_SHARED, clock.fd(), 0);
  ASSERT_NE(ring, MAP_FAILED) << strerror(errno);
  ScopedMmap ring_owner(ring, ring_size);
  WICK_ASSERT_OK(faults.SetOutput(clock));

  // Touch fresh pages: their page-fault samples must land in clock's ring, tagged with the
  // faults event's id (PERF_SAMPLE_IDENTIFIER is the first u64 of a sample).
  WICK_ASSERT_OK(faults.Enable());
  void* fresh = mmap(nullptr, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(fresh, MAP_FAILED);
  ScopedMmap fresh_owner(fresh, 4 * page);
  for (size_t i = 0; i < 4; ++i) static_cast<volatile char*>(fresh)[i * page] = 1;
  WICK_ASSERT_OK(faults.Disable());

  const auto* meta = static_cast<const perf_event_mmap_page*>(ring);
  const uint64_t head = __atomic_load_n(&meta->data_head, __ATOMIC_ACQUIRE);
  const auto* data = static_cast<const unsigned char*>(ring) + meta->data_offset;
  ASSERT_LE(head, meta->data_size);  // nothing consumed and far from full: no wrap
  int fault_samples = 0;
  for (uint64_t pos = 0; pos + sizeof(perf_event_header) <= head;) {
    perf_event_header header;
    std::memcpy(&header, data + pos, sizeof(header));
    ASSERT_GE(header.size, sizeof(header));
    if (header.type == PERF_RECORD_SAMPLE) {
      uint64_t id;
      std::memcpy(&id, data + pos + sizeof(header), sizeof(id));
      if (id == faults_id) ++fault_samples;
    }
    pos += header.size;
  }
  EXPECT_GE(fault_samples, 4);
}

// What an unprivileged process sees when it counts kernel time: the error text, or "opened",
// then "|user-only opened" or "|user-only refused" for the same event with ':u'.
std::string TryAsUnprivileged() {
  ResolvedEvent event{PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK, "cpu-clock", ""};
  absl::StatusOr<PerfEvent> counter =
      PerfEvent::Open(MakeCountingAttr(event, EventSpec{}), 0, -1, -1, "cpu-clock");
  std::string message = counter.ok() ? "opened" : std::string(counter.status().message());
  absl::StatusOr<PerfEvent> user_counter =
      PerfEvent::Open(MakeCountingAttr(event, UserOnly()), 0, -1, -1, "cpu-clock:u");
  message += user_counter.ok() ? "|user-only opened" : "|user-only refused";
  return message;
}

// Under perf_event_paranoid >= 2 an unprivileged process may not count kernel time; the
// error must carry the paranoid level and the fix. Root drops to `nobody` in a child.
TEST(PerfEventKernelTest, PermissionErrorExplainsParanoid) {
  WICK_ASSERT_OK_AND_ASSIGN(KernelCaps caps, KernelCaps::Probe());
  WICK_REQUIRE(caps.perf_event_paranoid >= 2, "perf_event_paranoid < 2 allows this");
  WICK_REQUIRE(PerfEventOpenWorks(), "perf_event_open is not permitted here");
  std::string message;
  if (!caps.PerfmonCapable()) {
    message = TryAsUnprivileged();
  } else {
    WICK_REQUIRE(caps.is_root, "privileged but not root: cannot drop to an unprivileged uid");
    int fds[2];
    ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
    ScopedFd read_end(fds[0]), write_end(fds[1]);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      // setresuid from root to nobody clears the effective and permitted capabilities.
      std::string result = "setresuid failed";
      if (setresgid(65534, 65534, 65534) == 0 && setresuid(65534, 65534, 65534) == 0) {
        result = TryAsUnprivileged();
      }
      (void)!write(write_end.get(), result.data(), result.size());
      _exit(0);
    }
    write_end.reset();
    char buf[512];
    ssize_t n;
    while ((n = read(read_end.get(), buf, sizeof(buf))) > 0) message.append(buf, n);
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
  }
  EXPECT_THAT(message, HasSubstr("perf_event_open(cpu-clock, pid 0 (this process), any cpu)"));
  EXPECT_THAT(message,
              HasSubstr(absl::StrCat("kernel.perf_event_paranoid is ", caps.perf_event_paranoid,
                                     "; run as root, grant CAP_PERFMON")));
  // The hint's ':u' advice holds: user space only is allowed at level 2.
  if (caps.perf_event_paranoid == 2) {
    EXPECT_THAT(message, HasSubstr("|user-only opened"));
  }
}

}  // namespace
}  // namespace wick
