// The recording file: what `wick record` writes and `wick report` reads.
//
// A recording is self-contained: binaries (build-id + path), thread names, every distinct
// stack once with its sample count, the kernel symbols those stacks need, the run's
// counters and metadata. RecordingWriter appends chunks as the run goes (call Flush() about
// once a second) so a killed wick loses at most the last second; Finish() writes the end
// chunk that marks the file complete. ReadRecording() recovers everything a cut-short file
// holds and says so (Recording::complete == false, truncation_note). The byte layout is
// drawn in src/recording/format.h and documented in man/wick-data.5.
//
// Ownership: the writer owns its fd. Not thread-safe. Errors: Open/Flush/Finish return the
// write error naming the path; ReadRecording returns InvalidArgument for a file that is
// empty, not a wick recording, or of a newer format version, naming the path.
#ifndef WICK_RECORDING_H_
#define WICK_RECORDING_H_

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "wick/build_id.h"
#include "wick/frame.h"
#include "wick/stats.h"

namespace wick {

// Version 2 added pid and tid to each stack; version 3 its event and weight. Older files are
// still read (pid = tid = 0 in version 1; event = weight = 0 before version 3).
inline constexpr uint32_t kRecordingVersion = 3;

// The event type that off-CPU stacks (wick record --off-cpu) belong to: count = blocks,
// weight = nanoseconds off the CPU.
inline constexpr std::string_view kOffCpuEventName = "off-cpu";

struct RecordingMeta {
  std::string command_line;    // how wick record was invoked
  std::string event;           // e.g. "cpu-clock" (after any fallback)
  uint64_t sample_period = 0;  // -c, or 0 when frequency based
  uint64_t sample_freq = 0;    // -F, or 0
  std::string hostname;
  std::string kernel_release;
  std::string boot_id;         // /proc/sys/kernel/random/boot_id; "" in older files
  uint64_t start_time_ns = 0;  // CLOCK_REALTIME at start
  uint64_t duration_ns = 0;    // filled at Finish()
};

struct RecordedBinary {
  uint32_t id = 0;
  std::string build_id;  // raw bytes (usually 20), empty when unreadable
  std::string path;      // as mapped by the target (e.g. "/usr/lib/x86_64-linux-gnu/libc.so.6")
};

struct RecordedComm {
  uint32_t id = 0;
  std::string name;
};

struct RecordedStack {
  uint32_t id = 0;
  uint32_t comm = 0;          // RecordedComm id of the sampled thread
  uint32_t pid = 0, tid = 0;  // of the sampled thread (0 in version-1 files and for idle)
  std::vector<Frame> frames;  // leaf first
  uint64_t count = 0;         // samples (sum of all count deltas in the file)
  // The RecordedEventType id of the event sampled (0 before version 3). Stacks of different
  // events are different stacks, never summed.
  uint32_t event = 0;
  // The sum of the samples' periods: ns for cpu-clock and task-clock, events counted for other
  // counters, ns off the CPU for the off-CPU event; 0 before version 3.
  uint64_t weight = 0;
};

struct KernelSymbol {
  uint64_t address = 0;  // start address
  uint64_t size = 0;     // 0 when unknown (until the next symbol)
  std::string name;
  std::string module;  // empty for vmlinux, e.g. "ext4" for module symbols
};

// Sorts by address (then name, module, size, so aliases come out the same on every run) and
// drops exact repeats: the order LookupKernelSymbol's binary search needs.
inline void SortKernelSymbols(std::vector<KernelSymbol>* symbols) {
  const auto key = [](const KernelSymbol& k) {
    return std::tie(k.address, k.name, k.module, k.size);
  };
  std::sort(symbols->begin(), symbols->end(),
            [&](const KernelSymbol& a, const KernelSymbol& b) { return key(a) < key(b); });
  symbols->erase(
      std::unique(symbols->begin(), symbols->end(),
                  [&](const KernelSymbol& a, const KernelSymbol& b) { return key(a) == key(b); }),
      symbols->end());
}

// One symbol of JIT-compiled code, from the process's /tmp/perf-PID.map (see jit_map.h).
// Raw user frames (FrameKind::kUserRaw) carry their pid in Frame::binary, which keys these.
struct JitSymbol {
  uint32_t pid = 0;
  uint64_t start = 0;  // absolute address in the process
  uint64_t size = 0;
  std::string name;
};

// One kind of event of the run ("cpu-clock", "sched:sched_switch", "uprobe:/bin/x:f").
struct RecordedEventType {
  uint32_t id = 0;
  std::string name;
  std::string format;  // tracefs events/SYSTEM/EVENT/format text (tracepoints), else empty
};

inline constexpr uint32_t kNoStack = 0xffffffffu;

// One sample of a trace event (tracepoint, uprobe, kprobe): what `wick script` prints.
struct RecordedTraceSample {
  uint64_t time = 0;  // CLOCK_MONOTONIC ns (perf_event_attr.clockid)
  uint32_t cpu = 0, pid = 0, tid = 0;
  uint32_t comm = 0;          // RecordedComm id of the sampled thread
  uint32_t event_type = 0;    // RecordedEventType id
  uint32_t stack = kNoStack;  // RecordedStack id when recorded with -g
  std::string raw;            // PERF_SAMPLE_RAW payload (tracepoints), else empty
};

struct Recording {
  uint32_t version = 0;
  RecordingMeta meta;
  std::vector<RecordedBinary> binaries;      // indexed by id
  std::vector<RecordedComm> comms;           // indexed by id
  std::vector<RecordedStack> stacks;         // indexed by id
  std::vector<KernelSymbol> kernel_symbols;  // sorted by address
  std::vector<JitSymbol> jit_symbols;        // sorted by (pid, start); empty when none
  // Functions of binaries replaced or deleted on disk while mapped (read through
  // /proc/PID/map_files while recording), by binary id; sorted by offset.
  std::vector<std::pair<uint32_t, std::vector<FileSymbol>>> binary_symbols;
  std::vector<RecordedEventType> event_types;      // indexed by id
  std::vector<RecordedTraceSample> trace_samples;  // sorted by (time, cpu) after reading
  Stats stats;
  bool complete = false;        // the end chunk was read
  std::string truncation_note;  // when !complete: what was recovered and where it stopped
  // Items the reader repaired or dropped because they named an undefined id or redefined
  // one (a damaged file); a trace sample naming an unknown event type, comm or stack is
  // dropped. After reading, every stack's comm indexes comms and every
  // kUserFile frame's binary indexes binaries: a bad comm becomes an added "[unknown]" comm,
  // a bad frame becomes a kUserRaw frame.
  uint64_t invalid_items = 0;
};

// Before a new recording is written to `path`: an existing wick recording there is kept as
// PATH.old (replacing an older PATH.old), as perf keeps perf.data.old, and true is returned;
// false when there was nothing to keep (no file, an empty one, or not a regular file, such as
// /dev/null). A regular file that is not a wick recording is refused (FailedPrecondition,
// naming it and -f) unless `force`, so that -o never destroys a user's file by surprise.
absl::StatusOr<bool> KeepPreviousRecording(const std::string& path, bool force);

class RecordingWriter {
 public:
  // Creates (truncating) `path` and writes the file header and metadata.
  static absl::StatusOr<std::unique_ptr<RecordingWriter>> Open(const std::string& path,
                                                               const RecordingMeta& meta);
  virtual ~RecordingWriter() = default;

