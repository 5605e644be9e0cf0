#include "wick/symbolizer.h"

#include <cxxabi.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <gelf.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "eh_frame_functions.h"
#include "symbol_cache.h"
#include "symbol_table.h"
#include "wick/build_id.h"
#include "wick/status.h"

namespace wick {
namespace {

// The build-id of the ELF file at `path` (empty when it has none). False when the file is
// missing or not a readable ELF file.
bool FileBuildId(const std::string& path, std::string* build_id) {
  if (access(path.c_str(), R_OK) != 0) return false;
  absl::StatusOr<std::string> id = ReadBuildId(path);
  if (id.ok()) {
    *build_id = std::move(*id);
    return true;
  }
  if (absl::IsNotFound(id.status())) {
    build_id->clear();
    return true;
  }
  return false;
}

std::string Demangle(const char* name) {
  if (name == nullptr) return {};
  if (name[0] == '_' && name[1] == 'Z') {
    int status = 0;
    char* demangled = abi::__cxa_demangle(name, nullptr, nullptr, &status);
    if (status == 0 && demangled != nullptr) {
      std::string out(demangled);
      std::free(demangled);
      return out;
    }
    std::free(demangled);
  }
  return name;
}

// <dir>/.build-id/xx/rest.debug: where a debug dir holds the debug file of `build_id` (raw).
std::string BuildIdDebugPath(std::string_view dir, std::string_view build_id) {
  const std::string hex = absl::BytesToHexString(Sv(build_id));
  return absl::StrCat(Sv(dir), "/.build-id/", hex.substr(0, 2), "/", hex.substr(2), ".debug");
}

// The key of a recorded binary: build-id, NUL, path.
std::string BinaryKey(std::string_view build_id, std::string_view path) {
  return absl::StrCat(Sv(build_id), absl::string_view("\0", 1), Sv(path));
}

// One binary (one build-id + path), opened once. All lookups of a binary that could not be
// opened return `failure`.
struct Binary {
  std::string build_id;  // as recorded
  std::string path;      // as recorded
  std::string file;      // the file found for it (empty when none)
  SymbolizeReason failure = SymbolizeReason::kOk;
  bool opened = false;  // libdwfl opened `file` (on the first offset the cache did not have)
  // The on-disk cache entry, its results not yet asked for, the identities it was checked
  // against, and whether this run named offsets it did not have.
  std::optional<SymbolCacheEntry> cache;
  absl::flat_hash_map<uint64_t, SymbolizedAddress> cached;
  std::vector<std::string> identities;
  bool cache_dirty = false;
  uint64_t unknown = 0;  // distinct offsets without a name
  Dwfl* dwfl = nullptr;
  Dwfl_Module* module = nullptr;
  GElf_Addr bias = 0;
  std::vector<GElf_Phdr> loads;
  std::optional<SymbolTable> symbols;  // built on the first lookup
  // Functions of .eh_frame, for addresses without a symbol; opened on the first such address.
  std::optional<EhFrameFunctions> eh_frame;
  absl::flat_hash_set<uint64_t> unnamed_functions;  // file offsets of their starts
  // Compile units by address range, for files without .debug_aranges (clang's default),
  // where libdwfl cannot find the unit of an address. Built on first need, once.
  struct CuRange {
    Dwarf_Addr low, high;  // [low, high) in DWARF addresses
    Dwarf_Off offset;      // of the unit's DIE
  };
  bool cu_ranges_built = false;
  std::vector<CuRange> cu_ranges;
  // Node-based: SymbolizeFile hands out references that must survive rehashing.
  std::unordered_map<uint64_t, SymbolizedAddress> results;

