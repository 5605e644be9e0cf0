// The unwind rule of one instruction of an x86-64 binary, read from its .eh_frame (found
// through the .eh_frame_hdr search table): the CFA as rsp or rbp plus an offset, where the
// return address and rbp are saved. This is all that compiled code's frames need, and it
// lets the libunwind backend step most frames itself: Debian's libunwind blocks and unblocks
// signals (two system calls) around every lookup in its cache, most of the CPU of a DWARF
// unwind. Anything else the CFI says (expressions, a CFA in another register, a signal
// frame, a register saved in a register) yields kUnsupported, and the caller leaves that
// unwind to libunwind. Plain functions of an ElfImage, no state; thread-safe.
#ifndef WICK_SRC_UNWINDER_CFI_RULES_H_
#define WICK_SRC_UNWINDER_CFI_RULES_H_

#include <cstdint>

#include "unwinder_internal.h"

namespace wick::unwinder_internal {

struct CfiRule {
  enum Kind : uint8_t {
    kUnsupported,  // no FDE, or CFI this evaluator does not handle: ask libunwind
    kStep,         // CFA = (cfa_reg) + cfa_offset; return address at CFA + ra_offset
    kEnd,          // the return address is undefined: the outermost frame (_start, clone)
  };
  Kind kind = kUnsupported;
  uint8_t cfa_reg = 0;  // kDwarfRsp or kDwarfRbp
  bool rbp_saved = false;
  int32_t cfa_offset = 0;
  int32_t ra_offset = 0;
  int32_t rbp_offset = 0;  // rbp saved at CFA + rbp_offset when rbp_saved, else unchanged
};

// The rule in effect at link-time address `vaddr` of `image`.
CfiRule FindCfiRule(const ElfImage& image, uint64_t vaddr);

}  // namespace wick::unwinder_internal

#endif  // WICK_SRC_UNWINDER_CFI_RULES_H_
