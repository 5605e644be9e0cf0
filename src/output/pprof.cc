// The Profile message is hand-encoded: it needs only varints and length-delimited fields, and
// a 100-line encoder is less to keep than a generated protobuf library plus its runtime in
// every wick binary (and no protoc at build time). Tests decode the output with protoc.
#include "wick/pprof.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <fstream>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "frame_expand.h"
#include "wick/status.h"

namespace wick {
namespace {

// Protobuf wire format: https://protobuf.dev/programming-guides/encoding/
class PbWriter {
 public:
  void Varint(uint64_t v) {
    while (v >= 0x80) {
      buf_.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    buf_.push_back(static_cast<char>(v));
  }
  // Field `field` as a varint (wire type 0); zero is the default and is omitted.
  void Uint(uint32_t field, uint64_t v) {
    if (v == 0) return;
    Varint(uint64_t{field} << 3);
    Varint(v);
  }
  void Int(uint32_t field, int64_t v) { Uint(field, static_cast<uint64_t>(v)); }
  // Field `field` as length-delimited bytes (wire type 2), written even when empty.
  void Bytes(uint32_t field, std::string_view bytes) {
    Varint((uint64_t{field} << 3) | 2);
    Varint(bytes.size());
    buf_.append(bytes);
  }
  // A packed repeated varint field.
  void Packed(uint32_t field, const std::vector<uint64_t>& values) {
    if (values.empty()) return;
    PbWriter inner;
    for (uint64_t v : values) inner.Varint(v);
    Bytes(field, inner.buf_);
  }
  const std::string& str() const { return buf_; }
  std::string Take() { return std::move(buf_); }

 private:
  std::string buf_;
};

// profile.proto field numbers.
namespace profile {
constexpr uint32_t kSampleType = 1, kSample = 2, kMapping = 3, kLocation = 4, kFunction = 5,
                   kStringTable = 6, kTimeNanos = 9, kDurationNanos = 10, kPeriodType = 11,
                   kPeriod = 12, kComment = 13;
}
namespace value_type {
constexpr uint32_t kType = 1, kUnit = 2;
}
namespace sample {
constexpr uint32_t kLocationId = 1, kValue = 2, kLabel = 3;
}
namespace label {
constexpr uint32_t kKey = 1, kStr = 2, kNum = 3;
}
namespace mapping {
constexpr uint32_t kId = 1, kMemoryStart = 2, kMemoryLimit = 3, kFileOffset = 4, kFilename = 5,
                   kBuildId = 6, kHasFunctions = 7, kHasFilenames = 8, kHasLineNumbers = 9,
                   kHasInlineFrames = 10;
}
namespace location {
constexpr uint32_t kId = 1, kMappingId = 2, kAddress = 3, kLine = 4;
}
namespace line {
constexpr uint32_t kFunctionId = 1, kLine = 2;
}
namespace function {
constexpr uint32_t kId = 1, kName = 2, kSystemName = 3, kFilename = 4;
}

class StringTable {
 public:
  StringTable() { Intern(""); }  // string_table[0] must be ""
  int64_t Intern(std::string_view s) {
    auto [it, inserted] = index_.try_emplace(std::string(s), static_cast<int64_t>(strings_.size()));
    if (inserted) strings_.emplace_back(s);
    return it->second;
  }
  const std::vector<std::string>& strings() const { return strings_; }

