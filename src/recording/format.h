// Byte layout of a wick recording (version 3; versions 1 and 2 differ only in the stack and
// count entries). Private
// to src/recording/; people writing other readers should read man/wick-data.5, which says the same
// in prose.
//
// Every integer is little-endian and fixed-width; nothing is aligned. A "str" is a u32 byte
// length followed by that many bytes (no terminating NUL; build-ids are raw bytes).
//
//  File
//  +-----------------------------------------+  offset 0
//  | magic          "WICKREC\0"     8 bytes  |
//  | version        u32  (kRecordingVersion) |
//  | header_size    u32  (24 in version 1)   |  readers skip to header_size, so later
//  | reserved       u64  (0)                 |  versions may append header fields
//  +-----------------------------------------+  offset header_size
//  | chunk                                   |
//  | chunk                                   |  ... until the END chunk
//  +-----------------------------------------+
//
//  Chunk
//  +-----------------------------------------+
//  | type           u32  (ChunkType)         |
//  | crc32          u32  zlib crc32 of the   |  covers the 4 type bytes, the 8 size bytes
//  |                     fields named right  |  and the payload, in that order, so a torn
//  | payload_size   u64                      |  or bit-flipped chunk is detected
//  | payload        payload_size bytes       |
//  +-----------------------------------------+
//
//  META (type 1), written by Open(), once:
//    u64 sample_period | u64 sample_freq | u64 start_time_ns
//    str command_line | str event | str hostname | str kernel_release
//    [str boot_id]    (/proc/sys/kernel/random/boot_id; absent in files of older writers)
//
//  DATA (type 2), written by each Flush() that has anything new; four sections in order,
//  each a u32 count then its entries. Definitions come before the counts that use them;
//  ids are dense from 0 over the whole file, each id defined once.
//    u32 n_binaries, n x { u32 id | str build_id | str path }
//    u32 n_comms,    n x { u32 id | str name }
//    u32 n_stacks,   n x { u32 id | u32 event | u32 comm | u32 pid | u32 tid | u32 n_frames |
//                          n_frames x { u64 value | u32 binary | u32 kind } }   (leaf first)
//                   (event: the EVENT_TYPES id of the event sampled; pid/tid: the sampled
//                    thread, 0 for idle; version 2 has no event field (read as 0), version 1
//                    no event, pid and tid: { u32 id | u32 comm | u32 n_frames | frames })
//                   (kind 0 user file: binary = binary id; 1 kernel: binary 0; 2 raw user
//                    address: binary = pid, 0 when unknown; 3 off-CPU reason: value =
//                    OffCpuReason (frame.h), binary 0)
//    u32 n_counts,   n x { u32 stack_id | u64 delta | u64 weight }   (deltas add up across
//                   chunks; weight: the sum of the samples' periods, e.g. ns of cpu-clock or
//                   off-CPU ns; versions 1 and 2 have no weight: { u32 stack_id | u64 delta })
//
//  KERNEL_SYMBOLS (type 3), written by Finish(): every kernel symbol the stacks need.
//    u32 n, n x { u64 address | u64 size | str name | str module }
//
//  KERNEL_SYMBOLS_ADDED (type 9), written by a Flush() after its DATA chunk when stacks
//  brought kernel symbols not written before (optional; readers that predate it skip it and
//  read Finish()'s KERNEL_SYMBOLS): the same entries. They accumulate with KERNEL_SYMBOLS,
//  so a file cut short after a flush still names the kernel frames it holds.
//
//  JIT_SYMBOLS (type 6), written by Finish() before STATS when there are any (optional;
//  readers that predate it skip it). Symbols from /tmp/perf-PID.map files, keyed by the
//  pid that kUserRaw frames carry in their binary field:
//    u32 n, n x { u32 pid | u64 start | u64 size | str name }
//
//  EVENT_TYPES (type 7), written by a Flush() after its DATA chunk when event types were
//  added (optional; readers that predate it skip it). Every event recorded has one, the
//  synthetic "off-cpu" too; a stack's event names one. Ids are dense from 0 over the file:
//    u32 n, n x { u32 id | str name | str format }   (format: the tracefs format text of a
//                                                      tracepoint, empty otherwise)
//
//  TRACE_SAMPLES (type 8), written by a Flush() after its DATA and EVENT_TYPES chunks, so
//  every comm, stack and event type a sample names is defined in that flush or earlier:
//    u32 n, n x { u64 time | u32 cpu | u32 pid | u32 tid | u32 comm | u32 event_type |
//                 u32 stack | str raw }
//    (time: CLOCK_MONOTONIC ns; stack: a stack id, or 0xffffffff when recorded without -g;
//     raw: the PERF_SAMPLE_RAW payload of a tracepoint, empty for uprobes and kprobes.
//     Samples are in the order they were read per flush, not sorted by time.)
//
//  STATS (type 4), written by Finish(); counters by their stable name (stats.h), so
//  counters can be added without a version change; unknown names are ignored:
//    u32 n, n x { str name | u64 value }
//
//  END (type 5), written last by Finish(); marks the file complete:
//    u64 duration_ns
//
// Compatibility rules: a reader ignores bytes after the fields it knows at the end of a
// payload and skips chunks of unknown type, so both may be extended within a version.
// Anything an old reader would misread (a changed field, a new mandatory chunk) bumps
// kRecordingVersion. A file without END, or whose last chunk is short or fails its crc32,
// was cut short: everything before that chunk is still valid.
#ifndef WICK_SRC_RECORDING_FORMAT_H_
#define WICK_SRC_RECORDING_FORMAT_H_

