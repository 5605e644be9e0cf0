#include <fstream>
#include <iostream>
#include <string>

#include "absl/strings/escaping.h"
#include "commands.h"
#include "wick/flamegraph.h"
#include "wick/folded.h"
#include "wick/pprof.h"
#include "wick/recording.h"
#include "wick/symbolizer.h"
#include "wick/top_table.h"

namespace wick::cli {

void AddReportCommand(CLI::App& app, ReportFlags& f) {
  CLI::App* rep = app.add_subcommand(
      "report", "Turn a recording into a top-functions table, folded stacks, pprof or HTML");
  rep->add_option("-i,--input", f.input, "Recording file (default wick.data)");
  rep->add_flag("--folded", f.folded,
                "Print folded stacks (comm;root;...;leaf count) for flamegraph.pl, inferno, "
                "speedscope");
  rep->add_option("--pprof", f.pprof, "Write a gzip'd pprof profile (go tool pprof, Pyroscope)")
      ->type_name("FILE");
  rep->add_option("--flamegraph", f.flamegraph, "Write a self-contained interactive HTML page")
      ->type_name("FILE");
  rep->add_option("--top", f.top, "Rows of the top-functions table (default 30, 0 = all)");
  rep->add_option("--sort", f.sort, "Sort the table by self or total samples (default self)")
      ->check(CLI::IsMember({"self", "total"}));
  rep->add_flag("--lines", f.lines, "Add source file:line to frames where debug info has it");
  rep->add_flag("--inline", f.inlined,
                "Folded stacks and table: inlined functions as frames of their own (folded: "
                "suffix _[i])");
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

int RunReport(const ReportFlags& f) {
  auto rec = ReadRecording(f.input);
  if (!rec.ok()) {
    PrintError("report", std::string(rec.status().message()));
    return 1;
  }
  if (!rec->complete) {
    PrintError("report", "warning: " + f.input + " is incomplete (wick record did not finish): " +
                             rec->truncation_note);
  }
  Symbolizer symbolizer;
  int rc = 0;
  auto check = [&](const absl::Status& s) {
    if (!s.ok()) {
      PrintError("report", std::string(s.message()));
      rc = 1;
    }
  };
  if (f.folded) {
    FoldedOptions opts;
    opts.expand_inlined = f.inlined;
    opts.lines = f.lines;
    check(WriteFolded(*rec, symbolizer, std::cout, opts));
  }
  if (!f.pprof.empty()) {
    PprofOptions opts;  // pprof always carries inlined Lines and line numbers
    check(WritePprofFile(*rec, symbolizer, f.pprof, opts));
  }
  if (!f.flamegraph.empty()) {
    FlameGraphOptions opts;
    opts.lines = f.lines;
    opts.title = "wick: " + (rec->meta.command_line.empty() ? f.input : rec->meta.command_line);
    std::ofstream out(f.flamegraph, std::ios::trunc);
    if (!out) {
      PrintError("report", "cannot create " + f.flamegraph + " (check the directory exists)");
      rc = 1;
    } else {
      absl::Status s = WriteFlameGraph(*rec, symbolizer, out, opts);
      out.close();
      if (s.ok() && !out) s = absl::DataLossError("writing " + f.flamegraph + " failed");
      check(s);
    }
  }
  if (!f.folded && f.pprof.empty() && f.flamegraph.empty()) {
    TopOptions opts;
    opts.top = f.top;
    opts.sort = f.sort == "total" ? TopSort::kTotal : TopSort::kSelf;
    opts.lines = f.lines;
    opts.expand_inlined = f.inlined;
    const TopTable table = ComputeTopTable(*rec, symbolizer, opts);
    if (table.total_samples == 0) PrintError("report", "warning: " + f.input + " has no samples");
    check(WriteTopTable(table, std::cout, opts));
  }
  std::cout.flush();
  WarnAboutSymbols(symbolizer);
  return rc;
}

}  // namespace wick::cli
