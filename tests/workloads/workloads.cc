#include "workloads.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <link.h>

#include <cerrno>
#include <cstring>
#include <functional>

#include "absl/strings/str_cat.h"
#include "wick/scoped.h"
#include "wick/status.h"

namespace wick::workloads {

std::string KnownTreePath() { return WICK_KNOWN_TREE_FP; }
std::string KnownTreeNoFpPath() { return WICK_KNOWN_TREE_NOFP; }
std::string KnownTreeCcPath() { return WICK_KNOWN_TREE_CC_FP; }
std::string KnownTreeInlinePath() { return WICK_KNOWN_TREE_INLINE; }
std::string InlinePairPath() { return WICK_INLINE_PAIR; }
std::string NoreturnCallPath() { return WICK_NORETURN_CALL; }
std::string KnownTreeStrippedPath() { return WICK_KNOWN_TREE_STRIPPED; }
std::string KnownTreeO2NoFpPath() { return WICK_KNOWN_TREE_O2_NOFP; }
std::string KnownTreeFpNoSymsPath() { return WICK_KNOWN_TREE_FP_NOSYMS; }
std::string KnownTreeO2NoFpNoSymsPath() { return WICK_KNOWN_TREE_O2_NOFP_NOSYMS; }
std::string LibcHotPath() { return WICK_LIBC_HOT; }
std::string KnownTreeFpNoEhPath() { return WICK_KNOWN_TREE_FP_NOEH; }
std::string KnownTreeDebugFramePath() { return WICK_KNOWN_TREE_DEBUG_FRAME; }
std::string KnownTreeNoPiePath() { return WICK_KNOWN_TREE_NOPIE; }
std::string UnwindTargetPath() { return WICK_UNWIND_TARGET; }
std::string UnwindPluginPath() { return WICK_UNWIND_PLUGIN; }
std::string ManyTasksPath() { return WICK_MANY_TASKS; }

namespace {

struct ElfFile {
  ScopedFd fd;
  Elf* elf = nullptr;
  ~ElfFile() {
    if (elf != nullptr) elf_end(elf);
  }
};

absl::Status OpenElf(const std::string& path, ElfFile* out) {
  elf_version(EV_CURRENT);
  out->fd = ScopedFd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!out->fd) return ErrnoError(errno, absl::StrCat("open ", path));
  out->elf = elf_begin(out->fd.get(), ELF_C_READ, nullptr);
  if (out->elf == nullptr || elf_kind(out->elf) != ELF_K_ELF) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not an ELF file"));
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> VaddrToOffset(Elf* elf, const std::string& path, uint64_t vaddr) {
  size_t phnum = 0;
  if (elf_getphdrnum(elf, &phnum) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no program headers"));
  }
  for (size_t i = 0; i < phnum; ++i) {
    GElf_Phdr ph;
    if (gelf_getphdr(elf, static_cast<int>(i), &ph) == nullptr || ph.p_type != PT_LOAD) continue;
    if (vaddr >= ph.p_vaddr && vaddr < ph.p_vaddr + ph.p_filesz) {
      return vaddr - ph.p_vaddr + ph.p_offset;
    }
  }
  return absl::NotFoundError(
      absl::StrCat(path, ": address 0x", absl::Hex(vaddr), " not in PT_LOAD"));
}

// With `place` false, file_offset stays 0 (for debug files, whose segments hold no bytes).
absl::StatusOr<ElfSymbol> FindSymbol(const std::string& path,
                                     const std::function<bool(std::string_view)>& match,
                                     bool place = true) {
  ElfFile f;
  WICK_RETURN_IF_ERROR(OpenElf(path, &f));
  for (Elf64_Word type : {SHT_SYMTAB, SHT_DYNSYM}) {
    Elf_Scn* scn = nullptr;
    while ((scn = elf_nextscn(f.elf, scn)) != nullptr) {
      GElf_Shdr sh;
      if (gelf_getshdr(scn, &sh) == nullptr || sh.sh_type != type) continue;
      Elf_Data* data = elf_getdata(scn, nullptr);
      if (data == nullptr || sh.sh_entsize == 0) continue;
      const size_t n = sh.sh_size / sh.sh_entsize;
      for (size_t i = 0; i < n; ++i) {
        GElf_Sym sym;
        if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr) continue;
        if (GELF_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_shndx == SHN_UNDEF) continue;
        const char* name = elf_strptr(f.elf, sh.sh_link, sym.st_name);
        if (name == nullptr || !match(name)) continue;
        ElfSymbol out;
        out.name = name;
        out.value = sym.st_value;
        out.size = sym.st_size;
        if (place) {
          WICK_ASSIGN_OR_RETURN(out.file_offset, VaddrToOffset(f.elf, path, sym.st_value));
        }
        return out;
      }
    }
  }
  return absl::NotFoundError(absl::StrCat(path, ": no matching function symbol"));
}

}  // namespace

