// ParseRecord over records this kernel really writes: a cpu-clock sampling event on the test
// process with callchains, sample_id_all and task/comm/mmap2 side-band records, while the
// test maps an executable file, renames itself and forks a child.
//
// WICK_DUMP_RECORDS=<dir> also writes a few of the records as record_fuzzer inputs (the seed
// corpus in tests/record/corpus/ was made this way).
#include <asm/perf_regs.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "testing/testing.h"
#include "wick/record.h"
#include "wick/ring_buffer.h"
#include "wick/scoped.h"

namespace wick {
namespace {

// Writes up to `per_type` records of each type as fuzzer inputs when WICK_DUMP_RECORDS is set:
// u64 sample_type, u8 flags (bit 0: sample_id_all), the record.
class Dumper {
 public:
  Dumper(std::string prefix, int per_type) : prefix_(std::move(prefix)), per_type_(per_type) {
    if (const char* dir = getenv("WICK_DUMP_RECORDS")) dir_ = dir;
  }
  void Maybe(const SampleFormat& fmt, std::span<const std::byte> rec, uint32_t type) {
    if (dir_.empty() || written_[type] >= per_type_) return;
    std::string path = dir_ + "/" + prefix_ + "_type" + std::to_string(type) + "_" +
                       std::to_string(written_[type]++);
    std::ofstream out(path, std::ios::binary);
    uint8_t flags = fmt.sample_id_all ? 1 : 0;
    out.write(reinterpret_cast<const char*>(&fmt.sample_type), 8);
    out.write(reinterpret_cast<const char*>(&flags), 1);
    out.write(reinterpret_cast<const char*>(rec.data()), static_cast<std::streamsize>(rec.size()));
  }

