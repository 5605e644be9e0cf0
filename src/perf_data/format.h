// perf.data's byte layout (tools/perf/util/header.{h,c}, tools/perf/Documentation/
// perf.data-file-format.txt), as much of it as the reader uses. Integers are in the byte
// order of the machine that recorded; the reader accepts little-endian files only.
//
// File mode ("PERFILE2", header.size 104):
//
//   0   u64 magic               "PERFILE2"
//   8   u64 size                104 (72 in files older than the feature bitmap)
//   16  u64 attr_size           bytes per attrs entry: perf_event_attr + perf_file_section
//   24  section attrs           { u64 offset, u64 size }: nr_attrs = size / attr_size entries
//   40  section data            the records
//   56  section event_types     unused since perf 3.x
//   72  u64 features[4]         bitmap of HEADER_* feature sections present
//
//   attrs entry: perf_event_attr (attr.size bytes, 0 meaning 64) + section ids -> u64 ids[]
//   after data (at data.offset + data.size): one section per set feature bit, in bit
//   order, each pointing at that feature's bytes.
//
// Pipe mode (`perf record -o -`): u64 magic, u64 size = 16, then records. What file mode
// keeps in the header comes as perf's own records (HEADER_ATTR, HEADER_FEATURE, ...).
//
// Records: perf_event_header { u32 type; u16 misc; u16 size } + size - 8 bytes, except:
//   HEADER_TRACING_DATA { hdr; u32 size; u32 pad } is followed by `size` bytes (8-aligned)
//   AUXTRACE { hdr; u64 size; ... } is followed by `size` bytes
// which are outside header.size.
//
// Feature encodings read here:
//   string        u32 len (NUL-padded, includes the NUL), char[len]
//   HOSTNAME, OSRELEASE, VERSION, ARCH, CPUDESC, CPUID: string
//   NRCPUS        u32 nr_cpus_available, u32 nr_cpus_online
//   TOTAL_MEM     u64 kB
//   CMDLINE       u32 nr, string[nr]
//   EVENT_DESC    u32 nr, u32 attr_size, nr x { attr (attr_size bytes), u32 nr_ids,
//                 string name, u64 ids[nr_ids] }
//   BUILD_ID      build-id records back to back (see kBuildIdRecord*)
//   SAMPLE_TIME   u64 first, u64 last
//   COMPRESSED    u32 version, u32 type (1 = zstd), u32 level, u32 ratio, u32 mmap_len
//   TRACING_DATA  "\x17\x08\x44tracing", version "0.6\0", u8 big_endian, u8 long_size,
//                 u32 page_size, "header_page\0" u64 n + n bytes, "header_event\0" u64 n +
//                 n bytes, u32 nr_ftrace x { u64 n + format }, u32 nr_systems x { name\0,
//                 u32 nr x { u64 n + format } }, then kallsyms, printk formats, saved
//                 cmdlines (kept in the raw bytes, not parsed)
#ifndef WICK_SRC_PERF_DATA_FORMAT_H_
#define WICK_SRC_PERF_DATA_FORMAT_H_

#include <cstddef>
#include <cstdint>

namespace wick::perf_data_format {

inline constexpr uint64_t kFileHeaderSize = 104;
inline constexpr uint64_t kFileHeaderSizeNoFeatures = 72;  // perf before the feature bitmap
inline constexpr uint64_t kPipeHeaderSize = 16;
inline constexpr size_t kFeatureBitmapOffset = 72;
inline constexpr size_t kFeatureBits = 256;
// "PERFFILE": version 1 of the format, from perf before 2.6.37.
inline constexpr uint64_t kPerfFileMagicV1 = 0x454c494646524550ULL;

inline constexpr uint32_t kAttrSizeVer0 = 64;  // PERF_ATTR_SIZE_VER0
inline constexpr uint64_t kSectionSize = 16;   // perf_file_section
// attr_size values larger than this are not a perf_event_attr of any kernel.
inline constexpr uint64_t kMaxAttrSize = 4096;

// perf_record_header_build_id: header, i32 pid, u8 build_id[20], u8 size, u8 reserved,
// u16 reserved, char filename[] (NUL-padded to the record's size).
inline constexpr size_t kBuildIdRecordMinSize = 8 + 4 + 24;
inline constexpr uint16_t kMiscBuildIdSize = 1 << 15;  // PERF_RECORD_MISC_BUILD_ID_SIZE

// EVENT_UPDATE types (perf_event_update.type).
inline constexpr uint64_t kEventUpdateName = 2;

inline constexpr char kTracingMagic[] = "\x17\x08\x44tracing";
inline constexpr size_t kTracingMagicSize = 10;

inline constexpr uint32_t kCompressionZstd = 1;

}  // namespace wick::perf_data_format

#endif  // WICK_SRC_PERF_DATA_FORMAT_H_
