#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "commands.h"
#include "wick/frame.h"
#include "wick/kernel_symbols.h"
#include "wick/ring_buffer.h"
#include "wick/session.h"
#include "wick/stats.h"
#include "wick/unwinder.h"

namespace wick::cli {
namespace {

// Bytes of user stack copied per sample for --call-graph dwarf: see the README's table, from
// tools/measure-dwarf-sizes: 32 KiB roots deep stacks that 8 KiB leaves unrooted, and wick never
// stores the copy, so it costs only kernel copying and ring bandwidth.
constexpr uint32_t kDefaultDwarfStackSize = 32768;

// Set while Run() is in progress; the signal handlers only write to them.
volatile sig_atomic_t g_stop_fd = -1;
volatile sig_atomic_t g_snapshot_fd = -1;

void WriteOne(int fd) {
  if (fd >= 0) {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(fd, &one, sizeof(one));
  }
}

void OnStopSignal(int) { WriteOne(g_stop_fd); }
void OnSnapshotSignal(int) { WriteOne(g_snapshot_fd); }
// Without --overwrite the file is written as it goes: a SIGUSR2 meant as "snapshot" must not
// end the run (its default action), only say why nothing happens.
void OnSnapshotSignalWithoutOverwrite(int) {
  static const char kMessage[] =
      "wick record: SIGUSR2 ignored: snapshots need --overwrite (the recording is written as "
      "it goes)\n";
  [[maybe_unused]] ssize_t n = write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
}

bool ParseIdList(const std::string& text, const char* flag, std::vector<pid_t>* out,
                 std::string* error) {
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    int32_t id = 0;
    if (!absl::SimpleAtoi(part, &id) || id <= 0) {
      *error = absl::StrFormat("%s '%s': not a process or thread id (expected e.g. %s 1234,5678)",
                               flag, std::string(part), flag);
      return false;
    }
    out->push_back(id);
  }
  return true;
}

std::string HumanBytes(uint64_t bytes) {
  if (bytes < 10 * 1024) return absl::StrFormat("%d B", bytes);
  if (bytes < 10 * 1024 * 1024) return absl::StrFormat("%.1f KiB", bytes / 1024.0);
  return absl::StrFormat("%.1f MiB", bytes / (1024.0 * 1024.0));
}

// The off-CPU counters PrintOffCpuSummary says in its own lines.
constexpr Stat kOffCpuSummaryStats[] = {
    Stat::kOffCpuSwitches,     Stat::kOffCpuBlocks,        Stat::kOffCpuSleepNs,
    Stat::kOffCpuIoNs,         Stat::kOffCpuRunnableNs,    Stat::kOffCpuStoppedNs,
    Stat::kOffCpuIdleNs,       Stat::kOffCpuOtherNs,       Stat::kOffCpuUnpaired,
    Stat::kOffCpuShortDropped, Stat::kOffCpuShortDroppedNs};

// --off-cpu: where the time off the CPU went, and what could not be counted.
void PrintOffCpuSummary(const Stats& st) {
  constexpr std::pair<OffCpuReason, Stat> kReasons[] = {
      {OffCpuReason::kSleep, Stat::kOffCpuSleepNs},
      {OffCpuReason::kIo, Stat::kOffCpuIoNs},
      {OffCpuReason::kRunnable, Stat::kOffCpuRunnableNs},
      {OffCpuReason::kStopped, Stat::kOffCpuStoppedNs},
      {OffCpuReason::kIdle, Stat::kOffCpuIdleNs},
      {OffCpuReason::kOther, Stat::kOffCpuOtherNs}};
  uint64_t total = 0;
  std::string reasons;
  for (auto [reason, stat] : kReasons) {
    total += st.Get(stat);
    if (st.Get(stat) == 0) continue;
    const std::string_view name = OffCpuReasonName(uint64_t(reason));
    absl::StrAppend(&reasons, reasons.empty() ? "" : ", ",
                    absl::string_view(name.data(), name.size()),
                    absl::StrFormat(" %.3f s", st.Get(stat) / 1e9));
  }
  std::fprintf(stderr, "wick record: off-CPU: %.3f s in %" PRIu64 " blocks%s%s%s\n", total / 1e9,
               st.Get(Stat::kOffCpuBlocks), reasons.empty() ? "" : " (", reasons.c_str(),
               reasons.empty() ? "" : ")");
  std::fprintf(stderr,
               "wick record: off-CPU: %" PRIu64 " switches, %" PRIu64
               " unpaired (a lost record took the other half), %" PRIu64
               " blocks dropped by --off-cpu-min (%.3f s), %" PRIu64 " lost records\n",
               st.Get(Stat::kOffCpuSwitches), st.Get(Stat::kOffCpuUnpaired),
               st.Get(Stat::kOffCpuShortDropped), st.Get(Stat::kOffCpuShortDroppedNs) / 1e9,
               st.Get(Stat::kLostRecords));
}

void PrintSummary(const RecordSummary& s, const std::string& output) {
  const Stats& st = s.stats;
  uint64_t samples = st.Get(Stat::kSamples);
  uint64_t lost = st.Get(Stat::kLostSamples) + st.Get(Stat::kLostSamplesNoBuffer);
  double lost_pct = samples + lost ? 100.0 * lost / double(samples + lost) : 0.0;
  const std::string written = s.write_error.empty()
                                  ? absl::StrCat("written to ", output)
                                  : absl::StrCat(s.samples_written, " of them kept in ", output,
                                                 " before the write failed");
  std::fprintf(stderr,
               "wick record: %" PRIu64 " samples of %s in %.2f s, %" PRIu64
               " distinct stacks, %s (%s)\n",
               samples, s.event.c_str(), s.duration_ns / 1e9, s.distinct_stacks, written.c_str(),
               HumanBytes(s.output_bytes).c_str());
  std::fprintf(stderr,
               "wick record: lost samples: %" PRIu64 " (%.2f%%), throttle events: %" PRIu64
               ", frames without build-id: %" PRIu64 "\n",
               lost, lost_pct, st.Get(Stat::kThrottle), st.Get(Stat::kFramesNoBuildId));
  if (s.overwrite) {
    // Which snapshots were taken, and why; the hits and those ignored are counters below.
    const uint32_t on_request = s.snapshots - s.triggered_snapshots;
    std::string why;
    if (s.triggered_snapshots > 0) {
      why = absl::StrCat(s.triggered_snapshots, " on a hit of ", s.snapshot_on);
    }
    if (on_request > 0) absl::StrAppend(&why, why.empty() ? "" : ", ", on_request, " on SIGUSR2");
    if (s.snapshots == 1) {
      std::fprintf(stderr, "wick record: 1 snapshot taken, %s (%s.1)\n", why.c_str(),
                   output.c_str());
    } else if (s.snapshots > 1) {
      std::fprintf(stderr, "wick record: %u snapshots taken, %s (%s.1 ... %s.%u)\n", s.snapshots,
                   why.c_str(), output.c_str(), output.c_str(), s.snapshots);
    } else if (!s.snapshot_on.empty() && st.Get(Stat::kSnapshotTriggers) == 0) {
      std::fprintf(stderr, "wick record: no snapshot taken: %s never hit\n", s.snapshot_on.c_str());
    }
    if (s.overwrite_wrapped) {
      std::fprintf(stderr,
                   "wick record: overwrite mode: older samples were overwritten, as asked; every "
                   "CPU's samples are complete for the last %.2f s before the stop (-m sets how "
                   "far back)\n",
                   s.overwrite_kept_ns / 1e9);
    } else {
      std::fprintf(stderr,
                   "wick record: overwrite mode: the rings never filled, nothing was "
                   "overwritten\n");
    }
  }
  if (s.samples_by_event.size() > 1) {
    for (const auto& [name, count] : s.samples_by_event) {
      std::fprintf(stderr, "wick record:   %" PRIu64 " samples of %s\n", count, name.c_str());
    }
  }
  if (s.off_cpu) PrintOffCpuSummary(st);
  // A share of the run only means something over a run long enough to amortize start-up.
  if (s.duration_ns >= 500'000'000) {
    std::fprintf(stderr, "wick record: wick's own CPU time: %.3f s (%.2f%% of one CPU)\n",
                 s.self_cpu_ns / 1e9, 100.0 * double(s.self_cpu_ns) / double(s.duration_ns));
  } else {
    std::fprintf(stderr, "wick record: wick's own CPU time: %.3f s\n", s.self_cpu_ns / 1e9);
  }
  // Every other non-zero counter, with what it means (DWARF unwinds: how many reached the
  // root and why the others stopped).
  std::vector<Stat> said = {Stat::kSamples, Stat::kLostSamples, Stat::kLostSamplesNoBuffer,
                            Stat::kThrottle, Stat::kFramesNoBuildId};
  if (s.off_cpu)
    said.insert(said.end(), std::begin(kOffCpuSummaryStats), std::end(kOffCpuSummaryStats));
  for (const std::string& line : FormatStats(st, said)) PrintError("record", line);
}

}  // namespace

