#include "wick/folded.h"

#include <algorithm>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "frame_expand.h"
#include "wick/jit_map.h"
#include "wick/kernel_symbols.h"
#include "wick/status.h"

namespace wick {
namespace {

constexpr std::string_view kUnknown = "[unknown]";

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

}  // namespace

std::string FrameName(const Recording& rec, Symbolizer& sym, const Frame& frame) {
  switch (frame.kind) {
    case FrameKind::kUserFile: {
      if (frame.binary >= rec.binaries.size()) return std::string(kUnknown);
      const RecordedBinary& binary = rec.binaries[frame.binary];
      const SymbolizedAddress& s = sym.SymbolizeFile(binary.build_id, binary.path, frame.value);
      if (s.known()) return s.function;
      return output_internal::UnsymbolizedName(binary.path, frame.value, s);
    }
    case FrameKind::kKernel: {
      const KernelSymbol* k = LookupKernelSymbol(rec.kernel_symbols, frame.value);
      return k != nullptr ? k->name : std::string(kUnknown);
    }
    case FrameKind::kOffCpu:
      return absl::StrCat("[off-cpu: ", Sv(OffCpuReasonName(frame.value)), "]");
    case FrameKind::kUserRaw:
      // JIT code named by the process's /tmp/perf-PID.map (raw frames carry their pid).
      if (const JitSymbol* jit = LookupJitSymbol(rec, frame.binary, frame.value)) {
        return jit->name;
      }
      break;
  }
  return std::string(kUnknown);
}

namespace {

// Folded line (without count) -> samples, identical lines merged.
absl::flat_hash_map<std::string, uint64_t> FoldedLines(const Recording& rec, Symbolizer& sym,
                                                       const FoldedOptions& opts) {
  absl::flat_hash_map<std::string, uint64_t> lines;
  std::string line;
  std::vector<output_internal::DisplayFrame> frames;
  for (const RecordedStack& stack : rec.stacks) {
    if (stack.count == 0) continue;
    line.clear();
    auto add = [&](std::string_view name) {
      if (!line.empty()) line.push_back(';');
      AppendSanitized(name.empty() ? kUnknown : name, &line);
    };
    if (opts.include_comm) {
      add(output_internal::CommName(rec, stack.comm));
    }
    // Stacks are stored leaf first; folded lines go root first.
    for (auto it = stack.frames.rbegin(); it != stack.frames.rend(); ++it) {
      frames.clear();
      output_internal::ExpandFrame(rec, sym, *it, opts.expand_inlined, &frames);
      for (const output_internal::DisplayFrame& f : frames) {
        std::string name = opts.lines ? output_internal::NameWithLine(f) : f.name;
        if (f.kernel && opts.kernel_suffix) name += "_[k]";
        if (f.kind == FlameKind::kInlined && opts.inline_suffix) name += "_[i]";
        add(name);
      }
    }
    if (line.empty()) continue;
    lines[line] += stack.count;
  }
  return lines;
}

}  // namespace

absl::Status WriteFolded(const Recording& rec, Symbolizer& sym, std::ostream& out,
                         const FoldedOptions& opts) {
  const absl::flat_hash_map<std::string, uint64_t> lines = FoldedLines(rec, sym, opts);
  std::vector<std::pair<std::string_view, uint64_t>> sorted;
  sorted.reserve(lines.size());
  for (const auto& [text, count] : lines) sorted.emplace_back(text, count);
  std::sort(sorted.begin(), sorted.end());
  for (const auto& [text, count] : sorted) out << text << ' ' << count << '\n';
  out.flush();
  if (!out) return absl::DataLossError("writing folded stacks failed (stream error)");
  return absl::OkStatus();
}

absl::Status WriteDiffFolded(const Recording& base, const Recording& now, Symbolizer& sym,
                             std::ostream& out, const FoldedOptions& opts) {
  const absl::flat_hash_map<std::string, uint64_t> old_lines = FoldedLines(base, sym, opts);
  const absl::flat_hash_map<std::string, uint64_t> new_lines = FoldedLines(now, sym, opts);
  std::vector<std::pair<std::string_view, std::pair<uint64_t, uint64_t>>> sorted;
  sorted.reserve(old_lines.size() + new_lines.size());
  for (const auto& [text, count] : old_lines) {
    auto it = new_lines.find(text);
    sorted.push_back({text, {count, it == new_lines.end() ? 0 : it->second}});
  }
  for (const auto& [text, count] : new_lines) {
    if (!old_lines.contains(text)) sorted.push_back({text, {0, count}});
  }
  std::sort(sorted.begin(), sorted.end());
  for (const auto& [text, counts] : sorted) {
    out << text << ' ' << counts.first << ' ' << counts.second << '\n';
  }
  out.flush();
  if (!out) return absl::DataLossError("writing folded stacks failed (stream error)");
  return absl::OkStatus();
}

}  // namespace wick
