// Event specifications as the user types them ("cycles", "cpu-clock:u", "cs") and their
// resolution to a perf_event_attr (type, config) on this machine.
//
// ParseEventSpec() is pure text work; ResolveEvent() consults KernelCaps, so that `cycles`
// falls back to cpu-clock on machines without a hardware PMU (with a one-line notice for the
// user, as perf does) and other hardware events fail with a clear FailedPrecondition.
// Tracepoints ("sched:sched_switch", "sched:*") and uprobe:/uretprobe:/kprobe:/kretprobe:
// specs are only classified here (EventSpec::kind); the trace module (wick/trace_event.h)
// parses their details and resolves them against tracefs, ELF files and the probe PMUs.
// All functions are pure and thread-safe.
#ifndef WICK_EVENT_SPEC_H_
#define WICK_EVENT_SPEC_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "wick/kernel_caps.h"

namespace wick {

// What kind of event a spec names. Everything but kBuiltin is resolved by
// wick::ResolveTraceEvents() (wick/trace_event.h), not by ResolveEvent().
enum class EventKind {
  kBuiltin,     // hardware/software events: "cycles", "cs"
  kTracepoint,  // "SYSTEM:EVENT[:MODIFIERS]", globs allowed
  kUprobe,      // "uprobe:PATH:SYMBOL[+OFFSET]" or "uprobe:PATH:0xADDR"
  kUretprobe,   // "uretprobe:..." (same syntax)
  kKprobe,      // "kprobe:FUNC[+OFFSET]"
  kKretprobe,   // "kretprobe:FUNC"
};

struct EventSpec {
  EventKind kind = EventKind::kBuiltin;
  // For trace kinds, name and canonical are the whole spec minus modifiers
  // ("sched:sched_switch", "uprobe:/bin/bash:readline").
  std::string name;             // as the user typed it, minus modifiers ("cs")
  std::string canonical;        // the canonical perf name ("context-switches")
  std::string modifiers;        // modifier letters as typed ("u", "uk"), may be empty
  bool exclude_user = false;    // ":k" — kernel only
  bool exclude_kernel = false;  // ":u" — user only (also excludes the hypervisor)
};

// Parses "<name>[:<modifiers>]" where modifiers are 'u' and/or 'k'. Errors:
// InvalidArgument for unknown names ("unknown event 'cpu-clok'; did you mean 'cpu-clock'?
// (known: ...)") and unknown modifier letters. "SYSTEM:EVENT" (optionally ":u"/":k"/":uk")
// is a tracepoint; "uprobe:", "uretprobe:", "kprobe:", "kretprobe:" prefixes are probes (no
// modifiers). Both only get a syntax check here (InvalidArgument on empty parts).
absl::StatusOr<EventSpec> ParseEventSpec(std::string_view text);

// Canonical names of every event ParseEventSpec() accepts (aliases not included).
std::vector<std::string> KnownEventNames();

struct ResolvedEvent {
  uint32_t type = 0;    // perf_event_attr.type (PERF_TYPE_SOFTWARE, PERF_TYPE_HARDWARE, ...)
  uint64_t config = 0;  // perf_event_attr.config
  std::string name;     // canonical name of the event actually used ("cpu-clock" after fallback)
  std::string notice;   // one line to show the user once (e.g. the cycles fallback), or empty
  // The kernel refuses this process kernel space (perf_event_paranoid >= 2, neither root nor
  // CAP_PERFMON) and the spec chose no side: user space only, as ':u' (notice set), as perf
  // falls back.
  bool user_only = false;
};

// Software events map to PERF_TYPE_SOFTWARE. Hardware events need caps.has_cpu_pmu; without
// it `cycles` falls back to cpu-clock (notice set) and the others fail with
// FailedPrecondition. An event without modifiers falls back to user space only (user_only,
// notice set) where the kernel would refuse its kernel side. Trace kinds are refused
// (Unimplemented): use ResolveTraceEvents().
absl::StatusOr<ResolvedEvent> ResolveEvent(const EventSpec& spec, const KernelCaps& caps);

}  // namespace wick

#endif  // WICK_EVENT_SPEC_H_
