// Fuzzes the ELF parsers behind ReadBuildId and ReadFileSymbols: any bytes must give a
// status, never a read outside the input. Seeds: the fixture binaries linked by
// tests/process/CMakeLists.txt.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "wick/build_id.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto bytes = std::as_bytes(std::span<const uint8_t>(data, size));
  absl::StatusOr<std::string> id = wick::ParseBuildId(bytes, "fuzz");
  if (id.ok() && id->empty()) __builtin_trap();  // an empty note is never returned
  // Functions of a mapped file that was replaced on disk: read from whatever it holds.
  absl::StatusOr<std::vector<wick::FileSymbol>> symbols = wick::ParseFileSymbols(bytes, "fuzz");
  if (symbols.ok()) {
    for (size_t i = 0; i < symbols->size(); ++i) {
      const wick::FileSymbol& s = (*symbols)[i];
      if (s.size == 0 || s.name.empty() || s.offset >= size) __builtin_trap();
      if (i > 0 && (*symbols)[i - 1].offset >= s.offset) __builtin_trap();  // sorted, unique
    }
  }
  return 0;
}
