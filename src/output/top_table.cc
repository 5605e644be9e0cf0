#include "wick/top_table.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <span>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "wick/status.h"

namespace wick {
namespace {

// Whether `function` (as a user typed it for --callers/--callees) names the frame: its display
// name (with " (file:line)" when `lines`), one of its aliases, or either without a symbol
// version ("clock_gettime" for clock_gettime@@GLIBC_2.17).
bool FrameNamed(const DisplayFrame& f, std::string_view function, bool lines) {
  // With lines, every name of the frame carries the same " (file:line)".
  const std::string shown = lines ? NameWithLine(f) : f.name;
  if (shown == function) return true;
  const std::string_view suffix = std::string_view(shown).substr(f.name.size());
  if (!function.ends_with(suffix)) return false;
  const std::string_view bare = function.substr(0, function.size() - suffix.size());
  auto named = [&](std::string_view name) {
    if (name == bare) return true;
    // "name@VERSION" / "name@@VERSION" of a .symtab: the name alone, as a user types it.
    const size_t at = name.find('@');
    return at != std::string_view::npos && at > 0 && name.substr(0, at) == bare;
  };
  if (f.category != FrameCategory::kUser) return false;  // only symbols have aliases, versions
  if (named(f.name)) return true;
  if (f.aliases == nullptr) return false;
  for (const std::string& alias : *f.aliases) {
    if (named(alias)) return true;
  }
  return false;
}

// The rows of a table: one per (display name, module), each profile frame mapped to its row
// once.
class Rows {
 public:
  Rows(const Profile& p, bool lines, std::vector<TopEntry>* entries) : entries_(entries) {
    row_of_.reserve(p.frames.size());
    for (const DisplayFrame& f : p.frames) {
      row_of_.push_back(Row(lines ? NameWithLine(f) : f.name, f.module, f.kernel));
    }
  }
  uint32_t Row(const std::string& name, const std::string& module, bool kernel) {
    auto [it, inserted] =
        index_.try_emplace(std::make_pair(name, module), static_cast<uint32_t>(entries_->size()));
    if (inserted) {
      TopEntry e;
      e.function = name;
      e.module = module;
      e.kernel = kernel;
      entries_->push_back(std::move(e));
    }
    return it->second;
  }
  uint32_t of(uint32_t frame) const { return row_of_[frame]; }

 private:
  std::vector<TopEntry>* entries_;
  absl::flat_hash_map<std::pair<std::string, std::string>, uint32_t> index_;
  std::vector<uint32_t> row_of_;
};

// Marks rows once per stack: each row's value counts once per stack, even under recursion.
class Once {
 public:
  void NextStack() { ++stack_; }
  bool First(uint32_t row) {
    if (row >= mark_.size()) mark_.resize(row + 1, 0);
    if (mark_[row] == stack_) return false;
    mark_[row] = stack_;
    return true;
  }

