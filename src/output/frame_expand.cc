#include "frame_expand.h"

#include "absl/strings/str_cat.h"
#include "wick/folded.h"
#include "wick/kernel_symbols.h"
#include "wick/status.h"

namespace wick::output_internal {

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

std::string UnsymbolizedName(std::string_view binary_path, uint64_t offset,
                             const SymbolizedAddress& s) {
  const std::string_view base = Basename(binary_path);
  if (base.empty()) return std::string(kUnknownName);
  if (s.unnamed_function)
    return absl::StrCat("fun_", absl::Hex(s.function_file_offset), "@", Sv(base));
  return absl::StrCat(Sv(base), "+0x", absl::Hex(offset));
}

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
  if (f.kind != FlameKind::kUser) return false;  // only symbols have aliases and versions
  if (named(f.name)) return true;
  if (f.aliases == nullptr) return false;
  for (const std::string& alias : *f.aliases) {
    if (named(alias)) return true;
  }
  return false;
}

void ExpandFrame(const Recording& rec, Symbolizer& sym, const Frame& frame, bool inlined,
                 std::vector<DisplayFrame>* out) {
  DisplayFrame d;
  switch (frame.kind) {
    case FrameKind::kKernel: {
      d.kernel = true;
      const KernelSymbol* k = LookupKernelSymbol(rec.kernel_symbols, frame.value);
      d.name = k != nullptr ? k->name : std::string(kUnknownName);
      d.kind = k != nullptr ? FlameKind::kKernel : FlameKind::kUnknown;
      d.module = k == nullptr || k->module.empty() ? "[kernel]" : k->module;
      out->push_back(std::move(d));
      return;
    }
    case FrameKind::kOffCpu:
      d.name = FrameName(rec, sym, frame);
      d.kind = FlameKind::kUnknown;
      out->push_back(std::move(d));
      return;
    case FrameKind::kUserRaw:
      // FrameName may name it (JIT maps); unnamed raw frames are "[unknown]".
      d.name = FrameName(rec, sym, frame);
      d.kind = d.name == kUnknownName ? FlameKind::kUnknown : FlameKind::kUser;
      out->push_back(std::move(d));
      return;
    case FrameKind::kUserFile:
      break;
  }
  if (frame.binary >= rec.binaries.size()) {
    d.name = std::string(kUnknownName);
    d.kind = FlameKind::kUnknown;
    out->push_back(std::move(d));
    return;
  }
  const RecordedBinary& binary = rec.binaries[frame.binary];
  d.module = std::string(Basename(binary.path));
  const SymbolizedAddress& s = sym.SymbolizeFile(binary.build_id, binary.path, frame.value);
  if (!s.known()) {
    d.name = UnsymbolizedName(binary.path, frame.value, s);
    d.kind = FlameKind::kUnknown;
    out->push_back(std::move(d));
    return;
  }
  d.name = s.function;
  d.kind = FlameKind::kUser;
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
    in.name = it->function.empty() ? "[unknown]" : it->function;
    in.kind = FlameKind::kInlined;
    in.module = module;
    in.file = it->file;
    in.line = it->line;
    out->push_back(std::move(in));
  }
}

}  // namespace wick::output_internal
