// Resolving a recording into one profile (profile.h): select the stacks of one event, give
// them their typed values, and name every distinct recorded frame once.
#include "wick/profile.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "wick/jit_map.h"
#include "wick/kernel_symbols.h"
#include "wick/status.h"

namespace wick {
namespace {

// What a frame in a known binary without a symbol is called: "fun_1200@libfoo.so" when the
// binary's .eh_frame places it in a function whose code starts at file offset 0x1200 (all its
// addresses are one frame), else "libfoo.so+0x1234" (the address's offset in the file);
// kUnknownName when the binary has no name.
std::string UnsymbolizedName(std::string_view binary_path, uint64_t offset,
                             const SymbolizedAddress& s) {
  const std::string_view base = Basename(binary_path);
  if (base.empty()) return std::string(kUnknownName);
  if (s.unnamed_function)
    return absl::StrCat("fun_", absl::Hex(s.function_file_offset), "@", Sv(base));
  return absl::StrCat(Sv(base), "+0x", absl::Hex(offset));
}

std::string OffCpuFrameName(uint64_t reason) {
  return absl::StrCat("[off-cpu: ", Sv(OffCpuReasonName(reason)), "]");
}

// cpu-clock and task-clock count time: their period is in nanoseconds. Modifiers (":u") may
// follow the name.
bool IsClockEvent(std::string_view name) {
  for (std::string_view clock : {"cpu-clock", "task-clock"}) {
    if (name == clock || (name.starts_with(clock) && name[clock.size()] == ':')) return true;
  }
  return false;
}

// Recordings before format 3 (and hand-built ones without event types) keep no event per
// stack: all their stacks are one profile.
bool Legacy(const Recording& rec) { return rec.version < 3 || rec.event_types.empty(); }

bool HasOffCpu(const Recording& rec) {
  return std::any_of(rec.event_types.begin(), rec.event_types.end(),
                     [](const RecordedEventType& t) { return t.name == kOffCpuEventName; });
}

// Nanoseconds per sample of a clock event, from the recorded period or frequency (clock
// periods are nanoseconds; at a frequency, the kernel aims at this average).
uint64_t NanosPerSample(const RecordingMeta& meta) {
  if (meta.sample_period != 0) return meta.sample_period;
  if (meta.sample_freq != 0) return 1'000'000'000 / meta.sample_freq;
  return 0;
}

// The same for an old recording, whose samples weigh nothing of their own: 0 when it did not
// count time (or counted several events, whose samples cannot be told apart).
uint64_t LegacyNanosPerSample(const RecordingMeta& meta) {
  if (meta.event != "cpu-clock" && meta.event != "task-clock") return 0;
  return NanosPerSample(meta);
}

// How the stacks of one event type enter the profile.
enum class Role : uint8_t { kNone, kCounter, kClock, kOffCpu };

}  // namespace

std::string_view Basename(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::string NameWithLine(const DisplayFrame& f) {
  if (f.line == 0) return f.name;
  return absl::StrCat(f.name, " (", Sv(f.file.empty() ? std::string_view("?") : Basename(f.file)),
                      ":", f.line, ")");
}

std::string_view CommName(const Recording& rec, uint32_t comm) {
  return comm < rec.comms.size() ? std::string_view(rec.comms[comm].name) : kUnknownName;
}

std::string FrameName(const Recording& rec, Symbolizer& sym, const Frame& frame) {
  std::vector<DisplayFrame> frames;
  ResolveFrame(rec, sym, frame, /*inlined=*/false, &frames);
  return frames.front().name;
}

void ResolveFrame(const Recording& rec, Symbolizer& sym, const Frame& frame, bool inlined,
                  std::vector<DisplayFrame>* out) {
  DisplayFrame d;
  d.name = std::string(kUnknownName);
  switch (frame.kind) {
    case FrameKind::kKernel: {
      d.kernel = true;
      const KernelSymbol* k = LookupKernelSymbol(rec.kernel_symbols, frame.value);
      if (k != nullptr) {
        d.name = k->name;
        d.category = FrameCategory::kKernel;
      }
      d.module = k == nullptr || k->module.empty() ? "[kernel]" : k->module;
      out->push_back(std::move(d));
      return;
    }
    case FrameKind::kUserRaw:
      // JIT code named by the process's /tmp/perf-PID.map (raw frames carry their pid).
      if (const JitSymbol* jit = LookupJitSymbol(rec, frame.binary, frame.value)) {
        d.name = jit->name;
        d.category = FrameCategory::kUser;
      }
      out->push_back(std::move(d));
      return;
    case FrameKind::kOffCpu:
      d.name = OffCpuFrameName(frame.value);
      d.category = FrameCategory::kOffCpu;
      out->push_back(std::move(d));
      return;
    case FrameKind::kUserFile:
      break;
  }
  if (frame.kind != FrameKind::kUserFile || frame.binary >= rec.binaries.size()) {
    out->push_back(std::move(d));  // a kind this reader does not know, or a binary outside
    return;
  }
  const RecordedBinary& binary = rec.binaries[frame.binary];
  d.module = std::string(Basename(binary.path));
  const SymbolizedAddress& s = sym.SymbolizeFile(binary.build_id, binary.path, frame.value);
  if (!s.known()) {
    d.name = UnsymbolizedName(binary.path, frame.value, s);
    out->push_back(std::move(d));
    return;
  }
  d.name = s.function;
  d.category = FrameCategory::kUser;
  // The symbol's function sits where the outermost inlined call is or, without inlining, at
  // the address itself (the symbolizer computes both).
  d.file = s.file;
  d.line = s.line;
  if (!s.aliases.empty()) d.aliases = &s.aliases;
  const std::string module = d.module;
  out->push_back(std::move(d));
  if (!inlined) return;
  // s.inlined is innermost first; display frames go outer to inner.
  for (auto it = s.inlined.rbegin(); it != s.inlined.rend(); ++it) {
    DisplayFrame in;
    in.name = it->function.empty() ? std::string(kUnknownName) : it->function;
    in.category = FrameCategory::kInlined;
    in.module = module;
    in.file = it->file;
    in.line = it->line;
    out->push_back(std::move(in));
  }
}

std::vector<std::string> ProfileEvents(const Recording& rec) {
  if (Legacy(rec)) return {rec.meta.event};
  std::vector<std::string> names;
  for (const RecordedEventType& t : rec.event_types) names.push_back(t.name);
  if (HasOffCpu(rec)) names.emplace_back(kWallEventName);
  return names;
}

std::string DefaultProfileEvent(const Recording& rec) {
  if (Legacy(rec)) return rec.meta.event;
  if (HasOffCpu(rec)) return std::string(kWallEventName);
  return rec.event_types.front().name;
}

std::vector<std::string> OtherProfileEvents(const Recording& rec, std::string_view event) {
  std::vector<std::string> others;
  if (Legacy(rec)) return others;
  std::vector<bool> sampled(rec.event_types.size());
  for (const RecordedStack& stack : rec.stacks) {
    if (stack.count != 0 && stack.event < sampled.size()) sampled[stack.event] = true;
  }
  const bool wall = event == kWallEventName;
  for (size_t i = 0; i < rec.event_types.size(); ++i) {
    const std::string& name = rec.event_types[i].name;
    if (!sampled[i] || name == event) continue;
    if (wall && (IsClockEvent(name) || name == kOffCpuEventName)) continue;  // in the wall
    others.push_back(name);
  }
  return others;
}

std::string FoldedUnit(const Profile& p) {
  const ValueType& t = p.shown_type();
  if (t.nanoseconds()) return "microseconds";
  return t.type;
}

namespace {

// Builds the profile's frame tables: each distinct recorded frame resolved once, each
// distinct display frame stored once.
class FrameTable {
 public:
  FrameTable(const Recording& rec, Symbolizer& sym, bool inlined, Profile* p)
      : rec_(rec), sym_(sym), inlined_(inlined), p_(p) {}

  uint32_t Location(const Frame& frame) {
    auto [it, inserted] = locations_.try_emplace(
        std::make_tuple(static_cast<uint32_t>(frame.kind), frame.binary, frame.value),
        static_cast<uint32_t>(p_->locations.size()));
    if (!inserted) return it->second;
    ProfileLocation loc;
    loc.frame = frame;
    loc.first_frame = static_cast<uint32_t>(p_->location_frames.size());
    expanded_.clear();
    ResolveFrame(rec_, sym_, frame, inlined_, &expanded_);
    for (DisplayFrame& f : expanded_) {
      auto [fit, fnew] = frames_.try_emplace(f, static_cast<uint32_t>(p_->frames.size()));
      if (fnew) p_->frames.push_back(std::move(f));
      p_->location_frames.push_back(fit->second);
    }
    loc.frames = static_cast<uint32_t>(expanded_.size());
    p_->locations.push_back(loc);
    return it->second;
  }

 private:
  const Recording& rec_;
  Symbolizer& sym_;
  bool inlined_;
  Profile* p_;
  absl::flat_hash_map<std::tuple<uint32_t, uint32_t, uint64_t>, uint32_t> locations_;
  absl::flat_hash_map<DisplayFrame, uint32_t> frames_;
  std::vector<DisplayFrame> expanded_;
};

absl::Status NoSuchEvent(const Recording& rec, std::string_view event) {
  if (event == kWallEventName && !Legacy(rec)) {
    return absl::NotFoundError(
        absl::StrCat("event 'wall' needs a recording made with --off-cpu; this one has: ",
                     absl::StrJoin(ProfileEvents(rec), ", "), " (choose one with --event)"));
  }
  if (Legacy(rec)) {
    return absl::NotFoundError(
        absl::StrCat("no event '", Sv(event), "': this recording (format ", rec.version,
                     ") keeps all its samples as one profile, '", rec.meta.event,
                     "'; record it again with this wick to report events apart"));
  }
  return absl::NotFoundError(absl::StrCat("no event '", Sv(event), "' in this recording; it has: ",
                                          absl::StrJoin(ProfileEvents(rec), ", "),
                                          " (choose one with --event)"));
}

}  // namespace

absl::Status CheckProfileEvent(const Recording& rec, std::string_view event) {
  if (event.empty()) return absl::OkStatus();
  const std::vector<std::string> events = ProfileEvents(rec);
  if (std::find(events.begin(), events.end(), event) != events.end()) return absl::OkStatus();
  return NoSuchEvent(rec, event);
}

absl::StatusOr<Profile> BuildProfile(const Recording& rec, Symbolizer& sym,
                                     const ProfileOptions& opts) {
  Profile p;
  p.event = opts.event.empty() ? DefaultProfileEvent(rec) : opts.event;
  p.meta = rec.meta;
  p.binaries = rec.binaries;
  p.thread_ids = rec.version != 1;
  // roles[event type]: how that event's stacks count; values[role]: their values per type.
  std::vector<Role> roles;
  const bool legacy = Legacy(rec);
  uint64_t legacy_nanos = 0;
  if (legacy) {
    if (p.event != rec.meta.event) return NoSuchEvent(rec, p.event);
    legacy_nanos = LegacyNanosPerSample(rec.meta);
    p.value_types.push_back({"samples", "count"});
    if (legacy_nanos != 0) p.value_types.push_back({"cpu", "nanoseconds"});
    p.clock_period_ns = legacy_nanos;
  } else if (p.event == kWallEventName) {
    if (!HasOffCpu(rec)) return NoSuchEvent(rec, p.event);
    for (const RecordedEventType& t : rec.event_types) {
      roles.push_back(t.name == kOffCpuEventName ? Role::kOffCpu
                      : IsClockEvent(t.name)     ? Role::kClock
                                                 : Role::kNone);
    }
    p.value_types = {{"samples", "count"},
                     {"wall", "nanoseconds"},
                     {"cpu", "nanoseconds"},
                     {"off-cpu", "nanoseconds"}};
    p.default_value = 1;
    p.clock_period_ns = NanosPerSample(rec.meta);
  } else {
    const auto it = std::find_if(rec.event_types.begin(), rec.event_types.end(),
                                 [&](const RecordedEventType& t) { return t.name == p.event; });
    if (it == rec.event_types.end()) return NoSuchEvent(rec, p.event);
    const Role role = p.event == kOffCpuEventName ? Role::kOffCpu
                      : IsClockEvent(p.event)     ? Role::kClock
                                                  : Role::kCounter;
    roles.assign(rec.event_types.size(), Role::kNone);
    roles[it - rec.event_types.begin()] = role;
    switch (role) {
      case Role::kOffCpu:
        p.value_types = {{"blocks", "count"}, {"off-cpu", "nanoseconds"}};
        p.default_value = 1;
        break;
      case Role::kClock:
        p.value_types = {{"samples", "count"}, {"cpu", "nanoseconds"}};
        p.clock_period_ns = NanosPerSample(rec.meta);
        break;
      default:
        p.value_types = {{"samples", "count"}, {p.event, "count"}};
        break;
    }
  }
  const bool wall = p.event == kWallEventName && !legacy;
  const size_t n = p.value_types.size();
  p.totals.assign(n, 0);

  for (const RecordedComm& c : rec.comms) p.comms.push_back(c.name);
  uint32_t unknown_comm = UINT32_MAX;
  FrameTable table(rec, sym, opts.inlined, &p);
  for (const RecordedStack& stack : rec.stacks) {
    if (stack.count == 0) continue;
    const Role role =
        legacy ? Role::kCounter : (stack.event < roles.size() ? roles[stack.event] : Role::kNone);
    if (role == Role::kNone) continue;
    const size_t at = p.values.size();
    p.values.resize(at + n, 0);
    uint64_t* v = p.values.data() + at;
    if (legacy) {
      v[0] = stack.count;
      if (legacy_nanos != 0) v[1] = stack.count * legacy_nanos;
    } else if (wall) {
      // samples, wall, cpu, off-cpu: on-CPU samples weigh their period, blocks their length.
      if (role == Role::kClock) {
        v[0] = stack.count;
        v[2] = stack.weight;
      } else {
        v[3] = stack.weight;
      }
      v[1] = stack.weight;
    } else {
      v[0] = stack.count;
      v[1] = stack.weight;
    }
    for (size_t k = 0; k < n; ++k) p.totals[k] += v[k];

    ProfileStack s;
    s.comm = stack.comm;
    if (s.comm >= rec.comms.size()) {
      if (unknown_comm == UINT32_MAX) {
        unknown_comm = static_cast<uint32_t>(p.comms.size());
        p.comms.emplace_back(kUnknownName);
      }
      s.comm = unknown_comm;
    }
    s.pid = stack.pid;
    s.tid = stack.tid;
    s.first_location = static_cast<uint32_t>(p.stack_locations.size());
    s.locations = static_cast<uint32_t>(stack.frames.size());
    for (const Frame& frame : stack.frames) p.stack_locations.push_back(table.Location(frame));
    s.first = static_cast<uint32_t>(p.stack_frames.size());
    // Stacks are stored leaf first; display frames go root first.
    for (uint32_t k = s.first_location + s.locations; k-- > s.first_location;) {
      for (uint32_t f : p.Frames(p.locations[p.stack_locations[k]])) p.stack_frames.push_back(f);
    }
    s.size = static_cast<uint32_t>(p.stack_frames.size()) - s.first;
    p.stacks.push_back(s);
  }
  p.unsymbolized = sym.UnsymbolizedByBinary();
  return p;
}

}  // namespace wick
