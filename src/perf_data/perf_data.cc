// perf.data reader. The input is a byte range (a mapped file, or a buffer) or a pipe read in
// large chunks; either way records come out of NextTop() one at a time and go through
// HandleTop(). Kernel records are queued with their time and attr, found cheaply at fixed
// positions (PeekRecord), and decoded by ParseRecord() only when yielded. The queue is
// flushed the way perf's ordered_events flushes it (tools/perf/util/ordered-events.c): at
// each FINISHED_ROUND, every record not later than the newest time seen at the previous
// FINISHED_ROUND, sorted by time then arrival; the rest at the end. That limit is safe
// because perf writes FINISHED_ROUND after each pass over all its ring buffers, and a
// record read after one pass is never older than what the pass before already held.
//
// Records of a mapped file stay where they are. Records read from a pipe or inflated from
// COMPRESSED records are copied into one of two round arenas: a record queued in round N is
// flushed by the FINISHED_ROUND that ends round N + 1 at the latest, so when round N + 2
// starts, round N's arena is free again.
#include "wick/perf_data.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "feature_sections.h"
#include "format.h"
#include "wick/byte_reader.h"
#include "wick/scoped.h"
#include "wick/status.h"

namespace wick {

namespace fmt = perf_data_format;
using perf_data_internal::EventDesc;

namespace {

constexpr size_t kPipeChunk = 256 << 10;       // bytes per read() from a pipe
constexpr size_t kDecompressBuffer = 1 << 20;  // inflated bytes held at once
// A data section larger than this is not a size (2^56 bytes = 64 PiB).
constexpr uint64_t kAbsurdSize = uint64_t{1} << 56;

uint64_t LoadU64(std::span<const std::byte> bytes, size_t word) {
  uint64_t v;
  std::memcpy(&v, bytes.data() + 8 * word, 8);
  return v;
}

// Where the sample id lies in a SAMPLE (words after the header) and in a sample_id trailer
// (words from the record's end), as perf's __evsel__calc_id_pos / __evsel__calc_is_pos
// compute them; -1 when the event has no id.
int SampleIdPos(uint64_t st) {
  if (st & PERF_SAMPLE_IDENTIFIER) return 0;
  if (!(st & PERF_SAMPLE_ID)) return -1;
  return std::popcount(st &
                       (PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_ADDR));
}

int TrailerIdPos(uint64_t st) {
  if (st & PERF_SAMPLE_IDENTIFIER) return 1;
  if (!(st & PERF_SAMPLE_ID)) return -1;
  return 1 + std::popcount(st & (PERF_SAMPLE_CPU | PERF_SAMPLE_STREAM_ID));
}

const char* UserRecordName(uint32_t type) {
  switch (type) {
    case kPerfRecordHeaderAttr:
      return "HEADER_ATTR";
    case kPerfRecordHeaderEventType:
      return "HEADER_EVENT_TYPE";
    case kPerfRecordHeaderTracingData:
      return "HEADER_TRACING_DATA";
    case kPerfRecordHeaderBuildId:
      return "HEADER_BUILD_ID";
    case kPerfRecordFinishedRound:
      return "FINISHED_ROUND";
    case kPerfRecordIdIndex:
      return "ID_INDEX";
    case kPerfRecordAuxtraceInfo:
      return "AUXTRACE_INFO";
    case kPerfRecordAuxtrace:
      return "AUXTRACE";
    case kPerfRecordAuxtraceError:
      return "AUXTRACE_ERROR";
    case kPerfRecordThreadMap:
      return "THREAD_MAP";
    case kPerfRecordCpuMap:
      return "CPU_MAP";
    case kPerfRecordStatConfig:
      return "STAT_CONFIG";
    case kPerfRecordStat:
      return "STAT";
    case kPerfRecordStatRound:
      return "STAT_ROUND";
    case kPerfRecordEventUpdate:
      return "EVENT_UPDATE";
    case kPerfRecordTimeConv:
      return "TIME_CONV";
    case kPerfRecordHeaderFeature:
      return "HEADER_FEATURE";
    case kPerfRecordCompressed:
      return "COMPRESSED";
    case kPerfRecordFinishedInit:
      return "FINISHED_INIT";
    default:
      return nullptr;
  }
}

constexpr const char* kFeatureNames[] = {
    "RESERVED",        "TRACING_DATA", "BUILD_ID",     "HOSTNAME",     "OSRELEASE",
    "VERSION",         "ARCH",         "NRCPUS",       "CPUDESC",      "CPUID",
    "TOTAL_MEM",       "CMDLINE",      "EVENT_DESC",   "CPU_TOPOLOGY", "NUMA_TOPOLOGY",
    "BRANCH_STACK",    "PMU_MAPPINGS", "GROUP_DESC",   "AUXTRACE",     "STAT",
    "CACHE",           "SAMPLE_TIME",  "MEM_TOPOLOGY", "CLOCKID",      "DIR_FORMAT",
    "BPF_PROG_INFO",   "BPF_BTF",      "COMPRESSED",   "CPU_PMU_CAPS", "CLOCK_DATA",
    "HYBRID_TOPOLOGY", "PMU_CAPS",
};

// A name for an event perf did not name (no EVENT_DESC), from its type and config.
std::string DerivedEventName(const perf_event_attr& attr, const PerfDataInfo& info) {
  static constexpr const char* kHardware[] = {"cycles",
                                              "instructions",
                                              "cache-references",
                                              "cache-misses",
                                              "branches",
                                              "branch-misses",
                                              "bus-cycles",
                                              "stalled-cycles-frontend",
                                              "stalled-cycles-backend",
                                              "ref-cycles"};
  static constexpr const char* kSoftware[] = {
      "cpu-clock",        "task-clock",   "page-faults",  "context-switches",
      "cpu-migrations",   "minor-faults", "major-faults", "alignment-faults",
      "emulation-faults", "dummy",        "bpf-output",   "cgroup-switches"};
  switch (attr.type) {
    case PERF_TYPE_HARDWARE:
      if (attr.config < std::size(kHardware)) return kHardware[attr.config];
      break;
    case PERF_TYPE_SOFTWARE:
      if (attr.config < std::size(kSoftware)) return kSoftware[attr.config];
      break;
    case PERF_TYPE_TRACEPOINT:
      for (const PerfDataTraceFormat& f : info.tracing_data.formats) {
        if (perf_data_internal::TraceFormatId(f.text) != attr.config) continue;
        const size_t start = f.text.find("name: ");
        if (start == std::string::npos) break;
        const size_t end = f.text.find('\n', start);
        return absl::StrCat(f.system, ":", f.text.substr(start + 6, end - start - 6));
      }
      return absl::StrCat("tracepoint ", attr.config);
    default:
      break;
  }
  return absl::StrFormat("type %u/0x%x", attr.type, attr.config);
}

}  // namespace

std::string PerfRecordTypeName(uint32_t type) {
  if (const char* k = KernelRecordName(type)) return k;
  if (const char* u = UserRecordName(type)) return u;
  return absl::StrCat("type ", type);
}

std::string PerfFeatureName(uint32_t feature) {
  if (feature < std::size(kFeatureNames)) return kFeatureNames[feature];
  return absl::StrCat("feature ", feature);
}

bool LooksLikePerfData(std::span<const std::byte> head) {
  if (head.size() < 8) return false;
  const uint64_t magic = LoadU64(head, 0);
  return magic == kPerfFileMagic || magic == kPerfFileMagicSwapped;
}

std::vector<std::string> DescribeSkipped(const PerfDataStats& stats) {
  std::vector<std::pair<uint64_t, uint32_t>> by_count;
  for (const auto& [type, n] : stats.skipped_records) by_count.emplace_back(n, type);
  std::sort(by_count.begin(), by_count.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  // Types and sections wick has no use for are information, one line each, so that a
  // summary stays short; what was lost gets a line of its own.
  std::vector<std::string> lines;
  std::string records;
  for (const auto& [n, type] : by_count) {
    absl::StrAppend(&records, records.empty() ? "" : ", ", n, " ", PerfRecordTypeName(type),
                    " record", n == 1 ? "" : "s");
  }
  if (!records.empty()) lines.push_back("skipped, not used by wick: " + records);
  auto line = [&](uint64_t n, std::string_view what) {
    if (n != 0) lines.push_back(absl::StrCat(n, " ", Sv(what)));
  };
  line(stats.samples_unknown_attr, "samples skipped: their id matches no event in the header");
  line(stats.samples_undecodable, "samples skipped: their event's sample_type is not decodable");
  line(stats.samples_malformed, "samples skipped: malformed");
  line(stats.records_unknown_attr, "records skipped: their id matches no event in the header");
  line(stats.records_malformed, "records skipped: malformed");
  line(stats.records_out_of_order, "records arrived after a later round was flushed");
  line(stats.compressed_malformed, "compressed records could not be inflated (zstd)");
  line(stats.mmap_build_id_ignored,
       "MMAP2 records had the kernel's build-id bit without attr.build_id (read as maj/min/ino)");
  std::string features;
  for (uint32_t f : stats.skipped_features) {
    absl::StrAppend(&features, features.empty() ? "" : ", ", PerfFeatureName(f));
  }
  if (!features.empty()) lines.push_back("feature sections not used by wick: " + features);
  for (uint32_t f : stats.malformed_features) {
    lines.push_back(absl::StrCat("feature section ", PerfFeatureName(f), " malformed, skipped"));
  }
  return lines;
}

class PerfDataReader::Impl {
 public:
  explicit Impl(std::string name) : name_(std::move(name)) {}
  ~Impl() {
    if (zstd_ != nullptr) ZSTD_freeDStream(zstd_);
  }

  // A mapped file or a buffer, in file or pipe format.
  absl::Status OpenBytes(std::span<const std::byte> bytes) {
    bytes_ = bytes;
    if (bytes.empty()) return Error("empty file (0 bytes): not a perf.data");
    WICK_RETURN_IF_ERROR(CheckMagic(bytes));
    uint64_t header_size = 0;
    if (bytes.size() < 16) return CutInHeader(bytes.size(), 16);
    std::memcpy(&header_size, bytes.data() + 8, 8);
    if (header_size == fmt::kPipeHeaderSize) {
      info_.pipe_mode = true;
      pos_ = fmt::kPipeHeaderSize;
      data_end_ = bytes.size();
      return ReadPrologue();
    }
    if (header_size != fmt::kFileHeaderSize && header_size != fmt::kFileHeaderSizeNoFeatures) {
      return Error(absl::StrCat("header size ", header_size,
                                " is neither a perf.data file header's (104) nor a pipe "
                                "header's (16): corrupt header"));
    }
    return ReadFileHeader(header_size);
  }

  // A pipe, read as it comes: pipe format only.
  absl::Status OpenStream(int fd) {
    fd_ = fd;
    streaming_ = true;
    info_.pipe_mode = true;
    inbuf_.resize(kPipeChunk / 8);
    WICK_ASSIGN_OR_RETURN(bool have, Fill(16));
    (void)have;
    const size_t got = in_end_ - in_begin_;
    if (got == 0) {
      return Error("empty input: no perf.data header (did perf record -o - fail?)");
    }
    std::span<const std::byte> head = InBytes().subspan(0, got);
    WICK_RETURN_IF_ERROR(CheckMagic(head));
    if (got < 16) return CutInHeader(got, 16);
    uint64_t header_size = LoadU64(head, 1);
    if (header_size != fmt::kPipeHeaderSize) {
      return Error(absl::StrCat(
          "header size ", header_size,
          header_size == fmt::kFileHeaderSize
              ? ": a perf.data in file mode cannot be read from a pipe; pass it as a file "
                "(perf record -o - writes the pipe format)"
              : " is not a pipe header's (16): corrupt header"));
    }
    in_begin_ += 16;
    stream_offset_ = 16;
    return ReadPrologue();
  }

  const PerfDataInfo& info() const { return info_; }
  const PerfDataStats& stats() const { return stats_; }

  int AttrForId(uint64_t id) const {
    auto it = id_to_attr_.find(id);
    return it == id_to_attr_.end() ? -1 : static_cast<int>(it->second);
  }

  absl::StatusOr<const PerfDataRecord*> Next() {
    while (true) {
      while (ready_pos_ < ready_.size()) {
        const Queued q = ready_[ready_pos_++];
        std::span<const std::byte> rec = Resolve(q);
        PerfDataRecord& out = current_;
        SampleFormat format = info_.attrs[q.attr].format;
        // perf's own MMAP2 records (synthesized at start: time 0) carry build-ids whichever
        // event they are filed under, when perf asked for them (--buildid-mmap).
        if (q.type == PERF_RECORD_MMAP2 && q.time == 0 && any_build_id_) {
          format.mmap_build_id = true;
        }
        absl::Status st = ParseRecord(rec, format, &out.parsed);
        if (!st.ok()) {
          if (q.type == PERF_RECORD_SAMPLE) {
            ++stats_.samples_malformed;
          } else {
            ++stats_.records_malformed;
          }
          continue;
        }
        if (q.type == PERF_RECORD_MMAP2 && (out.parsed.misc & PERF_RECORD_MISC_MMAP_BUILD_ID) &&
            !out.parsed.mmap.has_build_id) {
          ++stats_.mmap_build_id_ignored;
        }
        out.attr = q.attr;
        out.time = q.time;
        out.bytes = rec;
        ++stats_.records;
        if (q.type == PERF_RECORD_SAMPLE) ++stats_.samples;
        return &out;
      }
      ready_.clear();
      ready_pos_ = 0;
      if (done_) {
        if (!stats_.complete && !counted_) {
          absl::StrAppend(&stats_.truncation_note, "; read ", stats_.records, " records (",
                          stats_.samples, " samples) before that");
          counted_ = true;
        }
        return nullptr;
      }
      WICK_RETURN_IF_ERROR(FillReady());
    }
  }

 private:
  // Where a queued record's bytes are.
  enum class Where : uint8_t { kInput, kArena0, kArena1 };

  struct Queued {
    uint64_t time;
    uint64_t seq;     // arrival order: ties keep it, as perf's queue does
    uint64_t offset;  // bytes into the input, or into the arena
    uint32_t attr;
    uint32_t type;
    uint16_t size;
    Where where;
  };

  absl::Status Error(std::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(name_, ": ", Sv(what)));
  }

  absl::Status CutInHeader(uint64_t have, uint64_t need) const {
    return Error(absl::StrCat("cut short inside its header (", have, " of ", need, " bytes)"));
  }

  absl::Status CheckMagic(std::span<const std::byte> head) const {
    if (head.size() < 8) {
      return Error(absl::StrCat("not a perf.data (", head.size(), " bytes, no PERFILE2 magic)"));
    }
    const uint64_t magic = LoadU64(head, 0);
    if (magic == kPerfFileMagic) return absl::OkStatus();
    if (magic == kPerfFileMagicSwapped) {
      return Error(
          "a perf.data from a big-endian machine (byte-swapped PERFILE2 magic): wick reads "
          "little-endian x86_64 recordings only");
    }
    if (magic == fmt::kPerfFileMagicV1) {
      return Error(
          "a version 1 perf.data (PERFFILE magic, perf before Linux 2.6.37): not supported");
    }
    return Error("not a perf.data (no PERFILE2 magic)");
  }

  // --- File mode header -------------------------------------------------------------------

  struct Section {
    uint64_t offset = 0, size = 0;
    uint64_t end() const { return offset + size; }
  };

  Section ReadSection(size_t at) const {
    Section s;
    std::memcpy(&s.offset, bytes_.data() + at, 8);
    std::memcpy(&s.size, bytes_.data() + at + 8, 8);
    return s;
  }

  static bool Overlap(const Section& a, const Section& b) {
    return a.size != 0 && b.size != 0 && a.offset < b.end() && b.offset < a.end();
  }

  absl::Status ReadFileHeader(uint64_t header_size) {
    const uint64_t file_size = bytes_.size();
    if (file_size < header_size) return CutInHeader(file_size, header_size);
    uint64_t attr_size = 0;
    std::memcpy(&attr_size, bytes_.data() + 16, 8);
    const Section attrs = ReadSection(24);
    Section data = ReadSection(40);
    auto where = [](const Section& s) { return absl::StrCat("[", s.offset, ", +", s.size, ")"); };
    for (const auto& [s, what] : {std::pair{attrs, "attrs"}, std::pair{data, "data"}}) {
      if (s.offset > kAbsurdSize || s.size > kAbsurdSize) {
        return Error(absl::StrCat("the header's ", what, " section ", where(s),
                                  " is absurd: corrupt header"));
      }
      // An empty data section still says where the data of an unfinished file begins.
      if ((s.size != 0 || s.offset == data.offset) && s.offset < header_size) {
        return Error(absl::StrCat("the header's ", what, " section ", where(s),
                                  " overlaps the header: corrupt header"));
      }
    }
    if (attr_size < fmt::kAttrSizeVer0 + fmt::kSectionSize || attr_size > fmt::kMaxAttrSize) {
      return Error(
          absl::StrCat("attr_size ", attr_size, " is not a perf_event_attr's: corrupt header"));
    }
    if (attrs.size == 0) return Error("no events in the header (attrs section empty)");
    if (attrs.size % attr_size != 0) {
      return Error(absl::StrCat("the attrs section's ", attrs.size,
                                " bytes are not a multiple of attr_size ", attr_size,
                                ": corrupt header"));
    }
    if (attrs.end() > file_size) {
      return Error(absl::StrCat("the attrs section ", where(attrs),
                                " runs past the end of the file (", file_size,
                                " bytes): cut short or corrupt header"));
    }
    // perf writes the data size when it finishes: 0 means it never did (killed, or crashed),
    // and the data runs to the end of the file.
    const bool unfinished = data.size == 0;
    const Section data_read = {
        data.offset, unfinished && data.offset < file_size ? file_size - data.offset : data.size};
    if (Overlap(attrs, data_read)) {
      return Error(absl::StrCat("the attrs section ", where(attrs), " overlaps the data section ",
                                where(data_read), ": corrupt header"));
    }
    for (uint64_t off = attrs.offset; off < attrs.end(); off += attr_size) {
      WICK_RETURN_IF_ERROR(ReadFileAttr(bytes_.subspan(off, attr_size), data_read));
    }

    pos_ = data.offset;
    data_end_ = data_read.end();
    if (unfinished) {
      AddNote(
          "the header's data size is 0 (perf record did not finish): read to the end of "
          "the file");
    }
    if (pos_ > file_size) {
      pos_ = data_end_ = file_size;
      AddNote(absl::StrCat("cut short: the data starts at byte ", data.offset,
                           " but the file ends at ", file_size));
    } else if (data_end_ > file_size) {
      AddNote(absl::StrCat("cut short: the header says the data ends at byte ", data_end_,
                           " but the file ends at ", file_size));
      data_end_ = file_size;
    }
    if (header_size == fmt::kFileHeaderSize && !unfinished) ReadFeatures(data.end());
    return ReadPrologue();
  }

  absl::Status ReadFileAttr(std::span<const std::byte> entry, const Section& data) {
    const size_t attr_bytes = entry.size() - fmt::kSectionSize;
    uint32_t size = 0;
    std::memcpy(&size, entry.data() + 4, 4);
    if (size == 0) size = fmt::kAttrSizeVer0;  // files of perf's first ABI
    if (size > attr_bytes) {
      return Error(absl::StrCat("event ", info_.attrs.size(), ": attr.size ", size,
                                " is larger than the attrs entry (", attr_bytes,
                                " bytes): corrupt header"));
    }
    Section ids;
    std::memcpy(&ids.offset, entry.data() + attr_bytes, 8);
    std::memcpy(&ids.size, entry.data() + attr_bytes + 8, 8);
    const auto where = absl::StrCat("[", ids.offset, ", +", ids.size, ")");
    if (ids.size % 8 != 0 || ids.offset > kAbsurdSize || ids.size > kAbsurdSize) {
      return Error(absl::StrCat("event ", info_.attrs.size(), ": ids section ", where,
                                " is absurd: corrupt header"));
    }
    if (ids.end() > bytes_.size()) {
      return Error(absl::StrCat("event ", info_.attrs.size(), ": ids section ", where,
                                " runs past the end of the file (", bytes_.size(),
                                " bytes): cut short or corrupt header"));
    }
    if (Overlap(ids, data) || (ids.size != 0 && ids.offset < fmt::kFileHeaderSizeNoFeatures)) {
      return Error(absl::StrCat("event ", info_.attrs.size(), ": ids section ", where,
                                " overlaps the header or the data: corrupt header"));
    }
    AddAttr(entry.first(size), bytes_.subspan(ids.offset, ids.size));
    return absl::OkStatus();
  }

  void ReadFeatures(uint64_t table) {
    uint64_t bits[4];
    std::memcpy(bits, bytes_.data() + fmt::kFeatureBitmapOffset, sizeof(bits));
    size_t n = 0;
    for (uint64_t w : bits) n += std::popcount(w);
    if (n == 0) return;
    if (table > bytes_.size() || n * fmt::kSectionSize > bytes_.size() - table) {
      AddNote(absl::StrCat("cut short: the ", n,
                           " feature sections (build-ids, event names, ...) "
                           "were to follow the data at byte ",
                           table));
      return;
    }
    for (uint32_t feat = 0; feat < fmt::kFeatureBits; ++feat) {
      if (!(bits[feat / 64] >> (feat % 64) & 1)) continue;
      const Section s = ReadSection(table);
      table += fmt::kSectionSize;
      if (!perf_data_internal::IsReadFeature(feat)) {
        stats_.skipped_features.push_back(feat);
        continue;
      }
      if (s.offset > bytes_.size() || s.size > bytes_.size() - s.offset) {
        AddNote(absl::StrCat("cut short: feature section ", PerfFeatureName(feat),
                             " lies past the end of the file"));
        continue;
      }
      ReadFeature(feat, bytes_.subspan(s.offset, s.size));
    }
  }

  void ReadFeature(uint32_t feat, std::span<const std::byte> bytes) {
    std::vector<EventDesc> descs;
    if (!perf_data_internal::ParseFeature(feat, bytes, &info_, &descs)) {
      stats_.malformed_features.push_back(feat);
      return;
    }
    for (size_t i = 0; i < descs.size(); ++i) {
      int attr = descs[i].ids.empty() ? -1 : AttrForId(descs[i].ids[0]);
      // Without ids, perf matches EVENT_DESC entries to events by position.
      if (attr < 0 && descs[i].ids.empty() && i < info_.attrs.size()) attr = static_cast<int>(i);
      if (attr >= 0 && !descs[i].name.empty()) SetName(attr, descs[i].name);
    }
  }

  // --- Attrs --------------------------------------------------------------------------------

  void AddAttr(std::span<const std::byte> attr_bytes, std::span<const std::byte> ids) {
    PerfDataAttr a;
    std::memcpy(&a.attr, attr_bytes.data(), std::min(attr_bytes.size(), sizeof(a.attr)));
    a.format = SampleFormat::FromAttr(a.attr);
    a.format.mmap_build_id = a.attr.build_id != 0;
    any_build_id_ = any_build_id_ || a.attr.build_id != 0;
    a.decodable = ValidateSampleFormat(a.format);
    const uint32_t index = info_.attrs.size();
    a.ids.resize(ids.size() / 8);
    for (size_t i = 0; i < a.ids.size(); ++i) {
      a.ids[i] = LoadU64(ids, i);
      id_to_attr_[a.ids[i]] = index;
    }
    info_.attrs.push_back(std::move(a));
    perf_named_.push_back(false);
    CheckIdPosition(info_.attrs.back());
  }

  void SetName(size_t attr, std::string_view name) {
    info_.attrs[attr].name.assign(name);
    perf_named_[attr] = true;
  }

  // Names for events perf did not name; again when tracing data arrives (pipe mode).
  void FinishAttrs() {
    for (size_t i = 0; i < info_.attrs.size(); ++i) {
      if (!perf_named_[i]) info_.attrs[i].name = DerivedEventName(info_.attrs[i].attr, info_);
    }
  }

  // With several events, perf finds each record's event through the id at one position
  // common to all of them (evlist__valid_sample_type); a file where they disagree is one
  // perf itself refuses ("non matching sample_type").
  // Checked as each event is added, against the first: no pass over all of them.
  void CheckIdPosition(const PerfDataAttr& a) {
    const PerfDataAttr& first = info_.attrs[0];
    if (&a == &first) {
      id_pos_ = SampleIdPos(first.attr.sample_type);
      trailer_id_pos_ = TrailerIdPos(first.attr.sample_type);
      return;
    }
    if (!ids_consistent_) return;
    if (SampleIdPos(a.attr.sample_type) != id_pos_ ||
        TrailerIdPos(a.attr.sample_type) != trailer_id_pos_ ||
        a.attr.sample_id_all != first.attr.sample_id_all || id_pos_ < 0) {
      ids_consistent_ = false;
      id_error_ = absl::StrFormat(
          "its events do not all carry the sample id at the same place (sample_type 0x%x vs "
          "0x%x): perf cannot match records to events either",
          first.attr.sample_type, a.attr.sample_type);
    }
  }

  absl::Status CheckReadable() const {
    if (!info_.arch.empty() && info_.arch != "x86_64") {
      return Error(absl::StrCat("recorded on ", info_.arch, ": wick reads x86_64 recordings only"));
    }
    if (!ids_consistent_) return Error(id_error_);
    return absl::OkStatus();
  }

  // --- Reading records ----------------------------------------------------------------------

  std::span<const std::byte> InBytes() const {
    return std::as_bytes(std::span<const uint64_t>(inbuf_)).subspan(in_begin_);
  }

  // Makes at least `need` bytes available at in_begin_, reading the pipe as needed. False at
  // the end of the input with fewer.
  absl::StatusOr<bool> Fill(size_t need) {
    if (in_end_ - in_begin_ >= need) return true;
    if (in_begin_ > 0) {
      std::byte* base = reinterpret_cast<std::byte*>(inbuf_.data());
      std::memmove(base, base + in_begin_, in_end_ - in_begin_);
      in_end_ -= in_begin_;
      in_begin_ = 0;
    }
    if (need > inbuf_.size() * 8) inbuf_.resize((need + 7) / 8);
    std::byte* base = reinterpret_cast<std::byte*>(inbuf_.data());
    while (in_end_ < need && !eof_) {
      const ssize_t n = ::read(fd_, base + in_end_, inbuf_.size() * 8 - in_end_);
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoError(errno, absl::StrCat("reading perf.data from ", name_));
      }
      if (n == 0) eof_ = true;
      in_end_ += n;
    }
    return in_end_ >= need;
  }

