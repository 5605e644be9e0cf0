#include "wick/kernel_symbols.h"

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <sstream>
#include <string_view>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "wick/read_file.h"
#include "wick/status.h"

namespace wick {
namespace {

struct RawSymbol {
  uint64_t address;
  bool global;  // T/W: preferred over a local alias at the same address
  std::string_view name;
  std::string_view module;
};

// Parses "ffffffff81000000 T _stext" or "ffffffffc0a01000 t foo\t[ext4]"; false for lines
// that are not text symbols.
bool ParseLine(std::string_view line, RawSymbol* out) {
  const size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 + 3 > line.size() || line[sp1 + 2] != ' ') {
    return false;
  }
  const char type = line[sp1 + 1];
  if (type != 't' && type != 'T' && type != 'w' && type != 'W') return false;
  uint64_t address = 0;
  if (!absl::SimpleHexAtoi(Sv(line.substr(0, sp1)), &address)) return false;
  std::string_view rest = line.substr(sp1 + 3);
  std::string_view module;
  const size_t tab = rest.find('\t');
  if (tab != std::string_view::npos) {
    module = rest.substr(tab + 1);
    rest = rest.substr(0, tab);
    if (module.size() >= 2 && module.front() == '[' && module.back() == ']') {
      module = module.substr(1, module.size() - 2);
    }
  }
  if (rest.empty()) return false;
  *out = RawSymbol{address, type == 'T' || type == 'W', rest, module};
  return true;
}

}  // namespace

absl::StatusOr<KallsymsTable> KallsymsTable::Load(const std::string& kallsyms_path) {
  KallsymsTable table;
  // /proc/kallsyms reports size 0: read until the end.
  WICK_ASSIGN_OR_RETURN(table.text_, ReadFile(kallsyms_path));

  std::vector<RawSymbol> symbols;
  bool any_nonzero = false;
  std::string_view rest(table.text_);
  while (!rest.empty()) {
    const size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    RawSymbol sym;
    if (!ParseLine(line, &sym)) continue;
    any_nonzero |= sym.address != 0;
    symbols.push_back(sym);
  }
  if (symbols.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(kallsyms_path, ": no text symbols found"));
  }
  if (!any_nonzero) {
    return absl::FailedPreconditionError(
        absl::StrCat(kallsyms_path,
                     ": all addresses are zero (hidden by kptr_restrict); run as root or "
                     "set /proc/sys/kernel/kptr_restrict to 0 or 1"));
  }
  // Sort by address, globals first among aliases (then by name, for a deterministic pick),
  // then keep one symbol per address.
  std::sort(symbols.begin(), symbols.end(), [](const RawSymbol& a, const RawSymbol& b) {
    if (a.address != b.address) return a.address < b.address;
    if (a.global != b.global) return a.global;
    return a.name < b.name;
  });
  symbols.erase(
      std::unique(symbols.begin(), symbols.end(),
                  [](const RawSymbol& a, const RawSymbol& b) { return a.address == b.address; }),
      symbols.end());
  const char* base = table.text_.data();
  table.entries_.reserve(symbols.size());
  // Offsets into text_ (a symbol without a module has an empty view, pointing nowhere).
  const auto offset = [base](std::string_view v) {
    return v.empty() ? uint32_t{0} : static_cast<uint32_t>(v.data() - base);
  };
  for (const RawSymbol& sym : symbols) {
    table.entries_.push_back(Entry{sym.address, offset(sym.name),
                                   static_cast<uint32_t>(sym.name.size()), offset(sym.module),
                                   static_cast<uint32_t>(sym.module.size())});
  }
  return table;
}

std::vector<KernelSymbol> KallsymsTable::Lookup(std::span<const uint64_t> addresses) const {
  std::vector<uint64_t> wanted(addresses.begin(), addresses.end());
  std::sort(wanted.begin(), wanted.end());
  std::vector<KernelSymbol> out;
  for (uint64_t addr : wanted) {
    // entries_[next - 1] starts at or before addr; entries_[next] (if any) starts after it.
    const size_t next = static_cast<size_t>(
        std::upper_bound(entries_.begin(), entries_.end(), addr,
                         [](uint64_t a, const Entry& e) { return a < e.address; }) -
        entries_.begin());
    if (next == 0 || next == entries_.size()) continue;
    const Entry& sym = entries_[next - 1];
    if (!out.empty() && out.back().address == sym.address) continue;
    KernelSymbol k;
    k.address = sym.address;
    k.size = entries_[next].address - sym.address;
    k.name = text_.substr(sym.name_offset, sym.name_size);
    k.module = text_.substr(sym.module_offset, sym.module_size);
    out.push_back(std::move(k));
  }
  return out;
}

absl::StatusOr<std::vector<KernelSymbol>> CaptureKernelSymbols(std::span<const uint64_t> addresses,
                                                               const std::string& kallsyms_path) {
  WICK_ASSIGN_OR_RETURN(const KallsymsTable table, KallsymsTable::Load(kallsyms_path));
  return table.Lookup(addresses);
}

std::string ThisBootId() {
  absl::StatusOr<std::string> id = ReadFile("/proc/sys/kernel/random/boot_id");
  if (!id.ok()) return "";
  std::string text = *std::move(id);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

absl::StatusOr<size_t> AddMissingKernelSymbolsOfThisBoot(Recording* rec,
                                                         const std::string& kallsyms_path) {
  if (rec->meta.boot_id.empty() || rec->meta.boot_id != ThisBootId()) return 0;
  std::vector<uint64_t> missing;
  for (const RecordedStack& stack : rec->stacks) {
    for (const Frame& f : stack.frames) {
      if (f.kind == FrameKind::kKernel &&
          LookupKernelSymbol(rec->kernel_symbols, f.value) == nullptr) {
        missing.push_back(f.value);
      }
    }
  }
  if (missing.empty()) return 0;
  WICK_ASSIGN_OR_RETURN(std::vector<KernelSymbol> found,
                        CaptureKernelSymbols(missing, kallsyms_path));
  const size_t added = found.size();
  for (KernelSymbol& k : found) rec->kernel_symbols.push_back(std::move(k));
  SortKernelSymbols(&rec->kernel_symbols);
  return added;
}

const KernelSymbol* LookupKernelSymbol(std::span<const KernelSymbol> sorted, uint64_t addr) {
  auto it = std::upper_bound(sorted.begin(), sorted.end(), addr,
                             [](uint64_t a, const KernelSymbol& s) { return a < s.address; });
  if (it == sorted.begin()) return nullptr;
  --it;
  if (it->size != 0 && addr - it->address >= it->size) return nullptr;
  return &*it;
}

}  // namespace wick