 private:
  absl::flat_hash_map<std::string, int64_t> index_;
  std::vector<std::string> strings_;
};

struct MappingInfo {
  bool used = false;
  uint64_t low = UINT64_MAX;
  uint64_t high = 0;
};

// Nanoseconds per sample for clock events; 0 when the event does not count time.
uint64_t NanosPerSample(const RecordingMeta& meta) {
  if (meta.event != "cpu-clock" && meta.event != "task-clock") return 0;
  if (meta.sample_period != 0) return meta.sample_period;  // clock periods are nanoseconds
  if (meta.sample_freq != 0) return 1'000'000'000 / meta.sample_freq;
  return 0;
}

}  // namespace

std::string EncodePprofProfile(const Recording& rec, Symbolizer& sym, const PprofOptions& opts) {
  StringTable strings;
  PbWriter out;
  auto value_type = [&](std::string_view type, std::string_view unit) {
    PbWriter vt;
    vt.Int(value_type::kType, strings.Intern(type));
    vt.Int(value_type::kUnit, strings.Intern(unit));
    return vt.Take();
  };

  const uint64_t nanos = NanosPerSample(rec.meta);
  out.Bytes(profile::kSampleType, value_type("samples", "count"));
  if (nanos != 0) out.Bytes(profile::kSampleType, value_type("cpu", "nanoseconds"));

  // Locations: one per distinct frame. Functions: one per distinct (name, file).
  using FrameKey = std::tuple<uint32_t, uint32_t, uint64_t>;
  absl::flat_hash_map<FrameKey, uint64_t> location_ids;
  absl::flat_hash_map<std::pair<std::string, std::string>, uint64_t> function_ids;
  std::vector<std::string> locations;                          // encoded Location messages
  std::vector<std::string> functions;                          // encoded Function messages
  std::vector<MappingInfo> mappings(rec.binaries.size() + 1);  // last: the kernel
  const uint64_t kernel_mapping_id = rec.binaries.size() + 1;
  bool any_lines = false;
  bool any_inlined = false;

  std::vector<output_internal::DisplayFrame> frames;
  auto location_id = [&](const Frame& frame) -> uint64_t {
    const FrameKey key{static_cast<uint32_t>(frame.kind), frame.binary, frame.value};
    auto [it, inserted] = location_ids.try_emplace(key, locations.size() + 1);
    if (!inserted) return it->second;
    PbWriter loc;
    loc.Uint(location::kId, it->second);
    MappingInfo* m = nullptr;
    uint64_t mapping_id = 0;
    if (frame.kind == FrameKind::kUserFile && frame.binary < rec.binaries.size()) {
      mapping_id = frame.binary + 1;
      m = &mappings[frame.binary];
    } else if (frame.kind == FrameKind::kKernel) {
      mapping_id = kernel_mapping_id;
      m = &mappings.back();
    }
    if (m != nullptr) {
      m->used = true;
      m->low = std::min(m->low, frame.value);
      m->high = std::max(m->high, frame.value);
    }
    loc.Uint(location::kMappingId, mapping_id);
    // User frames: the file offset, in a mapping that starts at 0 with file_offset 0, so
    // pprof's address -> file offset arithmetic gives the offset back.
    loc.Uint(location::kAddress, frame.value);
    frames.clear();
    output_internal::ExpandFrame(rec, sym, frame, opts.inlined, &frames);
    if (frames.size() > 1) any_inlined = true;
    // frames are outermost first; pprof wants the innermost Line first.
    for (auto f = frames.rbegin(); f != frames.rend(); ++f) {
      const std::string file = opts.lines ? f->file : std::string();
      auto [fit, fnew] =
          function_ids.try_emplace(std::make_pair(f->name, file), functions.size() + 1);
      if (fnew) {
        PbWriter fn;
        fn.Uint(function::kId, fit->second);
        const int64_t name = strings.Intern(f->name);
        fn.Int(function::kName, name);
        fn.Int(function::kSystemName, name);
        fn.Int(function::kFilename, strings.Intern(file));
        functions.push_back(fn.Take());
      }
      PbWriter ln;
      ln.Uint(line::kFunctionId, fit->second);
      if (opts.lines && f->line != 0) {
        ln.Int(line::kLine, f->line);
        any_lines = true;
      }
      loc.Bytes(location::kLine, ln.str());
    }
    locations.push_back(loc.Take());
    return it->second;
  };

  const int64_t thread_key = strings.Intern("thread");
  // Version-1 recordings have no pid/tid per stack (all 0): no labels rather than wrong ones.
  const bool thread_ids = rec.version != 1;
  const int64_t pid_key = thread_ids ? strings.Intern("pid") : 0;
  const int64_t tid_key = thread_ids ? strings.Intern("tid") : 0;
  std::vector<uint64_t> ids;
  for (const RecordedStack& stack : rec.stacks) {
    if (stack.count == 0) continue;
    ids.clear();
    for (const Frame& frame : stack.frames) ids.push_back(location_id(frame));  // leaf first
    PbWriter s;
    s.Packed(sample::kLocationId, ids);
    std::vector<uint64_t> values{stack.count};
    if (nanos != 0) values.push_back(stack.count * nanos);
    s.Packed(sample::kValue, values);
    PbWriter l;
    l.Int(label::kKey, thread_key);
    l.Int(label::kStr, strings.Intern(stack.comm < rec.comms.size()
                                          ? std::string_view(rec.comms[stack.comm].name)
                                          : std::string_view("[unknown]")));
    s.Bytes(sample::kLabel, l.str());
    if (thread_ids) {
      for (const auto& [key, value] : {std::pair{pid_key, stack.pid}, {tid_key, stack.tid}}) {
        PbWriter n;
        n.Int(label::kKey, key);
        n.Int(label::kNum, int64_t{value});
        s.Bytes(sample::kLabel, n.str());
      }
    }
    out.Bytes(profile::kSample, s.str());
  }

  for (size_t i = 0; i < mappings.size(); ++i) {
    const MappingInfo& m = mappings[i];
    if (!m.used) continue;
    PbWriter mp;
    mp.Uint(mapping::kId, i + 1);
    const bool kernel = i == rec.binaries.size();
    // User mappings cover file offsets from 0; the kernel's its sampled address range.
    mp.Uint(mapping::kMemoryStart, kernel ? m.low : 0);
    mp.Uint(mapping::kMemoryLimit, m.high + 1);
    mp.Uint(mapping::kFileOffset, 0);
    mp.Int(mapping::kFilename, strings.Intern(kernel ? std::string_view("[kernel.kallsyms]")
                                                     : std::string_view(rec.binaries[i].path)));
    if (!kernel && !rec.binaries[i].build_id.empty()) {
      mp.Int(
          mapping::kBuildId,
          strings.Intern(absl::BytesToHexString(Sv(std::string_view(rec.binaries[i].build_id)))));
    }
    mp.Uint(mapping::kHasFunctions, 1);
    mp.Uint(mapping::kHasFilenames, any_lines ? 1 : 0);
    mp.Uint(mapping::kHasLineNumbers, any_lines ? 1 : 0);
    mp.Uint(mapping::kHasInlineFrames, any_inlined ? 1 : 0);
    out.Bytes(profile::kMapping, mp.str());
  }
  for (const std::string& loc : locations) out.Bytes(profile::kLocation, loc);
  for (const std::string& fn : functions) out.Bytes(profile::kFunction, fn);

  out.Int(profile::kTimeNanos, static_cast<int64_t>(rec.meta.start_time_ns));
  out.Int(profile::kDurationNanos, static_cast<int64_t>(rec.meta.duration_ns));
  if (nanos != 0) {
    out.Bytes(profile::kPeriodType, value_type("cpu", "nanoseconds"));
    out.Int(profile::kPeriod, static_cast<int64_t>(nanos));
  } else {
    out.Bytes(profile::kPeriodType,
              value_type(rec.meta.event.empty() ? "samples" : rec.meta.event, "count"));
    out.Int(profile::kPeriod, static_cast<int64_t>(rec.meta.sample_period));
  }
  std::vector<uint64_t> comments;
  if (!rec.meta.command_line.empty()) comments.push_back(strings.Intern(rec.meta.command_line));
  if (!rec.meta.event.empty()) comments.push_back(strings.Intern("event: " + rec.meta.event));
  out.Packed(profile::kComment, comments);
  // The string table last: every field above has interned its strings by now.
  for (const std::string& s : strings.strings()) out.Bytes(profile::kStringTable, s);
  return out.Take();
}

absl::StatusOr<std::string> GzipCompress(const std::string& data) {
  z_stream z{};
  // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return absl::InternalError("gzip: deflateInit2 failed (zlib out of memory?)");
  }
  std::string out(deflateBound(&z, data.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  const uLong written = z.total_out;
  deflateEnd(&z);
  if (rc != Z_STREAM_END)
    return absl::InternalError(absl::StrCat("gzip: deflate failed (", rc, ")"));
  out.resize(written);
  return out;
}

absl::Status WritePprofFile(const Recording& rec, Symbolizer& sym, const std::string& path,
                            const PprofOptions& opts) {
  const std::string raw = EncodePprofProfile(rec, sym, opts);
  // zlib's single-call avail_in is 32 bits.
  if (raw.size() > UINT32_MAX) {
    return absl::ResourceExhaustedError(
        absl::StrCat("pprof: profile for ", path, " exceeds 4 GiB"));
  }
  WICK_ASSIGN_OR_RETURN(std::string gz, GzipCompress(raw));
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) {
    return ErrnoError(errno, absl::StrCat("opening ", path),
                      "check the directory exists and is writable");
  }
  out.write(gz.data(), static_cast<std::streamsize>(gz.size()));
  out.close();
  if (!out) return ErrnoError(errno, absl::StrCat("writing ", path), "check free disk space");
  return absl::OkStatus();
}

}  // namespace wick
