// JIT symbols: reading the /tmp/perf-PID.map files that JIT runtimes write (node
// --perf-basic-prof, Java perf agents, CPython 3.12 -X perf) and naming raw frames with them.
//
// At the end of `wick record`, the map of every process that has raw (kUserRaw) frames in the
// recorded stacks is read once and stored in the recording (Recording::jit_symbols); report
// time names a raw frame {value = address, binary = pid} with LookupJitSymbol(). The map is a
// file in a world-writable directory, so it is opened carefully: a regular file, not a
// symlink, owned by root, by wick's user or by the process's user, at most kMaxPerfMapBytes.
// Plain functions, no state; thread-safe. Missing maps are normal; refused maps and bad lines
// are counted in Stats (jit_maps_*), never errors.
#ifndef WICK_JIT_MAP_H_
#define WICK_JIT_MAP_H_

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "wick/recording.h"
#include "wick/stack_map.h"
#include "wick/stats.h"

namespace wick {

// Larger maps are refused whole (a runaway JIT or a hostile file), counted as skipped.
inline constexpr uint64_t kMaxPerfMapBytes = 64ull << 20;

// Parses perf-map text: lines "START SIZE NAME" (START and SIZE hex, with or without 0x;
// NAME is the rest of the line and may contain spaces). Lines that do not parse, have size
// 0 or wrap around the address space are skipped and added to *bad_lines (may be null).
// Returns the symbols in file order with `pid` set.
std::vector<JitSymbol> ParsePerfMap(std::string_view text, uint32_t pid, uint64_t* bad_lines);

// Reads the perf map at `path` for process `pid`. Refuses (FailedPrecondition naming the path
// and why) a symlink, a non-regular file, a file larger than `max_bytes`, or one owned by a
// uid not in `allowed_uids`. NotFound when there is no file.
absl::StatusOr<std::vector<JitSymbol>> ReadPerfMap(const std::string& path, uint32_t pid,
                                                   std::span<const uid_t> allowed_uids,
                                                   uint64_t* bad_lines,
                                                   uint64_t max_bytes = kMaxPerfMapBytes);

struct JitCaptureOptions {
  std::string tmp_dir = "/tmp";     // where perf-PID.map files are
  std::string proc_root = "/proc";  // PROC/PID's owner is the process's uid, when it still runs
  uint64_t max_bytes = kMaxPerfMapBytes;
};

// Reads TMP/perf-PID.map for every pid in `pids` (unsorted, repeats allowed, 0 ignored).
// Allowed owners: root, wick's effective uid, and the owner of PROC/PID when the process still
// exists. Returns the symbols sorted by (pid, start), later map lines replacing earlier ones
// at the same start (a runtime re-JITing into reused memory). Counts kJitMapsRead,
// kJitMapsSkipped (refused or unreadable) and kJitMapBadLines in `stats`.
std::vector<JitSymbol> CaptureJitSymbols(std::span<const uint32_t> pids, Stats* stats,
                                         const JitCaptureOptions& options = {});

// Same, for the pids of the raw frames in `stacks` (raw frames carry their pid in
// Frame::binary) and `more_pids`. The session calls this once at the end of a recording.
std::vector<JitSymbol> CaptureJitSymbolsForStacks(const StackMap& stacks, Stats* stats,
                                                  const JitCaptureOptions& options = {},
                                                  std::span<const uint32_t> more_pids = {});
// Appends the pids of the raw frames of the stacks `stacks` holds (repeats included).
void AddRawFramePids(const StackMap& stacks, std::vector<uint32_t>* pids);

// Sorts by (pid, start) and keeps, for equal (pid, start), the entry that came last.
void SortJitSymbols(std::vector<JitSymbol>* symbols);

// The symbol of process `pid` containing `addr` in `sorted` (as SortJitSymbols leaves it), or
// nullptr. When ranges overlap, the one with the greatest start <= addr that contains addr.
const JitSymbol* LookupJitSymbol(std::span<const JitSymbol> sorted, uint32_t pid, uint64_t addr);
// For a raw frame of a read recording: LookupJitSymbol(rec, frame.binary, frame.value).
const JitSymbol* LookupJitSymbol(const Recording& rec, uint32_t pid, uint64_t addr);

}  // namespace wick

#endif  // WICK_JIT_MAP_H_