  // The header of the next top-level record, without consuming it; false at the end.
  absl::StatusOr<bool> PeekHeader(perf_event_header* header) {
    if (streaming_) {
      WICK_ASSIGN_OR_RETURN(bool have, Fill(sizeof(*header)));
      if (!have) return false;
      std::memcpy(header, InBytes().data(), sizeof(*header));
      return true;
    }
    if (data_end_ - pos_ < sizeof(*header)) return false;
    std::memcpy(header, bytes_.data() + pos_, sizeof(*header));
    return true;
  }

  uint64_t InputOffset() const { return streaming_ ? stream_offset_ : pos_; }

  // The next top-level record, or an empty span at the end of the input (a partial or
  // corrupt record there ends it too, with a note). A mapped record's span stays valid; a
  // streamed one is valid until the next read.
  absl::StatusOr<std::span<const std::byte>> NextTop() {
    if (input_ended_) return std::span<const std::byte>();
    WICK_ASSIGN_OR_RETURN(std::span<const std::byte> rec, ReadTop());
    input_ended_ = rec.empty();
    return rec;
  }

  absl::StatusOr<std::span<const std::byte>> ReadTop() {
    perf_event_header header;
    WICK_ASSIGN_OR_RETURN(bool have, PeekHeader(&header));
    const uint64_t at = InputOffset();
    const uint64_t left = streaming_ ? in_end_ - in_begin_ : data_end_ - pos_;
    if (!have) {
      if (left > 0) {
        AddNote(absl::StrCat("cut short: the data ends inside a record header at byte ", at));
      }
      return std::span<const std::byte>();
    }
    if (header.size < sizeof(header)) {
      AddNote(absl::StrCat("corrupt record header at byte ", at, " (size ", header.size,
                           "): nothing after it was read"));
      return std::span<const std::byte>();
    }
    if (streaming_) {
      WICK_ASSIGN_OR_RETURN(bool whole, Fill(header.size));
      if (!whole) {
        AddNote(absl::StrCat("cut short: the input ends inside a ", PerfRecordTypeName(header.type),
                             " record at byte ", at));
        return std::span<const std::byte>();
      }
      std::span<const std::byte> rec = InBytes().first(header.size);
      in_begin_ += header.size;
      stream_offset_ += header.size;
      return rec;
    }
    if (header.size > left) {
      AddNote(absl::StrCat("cut short: the data ends inside a ", PerfRecordTypeName(header.type),
                           " record at byte ", at));
      pos_ = data_end_;
      return std::span<const std::byte>();
    }
    std::span<const std::byte> rec = bytes_.subspan(pos_, header.size);
    pos_ += header.size;
    return rec;
  }

