#include "wick/event_spec.h"

#include <linux/perf_event.h>

#include <algorithm>
#include <array>
#include <numeric>
#include <span>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "wick/status.h"

namespace wick {
namespace {

// ":u" (user space only), ":k" (kernel only), ":uk" or none (both) onto `spec`.
void SetModifiers(std::string_view modifiers, EventSpec* spec) {
  spec->modifiers = std::string(modifiers);
  const bool user = modifiers.find('u') != std::string_view::npos;
  const bool kernel = modifiers.find('k') != std::string_view::npos;
  spec->exclude_kernel = user && !kernel;
  spec->exclude_user = kernel && !user;
}

struct KnownEvent {
  std::string_view name;   // canonical, as perf lists it
  std::string_view alias;  // empty when none
  uint32_t type;
  uint64_t config;
};

constexpr std::array<KnownEvent, 15> kKnownEvents = {{
    {"cpu-clock", "", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK},
    {"task-clock", "", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_TASK_CLOCK},
    {"page-faults", "faults", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS},
    {"context-switches", "cs", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CONTEXT_SWITCHES},
    {"cpu-migrations", "migrations", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_MIGRATIONS},
    {"minor-faults", "", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS_MIN},
    {"major-faults", "", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS_MAJ},
    {"cycles", "cpu-cycles", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES},
    {"instructions", "", PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS},
    {"cache-misses", "", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_MISSES},
    {"cache-references", "", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_REFERENCES},
    {"branch-misses", "", PERF_TYPE_HARDWARE, PERF_COUNT_HW_BRANCH_MISSES},
    {"branches", "branch-instructions", PERF_TYPE_HARDWARE, PERF_COUNT_HW_BRANCH_INSTRUCTIONS},
    {"ref-cycles", "", PERF_TYPE_HARDWARE, PERF_COUNT_HW_REF_CPU_CYCLES},
    {"bus-cycles", "", PERF_TYPE_HARDWARE, PERF_COUNT_HW_BUS_CYCLES},
}};

// Names are matched case-insensitively, as perf does.
const KnownEvent* FindEvent(std::string_view name) {
  for (const KnownEvent& e : kKnownEvents) {
    if (absl::EqualsIgnoreCase(Sv(e.name), Sv(name)) ||
        (!e.alias.empty() && absl::EqualsIgnoreCase(Sv(e.alias), Sv(name)))) {
      return &e;
    }
  }
  return nullptr;
}

// Optimal string alignment distance: Levenshtein plus adjacent transpositions, so that
// "cpu-clcok" is one edit from "cpu-clock".
size_t EditDistance(std::string_view a, std::string_view b) {
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1));
  for (size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      const size_t cost = absl::ascii_tolower(static_cast<unsigned char>(a[i - 1])) ==
                                  absl::ascii_tolower(static_cast<unsigned char>(b[j - 1]))
                              ? 0
                              : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

absl::Status UnknownEventError(std::string_view name) {
  std::string_view best;
  size_t best_distance = SIZE_MAX;
  // Names far longer than any event are no typo; skip the quadratic distance on them.
  constexpr size_t kMaxSuggestLength = 64;
  for (const KnownEvent& e :
       name.size() > kMaxSuggestLength ? std::span<const KnownEvent>() : std::span(kKnownEvents)) {
    for (std::string_view candidate : {e.name, e.alias}) {
      if (candidate.empty()) continue;
      size_t distance = EditDistance(name, candidate);
      if (distance < best_distance) {
        best_distance = distance;
        best = candidate;
      }
    }
  }
  // Only suggest what is plausibly a typo: a few edits, and fewer than half the word.
  const size_t limit = std::max<size_t>(1, std::min<size_t>(3, name.size() / 2));
  std::string suggestion =
      best_distance <= limit ? absl::StrCat("; did you mean '", Sv(best), "'?") : "";
  return absl::InvalidArgumentError(
      absl::StrCat("unknown event '", Sv(name), "'", suggestion,
                   " (known: ", absl::StrJoin(KnownEventNames(), ", "), ")"));
}

bool IsModifierList(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c == 'u' || c == 'k'; });
}

// A tracepoint ("SYSTEM:EVENT[:MODIFIERS]") or probe ("uprobe:PATH:LOC", "kprobe:FUNC")
// spec: only classified and checked for empty parts; wick/trace_event.h parses the rest.
absl::StatusOr<EventSpec> ParseTraceKindSpec(std::string_view text) {
  struct Prefix {
    std::string_view prefix;
    EventKind kind;
  };
  constexpr std::array<Prefix, 4> kProbePrefixes = {{{"uprobe:", EventKind::kUprobe},
                                                     {"uretprobe:", EventKind::kUretprobe},
                                                     {"kprobe:", EventKind::kKprobe},
                                                     {"kretprobe:", EventKind::kKretprobe}}};
  EventSpec spec;
  for (const Prefix& p : kProbePrefixes) {
    if (text.substr(0, p.prefix.size()) == p.prefix) {
      if (text.size() == p.prefix.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("event '", Sv(text), "': nothing after '", Sv(p.prefix), "'"));
      }
      spec.kind = p.kind;
      spec.name = spec.canonical = std::string(text);
      return spec;
    }
  }
  spec.kind = EventKind::kTracepoint;
  const size_t colon = text.find(':');
  const std::string_view system = text.substr(0, colon);
  std::string_view event = text.substr(colon + 1);
  std::string_view modifiers;
  if (const size_t second = event.find(':'); second != std::string_view::npos) {
    modifiers = event.substr(second + 1);
    event = event.substr(0, second);
    if (!IsModifierList(modifiers)) {
      return absl::InvalidArgumentError(
          absl::StrCat("tracepoint '", Sv(text),
                       "': expected SYSTEM:EVENT[:u|:k|:uk], got modifiers '", Sv(modifiers), "'"));
    }
  }
  if (system.empty() || event.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tracepoint '", Sv(text), "': expected SYSTEM:EVENT (e.g. sched:sched_switch)"));
  }
  spec.name = spec.canonical = absl::StrCat(Sv(system), ":", Sv(event));
  SetModifiers(modifiers, &spec);
  return spec;
}

}  // namespace

