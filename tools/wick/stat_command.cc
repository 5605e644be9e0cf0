#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "commands.h"
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

// One reading as a line of the table, or one JSON object.
void Print(const CounterReading& r, double value, bool json, double interval_s) {
  double running_pct =
      r.time_enabled ? 100.0 * double(r.time_running) / double(r.time_enabled) : 100.0;
  if (json) {
    std::string prefix = interval_s >= 0 ? absl::StrFormat("\"interval\":%.3f,", interval_s) : "";
    std::printf("{%s\"event\":%s,\"value\":%s,\"unit\":\"%s\",\"time_enabled\":%" PRIu64
                ",\"time_running\":%" PRIu64 ",\"scaled\":%s,\"counted\":%s}\n",
                prefix.c_str(), JsonString(r.event).c_str(),
                r.not_counted ? "null" : absl::StrFormat("%.0f", value).c_str(), r.unit.c_str(),
                r.time_enabled, r.time_running, r.scaled ? "true" : "false",
                r.not_counted ? "false" : "true");
    return;
  }
  std::string when = interval_s >= 0 ? absl::StrFormat("%10.3f ", interval_s) : "";
  std::string note;
  if (r.not_counted) {
    note = "  (not counted)";
  } else if (r.scaled) {
    note = absl::StrFormat("  (scaled: counted %.1f%% of the time)", running_pct);
  }
  std::fprintf(stderr, "%s%20s %-3s %s%s\n", when.c_str(),
               r.not_counted ? "<not counted>" : Grouped(value).c_str(), r.unit.c_str(),
               r.event.c_str(), note.c_str());
}

}  // namespace

void AddStatCommand(CLI::App& app, StatFlags& f) {
  CLI::App* st = app.add_subcommand("stat", "Count events for a command, processes or the system");
  st->add_option("-e,--event", f.events,
                 "Events to count, comma-separated (default task-clock,context-switches,"
                 "cpu-migrations,page-faults)");
  st->add_option("-p,--pid", f.pids, "Count these processes (comma-separated pids)");
  st->add_flag("-a,--all-cpus", f.all_cpus, "Count on every online CPU");
  st->add_option("-I,--interval", f.interval_ms, "Print counts every MS milliseconds")
      ->check(MoreThanZero());
  st->add_option("--duration", f.duration, "Stop after SEC seconds")->check(MoreThanZero());
  st->add_flag("--json", f.json, "One JSON object per counter on stdout");
  st->footer(
      "After the options: [--] COMMAND [ARGS...], a command to launch and count. wick's own "
      "options end at the first word that is not one of them (or at --), as perf's do.");
}

int RunStat(const StatFlags& f) {
  StatOptions opts;
  if (!f.events.empty()) {
    opts.events.clear();
    for (absl::string_view e : absl::StrSplit(f.events, ',', absl::SkipWhitespace())) {
      opts.events.emplace_back(e);
    }
  }
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
  opts.duration_s = f.duration;
  opts.notice = [](const std::string& line) {
    std::fprintf(stderr, "wick stat: %s\n", line.c_str());
  };

  auto session = StatSession::Prepare(opts);
  if (!session.ok()) {
    PrintError("stat", std::string(session.status().message()));
    return 1;
  }
  StatSession& s = **session;
  StopOnSignals(s.StopFd(), {SIGINT, SIGTERM});

  if (absl::Status st = s.Start(); !st.ok()) {
    PrintError("stat", std::string(st.message()));
    return 1;
  }
  std::vector<CounterReading> previous;
  while (true) {
    bool done = s.Wait(f.interval_ms > 0 ? f.interval_ms : -1);
    if (f.interval_ms > 0 && !done) {
      auto now = s.Read();
      if (!now.ok()) {
        PrintError("stat", std::string(now.status().message()));
        break;
      }
      double t = s.ElapsedNs() / 1e9;
      for (size_t i = 0; i < now->size(); ++i) {
        double before = i < previous.size() ? previous[i].value : 0;
        Print((*now)[i], (*now)[i].value - before, f.json, t);
      }
      previous = std::move(*now);
    }
    if (done) break;
  }
  int ws = s.Finish();
  StopOnSignals(-1, {});
  auto final_readings = s.Read();
  if (!final_readings.ok()) {
    PrintError("stat", std::string(final_readings.status().message()));
    return 1;
  }
  double elapsed = s.ElapsedNs() / 1e9;
  if (!f.json) {
    std::string target = !opts.command.empty() ? "'" + absl::StrJoin(opts.command, " ") + "'"
                         : opts.system_wide    ? "all CPUs"
                                               : "pid " + f.pids;
    std::fprintf(stderr, "\n wick stat: counters for %s\n\n", target.c_str());
  }
  for (const CounterReading& r : *final_readings) Print(r, r.value, f.json, -1);
  if (!f.json) std::fprintf(stderr, "\n %20.3f s   time elapsed\n", elapsed);
  Stats counts;
  for (const CounterReading& r : *final_readings) {
    if (r.not_counted)
      counts.Add(Stat::kCountersNotCounted);
    else if (r.scaled)
      counts.Add(Stat::kCountersScaled);
  }
  PrintStats("stat", counts);
  if (s.StoppedCommand()) {
    // wick ended the count, and then the command: its status says nothing about the command.
    PrintError("stat", "the command was still running when the count ended: it was ended with it");
    return 0;
  }
  return ExitCodeOf(ws);
}

}  // namespace wick::cli
