// Fuzzes the tracepoint format parser and the raw-payload decoder: the input is a format
// file, a NUL byte, then a raw payload. Decoding must never read outside the payload (ASan),
// and decoded values must format.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>

#include "wick/trace_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string_view text = input.substr(0, nul);
  std::span<const std::byte> raw;
  if (nul != std::string_view::npos) {
    raw = std::span<const std::byte>(reinterpret_cast<const std::byte*>(data) + nul + 1,
                                     size - nul - 1);
  }
  absl::StatusOr<wick::TraceFormat> format = wick::TraceFormat::Parse(text);
  if (!format.ok()) return 0;
  for (const wick::TraceField& f : format->fields) {
    if (f.offset > 0xffff || f.size > 0xffff) std::abort();
  }
  for (bool common : {false, true}) {
    absl::StatusOr<std::vector<wick::TraceValue>> values =
        wick::DecodeTraceFields(*format, raw, common);
    if (!values.ok()) continue;
    if (!values->empty() && wick::FormatTraceText(*values).empty()) std::abort();
    if (wick::FormatTraceJson(*values).front() != '{') std::abort();
  }
  return 0;
}
