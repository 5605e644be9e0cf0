// Folded-stack output ("comm;root;...;leaf count" per line), the input format of
// flamegraph.pl, inferno and speedscope, plus the frame naming other writers share.
//
// Frames are named: user frames by their demangled function; kernel frames by the
// recording's kernel symbols with the suffix "_[k]"; user frames in a file without a symbol
// "libfoo.so+0x1a2b" (basename + file offset); anything else "[unknown]". Identical lines
// from different stacks are merged; lines are sorted, so output is deterministic.
// Stateless apart from the Symbolizer's caches. Errors: only a failed stream write.
#ifndef WICK_FOLDED_H_
#define WICK_FOLDED_H_

#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "wick/frame.h"
#include "wick/recording.h"
#include "wick/symbolizer.h"

namespace wick {

struct FoldedOptions {
  bool include_comm = true;    // first element of each line is the thread name
  bool kernel_suffix = true;   // append "_[k]" to kernel frame names
  bool expand_inlined = true;  // insert inlined functions (when debug info has them)
  bool inline_suffix = true;   // with expand_inlined: append "_[i]" to inlined frame names
  bool lines = false;          // append " (file.c:42)" where debug info has the line
};

// The display name of one frame (without the "_[k]" suffix). Never empty.
std::string FrameName(const Recording& rec, Symbolizer& sym, const Frame& frame);

// Writes one line per distinct folded stack to `out`.
absl::Status WriteFolded(const Recording& rec, Symbolizer& sym, std::ostream& out,
                         const FoldedOptions& opts = {});

// Differential folded stacks, the input of flamegraph.pl's difffolded mode: one line
// "frames base_count new_count" per stack either recording has (0 where one lacks it), sorted.
absl::Status WriteDiffFolded(const Recording& base, const Recording& now, Symbolizer& sym,
                             std::ostream& out, const FoldedOptions& opts = {});

}  // namespace wick

#endif  // WICK_FOLDED_H_
