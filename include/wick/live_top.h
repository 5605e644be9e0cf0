// `wick top`'s live profile: what a recording session hands over at each flush, kept in memory
// and turned into rows of hot functions refresh after refresh.
//
// Two threads, one hand-over point. The session's thread writes into a TopFeed through the
// RecordingWriter that TopFeed::OpenWriter returns (RecordOptions::open_sink): definitions and
// count deltas are buffered there and handed over under the feed's mutex once per Flush(), never
// per sample. The view's thread takes what was handed over (TopFeed::Take) and applies it to its
// LiveTop, which it alone owns: new stacks are named once, when they first arrive (a frame
// address is symbolized once for the run), so a refresh only adds up counts of stacks already
// named. Rows are keyed by (function, module, comm), as `perf top --sort comm,dso,sym`.
//
// Counts decay as perf top's do (each refresh keeps 7/8 of what was shown, plus the new period)
// unless `cumulative`; Zero() forgets them. Nothing here fails: an address that cannot be named
// is a row of its own ("[unknown]", "libfoo.so+0x12"), counted in the symbolizer's stats.
#ifndef WICK_LIVE_TOP_H_
#define WICK_LIVE_TOP_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "wick/profile.h"
#include "wick/recording.h"
#include "wick/stats.h"
#include "wick/symbolizer.h"
#include "wick/top_table.h"

namespace wick {

// What one or more flushes handed over: a piece of a recording.
struct TopBatch {
  RecordingMeta meta;
  std::vector<std::pair<uint32_t, RecordedBinary>> binaries;  // (id, binary)
  std::vector<std::pair<uint32_t, std::string>> comms;        // (id, name)
  struct Stack {
    uint32_t id = 0, event = 0, comm = 0, pid = 0, tid = 0;
    std::vector<Frame> frames;  // leaf first
  };
  std::vector<Stack> stacks;
  struct Count {
    uint32_t stack = 0;
    uint64_t count = 0;
  };
  std::vector<Count> counts;
  std::vector<KernelSymbol> kernel_symbols;
  std::vector<std::pair<uint32_t, std::vector<FileSymbol>>> binary_symbols;
  std::vector<std::string> event_names;  // by event id, as defined so far
  Stats stats;                           // the session's counters at the last flush
  uint32_t flushes = 0;
  bool finished = false;  // the session ended (Finish was called)

  // Appends `later` (handed over after this one) to this batch.
  void Append(TopBatch&& later);
};

class TopFeed {
 public:
  // A writer for RecordOptions::open_sink; the feed must outlive it.
  std::unique_ptr<RecordingWriter> OpenWriter(const RecordingMeta& meta);
  // Everything handed over since the last Take (flushes == 0: nothing new).
  TopBatch Take();

 private:
  friend class TopFeedWriter;
  void HandOver(TopBatch&& batch);

  std::mutex mu_;
  TopBatch ready_;  // guarded by mu_
};

struct TopRow {
  std::string function;  // display name, never empty
  std::string module;    // binary basename, "[kernel]", a kernel module, or ""
  std::string comm;
  bool kernel = false;
  uint64_t self = 0;   // decayed (or cumulative) samples with the function as the leaf
  uint64_t total = 0;  // ... with the function anywhere on the stack (once per stack)
  uint32_t key = 0;    // for Callers()
};

struct TopView {
  uint64_t all = 0;             // every sample shown (decayed or cumulative)
  std::vector<TopRow> rows;     // sorted by the sort asked for, then the other value, then name
  uint64_t period_samples = 0;  // samples of the last refresh's period
  uint64_t functions = 0;       // distinct rows before the limit
};

class LiveTop {
 public:
  LiveTop(SymbolizerOptions symbols, bool cumulative);

  // Applies a batch taken from the feed. Its counts go to the period under way.
  void Apply(TopBatch&& batch);
  // Ends the period under way: decays what was shown, adds the period's counts.
  void EndPeriod();
  // Forgets every count shown (`z`).
  void Zero();

  // At most `limit` rows (0: all) of event 0 (the first event recorded).
  TopView Rows(TopSort sort, size_t limit) const;
  // The functions directly calling row `key`, as rows (module "", comm of the row); a stack
  // where it is the outermost frame counts for "[root]". `self` is unused; sorted by total.
  TopView Callers(uint32_t key, size_t limit) const;
  // The row of `key`, as Rows() would show it now.
  TopRow Row(uint32_t key) const;

  const RecordingMeta& meta() const { return rec_.meta; }
  const Stats& stats() const { return stats_; }  // the session's, at its last flush
  const Symbolizer& symbolizer() const { return sym_; }
  bool finished() const { return finished_; }
  const std::vector<std::string>& event_names() const { return event_names_; }
  size_t stacks() const { return stacks_.size(); }
  bool cumulative() const { return cumulative_; }

 private:
  struct FrameHash {
    size_t operator()(const Frame& f) const;
  };
  struct Key {
    uint32_t function;  // into functions_
    uint32_t comm;      // into comm_names_
  };
  struct StackInfo {
    uint32_t event = 0;
    uint32_t first = 0, size = 0;  // keys_of_stacks_[first, first + size): root first
    uint64_t period = 0, shown = 0;
  };
  uint32_t FunctionOf(const Frame& frame);
  uint32_t KeyOf(uint32_t function, uint32_t comm_name);
  void AddStack(const TopBatch::Stack& s);
  TopRow RowOf(uint32_t key, uint64_t self, uint64_t total) const;

  Recording rec_;  // binaries, comms, kernel symbols, meta; no stacks
  Symbolizer sym_;
  bool cumulative_;
  bool finished_ = false;
  Stats stats_;
  std::vector<std::string> event_names_;
  std::vector<uint32_t> comm_name_of_;  // comm id -> index into comm_names_
  std::vector<std::string> comm_names_;
  absl::flat_hash_map<std::string, uint32_t> comm_name_index_;
  std::vector<DisplayFrame> functions_;
  absl::flat_hash_map<DisplayFrame, uint32_t> function_index_;
  absl::flat_hash_map<Frame, uint32_t, FrameHash> function_of_frame_;
  std::vector<Key> keys_;
  absl::flat_hash_map<uint64_t, uint32_t> key_index_;  // function << 32 | comm name
  std::vector<StackInfo> stacks_;                      // by stack id; size 0 until defined
  std::vector<uint32_t> keys_of_stacks_;
  std::vector<DisplayFrame> scratch_;
  uint64_t period_samples_ = 0, last_period_samples_ = 0;
};

}  // namespace wick

#endif  // WICK_LIVE_TOP_H_