  Binary() = default;
  Binary(const Binary&) = delete;
  Binary& operator=(const Binary&) = delete;
  ~Binary() {
    if (dwfl != nullptr) dwfl_end(dwfl);
  }
};

// Reads the name of an inlined-subroutine DIE, following DW_AT_abstract_origin.
std::string InlinedName(Dwarf_Die* die) {
  Dwarf_Attribute attr;
  for (int name_attr : {DW_AT_linkage_name, DW_AT_MIPS_linkage_name, DW_AT_name}) {
    if (dwarf_attr_integrate(die, name_attr, &attr) != nullptr) {
      const char* s = dwarf_formstring(&attr);
      if (s != nullptr) return Demangle(s);
    }
  }
  return {};
}

// The compile unit holding `addr` (a module address) when libdwfl cannot say: it finds
// units only through .debug_aranges, which clang does not write by default. Scans the units'
// ranges once per binary.
Dwarf_Die* FindCuByRanges(Binary& binary, Dwarf_Addr addr, Dwarf_Die* storage,
                          Dwarf_Addr* dwarf_bias) {
  Dwarf* dwarf = dwfl_module_getdwarf(binary.module, dwarf_bias);
  if (dwarf == nullptr) return nullptr;
  if (!binary.cu_ranges_built) {
    binary.cu_ranges_built = true;
    Dwarf_Off offset = 0;
    Dwarf_Off next = 0;
    size_t header_size = 0;
    while (dwarf_nextcu(dwarf, offset, &next, &header_size, nullptr, nullptr, nullptr) == 0) {
      Dwarf_Die cu;
      if (dwarf_offdie(dwarf, offset + header_size, &cu) != nullptr) {
        Dwarf_Addr base = 0, low = 0, high = 0;
        for (ptrdiff_t it = 0; (it = dwarf_ranges(&cu, it, &base, &low, &high)) > 0;) {
          if (low < high) binary.cu_ranges.push_back({low, high, dwarf_dieoffset(&cu)});
        }
      }
      offset = next;
    }
    std::sort(binary.cu_ranges.begin(), binary.cu_ranges.end(),
              [](const Binary::CuRange& a, const Binary::CuRange& b) { return a.low < b.low; });
  }
  const Dwarf_Addr dwarf_addr = addr - *dwarf_bias;
  auto it =
      std::upper_bound(binary.cu_ranges.begin(), binary.cu_ranges.end(), dwarf_addr,
                       [](Dwarf_Addr a, const Binary::CuRange& range) { return a < range.low; });
  // Ranges of different units do not overlap in sane DWARF; look back a few in case they do.
  for (int back = 0; back < 4 && it != binary.cu_ranges.begin(); ++back) {
    --it;
    if (dwarf_addr >= it->low && dwarf_addr < it->high) {
      return dwarf_offdie(dwarf, it->offset, storage);
    }
  }
  return nullptr;
}

// Fills `out->inlined` (leaf first) from the DWARF scopes at `addr`, and `out->file`/`line`
// with the outermost function's own position, if there is DWARF.
void AddInlinedFrames(Binary& binary, Dwarf_Addr addr, SymbolizedAddress* out) {
  Dwfl_Module* module = binary.module;
  Dwarf_Addr dwarf_bias = 0;
  Dwarf_Die cu_storage;
  Dwarf_Die* cudie = dwfl_module_addrdie(module, addr, &dwarf_bias);
  const bool by_aranges = cudie != nullptr;
  if (!by_aranges) cudie = FindCuByRanges(binary, addr, &cu_storage, &dwarf_bias);
  // The leaf's position is the line table's; each outer frame's is its callee's call site.
  std::string file;
  int line = 0;
  if (by_aranges) {
    if (Dwfl_Line* l = dwfl_module_getsrc(module, addr)) {
      const char* f = dwfl_lineinfo(l, nullptr, &line, nullptr, nullptr, nullptr);
      if (f != nullptr) file = f;
    }
  } else if (cudie != nullptr) {
    if (Dwarf_Line* l = dwarf_getsrc_die(cudie, addr - dwarf_bias)) {
      const char* f = dwarf_linesrc(l, nullptr, nullptr);
      if (f != nullptr) file = f;
      if (dwarf_lineno(l, &line) != 0) line = 0;
    }
  }
  // Whatever is left after walking the inlined scopes (outward) is the symbol function's.
  auto finish = [&] {
    out->file = std::move(file);
    out->line = line > 0 ? static_cast<uint32_t>(line) : 0;
  };
  if (cudie == nullptr) return finish();
  Dwarf_Die* scopes = nullptr;
  const int n = dwarf_getscopes(cudie, addr - dwarf_bias, &scopes);
  if (n <= 0) return finish();
  Dwarf_Files* files = nullptr;
  size_t nfiles = 0;
  if (dwarf_getsrcfiles(cudie, &files, &nfiles) != 0) files = nullptr;

  for (int i = 0; i < n; ++i) {
    Dwarf_Die* die = &scopes[i];
    const int tag = dwarf_tag(die);
    if (tag == DW_TAG_subprogram) break;  // the outermost function: SymbolizedAddress::function
    if (tag != DW_TAG_inlined_subroutine) continue;
    SymbolFrame frame;
    frame.function = InlinedName(die);
    frame.file = file;
    frame.line = line > 0 ? static_cast<uint32_t>(line) : 0;
    out->inlined.push_back(std::move(frame));
    // Where this inlined call sits in its caller.
    file.clear();
    line = 0;
    Dwarf_Attribute attr;
    Dwarf_Word value = 0;
    if (files != nullptr && dwarf_attr(die, DW_AT_call_file, &attr) != nullptr &&
        dwarf_formudata(&attr, &value) == 0) {
      const char* f = dwarf_filesrc(files, value, nullptr, nullptr);
      if (f != nullptr) file = f;
    }
    if (dwarf_attr(die, DW_AT_call_line, &attr) != nullptr && dwarf_formudata(&attr, &value) == 0) {
      line = static_cast<int>(value);
    }
  }
  std::free(scopes);
  finish();
}

}  // namespace

std::string_view SymbolizeReasonName(SymbolizeReason reason) {
  switch (reason) {
    case SymbolizeReason::kOk:
      return "ok";
    case SymbolizeReason::kNoFile:
      return "no file";
    case SymbolizeReason::kBuildIdMismatch:
      return "build-id mismatch";
    case SymbolizeReason::kBadOffset:
      return "offset outside the file's segments";
    case SymbolizeReason::kNoSymbol:
      return "no symbol";
  }
  return "unknown";
}

struct Symbolizer::Impl {
  // libdwfl keeps pointers to the callbacks and to the search path: both live here.
  std::string debuginfo_path;
  char* debuginfo_path_ptr = nullptr;
  Dwfl_Callbacks callbacks{};
  absl::flat_hash_map<std::string, std::unique_ptr<Binary>> binaries;
  std::vector<std::string> debug_dirs;  // options' plus <symfs>/usr/lib/debug
  std::vector<BuildIdMismatch> mismatches;
  // AddFileSymbols(): by build-id + NUL + path, sorted by offset.
  absl::flat_hash_map<std::string, std::vector<FileSymbol>> file_symbols;
  // Where inflated copies of compressed debug files go (InflatedDebugCopy); empty = none.
  std::string inflated_dir;

