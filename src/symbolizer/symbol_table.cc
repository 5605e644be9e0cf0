#include "symbol_table.h"

#include <gelf.h>

#include <algorithm>
#include <string_view>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "wick/build_id.h"

namespace wick {
namespace {

// A symbol as read, before aliases are grouped. `end` is the section's end for sizeless ones.
struct RawSymbol {
  uint64_t start = 0, end = 0;
  const char* name = nullptr;
  uint32_t index = 0;
  uint8_t global = 0, binding = 0;
  uint8_t st_bind = 0;  // STB_*
  uint8_t file = 0;     // in SymbolFiles: the ELF file whose table holds it
};

// The ELF files a module's symbols come from (the file or its debug file, and an auxiliary
// table): one or two, so a symbol names its file by a byte.
struct SymbolFile {
  Elf* elf;
  uint64_t bias;  // st_value = address - bias
};

// Which .dynsym entries carry a hidden version (an old version kept for binary compatibility,
// as libc's cfree@GLIBC_2.2.5): libdwfl gives .dynsym names without their versions. Read once
// per ELF file, for files without a .symtab (whose names say "@" themselves). Keyed by value
// and the name's address in the string table, which libdwfl's names point into too (two
// versions of one name share the string, not the value).
class HiddenVersions {
 public:
  bool Hidden(Elf* elf, uint64_t st_value, const char* name) {
    if (elf == nullptr) return false;
    auto [it, inserted] = by_elf_.try_emplace(elf);
    if (inserted) it->second = Read(elf);
    return !it->second.empty() && it->second.contains(std::make_pair(st_value, name));
  }

 private:
  using Set = absl::flat_hash_set<std::pair<uint64_t, const char*>>;
  static Set Read(Elf* elf) {
    Set hidden;
    Elf_Scn* dynsym = nullptr;
    Elf_Scn* versym = nullptr;
    GElf_Shdr dynsym_shdr{};
    for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
      GElf_Shdr shdr;
      if (gelf_getshdr(scn, &shdr) == nullptr) continue;
      if (shdr.sh_type == SHT_SYMTAB) return hidden;  // libdwfl reads that one
      if (shdr.sh_type == SHT_DYNSYM) {
        dynsym = scn;
        dynsym_shdr = shdr;
      }
      if (shdr.sh_type == SHT_GNU_versym) versym = scn;
    }
    if (dynsym == nullptr || versym == nullptr) return hidden;
    Elf_Data* syms = elf_getdata(dynsym, nullptr);
    Elf_Data* versions = elf_getdata(versym, nullptr);
    if (syms == nullptr || versions == nullptr || dynsym_shdr.sh_entsize == 0) return hidden;
    const size_t n = dynsym_shdr.sh_size / dynsym_shdr.sh_entsize;
    for (size_t i = 1; i < n; ++i) {
      GElf_Sym sym;
      GElf_Versym version = 0;
      if (gelf_getsym(syms, static_cast<int>(i), &sym) == nullptr ||
          gelf_getversym(versions, static_cast<int>(i), &version) == nullptr ||
          (version & kVersymHidden) == 0) {
        continue;
      }
      const char* name = elf_strptr(elf, dynsym_shdr.sh_link, sym.st_name);
      if (name != nullptr) hidden.emplace(sym.st_value, name);
    }
    return hidden;
  }

  // The version bit binutils calls VERSYM_HIDDEN (<elf.h> has no name for it).
  static constexpr GElf_Versym kVersymHidden = 0x8000;
  absl::flat_hash_map<Elf*, Set> by_elf_;
};

uint8_t BindingValue(const GElf_Sym& sym) {
  switch (GELF_ST_BIND(sym.st_info)) {
    case STB_GLOBAL:
      return 3;
    case STB_WEAK:
      return 2;
    case STB_LOCAL:
      return 1;
    default:
      return 0;
  }
}

// Calls add(strongest, preferred-name, aliases_begin, aliases_count) once per run of entries
// `same` says are aliases (adjacent in `raws`), appending the names not shown to *aliases.
// Versions are looked up only for aliases: most functions have one name.
template <typename Same, typename Stronger, typename Add>
void GroupAliases(const std::vector<RawSymbol>& raws, Same same, Stronger stronger,
                  const std::vector<SymbolFile>& files, HiddenVersions* hidden,
                  std::vector<const char*>* aliases, Add add) {
  auto candidate = [&](const RawSymbol& r) {
    const SymbolFile& f = files[r.file];
    return SymbolNameCandidate{r.name, r.st_bind, hidden->Hidden(f.elf, r.start - f.bias, r.name)};
  };
  for (size_t i = 0; i < raws.size();) {
    size_t rank = i, named = i, j = i + 1;
    for (; j < raws.size() && same(raws[i], raws[j]); ++j) {
      if (stronger(raws[j], raws[rank])) rank = j;
      if (PreferSymbolName(candidate(raws[j]), candidate(raws[named]))) named = j;
    }
    const auto begin = static_cast<uint32_t>(aliases->size());
    for (size_t k = i; k < j; ++k) {
      if (k != named) aliases->push_back(raws[k].name);
    }
    add(raws[rank], raws[named], begin, static_cast<uint32_t>(aliases->size()) - begin);
    i = j;
  }
}

}  // namespace

