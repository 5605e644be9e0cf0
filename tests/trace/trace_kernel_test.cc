// Kernel tests of the trace module on this machine's kernel: tracefs is mounted when absent,
// every format file parses, sched_switch / sched_process_exec / sys_enter_openat samples
// decode to known answers, filters apply, and uprobes/uretprobes count exact call numbers.
// Needs root (or CAP_SYS_ADMIN + CAP_PERFMON) for tracefs and raw tracepoint data.
#include <fcntl.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/testing.h"
#include "wick/event_spec.h"
#include "wick/kernel_caps.h"
#include "wick/perf_event.h"
#include "wick/record.h"
#include "wick/ring_buffer.h"
#include "wick/trace_event.h"
#include "wick/trace_format.h"
#include "wick/tracefs.h"

namespace wick {
namespace {

using ::testing::HasSubstr;

// A child that execs argv once Go() is called, so events can be opened on its pid first.
class Child {
 public:
  explicit Child(std::vector<std::string> argv) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      close(fds[1]);
      char c;
      if (read(fds[0], &c, 1) != 1) _exit(126);
      std::vector<char*> args;
      for (std::string& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    close(fds[0]);
    go_fd_ = fds[1];
  }
  ~Child() {
    if (go_fd_ >= 0) close(go_fd_);
    if (pid_ > 0 && !waited_) {
      kill(pid_, SIGKILL);
      Wait();
    }
  }
  pid_t pid() const { return pid_; }
  void Go() {
    (void)!write(go_fd_, "g", 1);
    close(go_fd_);
    go_fd_ = -1;
  }
  // Exit status, or -1.
  int Wait() {
    int status = 0;
    if (waitpid(pid_, &status, 0) != pid_) return -1;
    waited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

 private:
  pid_t pid_ = -1;
  int go_fd_ = -1;
  bool waited_ = false;
};

class TraceKernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<KernelCaps> caps = KernelCaps::Probe();
    ASSERT_TRUE(caps.ok()) << caps.status();
    caps_ = *caps;
    // Mounting tracefs and reading raw tracepoint data need privileges.
    WICK_REQUIRE(caps_.is_root || caps_.has_cap_sys_admin, "needs root for tracefs");
    absl::StatusOr<Tracefs> tracefs = Tracefs::FindOrMount();
    ASSERT_TRUE(tracefs.ok()) << tracefs.status();
    tracefs_ = *tracefs;
  }

  // The one event `text` resolves to.
  ResolvedTraceEvent ResolveOne(const std::string& text, EventSpec* spec_out = nullptr) {
    absl::StatusOr<EventSpec> spec = ParseEventSpec(text);
    EXPECT_TRUE(spec.ok()) << spec.status();
    if (!spec.ok()) return {};
    if (spec_out != nullptr) *spec_out = *spec;
    absl::StatusOr<std::vector<ResolvedTraceEvent>> events =
        ResolveTraceEvents(*spec, caps_, &*tracefs_);
    EXPECT_TRUE(events.ok()) << events.status();
    if (!events.ok() || events->size() != 1) return {};
    return (*events)[0];
  }

  // A sampling attr taking every hit of a tracepoint, raw data included.
  perf_event_attr SamplingAttr(const ResolvedTraceEvent& ev, const EventSpec& spec,
                               bool enable_on_exec) {
    SamplingOptions options;
    options.period = 1;
    options.enable_on_exec = enable_on_exec;
    options.disabled = true;
    absl::StatusOr<perf_event_attr> attr = MakeSamplingAttr(ev.event, spec, options, caps_);
    EXPECT_TRUE(attr.ok()) << attr.status();
    perf_event_attr a = attr.ok() ? *attr : perf_event_attr{};
    ApplyTraceEvent(ev, &a);
    return a;
  }

