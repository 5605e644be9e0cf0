#include "wick/folded.h"

#include <algorithm>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"

namespace wick {
namespace {

// ';' separates frames and '\n' lines: neither may appear inside a name.
void AppendSanitized(std::string_view name, std::string* out) {
  for (char ch : name) {
    if (ch == ';') {
      ch = ':';
    } else if (ch == '\n' || ch == '\r') {
      ch = ' ';
    }
    out->push_back(ch);
  }
}

// Folded line (without value) -> the shown value, identical lines merged. Nanoseconds stay
// nanoseconds here: a line's value is rounded once, after its stacks are summed.
absl::flat_hash_map<std::string, uint64_t> FoldedLines(const Profile& p,
                                                       const FoldedOptions& opts) {
  // Each display frame's folded name, made once.
  std::vector<std::string> names(p.frames.size());
  for (size_t i = 0; i < p.frames.size(); ++i) {
    const DisplayFrame& f = p.frames[i];
    std::string name = opts.lines ? NameWithLine(f) : f.name;
    if (f.kernel && opts.kernel_suffix) name += "_[k]";
    if (f.category == FrameCategory::kInlined && opts.inline_suffix) name += "_[i]";
    AppendSanitized(name.empty() ? kUnknownName : name, &names[i]);
  }
  std::vector<std::string> comms(p.comms.size());
  for (size_t i = 0; i < p.comms.size(); ++i) {
    AppendSanitized(p.comms[i].empty() ? kUnknownName : p.comms[i], &comms[i]);
  }

  absl::flat_hash_map<std::string, uint64_t> lines;
  std::string line;
  for (size_t i = 0; i < p.stacks.size(); ++i) {
    const ProfileStack& stack = p.stacks[i];
    line.clear();
    if (opts.include_comm) line = comms[stack.comm];
    for (uint32_t f : p.Frames(stack)) {
      if (!line.empty()) line.push_back(';');
      line += names[f];
    }
    if (line.empty()) continue;
    lines[line] += p.Shown(i);
  }
  return lines;
}

// What a folded line says for `value` of the shown type: microseconds for nanoseconds.
uint64_t FoldedValue(const Profile& p, uint64_t value) {
  return p.shown_type().nanoseconds() ? (value + 500) / 1000 : value;
}

}  // namespace

absl::Status WriteFolded(const Profile& profile, std::ostream& out, const FoldedOptions& opts) {
  const absl::flat_hash_map<std::string, uint64_t> lines = FoldedLines(profile, opts);
  std::vector<std::pair<std::string_view, uint64_t>> sorted;
  sorted.reserve(lines.size());
  for (const auto& [text, value] : lines) sorted.emplace_back(text, value);
  std::sort(sorted.begin(), sorted.end());
  for (const auto& [text, value] : sorted) {
    out << text << ' ' << FoldedValue(profile, value) << '\n';
  }
  out.flush();
  if (!out) return absl::DataLossError("writing folded stacks failed (stream error)");
  return absl::OkStatus();
}

absl::Status WriteDiffFolded(const Profile& base, const Profile& now, std::ostream& out,
                             const FoldedOptions& opts) {
  const absl::flat_hash_map<std::string, uint64_t> old_lines = FoldedLines(base, opts);
  const absl::flat_hash_map<std::string, uint64_t> new_lines = FoldedLines(now, opts);
  std::vector<std::pair<std::string_view, std::pair<uint64_t, uint64_t>>> sorted;
  sorted.reserve(old_lines.size() + new_lines.size());
  for (const auto& [text, value] : old_lines) {
    auto it = new_lines.find(text);
    sorted.push_back({text, {value, it == new_lines.end() ? 0 : it->second}});
  }
  for (const auto& [text, value] : new_lines) {
    if (!old_lines.contains(text)) sorted.push_back({text, {0, value}});
  }
  std::sort(sorted.begin(), sorted.end());
  for (const auto& [text, values] : sorted) {
    out << text << ' ' << FoldedValue(base, values.first) << ' ' << FoldedValue(now, values.second)
        << '\n';
  }
  out.flush();
  if (!out) return absl::DataLossError("writing folded stacks failed (stream error)");
  return absl::OkStatus();
}

}  // namespace wick
