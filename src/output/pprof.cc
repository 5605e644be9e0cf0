// The Profile message is built with libprotobuf from our own profile.proto (pprof's published
// format), so the wire encoding is the library's, not code of ours to keep. Tests decode the
// output with protoc and with `go tool pprof`.
#include "wick/pprof.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <fstream>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "profile.pb.h"
#include "wick/status.h"
#include "wick/text.h"

namespace wick {
namespace {

// pprof's strings are protobuf strings, which must be UTF-8: names that are not (a comm may
// hold any byte but NUL) get U+FFFD for each bad byte, counted in *replaced.
class StringTable {
 public:
  explicit StringTable(uint64_t* replaced) : replaced_(replaced) { Intern(""); }
  int64_t Intern(std::string_view s) {
    auto [it, inserted] = index_.try_emplace(std::string(s), static_cast<int64_t>(strings_.size()));
    if (inserted) strings_.push_back(ToValidUtf8(s, replaced_));
    return it->second;
  }
  const std::vector<std::string>& strings() const { return strings_; }

 private:
  uint64_t* replaced_;
  absl::flat_hash_map<std::string, int64_t> index_;
  std::vector<std::string> strings_;
};

struct MappingInfo {
  bool used = false;
  uint64_t low = UINT64_MAX;
  uint64_t high = 0;
};

}  // namespace

std::string EncodePprofProfile(const Profile& p, const PprofOptions& opts) {
  namespace pb = perftools::profiles;
  StringTable strings(opts.text_not_utf8);
  pb::Profile profile;
  auto set_value_type = [&](pb::ValueType* vt, std::string_view type, std::string_view unit) {
    vt->set_type(strings.Intern(type));
    vt->set_unit(strings.Intern(unit));
  };
  for (const ValueType& t : p.value_types) {
    set_value_type(profile.add_sample_type(), t.type, t.unit);
  }
  // pprof's default view: time where the profile has it (wall for wall, cpu for a clock event,
  // as pprof users expect), else the shown count.
  const ValueType* time = nullptr;
  for (const ValueType& t : p.value_types) {
    if (time == nullptr && t.nanoseconds()) time = &t;
  }
  if (p.shown_type().nanoseconds()) time = &p.shown_type();
  profile.set_default_sample_type(
      strings.Intern(time != nullptr ? time->type : p.shown_type().type));

  // Locations: the profile's, ids from 1. Functions: one per distinct (name, file).
  absl::flat_hash_map<std::pair<std::string, std::string>, uint64_t> function_ids;
  std::vector<MappingInfo> mappings(p.binaries.size() + 1);  // last: the kernel
  const uint64_t kernel_mapping_id = p.binaries.size() + 1;
  bool any_lines = false;
  bool any_inlined = false;
  for (const ProfileLocation& l : p.locations) {
    const Frame& frame = l.frame;
    pb::Location* loc = profile.add_location();
    loc->set_id(profile.location_size());
    MappingInfo* m = nullptr;
    uint64_t mapping_id = 0;
    if (frame.kind == FrameKind::kUserFile && frame.binary < p.binaries.size()) {
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
    loc->set_mapping_id(mapping_id);
    // User frames: the file offset, in a mapping that starts at 0 with file_offset 0, so
    // pprof's address -> file offset arithmetic gives the offset back. An off-CPU reason is
    // no address.
    loc->set_address(frame.kind == FrameKind::kOffCpu ? 0 : frame.value);
    const std::span<const uint32_t> frames = p.Frames(l);
    if (frames.size() > 1) any_inlined = true;
    // Display frames are outermost first; pprof wants the innermost Line first.
    for (auto it = frames.rbegin(); it != frames.rend(); ++it) {
      const DisplayFrame& f = p.frames[*it];
      const std::string file = opts.lines ? f.file : std::string();
      auto [fit, fnew] =
          function_ids.try_emplace(std::make_pair(f.name, file), profile.function_size() + 1);
      if (fnew) {
        pb::Function* fn = profile.add_function();
        fn->set_id(fit->second);
        const int64_t name = strings.Intern(f.name);
        fn->set_name(name);
        fn->set_system_name(name);
        fn->set_filename(strings.Intern(file));
      }
      pb::Line* ln = loc->add_line();
      ln->set_function_id(fit->second);
      if (opts.lines && f.line != 0) {
        ln->set_line(f.line);
        any_lines = true;
      }
    }
  }

  const int64_t thread_key = strings.Intern("thread");
  // Version-1 recordings have no pid/tid per stack (all 0): no labels rather than wrong ones.
  const int64_t pid_key = p.thread_ids ? strings.Intern("pid") : 0;
  const int64_t tid_key = p.thread_ids ? strings.Intern("tid") : 0;
  std::vector<int64_t> comm_strings(p.comms.size(), -1);
  for (size_t i = 0; i < p.stacks.size(); ++i) {
    const ProfileStack& stack = p.stacks[i];
    pb::Sample* s = profile.add_sample();
    for (uint32_t loc : p.Locations(stack)) s->add_location_id(loc + 1);  // leaf first
    for (size_t k = 0; k < p.value_types.size(); ++k) {
      s->add_value(static_cast<int64_t>(p.Value(i, k)));
    }
    pb::Label* thread = s->add_label();
    thread->set_key(thread_key);
    int64_t& comm = comm_strings[stack.comm];
    if (comm < 0) comm = strings.Intern(p.comms[stack.comm]);
    thread->set_str(comm);
    if (p.thread_ids) {
      for (const auto& [key, value] : {std::pair{pid_key, stack.pid}, {tid_key, stack.tid}}) {
        pb::Label* n = s->add_label();
        n->set_key(key);
        n->set_num(int64_t{value});
      }
    }
  }

  for (size_t i = 0; i < mappings.size(); ++i) {
    const MappingInfo& m = mappings[i];
    if (!m.used) continue;
    pb::Mapping* mp = profile.add_mapping();
    mp->set_id(i + 1);
    const bool kernel = i == p.binaries.size();
    // User mappings cover file offsets from 0; the kernel's its sampled address range.
    mp->set_memory_start(kernel ? m.low : 0);
    mp->set_memory_limit(m.high + 1);
    mp->set_file_offset(0);
    mp->set_filename(strings.Intern(kernel ? std::string_view("[kernel.kallsyms]")
                                           : std::string_view(p.binaries[i].path)));
    if (!kernel && !p.binaries[i].build_id.empty()) {
      mp->set_build_id(
          strings.Intern(absl::BytesToHexString(Sv(std::string_view(p.binaries[i].build_id)))));
    }
    mp->set_has_functions(true);
    mp->set_has_filenames(any_lines);
    mp->set_has_line_numbers(any_lines);
    mp->set_has_inline_frames(any_inlined);
  }

  profile.set_time_nanos(static_cast<int64_t>(p.meta.start_time_ns));
  profile.set_duration_nanos(static_cast<int64_t>(p.meta.duration_ns));
  // The period: of the clock samples where the profile counts time, else of the event.
  if (time != nullptr && p.clock_period_ns != 0) {
    set_value_type(profile.mutable_period_type(), time->type, time->unit);
    profile.set_period(static_cast<int64_t>(p.clock_period_ns));
  } else {
    set_value_type(profile.mutable_period_type(), p.event.empty() ? "samples" : p.event, "count");
    profile.set_period(static_cast<int64_t>(p.meta.sample_period));
  }
  if (!p.meta.command_line.empty()) profile.add_comment(strings.Intern(p.meta.command_line));
  if (!p.event.empty()) profile.add_comment(strings.Intern("event: " + p.event));
  // The string table last: every field above has interned its strings by now.
  for (const std::string& str : strings.strings()) profile.add_string_table(str);
  return profile.SerializeAsString();
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

absl::Status WritePprofFile(const Profile& profile, const std::string& path,
                            const PprofOptions& opts) {
  const std::string raw = EncodePprofProfile(profile, opts);
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
