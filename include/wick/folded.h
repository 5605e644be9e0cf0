// Folded-stack output ("comm;root;...;leaf value" per line), the input format of
// flamegraph.pl, inferno and speedscope, from one resolved profile (profile.h).
//
// Frame names are the profile's; kernel frames get the suffix "_[k]", inlined ones "_[i]".
// Identical lines from different stacks are merged; lines are sorted, so output is
// deterministic. The value of a line is the profile's shown value: samples (or counts) as they
// are, nanoseconds as microseconds, rounded after a line's nanoseconds are summed. Stateless;
// errors: only a failed stream write.
#ifndef WICK_FOLDED_H_
#define WICK_FOLDED_H_

#include <ostream>

#include "absl/status/status.h"
#include "wick/profile.h"

namespace wick {

struct FoldedOptions {
  bool include_comm = true;   // first element of each line is the thread name
  bool kernel_suffix = true;  // append "_[k]" to kernel frame names
  bool inline_suffix = true;  // append "_[i]" to inlined frame names
  bool lines = false;         // append " (file.c:42)" where debug info has the line
};

// Writes one line per distinct folded stack of `profile` to `out`.
absl::Status WriteFolded(const Profile& profile, std::ostream& out, const FoldedOptions& opts = {});

// Differential folded stacks, the input of flamegraph.pl's difffolded mode: one line
// "frames base_value new_value" per stack either profile has (0 where one lacks it), sorted.
// Both profiles should be of the same event (their values are printed as they are).
absl::Status WriteDiffFolded(const Profile& base, const Profile& now, std::ostream& out,
                             const FoldedOptions& opts = {});

}  // namespace wick

#endif  // WICK_FOLDED_H_
