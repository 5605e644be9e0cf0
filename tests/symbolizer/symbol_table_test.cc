// SymbolTable against libdwfl's own dwfl_module_addrinfo, the lookup it replaces: the same
// symbol (libdwfl's name, or an alias of the name the table prefers) and offset for every
// address of the code of the workloads, libc (with and without its debug file's .symtab) and
// libstdc++.
#include "symbol_table.h"

#include <elfutils/libdwfl.h>
#include <gelf.h>

#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "workloads.h"

namespace wick {
namespace {

// Opens `path` in libdwfl as the symbolizer does; `debug_path` is libdwfl's search path.
class Module {
 public:
  Module(const std::string& path, const char* debug_path) : debug_path_(strdup(debug_path)) {
    callbacks_.find_elf = dwfl_build_id_find_elf;
    callbacks_.find_debuginfo = dwfl_standard_find_debuginfo;
    callbacks_.section_address = dwfl_offline_section_address;
    callbacks_.debuginfo_path = &debug_path_;
    dwfl_ = dwfl_begin(&callbacks_);
    module_ = dwfl_report_offline(dwfl_, path.c_str(), path.c_str(), -1);
    dwfl_report_end(dwfl_, nullptr, nullptr);
  }
  ~Module() {
    dwfl_end(dwfl_);
    free(debug_path_);
  }
  Dwfl_Module* get() const { return module_; }

 private:
  char* debug_path_;
  Dwfl_Callbacks callbacks_{};
  Dwfl* dwfl_ = nullptr;
  Dwfl_Module* module_ = nullptr;
};

// Compares the two lookups at every `step`-th address of the executable segments: the same
// symbol (libdwfl's name is the table's or one of its aliases) at the same offset.
void ExpectSameAsLibdwfl(const std::string& path, const char* debug_path, uint64_t step,
                         size_t min_symbols) {
  SCOPED_TRACE(absl::StrCat(path, " debug path ", debug_path));
  Module module(path, debug_path);
  ASSERT_NE(module.get(), nullptr);
  const SymbolTable table = SymbolTable::Build(module.get());
  EXPECT_GE(table.size(), min_symbols);
  GElf_Addr bias = 0;
  Elf* elf = dwfl_module_getelf(module.get(), &bias);
  ASSERT_NE(elf, nullptr);
  size_t phnum = 0;
  ASSERT_EQ(elf_getphdrnum(elf, &phnum), 0);
  uint64_t compared = 0, named = 0, differ = 0;
  for (size_t p = 0; p < phnum; ++p) {
    GElf_Phdr ph;
    if (gelf_getphdr(elf, static_cast<int>(p), &ph) == nullptr || ph.p_type != PT_LOAD ||
        (ph.p_flags & PF_X) == 0) {
      continue;
    }
    // A little before and past the segment too: addresses no symbol names.
    const uint64_t lo = ph.p_vaddr + bias - std::min<uint64_t>(ph.p_vaddr + bias, 64);
    for (uint64_t addr = lo; addr < ph.p_vaddr + bias + ph.p_memsz + 64; addr += step) {
      GElf_Off offset = 0;
      GElf_Sym sym;
      const char* want =
          dwfl_module_addrinfo(module.get(), addr, &offset, &sym, nullptr, nullptr, nullptr);
      if (want != nullptr && want[0] == '\0') want = nullptr;
      const SymbolTable::Hit got = table.Lookup(addr);
      ++compared;
      if (want != nullptr) ++named;
      // The same symbol: libdwfl's name, or one of its aliases where the table prefers
      // another name (malloc for libdwfl's __libc_malloc).
      auto names = [&](const char* name) {
        if (std::strcmp(name, got.name) == 0) return true;
        for (const char* alias : got.aliases) {
          if (std::strcmp(name, alias) == 0) return true;
        }
        return false;
      };
      const bool same =
          (want == nullptr && got.name == nullptr) ||
          (want != nullptr && got.name != nullptr && names(want) && offset == got.offset);
      if (!same && ++differ <= 10) {
        ADD_FAILURE() << "at 0x" << std::hex << addr << ": libdwfl " << (want ? want : "(none)")
                      << "+0x" << offset << ", table " << (got.name ? got.name : "(none)") << "+0x"
                      << got.offset;
      }
    }
  }
  EXPECT_EQ(differ, 0u) << "of " << compared << " addresses";
  // .dynsym alone leaves local functions unnamed: about a third of libc is named from it.
  EXPECT_GT(named, compared / 5) << "too few named addresses to mean anything";
}

TEST(SymbolTableTest, WorkloadsMatchLibdwfl) {
  for (const std::string& path :
       {workloads::KnownTreePath(), workloads::KnownTreeCcPath(), workloads::KnownTreeInlinePath(),
        workloads::KnownTreeO2NoFpPath(), workloads::UnwindPluginPath()}) {
    ExpectSameAsLibdwfl(path, "-:.debug", 1, 5);
  }
}

TEST(SymbolTableTest, StrippedBinaryHasNoSymbols) {
  Module module(workloads::KnownTreeStrippedPath(), "/nonexistent");
  ASSERT_NE(module.get(), nullptr);
  const SymbolTable table = SymbolTable::Build(module.get());
  GElf_Addr bias = 0;
  ASSERT_NE(dwfl_module_getelf(module.get(), &bias), nullptr);
  for (uint64_t addr = 0; addr < 0x3000; addr += 16) EXPECT_EQ(table.Lookup(addr).name, nullptr);
}

TEST(SymbolTableTest, LibcDynsymMatchesLibdwfl) {
  const std::string libc = workloads::LoadedLibraryPath("libc.so.6");
  ASSERT_FALSE(libc.empty());
  ExpectSameAsLibdwfl(libc, "/nonexistent", 29, 1000);
}

// With the system's debug dirs: libc6-dbg's full .symtab when installed (tools/setup does).
TEST(SymbolTableTest, LibcWithDebugFileMatchesLibdwfl) {
  const std::string libc = workloads::LoadedLibraryPath("libc.so.6");
  ASSERT_FALSE(libc.empty());
  ExpectSameAsLibdwfl(libc, "-:.debug:/usr/lib/debug", 61, 1000);
}

TEST(SymbolTableTest, LibstdcxxMatchesLibdwfl) {
  const std::string lib = workloads::LoadedLibraryPath("libstdc++.so.6");
  ASSERT_FALSE(lib.empty());
  ExpectSameAsLibdwfl(lib, "/nonexistent", 29, 1000);
}

}  // namespace
}  // namespace wick
