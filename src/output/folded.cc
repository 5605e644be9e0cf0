#include "wick/folded.h"

#include <algorithm>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
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

std::string_view Basename(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

}  // namespace

std::string FrameName(const Recording& rec, Symbolizer& sym, const Frame& frame) {
  switch (frame.kind) {
    case FrameKind::kUserFile: {
      if (frame.binary >= rec.binaries.size()) return std::string(kUnknown);
      const RecordedBinary& binary = rec.binaries[frame.binary];
      const SymbolizedAddress& s = sym.SymbolizeFile(binary.build_id, binary.path, frame.value);
      if (s.known()) return s.function;
      const std::string_view base = Basename(binary.path);
      if (base.empty()) return std::string(kUnknown);
      return absl::StrCat(Sv(base), "+0x", absl::Hex(frame.value));
    }
    case FrameKind::kKernel: {
      const KernelSymbol* k = LookupKernelSymbol(rec.kernel_symbols, frame.value);
      return k != nullptr ? k->name : std::string(kUnknown);
    }
    case FrameKind::kUserRaw:
      break;
  }
  return std::string(kUnknown);
}

absl::Status WriteFolded(const Recording& rec, Symbolizer& sym, std::ostream& out,
                         const FoldedOptions& opts) {
  absl::flat_hash_map<std::string, uint64_t> lines;
  std::string line;
  for (const RecordedStack& stack : rec.stacks) {
    if (stack.count == 0) continue;
    line.clear();
    auto add = [&](std::string_view name) {
      if (!line.empty()) line.push_back(';');
      AppendSanitized(name.empty() ? kUnknown : name, &line);
    };
    if (opts.include_comm) {
      add(stack.comm < rec.comms.size() ? std::string_view(rec.comms[stack.comm].name) : kUnknown);
    }
    // Stacks are stored leaf first; folded lines go root first.
    for (auto it = stack.frames.rbegin(); it != stack.frames.rend(); ++it) {
      const Frame& frame = *it;
      std::string name = FrameName(rec, sym, frame);
      if (frame.kind == FrameKind::kKernel && opts.kernel_suffix) name += "_[k]";
      add(name);
      if (opts.expand_inlined && frame.kind == FrameKind::kUserFile &&
          frame.binary < rec.binaries.size()) {
        const RecordedBinary& binary = rec.binaries[frame.binary];
        const SymbolizedAddress& s = sym.SymbolizeFile(binary.build_id, binary.path, frame.value);
        // inlined is leaf first: outer inlined callees come right after the function.
        for (auto in = s.inlined.rbegin(); in != s.inlined.rend(); ++in) add(in->function);
      }
    }
    if (line.empty()) continue;
    lines[line] += stack.count;
  }

  std::vector<std::pair<std::string_view, uint64_t>> sorted;
  sorted.reserve(lines.size());
  for (const auto& [text, count] : lines) sorted.emplace_back(text, count);
  std::sort(sorted.begin(), sorted.end());
  for (const auto& [text, count] : sorted) out << text << ' ' << count << '\n';
  out.flush();
  if (!out) return absl::DataLossError("writing folded stacks failed (stream error)");
  return absl::OkStatus();
}

}  // namespace wick
