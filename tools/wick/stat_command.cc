#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "commands.h"
#include "wick/scoped.h"
#include "wick/stat_session.h"
#include "wick/stats.h"
#include "wick/text.h"

namespace wick::cli {
namespace {

std::string Grouped(double v) {
  std::string digits = absl::StrFormat("%.0f", v);
  std::string out;
  int n = 0;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    if (n && n % 3 == 0 && *it != '-') out.insert(out.begin(), ',');
    out.insert(out.begin(), *it);
    ++n;
  }
  return out;
}

std::string JsonString(const std::string& s) {
  std::string out;
  AppendJsonString(s, &out);
  return out;
}

bool IsClock(const CounterReading& r) { return r.unit == "ns"; }

// perf's metric text: "CPUs utilized", or a rate with a K/M/G prefix ("12.710 K/sec").
std::pair<double, std::string> MetricText(const CounterMetric& m) {
  if (m.kind == CounterMetric::Kind::kCpusUtilized) return {m.value, "CPUs utilized"};
  double v = m.value;
  std::string prefix;
  for (const char* p : {"K", "M", "G"}) {
    if (v <= 1000.0) break;
    v /= 1000.0;
    prefix = p;
  }
  return {v, prefix + "/sec"};
}

// Where the counts go (stderr, or -o FILE), as perf's: never the command's stdout.
class Output {
 public:
  explicit Output(int fd) : fd_(fd) {}
  void Write(const std::string& text) {
    size_t done = 0;
    while (done < text.size() && error_ == 0) {
      ssize_t n = write(fd_, text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        error_ = n < 0 ? errno : EIO;
        break;
      }
      done += size_t(n);
    }
  }
  int error() const { return error_; }