  // Decoded fields of every sample in the ring.
  std::vector<std::pair<SampleRecord, std::vector<TraceValue>>> DrainSamples(
      MappedRing& ring, const perf_event_attr& attr, const TraceFormat& format) {
    std::vector<std::pair<SampleRecord, std::vector<TraceValue>>> out;
    const SampleFormat fmt = SampleFormat::FromAttr(attr);
    ParsedRecord parsed;
    for (std::span<const std::byte> rec = ring.ring().Next(); !rec.empty();
         rec = ring.ring().Next()) {
      absl::Status st = ParseRecord(rec, fmt, &parsed);
      EXPECT_TRUE(st.ok()) << st;
      if (!st.ok() || parsed.type != PERF_RECORD_SAMPLE) continue;
      absl::StatusOr<std::vector<TraceValue>> values =
          DecodeTraceFields(format, parsed.sample.raw, /*include_common=*/true);
      EXPECT_TRUE(values.ok()) << values.status();
      if (values.ok()) out.emplace_back(parsed.sample, *std::move(values));
    }
    ring.ring().Consume();
    return out;
  }

  KernelCaps caps_;
  std::optional<Tracefs> tracefs_;
};

const TraceValue* Field(const std::vector<TraceValue>& values, std::string_view name) {
  for (const TraceValue& v : values) {
    if (v.field->name == name) return &v;
  }
  return nullptr;
}

TEST_F(TraceKernelTest, EveryFormatFileOfThisKernelParses) {
  WICK_ASSERT_OK_AND_ASSIGN(std::vector<TracepointName> all, tracefs_->ListTracepoints());
  size_t parsed = 0, failed = 0;
  for (const TracepointName& tp : all) {
    absl::StatusOr<std::string> text = tracefs_->ReadFormat(tp);
    absl::StatusOr<TraceFormat> format =
        text.ok() ? TraceFormat::Parse(*text) : absl::StatusOr<TraceFormat>(text.status());
    if (!format.ok()) {
      ++failed;
      ADD_FAILURE() << tp.FullName() << ": " << format.status();
      continue;
    }
    ++parsed;
    EXPECT_EQ(format->name, tp.event);
    WICK_ASSERT_OK_AND_ASSIGN(uint64_t id, tracefs_->ReadId(tp));
    EXPECT_EQ(format->id, id) << tp.FullName();
    // A payload of FixedSize() zero bytes decodes (empty __data_loc strings and arrays).
    std::vector<std::byte> zeros(format->FixedSize());
    EXPECT_TRUE(DecodeTraceFields(*format, zeros, true).ok()) << tp.FullName();
  }
  std::printf("parsed %zu tracepoint format files, %zu failures\n", parsed, failed);
  EXPECT_EQ(failed, 0u);
  EXPECT_GT(parsed, 1000u);
}

TEST_F(TraceKernelTest, GlobsExpand) {
  absl::StatusOr<EventSpec> spec = ParseEventSpec("syscalls:sys_enter_open*");
  ASSERT_TRUE(spec.ok());
  WICK_ASSERT_OK_AND_ASSIGN(std::vector<ResolvedTraceEvent> events,
                            ResolveTraceEvents(*spec, caps_, &*tracefs_));
  std::vector<std::string> names;
  for (const ResolvedTraceEvent& e : events) names.push_back(e.event.name);
  EXPECT_THAT(names,
              ::testing::IsSupersetOf({"syscalls:sys_enter_open", "syscalls:sys_enter_openat",
                                       "syscalls:sys_enter_openat2"}));
  absl::StatusOr<EventSpec> typo = ParseEventSpec("sched:sched_swich");
  absl::StatusOr<std::vector<ResolvedTraceEvent>> bad =
      ResolveTraceEvents(*typo, caps_, &*tracefs_);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("did you mean sched:sched_switch"));
}

