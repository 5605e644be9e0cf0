// Report-time symbolization of user frames: (build-id, path, file offset) -> function name.
//
// A Symbolizer finds the binary (symfs + path, then the path itself, accepted only when its
// build-id equals the recorded one; then <debug_dir>/.build-id/xx/rest.debug; "[vdso]" is
// this process's own vDSO when the build-ids match, see OwnVdsoFile), opens it once
// with libdwfl (only when its cache entry lacks the offset), maps the file offset through the
// PT_LOAD headers to an address and names it from .symtab/.dynsym (demangled; of aliases, the name
// PreferSymbolName picks). An address without a symbol is placed in its function by the binary's
// .eh_frame (FDE start), so a stripped function is still one function. Every binary is opened once
// and every distinct (binary, offset) is resolved once; results are cached for the Symbolizer's
// lifetime and, with SymbolizerOptions::cache_dir, on disk across runs (a write failure costs only
// speed). Not thread-safe. An address nobody can name is data, not an error: the result carries an
// empty name and a reason, and stats() counts it.
#ifndef WICK_SYMBOLIZER_H_
#define WICK_SYMBOLIZER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "wick/build_id.h"
#include "wick/stats.h"

namespace wick {

enum class SymbolizeReason : uint8_t {
  kOk = 0,
  kNoFile,           // no readable ELF file at symfs+path, path, or the debug dirs
  kBuildIdMismatch,  // a file exists at the path but its build-id differs from the recorded one
  kBadOffset,        // the offset lies in no PT_LOAD segment of the file
  kNoSymbol,         // the file has no symbol covering the address
};

// Short lowercase name of a reason ("no file", "build-id mismatch", ...).
std::string_view SymbolizeReasonName(SymbolizeReason reason);

// One (possibly inlined) function at an address.
struct SymbolFrame {
  std::string function;  // demangled
  std::string file;      // source file, empty when unknown
  uint32_t line = 0;     // 0 when unknown
};

struct SymbolizedAddress {
  std::string function;          // outermost (symbol table) function, demangled; empty if unknown
  uint64_t function_offset = 0;  // address - function start
  uint64_t address = 0;          // link-time virtual address (0 when the offset was not mapped)
  // Functions inlined at this address, leaf (innermost) first, not including `function`;
  // empty when none or when there is no debug info.
  std::vector<SymbolFrame> inlined;
  // Source position in `function` itself: the address's line-table row when nothing is
  // inlined there, else the call site of the outermost inlined frame. Empty/0 without
  // DWARF line info.
  std::string file;
  uint32_t line = 0;
  // The function's other names (symbols at the same address and size, such as __libc_malloc
  // for malloc), in symbol-table order; not C++ ones, which demangle to `function` or alike.
  std::vector<std::string> aliases;
  // No symbol names the address, but an FDE of the binary's .eh_frame covers it: the file
  // offset of that function's first byte (function_offset counts from there). known() stays
  // false and reason is kNoSymbol; every address of the function has the same start.
  bool unnamed_function = false;
  uint64_t function_file_offset = 0;
  SymbolizeReason reason = SymbolizeReason::kOk;

  bool known() const { return !function.empty(); }
};

struct SymbolizerOptions {
  // Searched for <dir>/.build-id/xx/rest.debug when the path is missing or differs, and for
  // the .gnu_debuglink file of a stripped binary as <dir>/<binary's dir>/<debuglink> (after
  // the binary's own directory and its .debug/ subdirectory), as gdb does.
  std::vector<std::string> debug_dirs = {"/usr/lib/debug"};
  // Root prefixed to recorded paths first (like perf --symfs); empty = none. When set,
  // <symfs>/usr/lib/debug is searched after debug_dirs.
  std::string symfs;
  // Read DWARF for inlined frames and source lines. Off, names come from the symbol tables
  // alone: `report --no-inline` without --lines skips decompressing a large library's debug
  // info (libc6-dbg's: ~70 ms, most of a small report's time).
  bool debug_info = true;
  // Directory of the on-disk symbol cache (see src/symbolizer/symbol_cache.h): results of
  // binaries found on disk are read from it and written back when the Symbolizer is
  // destroyed. Empty = no cache (the default here; the CLI passes DefaultCacheDir()/symbols).
  std::string cache_dir;
};

// Where wick keeps what it can compute again (symbol names, the kernel image's symbols):
// $WICK_CACHE_DIR, else $XDG_CACHE_HOME/wick, else $HOME/.cache/wick; empty (no caching) when
// WICK_CACHE_DIR is set to "" or none of them is set.
std::string DefaultCacheDir();

// A binary whose file on disk was not used because its build-id differs from the recorded
// one (and no file with the right build-id was found elsewhere).
struct BuildIdMismatch {
  std::string recorded_path;  // the path in the recording
  std::string file;           // the file examined (symfs + path, or the path)
  std::string expected_hex;   // recorded build-id, lowercase hex
  std::string found_hex;      // the file's build-id, lowercase hex ("" when it has none)
};

// Distinct addresses of one binary that got no name.
struct UnsymbolizedBinary {
  std::string path;        // recorded path
  std::string build_id;    // raw bytes
  uint64_t addresses = 0;  // distinct file offsets without a name
  // Why: the binary's failure (no file / build-id mismatch) or, when the file was read,
  // kNoSymbol (also used when some offsets were kBadOffset).
  SymbolizeReason reason = SymbolizeReason::kOk;
  // The distinct functions (.eh_frame FDE starts) those addresses lie in, where they do.
  uint64_t unnamed_functions = 0;
};

class Symbolizer {
 public:
  explicit Symbolizer(SymbolizerOptions options = {});
  ~Symbolizer();
  Symbolizer(const Symbolizer&) = delete;
  Symbolizer& operator=(const Symbolizer&) = delete;

  // `build_id` is raw bytes as in RecordedBinary::build_id (empty = accept the file at
  // `path` unchecked). The reference stays valid for the Symbolizer's lifetime.
  const SymbolizedAddress& SymbolizeFile(std::string_view build_id, std::string_view path,
                                         uint64_t file_offset);

  // Functions of the binary (build_id, path) read while recording, from the file mapped
  // then (Recording::binary_symbols): used when no file with that build-id is found now
  // (replaced or deleted on disk), sorted by offset.
  void AddFileSymbols(std::string_view build_id, std::string_view path,
                      std::vector<FileSymbol> symbols);

  // kUnsymbolizedFrames: distinct (binary, offset) pairs without a name;
  // kBuildIdMismatch: binaries whose file on disk had another build-id.
  const Stats& stats() const { return stats_; }
  // Distinct (binary, offset) pairs named from the cache rather than from the binary.
  uint64_t cache_hits() const { return cache_hits_; }

  // One entry per binary that could not be used because of a build-id mismatch, in the order
  // they were met. For a line like "wick report: /usr/bin/foo has build-id X, the recording
  // needs Y; not used (pass --symfs or --debug-dir)".
  const std::vector<BuildIdMismatch>& mismatches() const;
  // Binaries with at least one unnamed address so far, most addresses first (ties by path).
  std::vector<UnsymbolizedBinary> UnsymbolizedByBinary() const;

 private:
  struct Impl;
  SymbolizerOptions options_;
  Stats stats_;
  uint64_t cache_hits_ = 0;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wick

#endif  // WICK_SYMBOLIZER_H_
