// Private to src/output: one recorded frame as the display frames every writer shows.
//
// A user frame whose address lies in inlined code becomes several display frames: the
// symbol's function, then the inlined functions outer to inner. Names come from FrameName
// (folded.h), so all writers agree. Stateless apart from the Symbolizer's caches.
#ifndef WICK_SRC_OUTPUT_FRAME_EXPAND_H_
#define WICK_SRC_OUTPUT_FRAME_EXPAND_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "wick/flamegraph.h"
#include "wick/frame.h"
#include "wick/recording.h"
#include "wick/symbolizer.h"

namespace wick::output_internal {

struct DisplayFrame {
  std::string name;  // never empty
  FlameKind kind = FlameKind::kUnknown;
  bool kernel = false;
  std::string module;  // binary basename, "[kernel]", kernel module, or "" (raw frames)
  std::string file;    // source file (full path as in the debug info), "" when unknown
  uint32_t line = 0;   // 0 when unknown
};

// Appends the display frames of `frame` to `out`, outermost first. With `inlined` false only
// the symbol's function (one frame).
void ExpandFrame(const Recording& rec, Symbolizer& sym, const Frame& frame, bool inlined,
                 std::vector<DisplayFrame>* out);

// "name (file.c:42)" with the file's basename, or just the name when the line is unknown.
std::string NameWithLine(const DisplayFrame& f);

std::string_view Basename(std::string_view path);

}  // namespace wick::output_internal

#endif  // WICK_SRC_OUTPUT_FRAME_EXPAND_H_