 private:
  std::vector<uint64_t> mark_;
  uint64_t stack_ = 1;
};

bool Nanoseconds(const ValueType& t) { return t.nanoseconds(); }

// The number alone, for columns: counts as they are, nanoseconds as milliseconds.
std::string Amount(uint64_t value, const ValueType& type) {
  if (Nanoseconds(type)) return absl::StrFormat("%.2f", static_cast<double>(value) / 1e6);
  return absl::StrCat(value);
}

// The unit word of a column header or a total: "samples", "ms", "page-faults".
std::string UnitWord(const ValueType& type) { return Nanoseconds(type) ? "ms" : type.type; }

// "cpu-clock: " or "" (old recordings may not name their event).
std::string EventPrefix(const std::string& event) {
  return event.empty() ? std::string() : event + ": ";
}

}  // namespace

std::string FormatValue(uint64_t value, const ValueType& type) {
  return absl::StrCat(Amount(value, type), " ", UnitWord(type));
}

TopTable ComputeTopTable(const Profile& p, const TopOptions& opts) {
  TopTable table;
  table.event = p.event;
  table.value_type = p.shown_type();
  Rows rows(p, opts.lines, &table.entries);
  Once once;
  for (size_t i = 0; i < p.stacks.size(); ++i) {
    const std::span<const uint32_t> frames = p.Frames(p.stacks[i]);
    const uint64_t value = p.Shown(i);
    table.all += value;
    once.NextStack();
    // The leaf frame's innermost function is where the sample landed.
    if (!frames.empty()) table.entries[rows.of(frames.back())].self += value;
    for (uint32_t f : frames) {
      const uint32_t e = rows.of(f);
      if (once.First(e)) table.entries[e].total += value;
    }
  }
  // Rows of frames no stack of the profile has (none today) would be all zero: keep them out.
  std::erase_if(table.entries, [](const TopEntry& e) { return e.total == 0 && e.self == 0; });
  auto key = [&](const TopEntry& e) {
    return opts.sort == TopSort::kSelf ? std::make_pair(e.self, e.total)
                                       : std::make_pair(e.total, e.self);
  };
  std::sort(table.entries.begin(), table.entries.end(), [&](const TopEntry& a, const TopEntry& b) {
    const auto ka = key(a), kb = key(b);
    if (ka != kb) return ka > kb;
    return std::tie(a.function, a.module) < std::tie(b.function, b.module);
  });
  table.unsymbolized = p.unsymbolized;
  for (const ProfileLocation& loc : p.locations) {
    if (loc.frame.kind == FrameKind::kUserRaw) ++table.raw_frames;
  }
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
  const double all = table.all == 0 ? 1.0 : static_cast<double>(table.all);
  const ValueType& t = table.value_type;
  const bool ms = Nanoseconds(t);
  out << EventPrefix(table.event) << FormatValue(table.all, t) << '\n';
  out << absl::StrFormat("%7s %9s %7s %9s  %s\n", "Self%", ms ? "Self ms" : "Self", "Total%",
                         ms ? "Total ms" : "Total", "Function [Module]");
  size_t rows = 0;
  for (const TopEntry& e : table.entries) {
    if (opts.top != 0 && rows == opts.top) break;
    ++rows;
    out << absl::StrFormat("%6.2f%% %9s %6.2f%% %9s  %s\n", 100.0 * e.self / all, Amount(e.self, t),
                           100.0 * e.total / all, Amount(e.total, t),
                           RowName(e.function, e.module, e.kernel));
  }
  if (!table.unsymbolized.empty() || table.raw_frames != 0) {
    out << "unsymbolized:";
    const char* sep = " ";
    for (const UnsymbolizedBinary& u : table.unsymbolized) {
      out << sep << Basename(u.path) << ' ' << u.addresses
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

CallTable ComputeCallTable(const Profile& p, std::string_view function, CallDirection direction,
                           const TopOptions& opts) {
  CallTable table;
  table.function = std::string(function);
  table.event = p.event;
  table.value_type = p.shown_type();
  // Which display frames the asked name matches, decided once per frame.
  std::vector<bool> named(p.frames.size());
  for (size_t f = 0; f < p.frames.size(); ++f) {
    named[f] = FrameNamed(p.frames[f], function, opts.lines);
  }
  bool found = false;  // table.function is the name of a matched frame
  Rows rows(p, opts.lines, &table.entries);
  const uint32_t root = rows.Row("[root]", "", false);
  Once once;
  for (size_t i = 0; i < p.stacks.size(); ++i) {
    const std::span<const uint32_t> frames = p.Frames(p.stacks[i]);  // root first
    const uint64_t value = p.Shown(i);
    table.all += value;
    once.NextStack();
    bool on_stack = false;
    for (size_t k = 0; k < frames.size(); ++k) {
      if (!named[frames[k]]) continue;
      // Shown by the name the table gives it, whichever alias was asked for.
      if (!found) table.function = table.entries[rows.of(frames[k])].function;
      found = true;
      on_stack = true;
      if (direction == CallDirection::kCallers) {
        const uint32_t e = k == 0 ? root : rows.of(frames[k - 1]);
        if (once.First(e)) table.entries[e].total += value;
      } else if (k + 1 < frames.size()) {
        const uint32_t e = rows.of(frames[k + 1]);
        if (once.First(e)) table.entries[e].total += value;
      }
    }
    if (on_stack) table.function_total += value;
    if (!frames.empty() && named[frames.back()]) table.function_self += value;
  }
  // Only the neighbours: rows of frames that never call or are called by the function go.
  std::erase_if(table.entries, [](const TopEntry& e) { return e.total == 0; });
  std::sort(table.entries.begin(), table.entries.end(), [](const TopEntry& a, const TopEntry& b) {
    if (a.total != b.total) return a.total > b.total;
    return std::tie(a.function, a.module) < std::tie(b.function, b.module);
  });
  return table;
}

absl::Status WriteCallTable(const CallTable& table, CallDirection direction, std::ostream& out,
                            const TopOptions& opts) {
  const double all = table.all == 0 ? 1.0 : static_cast<double>(table.all);
  const double func = table.function_total == 0 ? 1.0 : static_cast<double>(table.function_total);
  const ValueType& t = table.value_type;
  out << absl::StrFormat("%s: %s total (%.2f%%), %s self (%.2f%%)%s; %s:\n", table.function,
                         FormatValue(table.function_total, t), 100.0 * table.function_total / all,
                         Amount(table.function_self, t), 100.0 * table.function_self / all,
                         table.event.empty() ? "" : " of " + table.event,
                         direction == CallDirection::kCallers ? "called by" : "calls");
  std::string column = Nanoseconds(t) ? "Total ms" : t.type;
  if (!column.empty()) column[0] = static_cast<char>(std::toupper(column[0]));
  out << absl::StrFormat("%9s %7s %7s  %s\n", column, "All%", "Func%", "Function [Module]");
  size_t rows = 0;
  for (const TopEntry& e : table.entries) {
    if (opts.top != 0 && rows == opts.top) break;
    ++rows;
    out << absl::StrFormat("%9s %6.2f%% %6.2f%%  %s\n", Amount(e.total, t), 100.0 * e.total / all,
                           100.0 * e.total / func, RowName(e.function, e.module, e.kernel));
  }
  out.flush();
  if (!out) return absl::DataLossError("writing the call table failed (stream error)");
  return absl::OkStatus();
}

DiffTable ComputeDiffTable(const TopTable& base, const TopTable& now) {
  DiffTable table;
  table.event = now.event;
  table.value_type = now.value_type;
  table.base_all = base.all;
  table.new_all = now.all;
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
    d.base_self_share = share(d.base_self, base.all);
    d.base_total_share = share(d.base_total, base.all);
    d.new_self_share = share(d.new_self, now.all);
    d.new_total_share = share(d.new_total, now.all);
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
      "%sbase: %s, new: %s; shares of each profile's %s, deltas in percentage points\n",
      EventPrefix(table.event), FormatValue(table.base_all, table.value_type),
      FormatValue(table.new_all, table.value_type),
      Nanoseconds(table.value_type) ? "time" : table.value_type.type);
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