TEST_F(TraceKernelTest, SchedSwitchDecodesOnOneCpu) {
  EventSpec spec;
  ResolvedTraceEvent ev = ResolveOne("sched:sched_switch", &spec);
  ASSERT_NE(ev.format, nullptr);
  const perf_event_attr attr = SamplingAttr(ev, spec, false);
  const int cpu = caps_.online_cpus.front();
  WICK_ASSERT_OK_AND_ASSIGN(PerfEvent event, PerfEvent::Open(attr, -1, cpu, -1, ev.event.name));
  WICK_ASSERT_OK_AND_ASSIGN(MappedRing ring, MappedRing::Map(event.fd(), 64));

  // A thread pinned to that CPU, with a known name, that sleeps (switches out) 50 times. The
  // event is enabled only once the thread has its name and its CPU: moving to the CPU is a
  // switch of its own, which would otherwise be recorded under the inherited name.
  std::atomic<pid_t> tid{0};
  std::atomic<bool> go{false};
  std::thread sleeper([&] {
    prctl(PR_SET_NAME, "wick_switcher");
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof(set), &set);
    tid = static_cast<pid_t>(syscall(SYS_gettid));
    while (!go) std::this_thread::yield();
    for (int i = 0; i < 50; ++i) usleep(1000);
  });
  while (tid == 0) std::this_thread::yield();
  const absl::Status enabled = event.Enable();
  go = true;
  sleeper.join();
  WICK_ASSERT_OK(enabled);
  WICK_ASSERT_OK(event.Disable());

  auto samples = DrainSamples(ring, attr, *ev.format);
  int ours = 0, sleeping = 0;
  for (const auto& [sample, values] : samples) {
    const TraceValue* prev_pid = Field(values, "prev_pid");
    const TraceValue* prev_comm = Field(values, "prev_comm");
    const TraceValue* common_type = Field(values, "common_type");
    ASSERT_NE(prev_pid, nullptr);
    ASSERT_NE(prev_comm, nullptr);
    // The sample's task is the one switching out, and the payload is this event's.
    // (An exiting task's last switch has no pid any more: the kernel reports -1.)
    if (sample.tid != UINT32_MAX) {
      EXPECT_EQ(prev_pid->s, static_cast<int64_t>(sample.tid));
    }
    EXPECT_EQ(common_type->u, ev.event.config);
    EXPECT_EQ(sample.cpu, static_cast<uint32_t>(cpu));
    if (prev_pid->s == tid) {
      ++ours;
      EXPECT_EQ(prev_comm->str, "wick_switcher");
      // usleep() switches out in TASK_INTERRUPTIBLE (1); the thread's exit in EXIT_DEAD.
      if ((Field(values, "prev_state")->s & 1) == 1) ++sleeping;
    }
  }
  EXPECT_GE(sleeping, 50);
  std::printf("%zu sched_switch samples on cpu %d, %d from the sleeping thread\n", samples.size(),
              cpu, ours);
  EXPECT_GE(ours, 50);
  ASSERT_FALSE(samples.empty());
  std::printf("e.g. %s\n", FormatTraceText(samples.back().second).c_str());
}

TEST_F(TraceKernelTest, SysEnterOpenatCountsExactlyAndFilters) {
  EventSpec spec;
  ResolvedTraceEvent ev = ResolveOne("syscalls:sys_enter_openat", &spec);
  ASSERT_NE(ev.format, nullptr);
  const perf_event_attr attr = SamplingAttr(ev, spec, true);
  for (const char* filter : {"", "mode == 420"}) {
    Child child({WICK_OPENAT_N, "7", "3"});
    WICK_ASSERT_OK_AND_ASSIGN(PerfEvent event,
                              PerfEvent::Open(attr, child.pid(), -1, -1, ev.event.name));
    WICK_ASSERT_OK_AND_ASSIGN(MappedRing ring, MappedRing::Map(event.fd(), 16));
    if (*filter != '\0') WICK_ASSERT_OK(SetFilter(event, filter, ev.format.get()));
    child.Go();
    ASSERT_EQ(child.Wait(), 0);
    auto samples = DrainSamples(ring, attr, *ev.format);
    int mode0 = 0, mode644 = 0;
    uint64_t filename = 0;
    for (const auto& [sample, values] : samples) {
      EXPECT_EQ(sample.pid, static_cast<uint32_t>(child.pid()));
      const TraceValue* mode = Field(values, "mode");
      const TraceValue* name = Field(values, "filename");
      ASSERT_EQ(name->type, TraceValue::Type::kPointer);
      EXPECT_NE(name->u, 0u);
      if (filename == 0) filename = name->u;
      EXPECT_EQ(name->u, filename) << "the same string literal every time";
      (mode->u == 0644 ? mode644 : mode0)++;
    }
    if (*filter == '\0') {
      EXPECT_EQ(mode0, 7);
      EXPECT_EQ(mode644, 3);
      std::printf("e.g. %s\n", FormatTraceText(samples.front().second).c_str());
    } else {
      EXPECT_EQ(mode0, 0) << filter;
      EXPECT_EQ(mode644, 3) << filter;
    }
  }
}

