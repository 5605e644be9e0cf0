// Fuzzes the ELF note parser behind ReadBuildId: any bytes must give a status, never a read
// outside the input. Seeds: the fixture binaries linked by tests/process/CMakeLists.txt.
#include <cstddef>
#include <cstdint>
#include <span>

#include "wick/build_id.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto bytes = std::as_bytes(std::span<const uint8_t>(data, size));
  absl::StatusOr<std::string> id = wick::ParseBuildId(bytes, "fuzz");
  if (id.ok() && id->empty()) __builtin_trap();  // an empty note is never returned
  return 0;
}
