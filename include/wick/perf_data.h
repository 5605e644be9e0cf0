// Reader of perf's own recordings (perf.data, written by `perf record`), as a source of the
// same decoded records wick reads from live rings.
//
// PerfDataReader::Open*() reads what describes the recording into PerfDataInfo: in file mode
// the PERFILE2 header, the attrs with their ids and the feature sections after the data; in
// pipe mode (`perf record -o -`) the small pipe header and the HEADER_* records perf writes
// first. Next() then yields the kernel records of the data in time order, sorted as perf's
// ordered_events sorts them (FINISHED_ROUND), each decoded by wick's ParseRecord() with the
// SampleFormat of the attr that wrote it, so callchains and DWARF samples (REGS_USER +
// STACK_USER) come out exactly as from a ring. Compressed records (`perf record -z`) are
// inflated with libzstd. Record types, user records and feature sections wick does not use
// are skipped and counted (PerfDataStats); every SAMPLE is either yielded or counted.
//
// Ownership: the reader owns its file mapping; OpenFd() borrows the fd, OpenBuffer() the
// bytes (both must outlive the reader). A yielded PerfDataRecord points into the reader's
// buffers and is valid until the next Next() call. Not thread-safe; movable.
// Errors: Open*() returns InvalidArgument, one line naming the input, for input that is not a
// perf.data, comes from another endianness or architecture, or whose header lies (sections
// beyond the file, overlapping, absurd sizes); I/O failures name the path. A file or pipe cut
// short is not an error: the reader yields what was there and says so (stats().complete,
// truncation_note), as wick's own recording reader does.
#ifndef WICK_PERF_DATA_H_
#define WICK_PERF_DATA_H_

#include <linux/perf_event.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "wick/record.h"

