// The top-functions table `wick report` prints by default: per function its self samples (it
// was the leaf) and total samples (it was anywhere on the stack, counted once per stack even
// when recursive), with the module it lives in.
//
// Functions are keyed by (display name, module): user functions by their symbol (or, with
// expand_inlined, the innermost inlined function owns the self samples), kernel functions by
// kallsyms name with module "[kernel]" or the kernel module's name. Stateless apart from the
// Symbolizer's caches; errors only for a failed stream write.
#ifndef WICK_TOP_TABLE_H_
#define WICK_TOP_TABLE_H_

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "wick/recording.h"
#include "wick/symbolizer.h"

namespace wick {

enum class TopSort : uint8_t { kSelf, kTotal };

struct TopOptions {
  size_t top = 30;  // rows printed (0 = all)
  TopSort sort = TopSort::kSelf;
  bool expand_inlined = false;  // inlined functions count as functions of their own
  bool lines = false;           // key rows by "function (file:line)" where debug info has it
};

struct TopEntry {
  std::string function;  // display name, never empty
  std::string module;    // binary basename, "[kernel]", kernel module name, or "" when unknown
  bool kernel = false;
  uint64_t self = 0;
  uint64_t total = 0;
};

struct TopTable {
  uint64_t total_samples = 0;
  std::vector<TopEntry> entries;  // all functions, sorted by opts.sort (then other, then name)
  // Distinct unnamed addresses per binary (Symbolizer::UnsymbolizedByBinary after the walk).
  std::vector<UnsymbolizedBinary> unsymbolized;
  uint64_t raw_frames = 0;  // distinct frames outside any file (anonymous memory, JIT)
};

TopTable ComputeTopTable(const Recording& rec, Symbolizer& sym, const TopOptions& opts = {});

// "Self%  Self  Total%  Total  Function [Module]" rows (at most opts.top), kernel functions
// marked "[k]", then one line naming the unsymbolized addresses per binary, if any.
absl::Status WriteTopTable(const TopTable& table, std::ostream& out, const TopOptions& opts = {});

}  // namespace wick

#endif  // WICK_TOP_TABLE_H_