absl::StatusOr<ElfSymbol> FindElfSymbol(const std::string& path, std::string_view name) {
  return FindSymbol(path, [name](std::string_view s) { return s == name; });
}

absl::StatusOr<ElfSymbol> FindElfSymbolUnplaced(const std::string& path, std::string_view name) {
  return FindSymbol(
      path, [name](std::string_view s) { return s == name; }, /*place=*/false);
}

absl::StatusOr<uint64_t> FindSectionOffset(const std::string& path, std::string_view name) {
  ElfFile f;
  WICK_RETURN_IF_ERROR(OpenElf(path, &f));
  size_t shstrndx = 0;
  if (elf_getshdrstrndx(f.elf, &shstrndx) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no section names"));
  }
  Elf_Scn* scn = nullptr;
  while ((scn = elf_nextscn(f.elf, scn)) != nullptr) {
    GElf_Shdr sh;
    if (gelf_getshdr(scn, &sh) == nullptr) continue;
    const char* section = elf_strptr(f.elf, shstrndx, sh.sh_name);
    if (section != nullptr && section == name) return sh.sh_offset;
  }
  return absl::NotFoundError(absl::StrCat(path, ": no section ", Sv(name)));
}

std::string LoadedLibraryPath(const char* soname) {
  void* handle = dlopen(soname, RTLD_NOW | RTLD_NOLOAD);
  if (handle == nullptr) return {};
  link_map* map = nullptr;
  std::string path;
  if (dlinfo(handle, RTLD_DI_LINKMAP, &map) == 0) path = map->l_name;
  dlclose(handle);
  return path;
}

absl::StatusOr<ElfSymbol> FindElfSymbolContaining(const std::string& path, std::string_view part) {
  return FindSymbol(path,
                    [part](std::string_view s) { return s.find(part) != std::string_view::npos; });
}

absl::StatusOr<std::string> ReadElfBuildId(const std::string& path) {
  ElfFile f;
  WICK_RETURN_IF_ERROR(OpenElf(path, &f));
  Elf_Scn* scn = nullptr;
  while ((scn = elf_nextscn(f.elf, scn)) != nullptr) {
    GElf_Shdr sh;
    if (gelf_getshdr(scn, &sh) == nullptr || sh.sh_type != SHT_NOTE) continue;
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (data == nullptr) continue;
    size_t offset = 0, name_off = 0, desc_off = 0;
    GElf_Nhdr nh;
    while ((offset = gelf_getnote(data, offset, &nh, &name_off, &desc_off)) > 0) {
      const char* base = static_cast<const char*>(data->d_buf);
      if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
          std::memcmp(base + name_off, "GNU", 4) == 0) {
        return std::string(base + desc_off, nh.n_descsz);
      }
    }
  }
  return absl::NotFoundError(absl::StrCat(path, ": no NT_GNU_BUILD_ID note"));
}

}  // namespace wick::workloads
