// `wick script`: every recorded trace event (tracepoint, uprobe, kprobe sample) as one line,
// in time order across CPUs, like `perf script`.
//
// Text: "COMM PID/TID [CPU] SECONDS.MICROS: EVENT: field=value ..." with the fields decoded
// from the event's stored tracefs format (trace_format.h); with a recorded stack, one frame
// per following line (leaf first, tab-indented: address, name, module) and a blank line.
// JSON Lines: one object per event with the same content plus the exact time in ns.
// Stateless apart from the Symbolizer's caches; not thread-safe. Errors: only a failed stream
// write. A payload that does not decode is shown with its error, not an error of the call.
#ifndef WICK_SCRIPT_H_
#define WICK_SCRIPT_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "wick/recording.h"
#include "wick/symbolizer.h"

namespace wick {

struct ScriptOptions {
  bool json = false;
  // Only events whose name matches one of these fnmatch(3) globs ("sched:*",
  // "syscalls:sys_enter_openat", "uprobe:*"); a glob without ':' matches the part after the
  // first ':' too ("sched_switch"). Empty: every event.
  std::vector<std::string> event_globs;
  bool callchain = true;  // print recorded stacks
};

struct ScriptResult {
  uint64_t printed = 0;        // events written
  uint64_t undecoded = 0;      // events whose payload did not decode with their format
  uint64_t text_not_utf8 = 0;  // --json: bytes of names and strings that were not UTF-8 (U+FFFD)
};

// Writes the recording's trace events to `out`.
absl::Status WriteScript(const Recording& rec, Symbolizer& sym, std::ostream& out,
                         const ScriptOptions& opts = {}, ScriptResult* result = nullptr);

// Whether `name` is selected by `globs` (the rule of ScriptOptions::event_globs).
bool EventMatches(std::string_view name, const std::vector<std::string>& globs);

// The one-line explanation for a recording without trace events, naming `path` and the
// events it was recorded with, e.g. "wick.data has no trace events (recorded with -e
// cpu-clock); use wick report".
std::string NoTraceEventsMessage(const Recording& rec, std::string_view path);

}  // namespace wick

#endif  // WICK_SCRIPT_H_
