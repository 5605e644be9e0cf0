// One resolved profile: what every report writer (folded, pprof, HTML flame graph, top table,
// callers/callees, wick diff) reads. Built once from a Recording and a Symbolizer for ONE
// selection: an event type of the recording ("cpu-clock", "page-faults", "off-cpu", ...) or
// "wall" (clock samples weighted by their period plus off-CPU blocks weighted by their length),
// so events are never summed together.
//
// A profile holds its typed values (samples, nanoseconds of CPU or off the CPU, counts) and
// which one is shown by default; its display frames, each named once here and nowhere else
// (user, kernel, JIT, inlined, unknown, off-CPU reason); and its stacks as indices into those
// frames, root first. Recordings older than format 3 (no event or weight per stack) make one
// profile of all their stacks, named by the recorded event list, with CPU nanoseconds from the
// recorded period or frequency for clock events.
//
// Stateless apart from the Symbolizer's caches; single-threaded. Errors: NotFound for an event
// the recording does not have (one line listing those it has).
#ifndef WICK_PROFILE_H_
#define WICK_PROFILE_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "wick/frame.h"
#include "wick/recording.h"
#include "wick/symbolizer.h"

namespace wick {

// The one spelling of a frame, thread or module nobody could name.
inline constexpr std::string_view kUnknownName = "[unknown]";

// The selection that adds on-CPU and off-CPU time of an --off-cpu recording.
inline constexpr std::string_view kWallEventName = "wall";

// What a display frame is; the numbers are FlameKind's (flamegraph.h) for the same frames.
enum class FrameCategory : uint8_t {
  kUser = 2,     // named user function (also JIT code named by /tmp/perf-PID.map)
  kKernel = 3,   // kernel function
  kInlined = 4,  // function inlined into its caller
  kUnknown = 5,  // no name ("[unknown]", "libfoo.so+0x12", "fun_1200@libfoo.so")
  kOffCpu = 6,   // "[off-cpu: REASON]", the leaf of an off-CPU stack
};

struct DisplayFrame {
  std::string name;  // never empty; no "_[k]" / "_[i]" suffix
  FrameCategory category = FrameCategory::kUnknown;
  bool kernel = false;
  std::string module;  // binary basename, "[kernel]", kernel module, or "" (raw, off-CPU)
  std::string file;    // source file (full path as in the debug info), "" when unknown
  uint32_t line = 0;   // 0 when unknown
  // The symbol's other names (owned by the Symbolizer), for --callers/--callees; nullptr when
  // it has none.
  const std::vector<std::string>* aliases = nullptr;