  // Bytes that follow a record outside its header.size (HEADER_TRACING_DATA, AUXTRACE):
  // copied into *out, or skipped when out is null. False when the input ends first.
  absl::StatusOr<bool> ReadExtra(uint64_t n, std::string* out) {
    if (out != nullptr) out->clear();
    if (!streaming_) {
      if (n > data_end_ - pos_) {
        pos_ = data_end_;
        return false;
      }
      if (out != nullptr) out->assign(reinterpret_cast<const char*>(bytes_.data() + pos_), n);
      pos_ += n;
      return true;
    }
    while (n > 0) {
      WICK_ASSIGN_OR_RETURN(bool have, Fill(1));
      if (!have) return false;
      const size_t take = std::min<uint64_t>(n, in_end_ - in_begin_);
      if (out != nullptr) out->append(reinterpret_cast<const char*>(InBytes().data()), take);
      in_begin_ += take;
      stream_offset_ += take;
      n -= take;
    }
    return true;
  }

  // What perf writes before the first kernel record (pipe mode: attrs, features, tracing
  // data; both modes: the id index) is read at open, so that info() describes the
  // recording from the start.
  absl::Status ReadPrologue() {
    while (true) {
      perf_event_header header;
      WICK_ASSIGN_OR_RETURN(bool have, PeekHeader(&header));
      if (!have || header.type < kPerfRecordHeaderAttr || header.type == kPerfRecordFinishedRound ||
          header.type == kPerfRecordCompressed || header.type == kPerfRecordAuxtrace) {
        break;
      }
      WICK_ASSIGN_OR_RETURN(std::span<const std::byte> rec, NextTop());
      if (rec.empty()) break;
      WICK_RETURN_IF_ERROR(HandleTop(rec, /*stable=*/false));
    }
    if (info_.attrs.empty()) {
      return Error(
          "no events (no HEADER_ATTR record before the data): not a whole perf.data "
          "pipe stream");
    }
    FinishAttrs();
    return CheckReadable();
  }