std::vector<std::string> KnownEventNames() {
  std::vector<std::string> names;
  for (const KnownEvent& e : kKnownEvents) names.emplace_back(e.name);
  return names;
}

absl::StatusOr<EventSpec> ParseEventSpec(std::string_view text) {
  const std::string_view trimmed = Sv(absl::StripAsciiWhitespace(Sv(text)));
  if (trimmed.empty()) return absl::InvalidArgumentError("empty event name");

  std::string_view name = trimmed;
  std::string_view modifiers;
  const size_t colon = trimmed.find(':');
  const bool has_colon = colon != std::string_view::npos;
  if (has_colon) {
    name = trimmed.substr(0, colon);
    modifiers = trimmed.substr(colon + 1);
  }

  const KnownEvent* event = FindEvent(name);
  if (event == nullptr) {
    // "sched:sched_switch", "uprobe:/bin/bash:readline", "kprobe:do_sys_open": a subsystem
    // or probe prefix, not a mistyped built-in event with modifiers.
    if (has_colon && !IsModifierList(modifiers)) return ParseTraceKindSpec(trimmed);
    return UnknownEventError(name);
  }

  EventSpec spec;
  spec.name = std::string(name);
  spec.canonical = std::string(event->name);
  if (has_colon) {
    if (modifiers.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("event '", Sv(trimmed), "': empty modifier list after ':' (use :u or :k)"));
    }
    for (char c : modifiers) {
      if (c != 'u' && c != 'k') {
        return absl::InvalidArgumentError(
            absl::StrCat("event '", Sv(trimmed), "': unsupported modifier '", std::string(1, c),
                         "'; wick supports 'u' (user space only), 'k' (kernel only) and 'uk'"));
      }
    }
    SetModifiers(modifiers, &spec);
  }
  return spec;
}

absl::StatusOr<ResolvedEvent> ResolveEvent(const EventSpec& spec, const KernelCaps& caps) {
  if (spec.kind != EventKind::kBuiltin) {
    return absl::UnimplementedError(absl::StrCat("tracepoint/probe events (", spec.name,
                                                 ") are not supported by this version of wick"));
  }
  const KnownEvent* event = FindEvent(spec.canonical.empty() ? spec.name : spec.canonical);
  if (event == nullptr) return UnknownEventError(spec.name);
  const std::string_view typed = spec.name.empty() ? event->name : spec.name;

  ResolvedEvent resolved;
  resolved.type = event->type;
  resolved.config = event->config;
  resolved.name = std::string(event->name);
  if (spec.modifiers.empty() && !caps.PerfmonCapable() && caps.perf_event_paranoid >= 2) {
    // Above paranoid 1 the kernel refuses kernel space (samples, callchains, counts) to an
    // unprivileged process, but still lets it measure its own processes in user space.
    resolved.user_only = true;
    resolved.notice =
        absl::StrCat(Sv(typed), ": kernel.perf_event_paranoid is ", caps.perf_event_paranoid,
                     " and wick is neither root nor CAP_PERFMON: user space only, as ", Sv(typed),
                     ":u (for the kernel side: run as root, grant CAP_PERFMON, or sysctl "
                     "kernel.perf_event_paranoid=1)");
  }
  if (event->type == PERF_TYPE_HARDWARE && !caps.has_cpu_pmu) {
    if (event->config == PERF_COUNT_HW_CPU_CYCLES) {
      // perf does the same: cycles is the default event, and time is a fair stand-in.
      resolved.type = PERF_TYPE_SOFTWARE;
      resolved.config = PERF_COUNT_SW_CPU_CLOCK;
      resolved.name = "cpu-clock";
      const std::string user_only = resolved.notice;
      resolved.notice = absl::StrCat(
          Sv(typed),
          ": no hardware PMU on this machine (no /sys/bus/event_source/devices/cpu); using "
          "cpu-clock instead");
      if (!user_only.empty()) absl::StrAppend(&resolved.notice, "; ", user_only);
      return resolved;
    }
    return absl::FailedPreconditionError(
        absl::StrCat("event '", Sv(typed),
                     "' needs a hardware PMU and this machine has none (virtual machine?); use a "
                     "software event such as cpu-clock"));
  }
  return resolved;
}

}  // namespace wick
