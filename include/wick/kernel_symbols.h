// Kernel symbols for a recording: captured from /proc/kallsyms at the end of `wick record`.
//
// Only the symbols that contain one of the recorded kernel addresses are kept, so a
// recording carries what its stacks need and nothing of the other ~200k symbols; report
// time names kernel frames from Recording::kernel_symbols alone (the machine may differ).
// Plain functions, no state; thread-safe. Errors: NotFound/PermissionDenied naming the
// kallsyms path; FailedPrecondition when kallsyms hides addresses (kptr_restrict).
#ifndef WICK_KERNEL_SYMBOLS_H_
#define WICK_KERNEL_SYMBOLS_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "wick/recording.h"

namespace wick {

// Reads `kallsyms_path` (text symbols t/T/w/W, module symbols keep their "[module]"
// name in KernelSymbol::module), and returns, sorted by address and without duplicates,
// the symbols containing one of `addresses` (start <= addr < next symbol's start; size is
// that distance). `addresses` may be unsorted and repeat. Addresses below the first
// symbol or past the last one are left out.
absl::StatusOr<std::vector<KernelSymbol>> CaptureKernelSymbols(
    std::span<const uint64_t> addresses, const std::string& kallsyms_path = "/proc/kallsyms");

// The symbol of `sorted` (sorted by address) containing `addr`, or nullptr. A symbol with
// size 0 extends to the next symbol.
const KernelSymbol* LookupKernelSymbol(std::span<const KernelSymbol> sorted, uint64_t addr);

}  // namespace wick

#endif  // WICK_KERNEL_SYMBOLS_H_