  // Reads top-level records until some are ready to yield or the input ends.
  absl::Status FillReady() {
    while (ready_.empty()) {
      if (rotate_) {
        // A new round starts and nothing waits to be yielded: every record of the arena
        // about to be reused was flushed and yielded (see the file comment). The count
        // check keeps a damaged stream from breaking that.
        const int next = 1 - arena_;
        if (arena_refs_[next] == 0) {
          arenas_[next].clear();
          arena_ = next;
        }
        rotate_ = false;
      }
      WICK_ASSIGN_OR_RETURN(std::span<const std::byte> rec, NextTop());
      if (rec.empty()) {
        Flush(UINT64_MAX);
        done_ = true;
        if (decomp_len_ > 0) {
          AddNote(absl::StrCat("cut short: the last ", decomp_len_,
                               " inflated bytes hold no whole record"));
        }
        return absl::OkStatus();
      }
      WICK_RETURN_IF_ERROR(HandleTop(rec, !streaming_));
    }
    return absl::OkStatus();
  }

  // One record from the input (stable: its bytes stay valid; inner: it came out of a
  // COMPRESSED record).
  absl::Status HandleTop(std::span<const std::byte> rec, bool stable, bool inner = false) {
    perf_event_header header;
    std::memcpy(&header, rec.data(), sizeof(header));
    if (header.type < kPerfRecordHeaderAttr) {
      HandleKernel(rec, header, stable);
      return absl::OkStatus();
    }
    std::span<const std::byte> body = rec.subspan(sizeof(header));
    ByteReader r(body);
    switch (header.type) {
      case kPerfRecordFinishedRound:
        Flush(next_flush_);
        next_flush_ = max_time_;
        rotate_ = true;
        return absl::OkStatus();
      case kPerfRecordFinishedInit:
        return absl::OkStatus();
      case kPerfRecordCompressed:
        if (inner) break;
        Inflate(body);
        return absl::OkStatus();
      case kPerfRecordHeaderAttr: {
        uint32_t size = 0;
        if (body.size() >= 8) std::memcpy(&size, body.data() + 4, 4);
        if (size == 0) size = fmt::kAttrSizeVer0;
        if (size > body.size()) {
          ++stats_.records_malformed;
          return absl::OkStatus();
        }
        AddAttr(body.first(size), body.subspan(size, (body.size() - size) / 8 * 8));
        info_.attrs.back().name = DerivedEventName(info_.attrs.back().attr, info_);
        if (!ids_consistent_) return Error(id_error_);
        return absl::OkStatus();
      }
      case kPerfRecordHeaderFeature: {
        uint64_t feat = 0;
        if (!r.Read(&feat)) {
          ++stats_.records_malformed;
          return absl::OkStatus();
        }
        if (feat == kPerfFeatLast) return absl::OkStatus();
        if (feat >= fmt::kFeatureBits || !perf_data_internal::IsReadFeature(feat)) {
          stats_.skipped_features.push_back(static_cast<uint32_t>(feat));
          return absl::OkStatus();
        }
        ReadFeature(feat, r.Rest());
        if (feat == kPerfFeatTracingData) FinishAttrs();
        return CheckReadable();
      }
      case kPerfRecordHeaderTracingData: {
        uint32_t size = 0;
        if (inner || !r.Read(&size)) break;
        std::string raw;
        WICK_ASSIGN_OR_RETURN(bool whole, ReadExtra((uint64_t{size} + 7) / 8 * 8, &raw));
        if (!whole) {
          AddNote("cut short inside the tracing data");
          return absl::OkStatus();
        }
        if (perf_data_internal::ParseTracingData(
                std::as_bytes(std::span<const char>(raw.data(), size)), &info_.tracing_data)) {
          info_.has_tracing_data = true;
          FinishAttrs();
        } else {
          stats_.malformed_features.push_back(kPerfFeatTracingData);
        }
        return absl::OkStatus();
      }
      case kPerfRecordHeaderBuildId: {
        PerfDataBuildId b;
        if (perf_data_internal::ParseBuildIdRecord(rec, &b)) {
          info_.build_ids.push_back(std::move(b));
        } else {
          ++stats_.records_malformed;
        }
        return absl::OkStatus();
      }
      case kPerfRecordIdIndex: {
        uint64_t nr = 0;
        if (!r.Read(&nr) || nr > r.remaining() / 32) {
          ++stats_.records_malformed;
          return absl::OkStatus();
        }
        for (uint64_t i = 0; i < nr; ++i) {
          PerfDataIdIndexEntry e;
          r.Read(&e.id) && r.Read(&e.idx) && r.Read(&e.cpu) && r.Read(&e.tid);
          info_.id_index.push_back(e);
        }
        return absl::OkStatus();
      }
      case kPerfRecordEventUpdate: {
        uint64_t type = 0, id = 0;
        std::string_view name;
        if (r.Read(&type) && r.Read(&id) && type == fmt::kEventUpdateName &&
            r.ReadString(r.remaining(), &name)) {
          if (int attr = AttrForId(id); attr >= 0) SetName(attr, name);
          return absl::OkStatus();
        }
        break;  // unit, scale, cpus: not used
      }
      case kPerfRecordAuxtrace: {
        uint64_t size = 0;
        if (inner || !r.Read(&size)) break;
        WICK_ASSIGN_OR_RETURN(bool whole, ReadExtra(size, nullptr));
        if (!whole) AddNote("cut short inside AUXTRACE data");
        break;
      }
      default:
        break;
    }
    ++stats_.skipped_records[header.type];
    return absl::OkStatus();
  }

