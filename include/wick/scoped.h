// Move-only owners of file descriptors and memory mappings.
//
// Every fd and mapping wick creates is held by one of these; raw close()/munmap() appear
// only here. Destructors release and abort in debug builds if the kernel refused (a
// double close is a bug we want to see), as Perfetto's ScopedResource does.
#ifndef WICK_SCOPED_H_
#define WICK_SCOPED_H_

#include <sys/mman.h>
#include <unistd.h>

#include <cassert>
#include <cstddef>
#include <utility>

namespace wick {

template <typename T, int (*CloseFn)(T), T kInvalid>
class ScopedResource {
 public:
  ScopedResource() = default;
  explicit ScopedResource(T t) : t_(t) {}
  ScopedResource(ScopedResource&& other) noexcept : t_(std::exchange(other.t_, kInvalid)) {}
  ScopedResource& operator=(ScopedResource&& other) noexcept {
    if (this != &other) reset(std::exchange(other.t_, kInvalid));
    return *this;
  }
  ScopedResource(const ScopedResource&) = delete;
  ScopedResource& operator=(const ScopedResource&) = delete;
  ~ScopedResource() { reset(); }

  T get() const { return t_; }
  explicit operator bool() const { return t_ != kInvalid; }
  T release() { return std::exchange(t_, kInvalid); }
  void reset(T t = kInvalid) {
    if (t_ != kInvalid) {
      [[maybe_unused]] int res = CloseFn(t_);
      assert(res == 0);
    }
    t_ = t;
  }

 private:
  T t_ = kInvalid;
};

inline int CloseFd(int fd) { return ::close(fd); }
using ScopedFd = ScopedResource<int, CloseFd, -1>;

// An mmap()ed region; unmapped on destruction.
class ScopedMmap {
 public:
  ScopedMmap() = default;
  ScopedMmap(void* addr, size_t size) : addr_(addr), size_(size) {}
  ScopedMmap(ScopedMmap&& o) noexcept
      : addr_(std::exchange(o.addr_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  ScopedMmap& operator=(ScopedMmap&& o) noexcept {
    if (this != &o) {
      reset();
      addr_ = std::exchange(o.addr_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  ScopedMmap(const ScopedMmap&) = delete;
  ScopedMmap& operator=(const ScopedMmap&) = delete;
  ~ScopedMmap() { reset(); }

  void* data() const { return addr_; }
  size_t size() const { return size_; }
  explicit operator bool() const { return addr_ != nullptr; }
  void reset() {
    if (addr_ != nullptr) {
      [[maybe_unused]] int res = ::munmap(addr_, size_);
      assert(res == 0);
    }
    addr_ = nullptr;
    size_ = 0;
  }

 private:
  void* addr_ = nullptr;
  size_t size_ = 0;
};

}  // namespace wick

#endif  // WICK_SCOPED_H_
