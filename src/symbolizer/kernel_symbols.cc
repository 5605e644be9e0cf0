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

// Parses "ffffffff81000000 T _stext" or "ffffffffc0a01000 t foo\t[ext4]"; false for lines
// that are not text symbols. `name` and `module` are views into `line`.
bool ParseLine(std::string_view line, uint64_t* address, bool* global, std::string_view* name,
               std::string_view* module) {
  const size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 + 3 > line.size() || line[sp1 + 2] != ' ') {
    return false;
  }
  const char type = line[sp1 + 1];
  if (type != 't' && type != 'T' && type != 'w' && type != 'W') return false;
  if (!absl::SimpleHexAtoi(Sv(line.substr(0, sp1)), address)) return false;
  std::string_view rest = line.substr(sp1 + 3);
  *module = {};
  const size_t tab = rest.find('\t');
  if (tab != std::string_view::npos) {
    *module = rest.substr(tab + 1);
    rest = rest.substr(0, tab);
    if (module->size() >= 2 && module->front() == '[' && module->back() == ']') {
      *module = module->substr(1, module->size() - 2);
    }
  }
  if (rest.empty()) return false;
  *global = type == 'T' || type == 'W';
  *name = rest;
  return true;
}

}  // namespace

absl::StatusOr<KallsymsTable> KallsymsTable::Load(const std::string& kallsyms_path) {
  KallsymsTable table;
  WICK_ASSIGN_OR_RETURN(table.text_, ReadFileBytes(kallsyms_path));
  if (table.text_.size() > UINT32_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat(kallsyms_path, ": over 4 GiB, more than a symbol table holds"));
  }
  // Straight into the entries (offsets into text_), room made once: a line is ~44 bytes.
  const char* base = table.text_.data();
  const auto offset = [base](std::string_view v) {
    return v.empty() ? uint32_t{0} : static_cast<uint32_t>(v.data() - base);
  };
  std::vector<Entry>& entries = table.entries_;
  entries.reserve(table.text_.size() / 32);
  bool any_nonzero = false;
  std::string_view rest = table.text_.view();
  while (!rest.empty()) {
    const size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    uint64_t address = 0;
    bool global = false;
    std::string_view name, module;
    if (!ParseLine(line, &address, &global, &name, &module)) continue;
    any_nonzero |= address != 0;
    entries.push_back(Entry{address, offset(name), static_cast<uint32_t>(name.size()),
                            offset(module), static_cast<uint32_t>(module.size()), global});
  }
  if (entries.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(kallsyms_path, ": no text symbols found"));
  }
  if (!any_nonzero) {
    return absl::FailedPreconditionError(
        absl::StrCat(kallsyms_path,
                     ": all addresses are zero (hidden by kptr_restrict); run as root or "
                     "set /proc/sys/kernel/kptr_restrict to 0 or 1"));
  }
  // By address (the kernel lists its text in address order, so the sort is mostly
  // skipped), then one symbol per address: a global over a local alias, then the first name
  // in byte order, for a deterministic pick.
  const auto by_address = [](const Entry& a, const Entry& b) { return a.address < b.address; };
  if (!std::is_sorted(entries.begin(), entries.end(), by_address)) {
    std::sort(entries.begin(), entries.end(), by_address);
  }
  const auto name_of = [base](const Entry& e) {
    return std::string_view(base + e.name_offset, e.name_size);
  };
  size_t kept = 0;
  for (size_t i = 0; i < entries.size();) {
    size_t best = i, j = i + 1;
    for (; j < entries.size() && entries[j].address == entries[i].address; ++j) {
      const Entry& e = entries[j];
      const Entry& b = entries[best];
      if (e.global != b.global ? e.global : name_of(e) < name_of(b)) best = j;
    }
    entries[kept++] = entries[best];
    i = j;
  }
  entries.resize(kept);
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
    k.name = text_.view().substr(sym.name_offset, sym.name_size);
    k.module = text_.view().substr(sym.module_offset, sym.module_size);
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
