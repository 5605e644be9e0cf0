#include <fcntl.h>
#include <linux/perf_event.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <optional>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "record_sink.h"
#include "wick/kernel_symbols.h"
#include "wick/perf_data_convert.h"
#include "wick/scoped.h"
#include "wick/status.h"

namespace wick {
namespace {

// Samples between flushes: bounds what the writer buffers, as a live session's flush does.
constexpr uint64_t kFlushEverySamples = 1 << 16;
// Exited processes are forgotten once per second of recorded time, as a live session does.
constexpr uint64_t kForgetEveryNs = 1000000000;
// perf_event_max_stack's default, when an attr does not say (sample_max_stack 0).
constexpr uint32_t kDefaultMaxStack = 127;
// perf names the kernel's text mapping so; its pgoff is the address of `_text`.
constexpr std::string_view kKernelTextMap = "[kernel.kallsyms]_text";

// perf names events as its command line had them: "cpu-clock:ppp" or "cycles:P" for the
// precise levels it added itself, "page-faults/period=1/u" for per-event terms. wick names
// events as -e takes them, so `report --event page-faults` finds it; two events that would
// then share a name keep perf's (see EventNames).
std::string ShortEventName(const PerfDataAttr& attr) {
  std::string name = attr.name;
  if (attr.attr.type == PERF_TYPE_TRACEPOINT) return name;
  if (const size_t slash = name.find('/'); slash != std::string::npos && slash > 0) {
    name.resize(slash);
    return name;
  }
  const size_t colon = name.rfind(':');
  if (colon == std::string::npos || colon + 1 == name.size()) return name;
  const std::string_view mods = std::string_view(name).substr(colon + 1);
  if (mods.find_first_not_of("ukhpPGHSD") == std::string_view::npos) name.resize(colon);
  return name;
}

std::vector<std::string> EventNames(const std::vector<PerfDataAttr>& attrs) {
  std::vector<std::string> names;
  absl::flat_hash_map<std::string, int> uses;
  for (const PerfDataAttr& a : attrs) ++uses[names.emplace_back(ShortEventName(a))];
  for (size_t i = 0; i < attrs.size(); ++i) {
    if (uses[names[i]] > 1) names[i] = attrs[i].name;
  }
  return names;
}

// The tracefs format of tracepoint `config` ("ID: N" in its text), empty when absent.
std::string FormatOf(const PerfDataInfo& info, uint64_t config) {
  for (const PerfDataTraceFormat& f : info.tracing_data.formats) {
    const size_t at = f.text.find("\nID: ");
    if (at == std::string::npos) continue;
    uint64_t id = 0;
    const char* begin = f.text.data() + at + 5;
    auto [end, ec] = std::from_chars(begin, f.text.data() + f.text.size(), id);
    if (ec == std::errc() && id == config) return f.text;
  }
  return "";
}

// This boot's `_text` from kallsyms, nullopt when unreadable (or zeroed by kptr_restrict).
// It is among the first lines: reading stops there, not at the end of 5 MB.
std::optional<uint64_t> ThisBootText(const std::string& kallsyms_path) {
  ScopedFd fd(::open(kallsyms_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  std::string text;
  char buf[16384];
  while (text.size() < (size_t{16} << 20)) {
    const ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    text.append(buf, size_t(n));
    const size_t at = text.find(" _text\n");
    if (at == std::string::npos) continue;
    const size_t line = text.rfind('\n', at);
    const size_t begin = line == std::string::npos ? 0 : line + 1;
    uint64_t addr = 0;
    auto [end, ec] = std::from_chars(text.data() + begin, text.data() + at, addr, 16);
    if (ec != std::errc() || addr == 0) return std::nullopt;
    return addr;
  }
  return std::nullopt;
}

class PerfDataSource {
 public:
  PerfDataSource(PerfDataReader& reader, std::string name, const PerfDataConvertOptions& options)
      : reader_(reader), name_(std::move(name)), options_(options) {}

  absl::StatusOr<PerfDataConversion> Run(const std::string& out_path) {
    const PerfDataInfo& info = reader_.info();
    sink_.emplace(SinkOptions(info));
    stream_ = sink_->AddStream();
    for (const PerfDataBuildId& b : info.build_ids) AddBuildId(b);
    WICK_ASSIGN_OR_RETURN(std::unique_ptr<RecordingWriter> writer,
                          RecordingWriter::Open(out_path, Meta(info)));
    sink_->SetWriter(std::move(writer));

    uint64_t first_time = 0, last_time = 0, next_forget = 0, unflushed = 0;
    while (true) {
      WICK_ASSIGN_OR_RETURN(const PerfDataRecord* rec, reader_.Next());
      if (rec == nullptr) break;
      if (rec->time != 0) {
        if (first_time == 0) first_time = rec->time;
        last_time = std::max(last_time, rec->time);
      }
      if (!Handle(*rec)) continue;
      if (rec->parsed.type == PERF_RECORD_SAMPLE && ++unflushed >= kFlushEverySamples) {
        WICK_RETURN_IF_ERROR(Flush());
        unflushed = 0;
      }
      if (rec->time >= next_forget) {
        if (next_forget != 0) sink_->processes().ForgetExited();
        next_forget = rec->time + kForgetEveryNs;
      }
    }
    WICK_RETURN_IF_ERROR(Flush());
    AddInputStats();
    const uint64_t duration = last_time > first_time ? last_time - first_time : 0;
    WICK_RETURN_IF_ERROR(sink_->Finish(duration));

    PerfDataConversion out;
    for (uint32_t e = 0; e < sink_->events().size(); ++e) out.samples += sink_->samples(e);
    out.stacks = sink_->stacks().size();
    out.bytes_written = sink_->writer().BytesWritten();
    out.stats = sink_->stats();
    out.input = reader_.stats();
    out.complete = out.input.complete;
    out.kernel_named = kernel_named_;
    if (!out.complete) {
      out.notes.push_back(absl::StrCat(name_, " is incomplete: ", out.input.truncation_note));
    }
    for (std::string& line : DescribeSkipped(out.input)) {
      out.notes.push_back(absl::StrCat(name_, ": ", line));
    }
    if (!kernel_note_.empty() && out.stats.Get(Stat::kKernelFrames) > 0) {
      out.notes.push_back(kernel_note_);
    }
    return out;
  }

 private:
  RecordSink::Options SinkOptions(const PerfDataInfo& info) {
    RecordSink::Options o;
    const std::vector<std::string> names = EventNames(info.attrs);
    for (size_t i = 0; i < info.attrs.size(); ++i) {
      const PerfDataAttr& a = info.attrs[i];
      RecordSink::EventType type;
      type.name = names[i];
      type.is_trace = a.attr.type == PERF_TYPE_TRACEPOINT;
      if (type.is_trace) type.format_text = FormatOf(info, a.attr.config);
      type.sample_type = a.attr.sample_type;
      o.events.push_back(std::move(type));
      o.max_stack = std::max<uint32_t>(
          o.max_stack, a.attr.sample_max_stack ? a.attr.sample_max_stack : kDefaultMaxStack);
      const uint64_t dwarf = PERF_SAMPLE_REGS_USER | PERF_SAMPLE_STACK_USER;
      if ((a.attr.sample_type & dwarf) == dwarf && o.dwarf_regs_mask == 0) {
        o.dwarf_regs_mask = a.attr.sample_regs_user;
      }
    }
    // Every event has its own sample_type (EventType::sample_type): whether its samples and
    // `wick script`'s trace samples carry a stack is decided per event, not here.
    if (!info.attrs.empty()) o.sample_type = info.attrs[0].attr.sample_type;
    if (o.max_stack == 0) o.max_stack = kDefaultMaxStack;
    o.unwinder = options_.unwinder;
    return o;
  }

  RecordingMeta Meta(const PerfDataInfo& info) const {
    RecordingMeta meta;
    meta.command_line =
        options_.command_line.empty() ? absl::StrJoin(info.cmdline, " ") : options_.command_line;
    for (const RecordSink::EventType& t : sink_->events()) {
      absl::StrAppend(&meta.event, meta.event.empty() ? "" : ",", t.name);
    }
    if (!info.attrs.empty()) {
      const perf_event_attr& a = info.attrs[0].attr;
      (a.freq ? meta.sample_freq : meta.sample_period) = a.sample_period;
    }
    meta.hostname = info.hostname;
    meta.kernel_release = info.os_release;
    return meta;
  }

  void AddBuildId(const PerfDataBuildId& b) {
    const uint16_t mode = b.misc & PERF_RECORD_MISC_CPUMODE_MASK;
    if (b.build_id.empty() || mode == PERF_RECORD_MISC_KERNEL || b.filename.starts_with("[")) {
      return;
    }
    build_ids_[b.filename] = b.build_id;
  }

  // Returns false for records that carry no data for the sink.
  bool Handle(const PerfDataRecord& rec) {
    const ParsedRecord& p = rec.parsed;
    if (p.type == PERF_RECORD_MMAP || p.type == PERF_RECORD_MMAP2) {
      // The kernel's own maps (pid -1): only `_text`'s address matters, for kallsyms.
      if (p.mmap.pid == UINT32_MAX) {
        if (p.mmap.filename == kKernelTextMap) recorded_text_ = p.mmap.pgoff;
        return false;
      }
      if (!p.mmap.has_build_id) {
        // perf read the build-ids of the binaries it saw hits in: a file from another machine
        // is then named by its own build-id, not by whatever this machine has at that path.
        auto it =
            build_ids_.find(absl::string_view(p.mmap.filename.data(), p.mmap.filename.size()));
        if (it != build_ids_.end()) {
          mmap_copy_ = p;
          mmap_copy_.mmap.has_build_id = true;
          mmap_copy_.mmap.build_id = std::as_bytes(std::span(it->second));
        }
        sink_->Handle(stream_, it != build_ids_.end() ? mmap_copy_ : p, rec.attr);
        return true;
      }
    }
    if (p.type == PERF_RECORD_SAMPLE && !kernel_decided_) DecideKallsyms();
    sink_->Handle(stream_, p, rec.attr);
    return true;
  }

  // Before the first sample: perf writes the kernel's map first, so `_text` is known by then.
  void DecideKallsyms() {
    kernel_decided_ = true;
    const PerfDataInfo& info = reader_.info();
    utsname un{};
    const std::string release = uname(&un) == 0 ? un.release : "";
    const std::optional<uint64_t> text = ThisBootText(options_.kallsyms_path);
    std::string why;
    if (!info.os_release.empty() && info.os_release != release) {
      why = absl::StrCat("recorded on kernel ", info.os_release, ", this is ", release);
    } else if (!recorded_text_) {
      why = "it has no kernel map to tell which boot it comes from";
    } else if (!text) {
      why = absl::StrCat(options_.kallsyms_path, " gives no _text address (kptr_restrict?)");
    } else if (*text != *recorded_text_) {
      why = "recorded on another boot (the kernel's _text moved)";
    }
    if (!why.empty()) {
      kernel_note_ = absl::StrCat("kernel frames of ", name_, " are left unnamed: ", why,
                                  "; this boot's /proc/kallsyms would name them wrongly");
      return;
    }
    absl::StatusOr<KallsymsTable> kallsyms =
        KallsymsTable::LoadCached(options_.kallsyms_path, options_.kallsyms_cache_dir);
    if (!kallsyms.ok()) {
      kernel_note_ = absl::StrCat("kernel frames of ", name_,
                                  " are left unnamed: ", kallsyms.status().message());
      return;
    }
    sink_->SetKallsyms(*std::move(kallsyms));
    kernel_named_ = true;
  }

  absl::Status Flush() {
    if (!kernel_decided_) DecideKallsyms();
    WICK_RETURN_IF_ERROR(sink_->Flush());
    sink_->MaybeRenewStackMap();
    return absl::OkStatus();
  }

  // What the reader could not use, into the recording's counters, so every report says it.
  void AddInputStats() {
    const PerfDataStats& in = reader_.stats();
    Stats& stats = sink_->stats();
    stats.Add(Stat::kInputSamplesUnreadable,
              in.samples_unknown_attr + in.samples_undecodable + in.samples_malformed);
    uint64_t skipped = in.records_unknown_attr + in.records_malformed + in.compressed_malformed;
    for (const auto& [type, n] : in.skipped_records) skipped += n;
    stats.Add(Stat::kInputRecordsSkipped, skipped);
  }

  PerfDataReader& reader_;
  std::string name_;
  const PerfDataConvertOptions& options_;
  std::optional<RecordSink> sink_;
  uint32_t stream_ = 0;
  absl::flat_hash_map<std::string, std::string> build_ids_;  // path -> BUILD_ID's build-id
  ParsedRecord mmap_copy_;
  std::optional<uint64_t> recorded_text_;
  bool kernel_decided_ = false;
  bool kernel_named_ = false;
  std::string kernel_note_;
};

}  // namespace

absl::StatusOr<PerfDataConversion> ConvertPerfData(PerfDataReader& reader, const std::string& name,
                                                   const std::string& out_path,
                                                   const PerfDataConvertOptions& options) {
  PerfDataSource source(reader, name, options);
  return source.Run(out_path);
}

}  // namespace wick
