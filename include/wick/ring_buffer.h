// Readers of one perf_event ring buffer (the mmap of a perf fd): RingBuffer in forward mode,
// BackwardRing in overwrite mode (below).
//
// RingBuffer is a non-owning view over the kernel's layout: a metadata page
// (perf_event_mmap_page) then a data area of a power-of-two size. It owns the head/tail
// protocol: Next() acquire-loads data_head once per batch and hands out whole records (a record
// that wraps past the end of the data area is copied into a buffer allocated in the
// constructor, so reading never allocates); Consume() release-stores data_tail, giving the
// bytes back to the kernel. Records returned by Next() stay valid until Consume().
// MappedRing owns the mmap of a perf fd and the RingBuffer over it. Neither is thread-safe:
// one thread reads one ring. A corrupt header is data, not an error: it is counted in
// corrupt() and the rest of the batch is skipped.
#ifndef WICK_RING_BUFFER_H_
#define WICK_RING_BUFFER_H_

#include <linux/perf_event.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "wick/scoped.h"

namespace wick {

class RingBuffer {
 public:
  // A record's size is a u16, so one copy buffer of 64 KiB (+8 for slack) holds any record.
  static constexpr size_t kCopyBufferSize = 64 * 1024 + 8;

  // `data_size` must be a power of two and at least 8 bytes (the kernel uses 2^n pages; tests
  // may use less). Reading starts at the current meta->data_tail. Allocates the copy buffer.
  RingBuffer(perf_event_mmap_page* meta, std::byte* data, size_t data_size);
  RingBuffer(const RingBuffer&) = delete;
  RingBuffer& operator=(const RingBuffer&) = delete;

  // The next whole record (perf_event_header included), or an empty span when the batch is
  // done. The first call after Consume() (or construction) loads data_head; later calls
  // return records up to that head only. 8-byte aligned; valid until Consume().
  std::span<const std::byte> Next();

  // Gives everything returned by Next() so far back to the kernel (stores data_tail) and
  // ends the batch, so the next Next() sees new records.
  void Consume();

  // Un-reads `record`, the last one Next() returned: the next batch starts with it again and
  // Consume() does not give it back. For a reader that must wait for other rings before it
  // can handle the record.
  void PutBack(std::span<const std::byte> record);

  // Bytes between data_tail (as last stored by Consume) and the kernel's current data_head.
  size_t Available() const;
  bool Empty() const { return Available() == 0; }

  // Number of corrupt headers seen (each one made the reader skip to data_head).
  uint64_t corrupt() const { return corrupt_; }

  perf_event_mmap_page* meta() const { return meta_; }
  size_t data_size() const { return data_size_; }

 private:
  void CopyOut(uint64_t pos, size_t len, std::byte* dst) const;

  perf_event_mmap_page* meta_;
  std::byte* data_;
  size_t data_size_;
  uint64_t mask_;
  uint64_t tail_;      // value last stored into data_tail
  uint64_t read_ = 0;  // position of the next record (>= tail_)
  uint64_t head_ = 0;  // data_head as loaded at the start of this batch
  bool batch_open_ = false;
  uint64_t corrupt_ = 0;
  std::unique_ptr<std::byte[]> copy_;  // kCopyBufferSize bytes, 8-byte aligned
};

// Reader of a ring in overwrite mode, the flight recorder: events opened with
// attr.write_backward and the ring mapped read-only. The kernel writes each record just below
// the previous one and moves data_head down (it counts down from 0, wrapping as a u64); once
// the data area is full it overwrites the oldest records, and no data_tail is ever stored.
// Snapshot() must run while nothing writes (the events disabled, or the ring's output paused
// with PERF_EVENT_IOC_PAUSE_OUTPUT): it copies out every whole record from data_head up to
// one data area's worth. A header of a size no kernel writes ends the snapshot and is counted
// in corrupt().
class BackwardRing {
 public:
  // `data_size`: a power of two, at least 8. Allocates a copy area of that size.
  BackwardRing(const perf_event_mmap_page* meta, const std::byte* data, size_t data_size);
  BackwardRing(const BackwardRing&) = delete;
  BackwardRing& operator=(const BackwardRing&) = delete;

  // The records the ring holds, newest first, each whole and 8-byte aligned; valid until the
  // next Snapshot(). Records the kernel overwrote in part are not included.
  const std::vector<std::span<const std::byte>>& Snapshot();

  uint64_t corrupt() const { return corrupt_; }
  // Whether the kernel wrote more than the last snapshot holds: older records were lost to
  // newer ones (or past a corrupt header). False: the snapshot holds everything ever written.
  bool wrapped() const { return wrapped_; }
  const perf_event_mmap_page* meta() const { return meta_; }

 private:
  const perf_event_mmap_page* meta_;
  const std::byte* data_;
  size_t data_size_;
  std::unique_ptr<std::byte[]> copy_;  // data_size_ bytes
  std::vector<std::span<const std::byte>> records_;
  uint64_t corrupt_ = 0;
  bool wrapped_ = false;
};

// The one rule for a ring's size (-m): a power of two number of data pages, 1 to
// kMaxRingPages. InvalidArgument naming -m and the rule otherwise.
inline constexpr uint64_t kMaxRingPages = uint64_t{1} << 20;
inline constexpr char kRingPagesRule[] =
    "the ring buffer size must be a power of two number of pages, from 1 to 1048576 (1, 2, 4, "
    "..., 128, ...)";
absl::Status CheckRingPages(uint64_t data_pages);

enum class RingMode {
  kForward,    // read-write mapping: the reader gives bytes back through data_tail
  kOverwrite,  // read-only mapping of write_backward events: see BackwardRing
};

// Owns the shared mapping of a perf fd's ring buffer (1 metadata page + data pages).
class MappedRing {
 public:
  // Maps (1 + data_pages) pages of `perf_fd`, shared: read-write for kForward, read-only for
  // kOverwrite (which is what tells the kernel to overwrite). data_pages must be a power of
  // two >= 1. Errors: InvalidArgument for a bad size; mmap errno in words, with the
  // perf_event_mlock_kb hint for EPERM/ENOMEM.
  static absl::StatusOr<MappedRing> Map(int perf_fd, size_t data_pages,
                                        RingMode mode = RingMode::kForward);

  MappedRing(MappedRing&&) noexcept = default;
  MappedRing& operator=(MappedRing&&) noexcept = default;

  // The reader of a kForward ring (must not be called on a kOverwrite one), and of a
  // kOverwrite ring (must not be called on a kForward one).
  RingBuffer& ring() { return *ring_; }
  const RingBuffer& ring() const { return *ring_; }
  BackwardRing& backward() { return *backward_; }
  perf_event_mmap_page* meta() const { return meta_; }

 private:
  MappedRing(ScopedMmap mapping, perf_event_mmap_page* meta, std::unique_ptr<RingBuffer> ring,
             std::unique_ptr<BackwardRing> backward)
      : mapping_(std::move(mapping)),
        meta_(meta),
        ring_(std::move(ring)),
        backward_(std::move(backward)) {}

  // Declared in this order so the readers (pointing into the mapping) die first.
  ScopedMmap mapping_;
  perf_event_mmap_page* meta_;
  std::unique_ptr<RingBuffer> ring_;
  std::unique_ptr<BackwardRing> backward_;
};

}  // namespace wick

#endif  // WICK_RING_BUFFER_H_
