// Paths of the known-answer workload binaries and small ELF helpers for tests: where a
// function's code is in the file (for hand-built frames) and a file's build-id.
// Test-only; errors name the path.
#ifndef WICK_TESTS_WORKLOADS_WORKLOADS_H_
#define WICK_TESTS_WORKLOADS_WORKLOADS_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace wick::workloads {

// known_tree.c built with frame pointers, -O1 -fno-inline, build-id.
std::string KnownTreePath();
// The same without frame pointers.
std::string KnownTreeNoFpPath();
// known_tree_cc.cc (namespaced/template functions) with frame pointers.
std::string KnownTreeCcPath();
// known_tree_inline.c: main -> outer with burn() inlined into it.
std::string KnownTreeInlinePath();
// inline_pair.c: main -> outer with hot_a (2/3 of the time) and hot_b (1/3) inlined, -O2.
std::string InlinePairPath();
// noreturn_call.c: main -> ends_with_call, whose last instruction calls spin_then_exit.
std::string NoreturnCallPath();
// known_tree_fp stripped, with a .gnu_debuglink to known_tree_fp.debug beside it.
std::string KnownTreeStrippedPath();
// known_tree.c built -O2 -fomit-frame-pointer (DWARF unwinding only).
std::string KnownTreeO2NoFpPath();
// known_tree_fp and known_tree_o2_nofp with every symbol stripped and no debug link (their
// .eh_frame kept): the unstripped files say where each function is.
std::string KnownTreeFpNoSymsPath();
std::string KnownTreeO2NoFpNoSymsPath();
// libc_hot.c: malloc, free, realloc, memcpy and memmove in a loop (names compared with perf's).
std::string LibcHotPath();
// known_tree.c with frame pointers but without unwind tables (.eh_frame) for its code.
std::string KnownTreeFpNoEhPath();
// known_tree.c without frame pointers, its unwind tables only in .debug_frame (no .eh_frame).
std::string KnownTreeDebugFramePath();
// known_tree.c without frame pointers, linked -no-pie (ET_EXEC, at its link address).
std::string KnownTreeNoPiePath();
// unwind_target.c (deep recursion, qsort comparator, dlopen modes), -O2 without frame pointers.
std::string UnwindTargetPath();
// The shared library unwind_target's dlopen mode loads (plugin_work, plugin_leaf).
std::string UnwindPluginPath();
// many_tasks.c: N threads or a storm of N processes, each burning MS ms of its own CPU time.
std::string ManyTasksPath();

struct ElfSymbol {
  std::string name;
  uint64_t value = 0;  // link-time virtual address
  uint64_t size = 0;
  uint64_t file_offset = 0;  // where value lies in the file (through PT_LOAD)
};

// Looks `name` up in .symtab, then .dynsym (first match, exact name).
absl::StatusOr<ElfSymbol> FindElfSymbol(const std::string& path, std::string_view name);
// The same without placing it in the file (file_offset 0): for debug files, whose segments
// hold no bytes.
absl::StatusOr<ElfSymbol> FindElfSymbolUnplaced(const std::string& path, std::string_view name);
// The file offset of the section `name` (".plt").
absl::StatusOr<uint64_t> FindSectionOffset(const std::string& path, std::string_view name);
// The path of the shared library `soname` ("libc.so.6") this process has loaded; "" when none.
// (Not dladdr() of one of its functions: sanitizers redirect those to interceptors.)
std::string LoadedLibraryPath(const char* soname);
// The first function symbol whose name contains `part` (e.g. to find a mangled name).
absl::StatusOr<ElfSymbol> FindElfSymbolContaining(const std::string& path, std::string_view part);
// NT_GNU_BUILD_ID bytes (raw, usually 20).
absl::StatusOr<std::string> ReadElfBuildId(const std::string& path);

}  // namespace wick::workloads

#endif  // WICK_TESTS_WORKLOADS_WORKLOADS_H_
