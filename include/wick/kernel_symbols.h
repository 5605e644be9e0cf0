// Kernel symbols for a recording: captured from /proc/kallsyms by `wick record` as it flushes.
//
// Only the symbols that contain one of the recorded kernel addresses are kept, so a
// recording carries what its stacks need and nothing of the other ~200k symbols; report
// time names kernel frames from Recording::kernel_symbols alone (the machine may differ).
// Plain functions, no state; thread-safe. Errors: NotFound/PermissionDenied naming the
// kallsyms path; FailedPrecondition when kallsyms hides addresses (kptr_restrict).
#ifndef WICK_KERNEL_SYMBOLS_H_
#define WICK_KERNEL_SYMBOLS_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "wick/read_file.h"
#include "wick/recording.h"

namespace wick {

// /proc/kallsyms read once: its text symbols (t/T/w/W; a module's symbols keep their
// "[module]" name in KernelSymbol::module) sorted by address, one per address (a global over
// a local alias). For a recording session that names the kernel frames of each flush: ~120k
// entries plus the file's text, ~10 MB. Not thread-safe to Load, safe to Lookup.
class KallsymsTable {
 public:
  static absl::StatusOr<KallsymsTable> Load(const std::string& kallsyms_path = "/proc/kallsyms");

  // Load through a copy, in `cache_dir`, of the symbols of the kernel image itself (those
  // without a module), which do not change while the machine is up: the kernel formats all
  // 5 MB of kallsyms text at every read (~30 ms of CPU), the copy is read in about 1 ms. The
  // copy is made by the first load of each boot (per kallsyms path, and for a regular file
  // only while the file is unchanged); an address outside the image's range (a module, BPF,
  // a trampoline) makes the first Lookup that sees one load kallsyms whole. Such a table's
  // Lookup is then not thread-safe. Empty `cache_dir`: Load.
  static absl::StatusOr<KallsymsTable> LoadCached(const std::string& kallsyms_path,
                                                  const std::string& cache_dir);

  // Sorted by address and without duplicates: the symbols containing one of `addresses`
  // (start <= addr < next symbol's start; size is that distance). `addresses` may be
  // unsorted and repeat. Addresses below the first symbol or past the last one are left out.
  std::vector<KernelSymbol> Lookup(std::span<const uint64_t> addresses) const;
  size_t size() const { return entries_.size(); }
  // Read from LoadCached's copy, and whether kallsyms itself has been loaded since.
  bool from_cache() const { return !fallback_path_.empty(); }
  bool loaded_whole() const { return fallback_path_.empty() || full_ != nullptr; }

 private:
  static std::vector<KernelSymbol> LookupIn(const KallsymsTable& table,
                                            std::span<const uint64_t> addresses);
  std::string CacheBytes() const;

  struct Entry {
    uint64_t address;
    uint32_t name_offset, name_size;  // in text_
    uint32_t module_offset, module_size;
    bool global;  // T/W: preferred over a local alias at the same address
  };
  FileBytes text_;
  std::vector<Entry> entries_;
  // A table read from the cache covers [entries_.front().address, end_) only; other
  // addresses are looked up in the whole kallsyms at fallback_path_, loaded on first need.
  std::string fallback_path_;
  uint64_t end_ = 0;
  mutable std::shared_ptr<const KallsymsTable> full_;
};

// KallsymsTable::Load(kallsyms_path).Lookup(addresses): for a one-time capture.
absl::StatusOr<std::vector<KernelSymbol>> CaptureKernelSymbols(
    std::span<const uint64_t> addresses, const std::string& kallsyms_path = "/proc/kallsyms");

// This boot's id (/proc/sys/kernel/random/boot_id), "" when unreadable. A recording keeps
// it, so that a report on the same boot may name kernel frames the recording lacks.
std::string ThisBootId();

// When `rec` was recorded on this boot (its meta.boot_id is ThisBootId()), adds from
// `kallsyms_path` the symbols of its kernel frames that it lacks: those of a recording cut
// short by kill -9 after its last flush. Returns how many were added (0 on another boot).
absl::StatusOr<size_t> AddMissingKernelSymbolsOfThisBoot(
    Recording* rec, const std::string& kallsyms_path = "/proc/kallsyms");

// The symbol of `sorted` (sorted by address) containing `addr`, or nullptr. A symbol with
// size 0 extends to the next symbol.
const KernelSymbol* LookupKernelSymbol(std::span<const KernelSymbol> sorted, uint64_t addr);

}  // namespace wick

#endif  // WICK_KERNEL_SYMBOLS_H_
