#include "wick/kernel_symbols.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "symbol_cache.h"
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

namespace {

constexpr char kCacheMagic[8] = {'W', 'I', 'C', 'K', 'K', 'A', 'L', '1'};

// The cache file's layout after its magic: u64 count, u64 end, u32 identity size, the
// identity, then `count` of these, then the names they point at (offsets from the file start).
struct CachedEntry {
  uint64_t address;
  uint32_t name_offset, name_size;
};

// Names the copy for one boot and one kallsyms file; for a regular file (tests) the identity
// inside it also pins the file's contents.
std::string CacheName(const std::string& boot_id, const std::string& kallsyms_path) {
  return absl::StrFormat("kallsyms-%s-%016x", boot_id, StableHash(kallsyms_path));
}
std::string CacheIdentity(const std::string& kallsyms_path) {
  return kallsyms_path.starts_with("/proc/") ? std::string() : FileIdentity(kallsyms_path);
}

}  // namespace

std::string KallsymsTable::CacheBytes() const {
  // The image's symbols are the entries before the first module's; the last of them ends
  // where the next symbol starts, so a table of the image alone keeps that boundary in end_.
  size_t n = 0;
  while (n < entries_.size() && entries_[n].module_size == 0) ++n;
  if (n == entries_.size()) --n;  // the last symbol's end is unknown: left to the fallback
  if (n == 0) return {};
  const uint64_t end = entries_[n].address;
  const std::string identity = CacheIdentity(fallback_path_);
  std::string out(kCacheMagic, sizeof(kCacheMagic));
  const uint64_t count = n;
  const uint32_t identity_size = static_cast<uint32_t>(identity.size());
  out.append(reinterpret_cast<const char*>(&count), 8);
  out.append(reinterpret_cast<const char*>(&end), 8);
  out.append(reinterpret_cast<const char*>(&identity_size), 4);
  out.append(identity);
  size_t name_at = out.size() + n * sizeof(CachedEntry);
  for (size_t i = 0; i < n; ++i) {
    const CachedEntry e{entries_[i].address, static_cast<uint32_t>(name_at), entries_[i].name_size};
    out.append(reinterpret_cast<const char*>(&e), sizeof(e));
    name_at += e.name_size;
  }
  for (size_t i = 0; i < n; ++i) {
    out.append(text_.view().substr(entries_[i].name_offset, entries_[i].name_size));
  }
  return out;
}

absl::StatusOr<KallsymsTable> KallsymsTable::LoadCached(const std::string& kallsyms_path,
                                                        const std::string& cache_dir) {
  const std::string boot_id = cache_dir.empty() ? std::string() : ThisBootId();
  if (boot_id.empty()) return Load(kallsyms_path);
  const std::string name = CacheName(boot_id, kallsyms_path);
  absl::StatusOr<FileBytes> bytes = ReadFileBytes(absl::StrCat(cache_dir, "/", name));
  if (bytes.ok() && bytes->size() >= sizeof(kCacheMagic) + 20 &&
      std::memcmp(bytes->data(), kCacheMagic, sizeof(kCacheMagic)) == 0) {
    KallsymsTable table;
    table.text_ = *std::move(bytes);
    const std::string_view all = table.text_.view();
    uint64_t count = 0;
    uint32_t identity_size = 0;
    std::memcpy(&count, all.data() + 8, 8);
    std::memcpy(&table.end_, all.data() + 16, 8);
    std::memcpy(&identity_size, all.data() + 24, 4);
    size_t at = 28;
    bool ok = identity_size <= all.size() - at &&
              all.substr(at, identity_size) == CacheIdentity(kallsyms_path);
    at += identity_size;
    ok = ok && count > 0 && count <= (all.size() - at) / sizeof(CachedEntry);
    if (ok) {
      table.entries_.resize(count);
      uint64_t previous = 0;
      for (uint64_t i = 0; ok && i < count; ++i, at += sizeof(CachedEntry)) {
        CachedEntry e;
        std::memcpy(&e, all.data() + at, sizeof(e));
        // A file cut short or garbled is a miss, never a name read out of bounds.
        ok = e.name_offset <= all.size() && e.name_size <= all.size() - e.name_offset &&
             (i == 0 || e.address > previous) && e.address < table.end_;
        previous = e.address;
        table.entries_[i] = Entry{e.address, e.name_offset, e.name_size, 0, 0, true};
      }
    }
    if (ok) {
      table.fallback_path_ = kallsyms_path;
      return table;
    }
  }
  WICK_ASSIGN_OR_RETURN(KallsymsTable table, Load(kallsyms_path));
  table.fallback_path_ = kallsyms_path;  // for CacheBytes' identity only
  const std::string copy = table.CacheBytes();
  table.fallback_path_.clear();
  if (!copy.empty() && WriteCacheFile(cache_dir, name, copy)) {
    // Copies of earlier boots will never be read again: a few MB each.
    const std::string this_boot = absl::StrCat("kallsyms-", boot_id, "-");
    if (DIR* dir = ::opendir(cache_dir.c_str())) {
      while (const dirent* e = ::readdir(dir)) {
        const std::string_view entry = e->d_name;
        if (entry.starts_with("kallsyms-") && !entry.starts_with(this_boot)) {
          ::unlinkat(::dirfd(dir), e->d_name, 0);
        }
      }
      ::closedir(dir);
    }
  }
  return table;
}

std::vector<KernelSymbol> KallsymsTable::Lookup(std::span<const uint64_t> addresses) const {
  if (!fallback_path_.empty()) {
    const bool outside = std::any_of(addresses.begin(), addresses.end(), [this](uint64_t a) {
      return a < entries_.front().address || a >= end_;
    });
    if (outside && full_ == nullptr) {
      absl::StatusOr<KallsymsTable> full = Load(fallback_path_);
      // Unreadable now: the image's symbols still name what they can.
      if (full.ok()) full_ = std::make_shared<const KallsymsTable>(*std::move(full));
    }
    if (full_ != nullptr) return LookupIn(*full_, addresses);
  }
  return LookupIn(*this, addresses);
}

std::vector<KernelSymbol> KallsymsTable::LookupIn(const KallsymsTable& table,
                                                  std::span<const uint64_t> addresses) {
  const std::vector<Entry>& entries = table.entries_;
  const std::string_view text = table.text_.view();
  std::vector<uint64_t> wanted(addresses.begin(), addresses.end());
  std::sort(wanted.begin(), wanted.end());
  std::vector<KernelSymbol> out;
  for (uint64_t addr : wanted) {
    // entries[next - 1] starts at or before addr; entries[next] (if any) starts after it.
    const size_t next = static_cast<size_t>(
        std::upper_bound(entries.begin(), entries.end(), addr,
                         [](uint64_t a, const Entry& e) { return a < e.address; }) -
        entries.begin());
    if (next == 0) continue;
    // Past the last entry only a copy of the image knows where the symbol ends (end_).
    const uint64_t end = next < entries.size() ? entries[next].address : table.end_;
    if (addr >= end) continue;
    const Entry& sym = entries[next - 1];
    if (!out.empty() && out.back().address == sym.address) continue;
    KernelSymbol k;
    k.address = sym.address;
    k.size = end - sym.address;
    k.name = text.substr(sym.name_offset, sym.name_size);
    k.module = text.substr(sym.module_offset, sym.module_size);
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
