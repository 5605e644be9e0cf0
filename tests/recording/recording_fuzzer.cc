// Feeds arbitrary bytes to ParseRecording: it must never crash, hang or over-allocate, and
// what it returns must be safe to index the way `wick report` does. Each input is parsed
// twice: as is (exercising the framing and checksum path), and with every chunk's crc32
// recomputed, since libFuzzer cannot guess checksums and would otherwise never reach the
// payload parsers.
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>

#include "wick/recording.h"

namespace {

volatile uint64_t g_sink;  // the sample sum goes here so every count is touched

// Rewrites the crc32 of each chunk (layout in man/wick-data.5) so it matches.
void FixChecksums(std::string& b) {
  if (b.size() < 16) return;
  uint32_t header_size = 0;
  std::memcpy(&header_size, b.data() + 12, 4);
  size_t pos = header_size;
  while (pos <= b.size() && b.size() - pos >= 16) {
    uint32_t type = 0;
    uint64_t size = 0;
    std::memcpy(&type, b.data() + pos, 4);
    std::memcpy(&size, b.data() + pos + 8, 8);
    if (size > b.size() - pos - 16) return;
    uLong crc = crc32_z(0, nullptr, 0);
    crc = crc32_z(crc, reinterpret_cast<const Bytef*>(&type), 4);
    crc = crc32_z(crc, reinterpret_cast<const Bytef*>(&size), 8);
    crc = crc32_z(crc, reinterpret_cast<const Bytef*>(b.data() + pos + 16), size);
    const uint32_t crc32_value = static_cast<uint32_t>(crc);
    std::memcpy(b.data() + pos + 4, &crc32_value, 4);
    pos += 16 + size;
  }
}

void Check(std::string_view bytes) {
  auto rec = wick::ParseRecording(std::as_bytes(std::span(bytes.data(), bytes.size())), "fuzz");
  if (!rec.ok()) return;
  uint64_t samples = 0;
  for (const wick::RecordedStack& s : rec->stacks) {
    if (s.comm >= rec->comms.size()) std::abort();
    // Event 0 is every stack's in a file without event types (older writers).
    if (s.event != 0 && s.event >= rec->event_types.size()) std::abort();
    for (const wick::Frame& f : s.frames) {
      if (f.kind == wick::FrameKind::kUserFile && f.binary >= rec->binaries.size()) std::abort();
      if (f.kind != wick::FrameKind::kUserFile && f.kind != wick::FrameKind::kKernel &&
          f.kind != wick::FrameKind::kUserRaw && f.kind != wick::FrameKind::kOffCpu) {
        std::abort();
      }
    }
    samples += s.count;
  }
  for (size_t i = 1; i < rec->kernel_symbols.size(); ++i) {
    if (rec->kernel_symbols[i - 1].address > rec->kernel_symbols[i].address) std::abort();
  }
  for (size_t i = 0; i < rec->event_types.size(); ++i) {
    if (rec->event_types[i].id != i) std::abort();
  }
  for (size_t i = 0; i < rec->trace_samples.size(); ++i) {
    const wick::RecordedTraceSample& t = rec->trace_samples[i];
    if (t.event_type >= rec->event_types.size() || t.comm >= rec->comms.size()) std::abort();
    if (t.stack != wick::kNoStack && t.stack >= rec->stacks.size()) std::abort();
    if (i > 0 && rec->trace_samples[i - 1].time > t.time) std::abort();
    samples += t.raw.size();
  }
  if (rec->complete == !rec->truncation_note.empty()) std::abort();
  g_sink = samples;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  Check(bytes);
  FixChecksums(bytes);
  Check(bytes);
  return 0;
}
