// Decoder of the PERF_RECORD_* records wick reads from perf ring buffers.
//
// ParseRecord() decodes one record, as returned by RingBuffer::Next(), into a ParsedRecord
// whose strings and arrays point into the record bytes (no copy, no allocation): it is valid
// as long as the record is. Which SAMPLE fields exist depends on how the event was opened
// (SampleFormat, from perf_event_attr); ValidateSampleFormat() rejects, once at open time,
// formats this decoder does not handle. Malformed input is an InvalidArgument error with a
// short reason; the parser never reads past the record's header.size. Thread-compatible,
// stateless.
#ifndef WICK_RECORD_H_
#define WICK_RECORD_H_

#include <linux/perf_event.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "absl/status/status.h"

namespace wick {

// How the event that wrote the records was opened (the perf_event_attr fields that shape
// the records).
struct SampleFormat {
  uint64_t sample_type = 0;
  uint64_t read_format = 0;
  bool sample_id_all = false;
  uint64_t sample_regs_user = 0;
  // Whether PERF_RECORD_MISC_MMAP_BUILD_ID on an MMAP2 record means it holds a build-id. Set it
  // false for an event opened without attr.build_id: Linux (seen on 6.18) sets the bit in the
  // one header it sends to every event once any earlier event has attr.build_id, and does not
  // clear it, so such an event's MMAP2 records get the bit over their maj/min/ino (and Debian's
  // perf 6.1 then aborts reading them as a build-id). FromAttr() leaves it true: wick's session
  // parses its dummy event's records (attr.build_id) with the sampling events' format.
  bool mmap_build_id = true;

