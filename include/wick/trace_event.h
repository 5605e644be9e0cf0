// Trace events as perf events: tracepoints, uprobes/uretprobes and kprobes/kretprobes.
//
// ParseTraceEventSpec() splits a spec that ParseEventSpec() classified as a trace kind;
// ResolveTraceEvents() turns it into one or more ResolvedTraceEvents (globs expand):
// tracepoints get their id and parsed format from tracefs, uprobes a file offset from the
// ELF's .symtab/.dynsym and the uprobe PMU's type, kprobes the kprobe PMU's type.
// ApplyTraceEvent() completes a perf_event_attr built by MakeSamplingAttr() (config1/2,
// sample_period 1, PERF_SAMPLE_RAW for tracepoints). SetFilter() attaches an ftrace filter.
// All functions are thread-safe; errors name the spec and the fix, with near matches for
// unknown tracepoints and symbols.
#ifndef WICK_TRACE_EVENT_H_
#define WICK_TRACE_EVENT_H_

#include <linux/perf_event.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "wick/event_spec.h"
#include "wick/kernel_caps.h"
#include "wick/perf_event.h"
#include "wick/trace_format.h"
#include "wick/tracefs.h"

namespace wick {

// The parts of a trace-kind spec.
struct TraceEventSpec {
  EventKind kind = EventKind::kTracepoint;
  // kTracepoint: globs for the system and the event ("sched", "sched_switch" / "*").
  std::string system;
  std::string event;
  // Probes: the binary path (uprobes) or kernel function (kprobes).
  std::string target;
  // uprobes: the symbol, empty when an address was given.
  std::string symbol;
  bool has_address = false;  // uprobe:PATH:0xADDR — a virtual address in the ELF
  uint64_t address = 0;
  uint64_t offset = 0;  // "+OFFSET" after a symbol/function (decimal or 0x hex)
};

// InvalidArgument for malformed specs ("uprobe:/bin/true" without a location, an offset that
// is not a number, a kretprobe with an offset, a uretprobe on an address+offset).
absl::StatusOr<TraceEventSpec> ParseTraceEventSpec(const EventSpec& spec);

struct ResolvedTraceEvent {
  // type: PERF_TYPE_TRACEPOINT or the probe PMU's type; config: the tracepoint id, or the
  // PMU's retprobe bit for ret probes (else 0); name: "sched:sched_switch",
  // "uprobe:/usr/bin/bash:readline", ...; notice: empty.
  ResolvedEvent event;
  EventKind kind = EventKind::kTracepoint;
  // Probes: what attr.config1 must point at (the absolute binary path or the function name),
  // NUL-terminated and kept alive by this object (shared, so copies stay valid).
  std::shared_ptr<const std::string> probe_string;
  uint64_t config2 = 0;  // probes: the file offset (uprobes) or offset into the function
  // Tracepoints: the parsed events/SYSTEM/EVENT/format, for decoding PERF_SAMPLE_RAW, and
  // its text, which recordings carry so that `wick script` decodes them anywhere.
  std::shared_ptr<const TraceFormat> format;
  std::string format_text;

  bool is_tracepoint() const { return kind == EventKind::kTracepoint; }
};

// Resolves a trace-kind spec (spec.kind != kBuiltin). `tracefs` is needed for tracepoints
// only (pass nullptr otherwise; FailedPrecondition when a tracepoint needs it). PMU types and
// the retprobe bit come from <sys_root>/bus/event_source/devices/{uprobe,kprobe}.
// Errors: NotFound for unknown tracepoints / symbols (with near matches), FailedPrecondition
// "this kernel was built without kprobe support (no /sys/bus/event_source/devices/kprobe)..."
// for kprobes here, and errors naming the ELF file for uprobes.
absl::StatusOr<std::vector<ResolvedTraceEvent>> ResolveTraceEvents(
    const EventSpec& spec, const KernelCaps& caps, const Tracefs* tracefs,
    const std::string& sys_root = "/sys");

// Completes `attr` (from MakeSamplingAttr or MakeCountingAttr with event.event): type and
// config, config1 = pointer to probe_string (so `event` must outlive perf_event_open()),
// config2; for sampling attrs freq = 0 and sample_period = 1 (every hit, as perf does);
// tracepoints also get PERF_SAMPLE_RAW.
void ApplyTraceEvent(const ResolvedTraceEvent& event, perf_event_attr* attr);

// The file offset of `symbol` (+ `offset`) in the ELF file at `path`: the symbol's value
// from .symtab (else .dynsym), mapped through the PT_LOAD segment that contains it. NotFound
// with near matches when the symbol is missing; InvalidArgument for a non-ELF file.
absl::StatusOr<uint64_t> ElfSymbolFileOffset(const std::string& path, std::string_view symbol,
                                             uint64_t offset = 0);
// The file offset of virtual address `vaddr` (as in `nm`/`objdump` output) in the ELF file,
// through its PT_LOAD segments. InvalidArgument when no executable segment holds it.
absl::StatusOr<uint64_t> ElfAddressFileOffset(const std::string& path, uint64_t vaddr);

// PERF_EVENT_IOC_SET_FILTER. On failure, when `format` is given, the message names filter
// fields that the event does not have ("unknown field 'pidd' (fields: prev_comm, ...)");
// when `tracefs` and the tracepoint are given, it also includes the kernel's parse error
// obtained by writing the same filter to events/SYSTEM/EVENT/filter and reading it back
// (the tracefs filter is then reset to 0).
absl::Status SetFilter(const PerfEvent& event, const std::string& expr,
                       const TraceFormat* format = nullptr, const Tracefs* tracefs = nullptr,
                       const TracepointName* tracepoint = nullptr);

}  // namespace wick

#endif  // WICK_TRACE_EVENT_H_
