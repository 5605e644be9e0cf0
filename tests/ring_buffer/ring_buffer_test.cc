// RingBuffer against synthetic buffers laid out as the kernel lays them out: wrapping
// records, exact-boundary records, corrupt headers, and a concurrent writer that follows the
// kernel's ordering.
#include "wick/ring_buffer.h"

#include <linux/perf_event.h>
#include <sched.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "testing/testing.h"

namespace wick {
namespace {

constexpr size_t kPage = 4096;

// A page-aligned metadata page followed by a data area of `data_size` bytes; plays the
// kernel's part: writes records at data_head and publishes them with a release store.
class FakeRing {
 public:
  explicit FakeRing(size_t data_size)
      : data_size_(data_size),
        mem_(static_cast<std::byte*>(std::aligned_alloc(kPage, kPage + RoundUp(data_size)))) {
    std::memset(mem_, 0, kPage + RoundUp(data_size));
    meta()->data_offset = kPage;
    meta()->data_size = data_size;
  }
  ~FakeRing() { std::free(mem_); }

  perf_event_mmap_page* meta() { return reinterpret_cast<perf_event_mmap_page*>(mem_); }
  std::byte* data() { return mem_ + kPage; }
  size_t data_size() const { return data_size_; }
  RingBuffer MakeReader() { return RingBuffer(meta(), data(), data_size_); }

  // Writes `bytes` at the write position (wrapping) without publishing them.
  void Write(std::span<const std::byte> bytes) {
    for (std::byte b : bytes) data()[write_++ & (data_size_ - 1)] = b;
  }
  void Publish() { __atomic_store_n(&meta()->data_head, write_, __ATOMIC_RELEASE); }
  void WriteAndPublish(std::span<const std::byte> bytes) {
    Write(bytes);
    Publish();
  }
  // Overwrite mode, as perf_output_begin_backward() does it: the record goes just below
  // data_head, which moves down to its start.
  void WriteBackwardAndPublish(std::span<const std::byte> bytes) {
    write_ -= bytes.size();
    uint64_t pos = write_;
    for (std::byte b : bytes) data()[pos++ & (data_size_ - 1)] = b;
    Publish();
  }
  BackwardRing MakeBackwardReader() { return BackwardRing(meta(), data(), data_size_); }
  uint64_t tail() { return __atomic_load_n(&meta()->data_tail, __ATOMIC_ACQUIRE); }
  uint64_t write_pos() const { return write_; }
  // Moves both head and tail to `pos` (as if that much had been written and consumed).
  void StartAt(uint64_t pos) {
    write_ = pos;
    meta()->data_head = pos;
    meta()->data_tail = pos;
  }

