// libFuzzer target for both ring readers over arbitrary ring contents. Input: u64 data_head,
// u64 data_tail, u8 size selector (data area of 8 << (sel % 10) bytes), then the data area
// (zero-padded). Whatever the bytes, the readers must hand out only whole records that lie
// within what the ring holds, and stop.
#include <linux/perf_event.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "wick/ring_buffer.h"

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

// The header's size field must match the span handed out.
void CheckRecord(std::span<const std::byte> rec, size_t data_size) {
  Check(rec.size() >= sizeof(perf_event_header) && rec.size() <= data_size);
  perf_event_header h;
  std::memcpy(&h, rec.data(), sizeof(h));
  Check(h.size == rec.size() && h.size % 8 == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 17) return 0;
  uint64_t head, tail;
  std::memcpy(&head, data, 8);
  std::memcpy(&tail, data + 8, 8);
  const size_t data_size = size_t{8} << (data[16] % 10);
  // Page-aligned metadata page + data area, as the kernel maps them.
  std::vector<std::byte> mem(4096 + data_size);
  auto* meta = reinterpret_cast<perf_event_mmap_page*>(mem.data());
  std::byte* area = mem.data() + 4096;
  std::memcpy(area, data + 17, std::min(size - 17, data_size));

  {
    meta->data_tail = tail;
    meta->data_head = head;
    wick::RingBuffer ring(meta, area, data_size);
    size_t bytes = 0;
    for (int batch = 0; batch < 3; ++batch) {
      for (auto rec = ring.Next(); !rec.empty(); rec = ring.Next()) {
        CheckRecord(rec, data_size);
        bytes += rec.size();
        Check(bytes <= data_size);  // never more than one ring's worth between head and tail
      }
      ring.Consume();
    }
  }
  {
    meta->data_head = head;
    wick::BackwardRing ring(meta, area, data_size);
    for (int i = 0; i < 2; ++i) {
      size_t bytes = 0;
      for (std::span<const std::byte> rec : ring.Snapshot()) {
        CheckRecord(rec, data_size);
        bytes += rec.size();
      }
      Check(bytes <= data_size);
    }
  }
  return 0;
}