TEST_F(TraceKernelTest, BadFiltersSayWhy) {
  EventSpec spec;
  ResolvedTraceEvent ev = ResolveOne("syscalls:sys_enter_openat", &spec);
  ASSERT_NE(ev.format, nullptr);
  const perf_event_attr attr = SamplingAttr(ev, spec, false);
  WICK_ASSERT_OK_AND_ASSIGN(PerfEvent event, PerfEvent::Open(attr, 0, -1, -1, ev.event.name));
  absl::Status st = SetFilter(event, "mdoe == 420", ev.format.get());
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()), HasSubstr("unknown field 'mdoe' (did you mean mode?)"));
  // Fields right, syntax wrong: the kernel's own parse error, via the tracefs filter file.
  const TracepointName tp{"syscalls", "sys_enter_openat"};
  st = SetFilter(event, "mode == == 1", ev.format.get(), &*tracefs_, &tp);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  std::printf("%s\n", std::string(st.message()).c_str());
  EXPECT_THAT(std::string(st.message()), HasSubstr("parse_error"));
  WICK_ASSERT_OK_AND_ASSIGN(std::string left, tracefs_->ReadFilter(tp));
  EXPECT_EQ(left, "none\n") << "the tracefs filter is cleared again";
  WICK_EXPECT_OK(SetFilter(event, "mode == 420 && dfd != 3", ev.format.get()));
}

TEST_F(TraceKernelTest, SchedProcessExecDecodesTheFilename) {
  EventSpec spec;
  ResolvedTraceEvent ev = ResolveOne("sched:sched_process_exec", &spec);
  ASSERT_NE(ev.format, nullptr);
  const perf_event_attr attr = SamplingAttr(ev, spec, true);
  Child child({WICK_OPENAT_N, "0"});
  WICK_ASSERT_OK_AND_ASSIGN(PerfEvent event,
                            PerfEvent::Open(attr, child.pid(), -1, -1, ev.event.name));
  WICK_ASSERT_OK_AND_ASSIGN(MappedRing ring, MappedRing::Map(event.fd(), 16));
  child.Go();
  ASSERT_EQ(child.Wait(), 0);
  auto samples = DrainSamples(ring, attr, *ev.format);
  ASSERT_EQ(samples.size(), 1u);
  const auto& values = samples[0].second;
  EXPECT_EQ(Field(values, "filename")->str, WICK_OPENAT_N);
  EXPECT_EQ(Field(values, "pid")->s, child.pid());
  std::vector<TraceValue> own(values.begin() + 4, values.end());  // without common_*
  EXPECT_EQ(FormatTraceText(own), absl::StrCat("filename=", WICK_OPENAT_N, " pid=", child.pid(),
                                               " old_pid=", child.pid()));
  EXPECT_EQ(FormatTraceJson(own), absl::StrCat("{\"filename\":\"", WICK_OPENAT_N, "\",\"pid\":",
                                               child.pid(), ",\"old_pid\":", child.pid(), "}"));
}

