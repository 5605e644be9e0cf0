// Unit tests of the events module that need no perf_event_open: spec parsing, CPU lists,
// KernelCaps::Probe against fixture trees, event resolution and attr validation.
#include <linux/perf_event.h>
#include <stdlib.h>
#include <time.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/testing.h"
#include "wick/event_spec.h"
#include "wick/kernel_caps.h"
#include "wick/perf_event.h"

namespace wick {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

// ---------------------------------------------------------------------------------------------
// ParseEventSpec

TEST(ParseEventSpecTest, CanonicalNames) {
  for (const std::string& name : KnownEventNames()) {
    WICK_ASSERT_OK_AND_ASSIGN(EventSpec spec, ParseEventSpec(name));
    EXPECT_EQ(spec.name, name);
    EXPECT_EQ(spec.canonical, name);
    EXPECT_FALSE(spec.exclude_user);
    EXPECT_FALSE(spec.exclude_kernel);
    EXPECT_EQ(spec.modifiers, "");
  }
  EXPECT_EQ(KnownEventNames().size(), 15u);
}

TEST(ParseEventSpecTest, Aliases) {
  const std::vector<std::pair<std::string, std::string>> aliases = {
      {"faults", "page-faults"},           {"cs", "context-switches"},
      {"migrations", "cpu-migrations"},    {"cpu-cycles", "cycles"},
      {"branch-instructions", "branches"},
  };
  for (const auto& [alias, canonical] : aliases) {
    WICK_ASSERT_OK_AND_ASSIGN(EventSpec spec, ParseEventSpec(alias));
    EXPECT_EQ(spec.name, alias);  // as typed
    EXPECT_EQ(spec.canonical, canonical) << alias;
  }
}

TEST(ParseEventSpecTest, CaseInsensitiveAndTrimmed) {
  WICK_ASSERT_OK_AND_ASSIGN(EventSpec spec, ParseEventSpec("  CPU-Clock \n"));
  EXPECT_EQ(spec.name, "CPU-Clock");
  EXPECT_EQ(spec.canonical, "cpu-clock");
}

TEST(ParseEventSpecTest, Modifiers) {
  WICK_ASSERT_OK_AND_ASSIGN(EventSpec u, ParseEventSpec("cycles:u"));
  EXPECT_EQ(u.name, "cycles");
  EXPECT_EQ(u.modifiers, "u");
  EXPECT_TRUE(u.exclude_kernel);
  EXPECT_FALSE(u.exclude_user);

  WICK_ASSERT_OK_AND_ASSIGN(EventSpec k, ParseEventSpec("cs:k"));
  EXPECT_EQ(k.canonical, "context-switches");
  EXPECT_TRUE(k.exclude_user);
  EXPECT_FALSE(k.exclude_kernel);

  for (const char* text : {"cpu-clock:uk", "cpu-clock:ku"}) {
    WICK_ASSERT_OK_AND_ASSIGN(EventSpec both, ParseEventSpec(text));
    EXPECT_EQ(both.name, "cpu-clock");
    EXPECT_FALSE(both.exclude_user) << text;
    EXPECT_FALSE(both.exclude_kernel) << text;
  }
}

TEST(ParseEventSpecTest, BadModifier) {
  absl::StatusOr<EventSpec> spec = ParseEventSpec("cycles:up");
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Msg(spec.status()), HasSubstr("unsupported modifier 'p'"));
  EXPECT_THAT(Msg(spec.status()), HasSubstr("cycles:up"));

  absl::StatusOr<EventSpec> empty = ParseEventSpec("cycles:");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ParseEventSpecTest, TypoGetsSuggestion) {
  absl::StatusOr<EventSpec> spec = ParseEventSpec("cpu-clok");
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Msg(spec.status()),
              HasSubstr("unknown event 'cpu-clok'; did you mean 'cpu-clock'? (known: cpu-clock, "
                        "task-clock, page-faults,"));
  // A transposition is one edit.
  EXPECT_THAT(Msg(ParseEventSpec("instrucitons").status()),
              HasSubstr("did you mean 'instructions'"));
  // Suggestions may be aliases.
  EXPECT_THAT(Msg(ParseEventSpec("falts").status()), HasSubstr("did you mean 'faults'"));
  // Modifiers do not stop the suggestion.
  EXPECT_THAT(Msg(ParseEventSpec("cylces:u").status()),
              HasSubstr("unknown event 'cylces'; did you mean 'cycles'?"));
}