  void HandleKernel(std::span<const std::byte> rec, const perf_event_header& header, bool stable) {
    if (!IsDecodedRecordType(header.type)) {
      ++stats_.skipped_records[header.type];
      return;
    }
    const bool sample = header.type == PERF_RECORD_SAMPLE;
    int attr = -1;
    uint64_t time = 0;
    PeekRecord(rec, sample, &attr, &time);
    if (attr < 0) {
      ++(sample ? stats_.samples_unknown_attr : stats_.records_unknown_attr);
      return;
    }
    if (sample && !info_.attrs[attr].decodable.ok()) {
      ++stats_.samples_undecodable;
      return;
    }
    Queued q;
    q.time = time;
    q.seq = seq_++;
    q.attr = attr;
    q.type = header.type;
    q.size = header.size;
    if (stable && reinterpret_cast<uintptr_t>(rec.data()) % 8 == 0) {
      q.where = Where::kInput;
      q.offset = rec.data() - bytes_.data();
    } else {
      // Copy into the round's arena, padded to whole words so that every record there is
      // 8-byte aligned as ParseRecord() wants.
      std::vector<uint64_t>& arena = arenas_[arena_];
      q.where = arena_ == 0 ? Where::kArena0 : Where::kArena1;
      q.offset = arena.size() * 8;
      arena.resize(arena.size() + (rec.size() + 7) / 8);
      std::memcpy(reinterpret_cast<std::byte*>(arena.data()) + q.offset, rec.data(), rec.size());
    }
    // Records without a time (perf's synthesized ones) go out as read, as perf delivers them.
    if (time == 0) {
      ready_.push_back(q);
      return;
    }
    if (time < last_flush_) ++stats_.records_out_of_order;
    max_time_ = std::max(max_time_, time);
    if (q.where != Where::kInput) ++arena_refs_[q.where == Where::kArena0 ? 0 : 1];
    pending_.push_back(q);
  }

