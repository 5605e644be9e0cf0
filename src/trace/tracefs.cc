#include "wick/tracefs.h"

#include <errno.h>
#include <fnmatch.h>
#include <sys/mount.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "wick/kernel_caps.h"
#include "wick/read_file.h"
#include "wick/status.h"

namespace wick {
namespace {

bool HasGlob(std::string_view s) { return s.find_first_of("*?[") != std::string_view::npos; }

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] =
          std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

std::vector<std::string> NearMatches(std::string_view wanted, const std::vector<std::string>& names,
                                     size_t max) {
  // Score: edit distance; substring relations count as a close match (distance 1) so
  // "sched_switch" finds "sched:sched_switch" and "readlin" finds "readline".
  constexpr size_t kMaxLength = 256;  // no quadratic work on absurd input
  if (wanted.empty() || wanted.size() > kMaxLength) return {};
  const size_t limit = std::max<size_t>(2, wanted.size() / 3);
  std::vector<std::pair<size_t, std::string_view>> scored;
  for (const std::string& name : names) {
    size_t score;
    if (name.size() > kMaxLength) continue;
    if (absl::StrContains(name, Sv(wanted)) ||
        (name.size() >= 3 && absl::StrContains(Sv(wanted), name))) {
      score = 1;
    } else {
      const size_t length_gap =
          name.size() > wanted.size() ? name.size() - wanted.size() : wanted.size() - name.size();
      if (length_gap > limit) continue;
      score = EditDistance(wanted, name);
      if (score > limit) continue;
    }
    scored.emplace_back(score, name);
  }
  std::stable_sort(scored.begin(), scored.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> out;
  for (size_t i = 0; i < scored.size() && out.size() < max; ++i) out.emplace_back(scored[i].second);
  return out;
}

absl::StatusOr<Tracefs> Tracefs::Find(const std::string& proc_root) {
  const std::string mounts_path = proc_root + "/mounts";
  WICK_ASSIGN_OR_RETURN(std::string mounts, ReadFile(mounts_path));
  std::string debugfs_tracing;
  for (absl::string_view line : absl::StrSplit(mounts, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> parts = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (parts.size() < 3) continue;
    if (parts[2] == "tracefs") return Tracefs(UnescapeMountField(Sv(parts[1])));
    if (parts[2] == "debugfs" && debugfs_tracing.empty()) {
      const std::string dir = UnescapeMountField(Sv(parts[1])) + "/tracing";
      std::error_code ec;
      if (std::filesystem::exists(dir + "/events", ec)) debugfs_tracing = dir;
    }
  }
  if (!debugfs_tracing.empty()) return Tracefs(debugfs_tracing);
  return absl::NotFoundError(absl::StrCat("tracefs is not mounted (no tracefs or debugfs in ",
                                          mounts_path, "); mount it: mount -t tracefs nodev ",
                                          kDefaultMountPoint));
}

absl::StatusOr<Tracefs> Tracefs::FindOrMount(const std::string& proc_root,
                                             const std::string& mount_point) {
  absl::StatusOr<Tracefs> found = Find(proc_root);
  if (found.ok() || found.status().code() != absl::StatusCode::kNotFound) return found;
  if (mount("nodev", mount_point.c_str(), "tracefs", 0, nullptr) != 0) {
    const int err = errno;
    const std::string what =
        absl::StrCat("tracefs is not mounted and mounting it at ", mount_point, " failed");
    switch (err) {
      case EPERM:
      case EACCES:
        return ErrnoError(err, what,
                          "mounting needs root or CAP_SYS_ADMIN; or have an administrator run: "
                          "mount -t tracefs nodev /sys/kernel/tracing");
      case ENODEV:
        return ErrnoError(err, what, "this kernel has no tracefs (CONFIG_TRACING is off)");
      case ENOENT:
        return ErrnoError(err, what, "the mount point does not exist");
      default:
        return ErrnoError(err, what);
    }
  }
  return Tracefs(mount_point);
}

std::string Tracefs::EventDir(const TracepointName& tp) const {
  return absl::StrCat(root_, "/events/", tp.system, "/", tp.event);
}

absl::StatusOr<std::vector<TracepointName>> Tracefs::ListTracepoints() const {
  namespace fs = std::filesystem;
  const std::string events = root_ + "/events";
  std::error_code ec;
  fs::directory_iterator systems(events, ec);
  if (ec) {
    const bool denied = ec.value() == EACCES || ec.value() == EPERM;
    return ErrnoError(ec.value(), absl::StrCat("cannot list tracepoints in ", events),
                      denied ? "tracefs is readable by root only: run as root, or remount it "
                               "readable (mount -o remount,mode=755 " +
                                   root_ +
                                   ") and lower kernel.perf_event_paranoid to -1 for raw "
                                   "tracepoint data (or grant CAP_PERFMON)"
                             : std::string("is tracefs mounted there?"));
  }
  std::vector<TracepointName> out;
  for (const fs::directory_entry& system : systems) {
    if (!system.is_directory(ec)) continue;
    fs::directory_iterator events_of_system(system.path(), ec);
    if (ec) continue;  // a system directory we cannot read: its events are not offered
    for (const fs::directory_entry& event : events_of_system) {
      if (!event.is_directory(ec) || !fs::exists(event.path() / "id", ec)) continue;
      out.push_back({system.path().filename().string(), event.path().filename().string()});
    }
  }
  std::sort(out.begin(), out.end(), [](const TracepointName& a, const TracepointName& b) {
    return std::tie(a.system, a.event) < std::tie(b.system, b.event);
  });
  return out;
}

absl::StatusOr<std::vector<TracepointName>> Tracefs::Expand(std::string_view system_glob,
                                                            std::string_view event_glob) const {
  const std::string sys(system_glob), ev(event_glob);
  if (!HasGlob(sys) && !HasGlob(ev)) {
    // The common case: one named tracepoint; no need to list them all unless it is missing.
    std::error_code ec;
    if (std::filesystem::exists(EventDir({sys, ev}) + "/id", ec)) {
      return std::vector<TracepointName>{{sys, ev}};
    }
  }
  WICK_ASSIGN_OR_RETURN(std::vector<TracepointName> all, ListTracepoints());
  std::vector<TracepointName> out;
  for (const TracepointName& tp : all) {
    if (fnmatch(sys.c_str(), tp.system.c_str(), 0) == 0 &&
        fnmatch(ev.c_str(), tp.event.c_str(), 0) == 0) {
      out.push_back(tp);
    }
  }
  if (!out.empty()) return out;
  const std::string wanted = absl::StrCat(sys, ":", ev);
  std::vector<std::string> names;
  names.reserve(all.size());
  for (const TracepointName& tp : all) names.push_back(tp.FullName());
  std::vector<std::string> near = NearMatches(wanted, names);
  // "sched_swich" alone (no system typo) is better matched on the event part.
  if (near.empty() && !HasGlob(ev)) {
    std::vector<std::string> event_names;
    for (const TracepointName& tp : all) event_names.push_back(tp.event);
    for (const std::string& e : NearMatches(ev, event_names)) {
      for (const TracepointName& tp : all) {
        if (tp.event == e) near.push_back(tp.FullName());
      }
    }
    if (near.size() > 5) near.resize(5);
  }
  const std::string kind =
      HasGlob(sys) || HasGlob(ev) ? "no tracepoint matches" : "unknown tracepoint";
  return absl::NotFoundError(absl::StrCat(
      kind, " '", wanted, "' in ", root_, "/events",
      near.empty() ? "" : absl::StrCat("; did you mean ", absl::StrJoin(near, ", "), "?"),
      " (list them: ls ", root_, "/events/*/)"));
}

absl::StatusOr<uint64_t> Tracefs::ReadId(const TracepointName& tp) const {
  const std::string path = EventDir(tp) + "/id";
  WICK_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  uint64_t id = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &id)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a tracepoint id: '", text, "'"));
  }
  return id;
}

absl::StatusOr<std::string> Tracefs::ReadFormat(const TracepointName& tp) const {
  return ReadFile(EventDir(tp) + "/format");
}

absl::StatusOr<std::string> Tracefs::ReadFilter(const TracepointName& tp) const {
  return ReadFile(EventDir(tp) + "/filter");
}

}  // namespace wick
