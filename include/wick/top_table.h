// The top-functions table `wick report` prints by default: per function its self value (it
// was the leaf) and total value (it was anywhere on the stack, counted once per stack even
// when recursive), with the module it lives in. Values are the profile's shown value (profile.h):
// samples, or time (nanoseconds, printed as milliseconds) for wall and off-CPU profiles; the
// table's first line names the event and the unit.
//
// Functions are keyed by (display name, module): user functions by their symbol (or, in a
// profile with inlined frames, the innermost inlined function owns the self value), kernel
// functions by kallsyms name with module "[kernel]" or the kernel module's name. Stateless;
// errors only for a failed stream write.
//
// Also here, built on the same function keys: the callers or callees of one function
// (`--callers/--callees FUNC`) and the differential table of `wick diff` (shares of two
// profiles, each normalized by its own total).
#ifndef WICK_TOP_TABLE_H_
#define WICK_TOP_TABLE_H_

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "wick/profile.h"
#include "wick/symbolizer.h"

namespace wick {

enum class TopSort : uint8_t { kSelf, kTotal };

struct TopOptions {
  size_t top = 30;  // rows printed (0 = all)
  TopSort sort = TopSort::kSelf;
  bool lines = false;  // key rows by "function (file:line)" where debug info has it
};

// "486 samples", "1234.57 ms": a value of type `type` as the tables print it.
std::string FormatValue(uint64_t value, const ValueType& type);

struct TopEntry {
  std::string function;  // display name, never empty
  std::string module;    // binary basename, "[kernel]", kernel module name, or "" when unknown
  bool kernel = false;
  uint64_t self = 0;  // in the profile's shown value
  uint64_t total = 0;
};

struct TopTable {
  std::string event;              // Profile::event
  ValueType value_type;           // of self, total and all
  uint64_t all = 0;               // the shown value of every stack
  std::vector<TopEntry> entries;  // all functions, sorted by opts.sort (then other, then name)
  // Distinct unnamed addresses per binary (Symbolizer::UnsymbolizedByBinary after the walk).
  std::vector<UnsymbolizedBinary> unsymbolized;
  uint64_t raw_frames = 0;  // distinct frames outside any file (anonymous memory, JIT)
};

TopTable ComputeTopTable(const Profile& profile, const TopOptions& opts = {});

// "EVENT: ALL UNIT", then "Self%  Self  Total%  Total  Function [Module]" rows (at most
// opts.top; times in ms), kernel functions marked "[k]", then one line naming the
// unsymbolized addresses per binary, if any.
absl::Status WriteTopTable(const TopTable& table, std::ostream& out, const TopOptions& opts = {});

enum class CallDirection : uint8_t { kCallers, kCallees };

// The functions directly calling (or called by) one function, over every stack it is on.
struct CallTable {
  std::string function;         // its display name (as asked when no frame matched)
  std::string event;            // Profile::event
  ValueType value_type;         // of every value below
  uint64_t all = 0;             // the whole profile
  uint64_t function_total = 0;  // stacks with the function anywhere on the stack
  uint64_t function_self = 0;   // stacks with the function as the leaf
  // One entry per neighbour: `total` = value of stacks in which it calls (or is called by)
  // the function, counted once per stack; `self` unused. Sorted by total, then name. Callers
  // include "[root]" for stacks where the function is the outermost frame; callees do not
  // list the function's self samples (see function_self).
  std::vector<TopEntry> entries;
};

// `function` is matched against the display names (without module) of every frame, as the
// top table shows them (the profile's inlining and opts.lines apply), and against every alias of
// a symbol, also without its version (__libc_malloc and malloc, clock_gettime for
// clock_gettime@@GLIBC_2.17). function_total == 0 when no frame matched.
CallTable ComputeCallTable(const Profile& profile, std::string_view function,
                           CallDirection direction, const TopOptions& opts = {});

// "Samples  %All  %Func  Function [Module]" rows (at most opts.top; "ms" for times), headed by
// a line naming the function and its self and total value.
absl::Status WriteCallTable(const CallTable& table, CallDirection direction, std::ostream& out,
                            const TopOptions& opts = {});

// One function of `wick diff`: its share of each profile's samples (0..1).
struct DiffEntry {
  std::string function;
  std::string module;
  bool kernel = false;
  uint64_t base_self = 0, base_total = 0;  // value in the base profile
  uint64_t new_self = 0, new_total = 0;    // value in the new profile
  double base_self_share = 0, base_total_share = 0;
  double new_self_share = 0, new_total_share = 0;
  double self_delta() const { return new_self_share - base_self_share; }
  double total_delta() const { return new_total_share - base_total_share; }
};

struct DiffTable {
  std::string event;     // the new profile's
  ValueType value_type;  // the new profile's
  uint64_t base_all = 0, new_all = 0;
  // Every function of either profile, sorted by |self_delta| (largest change first), then
  // |total_delta|, then name.
  std::vector<DiffEntry> entries;
};

// From the full tables (opts.top is ignored: ComputeTopTable returns every function).
DiffTable ComputeDiffTable(const TopTable& base, const TopTable& now);

// A line naming the event and both totals, then
// "BaseSelf% NewSelf% Delta BaseTotal% NewTotal% Delta Function [Module]" with deltas in
// percentage points, at most `limit` rows (0 = all), functions unchanged in both columns
// (to 0.005 points) left out.
absl::Status WriteDiffTable(const DiffTable& table, std::ostream& out, size_t limit = 30);

}  // namespace wick

#endif  // WICK_TOP_TABLE_H_
