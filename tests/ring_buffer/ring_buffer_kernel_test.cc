// MappedRing + RingBuffer against a real perf event on this kernel: a cpu-clock sampling
// event on the test's own thread must deliver PERF_RECORD_SAMPLEs carrying our pid.
#include <fcntl.h>
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include "gtest/gtest.h"
#include "testing/testing.h"
#include "wick/ring_buffer.h"
#include "wick/scoped.h"

namespace wick {
namespace {

uint64_t ThreadCpuNs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(ts.tv_nsec);
}

// Burns `duration` of this thread's CPU time: as many cpu-clock samples however busy the
// machine is.
void Spin(std::chrono::milliseconds duration) {
  const uint64_t end = ThreadCpuNs() + static_cast<uint64_t>(duration.count()) * 1'000'000;
  volatile uint64_t x = 0;
  while (ThreadCpuNs() < end) {
    for (int i = 0; i < 10000; ++i) x = x + i;
  }
}

uint64_t MonotonicNs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

TEST(RingBufferKernelTest, CpuClockSamplesOfSelf) {
  perf_event_attr attr{};
  attr.size = sizeof(attr);
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_CPU_CLOCK;
  attr.sample_period = 100000;  // ns
  attr.sample_type = PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME;
  attr.mmap = 1;
  attr.comm = 1;
  attr.disabled = 1;
  int raw_fd =
      static_cast<int>(syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC));
  if (raw_fd < 0) WICK_SKIP_OR_FAIL(std::string("perf_event_open: ") + strerror(errno));
  ScopedFd fd(raw_fd);

  WICK_ASSERT_OK_AND_ASSIGN(MappedRing mapped, MappedRing::Map(fd.get(), 8));
  EXPECT_EQ(mapped.ring().data_size(), 8u * static_cast<size_t>(sysconf(_SC_PAGESIZE)));
  // Moving the owner keeps the ring usable (it lives behind a pointer).
  MappedRing ring_owner = std::move(mapped);
  RingBuffer& ring = ring_owner.ring();

  ASSERT_EQ(ioctl(fd.get(), PERF_EVENT_IOC_ENABLE, 0), 0);
  Spin(std::chrono::milliseconds(200));
  ASSERT_EQ(ioctl(fd.get(), PERF_EVENT_IOC_DISABLE, 0), 0);

  EXPECT_GT(ring.Available(), 0u);
  int samples = 0, ours = 0, records = 0;
  uint64_t last_time = 0;
  bool time_ordered = true;
  for (int batch = 0; batch < 100 && !ring.Empty(); ++batch) {
    for (auto rec = ring.Next(); !rec.empty(); rec = ring.Next()) {
      ++records;
      perf_event_header h;
      std::memcpy(&h, rec.data(), sizeof(h));
      ASSERT_EQ(h.size, rec.size());
      if (h.type != PERF_RECORD_SAMPLE) continue;
      ASSERT_EQ(rec.size(), sizeof(h) + 8 + 8 + 8);  // ip, pid/tid, time
      ++samples;
      uint32_t pid, tid;
      uint64_t time;
      std::memcpy(&pid, rec.data() + 16, 4);
      std::memcpy(&tid, rec.data() + 20, 4);
      std::memcpy(&time, rec.data() + 24, 8);
      if (pid == static_cast<uint32_t>(getpid()) && tid == static_cast<uint32_t>(gettid())) {
        ++ours;
      }
      if (time < last_time) time_ordered = false;
      last_time = time;
    }
    ring.Consume();
  }
  EXPECT_TRUE(ring.Empty());
  EXPECT_EQ(ring.corrupt(), 0u);
  EXPECT_GE(samples, 1) << records << " records";
  EXPECT_EQ(ours, samples);
  EXPECT_TRUE(time_ordered);
  // The kernel sees the tail we stored.
  EXPECT_EQ(ring_owner.meta()->data_tail, ring_owner.meta()->data_head);
}

// Overwrite mode on the real kernel: a write_backward event in a read-only ring keeps
// sampling after the ring is full, and a snapshot taken with output paused holds the newest
// samples, newest first, in about one data area.
TEST(RingBufferKernelTest, OverwriteModeKeepsTheNewestSamples) {
  perf_event_attr attr{};
  attr.size = sizeof(attr);
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_CPU_CLOCK;
  attr.sample_period = 50000;  // ns: ~4,000 samples in the spin, far more than 1 page holds
  attr.sample_type = PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME;
  attr.write_backward = 1;
  attr.use_clockid = 1;  // sample times comparable with steady_clock
  attr.clockid = CLOCK_MONOTONIC;
  attr.disabled = 1;
  int raw_fd =
      static_cast<int>(syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC));
  if (raw_fd < 0) WICK_SKIP_OR_FAIL(std::string("perf_event_open: ") + strerror(errno));
  ScopedFd fd(raw_fd);
  WICK_ASSERT_OK_AND_ASSIGN(MappedRing mapped, MappedRing::Map(fd.get(), 1, RingMode::kOverwrite));

  ASSERT_EQ(ioctl(fd.get(), PERF_EVENT_IOC_ENABLE, 0), 0);
  Spin(std::chrono::milliseconds(100));
  const uint64_t half_way_ns = MonotonicNs();
  Spin(std::chrono::milliseconds(100));
  ASSERT_EQ(ioctl(fd.get(), PERF_EVENT_IOC_PAUSE_OUTPUT, 1), 0);
  const uint64_t paused_at_ns = MonotonicNs();
  const auto& records = mapped.backward().Snapshot();
  ASSERT_EQ(ioctl(fd.get(), PERF_EVENT_IOC_PAUSE_OUTPUT, 0), 0);
  ASSERT_EQ(ioctl(fd.get(), PERF_EVENT_IOC_DISABLE, 0), 0);

  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t sample_size = sizeof(perf_event_header) + 8 + 8 + 8;
  size_t bytes = 0, samples = 0;
  uint64_t newer_time = UINT64_MAX;
  bool newest_first = true;
  for (const auto& rec : records) {
    perf_event_header h;
    std::memcpy(&h, rec.data(), sizeof(h));
    ASSERT_EQ(h.size, rec.size());
    bytes += rec.size();
    if (h.type != PERF_RECORD_SAMPLE) continue;
    ASSERT_EQ(rec.size(), sample_size);
    ++samples;
    uint32_t pid;
    uint64_t time;
    std::memcpy(&pid, rec.data() + 16, 4);
    std::memcpy(&time, rec.data() + 24, 8);
    EXPECT_EQ(pid, static_cast<uint32_t>(getpid()));
    if (time > newer_time) newest_first = false;
    newer_time = time;
  }
  EXPECT_TRUE(newest_first);
  EXPECT_EQ(mapped.backward().corrupt(), 0u);
  // Full: within one record of the data area (the oldest, partly overwritten, is left out).
  EXPECT_LE(bytes, page);
  EXPECT_GT(bytes, page - sample_size) << samples << " samples";
  // The ring holds the last ~8 ms of CPU time's samples: all are from the second half of the
  // spin (100 ms of CPU), none from the first, however the thread was scheduled.
  ASSERT_GT(samples, 0u);
  uint64_t newest;
  std::memcpy(&newest, records.front().data() + 24, 8);
  EXPECT_LE(newest, paused_at_ns);
  const uint64_t oldest = newer_time;  // the time of the last sample read
  EXPECT_GT(oldest, half_way_ns);
}

}  // namespace
}  // namespace wick
