#include "wick/ring_buffer.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "wick/status.h"

namespace wick {

RingBuffer::RingBuffer(perf_event_mmap_page* meta, std::byte* data, size_t data_size)
    : meta_(meta),
      data_(data),
      data_size_(data_size),
      mask_(data_size - 1),
      // The tail is ours alone to write; start where a previous reader (if any) stopped.
      tail_(__atomic_load_n(&meta->data_tail, __ATOMIC_RELAXED)),
      read_(tail_),
      head_(tail_),
      copy_(new std::byte[kCopyBufferSize]) {}

namespace {

// Copies `len` bytes at ring position `pos` out of a data area of `size` (a power of two),
// continuing at its start when they run past its end.
void CopyWrapped(const std::byte* data, size_t size, uint64_t pos, size_t len, std::byte* dst) {
  const size_t off = pos & (size - 1);
  const size_t first = std::min(len, size - off);
  std::memcpy(dst, data + off, first);
  std::memcpy(dst + first, data, len - first);
}

}  // namespace

void RingBuffer::CopyOut(uint64_t pos, size_t len, std::byte* dst) const {
  CopyWrapped(data_, data_size_, pos, len, dst);
}

std::span<const std::byte> RingBuffer::Next() {
  if (!batch_open_) {
    // Pairs with perf_output_put_handle() (kernel/events/ring_buffer.c), which writes the
    // record bytes, then smp_wmb(), then data_head: after this acquire load, every byte up
    // to head_ is visible. (The kernel's comment calls our side "smp_rmb() after reading
    // data_head"; acquire is that.)
    head_ = __atomic_load_n(&meta_->data_head, __ATOMIC_ACQUIRE);
    batch_open_ = true;
    // In forward mode the kernel never lets head get more than the data area ahead of
    // data_tail (perf_output_begin checks the free space first); if it does, the page is
    // not a forward ring we own, or was scribbled on.
    if (head_ - read_ > data_size_) {
      ++corrupt_;
      read_ = head_;
      return {};
    }
  }
  uint64_t available = head_ - read_;
  if (available == 0) return {};
  perf_event_header header;
  if (available < sizeof(header)) {
    ++corrupt_;
    read_ = head_;
    return {};
  }
  CopyOut(read_, sizeof(header), reinterpret_cast<std::byte*>(&header));
  // The kernel writes whole records of a u64-aligned size; anything else means we lost
  // track of the record boundaries, and the only safe place to resume is head.
  if (header.size < sizeof(header) || header.size % sizeof(uint64_t) != 0 ||
      header.size > available) {
    ++corrupt_;
    read_ = head_;
    return {};
  }
  size_t off = read_ & mask_;
  std::span<const std::byte> record;
  if (off + header.size <= data_size_) {
    record = std::span<const std::byte>(data_ + off, header.size);
  } else {
    // The record wraps past the end of the data area: hand out one contiguous copy. At most
    // one record per batch can wrap (head - tail <= data_size), so one buffer is enough.
    CopyOut(read_, header.size, copy_.get());
    record = std::span<const std::byte>(copy_.get(), header.size);
  }
  read_ += header.size;
  return record;
}

void RingBuffer::Consume() {
  // Pairs with the kernel's read of data_tail in __perf_output_begin() (ring_buffer.c:
  // READ_ONCE(rb->user_page->data_tail) then smp_mb()): the release orders all our reads
  // of the records before the store, so the kernel cannot overwrite bytes we still read.
  __atomic_store_n(&meta_->data_tail, read_, __ATOMIC_RELEASE);
  tail_ = read_;
  batch_open_ = false;
}

void RingBuffer::PutBack(std::span<const std::byte> record) {
  // Only the last record: read_ moves back by its size, never behind what was consumed.
  if (record.size() <= read_ - tail_) read_ -= record.size();
}

size_t RingBuffer::Available() const {
  return __atomic_load_n(&meta_->data_head, __ATOMIC_ACQUIRE) - tail_;
}

BackwardRing::BackwardRing(const perf_event_mmap_page* meta, const std::byte* data,
                           size_t data_size)
    : meta_(meta), data_(data), data_size_(data_size), copy_(new std::byte[data_size]) {}

const std::vector<std::span<const std::byte>>& BackwardRing::Snapshot() {
  records_.clear();
  wrapped_ = false;
  // The newest record starts at data_head; the acquire pairs with the kernel's write barrier
  // before it publishes data_head, as in forward mode.
  uint64_t pos = __atomic_load_n(&meta_->data_head, __ATOMIC_ACQUIRE);
  size_t used = 0;
  const uint64_t head = pos;
  while (used + sizeof(perf_event_header) <= data_size_) {
    perf_event_header header;
    CopyWrapped(data_, data_size_, pos, sizeof(header), reinterpret_cast<std::byte*>(&header));
    // Zero: never written (the ring has not filled yet), the oldest end of the data.
    if (header.size == 0) break;
    if (header.size < sizeof(header) || header.size % sizeof(uint64_t) != 0) {
      ++corrupt_;
      break;
    }
    // The record that would pass one data area from head is the one the kernel has begun
    // to overwrite.
    if (used + header.size > data_size_) break;
    CopyWrapped(data_, data_size_, pos, header.size, copy_.get() + used);
    records_.emplace_back(copy_.get() + used, header.size);
    used += header.size;
    pos += header.size;
  }
  // data_head counts down from 0: minus head is every byte the kernel ever wrote here.
  wrapped_ = uint64_t{0} - head > used;
  return records_;
}

absl::Status CheckRingPages(uint64_t data_pages) {
  if (data_pages == 0 || (data_pages & (data_pages - 1)) != 0 || data_pages > kMaxRingPages) {
    return absl::InvalidArgumentError(absl::StrCat("-m ", data_pages, ": ", kRingPagesRule));
  }
  return absl::OkStatus();
}

absl::StatusOr<MappedRing> MappedRing::Map(int perf_fd, size_t data_pages, RingMode mode) {
  WICK_RETURN_IF_ERROR(CheckRingPages(data_pages));
  const size_t page_size = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t length = (1 + data_pages) * page_size;
  // A read-only mapping is what tells the kernel it may overwrite unread data.
  const int prot = mode == RingMode::kForward ? PROT_READ | PROT_WRITE : PROT_READ;
  void* addr = mmap(nullptr, length, prot, MAP_SHARED, perf_fd, 0);
  if (addr == MAP_FAILED) {
    int err = errno;
    std::string what = absl::StrCat("mmap of the ring buffer of perf fd ", perf_fd, " (1+",
                                    data_pages, " pages, ", length / 1024, " KiB)");
    std::string hint;
    if (err == EPERM || err == ENOMEM) {
      hint =
          "perf ring buffers are limited per user by /proc/sys/kernel/perf_event_mlock_kb "
          "(and RLIMIT_MEMLOCK beyond it): use fewer pages (-m) or raise the limit";
    } else if (err == EINVAL) {
      hint =
          "not a perf event fd, a second mapping of another size, or an inherited event "
          "(attr.inherit) opened for any CPU (-1), which the kernel cannot map: open one per CPU";
    }
    return ErrnoError(err, what, hint);
  }
  ScopedMmap mapping(addr, length);
  auto* meta = static_cast<perf_event_mmap_page*>(addr);
  // Kernels since 4.1 say where the data area is; older ones put it right after the
  // metadata page.
  size_t data_offset = meta->data_offset != 0 ? meta->data_offset : page_size;
  size_t data_size = meta->data_size != 0 ? meta->data_size : data_pages * page_size;
  if (data_offset + data_size > length || (data_size & (data_size - 1)) != 0) {
    return absl::InternalError(absl::StrCat("perf fd ", perf_fd, ": kernel reports data area ",
                                            data_offset, "+", data_size, " outside the mapping of ",
                                            length, " bytes"));
  }
  std::byte* data = static_cast<std::byte*>(addr) + data_offset;
  if (mode == RingMode::kOverwrite) {
    return MappedRing(std::move(mapping), meta, nullptr,
                      std::make_unique<BackwardRing>(meta, data, data_size));
  }
  return MappedRing(std::move(mapping), meta, std::make_unique<RingBuffer>(meta, data, data_size),
                    nullptr);
}

}  // namespace wick
