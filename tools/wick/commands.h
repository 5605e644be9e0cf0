// The wick program's subcommands. Each turns its parsed flags into the library's option
// structs, runs, prints to stdout/stderr and returns the process exit code.
#ifndef WICK_TOOLS_WICK_COMMANDS_H_
#define WICK_TOOLS_WICK_COMMANDS_H_

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "wick/profile.h"
#include "wick/recording.h"
#include "wick/session.h"
#include "wick/stats.h"
#include "wick/symbolizer.h"

namespace wick::cli {

struct RecordFlags {
  std::vector<std::string> events;   // every -e, in order
  std::vector<std::string> filters;  // every --filter, in order
  // -e / --filter in command-line order ("e:SPEC" / "f:EXPR"), to pair each filter with the
  // event before it; filled by main() from argv.
  std::vector<std::string> event_order;
  uint64_t frequency = 0;
  uint64_t period = 0;
  bool g = false;
  std::string call_graph;
  std::string unwinder;
  uint32_t max_stack = 0;
  std::string pids;
  std::string tids;
  bool all_cpus = false;
  double duration = 0;
  std::string mmap_pages;
  bool overwrite = false;
  std::vector<std::string> snapshot_on;  // every --snapshot-on, in order
  std::string snapshot_limit;            // --snapshot-limit N, checked by RunRecord
  std::string snapshot_gap;              // --snapshot-gap SEC, checked by RunRecord
  bool off_cpu = false;
  std::string off_cpu_min;    // --off-cpu-min USEC, checked by RunRecord
  std::string off_cpu_stack;  // --off-cpu-stack BYTES, checked by RunRecord
  std::string output = "wick.data";
  bool force = false;
  std::vector<std::string> command;
};

// Where report-time symbolization looks for binaries and debug info.
struct SymbolFlags {
  std::string symfs;                    // --symfs ROOT: recorded paths are looked up under it
  std::vector<std::string> debug_dirs;  // --debug-dir DIR (repeatable), before /usr/lib/debug
  bool symbol_cache = true;             // --no-symbol-cache: off
};

struct ReportFlags {
  SymbolFlags symbols;
  std::string input = "wick.data";
  bool folded = false;
  std::string pprof;       // output path of the gzip'd pprof profile, "" = none
  std::string flamegraph;  // output path of the HTML flame graph, "" = none
  std::string minwidth;    // flame graph: frames narrower than this are left out ("" = 1 px)
  size_t top = 30;         // rows of the default table (0 = all)
  std::string sort = "self";
  bool lines = false;              // file:line on frames
  bool inlined = true;             // inlined functions as their own frames (--no-inline: off)
  std::vector<uint32_t> pids;      // --pid: keep only these processes' stacks
  std::vector<uint32_t> tids;      // --tid: keep only these threads' stacks
  std::vector<std::string> comms;  // --comm: keep only these thread names' stacks
  bool no_comm = false;            // folded and flame graph: no thread-name root
  bool per_thread = false;         // roots "comm-pid/tid" instead of comm
  std::string callers;             // table of the callers of this function
  std::string callees;             // table of the callees of this function
  std::string event;               // --event: the profile shown ("" = the recording's default)
};

struct DiffFlags {
  SymbolFlags symbols;
  std::string base;
  std::string now;
  std::string flamegraph;  // output path of the differential HTML flame graph, "" = none
  bool folded = false;     // print "stack base_count new_count" lines (difffolded)
  size_t limit = 30;       // rows of the table (0 = all)
  bool with_comm = false;  // thread names as roots (folded and flame graph)
  bool lines = false;
  bool inlined = true;  // --no-inline: off
  std::string event;    // --event: the profile compared ("" = NEW's default)
};

struct StatFlags {
  std::vector<std::string> events;  // each -e, comma-separated lists
  std::string pids;
  bool all_cpus = false;
  int interval_ms = 0;
  double duration = 0;
  bool json = false;
  std::string output;     // -o: the counts go there instead of stderr
  bool csv = false;       // -x given
  std::string separator;  // -x SEP
  int repeat = 1;         // -r N
  std::vector<std::string> command;
};

struct TopFlags {
  RecordFlags record;  // -e, -F, -c, -g, --call-graph, -p, -t, -a, -m, --duration, the command
  SymbolFlags symbols;
  double delay = 2;         // -d: seconds between refreshes
  bool cumulative = false;  // -z: counts add up instead of decaying
  bool stdio = false;       // one plain table per period on stdout
  size_t rows = 0;          // --rows: rows per --stdio table (0: 20)
};

struct ScriptFlags {
  SymbolFlags symbols;
  std::string input = "wick.data";
  bool json = false;
  std::vector<std::string> events;  // --event globs
  bool no_callchain = false;
};

struct ConvertFlags {
  std::string input;  // perf.data, or "-" for perf's pipe mode on stdin
  std::string output = "wick.data";
  bool force = false;
  std::string unwinder;
};

void AddRecordCommand(CLI::App& app, RecordFlags& flags);
void AddConvertCommand(CLI::App& app, ConvertFlags& flags);
int RunConvert(const ConvertFlags& flags, const std::string& command_line);
void AddStatCommand(CLI::App& app, StatFlags& flags);
int RunStat(const StatFlags& flags);
void AddReportCommand(CLI::App& app, ReportFlags& flags);

int RunRecord(const RecordFlags& flags, const std::string& command_line);
// The sampling part of record's flags (events and filters, -F/-c, callchains, targets,
// --duration, -m) as options: 0, or the exit code after printing "wick SUB: ..." for bad flags.
int SamplingOptionsFromFlags(const RecordFlags& flags, const std::string& sub,
                             RecordOptions* options);
void AddTopCommand(CLI::App& app, TopFlags& flags);
int RunTop(const TopFlags& flags, const std::string& command_line);
// Whether ncurses has a terminfo entry for the terminal on stdout (TERM).
bool TerminalKnown();
// Fills flags.event_order from record's own words (CLI11 does not keep -e / --filter
// interleaving).
void OrderEventFlags(const std::vector<std::string>& words, RecordFlags& flags);

// perf's rule for subcommands that launch a program: their own options end at "--" or at the
// first word that is neither an option nor an option's value (options of `sub` that take a
// value take the next word, or the rest of their own: -F99, --freq=99). Returns the words that
// are wick's (unknown options included, for CLI11 to refuse) and puts the rest in `command`.
// Refuses a value of 0 or less for options where it would mean nothing (-F 0, -c 0,
// --duration 0), instead of a silent default or "forever".
CLI::Validator MoreThanZero();

std::vector<std::string> SplitOffCommand(const CLI::App& sub, const std::vector<std::string>& words,
                                         std::vector<std::string>* command);
int RunReport(const ReportFlags& flags);
void AddDiffCommand(CLI::App& app, DiffFlags& flags);
int RunDiff(const DiffFlags& flags);
void AddScriptCommand(CLI::App& app, ScriptFlags& flags);
int RunScript(const ScriptFlags& flags);

// --symfs / --debug-dir on a subcommand, and the symbolizer options they mean.
void AddSymbolFlags(CLI::App* app, SymbolFlags& flags);
SymbolizerOptions MakeSymbolizerOptions(const SymbolFlags& flags);
// Hands the symbolizer the functions `rec` captured of binaries replaced or deleted on disk.
void AddRecordedSymbols(const Recording& rec, Symbolizer& symbolizer);

// "wick <sub>: <message>" on stderr.
void PrintError(const std::string& sub, const std::string& message);

// Every non-zero counter of `stats` but `skip`, one "wick <sub>: ..." line each (FormatStats).
void PrintStats(const std::string& sub, const Stats& stats, std::initializer_list<Stat> skip = {});
// One short block at the end of a command that read a recording: its counters (what was lost
// while recording), the symbolizer's (what could not be named) and the bytes of names that
// were not UTF-8.
void PrintRecordingStats(const std::string& sub, const Recording& rec, const Symbolizer& sym,
                         uint64_t text_not_utf8);

// Makes each of `signals` write to eventfd `stop_fd` (the session's stop request) instead
// of killing wick; StopOnSignals(-1, {}) makes the handlers do nothing again.
void StopOnSignals(int stop_fd, std::initializer_list<int> signals);

// wick's exit code for a launched command's wait status: its own exit code, 128 + the
// signal that killed it, or 0 when there was no command (-1).
int ExitCodeOf(int wait_status);

// Reads the recording at `path` ("-": stdin) for subcommand `sub`: its one-line error printed
// (nullopt), or the recording, with a warning printed when it was cut short. A perf.data file
// or pipe (perf record -o -) is converted on the way (notes printed for what it lacked).
std::optional<Recording> LoadRecording(const std::string& sub, const std::string& path,
                                       const SymbolFlags& symbols);

// The profile of `event` ("" = the default) of `rec`, read from `path`: its one-line error
// printed (nullopt) when the recording has no such event.
std::optional<Profile> BuildCommandProfile(const std::string& sub, const std::string& path,
                                           const Recording& rec, Symbolizer& symbolizer,
                                           const std::string& event, bool inlined);
// A note on stderr naming the events of `rec` that a report of `shown` leaves out, if any.
void NoteOtherEvents(const std::string& sub, const std::string& path, const Recording& rec,
                     const std::string& shown);
// One stderr line naming the event and unit of folded stacks.
void NoteFoldedUnit(const std::string& sub, const Profile& profile);

// Creates `path` and lets `write` fill it: OK, or an error saying the file could not be
// created (and that the directory must exist) or written.
absl::Status WriteOutputFile(const std::string& path,
                             const std::function<absl::Status(std::ostream&)>& write);

}  // namespace wick::cli

#endif  // WICK_TOOLS_WICK_COMMANDS_H_
