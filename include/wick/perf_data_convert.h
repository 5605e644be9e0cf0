// perf.data → wick recording: the perf.data source of the record pipeline. Records read by a
// PerfDataReader (file, pipe or -z) go through the same RecordSink as live rings do (process
// table, stack builder, DWARF unwinder, stack map, writer), so every command that reads wick
// recordings reads perf's too, and a `--call-graph dwarf` perf.data is unwound once per
// distinct (stack copy), not per sample as `perf script` does.
//
// What comes from the file, not from this machine: the events (attrs, EVENT_DESC names, each
// event's own sample_type), the tracepoint formats (TRACING_DATA), the processes (perf's
// synthesized MMAP2/COMM records plus the kernel's), and the binaries' build-ids (the kernel's
// MMAP2 build-id, else the BUILD_ID section's). No /proc scan is made. Kernel frames are named
// from this machine's /proc/kallsyms only when the file was recorded on this boot (same
// release and the same `_text` address in perf's kernel map); otherwise they stay addresses,
// and a note says why.
//
// Ownership: the reader is borrowed for the call. Errors: the writer's (naming `out_path`)
// and the reader's pipe errors. Input that is damaged or cut short is not an error: what was
// read is converted and the result says what was lost (notes, stats).
#ifndef WICK_PERF_DATA_CONVERT_H_
#define WICK_PERF_DATA_CONVERT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "wick/perf_data.h"
#include "wick/stats.h"
#include "wick/unwinder.h"

namespace wick {

struct PerfDataConvertOptions {
  UnwindBackend unwinder = UnwindBackend::kLibunwind;  // for --call-graph dwarf files
  std::string kallsyms_path = "/proc/kallsyms";
  // KallsymsTable::LoadCached's directory for this boot's copy of the kernel image's
  // symbols; empty = read kallsyms itself.
  std::string kallsyms_cache_dir;
  // Written into the recording's meta as how it was made ("wick convert -i perf.data ...").
  std::string command_line;
};

struct PerfDataConversion {
  uint64_t samples = 0;  // samples handled: each landed in a stack or was counted
  uint64_t stacks = 0;   // distinct stacks written
  uint64_t bytes_written = 0;
  Stats stats;                // the recording's counters, as written into it
  PerfDataStats input;        // what the reader skipped or could not read
  bool complete = true;       // false: the input was cut short (see notes)
  bool kernel_named = false;  // kernel frames were named from this boot's kallsyms
  // One line each, for the user: the input cut short, records or sections skipped, kernel
  // frames left unnamed and why.
  std::vector<std::string> notes;
};

// Reads every record of `reader` and writes the recording to `out_path` (created or
// truncated). `name` names the input in notes ("perf.data", "stdin").
absl::StatusOr<PerfDataConversion> ConvertPerfData(PerfDataReader& reader, const std::string& name,
                                                   const std::string& out_path,
                                                   const PerfDataConvertOptions& options = {});

}  // namespace wick

#endif  // WICK_PERF_DATA_CONVERT_H_