  // The event and time of a kernel record, read at their fixed positions (perf's
  // evlist__event2evsel and evlist__parse_sample_timestamp). attr -1: no event matches.
  void PeekRecord(std::span<const std::byte> rec, bool sample, int* attr, uint64_t* time) const {
    if (info_.attrs.empty()) return;
    const std::span<const std::byte> body = rec.subspan(sizeof(perf_event_header));
    const size_t words = body.size() / 8;
    const PerfDataAttr& first = info_.attrs[0];
    if (info_.attrs.size() == 1 || (!sample && !first.attr.sample_id_all)) {
      *attr = 0;
    } else {
      const int pos = sample ? id_pos_ : static_cast<int>(words) - trailer_id_pos_;
      if (pos < 0 || static_cast<size_t>(pos) >= words) return;
      const uint64_t id = LoadU64(body, pos);
      // Synthesized records carry id 0 and belong to the first event (perf does the same).
      *attr = id == 0 ? 0 : AttrForId(id);
      if (*attr < 0) return;
    }
    const uint64_t st = info_.attrs[*attr].attr.sample_type;
    if (!(st & PERF_SAMPLE_TIME)) return;
    if (sample) {
      const size_t pos =
          std::popcount(st & (PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_IP | PERF_SAMPLE_TID));
      if (pos < words) *time = LoadU64(body, pos);
    } else if (info_.attrs[*attr].attr.sample_id_all) {
      // The trailer's order is TID, TIME, ID, STREAM_ID, CPU, IDENTIFIER.
      const size_t from_end = 1 + std::popcount(st & (PERF_SAMPLE_ID | PERF_SAMPLE_STREAM_ID |
                                                      PERF_SAMPLE_CPU | PERF_SAMPLE_IDENTIFIER));
      if (from_end <= words) *time = LoadU64(body, words - from_end);
    }
  }

