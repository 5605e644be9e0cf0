#include "wick/top_table.h"

#include <algorithm>
#include <cstdio>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "frame_expand.h"
#include "wick/status.h"

namespace wick {

using output_internal::DisplayFrame;

TopTable ComputeTopTable(const Recording& rec, Symbolizer& sym, const TopOptions& opts) {
  TopTable table;
  absl::flat_hash_map<std::pair<std::string, std::string>, size_t> index;
  absl::flat_hash_set<size_t> seen;  // functions already counted in this stack's total
  absl::flat_hash_set<std::pair<uint32_t, uint64_t>> raw;
  std::vector<DisplayFrame> frames;
  auto entry = [&](const DisplayFrame& f) -> size_t {
    std::string name = opts.lines ? output_internal::NameWithLine(f) : f.name;
    auto [it, inserted] = index.try_emplace(std::make_pair(name, f.module), table.entries.size());
    if (inserted) {
      TopEntry e;
      e.function = std::move(name);
      e.module = f.module;
      e.kernel = f.kernel;
      table.entries.push_back(std::move(e));
    }
    return it->second;
  };
  for (const RecordedStack& stack : rec.stacks) {
    if (stack.count == 0) continue;
    table.total_samples += stack.count;
    seen.clear();
    for (size_t k = 0; k < stack.frames.size(); ++k) {
      const Frame& frame = stack.frames[k];
      if (frame.kind == FrameKind::kUserRaw) raw.emplace(frame.binary, frame.value);
      frames.clear();
      output_internal::ExpandFrame(rec, sym, frame, opts.expand_inlined, &frames);
      for (size_t j = 0; j < frames.size(); ++j) {
        const size_t e = entry(frames[j]);
        // The leaf frame's innermost function is where the sample landed.
        if (k == 0 && j + 1 == frames.size()) table.entries[e].self += stack.count;
        if (seen.insert(e).second) table.entries[e].total += stack.count;
      }
    }
  }
  auto key = [&](const TopEntry& e) {
    return opts.sort == TopSort::kSelf ? std::make_pair(e.self, e.total)
                                       : std::make_pair(e.total, e.self);
  };
  std::sort(table.entries.begin(), table.entries.end(), [&](const TopEntry& a, const TopEntry& b) {
    const auto ka = key(a), kb = key(b);
    if (ka != kb) return ka > kb;
    return std::tie(a.function, a.module) < std::tie(b.function, b.module);
  });
  table.unsymbolized = sym.UnsymbolizedByBinary();
  table.raw_frames = raw.size();
  return table;
}

absl::Status WriteTopTable(const TopTable& table, std::ostream& out, const TopOptions& opts) {
  const double all = table.total_samples == 0 ? 1.0 : static_cast<double>(table.total_samples);
  out << absl::StrFormat("%7s %9s %7s %9s  %s\n", "Self%", "Self", "Total%", "Total",
                         "Function [Module]");
  size_t rows = 0;
  for (const TopEntry& e : table.entries) {
    if (opts.top != 0 && rows == opts.top) break;
    ++rows;
    std::string name = e.function;
    if (e.kernel) name += " [k]";
    if (!e.module.empty() && e.module != "[kernel]") absl::StrAppend(&name, " [", e.module, "]");
    out << absl::StrFormat("%6.2f%% %9d %6.2f%% %9d  %s\n", 100.0 * e.self / all, e.self,
                           100.0 * e.total / all, e.total, name);
  }
  if (!table.unsymbolized.empty() || table.raw_frames != 0) {
    out << "unsymbolized:";
    const char* sep = " ";
    for (const UnsymbolizedBinary& u : table.unsymbolized) {
      out << sep << output_internal::Basename(u.path) << ' ' << u.addresses
          << (u.addresses == 1 ? " address" : " addresses") << " (" << SymbolizeReasonName(u.reason)
          << ')';
      sep = ", ";
    }
    if (table.raw_frames != 0) {
      out << sep << "[anonymous] " << table.raw_frames
          << (table.raw_frames == 1 ? " address" : " addresses") << " (no file)";
    }
    out << '\n';
  }
  out.flush();
  if (!out) return absl::DataLossError("writing the report table failed (stream error)");
  return absl::OkStatus();
}

}  // namespace wick
