// One frame of a stored stack, independent of the address space it came from.
//
// A user frame in a file is (binary id, file offset): the binary id indexes the recording's
// binary table (build-id + path), so the frame survives ASLR and can be symbolized later or
// elsewhere. Kernel frames are kernel addresses (kallsyms is captured at record time).
// Frames wick could not place in a file (anonymous memory, JIT code, unknown process) keep
// the raw address and the pid (the key of the recording's JIT symbols). Frames are plain
// 16-byte values; a stack is a span of them, leaf first.
#ifndef WICK_FRAME_H_
#define WICK_FRAME_H_

#include <cstdint>

namespace wick {

enum class FrameKind : uint32_t {
  kUserFile = 0,  // binary = index in the binary table, value = file offset
  kKernel = 1,    // value = kernel address
  kUserRaw = 2,   // value = raw user address (no file); binary = pid (0 unknown), for JIT maps
};

struct Frame {
  uint64_t value = 0;
  uint32_t binary = 0;
  FrameKind kind = FrameKind::kUserRaw;

  friend bool operator==(const Frame&, const Frame&) = default;
};
static_assert(sizeof(Frame) == 16);

}  // namespace wick

#endif  // WICK_FRAME_H_
