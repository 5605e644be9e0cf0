#include <fstream>
#include <iostream>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_join.h"
#include "commands.h"
#include "wick/flamegraph.h"
#include "wick/folded.h"
#include "wick/pprof.h"
#include "wick/profile.h"
#include "wick/recording.h"
#include "wick/stack_filter.h"
#include "wick/symbolizer.h"
#include "wick/top_table.h"

namespace wick::cli {

void AddReportCommand(CLI::App& app, ReportFlags& f) {
  CLI::App* rep = app.add_subcommand(
      "report", "Turn a recording into a top-functions table, folded stacks, pprof or HTML");
  rep->add_option("-i,--input", f.input, "Recording file (default wick.data)");
  AddSymbolFlags(rep, f.symbols);
  CLI::Option* folded = rep->add_flag(
      "--folded", f.folded,
      "Print folded stacks (comm;root;...;leaf count) for flamegraph.pl, inferno, speedscope");
  CLI::Option* pprof =
      rep->add_option("--pprof", f.pprof, "Write a gzip'd pprof profile (go tool pprof, Pyroscope)")
          ->type_name("FILE");
  CLI::Option* flamegraph =
      rep->add_option("--flamegraph", f.flamegraph, "Write a self-contained interactive HTML page")
          ->type_name("FILE");
  rep->add_option("--minwidth", f.minwidth,
                  "Flame graph: leave out frames narrower than PX pixels or PCT% of the drawn "
                  "width (default 1)")
      ->type_name("PX|PCT%")
      ->needs(flamegraph)
      ->check(CLI::Validator(
          [](std::string& v) {
            absl::StatusOr<FlameMinWidth> w = ParseFlameMinWidth(v);
            return w.ok() ? std::string() : std::string(w.status().message());
          },
          ""));
  rep->add_option("--top,--limit", f.top,
                  "Rows of the top-functions or callers/callees table (default 30, 0 = all)")
      ->check(CLI::Validator(
          [](std::string& v) {
            return !v.empty() && v[0] == '-' ? "rows must be 0 (all) or more, not " + v
                                             : std::string();
          },
          "ROWS"));
  rep->add_option("--sort", f.sort, "Sort the table by self or total samples (default self)")
      ->check(CLI::IsMember({"self", "total"}));
  rep->add_flag("--lines", f.lines, "Add source file:line to frames where debug info has it");
  rep->add_flag("--inline,!--no-inline", f.inlined,
                "Inlined functions as frames of their own, in every output (the default; folded: "
                "suffix _[i]); --no-inline charges them to the function they are inlined into");
  rep->add_option("--pid", f.pids, "Only the stacks of these processes (comma-separated)")
      ->delimiter(',')
      ->type_name("PID[,PID...]");
  rep->add_option("--tid", f.tids, "Only the stacks of these threads (comma-separated)")
      ->delimiter(',')
      ->type_name("TID[,TID...]");
  rep->add_option("--comm", f.comms,
                  "Only the stacks of threads with these names (comma-separated)")
      ->delimiter(',')
      ->type_name("NAME[,NAME...]");
  CLI::Option* no_comm =
      rep->add_flag("--no-comm", f.no_comm, "Folded and flame graph: no thread-name root frame");
  rep->add_flag("--per-thread", f.per_thread,
                "One root per thread, named comm-pid/tid, instead of one per thread name")
      ->excludes(no_comm);
  // The callers/callees table is a table: asking for it with another output would drop it.
  CLI::Option* callers =
      rep->add_option("--callers", f.callers, "Table of the functions calling FUNC")
          ->type_name("FUNC")
          ->excludes(folded)
          ->excludes(pprof)
          ->excludes(flamegraph);
  rep->add_option("--event", f.event,
                  "The profile shown: an event of the recording (cpu-clock, page-faults, "
                  "off-cpu, ...) or wall (on + off CPU, --off-cpu recordings); default: wall, "
                  "else the first event recorded")
      ->type_name("NAME");
  rep->add_option("--callees", f.callees, "Table of the functions FUNC calls")
      ->type_name("FUNC")
      ->excludes(callers)
      ->excludes(folded)
      ->excludes(pprof)
      ->excludes(flamegraph);
}

namespace {

void WarnAboutSymbols(const Symbolizer& sym) {
  for (const BuildIdMismatch& m : sym.mismatches()) {
    PrintError("report", "warning: " + m.file + " has build-id " +
                             (m.found_hex.empty() ? std::string("(none)") : m.found_hex) +
                             ", the recording needs " + m.expected_hex + "; not used");
  }
}

}  // namespace

std::optional<Profile> BuildCommandProfile(const std::string& sub, const std::string& path,
                                           const Recording& rec, Symbolizer& symbolizer,
                                           const std::string& event, bool inlined) {
  ProfileOptions opts;
  opts.event = event;
  opts.inlined = inlined;
  absl::StatusOr<Profile> profile = BuildProfile(rec, symbolizer, opts);
  if (!profile.ok()) {
    PrintError(sub, path + ": " + std::string(profile.status().message()));
    return std::nullopt;
  }
  return *std::move(profile);
}

void NoteOtherEvents(const std::string& sub, const std::string& path, const Recording& rec,
                     const std::string& shown) {
  const std::vector<std::string> others = OtherProfileEvents(rec, shown);
  if (others.empty()) return;
  PrintError(sub, "note: showing " + shown + "; " + path + " also has " +
                      absl::StrJoin(others, ", ") + " (choose with --event NAME)");
}

void NoteFoldedUnit(const std::string& sub, const Profile& profile) {
  PrintError(sub,
             "folded stacks: " + (profile.event.empty() ? std::string() : profile.event + ", ") +
                 "values in " + FoldedUnit(profile));
}

int RunReport(const ReportFlags& f) {
  std::optional<Recording> rec = LoadRecording("report", f.input, f.symbols);
  if (!rec) return 1;
  if (absl::Status s = CheckProfileEvent(*rec, f.event); !s.ok()) {
    PrintError("report", f.input + ": " + std::string(s.message()));
    return 1;
  }
  if (rec->version == 1 && (f.per_thread || !f.pids.empty() || !f.tids.empty())) {
    PrintError("report", "warning: " + f.input +
                             " is a format-1 recording, which has no pid/tid per stack (all 0); "
                             "record it again with this wick for --pid, --tid, --per-thread");
  }
  StackFilter filter;
  filter.pids = f.pids;
  filter.tids = f.tids;
  filter.comms = f.comms;
  if (!filter.empty() && ApplyStackFilter(filter, &*rec) == 0) {
    // Said once; no empty table or files follow.
    PrintError("report", "warning: no samples of " + f.input + " match --pid/--tid/--comm");
    return 0;
  }
  if (f.per_thread) SplitCommsByThread(&*rec);
  SymbolizerOptions symbolizer_options = MakeSymbolizerOptions(f.symbols);
  // Inlined frames and lines need DWARF; names alone come from the symbol tables.
  symbolizer_options.debug_info = f.inlined || f.lines;
  Symbolizer symbolizer(symbolizer_options);
  AddRecordedSymbols(*rec, symbolizer);
  const std::optional<Profile> profile =
      BuildCommandProfile("report", f.input, *rec, symbolizer, f.event, f.inlined);
  if (!profile) return 1;
  if (f.event.empty()) NoteOtherEvents("report", f.input, *rec, profile->event);
  uint64_t text_not_utf8 = 0;
  int rc = 0;
  auto check = [&](const absl::Status& s) {
    if (!s.ok()) {
      PrintError("report", std::string(s.message()));
      rc = 1;
    }
  };
  if (f.folded) {
    FoldedOptions opts;
    opts.lines = f.lines;
    opts.include_comm = !f.no_comm;
    NoteFoldedUnit("report", *profile);
    check(WriteFolded(*profile, std::cout, opts));
  }
  if (!f.pprof.empty()) {
    PprofOptions opts;
    opts.text_not_utf8 = &text_not_utf8;
    check(WritePprofFile(*profile, f.pprof, opts));
  }
  if (!f.flamegraph.empty()) {
    FlameGraphOptions opts;
    opts.lines = f.lines;
    opts.include_comm = !f.no_comm;
    if (!f.minwidth.empty()) {
      absl::StatusOr<FlameMinWidth> min_width = ParseFlameMinWidth(f.minwidth);
      if (!min_width.ok()) {  // the flag's check said so already
        PrintError("report", "--minwidth: " + std::string(min_width.status().message()));
        return 2;
      }
      opts.min_width = *min_width;
    }
    opts.text_not_utf8 = &text_not_utf8;
    opts.title = "wick: " + (rec->meta.command_line.empty() ? f.input : rec->meta.command_line);
    check(WriteOutputFile(f.flamegraph,
                          [&](std::ostream& out) { return WriteFlameGraph(*profile, out, opts); }));
  }
  if (!f.folded && f.pprof.empty() && f.flamegraph.empty()) {
    TopOptions opts;
    opts.top = f.top;
    opts.sort = f.sort == "total" ? TopSort::kTotal : TopSort::kSelf;
    opts.lines = f.lines;
    if (!f.callers.empty() || !f.callees.empty()) {
      const CallDirection direction =
          f.callers.empty() ? CallDirection::kCallees : CallDirection::kCallers;
      const std::string& function = f.callers.empty() ? f.callees : f.callers;
      const CallTable table = ComputeCallTable(*profile, function, direction, opts);
      if (table.function_total == 0) {
        PrintError("report", "no frame of " + f.input + " is named '" + function +
                                 "' (names as the table shows them, without [module])");
        return 1;
      }
      check(WriteCallTable(table, direction, std::cout, opts));
      std::cout.flush();
      WarnAboutSymbols(symbolizer);
      PrintRecordingStats("report", *rec, symbolizer, text_not_utf8);
      return rc;
    }
    const TopTable table = ComputeTopTable(*profile, opts);
    if (table.all == 0) {
      PrintError("report", "warning: " + f.input + " has no samples" +
                               (profile->event.empty() ? "" : " of " + profile->event));
    }
    check(WriteTopTable(table, std::cout, opts));
  }
  std::cout.flush();
  WarnAboutSymbols(symbolizer);
  PrintRecordingStats("report", *rec, symbolizer, text_not_utf8);
  return rc;
}

}  // namespace wick::cli
