// What this kernel and this process can do with perf_event_open, probed once per run.
//
// KernelCaps::Probe() reads sysctls under <proc_root>/sys/kernel, the online CPU list and
// the PMU directory under <sys_root>, tracefs from <proc_root>/mounts and the effective
// uid/capabilities from <proc_root>/self/status. The roots are arguments so tests can point
// them at fixture directories. A missing or unreadable file leaves its field at the
// documented default (the kernel's own default); the only error is finding no online CPU.
// KernelCaps is a plain value: copy it freely, share it read-only between threads.
#ifndef WICK_KERNEL_CAPS_H_
#define WICK_KERNEL_CAPS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace wick {

struct KernelCaps {
  // /proc/sys/kernel/perf_event_* (defaults are the kernel's defaults).
  int perf_event_paranoid = 2;
  uint32_t perf_event_max_stack = 127;
  uint32_t perf_event_max_contexts_per_stack = 8;
  uint64_t perf_event_max_sample_rate = 100000;
  uint64_t perf_event_mlock_kb = 516;

  // /sys/devices/system/cpu/online, ascending. Never empty after a successful Probe().
  std::vector<int> online_cpus;

  // PMU name -> perf_event_attr.type, from /sys/bus/event_source/devices/*/type.
  std::map<std::string, uint32_t> pmus;
  bool has_cpu_pmu = false;     // devices/cpu exists: the hardware PMU (cycles, instructions)
  bool has_uprobe_pmu = false;  // devices/uprobe
  bool has_kprobe_pmu = false;  // devices/kprobe

  // Mount point of tracefs from /proc/mounts (first one), empty when not mounted.
  std::string tracefs_path;

  // From /proc/self/status: effective uid 0, CapEff bit 38 (CAP_PERFMON), bit 21
  // (CAP_SYS_ADMIN). All false when the file is missing.
  bool is_root = false;
  bool has_cap_perfmon = false;
  bool has_cap_sys_admin = false;

  // True when the process passes the kernel's perfmon_capable() check (root, CAP_PERFMON or
  // CAP_SYS_ADMIN), i.e. perf_event_paranoid does not restrict it.
  bool PerfmonCapable() const { return is_root || has_cap_perfmon || has_cap_sys_admin; }

  // Type of the named PMU, if present.
  std::optional<uint32_t> PmuType(std::string_view name) const;

  static absl::StatusOr<KernelCaps> Probe(const std::string& sys_root = "/sys",
                                          const std::string& proc_root = "/proc");
};

// Parses a kernel CPU list such as "0-3,5,7-8\n" (cpu/online, cpu/possible) into ascending
// CPU numbers. InvalidArgument on malformed text; an empty (or all-whitespace) list yields
// an empty vector.
absl::StatusOr<std::vector<int>> ParseCpuList(std::string_view text);

// A path field of /proc/mounts with its \ooo escapes (space, tab, newline, backslash) undone.
std::string UnescapeMountField(std::string_view field);

// One line telling the user how to get past EACCES/EPERM from perf_event_open, e.g.
// "kernel.perf_event_paranoid is 3; run as root, grant CAP_PERFMON, or lower it: sysctl
// kernel.perf_event_paranoid=1".
std::string PermissionHint(const KernelCaps& caps);

}  // namespace wick

#endif  // WICK_KERNEL_CAPS_H_
