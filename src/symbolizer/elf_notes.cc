#include "elf_notes.h"

#include <fcntl.h>
#include <gelf.h>

#include <cstring>

#include "wick/scoped.h"

namespace wick::symbolizer_internal {
namespace {

bool FindBuildIdNote(Elf_Data* data, std::string* out) {
  if (data == nullptr) return false;
  size_t offset = 0, name_off = 0, desc_off = 0;
  GElf_Nhdr nh;
  while ((offset = gelf_getnote(data, offset, &nh, &name_off, &desc_off)) > 0) {
    const char* base = static_cast<const char*>(data->d_buf);
    if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
        std::memcmp(base + name_off, "GNU", 4) == 0) {
      out->assign(base + desc_off, nh.n_descsz);
      return true;
    }
  }
  return false;
}

}  // namespace

std::string ElfBuildId(Elf* elf) {
  std::string id;
  Elf_Scn* scn = nullptr;
  while ((scn = elf_nextscn(elf, scn)) != nullptr) {
    GElf_Shdr sh;
    if (gelf_getshdr(scn, &sh) == nullptr || sh.sh_type != SHT_NOTE) continue;
    if (FindBuildIdNote(elf_getdata(scn, nullptr), &id)) return id;
  }
  // Section headers can be stripped; the loaded notes stay.
  size_t phnum = 0;
  if (elf_getphdrnum(elf, &phnum) != 0) return id;
  for (size_t i = 0; i < phnum; ++i) {
    GElf_Phdr ph;
    if (gelf_getphdr(elf, static_cast<int>(i), &ph) == nullptr || ph.p_type != PT_NOTE) continue;
    if (FindBuildIdNote(
            elf_getdata_rawchunk(elf, static_cast<int64_t>(ph.p_offset), ph.p_filesz, ELF_T_NHDR),
            &id)) {
      return id;
    }
  }
  return id;
}

bool FileBuildId(const std::string& path, std::string* build_id) {
  build_id->clear();
  ScopedFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return false;
  elf_version(EV_CURRENT);
  Elf* elf = elf_begin(fd.get(), ELF_C_READ, nullptr);
  if (elf == nullptr) return false;
  const bool ok = elf_kind(elf) == ELF_K_ELF;
  if (ok) *build_id = ElfBuildId(elf);
  elf_end(elf);
  return ok;
}

}  // namespace wick::symbolizer_internal