  // A binary's debug file: by build-id in the debug dirs first, as its inflated copy in the
  // cache when it has compressed sections (libdw then reads DWARF in place instead of
  // inflating it at every open); else libdwfl's own search (.gnu_debuglink). Not through
  // libdwfl for the build-id file: it would keep its own handle on the original.
  static int FindDebuginfo(Dwfl_Module* module, void** userdata, const char* name, Dwarf_Addr base,
                           const char* file_name, const char* debuglink, GElf_Word crc,
                           char** debuginfo_file_name) {
    const Impl* impl = static_cast<const Impl*>(*userdata);
    // Once the module's DWARF is open, a call is the search for its dwz file
    // (.gnu_debugaltlink), which is libdwfl's to answer: not the module's own debug file.
    Dwarf_Addr dwbias = 0;
    dwfl_module_info(module, nullptr, nullptr, nullptr, &dwbias, nullptr, nullptr, nullptr);
    const bool alt = dwbias != static_cast<Dwarf_Addr>(-1);
    const unsigned char* bits = nullptr;
    GElf_Addr vaddr = 0;
    const int id_size = impl != nullptr && !alt ? dwfl_module_build_id(module, &bits, &vaddr) : 0;
    if (id_size >= 2) {
      const std::string build_id(reinterpret_cast<const char*>(bits), size_t(id_size));
      std::string found_id;
      for (const std::string& dir : impl->debug_dirs) {
        std::string path = BuildIdDebugPath(dir, build_id);
        if (!FileBuildId(path, &found_id) || found_id != build_id) continue;
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        const std::string copy = InflatedDebugCopy(impl->inflated_dir, fd, path);
        // A copy is used only when it is whole: an ELF file with the same build-id.
        const int copy_fd = copy.empty() || !FileBuildId(copy, &found_id) || found_id != build_id
                                ? -1
                                : ::open(copy.c_str(), O_RDONLY | O_CLOEXEC);
        if (copy_fd >= 0) {
          ::close(fd);
          path = copy;
        }
        *debuginfo_file_name = strdup(path.c_str());
        return copy_fd >= 0 ? copy_fd : fd;
      }
    }
    return dwfl_standard_find_debuginfo(module, userdata, name, base, file_name, debuglink, crc,
                                        debuginfo_file_name);
  }