  // Moves every pending record with time <= limit to ready_, in time order. (By hand: the
  // standard stable_partition allocates a buffer each time.)
  void Flush(uint64_t limit) {
    const size_t first = ready_.size();
    size_t kept = 0;
    for (const Queued& q : pending_) {
      if (q.time > limit) {
        pending_[kept++] = q;
        continue;
      }
      if (q.where != Where::kInput) --arena_refs_[q.where == Where::kArena0 ? 0 : 1];
      ready_.push_back(q);
    }
    pending_.resize(kept);
    if (ready_.size() == first) return;
    std::sort(ready_.begin() + first, ready_.end(), [](const Queued& a, const Queued& b) {
      return a.time != b.time ? a.time < b.time : a.seq < b.seq;
    });
    last_flush_ = ready_.back().time;
  }

  std::span<const std::byte> Resolve(const Queued& q) const {
    switch (q.where) {
      case Where::kInput:
        return bytes_.subspan(q.offset, q.size);
      case Where::kArena0:
      case Where::kArena1: {
        const std::vector<uint64_t>& arena = arenas_[q.where == Where::kArena0 ? 0 : 1];
        return std::as_bytes(std::span<const uint64_t>(arena)).subspan(q.offset, q.size);
      }
    }
    return {};
  }

  // A COMPRESSED record's zstd stream. perf compresses each pass over a ring into records
  // of one continuing stream (zstd_compress_stream_to_records), so a frame and a record may
  // span several COMPRESSED records: the stream and a partial record carry over.
  void Inflate(std::span<const std::byte> payload) {
    ++stats_.compressed_records;
    if (zstd_ == nullptr) {
      zstd_ = ZSTD_createDStream();
      if (zstd_ == nullptr) {
        ++stats_.compressed_malformed;
        return;
      }
      ZSTD_initDStream(zstd_);
    }
    if (decomp_.empty()) decomp_.resize(kDecompressBuffer / 8);
    ZSTD_inBuffer in{payload.data(), payload.size(), 0};
    while (true) {
      // Whole records leave the buffer as it fills, so it stays at its size: a record is at
      // most 64 KiB, far less than the buffer.
      if (decomp_.size() * 8 - decomp_len_ < kDecompressBuffer / 2) DrainInflated();
      ZSTD_outBuffer out{reinterpret_cast<std::byte*>(decomp_.data()) + decomp_len_,
                         decomp_.size() * 8 - decomp_len_, 0};
      const size_t in_before = in.pos;
      const size_t ret = ZSTD_decompressStream(zstd_, &out, &in);
      if (ZSTD_isError(ret)) {
        ++stats_.compressed_malformed;
        ZSTD_DCtx_reset(zstd_, ZSTD_reset_session_only);
        decomp_len_ = 0;
        return;
      }
      decomp_len_ += out.pos;
      stats_.decompressed_bytes += out.pos;
      // Done when the input is used up and zstd did not fill the output (so holds nothing
      // back), or when it made no progress at all.
      if ((in.pos == in.size && out.pos < out.size) || (out.pos == 0 && in.pos == in_before)) {
        break;
      }
    }
    DrainInflated();
  }