 private:
  std::string prefix_;
  int per_type_;
  std::string dir_;
  std::map<uint32_t, int> written_;
};

absl::StatusOr<ScopedFd> OpenSelf(perf_event_attr& attr, int cpu = -1) {
  int fd = static_cast<int>(syscall(SYS_perf_event_open, &attr, 0, cpu, -1, PERF_FLAG_FD_CLOEXEC));
  if (fd < 0) return absl::UnavailableError(std::string("perf_event_open: ") + strerror(errno));
  return ScopedFd(fd);
}

// One event per CPU with a ring of `pages` data pages each, for `pid` (0: this process; -1:
// every task on the CPU). Offline CPUs are left out. Unavailable when the kernel refuses an
// open (the test skips, or fails under WICK_REQUIRE_PERF); any other error is a failure.
struct PerCpuRings {
  std::vector<ScopedFd> fds;
  std::vector<std::unique_ptr<MappedRing>> mapped;  // unique_ptr: `rings` points into them
  std::vector<RingBuffer*> rings;
};

absl::StatusOr<PerCpuRings> OpenPerCpu(perf_event_attr& attr, pid_t pid, uint32_t pages) {
  PerCpuRings r;
  for (int cpu = 0; cpu < sysconf(_SC_NPROCESSORS_CONF); ++cpu) {
    const int fd =
        static_cast<int>(syscall(SYS_perf_event_open, &attr, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC));
    if (fd < 0) {
      if (errno == ENODEV) continue;  // offline CPU
      return absl::UnavailableError(
          absl::StrCat("perf_event_open(pid ", pid, ", cpu ", cpu, "): ", strerror(errno)));
    }
    r.fds.emplace_back(fd);
    absl::StatusOr<MappedRing> ring = MappedRing::Map(fd, pages);
    if (!ring.ok()) return absl::InternalError("mapping a ring: " + ring.status().ToString());
    r.mapped.push_back(std::make_unique<MappedRing>(*std::move(ring)));
    r.rings.push_back(&r.mapped.back()->ring());
  }
  if (r.rings.empty()) return absl::InternalError("no online CPU could be opened");
  return r;
}

// Opens `attr` per CPU into `var` (a PerCpuRings), skipping or failing the test as above.
#define OPEN_PER_CPU_OR_SKIP(var, attr, pid, pages)                    \
  absl::StatusOr<PerCpuRings> var##_or = OpenPerCpu(attr, pid, pages); \
  if (absl::IsUnavailable(var##_or.status())) {                        \
    WICK_SKIP_OR_FAIL(var##_or.status().ToString());                   \
  }                                                                    \
  WICK_ASSERT_OK(var##_or.status());                                   \
  PerCpuRings& var = *var##_or

// Runs `work` for `duration` while draining the rings every few ms into `on_record`.
void RunAndDrain(const std::vector<RingBuffer*>& rings, std::chrono::milliseconds duration,
                 const std::function<void()>& work,
                 const std::function<void(std::span<const std::byte>)>& on_record) {
  auto end = std::chrono::steady_clock::now() + duration;
  auto drain = [&] {
    for (RingBuffer* ring : rings) {
      for (auto rec = ring->Next(); !rec.empty(); rec = ring->Next()) on_record(rec);
      ring->Consume();
    }
  };
  bool did_work = false;
  while (std::chrono::steady_clock::now() < end) {
    auto slice = std::chrono::steady_clock::now() + std::chrono::milliseconds(5);
    volatile uint64_t x = 0;
    while (std::chrono::steady_clock::now() < slice) {
      for (int i = 0; i < 10000; ++i) x = x + i;
    }
    if (!did_work) {
      work();
      did_work = true;
    }
    drain();
  }
  drain();
}

TEST(RecordKernelTest, SideBandAndCallchainRecordsOfThisKernel) {
  perf_event_attr attr{};
  attr.size = sizeof(attr);
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_CPU_CLOCK;
  attr.sample_period = 1000000;  // 1 ms
  attr.sample_type = PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_CPU |
                     PERF_SAMPLE_PERIOD | PERF_SAMPLE_CALLCHAIN;
  attr.sample_id_all = 1;
  attr.mmap = 1;
  attr.mmap2 = 1;
  attr.comm = 1;
  attr.comm_exec = 1;
  attr.task = 1;
  // The child's EXIT is written by the child's inherited copy of the event into our ring.
  // The kernel cannot mmap an inherited event opened for any CPU, so: one event per CPU.
  attr.inherit = 1;
  attr.disabled = 1;
  SampleFormat fmt = SampleFormat::FromAttr(attr);
  // Without attr.build_id: a build-id mark on an MMAP2 is the kernel's stray bit (record.h).
  fmt.mmap_build_id = false;
  WICK_ASSERT_OK(ValidateSampleFormat(fmt));
  OPEN_PER_CPU_OR_SKIP(per_cpu, attr, 0, 16);
  std::vector<ScopedFd>& fds = per_cpu.fds;
  const std::vector<RingBuffer*>& rings = per_cpu.rings;

  const pid_t self = getpid();
  char old_name[16] = {};
  prctl(PR_GET_NAME, old_name);
  pid_t child = -1;
  void* mapping = MAP_FAILED;
  size_t mapping_len = 0;
  auto work = [&] {
    int file = open("/usr/bin/true", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(file, 0);
    mapping_len = static_cast<size_t>(lseek(file, 0, SEEK_END));
    mapping = mmap(nullptr, mapping_len, PROT_READ | PROT_EXEC, MAP_PRIVATE, file, 0);
    close(file);
    ASSERT_NE(mapping, MAP_FAILED);
    prctl(PR_SET_NAME, "wick-rec-test");
    child = fork();
    if (child == 0) _exit(0);
    ASSERT_GT(child, 0);
    int status;
    ASSERT_EQ(waitpid(child, &status, 0), child);
  };

  int samples = 0, our_samples = 0, chains_with_context = 0, parse_errors = 0;
  bool saw_mmap2 = false, saw_comm = false, saw_fork = false, saw_exit = false;
  bool sample_ids_ok = true;
  std::string first_error;
  Dumper dumper("kernel", 2);
  for (auto& fd : fds) ASSERT_EQ(ioctl(fd.get(), PERF_EVENT_IOC_ENABLE, 0), 0);
  RunAndDrain(rings, std::chrono::milliseconds(200), work, [&](std::span<const std::byte> rec) {
    ParsedRecord r;
    absl::Status status = ParseRecord(rec, fmt, &r);
    if (!status.ok()) {
      if (parse_errors++ == 0) first_error = status.ToString();
      return;
    }
    dumper.Maybe(fmt, rec, r.type);
    if (r.type != PERF_RECORD_SAMPLE && r.type < PERF_RECORD_MAX && !r.has_sample_id) {
      sample_ids_ok = false;
    }
    switch (r.type) {
      case PERF_RECORD_SAMPLE:
        ++samples;
        if (r.sample.pid == static_cast<uint32_t>(self)) ++our_samples;
        if (!r.sample.callchain.empty() &&
            (r.sample.callchain[0] == kContextKernel || r.sample.callchain[0] == kContextUser)) {
          ++chains_with_context;
        }
        break;
      case PERF_RECORD_MMAP2:
        if (r.mmap.filename == "/usr/bin/true" && r.mmap.pid == static_cast<uint32_t>(self) &&
            r.mmap.addr == reinterpret_cast<uint64_t>(mapping)) {
          saw_mmap2 = true;
          EXPECT_EQ(r.mmap.prot, static_cast<uint32_t>(PROT_READ | PROT_EXEC));
          EXPECT_EQ(r.sample_id.pid, static_cast<uint32_t>(self));
        }
        break;
      case PERF_RECORD_COMM:
        if (r.comm.comm == "wick-rec-test" && r.comm.pid == static_cast<uint32_t>(self)) {
          saw_comm = true;
          EXPECT_FALSE(r.comm.exec);
        }
        break;
      case PERF_RECORD_FORK:
        if (r.fork_exit.pid == static_cast<uint32_t>(child) &&
            r.fork_exit.ppid == static_cast<uint32_t>(self)) {
          saw_fork = true;
          EXPECT_GT(r.fork_exit.time, 0u);
        }
        break;
      case PERF_RECORD_EXIT:
        if (r.fork_exit.pid == static_cast<uint32_t>(child)) saw_exit = true;
        break;
    }
  });
  for (auto& fd : fds) ASSERT_EQ(ioctl(fd.get(), PERF_EVENT_IOC_DISABLE, 0), 0);
  prctl(PR_SET_NAME, old_name);
  if (mapping != MAP_FAILED) munmap(mapping, mapping_len);

  EXPECT_EQ(parse_errors, 0) << first_error;
  for (RingBuffer* ring : rings) EXPECT_EQ(ring->corrupt(), 0u);
  EXPECT_GE(samples, 1);
  EXPECT_GE(our_samples, 1);
  EXPECT_EQ(chains_with_context, samples);
  EXPECT_TRUE(saw_mmap2);
  EXPECT_TRUE(saw_comm);
  EXPECT_TRUE(saw_fork);
  EXPECT_TRUE(saw_exit);
  EXPECT_TRUE(sample_ids_ok);
}

// REGS_USER + STACK_USER as the DWARF unwinder will ask for them.
TEST(RecordKernelTest, RegsAndStackUserOfThisKernel) {
  perf_event_attr attr{};
  attr.size = sizeof(attr);
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_CPU_CLOCK;
  attr.sample_period = 1000000;
  attr.sample_type = PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_REGS_USER |
                     PERF_SAMPLE_STACK_USER | PERF_SAMPLE_IDENTIFIER;
  attr.sample_regs_user =
      (1ull << PERF_REG_X86_BP) | (1ull << PERF_REG_X86_SP) | (1ull << PERF_REG_X86_IP);
  attr.sample_stack_user = 1024;
  attr.exclude_kernel = 1;  // so every sample has user registers
  attr.disabled = 1;
  SampleFormat fmt = SampleFormat::FromAttr(attr);
  // Without attr.build_id: a build-id mark on an MMAP2 is the kernel's stray bit (record.h).
  fmt.mmap_build_id = false;
  WICK_ASSERT_OK(ValidateSampleFormat(fmt));
  auto fd = OpenSelf(attr);
  if (!fd.ok()) WICK_SKIP_OR_FAIL(fd.status().ToString());
  WICK_ASSERT_OK_AND_ASSIGN(MappedRing mapped, MappedRing::Map(fd->get(), 16));

  int samples = 0, parse_errors = 0;
  std::string first_error;
  Dumper dumper("regs_stack", 2);
  ASSERT_EQ(ioctl(fd->get(), PERF_EVENT_IOC_ENABLE, 0), 0);
  RunAndDrain(
      {&mapped.ring()}, std::chrono::milliseconds(100), [] {},
      [&](std::span<const std::byte> rec) {
        ParsedRecord r;
        absl::Status status = ParseRecord(rec, fmt, &r);
        if (!status.ok()) {
          if (parse_errors++ == 0) first_error = status.ToString();
          return;
        }
        if (r.type != PERF_RECORD_SAMPLE) return;
        dumper.Maybe(fmt, rec, r.type);
        ++samples;
        const SampleRecord& s = r.sample;
        EXPECT_EQ(s.regs_user_abi, uint64_t{PERF_SAMPLE_REGS_ABI_64});
        ASSERT_EQ(s.regs_user.size(), 3u);
        EXPECT_EQ(s.regs_user[2], s.ip);  // user IP register == sampled IP (exclude_kernel)
        EXPECT_EQ(s.stack_user.size(), 1024u);
        EXPECT_GT(s.stack_user_dyn_size, 0u);
        EXPECT_LE(s.stack_user_dyn_size, 1024u);
        // The dumped stack starts at SP: it must be on our thread's stack, near a local.
        int local = 0;
        uint64_t here = reinterpret_cast<uint64_t>(&local);
        EXPECT_LT(s.regs_user[1] > here ? s.regs_user[1] - here : here - s.regs_user[1],
                  uint64_t{1} << 20);
      });
  ASSERT_EQ(ioctl(fd->get(), PERF_EVENT_IOC_DISABLE, 0), 0);
  EXPECT_EQ(parse_errors, 0) << first_error;
  EXPECT_GE(samples, 1);
}

// A dummy event asking only for context-switch records, with pid/tid, time and cpu in their
// sample_id trailer.
perf_event_attr SwitchAttr() {
  perf_event_attr attr{};
  attr.size = sizeof(attr);
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_DUMMY;
  attr.sample_type = PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_CPU;
  attr.sample_id_all = 1;
  attr.context_switch = 1;
  attr.disabled = 1;
  return attr;
}

// 20 sleeps of 1 ms: at least 20 switches out and back in.
void Sleep20() {
  for (int i = 0; i < 20; ++i) {
    timespec ts{0, 1'000'000};
    nanosleep(&ts, nullptr);
  }
}

// PERF_RECORD_SWITCH (per-task, attr.context_switch) as --off-cpu reads it: the test thread
// sleeps 20 times; its records, merged by time, alternate out / in, each naming our thread in
// the sample_id trailer.
TEST(RecordKernelTest, SwitchRecordsOfThisKernel) {
  perf_event_attr attr = SwitchAttr();
  const SampleFormat fmt = SampleFormat::FromAttr(attr);
  OPEN_PER_CPU_OR_SKIP(per_cpu, attr, 0, 16);
  std::vector<ScopedFd>& fds = per_cpu.fds;
  const std::vector<RingBuffer*>& rings = per_cpu.rings;
  const uint32_t self = static_cast<uint32_t>(syscall(SYS_gettid));
  struct Switch {
    uint64_t time;
    bool out;
  };
  std::vector<Switch> switches;
  int parse_errors = 0, foreign = 0;
  for (auto& fd : fds) ASSERT_EQ(ioctl(fd.get(), PERF_EVENT_IOC_ENABLE, 0), 0);
  RunAndDrain(rings, std::chrono::milliseconds(100), Sleep20, [&](std::span<const std::byte> rec) {
    ParsedRecord r;
    if (!ParseRecord(rec, fmt, &r).ok()) {
      ++parse_errors;
      return;
    }
    if (r.type != PERF_RECORD_SWITCH) return;
    ASSERT_TRUE(r.has_sample_id);
    if (r.sample_id.tid != self) ++foreign;
    switches.push_back({r.sample_id.time, r.switch_.out});
  });
  for (auto& fd : fds) ASSERT_EQ(ioctl(fd.get(), PERF_EVENT_IOC_DISABLE, 0), 0);
  EXPECT_EQ(parse_errors, 0);
  EXPECT_EQ(foreign, 0);  // a per-task event sees its own task's switches only
  std::sort(switches.begin(), switches.end(),
            [](const Switch& a, const Switch& b) { return a.time < b.time; });
  int outs = 0, ins = 0, repeats = 0;
  for (size_t i = 0; i < switches.size(); ++i) {
    (switches[i].out ? outs : ins) += 1;
    if (i > 0 && switches[i].out == switches[i - 1].out) ++repeats;
  }
  EXPECT_GE(outs, 20);
  EXPECT_GE(ins, 20);
  EXPECT_EQ(repeats, 0);
}

// PERF_RECORD_SWITCH_CPU_WIDE (--off-cpu -a): our thread's switch-outs and switch-ins come
// with our tid in the sample_id (what the pairing keys on), and a switch-out names another
// task as the one switched to. (Which task's switch-in comes next on that CPU is not checked:
// under load the kernel's records do not always follow that order.)
TEST(RecordKernelTest, SwitchCpuWideRecordsOfThisKernel) {
  perf_event_attr attr = SwitchAttr();
  const SampleFormat fmt = SampleFormat::FromAttr(attr);
  OPEN_PER_CPU_OR_SKIP(per_cpu, attr, -1, 64);
  std::vector<ScopedFd>& fds = per_cpu.fds;
  const std::vector<RingBuffer*>& rings = per_cpu.rings;
  const uint32_t self = static_cast<uint32_t>(syscall(SYS_gettid));
  int outs = 0, ins = 0, parse_errors = 0;
  for (auto& fd : fds) ASSERT_EQ(ioctl(fd.get(), PERF_EVENT_IOC_ENABLE, 0), 0);
  RunAndDrain(rings, std::chrono::milliseconds(100), Sleep20, [&](std::span<const std::byte> rec) {
    ParsedRecord r;
    if (!ParseRecord(rec, fmt, &r).ok()) {
      ++parse_errors;
      return;
    }
    if (r.type == PERF_RECORD_SWITCH) ADD_FAILURE() << "a CPU-wide event wrote PERF_RECORD_SWITCH";
    if (r.type != PERF_RECORD_SWITCH_CPU_WIDE) return;
    ASSERT_TRUE(r.has_sample_id);
    if (r.sample_id.tid != self) return;
    if (!r.switch_.out) {
      ++ins;
    } else {
      ++outs;
      EXPECT_NE(r.switch_.next_prev_tid, self);
    }
  });
  for (auto& fd : fds) ASSERT_EQ(ioctl(fd.get(), PERF_EVENT_IOC_DISABLE, 0), 0);
  EXPECT_EQ(parse_errors, 0);
  EXPECT_GE(outs, 20);
  EXPECT_GE(ins, 20);
}

}  // namespace
}  // namespace wick
