// A self-contained interactive HTML flame graph: one file, inline JavaScript and CSS, no
// network access. The merged call tree (root "all", then thread names, then frames root to
// leaf) is embedded as compact JSON and drawn on a canvas: click to zoom, regex search with
// highlight and matched share, hover tooltip (name, value, %), reset zoom. Kernel, inlined,
// JIT/unknown, off-CPU reason and user frames are colored differently. Frames are sized by the
// resolved profile's shown value (profile.h): samples, or time for wall and off-CPU profiles,
// which the header, tooltip and search show in ms or s; the header names the event. The page opens
// scrolled to the root (its header stays on screen), as tall as the deepest frame it draws. Frames
// narrower than a minimum width at the current zoom are left out with their callees, as
// flamegraph.pl's
// --minwidth does, and the header says how many frames and samples that leaves out; zooming
// in draws them once they are wide enough, and search counts them all. Scales to 100k+
// distinct stacks.
//
// Embedded data: <script id="wick-data" type="application/json">{"event":"cpu-clock",
// "unit":"samples","names":[...],"kinds":[...],"tree":NODE}</script> where NODE = [name index,
// total value, [NODE...]] (children sorted by name), kinds[i] is the FlameKind of names[i] and
// "unit" is "nanoseconds" for time, else what is counted ("samples", "blocks", "page-faults").
//
// Differential flame graph (`wick diff`): frames sized by the new profile, NODE =
// [name index, new value, [NODE...], base value] and the document has "diff":
// {"base_total":N}; a frame is red where its share of the whole grew from base to new, blue
// where it shrank (deeper for larger changes), and the tooltip gives both shares and the
// delta. Frames only the base profile has have no width. Stateless; errors for a failed stream
// write and an invalid minimum width.
#ifndef WICK_FLAMEGRAPH_H_
#define WICK_FLAMEGRAPH_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "wick/profile.h"

namespace wick {

// Frame categories, as the numbers in the embedded "kinds" array.
enum class FlameKind : uint8_t {
  kRoot = 0,     // "all"
  kComm = 1,     // thread name
  kUser = 2,     // named user function
  kKernel = 3,   // kernel function
  kInlined = 4,  // function inlined into its caller
  kUnknown = 5,  // no name ("[unknown]", "libfoo.so+0x12")
  kOffCpu = 6,   // why an off-CPU stack was off the CPU ("[off-cpu: sleep]")
};

// The page draws a frame when its width at the current zoom is at least this: CSS pixels, or
// a percentage of the drawn width (the frame zoomed into, or all samples). Applied in the
// page, so the embedded data keeps every frame.
struct FlameMinWidth {
  double value = 1;
  bool percent = false;
};

// "2", "0.5px" (pixels) or "0.1%" (percent of the drawn width): finite, not negative, at most
// 100%. InvalidArgument otherwise, with the text and the accepted forms.
absl::StatusOr<FlameMinWidth> ParseFlameMinWidth(std::string_view text);

struct FlameGraphOptions {
  std::string title = "wick flame graph";
  bool lines = false;        // append " (file:line)" where debug info has it
  bool include_comm = true;  // thread names (comms) as the roots' children; false: frames
                             // of every thread merged right under "all"
  FlameMinWidth min_width;   // narrower frames are left out (see above)
  // When set, counts the bytes of names that were not UTF-8 (shown as U+FFFD).
  uint64_t* text_not_utf8 = nullptr;
};

// The embedded JSON document alone (what the page parses), for tests and other viewers.
std::string FlameGraphJson(const Profile& profile, const FlameGraphOptions& opts = {});

// Writes the whole HTML page to `out`.
absl::Status WriteFlameGraph(const Profile& profile, std::ostream& out,
                             const FlameGraphOptions& opts = {});

// The differential document: `now` sizes the frames, `base` gives each frame's old value.
std::string DiffFlameGraphJson(const Profile& base, const Profile& now,
                               const FlameGraphOptions& opts = {});

// Writes the differential HTML page to `out`.
absl::Status WriteDiffFlameGraph(const Profile& base, const Profile& now, std::ostream& out,
                                 const FlameGraphOptions& opts = {});

}  // namespace wick

#endif  // WICK_FLAMEGRAPH_H_