void PrintError(const std::string& sub, const std::string& message) {
  std::fprintf(stderr, "wick %s: %s\n", sub.c_str(), message.c_str());
}

void PrintStats(const std::string& sub, const Stats& stats, std::initializer_list<Stat> skip) {
  for (const std::string& line :
       FormatStats(stats, std::span<const Stat>(skip.begin(), skip.size()))) {
    PrintError(sub, line);
  }
}

void PrintRecordingStats(const std::string& sub, const Recording& rec, const Symbolizer& sym,
                         uint64_t text_not_utf8) {
  Stats all = rec.stats;
  all.Merge(sym.stats());
  all.Add(Stat::kTextNotUtf8, text_not_utf8);
  PrintStats(sub, all);
}

absl::Status WriteOutputFile(const std::string& path,
                             const std::function<absl::Status(std::ostream&)>& write) {
  std::ofstream out(path, std::ios::trunc);
  if (!out) return absl::NotFoundError("cannot create " + path + " (check the directory exists)");
  absl::Status s = write(out);
  out.close();
  if (s.ok() && !out) s = absl::DataLossError("writing " + path + " failed");
  return s;
}

void StopOnSignals(int stop_fd, std::initializer_list<int> signals) {
  g_stop_fd = stop_fd;
  struct sigaction sa = {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (int sig : signals) sigaction(sig, &sa, nullptr);
}

int ExitCodeOf(int wait_status) {
  if (wait_status >= 0) {
    if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
    if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  }
  return 0;
}

void AddRecordCommand(CLI::App& app, RecordFlags& f) {
  CLI::App* rec = app.add_subcommand("record", "Sample a process, a command or the whole system");
  rec->add_option("-e,--event", f.events,
                  "Event to sample (repeatable, or comma-separated): cpu-clock, task-clock, "
                  "page-faults, context-switches, cpu-migrations, cycles, ... with optional "
                  ":u / :k; tracepoints SYSTEM:EVENT (globs), uprobe:PATH:SYMBOL[+OFF], "
                  "uretprobe:..., kprobe:FUNC[+OFF], kretprobe:FUNC")
      ->take_all();
  rec->add_option("--filter", f.filters,
                  "Tracepoint filter (ftrace syntax) for the -e just before it");
  rec->add_option("-F,--freq", f.frequency, "Sampling frequency in Hz (default 999)")
      ->check(MoreThanZero());
  rec->add_option("-c,--count", f.period, "Sample every PERIOD events instead of -F")
      ->check(MoreThanZero());
  rec->add_flag("-g", f.g, "Record callchains (same as --call-graph fp)");
  rec->add_option("--call-graph", f.call_graph,
                  "Callchain mode: fp (frame pointers, from the kernel) or dwarf[,SIZE] (unwind a "
                  "SIZE-byte user stack copy while recording; default 32768)");
  rec->add_option("--unwinder", f.unwinder,
                  "With --call-graph dwarf: libunwind (default) or libdw (also reads "
                  ".debug_frame, for binaries built without .eh_frame)");
  rec->add_option("--max-stack", f.max_stack,
                  "Deepest callchain to record (at most kernel.perf_event_max_stack)");
  rec->add_option("-p,--pid", f.pids, "Profile these processes (comma-separated pids)");
  rec->add_option("-t,--tid", f.tids, "Profile these threads only (comma-separated tids)");
  rec->add_flag("-a,--all-cpus", f.all_cpus, "Profile the whole system, every online CPU");
  rec->add_option("--duration", f.duration, "Stop after SEC seconds")->check(MoreThanZero());
  rec->add_option("-m,--mmap-pages", f.mmap_pages,
                  "Ring buffer data pages per CPU, a power of two (default 128)");
  rec->add_flag("--overwrite", f.overwrite,
                "Flight recorder: keep only the newest samples that fit in the ring buffers "
                "(-m pages per CPU), read when the run ends");
  rec->add_option("--snapshot-on", f.snapshot_on,
                  "With --overwrite: at each hit of EVENT (any -e event: tracepoint, "
                  "uprobe:PATH:SYMBOL, ...) write what the rings hold up to the hit to "
                  "OUTPUT.N and go on recording (repeatable)");
  rec->add_option("--snapshot-limit", f.snapshot_limit,
                  "With --overwrite: write at most N snapshots, triggered and SIGUSR2 ones "
                  "together (default 16; later ones are counted)");
  rec->add_option("--snapshot-gap", f.snapshot_gap,
                  "With --snapshot-on: ignore hits less than SEC seconds after the hit that took "
                  "the last snapshot (default 1; fractions and 0 allowed)");
  rec->add_flag("--off-cpu", f.off_cpu,
                "Also record where the targets wait off the CPU (sleep, I/O, runnable) with the "
                "stack that blocked: sched:sched_switch plus context-switch records; needs -g or "
                "--call-graph dwarf");
  rec->add_option("--off-cpu-min", f.off_cpu_min,
                  "With --off-cpu: drop blocks shorter than USEC microseconds (default 0; "
                  "counted in the summary)");
  rec->add_option(
      "--off-cpu-stack", f.off_cpu_stack,
      "With --off-cpu -g: bytes of user stack copied at each switch, where wick walks "
      "the frame pointers (default 2048; a multiple of 8 from 16 to 65528; 0: the kernel "
      "walks them, whole chains at a higher cost in the target)");
  rec->add_option("-o,--output", f.output,
                  "Recording file (default wick.data; a previous recording there is kept as "
                  "FILE.old)");
  rec->add_flag("-f,--force", f.force,
                "Overwrite the -o file even when it is not a wick recording");
  rec->footer(
      "After the options: [--] COMMAND [ARGS...], a command to launch and profile. wick's own "
      "options end at the first word that is not one of them (or at --), as perf's do.");
}

void OrderEventFlags(const std::vector<std::string>& words, RecordFlags& f) {
  const size_t n = words.size();
  for (size_t i = 0; i < n; ++i) {
    const std::string& a = words[i];
    auto take = [&](char kind, const std::string& value) {
      f.event_order.push_back(std::string(1, kind) + ":" + value);
    };
    if ((a == "-e" || a == "--event") && i + 1 < n) {
      take('e', words[++i]);
    } else if (a.rfind("--event=", 0) == 0) {
      take('e', a.substr(8));
    } else if (a.rfind("-e", 0) == 0 && a.size() > 2 && a[1] == 'e') {
      take('e', a.substr(2));
    } else if (a == "--filter" && i + 1 < n) {
      take('f', words[++i]);
    } else if (a.rfind("--filter=", 0) == 0) {
      take('f', a.substr(9));
    }
  }
}

int SamplingOptionsFromFlags(const RecordFlags& f, const std::string& sub, RecordOptions* out) {
  RecordOptions& opts = *out;
  std::string error;
  // Pair each --filter with the -e before it, in command-line order.
  opts.events.clear();
  for (const std::string& item : f.event_order) {
    std::string value = item.substr(2);
    if (item[0] == 'e') {
      for (absl::string_view spec : absl::StrSplit(value, ',', absl::SkipWhitespace())) {
        opts.events.push_back({std::string(spec), ""});
      }
    } else {
      if (opts.events.empty()) {
        PrintError(sub, "--filter '" + value + "' must follow the -e it applies to");
        return 2;
      }
      if (!opts.events.back().filter.empty()) {
        PrintError(sub, "two --filter options for -e " + opts.events.back().spec);
        return 2;
      }
      opts.events.back().filter = value;
    }
  }
  if (opts.events.empty()) opts.events.push_back({"cpu-clock", ""});
  if (f.frequency && f.period) {
    PrintError(sub, "-F and -c are exclusive: sample by frequency or by period, not both");
    return 2;
  }
  opts.frequency = f.frequency ? f.frequency : (f.period ? 0 : 999);
  opts.period = f.period;
  if (!f.call_graph.empty()) {
    std::string mode = f.call_graph.substr(0, f.call_graph.find(','));
    if (mode == "fp") {
      opts.callchain = true;
    } else if (mode == "dwarf") {
      opts.callchain = true;
      opts.dwarf_stack_size = kDefaultDwarfStackSize;
      size_t comma = f.call_graph.find(',');
      if (comma != std::string::npos) {
        std::string size_text = f.call_graph.substr(comma + 1);
        uint32_t size = 0;
        if (!absl::SimpleAtoi(size_text, &size) || size == 0 || size % 8 != 0 ||
            size > kMaxStackUserSize) {
          PrintError(sub, "--call-graph dwarf," + size_text +
                              ": the stack copy size must be a multiple of 8 from 8 to " +
                              std::to_string(kMaxStackUserSize) + " bytes");
          return 2;
        }
        opts.dwarf_stack_size = size;
      }
    } else if (mode == "lbr") {
      PrintError(sub,
                 "--call-graph lbr needs Intel's last-branch-record PMU, and this "
                 "machine has no hardware PMU; use --call-graph fp");
      return 2;
    } else {
      PrintError(sub, "--call-graph '" + f.call_graph + "': unknown mode (use fp or dwarf)");
      return 2;
    }
  }
  if (!f.unwinder.empty()) {
    if (opts.dwarf_stack_size == 0) {
      PrintError(sub, "--unwinder " + f.unwinder +
                          ": only --call-graph dwarf unwinds (fp stacks come from the kernel)");
      return 2;
    }
    if (f.unwinder == "libdw") {
      opts.unwinder = UnwindBackend::kLibdw;
    } else if (f.unwinder != "libunwind") {
      PrintError(sub, "--unwinder '" + f.unwinder +
                          "': unknown (use libunwind, or libdw for binaries whose unwind "
                          "tables are only in .debug_frame)");
      return 2;
    }
  }
  if (f.g && opts.dwarf_stack_size == 0) opts.callchain = true;
  opts.max_stack = f.max_stack;
  if (f.max_stack && !opts.callchain) opts.callchain = true;
  if (!f.pids.empty() && !ParseIdList(f.pids, "-p", &opts.pids, &error)) {
    PrintError(sub, error);
    return 2;
  }
  if (!f.tids.empty() && !ParseIdList(f.tids, "-t", &opts.tids, &error)) {
    PrintError(sub, error);
    return 2;
  }
  opts.system_wide = f.all_cpus;
  opts.command = f.command;
  int targets = !opts.pids.empty() + !opts.tids.empty() + opts.system_wide + !opts.command.empty();
  if (targets == 0) {
    PrintError(sub, "nothing to profile: give -p PID, -t TID, -a, or -- COMMAND [ARGS...]");
    return 2;
  }
  if (targets > 1) {
    PrintError(sub, "choose one target: -p, -t, -a or -- COMMAND, not several");
    return 2;
  }
  opts.duration_s = f.duration;
  if (!f.mmap_pages.empty()) {
    uint64_t pages = 0;
    absl::Status valid =
        absl::SimpleAtoi(f.mmap_pages, &pages)
            ? CheckRingPages(pages)
            : absl::InvalidArgumentError("-m " + f.mmap_pages + ": " + std::string(kRingPagesRule));
    if (!valid.ok()) {
      PrintError(sub, std::string(valid.message()));
      return 2;
    }
    opts.mmap_pages = static_cast<uint32_t>(pages);
  }
  return 0;
}

int RunRecord(const RecordFlags& f, const std::string& command_line) {
  RecordOptions opts;
  if (int code = SamplingOptionsFromFlags(f, "record", &opts)) return code;
  opts.overwrite = f.overwrite;
  for (const std::string& value : f.snapshot_on) {
    for (absl::string_view spec : absl::StrSplit(value, ',', absl::SkipWhitespace())) {
      opts.snapshot_on.push_back(std::string(spec));
    }
  }
  if (!f.snapshot_limit.empty()) {
    if (!f.overwrite) {
      PrintError("record", "--snapshot-limit needs --overwrite (snapshots are of its rings)");
      return 2;
    }
    if (!absl::SimpleAtoi(f.snapshot_limit, &opts.snapshot_limit)) {
      PrintError("record", "--snapshot-limit '" + f.snapshot_limit +
                               "': expected a number of snapshots, 1 or more (e.g. "
                               "--snapshot-limit 4)");
      return 2;
    }
  }
  if (!f.snapshot_gap.empty()) {
    if (opts.snapshot_on.empty()) {
      PrintError("record", "--snapshot-gap needs --snapshot-on (SIGUSR2 requests have no gap)");
      return 2;
    }
    if (!absl::SimpleAtod(f.snapshot_gap, &opts.snapshot_gap_s)) {
      PrintError("record", "--snapshot-gap '" + f.snapshot_gap +
                               "': expected seconds, 0 or more (e.g. --snapshot-gap 0.5)");
      return 2;
    }
  }
  if (!f.off_cpu_min.empty()) {
    uint64_t usec = 0;
    if (!f.off_cpu) {
      PrintError("record", "--off-cpu-min needs --off-cpu");
      return 2;
    }
    if (!absl::SimpleAtoi(f.off_cpu_min, &usec) || usec > UINT64_MAX / 1000) {
      PrintError("record", "--off-cpu-min '" + f.off_cpu_min +
                               "': expected a number of microseconds, 0 or more (e.g. "
                               "--off-cpu-min 100)");
      return 2;
    }
    opts.off_cpu_min_ns = usec * 1000;
  }
  if (!f.off_cpu_stack.empty()) {
    uint32_t size = 0;
    if (!f.off_cpu) {
      PrintError("record", "--off-cpu-stack needs --off-cpu");
      return 2;
    }
    if (opts.dwarf_stack_size != 0) {
      PrintError("record",
                 "--off-cpu-stack is for -g (frame pointers); with --call-graph "
                 "dwarf,SIZE the switches copy SIZE bytes of stack");
      return 2;
    }
    if (!absl::SimpleAtoi(f.off_cpu_stack, &size) || size % 8 != 0 || size == 8 ||
        size > kMaxStackUserSize) {
      PrintError("record", "--off-cpu-stack '" + f.off_cpu_stack +
                               "': expected bytes of stack, a multiple of 8 from 16 to " +
                               std::to_string(kMaxStackUserSize) +
                               " (0: the kernel walks the frame pointers)");
      return 2;
    }
    opts.off_cpu_stack_size = size;
  }
  opts.off_cpu = f.off_cpu;
  opts.output = f.output;
  opts.force = f.force;
  opts.command_line = command_line;
  opts.notice = [](const std::string& line) {
    std::fprintf(stderr, "wick record: %s\n", line.c_str());
  };

  auto session = RecordSession::Prepare(opts);
  if (!session.ok()) {
    PrintError("record", std::string(session.status().message()));
    return 1;
  }
  StopOnSignals((*session)->StopFd(), {SIGINT, SIGTERM, SIGHUP});
  // The flight recorder's "dump now": SIGUSR2 writes what the rings hold to OUTPUT.N.
  g_snapshot_fd = (*session)->SnapshotFd();
  struct sigaction usr = {};
  usr.sa_handler = opts.overwrite ? OnSnapshotSignal : OnSnapshotSignalWithoutOverwrite;
  sigemptyset(&usr.sa_mask);
  usr.sa_flags = SA_RESTART;
  sigaction(SIGUSR2, &usr, nullptr);

  auto summary = (*session)->Run();
  g_stop_fd = -1;
  g_snapshot_fd = -1;
  if (!summary.ok()) {
    PrintError("record", std::string(summary.status().message()));
    return 1;
  }
  PrintSummary(*summary, opts.output);
  if (!summary->write_error.empty()) {
    PrintError("record", absl::StrCat(summary->write_error, "; ", opts.output,
                                      " was cut back to its last complete chunk and keeps ",
                                      summary->samples_written, " samples (wick report reads it), ",
                                      summary->samples_not_written,
                                      " samples since were lost with the disk"));
    return 1;
  }
  if (summary->command_stopped) {
    // wick ended the run, and then the command: its status says nothing about the command.
    std::fprintf(stderr,
                 "wick record: the command was still running %s: it was ended with the run\n",
                 summary->end == RecordSummary::End::kDuration
                     ? "when --duration elapsed"
                     : "when the run was stopped (Ctrl-C, SIGTERM)");
    return 0;
  }
  return ExitCodeOf(summary->command_wait_status);
}

}  // namespace wick::cli
