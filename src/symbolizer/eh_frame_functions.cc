#include "eh_frame_functions.h"

#include <gelf.h>

#include <cstdlib>
#include <cstring>
#include <string_view>

#include "wick/build_id.h"

namespace wick {
namespace {

int32_t ReadInt32(const unsigned char* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

}  // namespace

EhFrameFunctions EhFrameFunctions::Open(Dwfl_Module* module) {
  EhFrameFunctions out;
  GElf_Addr bias = 0;
  Elf* elf = dwfl_module_getelf(module, &bias);
  size_t phnum = 0;
  if (elf == nullptr || elf_getphdrnum(elf, &phnum) != 0) return out;
  GElf_Phdr hdr{};
  bool found = false;
  for (size_t i = 0; i < phnum && !found; ++i) {
    found =
        gelf_getphdr(elf, static_cast<int>(i), &hdr) != nullptr && hdr.p_type == PT_GNU_EH_FRAME;
  }
  if (!found) return out;
  size_t shstrndx = 0;
  if (elf_getshdrstrndx(elf, &shstrndx) != 0) shstrndx = 0;
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr) continue;
    // A separate debug file keeps the program headers but not the bytes (SHT_NOBITS): what
    // lies at p_offset there is something else.
    if (shdr.sh_addr == hdr.p_vaddr && shdr.sh_type == SHT_NOBITS &&
        (shdr.sh_flags & SHF_ALLOC) != 0) {
      return out;
    }
    const char* name = shstrndx != 0 ? elf_strptr(elf, shstrndx, shdr.sh_name) : nullptr;
    if (name != nullptr && std::string_view(name).starts_with(".plt")) {
      out.plt_.emplace_back(shdr.sh_addr, shdr.sh_addr + shdr.sh_size);
    }
  }
  Elf_Data* data =
      elf_getdata_rawchunk(elf, static_cast<int64_t>(hdr.p_offset), hdr.p_filesz, ELF_T_BYTE);
  if (data == nullptr || data->d_buf == nullptr || data->d_size < kEhFrameHdrSize) return out;
  const auto* bytes = static_cast<const unsigned char*>(data->d_buf);
  const std::optional<uint32_t> fde_count =
      EhFrameHdrFdeCount(std::span<const std::byte, kEhFrameHdrSize>(
          reinterpret_cast<const std::byte*>(bytes), kEhFrameHdrSize));
  if (!fde_count) return out;
  const uint32_t count = *fde_count;
  if (count > (data->d_size - kEhFrameHdrSize) / 8)
    return out;  // a table past the segment: not trusted
  // Its addresses are the file's link-time ones (module address - cfi_bias), as the table's.
  Dwarf_Addr cfi_bias = 0;
  out.cfi_ = dwfl_module_eh_cfi(module, &cfi_bias);
  if (out.cfi_ == nullptr) return out;
  out.hdr_vaddr_ = hdr.p_vaddr;
  out.table_ = {bytes + kEhFrameHdrSize, size_t{count} * 8};
  return out;
}

std::optional<uint64_t> EhFrameFunctions::FunctionStart(uint64_t vaddr) const {
  for (const auto& [start, end] : plt_) {
    if (vaddr >= start && vaddr < end) return std::nullopt;
  }
  // The last entry starting at or below vaddr (the table is sorted by initial_location).
  size_t lo = 0, hi = size();
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    const uint64_t start = hdr_vaddr_ + ReadInt32(table_.data() + mid * 8);
    if (start <= vaddr) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  if (lo == 0) return std::nullopt;
  const uint64_t start = hdr_vaddr_ + ReadInt32(table_.data() + (lo - 1) * 8);
  // That FDE may end before vaddr (a gap without unwind info, such as padding or code built
  // without tables): libdw finds the FDE covering vaddr, whose rows then lie within it.
  Dwarf_Frame* frame = nullptr;
  if (dwarf_cfi_addrframe(cfi_, vaddr, &frame) != 0) return std::nullopt;
  Dwarf_Addr row_start = 0, row_end = 0;
  const int ra = dwarf_frame_info(frame, &row_start, &row_end, nullptr);
  std::free(frame);
  if (ra < 0 || row_start < start || row_start > vaddr) return std::nullopt;
  return start;
}

}  // namespace wick
