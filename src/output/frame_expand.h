// Private to src/output: one recorded frame as the display frames every writer shows.
//
// A user frame whose address lies in inlined code becomes several display frames: the
// symbol's function, then the inlined functions outer to inner. Names are FrameName's
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
  // The symbol's other names (SymbolizedAddress::aliases, owned by the Symbolizer), for
  // --callers/--callees; nullptr for frames that have none.
  const std::vector<std::string>* aliases = nullptr;
};

// Appends the display frames of `frame` to `out`, outermost first. With `inlined` false only
// the symbol's function (one frame).
void ExpandFrame(const Recording& rec, Symbolizer& sym, const Frame& frame, bool inlined,
                 std::vector<DisplayFrame>* out);

inline constexpr std::string_view kUnknownName = "[unknown]";

// What a frame in a known binary without a symbol is called: "fun_1200@libfoo.so" when the
// binary's .eh_frame places it in a function whose code starts at file offset 0x1200 (all its
// addresses are one frame), else "libfoo.so+0x1234" (the address's offset in the file);
// "[unknown]" when the binary has no name.
std::string UnsymbolizedName(std::string_view binary_path, uint64_t offset,
                             const SymbolizedAddress& s);

// Whether `function` (as a user typed it for --callers/--callees) names the frame: its display
// name (with " (file:line)" when `lines`), one of its aliases, or either without a symbol
// version ("clock_gettime" for clock_gettime@@GLIBC_2.17).
bool FrameNamed(const DisplayFrame& f, std::string_view function, bool lines);

// The thread name of `comm` (an id into rec.comms), "[unknown]" when out of range.
std::string_view CommName(const Recording& rec, uint32_t comm);

// "name (file.c:42)" with the file's basename, or just the name when the line is unknown.
std::string NameWithLine(const DisplayFrame& f);

std::string_view Basename(std::string_view path);

}  // namespace wick::output_internal

#endif  // WICK_SRC_OUTPUT_FRAME_EXPAND_H_
