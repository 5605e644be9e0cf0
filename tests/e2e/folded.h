// The one parser of folded stacks for the end-to-end tests: `wick report --folded` writes one
// "FRAME;FRAME;...;FRAME COUNT" line per distinct stack, root first, the comm (or whatever
// --per-thread / --no-comm put there) as the first frame. The parser is strict: a line that is
// not frames, one space and a positive count is an error naming the line, so a format bug
// shows up as that, not as "too few samples". Also the known_tree workload's own truth: its
// a/b/c split and the CPU time it reports on stderr.
#ifndef WICK_TESTS_E2E_FOLDED_H_
#define WICK_TESTS_E2E_FOLDED_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace wick::testing {

struct FoldedStack {
  std::vector<std::string> frames;  // root first
  uint64_t count = 0;
};

class Folded {
 public:
  static absl::StatusOr<Folded> Parse(absl::string_view text);

  const std::vector<FoldedStack>& stacks() const { return stacks_; }
  uint64_t total() const { return total_; }

  // Samples whose stack holds every one of `frames` as whole frames, in this order (not
  // necessarily next to each other).
  uint64_t With(const std::vector<std::string>& frames) const;
  // Samples whose stack has a frame `pred` holds for.
  uint64_t WithFrame(const std::function<bool(const std::string&)>& pred) const;
  // Samples of the stacks `pred` holds for.
  uint64_t CountIf(const std::function<bool(const FoldedStack&)>& pred) const;
  // Samples per first frame.
  std::map<std::string, uint64_t> ByRoot() const;
  // The stacks whose first frame is `root`.
  Folded OnlyRoot(absl::string_view root) const;
  // Samples per name for the leaf-most frame among `names` on each stack; stacks with none of
  // them are left out.
  std::map<std::string, uint64_t> LeafMost(const std::vector<std::string>& names) const;

 private:
  std::vector<FoldedStack> stacks_;
  uint64_t total_ = 0;
};

// Folded::Parse for a test: a malformed line adds a test failure (with the line) and gives an
// empty profile.
Folded ParseFoldedOrFail(absl::string_view text);

// Runs `wick report -i FILE --folded EXTRA...` and parses its output; a failed run or a
// malformed line adds a test failure.
Folded ReportFolded(const std::string& wick, const std::string& file,
                    const std::vector<std::string>& extra = {});

// known_tree's split: samples under a, b and c (the leaf-most of the three on each stack).
struct KnownSplit {
  uint64_t a = 0, b = 0, c = 0;
  uint64_t sum() const { return a + b + c; }
};
KnownSplit KnownTreeSplit(const Folded& folded);

// Expects a:b:c = 60:30:10 within `tolerance` percentage points, from more than
// `min_samples` samples in a, b and c.
void ExpectKnownSplit(const KnownSplit& split, double tolerance, uint64_t min_samples);

// The CPU seconds known_tree printed on stderr at exit ("known_tree: cpu SECONDS", summed when
// several ran); a test failure and 0 when `err` holds none.
double KnownTreeCpu(absl::string_view err);

}  // namespace wick::testing

#endif  // WICK_TESTS_E2E_FOLDED_H_