namespace wick {

// "PERFILE2" read as a little-endian u64; the byte-swapped value marks a big-endian file.
inline constexpr uint64_t kPerfFileMagic = 0x32454c4946524550ULL;
inline constexpr uint64_t kPerfFileMagicSwapped = 0x50455246494c4532ULL;

// perf's own record types (tools/lib/perf/include/perf/event.h, enum perf_user_event_type):
// written by perf into the file or pipe, never by the kernel.
enum PerfUserRecordType : uint32_t {
  kPerfRecordHeaderAttr = 64,
  kPerfRecordHeaderEventType = 65,  // deprecated
  kPerfRecordHeaderTracingData = 66,
  kPerfRecordHeaderBuildId = 67,
  kPerfRecordFinishedRound = 68,
  kPerfRecordIdIndex = 69,
  kPerfRecordAuxtraceInfo = 70,
  kPerfRecordAuxtrace = 71,
  kPerfRecordAuxtraceError = 72,
  kPerfRecordThreadMap = 73,
  kPerfRecordCpuMap = 74,
  kPerfRecordStatConfig = 75,
  kPerfRecordStat = 76,
  kPerfRecordStatRound = 77,
  kPerfRecordEventUpdate = 78,
  kPerfRecordTimeConv = 79,
  kPerfRecordHeaderFeature = 80,
  kPerfRecordCompressed = 81,
  kPerfRecordFinishedInit = 82,
};

// Feature section ids (tools/perf/util/header.h, HEADER_*): bit numbers of the header's
// feature bitmap, and feat_id of pipe mode's HEADER_FEATURE records.
enum PerfFeature : uint32_t {
  kPerfFeatTracingData = 1,
  kPerfFeatBuildId = 2,
  kPerfFeatHostname = 3,
  kPerfFeatOsRelease = 4,
  kPerfFeatVersion = 5,
  kPerfFeatArch = 6,
  kPerfFeatNrCpus = 7,
  kPerfFeatCpuDesc = 8,
  kPerfFeatCpuId = 9,
  kPerfFeatTotalMem = 10,
  kPerfFeatCmdline = 11,
  kPerfFeatEventDesc = 12,
  kPerfFeatSampleTime = 21,
  kPerfFeatCompressed = 27,
  kPerfFeatLast = 32,  // pipe mode: the end of the feature records
};

// "SAMPLE", "MMAP2", "FINISHED_ROUND", "COMPRESSED", ...; "type N" for unknown types.
std::string PerfRecordTypeName(uint32_t type);
// "BUILD_ID", "CPU_TOPOLOGY", ...; "feature N" for unknown ids.
std::string PerfFeatureName(uint32_t feature);

// True when `head` (at least the first 8 bytes of a file or pipe) starts with perf.data's
// magic in either byte order: what the CLI checks to pick this reader over wick's own.
bool LooksLikePerfData(std::span<const std::byte> head);

// One event of the recording (a perf_event_attr and the ids of its per-CPU/per-thread fds).
struct PerfDataAttr {
  perf_event_attr attr{};  // zeroed past the attr.size the file had
  SampleFormat format;     // SampleFormat::FromAttr(attr)
  // Why wick cannot decode this event's samples (ValidateSampleFormat), OK when it can;
  // such samples are counted in PerfDataStats::samples_undecodable.
  absl::Status decodable;
  // From EVENT_DESC or EVENT_UPDATE ("cpu-clock:ppp", "sched:sched_switch"); when perf did
  // not name it, derived from type and config ("cpu-clock", "tracepoint 317", "type 8/0x0").
  std::string name;
  std::vector<uint64_t> ids;
};

// A BUILD_ID feature entry or HEADER_BUILD_ID record: a binary perf saw samples in.
struct PerfDataBuildId {
  int32_t pid = 0;       // -1 (perf's HOST_KERNEL_ID) for the host's binaries
  uint16_t misc = 0;     // cpumode: PERF_RECORD_MISC_KERNEL, _USER, _GUEST_*
  std::string build_id;  // raw bytes (usually 20)
  std::string filename;  // "/usr/lib/x86_64-linux-gnu/libc.so.6", "[kernel.kallsyms]"
};

// One tracepoint's format file, as tracefs had it when perf recorded.
struct PerfDataTraceFormat {
  std::string system;  // "sched"; "ftrace" for ftrace's own events
  std::string text;    // "name: sched_switch\nID: 317\nformat:\n..." for TraceFormat::Parse
};

// The TRACING_DATA feature (or HEADER_TRACING_DATA record): tracefs state at record time.
struct PerfDataTracingData {
  std::string raw;      // the bytes as perf wrote them
  std::string version;  // "0.6"
  uint32_t page_size = 0;
  std::vector<PerfDataTraceFormat> formats;
};

// PERF_RECORD_ID_INDEX: which mmap (cpu, tid) each sample id came from.
struct PerfDataIdIndexEntry {
  uint64_t id = 0, idx = 0, cpu = 0, tid = 0;
};

// What describes the recording. Complete after Open*() for a file; in pipe mode, records
// that perf writes late (build-ids, EVENT_UPDATE) add to it as Next() reads them.
struct PerfDataInfo {
  bool pipe_mode = false;
  std::vector<PerfDataAttr> attrs;
  std::vector<PerfDataBuildId> build_ids;
  std::vector<std::string> cmdline;  // perf's argv: "/usr/bin/perf", "record", ...
  std::string hostname, os_release, perf_version, arch, cpu_desc, cpuid;
  uint32_t nr_cpus_available = 0, nr_cpus_online = 0;
  uint64_t total_mem_kb = 0;
  uint64_t first_sample_time = 0, last_sample_time = 0;  // SAMPLE_TIME, 0 when absent
  bool has_tracing_data = false;
  PerfDataTracingData tracing_data;
  std::vector<PerfDataIdIndexEntry> id_index;
  uint32_t compression_type = 0;  // COMPRESSED feature: 1 = zstd, 0 = none
  uint32_t compression_level = 0;
};

// One record of the data, in time order.
struct PerfDataRecord {
  ParsedRecord parsed;
  uint32_t attr = 0;  // index in PerfDataInfo::attrs of the event that wrote it
  // The sample's time or the sample_id trailer's; 0 for records without one (perf's
  // synthesized MMAP/COMM of processes that existed at start), yielded as they are read.
  uint64_t time = 0;
  std::span<const std::byte> bytes;  // the whole record, header included
};

// What the reader could not use. Every count is also a line a summary can print.
struct PerfDataStats {
  uint64_t records = 0;  // yielded
  uint64_t samples = 0;  // yielded SAMPLE records
  // Records of types wick does not use (KSYMBOL, THREAD_MAP, AUXTRACE, ...), by type.
  absl::flat_hash_map<uint32_t, uint64_t> skipped_records;
  // Feature sections present but not read (CPU_TOPOLOGY, PMU_MAPPINGS, ...).
  std::vector<uint32_t> skipped_features;
  // Feature sections wick reads whose bytes did not hold what they should: not used.
  std::vector<uint32_t> malformed_features;
  uint64_t samples_unknown_attr = 0;  // their id matches no attr (perf: "unknown id")
  uint64_t samples_undecodable = 0;   // their attr's sample_type has bits wick cannot decode
  uint64_t samples_malformed = 0;     // did not parse with their attr's sample_type
  uint64_t records_unknown_attr = 0;  // non-SAMPLE records whose trailer id matches no attr
  uint64_t records_malformed = 0;     // non-SAMPLE records that did not parse
  // Records older than what a FINISHED_ROUND had already flushed (perf's "out of order
  // events"): yielded late, at the next flush.
  uint64_t records_out_of_order = 0;
  // MMAP2 records flagged PERF_RECORD_MISC_MMAP_BUILD_ID by an event without attr.build_id:
  // read as maj/min/ino (see SampleFormat::mmap_build_id). Information, nothing lost.
  uint64_t mmap_build_id_ignored = 0;
  uint64_t compressed_records = 0;
  uint64_t compressed_malformed = 0;  // COMPRESSED records zstd could not inflate
  uint64_t decompressed_bytes = 0;
  // False when the input ended early (cut short, perf killed, a corrupt record header):
  // everything before that point was yielded; truncation_note says where and what was lost.
  bool complete = true;
  std::string truncation_note;
};

class PerfDataReader {
 public:
  // A perf.data file (file or pipe format), mapped.
  static absl::StatusOr<PerfDataReader> OpenFile(const std::string& path);
  // A pipe (pipe format only, read as it comes) or a regular file (as OpenFile). `fd` is
  // borrowed; `name` ("stdin") names it in messages.
  static absl::StatusOr<PerfDataReader> OpenFd(int fd, std::string name);
  // Bytes already in memory (tests, fuzzers), either format; borrowed.
  static absl::StatusOr<PerfDataReader> OpenBuffer(std::span<const std::byte> data,
                                                   std::string name);

  PerfDataReader(PerfDataReader&&) noexcept;
  PerfDataReader& operator=(PerfDataReader&&) noexcept;
  ~PerfDataReader();

  const PerfDataInfo& info() const;
  const PerfDataStats& stats() const;

  // The next record in time order; nullptr after the last. A damaged stretch of data is not
  // an error (see PerfDataStats); errors are a pipe's read failure and pipe-mode records
  // that make the recording unreadable (an ARCH other than x86_64, attrs that disagree on
  // where the sample id is), each naming the input. Allocates only while buffers grow to
  // their working size: not per record.
  absl::StatusOr<const PerfDataRecord*> Next();

  // The attr index for sample id `id`, or -1.
  int AttrForId(uint64_t id) const;

  class Impl;

 private:
  explicit PerfDataReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// What a summary prints, empty when nothing was skipped: one line for the record types not
// used ("skipped, not used by wick: 3 KSYMBOL records, ...", most frequent first), one for
// the feature sections not used, and one per non-zero loss counter.
std::vector<std::string> DescribeSkipped(const PerfDataStats& stats);

}  // namespace wick

#endif  // WICK_PERF_DATA_H_