  // Hands the whole records at the front of the inflated bytes to HandleTop(), keeping a
  // partial one at the end for the next COMPRESSED record.
  void DrainInflated() {
    std::span<const std::byte> data =
        std::as_bytes(std::span<const uint64_t>(decomp_)).first(decomp_len_);
    size_t pos = 0;
    while (data.size() - pos >= sizeof(perf_event_header)) {
      perf_event_header header;
      std::memcpy(&header, data.data() + pos, sizeof(header));
      if (header.size < sizeof(header)) {
        // The stream lost its record boundaries: nothing after this can be trusted.
        ++stats_.compressed_malformed;
        pos = data.size();
        break;
      }
      if (header.size > data.size() - pos) break;
      // Inner records need no more input (AUXTRACE and tracing data are refused there), so
      // HandleTop() cannot fail for them.
      (void)HandleTop(data.subspan(pos, header.size), /*stable=*/false, /*inner=*/true);
      pos += header.size;
    }
    std::byte* base = reinterpret_cast<std::byte*>(decomp_.data());
    std::memmove(base, base + pos, decomp_len_ - pos);
    decomp_len_ -= pos;
  }

  void AddNote(std::string_view note) {
    stats_.complete = false;
    if (!stats_.truncation_note.empty()) stats_.truncation_note += "; ";
    stats_.truncation_note.append(note);
  }

  std::string name_;
  std::span<const std::byte> bytes_;  // mapped file or buffer
  uint64_t pos_ = 0, data_end_ = 0;   // the records' range in bytes_

  // Pipe input.
  int fd_ = -1;
  bool streaming_ = false;
  bool eof_ = false;
  std::vector<uint64_t> inbuf_;
  size_t in_begin_ = 0, in_end_ = 0;
  uint64_t stream_offset_ = 0;

  PerfDataInfo info_;
  PerfDataStats stats_;
  std::vector<bool> perf_named_;  // per attr: named by perf (EVENT_DESC, EVENT_UPDATE)
  absl::flat_hash_map<uint64_t, uint32_t> id_to_attr_;
  int id_pos_ = -1, trailer_id_pos_ = -1;
  bool ids_consistent_ = true;
  bool any_build_id_ = false;  // some event has attr.build_id (perf --buildid-mmap)
  std::string id_error_;

  // Ordering (perf's ordered_events).
  std::vector<Queued> pending_;
  std::vector<Queued> ready_;
  size_t ready_pos_ = 0;
  uint64_t seq_ = 0;
  uint64_t max_time_ = 0, next_flush_ = 0, last_flush_ = 0;
  std::vector<uint64_t> arenas_[2];
  int arena_refs_[2] = {0, 0};
  int arena_ = 0;
  bool rotate_ = false;
  bool input_ended_ = false;  // NextTop() found the end (or a record it cannot pass)
  bool done_ = false;
  bool counted_ = false;  // the truncation note has its final counts

  ZSTD_DStream* zstd_ = nullptr;
  std::vector<uint64_t> decomp_;
  size_t decomp_len_ = 0;

  PerfDataRecord current_;

 public:
  ScopedMmap map_;
  ScopedFd owned_fd_;  // OpenFile() of a FIFO: the reader reads from it as it goes
};

PerfDataReader::PerfDataReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PerfDataReader::PerfDataReader(PerfDataReader&&) noexcept = default;
PerfDataReader& PerfDataReader::operator=(PerfDataReader&&) noexcept = default;
PerfDataReader::~PerfDataReader() = default;

const PerfDataInfo& PerfDataReader::info() const { return impl_->info(); }
const PerfDataStats& PerfDataReader::stats() const { return impl_->stats(); }
absl::StatusOr<const PerfDataRecord*> PerfDataReader::Next() { return impl_->Next(); }
int PerfDataReader::AttrForId(uint64_t id) const { return impl_->AttrForId(id); }

absl::StatusOr<PerfDataReader> PerfDataReader::OpenBuffer(std::span<const std::byte> data,
                                                          std::string name) {
  auto impl = std::make_unique<Impl>(std::move(name));
  WICK_RETURN_IF_ERROR(impl->OpenBytes(data));
  return PerfDataReader(std::move(impl));
}

absl::StatusOr<PerfDataReader> PerfDataReader::OpenFd(int fd, std::string name) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoError(errno, absl::StrCat("stat ", name));
  auto impl = std::make_unique<Impl>(name);
  if (!S_ISREG(st.st_mode)) {
    WICK_RETURN_IF_ERROR(impl->OpenStream(fd));
    return PerfDataReader(std::move(impl));
  }
  std::span<const std::byte> bytes;
  if (st.st_size > 0) {
    // perf reads its files through mmap too. A file truncated while mapped would fault
    // (SIGBUS) on the pages past its new end: perf.data files are not written in place
    // once perf record has finished.
    // MAP_POPULATE: the whole file is read once, in order; faulting its pages in one by one
    // cost a fifth of the time of converting a 66 MB file.
    void* addr = ::mmap(nullptr, st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    if (addr == MAP_FAILED) return ErrnoError(errno, absl::StrCat("mapping ", name));
    impl->map_ = ScopedMmap(addr, st.st_size);
    ::madvise(addr, st.st_size, MADV_SEQUENTIAL);
    bytes = std::span<const std::byte>(static_cast<const std::byte*>(addr), st.st_size);
  }
  WICK_RETURN_IF_ERROR(impl->OpenBytes(bytes));
  return PerfDataReader(std::move(impl));
}

absl::StatusOr<PerfDataReader> PerfDataReader::OpenFile(const std::string& path) {
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoError(errno, absl::StrCat("opening perf.data ", path));
  WICK_ASSIGN_OR_RETURN(PerfDataReader reader, OpenFd(fd.get(), path));
  // A mapping outlives its fd; a FIFO is read from as the records are.
  if (reader.impl_->map_.size() == 0) reader.impl_->owned_fd_ = std::move(fd);
  return reader;
}

}  // namespace wick
