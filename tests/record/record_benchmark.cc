// Throughput of the read path: synthetic SAMPLE records with a 10-30 frame callchain read
// through RingBuffer::Next + ParseRecord + Consume, as a session's reader loop does.
#include <linux/perf_event.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "benchmark/benchmark.h"
#include "wick/record.h"
#include "wick/ring_buffer.h"

namespace wick {
namespace {

constexpr size_t kPage = 4096;

void BM_ReadAndParseSamples(benchmark::State& state) {
  const size_t data_size = static_cast<size_t>(state.range(0)) * kPage;
  auto* mem = static_cast<std::byte*>(std::aligned_alloc(kPage, kPage + data_size));
  std::memset(mem, 0, kPage + data_size);
  auto* meta = reinterpret_cast<perf_event_mmap_page*>(mem);
  std::byte* data = mem + kPage;
  SampleFormat fmt{PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_CPU |
                       PERF_SAMPLE_PERIOD | PERF_SAMPLE_CALLCHAIN,
                   0, true, 0};

  // Pre-build records with 10..30 frames (kernel marker, 3 kernel frames, user marker, rest).
  std::vector<std::vector<uint64_t>> records;
  for (uint64_t frames = 10; frames <= 30; ++frames) {
    std::vector<uint64_t> w;
    w.push_back(0);  // header
    w.push_back(0x401000 + frames);
    w.push_back((uint64_t{1234} << 32) | 1234);
    w.push_back(1000000 * frames);
    w.push_back(1);
    w.push_back(1000000);
    w.push_back(frames + 2);
    w.push_back(kContextKernel);
    for (int i = 0; i < 3; ++i) w.push_back(0xffffffff81000000 + i);
    w.push_back(kContextUser);
    for (uint64_t i = 3; i < frames; ++i) w.push_back(0x400000 + 16 * i);
    perf_event_header h{PERF_RECORD_SAMPLE, PERF_RECORD_MISC_USER,
                        static_cast<uint16_t>(w.size() * 8)};
    std::memcpy(w.data(), &h, sizeof(h));
    records.push_back(std::move(w));
  }

  RingBuffer ring(meta, data, data_size);
  uint64_t head = 0;
  size_t next = 0;
  int64_t items = 0, bytes = 0;
  uint64_t frames_seen = 0;
  ParsedRecord r;
  for (auto _ : state) {
    // Producer: fill the free space, as the kernel would between two wakeups.
    state.PauseTiming();
    for (;;) {
      const auto& w = records[next];
      size_t size = w.size() * 8;
      if (data_size - (head - meta->data_tail) < size) break;
      const auto* src = reinterpret_cast<const std::byte*>(w.data());
      for (size_t i = 0; i < size; i += 8) {
        std::memcpy(data + ((head + i) & (data_size - 1)), src + i, 8);
      }
      head += size;
      next = (next + 1) % records.size();
    }
    __atomic_store_n(&meta->data_head, head, __ATOMIC_RELEASE);
    state.ResumeTiming();

    for (auto rec = ring.Next(); !rec.empty(); rec = ring.Next()) {
      if (!ParseRecord(rec, fmt, &r).ok()) state.SkipWithError("parse failed");
      frames_seen += r.sample.callchain.size();
      ++items;
      bytes += static_cast<int64_t>(rec.size());
    }
    ring.Consume();
  }
  benchmark::DoNotOptimize(frames_seen);
  state.SetItemsProcessed(items);
  state.SetBytesProcessed(bytes);
  std::free(mem);
}
BENCHMARK(BM_ReadAndParseSamples)->Arg(8)->Arg(128);

}  // namespace
}  // namespace wick
