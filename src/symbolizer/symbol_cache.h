// On-disk cache of a Symbolizer's results, one file per binary: what each file offset of it
// was named (function, inlined frames, lines, aliases), so a later run names the same
// addresses without reading the binary's symbol tables or inflating its DWARF (libc6-dbg's
// compressed debug info is most of a small report's CPU).
//
// A build-id alone is not a safe key: a stripped copy of a binary keeps its build-id, and a
// debug package installed later changes what an address is called. So an entry is named by
// build-id plus a hash of the file read and the options, and it holds the identity (device,
// inode, size, mtime) of every file its names came from, or the absence of one that could
// have supplied names (a debug file by build-id). An entry is used only when all of them are
// unchanged; anything else, a missing, stale, truncated or foreign file included, is a miss.
// Saving writes a temporary file and renames it, so concurrent runs never read half a file.
// Errors are never fatal: a cache that cannot be read or written just costs the lookup again.
#ifndef WICK_SRC_SYMBOLIZER_SYMBOL_CACHE_H_
#define WICK_SRC_SYMBOLIZER_SYMBOL_CACHE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "wick/symbolizer.h"

namespace wick {

// "path\tdev\tino\tsize\tmtime_ns" of the file at `path`, or "path\tabsent" when there is none.
std::string FileIdentity(const std::string& path);

// FNV-1a of `bytes` from `seed`: stable across runs and builds, unlike absl::Hash (seeded per
// process), so it can name cache files.
uint64_t StableHash(std::string_view bytes, uint64_t seed = 14695981039346656037ull);

// Writes `bytes` to <dir>/<name> through a temporary file renamed over it, creating `dir`
// (and its parents) if needed. False on any error, with nothing left behind.
bool WriteCacheFile(const std::string& dir, const std::string& name, std::string_view bytes);

// A copy of the debug file open at `fd` (read from `path`) with its compressed sections
// (SHF_COMPRESSED: zlib in Debian's -dbg packages) stored inflated, under <dir>/, made on the
// first call: elfutils inflates every compressed .debug_* section each time it opens a file
// (~12 MB for libc6-dbg's libc), and reads an inflated copy in place through its mapping.
// The copy is named by the original's identity (FileIdentity), so a changed file gets a new
// copy. Empty when the file has nothing compressed or the copy cannot be made.
std::string InflatedDebugCopy(const std::string& dir, int fd, const std::string& path);

class SymbolCacheEntry {
 public:
  // `dir` holds the entries; `name` is EntryName()'s.
  SymbolCacheEntry(std::string dir, std::string name);

  // <hex build-id>-<hash of file and fingerprint>: the binary read and everything in the
  // options that changes names (debug dirs, symfs, whether DWARF is read).
  static std::string EntryName(std::string_view build_id, std::string_view file,
                               std::string_view fingerprint);

  // Reads the entry. Its results are returned only when every file identity it holds still
  // matches the disk and `required` (identities the caller computed now: the binary, the
  // debug-file candidates) are all among them; otherwise an empty map. The verified
  // identities are kept for Save.
  absl::flat_hash_map<uint64_t, SymbolizedAddress> Load(const std::vector<std::string>& required);

  // Writes `results` under the identities Load verified plus `identities`. False on an I/O
  // error (the entry is then left as it was).
  bool Save(const std::vector<std::string>& identities,
            const absl::flat_hash_map<uint64_t, const SymbolizedAddress*>& results);

 private:
  std::string dir_;
  std::string name_;
  std::vector<std::string> verified_;
};

}  // namespace wick

#endif  // WICK_SRC_SYMBOLIZER_SYMBOL_CACHE_H_