 private:
  static size_t RoundUp(size_t n) { return (n + kPage - 1) / kPage * kPage; }
  size_t data_size_;
  std::byte* mem_;
  uint64_t write_ = 0;
};

// A record of `size` bytes (multiple of 8): header, then bytes seed, seed+1, ...
std::vector<std::byte> MakeRecord(uint32_t type, uint16_t size, uint8_t seed) {
  std::vector<std::byte> r(size);
  perf_event_header h{type, 0, size};
  std::memcpy(r.data(), &h, sizeof(h));
  for (size_t i = sizeof(h); i < size; ++i) r[i] = std::byte(seed + i);
  return r;
}

bool SameBytes(std::span<const std::byte> a, const std::vector<std::byte>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size()) == 0;
}

bool InsideData(FakeRing& fake, std::span<const std::byte> rec) {
  return rec.data() >= fake.data() && rec.data() + rec.size() <= fake.data() + fake.data_size();
}

TEST(RingBufferTest, EmptyRingReturnsNothing) {
  FakeRing fake(256);
  RingBuffer ring = fake.MakeReader();
  EXPECT_TRUE(ring.Empty());
  EXPECT_EQ(ring.Available(), 0u);
  EXPECT_TRUE(ring.Next().empty());
  ring.Consume();
  EXPECT_EQ(fake.tail(), 0u);
  EXPECT_EQ(ring.corrupt(), 0u);
}

TEST(RingBufferTest, SeveralRecordsPerBatchInPlaceAndTailOnlyOnConsume) {
  FakeRing fake(256);
  auto a = MakeRecord(PERF_RECORD_SAMPLE, 24, 1);
  auto b = MakeRecord(PERF_RECORD_MMAP2, 64, 2);
  auto c = MakeRecord(PERF_RECORD_COMM, 32, 3);
  fake.Write(a);
  fake.Write(b);
  fake.WriteAndPublish(c);
  RingBuffer ring = fake.MakeReader();
  EXPECT_EQ(ring.Available(), 120u);
  EXPECT_FALSE(ring.Empty());

  auto ra = ring.Next();
  auto rb = ring.Next();
  auto rc = ring.Next();
  EXPECT_TRUE(SameBytes(ra, a));
  EXPECT_TRUE(SameBytes(rb, b));
  EXPECT_TRUE(SameBytes(rc, c));
  EXPECT_TRUE(InsideData(fake, ra) && InsideData(fake, rb) && InsideData(fake, rc));
  EXPECT_TRUE(ring.Next().empty());
  // Nothing is given back to the kernel before Consume().
  EXPECT_EQ(fake.tail(), 0u);
  EXPECT_EQ(ring.Available(), 120u);
  ring.Consume();
  EXPECT_EQ(fake.tail(), 120u);
  EXPECT_TRUE(ring.Empty());
}

TEST(RingBufferTest, HeadIsLoadedOncePerBatch) {
  FakeRing fake(256);
  auto a = MakeRecord(PERF_RECORD_SAMPLE, 16, 1);
  auto b = MakeRecord(PERF_RECORD_SAMPLE, 16, 9);
  fake.WriteAndPublish(a);
  RingBuffer ring = fake.MakeReader();
  EXPECT_TRUE(SameBytes(ring.Next(), a));
  fake.WriteAndPublish(b);  // arrives mid-batch
  EXPECT_TRUE(ring.Next().empty());
  ring.Consume();
  EXPECT_EQ(fake.tail(), 16u);
  EXPECT_TRUE(SameBytes(ring.Next(), b));
  ring.Consume();
  EXPECT_EQ(fake.tail(), 32u);
}

TEST(RingBufferTest, PartiallyConsumedBatchKeepsTailAtConsumedPosition) {
  FakeRing fake(256);
  auto a = MakeRecord(PERF_RECORD_SAMPLE, 16, 1);
  auto b = MakeRecord(PERF_RECORD_SAMPLE, 40, 2);
  fake.Write(a);
  fake.WriteAndPublish(b);
  RingBuffer ring = fake.MakeReader();
  EXPECT_TRUE(SameBytes(ring.Next(), a));
  ring.Consume();  // only `a` was read
  EXPECT_EQ(fake.tail(), 16u);
  EXPECT_EQ(ring.Available(), 40u);
  EXPECT_TRUE(SameBytes(ring.Next(), b));
  ring.Consume();
  EXPECT_EQ(fake.tail(), 56u);
}

// A record put back is not given to the kernel and comes first in the next batch, also when
// it wrapped around the end of the data area (and was handed out as a copy).
TEST(RingBufferTest, PutBackRecordComesAgainInTheNextBatch) {
  FakeRing fake(256);
  fake.StartAt(1000 * 256 + 208);  // 48 bytes before the end of the data area
  auto a = MakeRecord(PERF_RECORD_SAMPLE, 16, 1);
  auto b = MakeRecord(PERF_RECORD_SAMPLE, 64, 2);  // wraps
  fake.Write(a);
  fake.WriteAndPublish(b);
  RingBuffer ring = fake.MakeReader();
  EXPECT_TRUE(SameBytes(ring.Next(), a));
  auto rb = ring.Next();
  EXPECT_TRUE(SameBytes(rb, b));
  ring.PutBack(rb);
  ring.Consume();
  EXPECT_EQ(fake.tail(), 1000u * 256 + 224);
  EXPECT_EQ(ring.Available(), 64u);
  EXPECT_TRUE(SameBytes(ring.Next(), b));
  EXPECT_TRUE(ring.Next().empty());
  ring.Consume();
  EXPECT_EQ(fake.tail(), 1000u * 256 + 288);
  EXPECT_EQ(ring.corrupt(), 0u);
}

TEST(RingBufferTest, WrappingRecordIsCopiedOutWholeAndInOrder) {
  FakeRing fake(256);
  fake.StartAt(1000 * 256 + 224);  // 32 bytes before the end of the data area
  auto before = MakeRecord(PERF_RECORD_SAMPLE, 16, 5);
  auto wrap = MakeRecord(PERF_RECORD_SAMPLE, 72, 100);  // 16 at the end, 56 at the start
  auto after = MakeRecord(PERF_RECORD_LOST, 24, 7);
  fake.Write(before);
  fake.Write(wrap);
  fake.WriteAndPublish(after);
  RingBuffer ring = fake.MakeReader();
  auto r1 = ring.Next();
  auto r2 = ring.Next();
  auto r3 = ring.Next();
  EXPECT_TRUE(SameBytes(r1, before));
  ASSERT_TRUE(SameBytes(r2, wrap));
  EXPECT_FALSE(InsideData(fake, r2));  // a copy
  EXPECT_EQ(reinterpret_cast<uintptr_t>(r2.data()) % 8, 0u);
  EXPECT_TRUE(SameBytes(r3, after));
  EXPECT_TRUE(InsideData(fake, r3));
  EXPECT_TRUE(ring.Next().empty());
  ring.Consume();
  EXPECT_EQ(fake.tail(), fake.write_pos());
}

TEST(RingBufferTest, HeaderSplitAcrossTheEndIsNeverNeededButDataSplitAnywhereWorks) {
  // Every start offset and size that wraps in a 64-byte ring.
  for (uint64_t start = 0; start < 64; start += 8) {
    for (uint16_t size = 8; size <= 64; size += 8) {
      FakeRing fake(64);
      fake.StartAt(start);
      auto rec = MakeRecord(PERF_RECORD_SAMPLE, size, static_cast<uint8_t>(start + size));
      fake.WriteAndPublish(rec);
      RingBuffer ring = fake.MakeReader();
      ASSERT_TRUE(SameBytes(ring.Next(), rec)) << start << " " << size;
      EXPECT_TRUE(ring.Next().empty());
      ring.Consume();
      EXPECT_EQ(fake.tail(), start + size);
      EXPECT_EQ(ring.corrupt(), 0u);
    }
  }
}

TEST(RingBufferTest, RecordEndingExactlyAtTheBoundaryIsInPlace) {
  FakeRing fake(256);
  fake.StartAt(192);
  auto edge = MakeRecord(PERF_RECORD_SAMPLE, 64, 3);  // 192..256
  auto next = MakeRecord(PERF_RECORD_SAMPLE, 32, 4);  // 0..32
  fake.Write(edge);
  fake.WriteAndPublish(next);
  RingBuffer ring = fake.MakeReader();
  auto r1 = ring.Next();
  auto r2 = ring.Next();
  EXPECT_TRUE(SameBytes(r1, edge));
  EXPECT_EQ(r1.data(), fake.data() + 192);
  EXPECT_TRUE(SameBytes(r2, next));
  EXPECT_EQ(r2.data(), fake.data());
  ring.Consume();
  EXPECT_EQ(fake.tail(), 192u + 96u);
}

TEST(RingBufferTest, LostRecordsPassThrough) {
  FakeRing fake(256);
  struct {
    perf_event_header header;
    uint64_t id;
    uint64_t lost;
  } lost = {{PERF_RECORD_LOST, 0, 24}, 77, 12345};
  fake.WriteAndPublish(std::as_bytes(std::span(&lost, 1)));
  RingBuffer ring = fake.MakeReader();
  auto rec = ring.Next();
  ASSERT_EQ(rec.size(), 24u);
  decltype(lost) got;
  std::memcpy(&got, rec.data(), sizeof(got));
  EXPECT_EQ(got.header.type, PERF_RECORD_LOST);
  EXPECT_EQ(got.id, 77u);
  EXPECT_EQ(got.lost, 12345u);
}

// A corrupt header is counted and everything up to head skipped; the reader recovers with
// the next batch.
void ExpectCorruptSkipped(uint16_t bad_size) {
  FakeRing fake(256);
  auto good = MakeRecord(PERF_RECORD_SAMPLE, 16, 1);
  auto bad = MakeRecord(PERF_RECORD_SAMPLE, 16, 2);
  perf_event_header h{PERF_RECORD_SAMPLE, 0, bad_size};
  std::memcpy(bad.data(), &h, sizeof(h));
  fake.Write(good);
  fake.Write(bad);
  fake.WriteAndPublish(good);
  RingBuffer ring = fake.MakeReader();
  EXPECT_TRUE(SameBytes(ring.Next(), good));
  EXPECT_TRUE(ring.Next().empty());
  EXPECT_EQ(ring.corrupt(), 1u);
  EXPECT_TRUE(ring.Next().empty());
  EXPECT_EQ(ring.corrupt(), 1u);
  ring.Consume();
  EXPECT_EQ(fake.tail(), 48u);
  // Recovery: later records read normally.
  auto later = MakeRecord(PERF_RECORD_COMM, 24, 9);
  fake.WriteAndPublish(later);
  EXPECT_TRUE(SameBytes(ring.Next(), later));
  ring.Consume();
  EXPECT_EQ(ring.corrupt(), 1u);
}

TEST(RingBufferTest, CorruptSizeZero) { ExpectCorruptSkipped(0); }
TEST(RingBufferTest, CorruptSizeSmallerThanHeader) { ExpectCorruptSkipped(4); }
TEST(RingBufferTest, CorruptSizeOdd) { ExpectCorruptSkipped(13); }
TEST(RingBufferTest, CorruptSizeNotMultipleOf8) { ExpectCorruptSkipped(20); }
TEST(RingBufferTest, CorruptSizeHuge) { ExpectCorruptSkipped(0xfff8); }
TEST(RingBufferTest, CorruptSizePastHead) { ExpectCorruptSkipped(40); }

TEST(RingBufferTest, HeadTooFarAheadIsCorrupt) {
  FakeRing fake(256);
  fake.meta()->data_head = 1024;  // more than the data area ahead of tail
  RingBuffer ring = fake.MakeReader();
  EXPECT_TRUE(ring.Next().empty());
  EXPECT_EQ(ring.corrupt(), 1u);
  ring.Consume();
  EXPECT_EQ(fake.tail(), 1024u);
}

TEST(RingBufferTest, HeadNotAtRecordBoundaryIsCorrupt) {
  FakeRing fake(256);
  auto rec = MakeRecord(PERF_RECORD_SAMPLE, 16, 1);
  fake.Write(rec);
  fake.meta()->data_head = 4;  // less than a header
  RingBuffer ring = fake.MakeReader();
  EXPECT_TRUE(ring.Next().empty());
  EXPECT_EQ(ring.corrupt(), 1u);
}

TEST(RingBufferTest, ReadingDoesNotAllocate) {
  FakeRing fake(256);
  RingBuffer ring = fake.MakeReader();
  auto rec = MakeRecord(PERF_RECORD_SAMPLE, 72, 1);
  testing::AllocationCounter counter;
  size_t n = 0;
  for (int i = 0; i < 100; ++i) {
    fake.WriteAndPublish(rec);  // wraps every few rounds
    for (auto r = ring.Next(); !r.empty(); r = ring.Next()) n += r.size();
    ring.Consume();
  }
  EXPECT_EQ(counter.Count(), 0u);
  EXPECT_EQ(n, 7200u);
}

TEST(MappedRingTest, RejectsSizesNotAPowerOfTwo) {
  for (size_t pages : {0, 3, 6, 1000}) {
    auto ring = MappedRing::Map(-1, pages);
    ASSERT_FALSE(ring.ok());
    EXPECT_EQ(ring.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(ring.status().message().find("power of two"), absl::string_view::npos)
        << ring.status();
  }
}

TEST(MappedRingTest, BadFdIsAnErrorNamingTheFd) {
  auto ring = MappedRing::Map(-1, 1);
  ASSERT_FALSE(ring.ok());
  EXPECT_NE(ring.status().message().find("perf fd -1"), absl::string_view::npos) << ring.status();
}

// The kernel's side, concurrently: a writer that never overwrites unconsumed bytes and
// publishes each record with a release store of data_head, against a reader checking a
// sequence number and checksum in every record.
TEST(RingBufferTest, ConcurrentWriterAndReader) {
  constexpr uint64_t kRecords = 2'000'000;
  FakeRing fake(4096);
  perf_event_mmap_page* meta = fake.meta();
  std::byte* data = fake.data();
  const uint64_t size = fake.data_size();

  std::atomic<bool> stop{false};
  std::thread writer([&] {
    uint64_t head = 0;
    uint64_t words[40];
    for (uint64_t seq = 0; seq < kRecords && !stop.load(std::memory_order_relaxed); ++seq) {
      uint64_t payload = seq % 29;  // 0..28 words between seq and checksum
      uint16_t rec_size = static_cast<uint16_t>(8 * (3 + payload));
      perf_event_header h{PERF_RECORD_SAMPLE, static_cast<uint16_t>(payload), rec_size};
      std::memcpy(&words[0], &h, 8);
      words[1] = seq;
      uint64_t sum = seq;
      for (uint64_t i = 0; i < payload; ++i) {
        words[2 + i] = seq * 0x9E3779B97F4A7C15ull + i;
        sum = sum * 31 + words[2 + i];
      }
      words[2 + payload] = sum;
      // As perf_output_begin: acquire-read data_tail, wait for room.
      while (size - (head - __atomic_load_n(&meta->data_tail, __ATOMIC_ACQUIRE)) < rec_size) {
        if (stop.load(std::memory_order_relaxed)) return;
        sched_yield();
      }
      const std::byte* src = reinterpret_cast<const std::byte*>(words);
      for (uint64_t i = 0; i < rec_size; i += 8) {
        std::memcpy(data + ((head + i) & (size - 1)), src + i, 8);
      }
      head += rec_size;
      // As perf_output_put_handle: smp_wmb() then data_head.
      __atomic_store_n(&meta->data_head, head, __ATOMIC_RELEASE);
    }
  });

  RingBuffer ring = fake.MakeReader();
  uint64_t expected = 0;
  bool bad = false;
  while (expected < kRecords && !bad) {
    bool any = false;
    for (auto rec = ring.Next(); !rec.empty(); rec = ring.Next()) {
      any = true;
      perf_event_header h;
      std::memcpy(&h, rec.data(), 8);
      uint64_t payload = h.misc;
      uint64_t seq, sum_got;
      std::memcpy(&seq, rec.data() + 8, 8);
      std::memcpy(&sum_got, rec.data() + 16 + 8 * payload, 8);
      uint64_t sum = seq;
      for (uint64_t i = 0; i < payload; ++i) {
        uint64_t w;
        std::memcpy(&w, rec.data() + 16 + 8 * i, 8);
        sum = sum * 31 + w;
      }
      if (seq != expected || h.size != 8 * (3 + payload) || sum != sum_got || payload != seq % 29) {
        bad = true;
        ADD_FAILURE() << "record " << expected << ": seq " << seq << " size " << h.size;
        break;
      }
      ++expected;
    }
    ring.Consume();
    if (!any) sched_yield();
  }
  stop.store(true, std::memory_order_relaxed);
  writer.join();
  EXPECT_EQ(expected, kRecords);
  EXPECT_EQ(ring.corrupt(), 0u);
}

// --- overwrite (backward) mode ---

TEST(BackwardRingTest, NothingWrittenIsEmpty) {
  FakeRing fake(256);
  BackwardRing ring = fake.MakeBackwardReader();
  EXPECT_TRUE(ring.Snapshot().empty());
  EXPECT_EQ(ring.corrupt(), 0u);
}

TEST(BackwardRingTest, NotYetFullGivesEveryRecordNewestFirst) {
  FakeRing fake(256);
  BackwardRing ring = fake.MakeBackwardReader();
  std::vector<std::vector<std::byte>> written;
  for (uint8_t i = 0; i < 3; ++i) {
    written.push_back(MakeRecord(PERF_RECORD_SAMPLE, uint16_t(16 + 8 * i), i));
    fake.WriteBackwardAndPublish(written.back());
  }
  const auto& records = ring.Snapshot();
  ASSERT_EQ(records.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(SameBytes(records[i], written[2 - i])) << i;
  // A snapshot is a copy: the kernel may write on once output resumes.
  EXPECT_FALSE(InsideData(fake, records[0]));
  EXPECT_FALSE(ring.wrapped());
}

// Written many times over: only the newest whole records that fit one data area come back,
// including one that straddles the end of the area; the oldest, half overwritten, does not.
TEST(BackwardRingTest, FullRingGivesTheNewestWholeRecords) {
  constexpr size_t kSize = 512;
  for (uint64_t start : {uint64_t{0}, uint64_t{24}, uint64_t{0} - 40}) {
    FakeRing fake(kSize);
    fake.StartAt(start);
    BackwardRing ring = fake.MakeBackwardReader();
    std::vector<std::vector<std::byte>> written;
    for (int i = 0; i < 100; ++i) {
      written.push_back(MakeRecord(PERF_RECORD_SAMPLE, uint16_t(24 + 8 * (i % 7)), uint8_t(i)));
      fake.WriteBackwardAndPublish(written.back());
    }
    size_t expect = 0, bytes = 0;
    for (auto it = written.rbegin(); it != written.rend() && bytes + it->size() <= kSize; ++it) {
      bytes += it->size();
      ++expect;
    }
    const auto& records = ring.Snapshot();
    ASSERT_EQ(records.size(), expect) << "start " << start;
    for (size_t i = 0; i < expect; ++i) {
      EXPECT_TRUE(SameBytes(records[i], written[written.size() - 1 - i])) << i;
    }
    EXPECT_EQ(ring.corrupt(), 0u);
    EXPECT_TRUE(ring.wrapped());
  }
}

// Exactly one data area written: full, but nothing lost.
TEST(BackwardRingTest, ExactlyFullIsNotWrapped) {
  FakeRing fake(256);
  BackwardRing ring = fake.MakeBackwardReader();
  for (uint8_t i = 0; i < 8; ++i)
    fake.WriteBackwardAndPublish(MakeRecord(PERF_RECORD_SAMPLE, 32, i));
  EXPECT_EQ(ring.Snapshot().size(), 8u);
  EXPECT_FALSE(ring.wrapped());
  fake.WriteBackwardAndPublish(MakeRecord(PERF_RECORD_SAMPLE, 32, 9));
  EXPECT_EQ(ring.Snapshot().size(), 8u);
  EXPECT_TRUE(ring.wrapped());
}

TEST(BackwardRingTest, CorruptHeaderEndsTheSnapshotAndIsCounted) {
  FakeRing fake(256);
  auto first = MakeRecord(PERF_RECORD_SAMPLE, 32, 1);
  fake.WriteBackwardAndPublish(first);
  auto bad = MakeRecord(PERF_RECORD_SAMPLE, 24, 2);
  bad[6] = std::byte{13};  // header.size = 13
  fake.WriteBackwardAndPublish(bad);
  auto newest = MakeRecord(PERF_RECORD_SAMPLE, 16, 3);
  fake.WriteBackwardAndPublish(newest);
  BackwardRing ring = fake.MakeBackwardReader();
  const auto& records = ring.Snapshot();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_TRUE(SameBytes(records[0], newest));
  EXPECT_EQ(ring.corrupt(), 1u);
}

}  // namespace
}  // namespace wick