#include <zlib.h>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>

namespace wick::recording_format {

static_assert(std::endian::native == std::endian::little,
              "the writer stores integers in host order, which must be little-endian");

inline constexpr char kMagic[8] = {'W', 'I', 'C', 'K', 'R', 'E', 'C', '\0'};
inline constexpr uint32_t kHeaderSize = 24;       // magic + version + header_size + reserved
inline constexpr uint32_t kMinHeaderSize = 16;    // magic + version + header_size
inline constexpr uint32_t kChunkHeaderSize = 16;  // type + crc32 + payload_size

enum ChunkType : uint32_t {
  kChunkMeta = 1,
  kChunkData = 2,
  kChunkKernelSymbols = 3,
  kChunkStats = 4,
  kChunkEnd = 5,
  kChunkJitSymbols = 6,
  kChunkEventTypes = 7,
  kChunkTraceSamples = 8,
  kChunkKernelSymbolsAdded = 9,
  // The functions of one mapped binary whose file was replaced or deleted on disk, read
  // while recording: binary id u32, count u32, then (offset u64, size u64, name str) each.
  kChunkBinarySymbols = 10,
};

// Smallest encoded size of one entry of each list, used to bound counts read from a file
// by the bytes that remain before reserving memory for them.
inline constexpr size_t kMinBinarySize = 4 + 4 + 4;
inline constexpr size_t kMinCommSize = 4 + 4;
inline constexpr size_t kMinStackSize = 4 + 4 + 4 + 4 + 4 + 4;
inline constexpr size_t kMinStackSizeV2 = 4 + 4 + 4 + 4 + 4;
inline constexpr size_t kMinStackSizeV1 = 4 + 4 + 4;
inline constexpr size_t kFrameSize = 8 + 4 + 4;
inline constexpr size_t kCountSize = 4 + 8 + 8;
inline constexpr size_t kCountSizeV2 = 4 + 8;
inline constexpr size_t kMinKernelSymbolSize = 8 + 8 + 4 + 4;
inline constexpr size_t kMinStatSize = 4 + 8;
inline constexpr size_t kMinFileSymbolSize = 8 + 8 + 4;
inline constexpr size_t kMinJitSymbolSize = 4 + 8 + 8 + 4;
inline constexpr size_t kMinEventTypeSize = 4 + 4 + 4;
inline constexpr size_t kMinTraceSampleSize = 8 + 6 * 4 + 4;

// The chunk checksum: zlib crc32 over type, payload_size and payload, as stored.
inline uint32_t ChunkCrc(uint32_t type, uint64_t size, std::span<const std::byte> payload) {
  uLong crc = crc32_z(0, nullptr, 0);
  crc = crc32_z(crc, reinterpret_cast<const Bytef*>(&type), sizeof(type));
  crc = crc32_z(crc, reinterpret_cast<const Bytef*>(&size), sizeof(size));
  crc = crc32_z(crc, reinterpret_cast<const Bytef*>(payload.data()), payload.size());
  return static_cast<uint32_t>(crc);
}

}  // namespace wick::recording_format

#endif  // WICK_SRC_RECORDING_FORMAT_H_
