// wick: a sampling profiler built on perf_event_open(2). See man/wick.1.
#include <cstdio>
#include <string>

#include "CLI/CLI.hpp"
#include "commands.h"

int main(int argc, char** argv) {
  CLI::App app{"wick: a sampling profiler for Linux built on perf_event_open(2)", "wick"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "wick 0.1.0");

  wick::cli::RecordFlags record_flags;
  wick::cli::ReportFlags report_flags;
  wick::cli::AddRecordCommand(app, record_flags);
  wick::cli::AddReportCommand(app, report_flags);
  wick::cli::StatFlags stat_flags;
  wick::cli::AddStatCommand(app, stat_flags);
  wick::cli::ScriptFlags script_flags;
  wick::cli::AddScriptCommand(app, script_flags);
  wick::cli::DiffFlags diff_flags;
  wick::cli::AddDiffCommand(app, diff_flags);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  std::string command_line;
  for (int i = 0; i < argc; ++i) {
    if (i) command_line += ' ';
    command_line += argv[i];
  }
  if (app.got_subcommand("record")) {
    wick::cli::OrderEventFlags(argc, argv, record_flags);
    return wick::cli::RunRecord(record_flags, command_line);
  }
  if (app.got_subcommand("report")) return wick::cli::RunReport(report_flags);
  if (app.got_subcommand("stat")) return wick::cli::RunStat(stat_flags);
  if (app.got_subcommand("script")) return wick::cli::RunScript(script_flags);
  if (app.got_subcommand("diff")) return wick::cli::RunDiff(diff_flags);
  return 2;
}