SymbolTable SymbolTable::Build(Dwfl_Module* module) {
  SymbolTable table;
  HiddenVersions hidden;
  std::vector<SymbolFile> files;
  std::vector<RawSymbol> sized, sizeless;
  const int count = dwfl_module_getsymtab(module);
  sized.reserve(count > 0 ? static_cast<size_t>(count) : 0);
  for (int i = 1; i < count; ++i) {
    GElf_Sym sym;
    GElf_Addr value = 0;
    GElf_Word shndx = SHN_UNDEF;
    Elf* elf = nullptr;
    Dwarf_Addr bias = 0;
    const char* name = dwfl_module_getsym_info(module, i, &sym, &value, &shndx, &elf, &bias);
    if (name == nullptr || name[0] == '\0' || sym.st_shndx == SHN_UNDEF) continue;
    const int type = GELF_ST_TYPE(sym.st_info);
    if (type == STT_SECTION || type == STT_FILE || type == STT_TLS) continue;
    RawSymbol raw;
    raw.start = value;
    raw.name = name;
    raw.index = static_cast<uint32_t>(i);
    raw.binding = BindingValue(sym);
    // Everything but locals is in libdwfl's first (global) pass, STB_GNU_UNIQUE included.
    raw.global = GELF_ST_BIND(sym.st_info) != STB_LOCAL;
    raw.st_bind = static_cast<uint8_t>(GELF_ST_BIND(sym.st_info));
    size_t file = 0;
    while (file < files.size() && (files[file].elf != elf || files[file].bias != bias)) ++file;
    if (file == files.size()) {
      if (files.size() == 255) continue;  // more files than a module has: not named
      files.push_back({elf, bias});
    }
    raw.file = static_cast<uint8_t>(file);
    if (sym.st_size != 0) {
      raw.end = value + sym.st_size;
      sized.push_back(raw);
      continue;
    }
    raw.end = value + 1;  // absolute and other special sections: exact match only
    if (shndx < SHN_LORESERVE && elf != nullptr) {
      GElf_Shdr shdr;
      Elf_Scn* scn = elf_getscn(elf, shndx);
      if (scn == nullptr || gelf_getshdr(scn, &shdr) == nullptr) continue;
      // libdwfl's section test is inclusive of the end: the byte just past a section (padding
      // before the next one) still belongs to it. Kept so both lookups agree.
      raw.end = shdr.sh_addr + bias + shdr.sh_size + 1;
      if (value >= raw.end) raw.end = value + 1;
    }
    sizeless.push_back(raw);
  }

  // Sized aliases share start and end; the strongest of them ranks the group, as in libdwfl.
  std::sort(sized.begin(), sized.end(), [](const RawSymbol& a, const RawSymbol& b) {
    return std::tie(a.start, a.end, a.index) < std::tie(b.start, b.end, b.index);
  });
  GroupAliases(
      sized,
      [](const RawSymbol& a, const RawSymbol& b) { return a.start == b.start && a.end == b.end; },
      [](const RawSymbol& a, const RawSymbol& b) {
        return std::tie(a.global, a.binding) > std::tie(b.global, b.binding);
      },
      files, &hidden, &table.aliases_,
      [&](const RawSymbol& rank, const RawSymbol& named, uint32_t begin, uint32_t n) {
        table.sized_.push_back(
            {rank.start, rank.end, named.name, rank.index, rank.global, rank.binding, begin, n});
      });
  table.max_end_.reserve(table.sized_.size());
  uint64_t max_end = 0;
  for (const Sized& s : table.sized_) {
    max_end = std::max(max_end, s.end);
    table.max_end_.push_back(max_end);
  }
  // Sizeless aliases share the start; the strongest binding decides the section.
  std::sort(sizeless.begin(), sizeless.end(), [](const RawSymbol& a, const RawSymbol& b) {
    return std::tie(a.start, a.index) < std::tie(b.start, b.index);
  });
  GroupAliases(
      sizeless, [](const RawSymbol& a, const RawSymbol& b) { return a.start == b.start; },
      [](const RawSymbol& a, const RawSymbol& b) { return a.binding > b.binding; }, files, &hidden,
      &table.aliases_,
      [&](const RawSymbol& rank, const RawSymbol& named, uint32_t begin, uint32_t n) {
        table.sizeless_.push_back(
            {rank.start, rank.end, named.name, rank.index, rank.binding, begin, n});
      });
  return table;
}

SymbolTable::Hit SymbolTable::Lookup(uint64_t addr) const {
  // Sized symbols that start at or below addr; walking down, stop once no earlier symbol
  // reaches past addr.
  const size_t below =
      static_cast<size_t>(std::upper_bound(sized_.begin(), sized_.end(), addr,
                                           [](uint64_t a, const Sized& s) { return a < s.start; }) -
                          sized_.begin());
  const Sized* best = nullptr;
  for (size_t i = below; i > 0 && max_end_[i - 1] > addr; --i) {
    const Sized& s = sized_[i - 1];
    if (addr >= s.end) continue;
    // On a full tie (aliases such as C1/C2 constructors) the earlier table entry wins.
    if (best == nullptr ||
        std::make_tuple(s.global, s.start, s.binding, best->end - best->start, best->index) >
            std::make_tuple(best->global, best->start, best->binding, s.end - s.start, s.index)) {
      best = &s;
    }
  }
  if (best != nullptr) {
    return {best->name,
            addr - best->start,
            {aliases_.data() + best->aliases_begin, best->aliases_count}};
  }

  // A sizeless symbol counts only past the end of every sized symbol below addr, and within
  // its own section.
  const uint64_t min_label = below > 0 ? max_end_[below - 1] : 0;
  auto it = std::upper_bound(sizeless_.begin(), sizeless_.end(), addr,
                             [](uint64_t a, const Sizeless& s) { return a < s.start; });
  if (it == sizeless_.begin()) return {};
  const Sizeless& s = *std::prev(it);
  if (s.start < min_label || addr >= s.section_end) return {};
  return {s.name, addr - s.start, {aliases_.data() + s.aliases_begin, s.aliases_count}};
}

}  // namespace wick