  // Definitions are written once, before the first use in a stack. Ids are dense, from 0.
  virtual void AddBinary(uint32_t id, std::string_view build_id, std::string_view path) = 0;
  virtual void AddComm(uint32_t id, std::string_view name) = 0;
  // `event` is an event type id (AddEventType), defined in this flush or an earlier one.
  virtual void AddStack(uint32_t id, uint32_t event, uint32_t comm, uint32_t pid, uint32_t tid,
                        std::span<const Frame> frames) = 0;
  // A stack of event 0.
  void AddStack(uint32_t id, uint32_t comm, uint32_t pid, uint32_t tid,
                std::span<const Frame> frames) {
    AddStack(id, 0, comm, pid, tid, frames);
  }
  // A stack of event 0 whose thread is not known (pid = tid = 0).
  void AddStack(uint32_t id, uint32_t comm, std::span<const Frame> frames) {
    AddStack(id, 0, comm, 0, 0, frames);
  }
  // Adds `delta` samples of total weight `weight_delta` to stack `id` (both accumulate
  // across flushes).
  virtual void AddCount(uint32_t id, uint64_t delta, uint64_t weight_delta) = 0;
  void AddCount(uint32_t id, uint64_t delta) { AddCount(id, delta, 0); }
  // Defines event type `id` (dense from 0) before the first trace sample naming it.
  virtual void AddEventType(uint32_t id, std::string_view name, std::string_view format) = 0;
  // Appends one trace sample to the pending chunk (no allocation once the buffer has grown:
  // it is reused across flushes). `comm` and `stack` (or kNoStack) must be defined in this
  // flush or an earlier one.
  virtual void AddTraceSample(uint64_t time, uint32_t cpu, uint32_t pid, uint32_t tid,
                              uint32_t comm, uint32_t event_type, uint32_t stack,
                              std::span<const std::byte> raw) = 0;
  // JIT symbols (jit_map.h) written by Finish() as one JIT_SYMBOLS chunk; may be called
  // several times before Finish(), the symbols accumulate.
  virtual void AddJitSymbols(std::span<const JitSymbol> symbols) = 0;
  // Kernel symbols the stacks added so far need, written by the next Flush() (those already
  // written are skipped), so a file cut short keeps them. Finish() writes them all again
  // for readers that predate these flush-time chunks.
  virtual void AddKernelSymbols(std::span<const KernelSymbol> symbols) = 0;
  // The functions of binary `id` (defined in this flush or an earlier one), written by the
  // next Flush() as one chunk.
  virtual void AddBinarySymbols(uint32_t id, std::vector<FileSymbol> symbols) = 0;
  // The recording session's counters so far, given before each Flush(). The file writer
  // ignores them (Finish() writes the final ones); a live view shows lost samples as they come.
  virtual void NoteStats(const Stats& stats) { (void)stats; }
  // Buffered definitions and counts go to the file as one chunk.
  virtual absl::Status Flush() = 0;
  // Writes kernel symbols, JIT symbols (if any), final stats, duration and the end chunk, then
  // closes the file.
  virtual absl::Status Finish(std::span<const KernelSymbol> kernel_symbols, const Stats& stats,
                              uint64_t duration_ns) = 0;
  // Bytes written so far. After a failed write (ENOSPC), the file has been cut back to its
  // last complete chunk, which every reader takes as a recording cut short; nothing more is
  // written and every later call returns the same error.
  virtual uint64_t BytesWritten() const = 0;
  // Samples (AddCount deltas) in chunks written whole, and the rest added so far: those
  // still buffered, or lost with a failed write.
  virtual uint64_t SamplesWritten() const = 0;
  virtual uint64_t SamplesNotWritten() const = 0;
};

// Reads a whole recording. A truncated file is not an error: the result has complete=false.
absl::StatusOr<Recording> ReadRecording(const std::string& path);
// Same, from bytes in memory (used by the fuzzer); `name` is used in messages.
absl::StatusOr<Recording> ParseRecording(std::span<const std::byte> data, std::string_view name);

}  // namespace wick

#endif  // WICK_RECORDING_H_