TEST(ParseEventSpecTest, NoSuggestionForUnrelatedName) {
  absl::StatusOr<EventSpec> spec = ParseEventSpec("zzzzzzzzzz");
  ASSERT_FALSE(spec.ok());
  EXPECT_THAT(Msg(spec.status()), HasSubstr("unknown event 'zzzzzzzzzz' (known: cpu-clock"));
  EXPECT_THAT(Msg(spec.status()), Not(HasSubstr("did you mean")));
}

TEST(ParseEventSpecTest, EmptyIsError) {
  EXPECT_EQ(ParseEventSpec("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseEventSpec("   ").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ParseEventSpecTest, TracepointsAndProbesAreClassified) {
  struct Case {
    const char* text;
    EventKind kind;
    const char* name;
    bool exclude_kernel;
  };
  for (const Case& c :
       {Case{"sched:sched_switch", EventKind::kTracepoint, "sched:sched_switch", false},
        Case{"sched:*", EventKind::kTracepoint, "sched:*", false},
        Case{"syscalls:sys_enter_openat:u", EventKind::kTracepoint, "syscalls:sys_enter_openat",
             true},
        Case{"uprobe:/bin/bash:readline", EventKind::kUprobe, "uprobe:/bin/bash:readline", false},
        Case{"uretprobe:/bin/bash:0x1234", EventKind::kUretprobe, "uretprobe:/bin/bash:0x1234",
             false},
        Case{"kprobe:do_sys_open+4", EventKind::kKprobe, "kprobe:do_sys_open+4", false},
        Case{"kretprobe:do_sys_open", EventKind::kKretprobe, "kretprobe:do_sys_open", false}}) {
    WICK_ASSERT_OK_AND_ASSIGN(EventSpec spec, ParseEventSpec(c.text));
    EXPECT_EQ(spec.kind, c.kind) << c.text;
    EXPECT_EQ(spec.name, c.name) << c.text;
    EXPECT_EQ(spec.exclude_kernel, c.exclude_kernel) << c.text;
    // Trace kinds are resolved by the trace module, not by ResolveEvent().
    absl::StatusOr<ResolvedEvent> resolved = ResolveEvent(spec, KernelCaps());
    EXPECT_EQ(resolved.status().code(), absl::StatusCode::kUnimplemented) << c.text;
  }
  WICK_ASSERT_OK_AND_ASSIGN(EventSpec builtin, ParseEventSpec("cs:u"));
  EXPECT_EQ(builtin.kind, EventKind::kBuiltin);
}

TEST(ParseEventSpecTest, MalformedTraceSpecs) {
  for (const char* text :
       {"sched:", ":sched_switch", "uprobe:", "kprobe:", "sched:sched_switch:x"}) {
    EXPECT_EQ(ParseEventSpec(text).status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
}

// ---------------------------------------------------------------------------------------------
// ParseCpuList

TEST(ParseCpuListTest, Ranges) {
  WICK_ASSERT_OK_AND_ASSIGN(std::vector<int> cpus, ParseCpuList("0-3,5,7-8\n"));
  EXPECT_THAT(cpus, ElementsAre(0, 1, 2, 3, 5, 7, 8));
  WICK_ASSERT_OK_AND_ASSIGN(std::vector<int> one, ParseCpuList("0\n"));
  EXPECT_THAT(one, ElementsAre(0));
  WICK_ASSERT_OK_AND_ASSIGN(std::vector<int> unsorted, ParseCpuList("4,1-2,2"));
  EXPECT_THAT(unsorted, ElementsAre(1, 2, 4));
  WICK_ASSERT_OK_AND_ASSIGN(std::vector<int> empty, ParseCpuList("\n"));
  EXPECT_TRUE(empty.empty());
}

TEST(ParseCpuListTest, Malformed) {
  for (const char* text : {"a", "3-1", "0-", "-1", "1,,2", "0-2x", "1-99999999"}) {
    absl::StatusOr<std::vector<int>> cpus = ParseCpuList(text);
    EXPECT_FALSE(cpus.ok()) << text;
    EXPECT_EQ(cpus.status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
}

// ---------------------------------------------------------------------------------------------
// KernelCaps::Probe against fixture trees

class FixtureTree {
 public:
  FixtureTree() {
    std::string pattern = ::testing::TempDir() + "/wick_caps_XXXXXX";
    char* dir = mkdtemp(pattern.data());
    EXPECT_NE(dir, nullptr);
    root_ = pattern;
  }
  ~FixtureTree() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  std::string sys() const { return root_ + "/sys"; }
  std::string proc() const { return root_ + "/proc"; }
  void Write(const std::string& rel, const std::string& content) {
    std::filesystem::path path = root_ + "/" + rel;
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path) << content;
  }
  void Pmu(const std::string& name, int type) {
    Write("sys/bus/event_source/devices/" + name + "/type", std::to_string(type) + "\n");
  }

 private:
  std::string root_;
};

TEST(KernelCapsProbeTest, ReadsEverything) {
  FixtureTree t;
  t.Write("proc/sys/kernel/perf_event_paranoid", "3\n");
  t.Write("proc/sys/kernel/perf_event_max_stack", "64\n");
  t.Write("proc/sys/kernel/perf_event_max_contexts_per_stack", "4\n");
  t.Write("proc/sys/kernel/perf_event_max_sample_rate", "25000\n");
  t.Write("proc/sys/kernel/perf_event_mlock_kb", "1024\n");
  t.Write("sys/devices/system/cpu/online", "0-1,4\n");
  t.Pmu("cpu", 4);
  t.Pmu("software", PERF_TYPE_SOFTWARE);
  t.Pmu("tracepoint", PERF_TYPE_TRACEPOINT);
  t.Pmu("uprobe", 7);
  t.Pmu("kprobe", 6);
  t.Write("proc/mounts",
          "sysfs /sys sysfs rw,nosuid 0 0\n"
          "tracefs /sys/kernel/tracing tracefs rw,nosuid,nodev,noexec,relatime 0 0\n"
          "tracefs /other/tracing tracefs rw 0 0\n");
  t.Write("proc/self/status",
          "Name:\ttest\nUid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\n"
          "CapInh:\t0000000000000000\nCapEff:\t0000004000000000\n");

  WICK_ASSERT_OK_AND_ASSIGN(KernelCaps caps, KernelCaps::Probe(t.sys(), t.proc()));
  EXPECT_EQ(caps.perf_event_paranoid, 3);
  EXPECT_EQ(caps.perf_event_max_stack, 64u);
  EXPECT_EQ(caps.perf_event_max_contexts_per_stack, 4u);
  EXPECT_EQ(caps.perf_event_max_sample_rate, 25000u);
  EXPECT_EQ(caps.perf_event_mlock_kb, 1024u);
  EXPECT_THAT(caps.online_cpus, ElementsAre(0, 1, 4));
  EXPECT_EQ(caps.pmus.size(), 5u);
  EXPECT_EQ(caps.PmuType("uprobe"), 7u);
  EXPECT_EQ(caps.PmuType("software"), uint32_t{PERF_TYPE_SOFTWARE});
  EXPECT_FALSE(caps.PmuType("msr").has_value());
  EXPECT_TRUE(caps.has_cpu_pmu);
  EXPECT_TRUE(caps.has_uprobe_pmu);
  EXPECT_TRUE(caps.has_kprobe_pmu);
  EXPECT_EQ(caps.tracefs_path, "/sys/kernel/tracing");
  EXPECT_FALSE(caps.is_root);
  EXPECT_TRUE(caps.has_cap_perfmon);  // bit 38
  EXPECT_FALSE(caps.has_cap_sys_admin);
  EXPECT_TRUE(caps.PerfmonCapable());
}

TEST(KernelCapsProbeTest, NoCpuPmuAndMissingFilesKeepDefaults) {
  FixtureTree t;
  t.Write("sys/devices/system/cpu/online", "0\n");
  t.Pmu("software", PERF_TYPE_SOFTWARE);
  t.Pmu("tracepoint", PERF_TYPE_TRACEPOINT);
  t.Pmu("breakpoint", PERF_TYPE_BREAKPOINT);
  t.Write("proc/sys/kernel/perf_event_max_stack", "not a number\n");
  t.Write("proc/mounts", "proc /proc proc rw 0 0\n");

  WICK_ASSERT_OK_AND_ASSIGN(KernelCaps caps, KernelCaps::Probe(t.sys(), t.proc()));
  const KernelCaps defaults;
  EXPECT_EQ(caps.perf_event_paranoid, defaults.perf_event_paranoid);
  EXPECT_EQ(caps.perf_event_max_stack, 127u);
  EXPECT_EQ(caps.perf_event_max_sample_rate, defaults.perf_event_max_sample_rate);
  EXPECT_THAT(caps.online_cpus, ElementsAre(0));
  EXPECT_EQ(caps.pmus.size(), 3u);
  EXPECT_FALSE(caps.has_cpu_pmu);
  EXPECT_FALSE(caps.has_uprobe_pmu);
  EXPECT_FALSE(caps.has_kprobe_pmu);
  EXPECT_EQ(caps.tracefs_path, "");
  EXPECT_FALSE(caps.is_root);
  EXPECT_FALSE(caps.PerfmonCapable());
}

TEST(KernelCapsProbeTest, RootAndEscapedTracefsPath) {
  FixtureTree t;
  t.Write("sys/devices/system/cpu/online", "0-7\n");
  t.Write("proc/mounts", "none /mnt/my\\040trace tracefs rw 0 0\n");
  t.Write("proc/self/status", "Uid:\t1000\t0\t0\t0\nCapEff:\t000001ffffffffff\n");
  t.Pmu("cpu_core", 4);  // hybrid Intel: no plain "cpu"
  WICK_ASSERT_OK_AND_ASSIGN(KernelCaps caps, KernelCaps::Probe(t.sys(), t.proc()));
  EXPECT_EQ(caps.online_cpus.size(), 8u);
  EXPECT_EQ(caps.tracefs_path, "/mnt/my trace");
  EXPECT_TRUE(caps.is_root);  // effective uid is the second field
  EXPECT_TRUE(caps.has_cap_perfmon);
  EXPECT_TRUE(caps.has_cap_sys_admin);
  EXPECT_TRUE(caps.has_cpu_pmu);
}

TEST(KernelCapsProbeTest, NoOnlineCpusIsError) {
  FixtureTree t;
  t.Pmu("software", PERF_TYPE_SOFTWARE);
  absl::StatusOr<KernelCaps> missing = KernelCaps::Probe(t.sys(), t.proc());
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(Msg(missing.status()), HasSubstr("devices/system/cpu/online"));

  t.Write("sys/devices/system/cpu/online", "\n");
  absl::StatusOr<KernelCaps> empty = KernelCaps::Probe(t.sys(), t.proc());
  ASSERT_FALSE(empty.ok());
  EXPECT_THAT(Msg(empty.status()), HasSubstr("no online CPUs"));

  t.Write("sys/devices/system/cpu/online", "0-x\n");
  absl::StatusOr<KernelCaps> bad = KernelCaps::Probe(t.sys(), t.proc());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Msg(bad.status()), HasSubstr("malformed CPU list"));
}

TEST(PermissionHintTest, Levels) {
  KernelCaps caps;
  caps.perf_event_paranoid = 3;
  EXPECT_EQ(PermissionHint(caps),
            "kernel.perf_event_paranoid is 3; run as root, grant CAP_PERFMON, or lower it: "
            "sysctl kernel.perf_event_paranoid=1");
  caps.perf_event_paranoid = 2;
  EXPECT_THAT(PermissionHint(caps), HasSubstr("':u'"));
  caps.perf_event_paranoid = 1;
  EXPECT_THAT(PermissionHint(caps), HasSubstr("kernel.perf_event_paranoid=-1"));
  caps.has_cap_perfmon = true;
  EXPECT_THAT(PermissionHint(caps), HasSubstr("seccomp"));
}

// ---------------------------------------------------------------------------------------------
// ResolveEvent

KernelCaps FakeCaps(bool cpu_pmu) {
  KernelCaps caps;
  caps.online_cpus = {0, 1};
  caps.pmus = {{"software", PERF_TYPE_SOFTWARE}};
  if (cpu_pmu) caps.pmus["cpu"] = 4;
  caps.has_cpu_pmu = cpu_pmu;
  caps.is_root = true;  // the kernel side is allowed (see UnprivilegedFallsBackToUserSpace)
  return caps;
}

ResolvedEvent MustResolve(std::string_view text, const KernelCaps& caps) {
  absl::StatusOr<EventSpec> spec = ParseEventSpec(text);
  EXPECT_TRUE(spec.ok()) << spec.status();
  absl::StatusOr<ResolvedEvent> event = ResolveEvent(*spec, caps);
  EXPECT_TRUE(event.ok()) << event.status();
  return event.ok() ? *event : ResolvedEvent{};
}

TEST(ResolveEventTest, SoftwareEvents) {
  const KernelCaps caps = FakeCaps(false);
  const std::vector<std::pair<std::string, uint64_t>> expected = {
      {"cpu-clock", PERF_COUNT_SW_CPU_CLOCK},
      {"task-clock", PERF_COUNT_SW_TASK_CLOCK},
      {"faults", PERF_COUNT_SW_PAGE_FAULTS},
      {"cs", PERF_COUNT_SW_CONTEXT_SWITCHES},
      {"migrations", PERF_COUNT_SW_CPU_MIGRATIONS},
      {"minor-faults", PERF_COUNT_SW_PAGE_FAULTS_MIN},
      {"major-faults:u", PERF_COUNT_SW_PAGE_FAULTS_MAJ},
  };
  for (const auto& [text, config] : expected) {
    ResolvedEvent event = MustResolve(text, caps);
    EXPECT_EQ(event.type, uint32_t{PERF_TYPE_SOFTWARE}) << text;
    EXPECT_EQ(event.config, config) << text;
    EXPECT_EQ(event.notice, "") << text;
  }
  EXPECT_EQ(MustResolve("cs", caps).name, "context-switches");
}

TEST(ResolveEventTest, HardwareWithPmu) {
  const KernelCaps caps = FakeCaps(true);
  ResolvedEvent cycles = MustResolve("cpu-cycles", caps);
  EXPECT_EQ(cycles.type, uint32_t{PERF_TYPE_HARDWARE});
  EXPECT_EQ(cycles.config, uint64_t{PERF_COUNT_HW_CPU_CYCLES});
  EXPECT_EQ(cycles.name, "cycles");
  EXPECT_EQ(cycles.notice, "");
  ResolvedEvent branches = MustResolve("branch-instructions", caps);
  EXPECT_EQ(branches.config, uint64_t{PERF_COUNT_HW_BRANCH_INSTRUCTIONS});
  EXPECT_EQ(MustResolve("ref-cycles", caps).config, uint64_t{PERF_COUNT_HW_REF_CPU_CYCLES});
}

TEST(ResolveEventTest, CyclesFallsBackWithoutPmu) {
  ResolvedEvent event = MustResolve("cycles", FakeCaps(false));
  EXPECT_EQ(event.type, uint32_t{PERF_TYPE_SOFTWARE});
  EXPECT_EQ(event.config, uint64_t{PERF_COUNT_SW_CPU_CLOCK});
  EXPECT_EQ(event.name, "cpu-clock");
  EXPECT_EQ(event.notice,
            "cycles: no hardware PMU on this machine (no /sys/bus/event_source/devices/cpu); "
            "using cpu-clock instead");
}

// As perf does: where perf_event_paranoid refuses kernel space to this process, an event with
// no side chosen counts user space only, with a notice; one with a side is left as asked (the
// kernel then refuses ':k' with the permission hint).
TEST(ResolveEventTest, UnprivilegedFallsBackToUserSpace) {
  KernelCaps caps = FakeCaps(false);
  caps.is_root = false;
  caps.perf_event_paranoid = 2;
  ResolvedEvent clock = MustResolve("cpu-clock", caps);
  EXPECT_TRUE(clock.user_only);
  EXPECT_EQ(clock.notice,
            "cpu-clock: kernel.perf_event_paranoid is 2 and wick is neither root nor CAP_PERFMON: "
            "user space only, as cpu-clock:u (for the kernel side: run as root, grant "
            "CAP_PERFMON, or sysctl kernel.perf_event_paranoid=1)");
  const perf_event_attr attr = MakeCountingAttr(clock, *ParseEventSpec("cpu-clock"));
  EXPECT_TRUE(attr.exclude_kernel);
  EXPECT_TRUE(attr.exclude_hv);
  EXPECT_FALSE(attr.exclude_user);
  // Both notices for cycles on a machine without a PMU.
  ResolvedEvent cycles = MustResolve("cycles", caps);
  EXPECT_TRUE(cycles.user_only);
  EXPECT_THAT(cycles.notice, HasSubstr("using cpu-clock instead; cycles: kernel."));
  // A side the user chose is kept; lower paranoid levels and CAP_PERFMON need no fallback.
  EXPECT_FALSE(MustResolve("cpu-clock:k", caps).user_only);
  EXPECT_FALSE(MustResolve("cpu-clock:u", caps).user_only);
  caps.perf_event_paranoid = 1;
  EXPECT_FALSE(MustResolve("cpu-clock", caps).user_only);
  caps.perf_event_paranoid = 2;
  caps.has_cap_perfmon = true;
  ResolvedEvent capable = MustResolve("cpu-clock", caps);
  EXPECT_FALSE(capable.user_only);
  EXPECT_EQ(capable.notice, "");
}

TEST(ResolveEventTest, OtherHardwareFailsWithoutPmu) {
  for (const char* name : {"instructions", "cache-misses", "branches", "bus-cycles"}) {
    WICK_ASSERT_OK_AND_ASSIGN(EventSpec spec, ParseEventSpec(name));
    absl::StatusOr<ResolvedEvent> event = ResolveEvent(spec, FakeCaps(false));
    ASSERT_FALSE(event.ok()) << name;
    EXPECT_EQ(event.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(Msg(event.status()),
              absl::StrCat("event '", name,
                           "' needs a hardware PMU and this machine has none (virtual machine?); "
                           "use a software event such as cpu-clock"));
  }
}

// ---------------------------------------------------------------------------------------------
// MakeSamplingAttr

struct AttrInputs {
  ResolvedEvent event;
  EventSpec spec;
  KernelCaps caps = FakeCaps(false);
};

AttrInputs CpuClock(std::string_view text = "cpu-clock") {
  AttrInputs in;
  in.spec = *ParseEventSpec(text);
  in.event = *ResolveEvent(in.spec, in.caps);
  in.caps.perf_event_max_sample_rate = 10000;
  in.caps.perf_event_max_stack = 127;
  return in;
}

TEST(MakeSamplingAttrTest, Defaults) {
  AttrInputs in = CpuClock();
  SamplingOptions options;
  options.frequency = 999;
  WICK_ASSERT_OK_AND_ASSIGN(perf_event_attr attr,
                            MakeSamplingAttr(in.event, in.spec, options, in.caps));
  EXPECT_EQ(attr.size, sizeof(perf_event_attr));
  EXPECT_EQ(attr.type, uint32_t{PERF_TYPE_SOFTWARE});
  EXPECT_EQ(attr.config, uint64_t{PERF_COUNT_SW_CPU_CLOCK});
  EXPECT_EQ(attr.freq, 1u);
  EXPECT_EQ(attr.sample_freq, 999u);
  EXPECT_EQ(attr.sample_type, uint64_t{PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_IP | PERF_SAMPLE_TID |
                                       PERF_SAMPLE_TIME | PERF_SAMPLE_CPU | PERF_SAMPLE_PERIOD});
  EXPECT_EQ(attr.precise_ip, 0u);
  EXPECT_EQ(attr.use_clockid, 1u);
  EXPECT_EQ(attr.clockid, CLOCK_MONOTONIC);
  EXPECT_EQ(attr.sample_id_all, 1u);
  EXPECT_EQ(attr.exclude_kernel, 0u);
  EXPECT_EQ(attr.exclude_user, 0u);
  EXPECT_EQ(attr.mmap, 0u);
  EXPECT_EQ(attr.watermark, 0u);
  EXPECT_EQ(attr.sample_max_stack, 0u);
}

TEST(MakeSamplingAttrTest, AllOptions) {
  AttrInputs in = CpuClock("cpu-clock:u");
  SamplingOptions options;
  options.period = 100000;
  options.callchain = true;
  options.max_stack = 127;
  options.inherit = true;
  options.enable_on_exec = true;
  options.disabled = true;
  options.track_tasks = true;
  options.wakeup_watermark_bytes = 4096;
  options.sample_id_all = false;
  WICK_ASSERT_OK_AND_ASSIGN(perf_event_attr attr,
                            MakeSamplingAttr(in.event, in.spec, options, in.caps));
  EXPECT_EQ(attr.freq, 0u);
  EXPECT_EQ(attr.sample_period, 100000u);
  EXPECT_TRUE(attr.sample_type & PERF_SAMPLE_CALLCHAIN);
  EXPECT_EQ(attr.sample_max_stack, 127u);
  EXPECT_EQ(attr.inherit, 1u);
  EXPECT_EQ(attr.enable_on_exec, 1u);
  EXPECT_EQ(attr.disabled, 1u);
  EXPECT_EQ(attr.mmap, 1u);
  EXPECT_EQ(attr.mmap2, 1u);
  EXPECT_EQ(attr.comm, 1u);
  EXPECT_EQ(attr.comm_exec, 1u);
  EXPECT_EQ(attr.task, 1u);
  EXPECT_EQ(attr.mmap_data, 0u);
  EXPECT_EQ(attr.watermark, 1u);
  EXPECT_EQ(attr.wakeup_watermark, 4096u);
  EXPECT_EQ(attr.sample_id_all, 0u);
  EXPECT_EQ(attr.exclude_kernel, 1u);
  EXPECT_EQ(attr.exclude_hv, 1u);
  EXPECT_EQ(attr.exclude_user, 0u);
}

TEST(MakeSamplingAttrTest, NeedsExactlyOneOfFrequencyAndPeriod) {
  AttrInputs in = CpuClock();
  SamplingOptions neither;
  EXPECT_EQ(MakeSamplingAttr(in.event, in.spec, neither, in.caps).status().code(),
            absl::StatusCode::kInvalidArgument);
  SamplingOptions both;
  both.frequency = 99;
  both.period = 1000;
  absl::StatusOr<perf_event_attr> attr = MakeSamplingAttr(in.event, in.spec, both, in.caps);
  ASSERT_FALSE(attr.ok());
  EXPECT_THAT(Msg(attr.status()), HasSubstr("exactly one of a frequency or a period (got both)"));
}

TEST(MakeSamplingAttrTest, FrequencyAboveSysctl) {
  AttrInputs in = CpuClock();
  SamplingOptions options;
  options.frequency = 10000;  // the limit itself is allowed
  WICK_EXPECT_OK(MakeSamplingAttr(in.event, in.spec, options, in.caps));
  options.frequency = 10001;
  absl::StatusOr<perf_event_attr> attr = MakeSamplingAttr(in.event, in.spec, options, in.caps);
  ASSERT_FALSE(attr.ok());
  EXPECT_EQ(attr.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Msg(attr.status()),
              HasSubstr("/proc/sys/kernel/perf_event_max_sample_rate is 10000"));
  EXPECT_THAT(Msg(attr.status()), HasSubstr("10001 Hz"));
  EXPECT_THAT(Msg(attr.status()), HasSubstr("sysctl kernel.perf_event_max_sample_rate=10001"));
}

TEST(MakeSamplingAttrTest, MaxStackAboveSysctl) {
  AttrInputs in = CpuClock();
  SamplingOptions options;
  options.frequency = 99;
  options.callchain = true;
  options.max_stack = 300;
  absl::StatusOr<perf_event_attr> attr = MakeSamplingAttr(in.event, in.spec, options, in.caps);
  ASSERT_FALSE(attr.ok());
  EXPECT_EQ(attr.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Msg(attr.status()),
            "--max-stack 300 exceeds kernel.perf_event_max_stack (127); raise it with sysctl "
            "kernel.perf_event_max_stack=300 or ask for less");
}

TEST(MakeCountingAttrTest, Plain) {
  AttrInputs in = CpuClock("task-clock:k");
  perf_event_attr attr = MakeCountingAttr(in.event, in.spec);
  EXPECT_EQ(attr.size, sizeof(perf_event_attr));
  EXPECT_EQ(attr.config, uint64_t{PERF_COUNT_SW_TASK_CLOCK});
  EXPECT_EQ(attr.sample_type, 0u);
  EXPECT_EQ(attr.read_format, 0u);
  EXPECT_EQ(attr.disabled, 0u);
  EXPECT_EQ(attr.exclude_user, 1u);
}

TEST(PerfEventTest, EmptyEventRefusesWork) {
  PerfEvent event;
  EXPECT_EQ(event.fd(), -1);
  EXPECT_EQ(event.Enable().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(event.ReadCount().status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(event.Id().status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace wick