  static SampleFormat FromAttr(const perf_event_attr& attr) {
    return SampleFormat{attr.sample_type, attr.read_format, attr.sample_id_all != 0,
                        attr.sample_regs_user};
  }
};

// sample_type bits ParseRecord() decodes. Others (BRANCH_STACK, REGS_INTR, AUX, unknown)
// are refused by ValidateSampleFormat().
inline constexpr uint64_t kSupportedSampleType =
    PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME |
    PERF_SAMPLE_ADDR | PERF_SAMPLE_ID | PERF_SAMPLE_STREAM_ID | PERF_SAMPLE_CPU |
    PERF_SAMPLE_PERIOD | PERF_SAMPLE_READ | PERF_SAMPLE_CALLCHAIN | PERF_SAMPLE_RAW |
    PERF_SAMPLE_REGS_USER | PERF_SAMPLE_STACK_USER | PERF_SAMPLE_WEIGHT | PERF_SAMPLE_DATA_SRC |
    PERF_SAMPLE_TRANSACTION | PERF_SAMPLE_PHYS_ADDR | PERF_SAMPLE_CGROUP |
    PERF_SAMPLE_DATA_PAGE_SIZE | PERF_SAMPLE_CODE_PAGE_SIZE | PERF_SAMPLE_WEIGHT_STRUCT;

inline constexpr uint64_t kSupportedReadFormat = PERF_FORMAT_TOTAL_TIME_ENABLED |
                                                 PERF_FORMAT_TOTAL_TIME_RUNNING | PERF_FORMAT_ID |
                                                 PERF_FORMAT_GROUP | PERF_FORMAT_LOST;

// OK, or Unimplemented naming the first sample_type / read_format bit not supported.
absl::Status ValidateSampleFormat(const SampleFormat& fmt);

// The sample_id trailer of non-SAMPLE records (sample_id_all), fields per sample_type.
struct SampleId {
  uint32_t pid = 0, tid = 0;  // PERF_SAMPLE_TID
  uint64_t time = 0;          // PERF_SAMPLE_TIME
  uint64_t id = 0;            // PERF_SAMPLE_ID
  uint64_t stream_id = 0;     // PERF_SAMPLE_STREAM_ID
  uint32_t cpu = 0, res = 0;  // PERF_SAMPLE_CPU
  uint64_t identifier = 0;    // PERF_SAMPLE_IDENTIFIER
};

// PERF_SAMPLE_READ values.
struct ReadValues {
  uint64_t time_enabled = 0;  // PERF_FORMAT_TOTAL_TIME_ENABLED
  uint64_t time_running = 0;  // PERF_FORMAT_TOTAL_TIME_RUNNING
  uint64_t nr = 0;            // counters: 1 without PERF_FORMAT_GROUP
  // Without PERF_FORMAT_GROUP: the one counter.
  uint64_t value = 0, id = 0, lost = 0;
  // With PERF_FORMAT_GROUP: nr entries of entry_words u64 each: value, [id], [lost].
  std::span<const uint64_t> group;
  uint32_t entry_words = 0;
};

struct SampleRecord {
  uint64_t identifier = 0;
  uint64_t ip = 0;
  uint32_t pid = 0, tid = 0;
  uint64_t time = 0;
  uint64_t addr = 0;
  uint64_t id = 0;
  uint64_t stream_id = 0;
  uint32_t cpu = 0, res = 0;
  uint64_t period = 0;
  ReadValues read;
  // Addresses mixed with context markers (IsContextMarker), innermost frame first.
  std::span<const uint64_t> callchain;
  std::span<const std::byte> raw;  // PERF_SAMPLE_RAW payload (size includes kernel padding)
  uint64_t regs_user_abi = PERF_SAMPLE_REGS_ABI_NONE;
  // popcount(sample_regs_user) values in ascending register-number order; empty when abi is
  // NONE (a kernel thread).
  std::span<const uint64_t> regs_user;
  // The copied user stack; only the first stack_user_dyn_size bytes hold data.
  std::span<const std::byte> stack_user;
  uint64_t stack_user_dyn_size = 0;
  uint64_t weight = 0;  // PERF_SAMPLE_WEIGHT or the raw u64 of PERF_SAMPLE_WEIGHT_STRUCT
  uint64_t data_src = 0;
  uint64_t transaction = 0;
  uint64_t phys_addr = 0;
  uint64_t cgroup = 0;
  uint64_t data_page_size = 0;
  uint64_t code_page_size = 0;
};

// PERF_RECORD_MMAP and PERF_RECORD_MMAP2.
struct MmapRecord {
  uint32_t pid = 0, tid = 0;
  uint64_t addr = 0, len = 0, pgoff = 0;
  // MMAP2 without PERF_RECORD_MISC_MMAP_BUILD_ID:
  uint32_t maj = 0, min = 0;
  uint64_t ino = 0, ino_generation = 0;
  // MMAP2 with PERF_RECORD_MISC_MMAP_BUILD_ID (build_id.size() == build_id_size <= 20):
  bool has_build_id = false;
  std::span<const std::byte> build_id;
  uint32_t prot = 0, flags = 0;  // MMAP2 only
  std::string_view filename;
};

struct CommRecord {
  uint32_t pid = 0, tid = 0;
  std::string_view comm;
  bool exec = false;  // misc & PERF_RECORD_MISC_COMM_EXEC: the name changed by exec()
};

// PERF_RECORD_FORK and PERF_RECORD_EXIT.
struct ForkExitRecord {
  uint32_t pid = 0, ppid = 0, tid = 0, ptid = 0;
  uint64_t time = 0;
};

struct LostRecord {
  uint64_t id = 0, lost = 0;
};

struct LostSamplesRecord {
  uint64_t lost = 0;
};

// PERF_RECORD_THROTTLE and PERF_RECORD_UNTHROTTLE.
struct ThrottleRecord {
  uint64_t time = 0, id = 0, stream_id = 0;
};

// PERF_RECORD_SWITCH (attr.context_switch on a per-task event) and PERF_RECORD_SWITCH_CPU_WIDE
// (the same on a per-CPU event). The task switching in or out is the sample_id trailer's
// pid/tid (the kernel writes it from `current`: the task leaving the CPU for a switch-out, the
// one arriving for a switch-in), so a record without a trailer says nothing about who.
struct SwitchRecord {
  bool out = false;      // misc & PERF_RECORD_MISC_SWITCH_OUT; else a switch-in
  bool preempt = false;  // misc & PERF_RECORD_MISC_SWITCH_OUT_PREEMPT: left the CPU runnable
  // SWITCH_CPU_WIDE only: the task switched to (on a switch-out) or from (on a switch-in).
  uint32_t next_prev_pid = 0, next_prev_tid = 0;
};

// One decoded record. Only the member matching `type` is filled; the others keep their
// defaults. Types wick does not decode have only type/misc/size and `payload`.
struct ParsedRecord {
  uint32_t type = 0;  // PERF_RECORD_*
  uint16_t misc = 0;
  uint16_t size = 0;
  std::span<const std::byte> payload;  // everything after the header
  SampleRecord sample;
  MmapRecord mmap;
  CommRecord comm;
  ForkExitRecord fork_exit;
  LostRecord lost;
  LostSamplesRecord lost_samples;
  ThrottleRecord throttle;
  SwitchRecord switch_;  // PERF_RECORD_SWITCH and PERF_RECORD_SWITCH_CPU_WIDE
  // Trailer of non-SAMPLE decoded types when fmt.sample_id_all.
  bool has_sample_id = false;
  SampleId sample_id;
};

// The kernel's name of a PERF_RECORD_* type without the prefix ("MMAP2", "KSYMBOL"), or
// nullptr for a type this kernel header does not define.
const char* KernelRecordName(uint32_t type);

// True for the types whose fields ParseRecord() decodes (SAMPLE, MMAP, MMAP2, COMM, FORK,
// EXIT, LOST, LOST_SAMPLES, THROTTLE, UNTHROTTLE, SWITCH, SWITCH_CPU_WIDE); other types come
// out with only their header, payload and sample_id trailer.
bool IsDecodedRecordType(uint32_t type);

// Decodes `record` (header included; must be 8-byte aligned, as RingBuffer::Next() returns
// it). Bytes past header.size are ignored; header.size larger than the span, truncated
// fields, arrays larger than the record etc. are InvalidArgument. Resets *out first.
// Allocation-free on success. `fmt` must have passed ValidateSampleFormat().
// When the kernel wrote `record`: the sample's time, or the sample_id trailer's for other
// records (0 when it has none).
inline uint64_t RecordTime(const ParsedRecord& record) {
  return record.type == PERF_RECORD_SAMPLE ? record.sample.time
         : record.has_sample_id            ? record.sample_id.time
                                           : 0;
}

absl::Status ParseRecord(std::span<const std::byte> record, const SampleFormat& fmt,
                         ParsedRecord* out);

// Callchain context markers (enum perf_callchain_context): entries >= PERF_CONTEXT_MAX
// are not addresses but say which context the following addresses belong to.
inline constexpr uint64_t kContextHv = PERF_CONTEXT_HV;
inline constexpr uint64_t kContextKernel = PERF_CONTEXT_KERNEL;
inline constexpr uint64_t kContextUser = PERF_CONTEXT_USER;
inline constexpr uint64_t kContextGuest = PERF_CONTEXT_GUEST;
inline constexpr uint64_t kContextGuestKernel = PERF_CONTEXT_GUEST_KERNEL;
inline constexpr uint64_t kContextGuestUser = PERF_CONTEXT_GUEST_USER;
inline constexpr uint64_t kContextMax = PERF_CONTEXT_MAX;

inline constexpr bool IsContextMarker(uint64_t entry) { return entry >= kContextMax; }

enum class CallchainContext : uint8_t {
  kUnknown,  // a marker value the kernel does not define (or not a marker)
  kHv,
  kKernel,
  kUser,
  kGuest,
  kGuestKernel,
  kGuestUser,
};

// Which context a marker starts; kUnknown for addresses and undefined marker values.
constexpr CallchainContext ClassifyContextMarker(uint64_t entry) {
  switch (entry) {
    case kContextHv:
      return CallchainContext::kHv;
    case kContextKernel:
      return CallchainContext::kKernel;
    case kContextUser:
      return CallchainContext::kUser;
    case kContextGuest:
      return CallchainContext::kGuest;
    case kContextGuestKernel:
      return CallchainContext::kGuestKernel;
    case kContextGuestUser:
      return CallchainContext::kGuestUser;
    default:
      return CallchainContext::kUnknown;
  }
}

}  // namespace wick

#endif  // WICK_RECORD_H_