TEST_F(TraceKernelTest, UprobeAndUretprobeCountExactly) {
  WICK_REQUIRE(caps_.has_uprobe_pmu, "no uprobe PMU");
  const std::string base = std::string("uprobe:") + WICK_UPROBE_TARGET + ":wick_uprobe_target";
  const std::string ret = std::string("uretprobe:") + WICK_UPROBE_TARGET + ":wick_uprobe_target";
  EventSpec spec, ret_spec;
  ResolvedTraceEvent entry = ResolveOne(base, &spec);
  ResolvedTraceEvent exit = ResolveOne(ret, &ret_spec);
  ASSERT_NE(entry.probe_string, nullptr);
  ASSERT_NE(exit.probe_string, nullptr);

  Child child({WICK_UPROBE_TARGET, "13"});
  std::vector<PerfEvent> events;
  for (const auto* ev : {&entry, &exit}) {
    perf_event_attr attr = MakeCountingAttr(ev->event, spec);
    ApplyTraceEvent(*ev, &attr);
    attr.disabled = 1;
    attr.enable_on_exec = 1;
    WICK_ASSERT_OK_AND_ASSIGN(PerfEvent e,
                              PerfEvent::Open(attr, child.pid(), -1, -1, ev->event.name));
    events.push_back(std::move(e));
  }
  child.Go();
  ASSERT_EQ(child.Wait(), 0);
  WICK_ASSERT_OK_AND_ASSIGN(uint64_t entries, events[0].ReadCount());
  WICK_ASSERT_OK_AND_ASSIGN(uint64_t exits, events[1].ReadCount());
  EXPECT_EQ(entries, 13u);
  EXPECT_EQ(exits, 13u);
}

TEST_F(TraceKernelTest, UprobeSamplesHitTheFunction) {
  WICK_REQUIRE(caps_.has_uprobe_pmu, "no uprobe PMU");
  EventSpec spec;
  ResolvedTraceEvent ev =
      ResolveOne(std::string("uprobe:") + WICK_UPROBE_TARGET + ":wick_uprobe_target", &spec);
  Child child({WICK_UPROBE_TARGET, "5"});
  SamplingOptions options;
  options.frequency = 99;  // ApplyTraceEvent turns this into every hit
  options.enable_on_exec = true;
  options.disabled = true;
  WICK_ASSERT_OK_AND_ASSIGN(perf_event_attr attr, MakeSamplingAttr(ev.event, spec, options, caps_));
  ApplyTraceEvent(ev, &attr);
  WICK_ASSERT_OK_AND_ASSIGN(PerfEvent event,
                            PerfEvent::Open(attr, child.pid(), -1, -1, ev.event.name));
  WICK_ASSERT_OK_AND_ASSIGN(MappedRing ring, MappedRing::Map(event.fd(), 16));
  child.Go();
  ASSERT_EQ(child.Wait(), 0);
  const SampleFormat fmt = SampleFormat::FromAttr(attr);
  ParsedRecord parsed;
  std::vector<uint64_t> ips;
  for (auto rec = ring.ring().Next(); !rec.empty(); rec = ring.ring().Next()) {
    WICK_ASSERT_OK(ParseRecord(rec, fmt, &parsed));
    if (parsed.type == PERF_RECORD_SAMPLE) ips.push_back(parsed.sample.ip);
  }
  ASSERT_EQ(ips.size(), 5u);
  for (uint64_t ip : ips) EXPECT_EQ(ip, ips[0]) << "every hit at the probed instruction";
}

TEST_F(TraceKernelTest, KprobesSayTheKernelHasNone) {
  WICK_REQUIRE(!caps_.has_kprobe_pmu, "this kernel has kprobes");
  absl::StatusOr<EventSpec> spec = ParseEventSpec("kprobe:do_sys_openat2");
  ASSERT_TRUE(spec.ok());
  absl::StatusOr<std::vector<ResolvedTraceEvent>> r = ResolveTraceEvents(*spec, caps_, nullptr);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(r.status().message()),
              ::testing::StartsWith("this kernel was built without kprobe support (no "
                                    "/sys/bus/event_source/devices/kprobe)"));
}

}  // namespace
}  // namespace wick
