// SymbolTable: the symbols of one libdwfl module sorted by address, so that naming an
// address is a binary search instead of libdwfl's scan of the whole table per lookup
// (dwfl_module_addrinfo costs ~100-200 us per address in a large library).
//
// It finds the symbol dwfl_module_addrinfo finds: the closest symbol with a size that contains
// the address (global and weak before local, then the highest start, then the strongest
// binding, then the smallest size); failing that, the closest sizeless symbol (hand-written
// assembly) in the address's section that no sized symbol's range passes. Of aliases (symbols
// with the same start and size, as libc's malloc and __libc_malloc) it names the one
// PreferSymbolName (wick/build_id.h) picks, where libdwfl takes the first in table order, and
// keeps the others as the function's aliases. Names point into the module's ELF data: the
// table must not outlive the Dwfl that owns the module.
#ifndef WICK_SRC_SYMBOLIZER_SYMBOL_TABLE_H_
#define WICK_SRC_SYMBOLIZER_SYMBOL_TABLE_H_

#include <elfutils/libdwfl.h>

#include <cstdint>
#include <span>
#include <vector>

namespace wick {

class SymbolTable {
 public:
  struct Hit {
    const char* name = nullptr;            // nullptr: no symbol names the address
    uint64_t offset = 0;                   // address - symbol start
    std::span<const char* const> aliases;  // the function's other names, in table order
  };

  // Reads every symbol libdwfl has for `module` (its .symtab or .dynsym, plus an auxiliary
  // table such as MiniDebugInfo's). A module without symbols gives an empty table.
  static SymbolTable Build(Dwfl_Module* module);

  // `addr` is a module address, as dwfl_module_addrinfo takes it.
  Hit Lookup(uint64_t addr) const;

  size_t size() const { return sized_.size() + sizeless_.size(); }

 private:
  // One function: a group of aliases, ranked as the strongest of them (as libdwfl would).
  struct Sized {
    uint64_t start, end;
    const char* name;
    uint32_t index;   // in libdwfl's table
    uint8_t global;   // 1 for all but locals: preferred over locals, as libdwfl does
    uint8_t binding;  // higher is stronger: global 3, weak 2, local 1
    uint32_t aliases_begin = 0, aliases_count = 0;  // in aliases_
  };
  struct Sizeless {
    uint64_t start;
    uint64_t section_end;  // the symbol names nothing past its section; start+1 for SHN_ABS
    const char* name;
    uint32_t index;
    uint8_t binding;
    uint32_t aliases_begin = 0, aliases_count = 0;
  };
  std::vector<Sized> sized_;        // by start, one per (start, end)
  std::vector<uint64_t> max_end_;   // max_end_[i] = max end of sized_[0..i]
  std::vector<Sizeless> sizeless_;  // by start, one per start
  std::vector<const char*> aliases_;
};

}  // namespace wick

#endif  // WICK_SRC_SYMBOLIZER_SYMBOL_TABLE_H_
