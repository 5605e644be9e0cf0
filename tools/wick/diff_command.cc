// wick diff BASE NEW: what changed between two recordings, each normalized by its own total.
#include <fstream>
#include <iostream>
#include <string>

#include "commands.h"
#include "wick/flamegraph.h"
#include "wick/folded.h"
#include "wick/profile.h"
#include "wick/recording.h"
#include "wick/symbolizer.h"
#include "wick/top_table.h"

namespace wick::cli {

void AddDiffCommand(CLI::App& app, DiffFlags& f) {
  CLI::App* diff =
      app.add_subcommand("diff",
                         "Compare two recordings: functions whose share of samples changed most, "
                         "differential flame graph");
  diff->add_option("base", f.base, "The recording to compare against (before)")->required();
  diff->add_option("new", f.now, "The recording to compare (after)")->required();
  AddSymbolFlags(diff, f.symbols);
  diff->add_option("--flamegraph", f.flamegraph,
                   "Write a differential HTML flame graph (sized by NEW, red = grew, blue = "
                   "shrank)")
      ->type_name("FILE");
  diff->add_flag("--folded", f.folded,
                 "Print 'stack base_count new_count' lines (flamegraph.pl difffolded input) "
                 "instead of the table");
  diff->add_option("--limit,--top", f.limit, "Rows of the table (default 30, 0 = all)");
  diff->add_flag("--with-comm", f.with_comm,
                 "Folded and flame graph: thread names as roots (off: stacks of all threads "
                 "merge, so runs of renamed programs compare)");
  diff->add_option("--event", f.event,
                   "The profile compared: an event both recordings have, or wall (default: NEW's "
                   "default, as wick report)")
      ->type_name("NAME");
  diff->add_flag("--lines", f.lines, "Add source file:line to frames where debug info has it");
  diff->add_flag("--inline,!--no-inline", f.inlined,
                 "Inlined functions as frames of their own (the default); --no-inline charges "
                 "them to the function they are inlined into");
}

int RunDiff(const DiffFlags& f) {
  std::optional<Recording> base = LoadRecording("diff", f.base, f.symbols);
  if (!base) return 1;
  std::optional<Recording> now = LoadRecording("diff", f.now, f.symbols);
  if (!now) return 1;
  // One symbolizer for both: its caches are keyed by build-id, so a binary both recordings
  // share is read once.
  SymbolizerOptions symbolizer_options = MakeSymbolizerOptions(f.symbols);
  // Inlined frames and lines need DWARF; names alone come from the symbol tables.
  symbolizer_options.debug_info = f.inlined || f.lines;
  Symbolizer symbolizer(symbolizer_options);
  AddRecordedSymbols(*base, symbolizer);
  AddRecordedSymbols(*now, symbolizer);
  // Both sides of one event: NEW's default unless --event says which.
  if (absl::Status s = CheckProfileEvent(*now, f.event); !s.ok()) {
    PrintError("diff", f.now + ": " + std::string(s.message()));
    return 1;
  }
  const std::string event = f.event.empty() ? DefaultProfileEvent(*now) : f.event;
  if (absl::Status s = CheckProfileEvent(*base, event); !s.ok()) {
    PrintError("diff", f.base + ": " + std::string(s.message()));
    return 1;
  }
  const std::optional<Profile> now_profile =
      BuildCommandProfile("diff", f.now, *now, symbolizer, event, f.inlined);
  if (!now_profile) return 1;
  const std::optional<Profile> base_profile =
      BuildCommandProfile("diff", f.base, *base, symbolizer, event, f.inlined);
  if (!base_profile) return 1;
  if (f.event.empty()) NoteOtherEvents("diff", f.now, *now, now_profile->event);
  int rc = 0;
  auto check = [&](const absl::Status& s) {
    if (!s.ok()) {
      PrintError("diff", std::string(s.message()));
      rc = 1;
    }
  };
  if (f.folded) {
    FoldedOptions opts;
    opts.include_comm = f.with_comm;
    opts.lines = f.lines;
    NoteFoldedUnit("diff", *now_profile);
    check(WriteDiffFolded(*base_profile, *now_profile, std::cout, opts));
  } else {
    TopOptions opts;
    opts.top = 0;
    opts.lines = f.lines;
    const TopTable old_table = ComputeTopTable(*base_profile, opts);
    const TopTable new_table = ComputeTopTable(*now_profile, opts);
    const std::string of = event.empty() ? "" : " of " + event;
    if (old_table.all == 0) PrintError("diff", "warning: " + f.base + " has no samples" + of);
    if (new_table.all == 0) PrintError("diff", "warning: " + f.now + " has no samples" + of);
    check(WriteDiffTable(ComputeDiffTable(old_table, new_table), std::cout, f.limit));
  }
  if (!f.flamegraph.empty()) {
    FlameGraphOptions opts;
    opts.lines = f.lines;
    opts.include_comm = f.with_comm;
    opts.title = "wick diff: " + f.base + " -> " + f.now;
    check(WriteOutputFile(f.flamegraph, [&](std::ostream& out) {
      return WriteDiffFlameGraph(*base_profile, *now_profile, out, opts);
    }));
  }
  std::cout.flush();
  return rc;
}

}  // namespace wick::cli
