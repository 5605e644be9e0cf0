// Fuzzes the text parsers of the events module: event specs (typed by users) and kernel CPU
// lists, checking the invariants callers rely on.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "wick/event_spec.h"
#include "wick/kernel_caps.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  absl::StatusOr<wick::EventSpec> spec = wick::ParseEventSpec(text);
  if (spec.ok() && spec->kind != wick::EventKind::kBuiltin) {
    // Tracepoint/probe specs: classified only; the trace module resolves them.
    if (spec->name.empty() || spec->name != spec->canonical) std::abort();
    if (spec->exclude_user && spec->exclude_kernel) std::abort();
    if (wick::ResolveEvent(*spec, wick::KernelCaps()).ok()) std::abort();
  } else if (spec.ok()) {
    const std::vector<std::string> known = wick::KnownEventNames();
    if (std::find(known.begin(), known.end(), spec->canonical) == known.end()) std::abort();
    if (spec->exclude_user && spec->exclude_kernel) std::abort();
    for (bool pmu : {false, true}) {
      wick::KernelCaps caps;
      caps.has_cpu_pmu = pmu;
      absl::StatusOr<wick::ResolvedEvent> event = wick::ResolveEvent(*spec, caps);
      if (event.ok() && event->name.empty()) std::abort();
    }
  }

  absl::StatusOr<std::vector<int>> cpus = wick::ParseCpuList(text);
  if (cpus.ok()) {
    for (size_t i = 1; i < cpus->size(); ++i) {
      if ((*cpus)[i - 1] >= (*cpus)[i]) std::abort();  // ascending, no duplicates
    }
  }
  return 0;
}
