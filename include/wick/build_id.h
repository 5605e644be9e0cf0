// Reads the GNU build-id (NT_GNU_BUILD_ID) of an ELF file, the key under which wick stores
// user frames (build-id, file offset) so they survive ASLR and can be symbolized elsewhere.
//
// The file is mapped read-only and parsed with ByteReader: every header, segment and note
// size is bounds-checked, nothing in the file is trusted. PT_NOTE segments are searched
// first, then SHT_NOTE sections (for files whose notes are not in a loadable segment).
// Errors: NotFound when the ELF has no build-id note, InvalidArgument when the file is not a
// (well-formed) ELF, the errno status naming the path when it cannot be opened. Thread-safe.
#ifndef WICK_BUILD_ID_H_
#define WICK_BUILD_ID_H_

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace wick {

// The build-id of the ELF file at `path`, as raw bytes (usually 20 for sha1).
absl::StatusOr<std::string> ReadBuildId(const std::string& path);

// Same, for the file open at `fd` (`name` for messages).
absl::StatusOr<std::string> ReadBuildIdOfFd(int fd, std::string_view name);

// Same, from the bytes of a whole ELF file in memory (used by ReadBuildId and the fuzzer);
// `name` is used in error messages.
absl::StatusOr<std::string> ParseBuildId(std::span<const std::byte> elf, std::string_view name);

// A function of an ELF file, placed by file offset (where its code lies in the file, as
// frames are stored), for files that may be gone by report time.
struct FileSymbol {
  uint64_t offset = 0;  // file offset of the first byte of code
  uint64_t size = 0;
  std::string name;  // as in the symbol table (not demangled)
  friend bool operator==(const FileSymbol&, const FileSymbol&) = default;
};

// The functions (STT_FUNC / STT_GNU_IFUNC with a size, defined) of the ELF file in `elf`,
// from .symtab, else .dynsym, with their addresses mapped to file offsets through the
// PT_LOAD segments; sorted by offset, one per offset (of aliases, the PreferSymbolName one). Every
// size and index is bounds-checked; a corrupt table gives InvalidArgument naming `name`, none at
// all an empty vector.
absl::StatusOr<std::vector<FileSymbol>> ParseFileSymbols(std::span<const std::byte> elf,
                                                         std::string_view name);
// Same, for the file open at `fd` (mapped read-only; `name` for messages).
absl::StatusOr<std::vector<FileSymbol>> ReadFileSymbols(int fd, std::string_view name);

// One name of a function among its aliases (symbols with the same address and size, such as
// libc's malloc, __libc_malloc, __malloc and __GI___libc_malloc).
struct SymbolNameCandidate {
  std::string_view name;        // as in the symbol table ("memcpy@@GLIBC_2.14" in a .symtab)
  unsigned char binding = 0;    // STB_LOCAL, STB_GLOBAL, STB_WEAK or STB_GNU_UNIQUE
  bool hidden_version = false;  // a .dynsym entry whose version is hidden (VERSYM_HIDDEN)
};

// True when `a` is the name to show rather than `b`: the one a user would type, and perf's
// where perf's rule gives a name a user types. In order: an exported (global or weak) name
// over a local one; a current name over an old version kept for binary compatibility
// ("cfree@GLIBC_2.2.5", or a hidden .dynsym version); global over weak; fewer leading
// underscores (malloc over __libc_malloc); then, as perf does, the longer name
// (__memmove_avx_unaligned_erms over __memcpy_avx_unaligned_erms). False on a full tie: the
// caller keeps the first in table order. perf prefers a local name to a weak one and takes the
// longest before looking at versions: it says __GI___libc_write for write and
// cfree@GLIBC_2.2.5 for free, where wick says write and free.
bool PreferSymbolName(const SymbolNameCandidate& a, const SymbolNameCandidate& b);

// The first 12 bytes of an .eh_frame_hdr section (PT_GNU_EH_FRAME): version 1,
// eh_frame_ptr_enc, fde_count_enc, table_enc, eh_frame_ptr, fde_count. Its FDE count when the
// sorted search table that follows is the one linkers write, (initial_location, fde) pairs of
// datarel sdata4 (8 bytes each, relative to the header's address); nullopt for any other
// version or encoding. The unwinder and the symbolizer both search that table.
inline constexpr size_t kEhFrameHdrSize = 12;
std::optional<uint32_t> EhFrameHdrFdeCount(std::span<const std::byte, kEhFrameHdrSize> header);

// Lower-case hex of raw build-id bytes, as `readelf -n` and debuginfod print it.
std::string BuildIdToHex(std::string_view build_id);

// The name /proc/PID/maps and perf give the kernel's vDSO mapping.
inline constexpr std::string_view kVdsoPath = "[vdso]";

// A readable file holding this process's own vDSO image (a memfd as "/proc/self/fd/N",
// created on first use and kept open for the process's lifetime); "" when there is none.
// Every 64-bit process on one kernel maps the same vDSO, so wick unwinds through and names
// other processes' [vdso] code from its own copy (checked by build-id). Thread-safe.
const std::string& OwnVdsoFile();
// The build-id of OwnVdsoFile()'s image, raw bytes ("" when none).
const std::string& OwnVdsoBuildId();

}  // namespace wick

#endif  // WICK_BUILD_ID_H_