 private:
  int fd_;
  int error_ = 0;
};

struct Format {
  bool json = false;
  bool csv = false;
  std::string sep;
  bool repeated = false;  // -r N with N > 1: show the spread
};

// One counter: a line of the table, of CSV (perf's field order), or a JSON object.
// `interval_s` >= 0 for an -I line. `spread` is the run-to-run spread (-r).
std::string Line(const Format& fmt, const CounterReading& r, const CounterMetric& metric,
                 const Spread& spread, double interval_s) {
  const bool clock = IsClock(r);
  const double running_pct =
      r.time_enabled ? 100.0 * double(r.time_running) / double(r.time_enabled) : 100.0;
  const bool has_metric = metric.kind != CounterMetric::Kind::kNone;
  auto [metric_value, metric_unit] = MetricText(metric);
  if (fmt.json) {
    std::string line = "{";
    if (interval_s >= 0) line += absl::StrFormat("\"interval\":%.6f,", interval_s);
    line += absl::StrFormat(
        "\"event\":%s,\"value\":%s,\"unit\":\"%s\",\"time_enabled\":%" PRIu64
        ",\"time_running\":%" PRIu64 ",\"scaled\":%s,\"counted\":%s",
        JsonString(r.event),
        r.not_counted ? "null" : absl::StrFormat(fmt.repeated ? "%.3f" : "%.0f", r.value), r.unit,
        r.time_enabled, r.time_running, r.scaled ? "true" : "false",
        r.not_counted ? "false" : "true");
    if (fmt.repeated) {
      line += absl::StrFormat(",\"runs\":%d,\"stddev\":%.3f", spread.runs, spread.stddev);
    }
    if (metric.kind == CounterMetric::Kind::kCpusUtilized) {
      line += absl::StrFormat(",\"cpus_utilized\":%.6f", metric.value);
    } else if (metric.kind == CounterMetric::Kind::kPerSecond) {
      line += absl::StrFormat(",\"per_sec\":%.3f,\"per_sec_of\":%s", metric.value,
                              JsonString(metric.per));
    }
    return line + "}\n";
  }
  // Clocks in milliseconds, as perf prints them.
  const std::string unit = clock ? "msec" : "";
  if (fmt.csv) {
    std::vector<std::string> fields;
    if (interval_s >= 0) fields.push_back(absl::StrFormat("%.9f", interval_s));
    fields.push_back(r.not_counted ? "<not counted>"
                     : clock       ? absl::StrFormat("%.2f", r.value / 1e6)
                                   : absl::StrFormat("%.0f", r.value));
    fields.push_back(unit);
    fields.push_back(r.event);
    if (fmt.repeated) fields.push_back(absl::StrFormat("%.2f%%", spread.NoisePct()));
    fields.push_back(absl::StrCat(r.time_running));
    fields.push_back(absl::StrFormat("%.2f", running_pct));
    fields.push_back(has_metric ? absl::StrFormat("%.3f", metric_value) : "");
    fields.push_back(has_metric ? metric_unit : "");
    return absl::StrJoin(fields, fmt.sep) + "\n";
  }
  std::string line = interval_s >= 0 ? absl::StrFormat("%10.3f ", interval_s) : "";
  line += absl::StrFormat("%18s %-4s %-24s",
                          r.not_counted ? "<not counted>"
                          : clock       ? absl::StrFormat("%.2f", r.value / 1e6)
                                        : Grouped(r.value),
                          unit, r.event);
  if (has_metric) line += absl::StrFormat(" # %8.3f %-14s", metric_value, metric_unit);
  if (fmt.repeated && spread.NoisePct() > 0) {
    line += absl::StrFormat("  ( +- %5.2f%% )", spread.NoisePct());
  }
  if (r.scaled) line += absl::StrFormat("  (scaled: counted %.1f%% of the time)", running_pct);
  while (!line.empty() && line.back() == ' ') line.pop_back();
  return line + "\n";
}

std::string Lines(const Format& fmt, const std::vector<CounterReading>& readings, double elapsed_ns,
                  double interval_s) {
  std::vector<CounterMetric> metrics = MetricsOf(readings, elapsed_ns);
  std::string out;
  for (size_t i = 0; i < readings.size(); ++i) {
    out += Line(fmt, readings[i], metrics[i], Spread{}, interval_s);
  }
  return out;
}

// An -I line per counter: what changed since the previous interval.
std::string IntervalLines(const Format& fmt, const std::vector<CounterReading>& now,
                          const std::vector<CounterReading>& before, double t_s,
                          double previous_t_s) {
  std::vector<CounterReading> interval;
  for (size_t i = 0; i < now.size(); ++i) {
    interval.push_back(IntervalOf(now[i], i < before.size() ? before[i] : CounterReading{}));
  }
  return Lines(fmt, interval, (t_s - previous_t_s) * 1e9, t_s);
}

}  // namespace

void AddStatCommand(CLI::App& app, StatFlags& f) {
  CLI::App* st = app.add_subcommand("stat", "Count events for a command, processes or the system");
  st->add_option("-e,--event", f.events,
                 "Events to count (repeatable, or comma-separated; default task-clock,"
                 "context-switches,cpu-migrations,page-faults)")
      ->take_all();
  st->add_option("-p,--pid", f.pids, "Count these processes (comma-separated pids)");
  st->add_flag("-a,--all-cpus", f.all_cpus, "Count on every online CPU");
  st->add_option("-I,--interval", f.interval_ms, "Print counts every MS milliseconds")
      ->check(MoreThanZero());
  st->add_option("--duration", f.duration, "Stop after SEC seconds")->check(MoreThanZero());
  st->add_option("-r,--repeat", f.repeat,
                 "Run the command N times; print each count's mean and ( +- relative stddev "
                 "of the mean )")
      ->check(MoreThanZero());
  st->add_option("-o,--output", f.output, "Write the counts to FILE instead of stderr");
  st->add_option("-x,--field-separator", f.separator,
                 "CSV: one line per counter, fields separated by SEP, perf's field order")
      ->each([&f](const std::string&) { f.csv = true; });
  st->add_flag("--json", f.json, "One JSON object per counter (on stderr, or -o FILE)");
  st->footer(
      "After the options: [--] COMMAND [ARGS...], a command to launch and count. wick's own "
      "options end at the first word that is not one of them (or at --), as perf's do. The "
      "counts go to stderr (or -o FILE), never to the command's stdout.");
}

