#include "symbol_table.h"

#include <gelf.h>

#include <algorithm>
#include <tuple>

namespace wick {
namespace {

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

}  // namespace

SymbolTable SymbolTable::Build(Dwfl_Module* module) {
  SymbolTable table;
  const int count = dwfl_module_getsymtab(module);
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
    const uint8_t binding = BindingValue(sym);
    if (sym.st_size != 0) {
      // Everything but locals is in libdwfl's first (global) pass, STB_GNU_UNIQUE included.
      const uint8_t global = GELF_ST_BIND(sym.st_info) != STB_LOCAL;
      table.sized_.push_back(
          {value, value + sym.st_size, name, static_cast<uint32_t>(i), global, binding});
      continue;
    }
    uint64_t section_end = value + 1;  // absolute and other special sections: exact match only
    if (shndx < SHN_LORESERVE && elf != nullptr) {
      GElf_Shdr shdr;
      Elf_Scn* scn = elf_getscn(elf, shndx);
      if (scn == nullptr || gelf_getshdr(scn, &shdr) == nullptr) continue;
      // libdwfl's section test is inclusive of the end: the byte just past a section (padding
      // before the next one) still belongs to it. Kept so both lookups agree.
      section_end = shdr.sh_addr + bias + shdr.sh_size + 1;
      if (value >= section_end) section_end = value + 1;
    }
    table.sizeless_.push_back({value, section_end, name, static_cast<uint32_t>(i), binding});
  }
  std::sort(table.sized_.begin(), table.sized_.end(),
            [](const Sized& a, const Sized& b) { return a.start < b.start; });
  table.max_end_.reserve(table.sized_.size());
  uint64_t max_end = 0;
  for (const Sized& s : table.sized_) {
    max_end = std::max(max_end, s.end);
    table.max_end_.push_back(max_end);
  }
  std::sort(table.sizeless_.begin(), table.sizeless_.end(),
            [](const Sizeless& a, const Sizeless& b) {
              return std::tie(a.start, b.binding, a.index) < std::tie(b.start, a.binding, b.index);
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
  if (best != nullptr) return {best->name, addr - best->start};

  // A sizeless symbol counts only past the end of every sized symbol below addr, and within
  // its own section.
  const uint64_t min_label = below > 0 ? max_end_[below - 1] : 0;
  auto it = std::upper_bound(sizeless_.begin(), sizeless_.end(), addr,
                             [](uint64_t a, const Sizeless& s) { return a < s.start; });
  if (it == sizeless_.begin()) return {};
  const uint64_t start = std::prev(it)->start;
  // The strongest binding at that start sorts first among its equals.
  const Sizeless& s = *std::lower_bound(sizeless_.begin(), it, start,
                                        [](const Sizeless& x, uint64_t v) { return x.start < v; });
  if (s.start < min_label || addr >= s.section_end) return {};
  return {s.name, addr - s.start};
}

}  // namespace wick
