#include <cstdio>
#include <iostream>
#include <string>

#include "commands.h"
#include "wick/folded.h"
#include "wick/recording.h"
#include "wick/symbolizer.h"

namespace wick::cli {

void AddReportCommand(CLI::App& app, ReportFlags& f) {
  CLI::App* rep = app.add_subcommand("report", "Turn a recording into folded stacks");
  rep->add_option("-i,--input", f.input, "Recording file (default wick.data)");
  rep->add_flag("--folded", f.folded,
                "Print folded stacks (comm;root;...;leaf count) for flamegraph.pl, inferno, "
                "speedscope");
}

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
  if (!f.folded) {
    PrintError("report", "choose an output format: --folded");
    return 2;
  }
  Symbolizer symbolizer;
  absl::Status s = WriteFolded(*rec, symbolizer, std::cout);
  std::cout.flush();
  if (!s.ok()) {
    PrintError("report", std::string(s.message()));
    return 1;
  }
  return 0;
}

}  // namespace wick::cli