int RunStat(const StatFlags& f) {
  StatOptions opts;
  opts.events.clear();
  for (const std::string& list : f.events) {
    for (absl::string_view e : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
      opts.events.emplace_back(e);
    }
  }
  if (opts.events.empty()) opts.events = StatOptions().events;
  if (!f.pids.empty()) {
    for (absl::string_view part : absl::StrSplit(f.pids, ',', absl::SkipWhitespace())) {
      int32_t pid = 0;
      if (!absl::SimpleAtoi(part, &pid) || pid <= 0) {
        PrintError("stat", "-p '" + std::string(part) + "': not a process id");
        return 2;
      }
      opts.pids.push_back(pid);
    }
  }
  opts.system_wide = f.all_cpus;
  opts.command = f.command;
  int targets = !opts.pids.empty() + opts.system_wide + !opts.command.empty();
  if (targets != 1) {
    PrintError("stat", targets == 0 ? "nothing to count: give -p PID, -a, or -- COMMAND [ARGS...]"
                                    : "choose one target: -p, -a or -- COMMAND, not several");
    return 2;
  }
  if (f.interval_ms < 0 || (f.interval_ms > 0 && f.interval_ms < 10)) {
    PrintError("stat", "-I must be at least 10 (milliseconds)");
    return 2;
  }
  if (f.repeat > 1 && opts.command.empty()) {
    PrintError("stat", "-r repeats a command it launches: give -- COMMAND, not -p or -a");
    return 2;
  }
  if (f.repeat > 1 && f.interval_ms > 0) {
    PrintError("stat", "-r and -I do not go together: -I prints the intervals of one run");
    return 2;
  }
  if (f.csv && f.json) {
    PrintError("stat", "-x (CSV) and --json are two output formats: choose one");
    return 2;
  }
  if (f.csv && f.separator.empty()) {
    PrintError("stat", "-x needs a separator, as in -x,");
    return 2;
  }
  opts.duration_s = f.duration;
  opts.notice = [](const std::string& line) {
    std::fprintf(stderr, "wick stat: %s\n", line.c_str());
  };
  const Format fmt{f.json, f.csv, f.separator, f.repeat > 1};

  // Opened before the command runs, so a path that cannot be written costs no run.
  ScopedFd file;
  if (!f.output.empty()) {
    file = ScopedFd(open(f.output.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!file) {
      PrintError("stat", "cannot write -o " + f.output + ": " + std::strerror(errno));
      return 1;
    }
  }
  Output out(file ? file.get() : STDERR_FILENO);

  // One stop eventfd for every run: a Ctrl-C between two runs ends the repeat too.
  ScopedFd stop(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop) {
    PrintError("stat", std::string("eventfd: ") + std::strerror(errno));
    return 1;
  }
  opts.stop_fd = stop.get();
  StopOnSignals(stop.get(), {SIGINT, SIGTERM});

  std::vector<std::vector<CounterReading>> runs;
  std::vector<double> elapsed_ns;
  int exit_code = 0;
  bool stopped_command = false;
  for (int run = 0; run < f.repeat; ++run) {
    auto session = StatSession::Prepare(opts);
    if (!session.ok()) {
      StopOnSignals(-1, {});
      PrintError("stat", std::string(session.status().message()));
      return 1;
    }
    StatSession& s = **session;
    if (absl::Status st = s.Start(); !st.ok()) {
      StopOnSignals(-1, {});
      PrintError("stat", std::string(st.message()));
      return 1;
    }
    std::vector<CounterReading> previous;
    double previous_t = 0;
    while (f.interval_ms > 0 && !s.Wait(f.interval_ms)) {
      auto now = s.Read();
      if (!now.ok()) {
        PrintError("stat", std::string(now.status().message()));
        break;
      }
      double t = double(s.ElapsedNs()) / 1e9;
      out.Write(IntervalLines(fmt, *now, previous, t, previous_t));
      previous = std::move(*now);
      previous_t = t;
    }
    if (f.interval_ms <= 0) {
      while (!s.Wait(-1)) {
      }
    }
    int ws = s.Finish();
    auto readings = s.Read();
    if (!readings.ok()) {
      StopOnSignals(-1, {});
      PrintError("stat", std::string(readings.status().message()));
      return 1;
    }
    double t = double(s.ElapsedNs()) / 1e9;
    // The last, partial interval: the intervals add up to the totals printed below.
    if (f.interval_ms > 0) out.Write(IntervalLines(fmt, *readings, previous, t, previous_t));
    runs.push_back(std::move(*readings));
    elapsed_ns.push_back(double(s.ElapsedNs()));
    // wick ended the count, and then the command: its status says nothing about the command.
    stopped_command |= s.StoppedCommand();
    int code = s.StoppedCommand() ? 0 : ExitCodeOf(ws);
    if (exit_code == 0) exit_code = code;
    if (s.StopRequested()) break;
  }
  StopOnSignals(-1, {});

  std::vector<CounterSummary> summary = SummarizeRuns(runs);
  std::vector<CounterReading> means;
  for (const CounterSummary& c : summary) means.push_back(c.mean);
  const Spread elapsed = SpreadOf(elapsed_ns);
  std::vector<CounterMetric> metrics = MetricsOf(means, elapsed.mean);
  std::string text;
  if (!fmt.json && !fmt.csv) {
    std::string target = !opts.command.empty() ? "'" + absl::StrJoin(opts.command, " ") + "'"
                         : opts.system_wide    ? "'system wide'"
                                               : "process id '" + f.pids + "'";
    std::string repeated =
        !fmt.repeated ? ""
        : runs.size() == size_t(f.repeat)
            ? absl::StrFormat(" (%d runs)", runs.size())
            : absl::StrFormat(" (%d of %d runs: stopped)", runs.size(), f.repeat);
    text += absl::StrFormat("\n Performance counter stats for %s%s:\n\n", target, repeated);
  }
  // CSV with -I is the intervals only, as perf's: one kind of line, with the same fields. They
  // add up to the totals.
  for (size_t i = 0; i < summary.size() && !(fmt.csv && f.interval_ms > 0); ++i) {
    text += Line(fmt, summary[i].mean, metrics[i], summary[i].value, -1);
  }
  if (!fmt.json && !fmt.csv) {
    if (fmt.repeated) {
      text += absl::StrFormat(
          "\n %18.6f +- %.6f seconds time elapsed  ( +- %5.2f%% )\n\n", elapsed.mean / 1e9,
          elapsed.stddev / std::sqrt(double(elapsed.runs)) / 1e9, elapsed.NoisePct());
    } else {
      text += absl::StrFormat("\n %18.9f seconds time elapsed\n\n", elapsed.mean / 1e9);
    }
  }
  out.Write(text);
  if (out.error() != 0) {
    PrintError("stat", "writing " + (f.output.empty() ? std::string("stderr") : f.output) +
                           " failed: " + std::strerror(out.error()));
    return 1;
  }
  Stats counts;
  for (const CounterReading& r : means) {
    if (r.not_counted)
      counts.Add(Stat::kCountersNotCounted);
    else if (r.scaled)
      counts.Add(Stat::kCountersScaled);
  }
  PrintStats("stat", counts);
  if (stopped_command) {
    PrintError("stat", "the command was still running when the count ended: it was ended with it");
  }
  return exit_code;
}

}  // namespace wick::cli