  // Opens binary.file with libdwfl and reads its PT_LOAD headers.
  void Open(Binary& binary) {
    binary.opened = true;
    binary.dwfl = dwfl_begin(&callbacks);
    if (binary.dwfl != nullptr) {
      binary.module =
          dwfl_report_offline(binary.dwfl, binary.path.c_str(), binary.file.c_str(), -1);
      dwfl_report_end(binary.dwfl, nullptr, nullptr);
    }
    // The module's user data is how FindDebuginfo finds the cache directory.
    void** userdata = nullptr;
    if (binary.module != nullptr && !inflated_dir.empty() &&
        dwfl_module_info(binary.module, &userdata, nullptr, nullptr, nullptr, nullptr, nullptr,
                         nullptr) != nullptr) {
      *userdata = this;
    }
    Elf* elf = binary.module != nullptr ? dwfl_module_getelf(binary.module, &binary.bias) : nullptr;
    size_t phnum = 0;
    if (elf == nullptr || elf_getphdrnum(elf, &phnum) != 0) {
      binary.failure = SymbolizeReason::kNoFile;
      return;
    }
    for (size_t i = 0; i < phnum; ++i) {
      GElf_Phdr ph;
      if (gelf_getphdr(elf, static_cast<int>(i), &ph) != nullptr && ph.p_type == PT_LOAD) {
        binary.loads.push_back(ph);
      }
    }
  }

  // What the names of a binary depend on besides its files: a cache entry made with other
  // options is another entry.
  // The version changes with how names are made (demangling, the choice among aliases).
  static std::string Fingerprint(const SymbolizerOptions& options) {
    const char* debuginfod = std::getenv("DEBUGINFOD_URLS");
    return absl::StrCat("version=1\ndebug_info=", options.debug_info, "\nsymfs=", options.symfs,
                        "\ndebug_dirs=", absl::StrJoin(options.debug_dirs, "\t"),
                        "\ndebuginfod=", debuginfod != nullptr ? debuginfod : "");
  }

  // Reads binary's cache entry: valid only while the file itself and every debug file that
  // could name it by build-id are as they were.
  void LoadCache(Binary& binary, const SymbolizerOptions& options) {
    binary.identities.push_back(FileIdentity(binary.file));
    for (const std::string& dir : debug_dirs) {
      binary.identities.push_back(FileIdentity(BuildIdDebugPath(dir, binary.build_id)));
    }
    binary.cache.emplace(
        options.cache_dir,
        SymbolCacheEntry::EntryName(binary.build_id, binary.file, Fingerprint(options)));
    binary.cached = binary.cache->Load(binary.identities);
  }

  // Writes back the entries of binaries that named offsets their entry did not have.
  void SaveCaches() {
    for (auto& [key, binary] : binaries) {
      if (!binary->cache_dirty || binary->failure != SymbolizeReason::kOk) continue;
      std::vector<std::string> identities = binary->identities;
      // The debug file libdwfl used, wherever it found it (a .gnu_debuglink target too).
      const char* debug_file = nullptr;
      if (binary->module != nullptr) {
        dwfl_module_info(binary->module, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                         &debug_file);
      }
      if (debug_file != nullptr) identities.push_back(FileIdentity(debug_file));
      absl::flat_hash_map<uint64_t, const SymbolizedAddress*> all;
      for (const auto& [offset, address] : binary->cached) all[offset] = &address;
      for (const auto& [offset, address] : binary->results) all[offset] = &address;
      binary->cache->Save(identities, all);
    }
  }
};

void Symbolizer::AddFileSymbols(std::string_view build_id, std::string_view path,
                                std::vector<FileSymbol> symbols) {
  impl_->file_symbols[BinaryKey(build_id, path)] = std::move(symbols);
}

Symbolizer::Symbolizer(SymbolizerOptions options)
    : options_(std::move(options)), impl_(std::make_unique<Impl>()) {
  impl_->debug_dirs = options_.debug_dirs;
  if (!options_.symfs.empty()) impl_->debug_dirs.push_back(options_.symfs + "/usr/lib/debug");
  // "" = the file's own directory, ".debug" beside it (for .gnu_debuglink), then the debug
  // dirs: libdwfl searches an absolute entry for .build-id/xx/rest.debug and for the
  // debuglink name under <entry>/<the binary's directory>/ (as gdb does). A leading '-'
  // skips the CRC check of debuglink targets, which would read every debug file whole;
  // libdwfl still rejects a debug file whose build-id differs from the binary's.
  impl_->debuginfo_path = absl::StrCat("-:.debug:", absl::StrJoin(impl_->debug_dirs, ":"));
  impl_->debuginfo_path_ptr = impl_->debuginfo_path.data();
  impl_->callbacks.find_elf = dwfl_build_id_find_elf;
  impl_->callbacks.find_debuginfo = &Impl::FindDebuginfo;
  if (!options_.cache_dir.empty()) impl_->inflated_dir = options_.cache_dir + "/inflated";
  impl_->callbacks.section_address = dwfl_offline_section_address;
  impl_->callbacks.debuginfo_path = &impl_->debuginfo_path_ptr;
}

Symbolizer::~Symbolizer() { impl_->SaveCaches(); }

std::string DefaultCacheDir() {
  if (const char* dir = std::getenv("WICK_CACHE_DIR")) return dir;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg == '/') {
    return absl::StrCat(xdg, "/wick");
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && *home == '/') {
    return absl::StrCat(home, "/.cache/wick");
  }
  return {};
}

