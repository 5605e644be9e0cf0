// wick script: trace samples as perf-script-like text or JSON Lines (script.h).
#include "wick/script.h"

#include <fnmatch.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "wick/profile.h"
#include "wick/status.h"
#include "wick/text.h"
#include "wick/trace_format.h"

namespace wick {
namespace {

// One event type's format, parsed on first use.
struct TypeDecoder {
  bool parsed = false;
  std::optional<TraceFormat> format;  // nullopt: no format (probes) or unparsable
  std::string error;                  // why the format could not be parsed
};

}  // namespace

bool EventMatches(std::string_view name, const std::vector<std::string>& globs) {
  if (globs.empty()) return true;
  const std::string full(name);
  const size_t colon = full.find(':');
  const std::string event = colon == std::string::npos ? full : full.substr(colon + 1);
  for (const std::string& g : globs) {
    if (::fnmatch(g.c_str(), full.c_str(), 0) == 0) return true;
    if (g.find(':') == std::string::npos && ::fnmatch(g.c_str(), event.c_str(), 0) == 0) {
      return true;
    }
  }
  return false;
}

std::string NoTraceEventsMessage(const Recording& rec, std::string_view path) {
  std::string events;
  for (const RecordedEventType& t : rec.event_types) {
    absl::StrAppend(&events, events.empty() ? "" : ",", t.name);
  }
  if (events.empty()) events = rec.meta.event;
  if (events.empty()) events = "unknown events";
  return absl::StrCat(Sv(path), " has no trace events (recorded with -e ", events,
                      "); use wick report");
}

absl::Status WriteScript(const Recording& rec, Symbolizer& sym, std::ostream& out,
                         const ScriptOptions& opts, ScriptResult* result) {
  ScriptResult local;
  ScriptResult& res = result != nullptr ? *result : local;
  std::vector<TypeDecoder> decoders(rec.event_types.size());
  std::vector<bool> selected(rec.event_types.size());
  for (size_t i = 0; i < rec.event_types.size(); ++i) {
    selected[i] = EventMatches(rec.event_types[i].name, opts.event_globs);
  }
  std::string line;
  std::vector<DisplayFrame> frames;
  for (const RecordedTraceSample& s : rec.trace_samples) {
    // The reader guarantees these ids; a hand-built Recording might not.
    if (s.event_type >= rec.event_types.size() || !selected[s.event_type]) continue;
    const RecordedEventType& type = rec.event_types[s.event_type];
    TypeDecoder& dec = decoders[s.event_type];
    if (!dec.parsed) {
      dec.parsed = true;
      if (!type.format.empty()) {
        absl::StatusOr<TraceFormat> f = TraceFormat::Parse(type.format);
        if (f.ok()) {
          dec.format = std::move(*f);
        } else {
          dec.error = std::string(f.status().message());
        }
      }
    }
    // Decoded fields (as text or JSON), or the reason they are missing.
    std::string fields;
    std::string error;
    if (dec.format) {
      auto values =
          DecodeTraceFields(*dec.format, std::as_bytes(std::span(s.raw.data(), s.raw.size())));
      if (values.ok()) {
        fields =
            opts.json ? FormatTraceJson(*values, &res.text_not_utf8) : FormatTraceText(*values);
      } else {
        error = std::string(values.status().message());
      }
    } else if (!dec.error.empty()) {
      error = absl::StrCat("format: ", dec.error);
    }
    if (!error.empty()) ++res.undecoded;

    frames.clear();
    if (opts.callchain && s.stack != kNoStack && s.stack < rec.stacks.size()) {
      for (const Frame& f : rec.stacks[s.stack].frames) {
        ResolveFrame(rec, sym, f, /*inlined=*/false, &frames);
      }
    }
    // The stack's frames go with their addresses: keep them side by side.
    const std::vector<Frame>* raw_frames = frames.empty() ? nullptr : &rec.stacks[s.stack].frames;

    const std::string_view comm = CommName(rec, s.comm);
    const uint64_t sec = s.time / 1000000000;
    const uint64_t usec = s.time % 1000000000 / 1000;
    line.clear();
    if (opts.json) {
      line.append("{\"comm\":");
      AppendJsonString(comm, &line, JsonEscape::kPlain, &res.text_not_utf8);
      absl::StrAppendFormat(&line,
                            ",\"pid\":%u,\"tid\":%u,\"cpu\":%u,\"time\":%u.%06u,\"time_ns\":%u,"
                            "\"event\":",
                            s.pid, s.tid, s.cpu, sec, usec, s.time);
      AppendJsonString(type.name, &line, JsonEscape::kPlain, &res.text_not_utf8);
      line.append(",\"fields\":");
      if (!error.empty()) {
        line.append("null,\"error\":");
        AppendJsonString(error, &line, JsonEscape::kPlain, &res.text_not_utf8);
      } else {
        line.append(fields.empty() ? "{}" : fields);
      }
      if (raw_frames != nullptr) {
        line.append(",\"callchain\":[");
        for (size_t i = 0; i < frames.size(); ++i) {
          absl::StrAppendFormat(&line, "%s{\"addr\":\"0x%x\",\"name\":", i ? "," : "",
                                (*raw_frames)[i].value);
          AppendJsonString(frames[i].name, &line, JsonEscape::kPlain, &res.text_not_utf8);
          line.append(",\"module\":");
          AppendJsonString(frames[i].module, &line, JsonEscape::kPlain, &res.text_not_utf8);
          line.push_back('}');
        }
        line.push_back(']');
      }
      line.append("}\n");
    } else {
      absl::StrAppendFormat(&line, "%16s %6u/%-6u [%03u] %5u.%06u: %s:", comm, s.pid, s.tid, s.cpu,
                            sec, usec, type.name);
      if (!error.empty()) {
        absl::StrAppend(&line, " [undecodable: ", error, "]");
      } else if (!fields.empty()) {
        absl::StrAppend(&line, " ", fields);
      }
      line.push_back('\n');
      if (raw_frames != nullptr) {
        for (size_t i = 0; i < frames.size(); ++i) {
          absl::StrAppendFormat(
              &line, "\t%16x %s (%s)\n", (*raw_frames)[i].value, frames[i].name,
              frames[i].module.empty() ? kUnknownName : std::string_view(frames[i].module));
        }
        line.push_back('\n');
      }
    }
    out.write(line.data(), static_cast<std::streamsize>(line.size()));
    ++res.printed;
  }
  out.flush();
  if (!out) return absl::DataLossError("writing wick script output failed");
  return absl::OkStatus();
}

}  // namespace wick
