// A self-contained interactive HTML flame graph: one file, inline JavaScript and CSS, no
// network access. The merged call tree (root "all", then thread names, then frames root to
// leaf) is embedded as compact JSON and drawn on a canvas: click to zoom, regex search with
// highlight and matched share, hover tooltip (name, samples, %), reset zoom. Kernel, inlined,
// JIT/unknown and user frames are colored differently. Scales to 100k+ distinct stacks (the
// page draws only frames wider than half a pixel).
//
// Embedded data: <script id="wick-data" type="application/json">{"names":[...],"kinds":[...],
// "tree":NODE}</script> where NODE = [name index, total samples, [NODE...]] (children sorted
// by name) and kinds[i] is the FlameKind of names[i]. Stateless apart from the Symbolizer's
// caches; errors only for a failed stream write.
#ifndef WICK_FLAMEGRAPH_H_
#define WICK_FLAMEGRAPH_H_

#include <cstdint>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "wick/recording.h"
#include "wick/symbolizer.h"

namespace wick {

// Frame categories, as the numbers in the embedded "kinds" array.
enum class FlameKind : uint8_t {
  kRoot = 0,     // "all"
  kComm = 1,     // thread name
  kUser = 2,     // named user function
  kKernel = 3,   // kernel function
  kInlined = 4,  // function inlined into its caller
  kUnknown = 5,  // no name ("[unknown]", "libfoo.so+0x12")
};

struct FlameGraphOptions {
  std::string title = "wick flame graph";
  bool expand_inlined = true;  // inlined functions as their own frames
  bool lines = false;          // append " (file:line)" where debug info has it
};

// The embedded JSON document alone (what the page parses), for tests and other viewers.
std::string FlameGraphJson(const Recording& rec, Symbolizer& sym,
                           const FlameGraphOptions& opts = {});

// Writes the whole HTML page to `out`.
absl::Status WriteFlameGraph(const Recording& rec, Symbolizer& sym, std::ostream& out,
                             const FlameGraphOptions& opts = {});

}  // namespace wick

#endif  // WICK_FLAMEGRAPH_H_