namespace {

// Picks the file to read for (build_id, path): symfs+path, path, then the debug dirs'
// build-id links. Fills *mismatch (file empty when none) with the first file at the path
// that had another build-id.
std::string FindFile(const SymbolizerOptions& options, const std::vector<std::string>& debug_dirs,
                     std::string_view build_id, std::string_view path, BuildIdMismatch* mismatch) {
  if (path == kVdsoPath) {
    // No file on disk: this process's own vDSO, when it is the recorded one.
    if (OwnVdsoFile().empty() || (!build_id.empty() && build_id != OwnVdsoBuildId())) return {};
    return OwnVdsoFile();
  }
  std::vector<std::string> candidates;
  if (!path.empty() && path.front() == '/') {
    if (!options.symfs.empty()) candidates.push_back(absl::StrCat(options.symfs, Sv(path)));
    candidates.emplace_back(path);
  }
  std::string file_id;
  for (const std::string& candidate : candidates) {
    if (!FileBuildId(candidate, &file_id)) continue;
    if (build_id.empty() || file_id == build_id) return candidate;
    if (mismatch->file.empty()) {
      mismatch->file = candidate;
      mismatch->found_hex = absl::BytesToHexString(file_id);
    }
  }
  if (build_id.size() >= 2) {
    for (const std::string& dir : debug_dirs) {
      std::string debug_path = BuildIdDebugPath(dir, build_id);
      if (FileBuildId(debug_path, &file_id) && file_id == build_id) return debug_path;
    }
  }
  return {};
}

}  // namespace

