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

absl::StatusOr<std::vector<KernelSymbol>> CaptureKernelSymbols(std::span<const uint64_t> addresses,
                                                               const std::string& kallsyms_path) {
  // /proc/kallsyms reports size 0: read until the end.
  WICK_ASSIGN_OR_RETURN(const std::string text, ReadFile(kallsyms_path));

  std::vector<RawSymbol> symbols;
  bool any_nonzero = false;
  std::string_view rest(text);
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

  std::vector<uint64_t> wanted(addresses.begin(), addresses.end());
  std::sort(wanted.begin(), wanted.end());
  std::vector<KernelSymbol> out;
  size_t next = 0;  // symbols before `next` are behind the current address
  for (uint64_t addr : wanted) {
    while (next < symbols.size() && symbols[next].address <= addr) ++next;
    // symbols[next - 1] starts at or before addr; symbols[next] (if any) starts after it.
    if (next == 0 || next == symbols.size()) continue;
    const RawSymbol& sym = symbols[next - 1];
    if (!out.empty() && out.back().address == sym.address) continue;
    KernelSymbol k;
    k.address = sym.address;
    k.size = symbols[next].address - sym.address;
    k.name = std::string(sym.name);
    k.module = std::string(sym.module);
    out.push_back(std::move(k));
  }
  return out;
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
