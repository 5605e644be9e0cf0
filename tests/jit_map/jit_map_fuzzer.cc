// Fuzzes the perf-PID.map parser: the file sits in a world-writable directory and any user can
// write one for their own process, so its text is hostile input. Checks the invariants the
// symbolizer relies on: every symbol non-empty and inside the address space, every non-empty
// line either a symbol or counted as bad, parsing what it printed gives the same symbols back,
// and lookups in the sorted table only answer with a symbol that holds the address.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_format.h"
#include "wick/jit_map.h"

namespace {

constexpr uint32_t kPid = 4242;

size_t NonEmptyLines(std::string_view text) {
  size_t n = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    if (nl != 0) ++n;
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
  }
  return n;
}

bool Same(const wick::JitSymbol& a, const wick::JitSymbol& b) {
  return a.pid == b.pid && a.start == b.start && a.size == b.size && a.name == b.name;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  uint64_t bad = 0;
  std::vector<wick::JitSymbol> symbols = wick::ParsePerfMap(text, kPid, &bad);
  if (symbols.size() + bad != NonEmptyLines(text)) std::abort();

  std::string printed;
  for (const wick::JitSymbol& s : symbols) {
    if (s.pid != kPid || s.size == 0 || s.start + s.size < s.start) std::abort();
    if (s.name.empty() || s.name.find('\n') != std::string::npos) std::abort();
    if (s.name.front() == ' ' || s.name.front() == '\t') std::abort();
    // "\r\n": the parser takes one '\r' off a line's end, so a name ending in '\r' survives.
    absl::StrAppendFormat(&printed, "%x %x %s\r\n", s.start, s.size, s.name);
  }
  uint64_t bad_again = 0;
  const std::vector<wick::JitSymbol> again = wick::ParsePerfMap(printed, kPid, &bad_again);
  if (bad_again != 0 || again.size() != symbols.size()) std::abort();
  for (size_t i = 0; i < again.size(); ++i) {
    if (!Same(again[i], symbols[i])) std::abort();
  }

  wick::SortJitSymbols(&symbols);
  for (size_t i = 1; i < symbols.size(); ++i) {
    if (symbols[i - 1].start >= symbols[i].start) std::abort();  // sorted, one per start
  }
  for (const wick::JitSymbol& s : symbols) {
    // A start is held by its own symbol at least, and the nearest start wins.
    const wick::JitSymbol* at_start = wick::LookupJitSymbol(symbols, kPid, s.start);
    if (at_start == nullptr || at_start->start != s.start) std::abort();
    for (uint64_t addr : {s.start + s.size - 1, s.start + s.size, s.start - 1}) {
      const wick::JitSymbol* found = wick::LookupJitSymbol(symbols, kPid, addr);
      if (found != nullptr && addr - found->start >= found->size) std::abort();
    }
    if (wick::LookupJitSymbol(symbols, kPid + 1, s.start) != nullptr) std::abort();
  }
  return 0;
}