const SymbolizedAddress& Symbolizer::SymbolizeFile(std::string_view build_id, std::string_view path,
                                                   uint64_t file_offset) {
  const std::string key = BinaryKey(build_id, path);
  std::unique_ptr<Binary>& slot = impl_->binaries[key];
  if (slot == nullptr) {
    slot = std::make_unique<Binary>();
    slot->build_id.assign(build_id);
    slot->path.assign(path);
    BuildIdMismatch mismatch;
    const std::string file = FindFile(options_, impl_->debug_dirs, build_id, path, &mismatch);
    const bool mismatched = !mismatch.file.empty();
    if (mismatched) stats_.Add(Stat::kBuildIdMismatch);
    if (file.empty()) {
      slot->failure = mismatched ? SymbolizeReason::kBuildIdMismatch : SymbolizeReason::kNoFile;
      if (mismatched) {
        // Said once per binary, and only when it cost names: a right file found elsewhere
        // (a debug dir) makes the stale one at the path harmless.
        mismatch.recorded_path.assign(path);
        mismatch.expected_hex = absl::BytesToHexString(Sv(build_id));
        impl_->mismatches.push_back(std::move(mismatch));
      }
    } else {
      slot->file = file;
      if (!options_.cache_dir.empty() && !build_id.empty() && path != kVdsoPath) {
        impl_->LoadCache(*slot, options_);
      }
    }
  }
  Binary& binary = *slot;

  auto [it, inserted] = binary.results.try_emplace(file_offset);
  SymbolizedAddress& result = it->second;
  if (!inserted) return result;

  if (auto hit = binary.cached.find(file_offset); hit != binary.cached.end()) {
    result = std::move(hit->second);
    binary.cached.erase(hit);
    ++cache_hits_;
    if (result.unnamed_function) binary.unnamed_functions.insert(result.function_file_offset);
  } else {
    if (binary.failure == SymbolizeReason::kOk && !binary.opened) impl_->Open(binary);
    if (binary.cache) binary.cache_dirty = true;
    result.reason = binary.failure;
    if (result.reason != SymbolizeReason::kOk) {
      // No usable file: the functions wick read from the mapped file while recording (it was
      // replaced or deleted on disk), when it did.
      auto captured = impl_->file_symbols.find(key);
      if (captured != impl_->file_symbols.end()) {
        const std::vector<FileSymbol>& symbols = captured->second;
        auto after = std::upper_bound(
            symbols.begin(), symbols.end(), file_offset,
            [](uint64_t offset, const FileSymbol& s) { return offset < s.offset; });
        if (after != symbols.begin() && file_offset - (after - 1)->offset < (after - 1)->size) {
          result.function = Demangle((after - 1)->name.c_str());
          result.function_offset = file_offset - (after - 1)->offset;
          result.reason = SymbolizeReason::kOk;
        }
      }
    } else {
      const GElf_Phdr* segment = nullptr;
      for (const GElf_Phdr& ph : binary.loads) {
        if (file_offset >= ph.p_offset && file_offset - ph.p_offset < ph.p_filesz) {
          segment = &ph;
          break;
        }
      }
      if (segment == nullptr) {
        result.reason = SymbolizeReason::kBadOffset;
      } else {
        result.address = file_offset - segment->p_offset + segment->p_vaddr;
        const GElf_Addr addr = result.address + binary.bias;
        if (!binary.symbols) binary.symbols = SymbolTable::Build(binary.module);
        const SymbolTable::Hit hit = binary.symbols->Lookup(addr);
        // No symbol: the function .eh_frame places the address in (stripping keeps it).
        std::optional<uint64_t> fde_start;
        if (hit.name == nullptr) {
          if (!binary.eh_frame) binary.eh_frame = EhFrameFunctions::Open(binary.module);
          fde_start = binary.eh_frame->FunctionStart(result.address);
        }
        if (fde_start) {
          result.reason = SymbolizeReason::kNoSymbol;
          result.unnamed_function = true;
          result.function_offset = result.address - *fde_start;
          result.function_file_offset = file_offset - result.function_offset;
          binary.unnamed_functions.insert(result.function_file_offset);
        } else if (hit.name == nullptr) {
          result.reason = SymbolizeReason::kNoSymbol;
        } else {
          result.function = Demangle(hit.name);
          result.function_offset = hit.offset;
          // C++ aliases (complete and base constructors, ...) demangle to one name: only the
          // others are names a user could type instead.
          for (const char* alias : hit.aliases) {
            if (alias[0] != '_' || alias[1] != 'Z') result.aliases.emplace_back(alias);
          }
          if (options_.debug_info) AddInlinedFrames(binary, addr, &result);
        }
      }
    }
  }
  if (!result.known()) {
    stats_.Add(Stat::kUnsymbolizedFrames);
    ++binary.unknown;
  }
  return result;
}

const std::vector<BuildIdMismatch>& Symbolizer::mismatches() const { return impl_->mismatches; }

std::vector<UnsymbolizedBinary> Symbolizer::UnsymbolizedByBinary() const {
  std::vector<UnsymbolizedBinary> out;
  for (const auto& [key, binary] : impl_->binaries) {
    if (binary->unknown == 0) continue;
    out.push_back(
        {binary->path, binary->build_id, binary->unknown,
         binary->failure != SymbolizeReason::kOk ? binary->failure : SymbolizeReason::kNoSymbol,
         binary->unnamed_functions.size()});
  }
  std::sort(out.begin(), out.end(), [](const UnsymbolizedBinary& a, const UnsymbolizedBinary& b) {
    if (a.addresses != b.addresses) return a.addresses > b.addresses;
    return std::tie(a.path, a.build_id) < std::tie(b.path, b.build_id);
  });
  return out;
}

}  // namespace wick
