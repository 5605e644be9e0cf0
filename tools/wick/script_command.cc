// wick script: the recorded trace events, one per line (man/wick-script.1).
#include <iostream>
#include <string>

#include "commands.h"
#include "wick/recording.h"
#include "wick/script.h"
#include "wick/symbolizer.h"

namespace wick::cli {

void AddScriptCommand(CLI::App& app, ScriptFlags& f) {
  CLI::App* cmd = app.add_subcommand(
      "script", "Print every recorded trace event (tracepoints, uprobes, kprobes) in time order");
  cmd->add_option("-i,--input", f.input, "Recording file (default wick.data)");
  AddSymbolFlags(cmd, f.symbols);
  cmd->add_flag("--json", f.json, "JSON Lines: one object per event (exact time_ns, fields)");
  cmd->add_option("--event", f.events,
                  "Only events matching this glob (sched:*, sys_enter_openat, uprobe:*); "
                  "repeatable")
      ->type_name("GLOB");
  cmd->add_flag("--no-callchain", f.no_callchain, "Do not print recorded stacks");
}

int RunScript(const ScriptFlags& f) {
  std::optional<Recording> rec = LoadRecording("script", f.input, f.symbols);
  if (!rec) return 1;
  if (rec->trace_samples.empty()) {
    PrintError("script", NoTraceEventsMessage(*rec, f.input));
    return 0;
  }
  ScriptOptions opts;
  opts.json = f.json;
  opts.event_globs = f.events;
  opts.callchain = !f.no_callchain;
  Symbolizer symbolizer(MakeSymbolizerOptions(f.symbols));
  AddRecordedSymbols(*rec, symbolizer);
  ScriptResult result;
  absl::Status s = WriteScript(*rec, symbolizer, std::cout, opts, &result);
  if (!s.ok()) {
    PrintError("script", std::string(s.message()));
    return 1;
  }
  if (result.undecoded > 0) {
    PrintError("script", "warning: " + std::to_string(result.undecoded) +
                             " events did not decode with their recorded format");
  }
  if (result.printed == 0 && !f.events.empty()) {
    PrintError("script", "warning: no event matches --event; " + f.input + " has " +
                             std::to_string(rec->trace_samples.size()) + " trace events");
  }
  PrintRecordingStats("script", *rec, symbolizer, result.text_not_utf8);
  return 0;
}

}  // namespace wick::cli
