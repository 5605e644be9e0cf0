#include "wick/top_table.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string_view>
#include <tuple>
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

namespace {

std::string RowName(const std::string& function, const std::string& module, bool kernel) {
  std::string name = function;
  if (kernel) name += " [k]";
  if (!module.empty() && module != "[kernel]") absl::StrAppend(&name, " [", module, "]");
  return name;
}

}  // namespace

absl::Status WriteTopTable(const TopTable& table, std::ostream& out, const TopOptions& opts) {
  const double all = table.total_samples == 0 ? 1.0 : static_cast<double>(table.total_samples);
  out << absl::StrFormat("%7s %9s %7s %9s  %s\n", "Self%", "Self", "Total%", "Total",
                         "Function [Module]");
  size_t rows = 0;
  for (const TopEntry& e : table.entries) {
    if (opts.top != 0 && rows == opts.top) break;
    ++rows;
    out << absl::StrFormat("%6.2f%% %9d %6.2f%% %9d  %s\n", 100.0 * e.self / all, e.self,
                           100.0 * e.total / all, e.total, RowName(e.function, e.module, e.kernel));
  }
  if (!table.unsymbolized.empty() || table.raw_frames != 0) {
    out << "unsymbolized:";
    const char* sep = " ";
    for (const UnsymbolizedBinary& u : table.unsymbolized) {
      out << sep << output_internal::Basename(u.path) << ' ' << u.addresses
          << (u.addresses == 1 ? " address" : " addresses") << " ("
          << SymbolizeReasonName(u.reason);
      if (u.unnamed_functions != 0) {
        out << "; in " << u.unnamed_functions
            << (u.unnamed_functions == 1 ? " function" : " functions") << " of .eh_frame";
      }
      out << ')';
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

CallTable ComputeCallTable(const Recording& rec, Symbolizer& sym, std::string_view function,
                           CallDirection direction, const TopOptions& opts) {
  CallTable table;
  table.function = std::string(function);
  bool found = false;  // table.function is the name of a matched frame
  absl::flat_hash_map<std::pair<std::string, std::string>, size_t> index;
  absl::flat_hash_set<size_t> seen;  // neighbours already counted in this stack
  std::vector<DisplayFrame> frames;  // the whole stack, root first
  std::vector<DisplayFrame> expanded;
  auto entry = [&](const std::string& name, const std::string& module, bool kernel) -> size_t {
    auto [it, inserted] = index.try_emplace(std::make_pair(name, module), table.entries.size());
    if (inserted) {
      TopEntry e;
      e.function = name;
      e.module = module;
      e.kernel = kernel;
      table.entries.push_back(std::move(e));
    }
    return it->second;
  };
  auto name_of = [&](const DisplayFrame& f) {
    return opts.lines ? output_internal::NameWithLine(f) : f.name;
  };
  for (const RecordedStack& stack : rec.stacks) {
    if (stack.count == 0) continue;
    table.total_samples += stack.count;
    frames.clear();
    for (auto it = stack.frames.rbegin(); it != stack.frames.rend(); ++it) {
      expanded.clear();
      output_internal::ExpandFrame(rec, sym, *it, opts.expand_inlined, &expanded);
      for (DisplayFrame& f : expanded) frames.push_back(std::move(f));
    }
    seen.clear();
    bool on_stack = false;
    for (size_t i = 0; i < frames.size(); ++i) {
      if (!output_internal::FrameNamed(frames[i], function, opts.lines)) continue;
      // Shown by the name the table gives it, whichever alias was asked for.
      if (!found) table.function = name_of(frames[i]);
      found = true;
      on_stack = true;
      if (direction == CallDirection::kCallers) {
        const size_t e =
            i == 0 ? entry("[root]", "", false)
                   : entry(name_of(frames[i - 1]), frames[i - 1].module, frames[i - 1].kernel);
        if (seen.insert(e).second) table.entries[e].total += stack.count;
      } else if (i + 1 < frames.size()) {
        const size_t e = entry(name_of(frames[i + 1]), frames[i + 1].module, frames[i + 1].kernel);
        if (seen.insert(e).second) table.entries[e].total += stack.count;
      }
    }
    if (on_stack) table.function_total += stack.count;
    if (!frames.empty() && output_internal::FrameNamed(frames.back(), function, opts.lines)) {
      table.function_self += stack.count;
    }
  }
  std::sort(table.entries.begin(), table.entries.end(), [](const TopEntry& a, const TopEntry& b) {
    if (a.total != b.total) return a.total > b.total;
    return std::tie(a.function, a.module) < std::tie(b.function, b.module);
  });
  return table;
}

absl::Status WriteCallTable(const CallTable& table, CallDirection direction, std::ostream& out,
                            const TopOptions& opts) {
  const double all = table.total_samples == 0 ? 1.0 : static_cast<double>(table.total_samples);
  const double func = table.function_total == 0 ? 1.0 : static_cast<double>(table.function_total);
  out << absl::StrFormat("%s: %d samples total (%.2f%%), %d self (%.2f%%); %s:\n", table.function,
                         table.function_total, 100.0 * table.function_total / all,
                         table.function_self, 100.0 * table.function_self / all,
                         direction == CallDirection::kCallers ? "called by" : "calls");
  out << absl::StrFormat("%9s %7s %7s  %s\n", "Samples", "All%", "Func%", "Function [Module]");
  size_t rows = 0;
  for (const TopEntry& e : table.entries) {
    if (opts.top != 0 && rows == opts.top) break;
    ++rows;
    out << absl::StrFormat("%9d %6.2f%% %6.2f%%  %s\n", e.total, 100.0 * e.total / all,
                           100.0 * e.total / func, RowName(e.function, e.module, e.kernel));
  }
  out.flush();
  if (!out) return absl::DataLossError("writing the call table failed (stream error)");
  return absl::OkStatus();
}

DiffTable ComputeDiffTable(const TopTable& base, const TopTable& now) {
  DiffTable table;
  table.base_samples = base.total_samples;
  table.new_samples = now.total_samples;
  absl::flat_hash_map<std::pair<std::string, std::string>, size_t> index;
  auto entry = [&](const TopEntry& e) -> DiffEntry& {
    auto [it, inserted] =
        index.try_emplace(std::make_pair(e.function, e.module), table.entries.size());
    if (inserted) {
      DiffEntry d;
      d.function = e.function;
      d.module = e.module;
      d.kernel = e.kernel;
      table.entries.push_back(std::move(d));
    }
    return table.entries[it->second];
  };
  for (const TopEntry& e : base.entries) {
    DiffEntry& d = entry(e);
    d.base_self += e.self;
    d.base_total += e.total;
  }
  for (const TopEntry& e : now.entries) {
    DiffEntry& d = entry(e);
    d.new_self += e.self;
    d.new_total += e.total;
  }
  auto share = [](uint64_t n, uint64_t all) {
    return all == 0 ? 0.0 : static_cast<double>(n) / static_cast<double>(all);
  };
  for (DiffEntry& d : table.entries) {
    d.base_self_share = share(d.base_self, base.total_samples);
    d.base_total_share = share(d.base_total, base.total_samples);
    d.new_self_share = share(d.new_self, now.total_samples);
    d.new_total_share = share(d.new_total, now.total_samples);
  }
  std::sort(table.entries.begin(), table.entries.end(), [](const DiffEntry& a, const DiffEntry& b) {
    const double sa = std::abs(a.self_delta()), sb = std::abs(b.self_delta());
    if (sa != sb) return sa > sb;
    const double ta = std::abs(a.total_delta()), tb = std::abs(b.total_delta());
    if (ta != tb) return ta > tb;
    return std::tie(a.function, a.module) < std::tie(b.function, b.module);
  });
  return table;
}

absl::Status WriteDiffTable(const DiffTable& table, std::ostream& out, size_t limit) {
  out << absl::StrFormat(
      "base: %d samples, new: %d samples; shares of each profile's samples, "
      "deltas in percentage points\n",
      table.base_samples, table.new_samples);
  out << absl::StrFormat("%9s %9s %9s  %10s %9s %9s  %s\n", "BaseSelf%", "NewSelf%", "Delta",
                         "BaseTotal%", "NewTotal%", "Delta", "Function [Module]");
  size_t rows = 0;
  for (const DiffEntry& e : table.entries) {
    if (limit != 0 && rows == limit) break;
    if (std::abs(e.self_delta()) < 0.00005 && std::abs(e.total_delta()) < 0.00005) continue;
    ++rows;
    out << absl::StrFormat("%8.2f%% %8.2f%% %+9.2f  %9.2f%% %8.2f%% %+9.2f  %s\n",
                           100 * e.base_self_share, 100 * e.new_self_share, 100 * e.self_delta(),
                           100 * e.base_total_share, 100 * e.new_total_share, 100 * e.total_delta(),
                           RowName(e.function, e.module, e.kernel));
  }
  if (rows == 0) out << "(no function's share changed)\n";
  out.flush();
  if (!out) return absl::DataLossError("writing the diff table failed (stream error)");
  return absl::OkStatus();
}

}  // namespace wick
