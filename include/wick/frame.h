// One frame of a stored stack, independent of the address space it came from.
//
// A user frame in a file is (binary id, file offset): the binary id indexes the recording's
// binary table (build-id + path), so the frame survives ASLR and can be symbolized later or
// elsewhere. Kernel frames are kernel addresses (kallsyms is captured at record time).
// Frames wick could not place in a file (anonymous memory, JIT code, unknown process) keep
// the raw address and the pid (the key of the recording's JIT symbols). An off-CPU stack ends
// in a synthetic frame saying why its thread was off the CPU. Frames are plain 16-byte values;
// a stack is a span of them, leaf first.
#ifndef WICK_FRAME_H_
#define WICK_FRAME_H_

#include <cstdint>
#include <string_view>

namespace wick {

enum class FrameKind : uint32_t {
  kUserFile = 0,  // binary = index in the binary table, value = file offset
  kKernel = 1,    // value = kernel address
  kUserRaw = 2,   // value = raw user address (no file); binary = pid (0 unknown), for JIT maps
  kOffCpu = 3,    // value = OffCpuReason, binary 0: the leaf of an off-CPU stack
};

// Why a thread left the CPU, from sched_switch's prev_state: S sleeping, D waiting
// uninterruptibly (disk I/O), R or R+ (preempted) runnable and waiting for a CPU, T/t
// stopped or traced, I an idle kernel thread.
enum class OffCpuReason : uint64_t {
  kSleep = 1,
  kIo = 2,
  kRunnable = 3,
  kStopped = 4,
  kIdle = 5,
  kOther = 6,
};

// "sleep", "io", "runnable", "stopped", "idle"; "other" for kOther and unknown values (a frame
// read from a damaged file). Shown as "[off-cpu: sleep]".
constexpr std::string_view OffCpuReasonName(uint64_t reason) {
  switch (static_cast<OffCpuReason>(reason)) {
    case OffCpuReason::kSleep:
      return "sleep";
    case OffCpuReason::kIo:
      return "io";
    case OffCpuReason::kRunnable:
      return "runnable";
    case OffCpuReason::kStopped:
      return "stopped";
    case OffCpuReason::kIdle:
      return "idle";
    case OffCpuReason::kOther:
      break;
  }
  return "other";
}

struct Frame {
  uint64_t value = 0;
  uint32_t binary = 0;
  FrameKind kind = FrameKind::kUserRaw;

  friend bool operator==(const Frame&, const Frame&) = default;
};
static_assert(sizeof(Frame) == 16);

}  // namespace wick

#endif  // WICK_FRAME_H_
