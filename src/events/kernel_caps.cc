#include "wick/kernel_caps.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "wick/read_file.h"
#include "wick/status.h"

namespace wick {
namespace {

// Probes treat a file they cannot read as absent: the documented default stays.
std::optional<std::string> ReadSmallFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return std::nullopt;
  return *std::move(text);
}

// Reads a sysctl-style file holding one integer; leaves `*value` alone when the file is
// missing or does not hold a number (the documented default stays).
template <typename T>
void ReadNumber(const std::string& path, T* value) {
  std::optional<std::string> text = ReadSmallFile(path);
  if (!text) return;
  T parsed;
  if (absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &parsed)) *value = parsed;
}

void ProbeTracefs(const std::string& mounts_path, KernelCaps* caps) {
  std::optional<std::string> text = ReadSmallFile(mounts_path);
  if (!text) return;
  for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
    // "<source> <mount point> <fstype> <options> <dump> <pass>"
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (fields.size() >= 3 && fields[2] == "tracefs") {
      caps->tracefs_path = UnescapeMountField(Sv(fields[1]));
      return;
    }
  }
}

void ProbeCredentials(const std::string& status_path, KernelCaps* caps) {
  std::optional<std::string> text = ReadSmallFile(status_path);
  if (!text) return;
  for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
    if (absl::ConsumePrefix(&line, "Uid:")) {
      // Real, effective, saved set, filesystem uids.
      std::vector<absl::string_view> uids =
          absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
      uint32_t euid;
      if (uids.size() >= 2 && absl::SimpleAtoi(uids[1], &euid)) caps->is_root = euid == 0;
    } else if (absl::ConsumePrefix(&line, "CapEff:")) {
      uint64_t cap_eff;
      if (absl::SimpleHexAtoi(absl::StripAsciiWhitespace(line), &cap_eff)) {
        constexpr int kCapSysAdmin = 21;  // linux/capability.h
        constexpr int kCapPerfmon = 38;
        caps->has_cap_sys_admin = (cap_eff >> kCapSysAdmin) & 1;
        caps->has_cap_perfmon = (cap_eff >> kCapPerfmon) & 1;
      }
    }
  }
}

void ProbePmus(const std::string& devices_dir, KernelCaps* caps) {
  std::error_code ec;
  std::filesystem::directory_iterator it(devices_dir, ec);
  if (ec) return;
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (ec) break;
    std::string name = it->path().filename().string();
    uint32_t type = 0;
    std::optional<std::string> text = ReadSmallFile(it->path().string() + "/type");
    if (!text || !absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &type)) continue;
    caps->pmus[name] = type;
  }
  // The core PMU is "cpu" on x86; hybrid Intel parts have cpu_core/cpu_atom instead and arm64
  // names it armv8_pmuv3*. PERF_TYPE_HARDWARE events work with any of them.
  for (const auto& [name, type] : caps->pmus) {
    if (name == "cpu" || name == "cpu_core" || name == "cpu_atom" ||
        absl::StartsWith(name, "armv8_pmuv3")) {
      caps->has_cpu_pmu = true;
    }
  }
  caps->has_uprobe_pmu = caps->pmus.contains("uprobe");
  caps->has_kprobe_pmu = caps->pmus.contains("kprobe");
}

}  // namespace

// /proc/mounts escapes space, tab, newline and backslash in paths as \ooo.
std::string UnescapeMountField(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' &&
        s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
      out.push_back(
          static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::optional<uint32_t> KernelCaps::PmuType(std::string_view name) const {
  auto it = pmus.find(std::string(name));
  if (it == pmus.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<std::vector<int>> ParseCpuList(std::string_view text) {
  std::vector<int> cpus;
  absl::string_view list = absl::StripAsciiWhitespace(Sv(text));
  if (list.empty()) return cpus;
  for (absl::string_view item : absl::StrSplit(list, ',')) {
    std::pair<absl::string_view, absl::string_view> range = absl::StrSplit(item, '-');
    int first, last;
    if (!absl::SimpleAtoi(range.first, &first) || first < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("malformed CPU list '", list, "': bad item '", item, "'"));
    }
    last = first;
    if (item.find('-') != absl::string_view::npos &&
        (!absl::SimpleAtoi(range.second, &last) || last < first)) {
      return absl::InvalidArgumentError(
          absl::StrCat("malformed CPU list '", list, "': bad range '", item, "'"));
    }
    // A CPU number beyond any real machine means corrupt input, not a huge allocation.
    constexpr int kMaxCpus = 1 << 16;
    if (last >= kMaxCpus) {
      return absl::InvalidArgumentError(
          absl::StrCat("malformed CPU list '", list, "': CPU ", last, " out of range"));
    }
    for (int cpu = first; cpu <= last; ++cpu) cpus.push_back(cpu);
  }
  std::sort(cpus.begin(), cpus.end());
  cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
  return cpus;
}

absl::StatusOr<KernelCaps> KernelCaps::Probe(const std::string& sys_root,
                                             const std::string& proc_root) {
  KernelCaps caps;
  const std::string sysctl = proc_root + "/sys/kernel/";
  ReadNumber(sysctl + "perf_event_paranoid", &caps.perf_event_paranoid);
  ReadNumber(sysctl + "perf_event_max_stack", &caps.perf_event_max_stack);
  ReadNumber(sysctl + "perf_event_max_contexts_per_stack", &caps.perf_event_max_contexts_per_stack);
  ReadNumber(sysctl + "perf_event_max_sample_rate", &caps.perf_event_max_sample_rate);
  ReadNumber(sysctl + "perf_event_mlock_kb", &caps.perf_event_mlock_kb);

  const std::string online_path = sys_root + "/devices/system/cpu/online";
  std::optional<std::string> online = ReadSmallFile(online_path);
  if (!online) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read ", online_path, ": no online CPUs known (is sysfs mounted?)"));
  }
  absl::StatusOr<std::vector<int>> cpus = ParseCpuList(*online);
  if (!cpus.ok()) return Annotate(cpus.status(), online_path);
  if (cpus->empty()) {
    return absl::FailedPreconditionError(absl::StrCat(online_path, " lists no online CPUs"));
  }
  caps.online_cpus = *std::move(cpus);

  ProbePmus(sys_root + "/bus/event_source/devices", &caps);
  ProbeTracefs(proc_root + "/mounts", &caps);
  ProbeCredentials(proc_root + "/self/status", &caps);
  return caps;
}

std::string PermissionHint(const KernelCaps& caps) {
  if (caps.PerfmonCapable()) {
    return "the process is root or has CAP_PERFMON and was still refused; a seccomp filter, an "
           "LSM (SELinux, lockdown) or the container runtime forbids perf_event_open";
  }
  const int level = caps.perf_event_paranoid;
  if (level >= 2) {
    // Level 2 still lets an unprivileged user measure its own processes in user space.
    return absl::StrCat("kernel.perf_event_paranoid is ", level,
                        "; run as root, grant CAP_PERFMON, or lower it: sysctl "
                        "kernel.perf_event_paranoid=1",
                        level == 2 ? " (or measure user space only with ':u')" : "");
  }
  return absl::StrCat("kernel.perf_event_paranoid is ", level,
                      "; system-wide profiling and other users' processes need root or "
                      "CAP_PERFMON, or sysctl kernel.perf_event_paranoid=-1");
}

}  // namespace wick
