// wick: a sampling profiler built on perf_event_open(2). See man/wick.1.
#include <malloc.h>

#include <cstdio>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "commands.h"

int main(int argc, char** argv) {
  // Large blocks (a stack map's arrays, tens of MiB) always come from mmap and go back to the
  // kernel when freed. Left to glibc's adaptive threshold, freeing one raises the threshold
  // above its size, the next map lands on the heap, and a long run's RSS grows with every
  // stack map renewal.
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  CLI::App app{"wick: a sampling profiler for Linux built on perf_event_open(2)", "wick"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "wick " WICK_VERSION);

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
  wick::cli::TopFlags top_flags;
  wick::cli::AddTopCommand(app, top_flags);
  wick::cli::ConvertFlags convert_flags;
  wick::cli::AddConvertCommand(app, convert_flags);

  std::vector<std::string> words(argv + 1, argv + argc);
  const std::string sub = words.empty() ? "" : words[0];
  // Subcommands that launch a program stop reading their own options where its words begin,
  // as perf does: `wick record ls -l` runs `ls -l`.
  std::vector<std::string> command;
  if (sub == "record" || sub == "stat" || sub == "top") {
    std::vector<std::string> own = wick::cli::SplitOffCommand(
        *app.get_subcommand(sub), std::vector<std::string>(words.begin() + 1, words.end()),
        &command);
    own.insert(own.begin(), sub);
    words = std::move(own);
  }
  try {
    // CLI11 takes the words in reverse order.
    std::vector<std::string> reversed(words.rbegin(), words.rend());
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);
    // A usage error: one line, named after the subcommand, exit status 2 (wick(1)).
    bool known = false;
    for (const CLI::App* s : app.get_subcommands([](CLI::App*) { return true; })) {
      known |= s->get_name() == sub;
    }
    const std::string name = known ? "wick " + sub : "wick";
    if (!known && !sub.empty() && sub[0] != '-') {
      std::fprintf(stderr, "wick: unknown command '%s' (see wick --help)\n", sub.c_str());
    } else {
      std::fprintf(stderr, "%s: %s (see %s --help)\n", name.c_str(), e.what(), name.c_str());
    }
    return 2;
  }

  std::string command_line;
  for (int i = 0; i < argc; ++i) {
    if (i) command_line += ' ';
    command_line += argv[i];
  }
  if (app.got_subcommand("record")) {
    record_flags.command = command;
    wick::cli::OrderEventFlags(words, record_flags);
    return wick::cli::RunRecord(record_flags, command_line);
  }
  if (app.got_subcommand("top")) {
    top_flags.record.command = command;
    wick::cli::OrderEventFlags(words, top_flags.record);
    return wick::cli::RunTop(top_flags, command_line);
  }
  if (app.got_subcommand("report")) return wick::cli::RunReport(report_flags);
  if (app.got_subcommand("stat")) {
    stat_flags.command = command;
    return wick::cli::RunStat(stat_flags);
  }
  if (app.got_subcommand("script")) return wick::cli::RunScript(script_flags);
  if (app.got_subcommand("diff")) return wick::cli::RunDiff(diff_flags);
  if (app.got_subcommand("convert")) return wick::cli::RunConvert(convert_flags, command_line);
  return 2;
}
