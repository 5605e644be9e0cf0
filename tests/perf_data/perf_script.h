// perf script's reading of a perf.data next to wick's, for perf_data's kernel tests: both
// turned into the same list of events (samples, mmaps, comms, forks, exits) so that a test
// compares them line by line. The perf side parses `perf script` output strictly: a line it
// does not understand fails the test.
#ifndef WICK_TESTS_PERF_DATA_PERF_SCRIPT_H_
#define WICK_TESTS_PERF_DATA_PERF_SCRIPT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "wick/perf_data.h"

namespace wick::testing {

// One line of `perf script --ns -F tid,time,event,ip -G --show-mmap-events
// --show-task-events`.
struct ScriptEvent {
  std::string kind;  // "SAMPLE", "MMAP", "MMAP2", "COMM", "FORK", "EXIT"
  uint32_t tid = 0;
  uint64_t time = 0;  // ns
  std::string event;  // samples: the event's name
  uint64_t ip = 0;    // samples
  // MMAP*: "pid/tid [addr(len) @ pgoff] filename"; COMM: "comm pid/tid" (+ " exec");
  // FORK/EXIT: "(pid:tid):(ppid:ptid)".
  std::string detail;

  bool operator==(const ScriptEvent&) const = default;
  std::string ToString() const;
};

// The arguments of perf script that print what ParseScriptEvents() reads.
std::vector<std::string> ScriptEventArgs(const std::string& path);
absl::StatusOr<std::vector<ScriptEvent>> ParseScriptEvents(const std::string& text);

// One sample's callchain as `perf script -F tid,ip --no-inline` prints it: addresses, leaf first,
// user ones relative to their mapping (address - start + pgoff).
struct ScriptCallchain {
  uint32_t tid = 0;
  std::vector<uint64_t> ips;
  bool operator==(const ScriptCallchain&) const = default;
};
absl::StatusOr<std::vector<ScriptCallchain>> ParseScriptCallchains(const std::string& text);

// Everything a PerfDataReader yields, as perf script would print it.
struct WickReading {
  std::vector<ScriptEvent> events;
  std::vector<ScriptCallchain> callchains;  // per sample with a callchain, in order
  // Samples' user registers: (sample ip, regs_user IP) of each user-mode DWARF sample.
  std::vector<std::pair<uint64_t, uint64_t>> user_ips;
  // For each DWARF sample: its first user frame (regs IP relative to its mapping, as perf
  // prints it), or 0 for samples without user registers.
  std::vector<uint64_t> first_user_frames;
  uint64_t stack_bytes = 0, stack_dyn_bytes = 0;  // over all samples
  uint64_t samples_with_stack = 0;
};
absl::StatusOr<WickReading> ReadWithWick(PerfDataReader& reader);

}  // namespace wick::testing

#endif  // WICK_TESTS_PERF_DATA_PERF_SCRIPT_H_
