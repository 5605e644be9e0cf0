// libFuzzer target for the .eh_frame reader of the own unwind steps (src/unwinder/cfi_rules.h):
// binaries on disk are its input, and any bytes must give a rule or kUnsupported, never a
// read outside the image. Input: u64 segment vaddr, u64 .eh_frame_hdr vaddr, u64 address
// asked, then the segment's bytes (the seeds are known_tree_o2_nofp's read-only segment).
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "cfi_rules.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using wick::unwinder_internal::ElfImage;
  if (size < 24) return 0;
  uint64_t vaddr = 0, hdr = 0, target = 0;
  std::memcpy(&vaddr, data, 8);
  std::memcpy(&hdr, data + 8, 8);
  std::memcpy(&target, data + 16, 8);
  ElfImage image;
  image.ok = true;
  const uint64_t n = size - 24;
  image.loads.push_back({vaddr, n, 0, n});
  image.min_vaddr = vaddr;
  image.max_vaddr = vaddr + n;
  image.eh_frame_hdr_vaddr = hdr;
  image.eh_frame_hdr_size = n;
  image.bytes = std::span<const std::byte>(reinterpret_cast<const std::byte*>(data + 24), n);
  for (uint64_t delta : {0, 1, 7, 64}) {
    const wick::unwinder_internal::CfiRule rule =
        wick::unwinder_internal::FindCfiRule(image, target + delta);
    if (rule.kind == wick::unwinder_internal::CfiRule::kStep &&
        rule.cfa_reg != wick::unwinder_internal::kDwarfRsp &&
        rule.cfa_reg != wick::unwinder_internal::kDwarfRbp) {
      __builtin_trap();  // a step rule always has a CFA this unwinder can compute
    }
  }
  return 0;
}
