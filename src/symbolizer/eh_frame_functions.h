// EhFrameFunctions: the functions a binary's unwind table (.eh_frame) describes, for naming
// code that has no symbol. Stripped programs and libraries keep .eh_frame (the unwinder needs
// it), and each function's FDE says where it starts and ends: every address of one unnamed
// function then maps to the same start.
//
// Reads the sorted search table of .eh_frame_hdr (PT_GNU_EH_FRAME) for the candidate FDE, and
// libdwfl's CFI of the module to check that an FDE really covers the address (not a gap
// between functions). Both belong to the module's Dwfl: this object must not outlive it.
// Lookups are a binary search; nothing is allocated per lookup. Not thread-safe (libdw's CFI
// caches what it parsed).
#ifndef WICK_SRC_SYMBOLIZER_EH_FRAME_FUNCTIONS_H_
#define WICK_SRC_SYMBOLIZER_EH_FRAME_FUNCTIONS_H_

#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>

#include <cstdint>
#include <optional>
#include <span>
#include <utility>
#include <vector>

namespace wick {

class EhFrameFunctions {
 public:
  // The table of `module`'s main file. A file without .eh_frame_hdr, or whose header uses an
  // encoding other than the one linkers write (search table datarel sdata4), gives an empty
  // table: every lookup says nullopt.
  static EhFrameFunctions Open(Dwfl_Module* module);

  // The first address of the function (FDE) covering `vaddr`, both link-time virtual
  // addresses of the file; nullopt when no FDE covers it, and in the PLT (.plt, .plt.sec,
  // .plt.got), whose one FDE spans the stubs of every imported function.
  std::optional<uint64_t> FunctionStart(uint64_t vaddr) const;

  size_t size() const { return table_.size() / 8; }

 private:
  Dwarf_CFI* cfi_ = nullptr;                        // owned by the module
  uint64_t hdr_vaddr_ = 0;                          // table entries are relative to it
  std::span<const unsigned char> table_;            // (initial_location, fde) int32 pairs, sorted
  std::vector<std::pair<uint64_t, uint64_t>> plt_;  // [start, end) of the PLT sections
};

}  // namespace wick

#endif  // WICK_SRC_SYMBOLIZER_EH_FRAME_FUNCTIONS_H_