  friend bool operator==(const DisplayFrame& a, const DisplayFrame& b) {
    return a.name == b.name && a.category == b.category && a.kernel == b.kernel &&
           a.module == b.module && a.file == b.file && a.line == b.line;
  }
  template <typename H>
  friend H AbslHashValue(H h, const DisplayFrame& f) {
    return H::combine(std::move(h), f.name, f.category, f.kernel, f.module, f.file, f.line);
  }
};

// Appends the display frames of one recorded frame to `out`, outermost first: a user frame in
// inlined code is the symbol's function, then the inlined functions outer to inner (only the
// symbol's function when `inlined` is false). The naming of every writer and of wick script.
void ResolveFrame(const Recording& rec, Symbolizer& sym, const Frame& frame, bool inlined,
                  std::vector<DisplayFrame>* out);

// The name of one recorded frame without inlining (the symbol's function). Never empty.
std::string FrameName(const Recording& rec, Symbolizer& sym, const Frame& frame);

// "name (file.c:42)" with the file's basename, or just the name when the line is unknown.
std::string NameWithLine(const DisplayFrame& f);

// The thread name of `comm` (an id into rec.comms), kUnknownName when out of range.
std::string_view CommName(const Recording& rec, uint32_t comm);

// The last component of a path.
std::string_view Basename(std::string_view path);

// One value of every stack, as pprof's ValueType: ("samples", "count"), ("cpu",
// "nanoseconds"), ("wall", "nanoseconds"), ("page-faults", "count"), ...
struct ValueType {
  std::string type;
  std::string unit;
  bool nanoseconds() const { return unit == "nanoseconds"; }
};

// One recorded frame of the profile's stacks and its display frames.
struct ProfileLocation {
  Frame frame;
  uint32_t first_frame = 0;  // display frames [first_frame, first_frame + frames), outer first
  uint32_t frames = 0;       // into Profile::location_frames
};

struct ProfileStack {
  uint32_t comm = 0;          // index into Profile::comms
  uint32_t pid = 0, tid = 0;  // 0 in version-1 recordings
  uint32_t first = 0;         // [first, first + size) of Profile::stack_frames, root first
  uint32_t size = 0;
  uint32_t first_location = 0;  // [first_location, + locations) of Profile::stack_locations,
  uint32_t locations = 0;       // leaf first (pprof's order)
};

struct Profile {
  std::string event;  // the selection: "cpu-clock", "wall", ...; for old recordings the
                      // recorded event list ("cpu-clock" or "cpu-clock,page-faults"), maybe ""
  // Nanoseconds per sample of the clock event from the recorded period or frequency (0 when
  // the profile has no clock samples or they were taken at a varying period): pprof's period.
  uint64_t clock_period_ns = 0;
  // Of the recording, for the writers that describe it (pprof's mappings, labels, comments).
  RecordingMeta meta;
  std::vector<RecordedBinary> binaries;
  bool thread_ids = true;  // stacks carry pid and tid (all 0 in version-1 recordings)
  std::vector<ValueType> value_types;
  size_t default_value = 0;  // the value shown by default (an index into value_types)
  // Thread names: the recording's comms (by id), then kUnknownName when a stack named a comm
  // the recording lacks.
  std::vector<std::string> comms;
  // Every display frame, each once.
  std::vector<DisplayFrame> frames;
  std::vector<ProfileLocation> locations;
  std::vector<uint32_t> location_frames;  // indices into frames
  // The stacks of the selection with a non-zero value, in recording order.
  std::vector<ProfileStack> stacks;
  std::vector<uint32_t> stack_frames;     // indices into frames
  std::vector<uint32_t> stack_locations;  // indices into locations
  std::vector<uint64_t> values;           // value_types.size() per stack, stack after stack
  std::vector<uint64_t> totals;           // per value type, over all stacks
  // Distinct unnamed addresses per binary (Symbolizer::UnsymbolizedByBinary after the build).
  std::vector<UnsymbolizedBinary> unsymbolized;

  std::span<const uint32_t> Frames(const ProfileStack& s) const {
    return {stack_frames.data() + s.first, s.size};
  }
  std::span<const uint32_t> Locations(const ProfileStack& s) const {
    return {stack_locations.data() + s.first_location, s.locations};
  }
  std::span<const uint32_t> Frames(const ProfileLocation& l) const {
    return {location_frames.data() + l.first_frame, l.frames};
  }
  // The value of stack `i` of type `type`.
  uint64_t Value(size_t i, size_t type) const { return values[i * value_types.size() + type]; }
  // The default value of stack `i`.
  uint64_t Shown(size_t i) const { return Value(i, default_value); }
  const ValueType& shown_type() const { return value_types[default_value]; }
  uint64_t shown_total() const { return totals.empty() ? 0 : totals[default_value]; }
};

struct ProfileOptions {
  std::string event;    // "" = DefaultProfileEvent
  bool inlined = true;  // inlined functions as display frames of their own
};

// The selections `rec` offers, in order: its event types that have stacks (all event types
// when none has), then "wall" when it has the off-CPU event type. Old recordings: the one
// recorded event list.
std::vector<std::string> ProfileEvents(const Recording& rec);

// "wall" for an --off-cpu recording, else event type 0 (old recordings: the recorded events).
std::string DefaultProfileEvent(const Recording& rec);

// Event types other than `event` that have samples: what a report that shows only `event`
// leaves out.
std::vector<std::string> OtherProfileEvents(const Recording& rec, std::string_view event);

// OK when `event` is one of ProfileEvents(rec) (or empty: the default); else NotFound, one line
// naming the events `rec` has.
absl::Status CheckProfileEvent(const Recording& rec, std::string_view event);

// The profile of opts.event. NotFound, naming the events `rec` has, when it has no such event.
absl::StatusOr<Profile> BuildProfile(const Recording& rec, Symbolizer& sym,
                                     const ProfileOptions& opts = {});

// Folded stacks and tables show whole numbers: samples or counts as they are, nanoseconds as
// microseconds (folded) or milliseconds (tables). The folded unit of `p`: "samples",
// "microseconds", or the count's name ("page-faults").
std::string FoldedUnit(const Profile& p);

}  // namespace wick

#endif  // WICK_PROFILE_H_
