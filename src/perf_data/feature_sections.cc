#include "feature_sections.h"

#include <cstring>
#include <string_view>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "format.h"
#include "wick/byte_reader.h"

namespace wick::perf_data_internal {
namespace {

namespace fmt = perf_data_format;

// perf's do_write_string(): u32 length (NUL-padded), then the bytes; the string ends at the
// first NUL.
bool ReadPerfString(ByteReader& r, std::string* out) {
  uint32_t len = 0;
  std::string_view s;
  if (!r.Read(&len) || !r.ReadString(len, &s)) return false;
  out->assign(s);
  return true;
}

// A NUL-terminated string (tracing data's names); fails when no NUL is left.
bool ReadCString(ByteReader& r, std::string* out) {
  std::span<const std::byte> rest = r.Rest();
  const void* nul = std::memchr(rest.data(), 0, rest.size());
  if (nul == nullptr) {
    r.Fail();
    return false;
  }
  const size_t len = static_cast<const std::byte*>(nul) - rest.data();
  out->assign(reinterpret_cast<const char*>(rest.data()), len);
  return r.Skip(len + 1);
}

// A u64-sized blob, copied into *out when out is not null.
bool ReadBlob64(ByteReader& r, std::string* out) {
  uint64_t size = 0;
  std::span<const std::byte> bytes;
  if (!r.Read(&size) || !r.ReadBytes(size, &bytes)) return false;
  if (out != nullptr) out->assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  return true;
}

bool ParseCmdline(ByteReader& r, PerfDataInfo* info) {
  uint32_t nr = 0;
  if (!r.Read(&nr) || nr > r.remaining() / 4) return false;
  std::vector<std::string> args(nr);
  for (std::string& a : args) {
    if (!ReadPerfString(r, &a)) return false;
  }
  info->cmdline = std::move(args);
  return true;
}

bool ParseEventDesc(ByteReader& r, std::vector<EventDesc>* descs) {
  uint32_t nr = 0, attr_size = 0;
  if (!r.Read(&nr) || !r.Read(&attr_size)) return false;
  if (attr_size < fmt::kAttrSizeVer0 || attr_size > fmt::kMaxAttrSize) return false;
  // Each entry holds at least its attr, nr_ids and an empty string's length.
  if (nr > r.remaining() / (attr_size + 8)) return false;
  descs->clear();
  descs->reserve(nr);
  for (uint32_t i = 0; i < nr; ++i) {
    EventDesc d;
    uint32_t nr_ids = 0;
    if (!r.Skip(attr_size) || !r.Read(&nr_ids) || !ReadPerfString(r, &d.name)) return false;
    if (nr_ids > r.remaining() / 8) return false;
    d.ids.resize(nr_ids);
    for (uint64_t& id : d.ids) r.Read(&id);
    descs->push_back(std::move(d));
  }
  return r.ok();
}

bool ParseBuildIds(ByteReader& r, PerfDataInfo* info) {
  while (r.remaining() > 0) {
    perf_event_header header;
    std::span<const std::byte> rest = r.Rest();
    if (rest.size() < sizeof(header)) return false;
    std::memcpy(&header, rest.data(), sizeof(header));
    std::span<const std::byte> record;
    if (header.size < fmt::kBuildIdRecordMinSize || !r.ReadBytes(header.size, &record)) {
      return false;
    }
    PerfDataBuildId b;
    if (!ParseBuildIdRecord(record, &b)) return false;
    info->build_ids.push_back(std::move(b));
  }
  return true;
}

}  // namespace

bool IsReadFeature(uint32_t feature) {
  switch (feature) {
    case kPerfFeatTracingData:
    case kPerfFeatBuildId:
    case kPerfFeatHostname:
    case kPerfFeatOsRelease:
    case kPerfFeatVersion:
    case kPerfFeatArch:
    case kPerfFeatNrCpus:
    case kPerfFeatCpuDesc:
    case kPerfFeatCpuId:
    case kPerfFeatTotalMem:
    case kPerfFeatCmdline:
    case kPerfFeatEventDesc:
    case kPerfFeatSampleTime:
    case kPerfFeatCompressed:
      return true;
    default:
      return false;
  }
}

bool ParseFeature(uint32_t feature, std::span<const std::byte> bytes, PerfDataInfo* info,
                  std::vector<EventDesc>* descs) {
  ByteReader r(bytes);
  switch (feature) {
    case kPerfFeatTracingData:
      if (!ParseTracingData(bytes, &info->tracing_data)) return false;
      info->has_tracing_data = true;
      return true;
    case kPerfFeatBuildId:
      return ParseBuildIds(r, info);
    case kPerfFeatHostname:
      return ReadPerfString(r, &info->hostname);
    case kPerfFeatOsRelease:
      return ReadPerfString(r, &info->os_release);
    case kPerfFeatVersion:
      return ReadPerfString(r, &info->perf_version);
    case kPerfFeatArch:
      return ReadPerfString(r, &info->arch);
    case kPerfFeatCpuDesc:
      return ReadPerfString(r, &info->cpu_desc);
    case kPerfFeatCpuId:
      return ReadPerfString(r, &info->cpuid);
    case kPerfFeatNrCpus:
      return r.Read(&info->nr_cpus_available) && r.Read(&info->nr_cpus_online);
    case kPerfFeatTotalMem:
      return r.Read(&info->total_mem_kb);
    case kPerfFeatCmdline:
      return ParseCmdline(r, info);
    case kPerfFeatEventDesc:
      return ParseEventDesc(r, descs);
    case kPerfFeatSampleTime:
      return r.Read(&info->first_sample_time) && r.Read(&info->last_sample_time);
    case kPerfFeatCompressed: {
      uint32_t version = 0;
      return r.Read(&version) && r.Read(&info->compression_type) &&
             r.Read(&info->compression_level);
    }
    default:
      return false;
  }
}

bool ParseBuildIdRecord(std::span<const std::byte> record, PerfDataBuildId* out) {
  ByteReader r(record);
  perf_event_header header;
  std::span<const std::byte> id;
  uint8_t size = 0;
  if (!r.Read(&header) || header.size > record.size() || header.size < fmt::kBuildIdRecordMinSize ||
      !r.Read(&out->pid) || !r.ReadBytes(20, &id) || !r.Read(&size) || !r.Skip(3)) {
    return false;
  }
  // Without PERF_RECORD_MISC_BUILD_ID_SIZE (perf before 5.11) the size byte is padding and
  // every build-id is 20 bytes.
  if (!(header.misc & fmt::kMiscBuildIdSize)) size = 20;
  if (size > 20) return false;
  out->misc = header.misc & ~fmt::kMiscBuildIdSize;
  out->build_id.assign(reinterpret_cast<const char*>(id.data()), size);
  std::string_view filename;
  if (!r.ReadString(header.size - r.position(), &filename)) return false;
  out->filename.assign(filename);
  return true;
}

bool ParseTracingData(std::span<const std::byte> bytes, PerfDataTracingData* out) {
  out->raw.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  out->formats.clear();
  ByteReader r(bytes);
  std::span<const std::byte> magic;
  if (!r.ReadBytes(fmt::kTracingMagicSize, &magic) ||
      std::memcmp(magic.data(), fmt::kTracingMagic, fmt::kTracingMagicSize) != 0) {
    return false;
  }
  uint8_t big_endian = 0, long_size = 0;
  std::string name;
  if (!ReadCString(r, &out->version) || !r.Read(&big_endian) || !r.Read(&long_size) ||
      !r.Read(&out->page_size)) {
    return false;
  }
  // Counts and sizes below are in the recording machine's byte order.
  if (big_endian != 0) return false;
  for (const char* expected : {"header_page", "header_event"}) {
    if (!ReadCString(r, &name) || name != expected || !ReadBlob64(r, nullptr)) return false;
  }
  uint32_t nr = 0;
  if (!r.Read(&nr) || nr > r.remaining() / 8) return false;
  for (uint32_t i = 0; i < nr; ++i) {
    PerfDataTraceFormat f{"ftrace", ""};
    if (!ReadBlob64(r, &f.text)) return false;
    out->formats.push_back(std::move(f));
  }
  uint32_t systems = 0;
  if (!r.Read(&systems) || systems > r.remaining() / 5) return false;
  for (uint32_t s = 0; s < systems; ++s) {
    std::string system;
    if (!ReadCString(r, &system) || !r.Read(&nr) || nr > r.remaining() / 8) return false;
    for (uint32_t i = 0; i < nr; ++i) {
      PerfDataTraceFormat f{system, ""};
      if (!ReadBlob64(r, &f.text)) return false;
      out->formats.push_back(std::move(f));
    }
  }
  // kallsyms, printk formats and saved cmdlines follow; wick has its own sources for those.
  return true;
}

uint64_t TraceFormatId(std::string_view text) {
  for (absl::string_view line : absl::StrSplit(absl::string_view(text.data(), text.size()), '\n')) {
    if (absl::ConsumePrefix(&line, "ID:")) {
      uint64_t id = 0;
      return absl::SimpleAtoi(line, &id) ? id : 0;
    }
  }
  return 0;
}

}  // namespace wick::perf_data_internal
