// Feeds arbitrary bytes to ParseRecording: it must never crash, hang or over-allocate, and
// what it returns must be safe to index the way `wick report` does.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "wick/recording.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto rec = wick::ParseRecording(
      std::as_bytes(std::span(reinterpret_cast<const char*>(data), size)), "fuzz");
  if (!rec.ok()) return 0;
  uint64_t samples = 0;
  for (const wick::RecordedStack& s : rec->stacks) {
    if (s.comm >= rec->comms.size()) std::abort();
    for (const wick::Frame& f : s.frames) {
      if (f.kind == wick::FrameKind::kUserFile && f.binary >= rec->binaries.size()) std::abort();
      if (f.kind != wick::FrameKind::kUserFile && f.kind != wick::FrameKind::kKernel &&
          f.kind != wick::FrameKind::kUserRaw) {
        std::abort();
      }
    }
    samples += s.count;
  }
  for (size_t i = 1; i < rec->kernel_symbols.size(); ++i) {
    if (rec->kernel_symbols[i - 1].address > rec->kernel_symbols[i].address) std::abort();
  }
  if (rec->complete == !rec->truncation_note.empty()) std::abort();
  static volatile uint64_t sink;
  sink = samples;  // the sum touches every count
  return 0;
}
