// tracefs: finding it, mounting it when absent, and reading tracepoint metadata from it.
//
// Tracefs::FindOrMount() looks for a tracefs mount (or debugfs + "/tracing") in
// <proc_root>/mounts and, when there is none, mounts tracefs at /sys/kernel/tracing (needs
// root or CAP_SYS_ADMIN; the error says so). Tracefs::AtRoot() points at any directory laid
// out like tracefs, so tests can use fixtures. A Tracefs is a plain value (its root path);
// all reads go to the file system each time; thread-safe. Errors name the file and the fix.
#ifndef WICK_TRACEFS_H_
#define WICK_TRACEFS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace wick {

struct TracepointName {
  std::string system;  // "sched"
  std::string event;   // "sched_switch"
  std::string FullName() const { return system + ":" + event; }
  friend bool operator==(const TracepointName&, const TracepointName&) = default;
};

class Tracefs {
 public:
  static constexpr const char* kDefaultMountPoint = "/sys/kernel/tracing";

  // The tracefs directory from <proc_root>/mounts: a "tracefs" mount, else a "debugfs"
  // mount's "tracing" subdirectory. NotFound when neither is mounted.
  static absl::StatusOr<Tracefs> Find(const std::string& proc_root = "/proc");

  // Find(), else mount("nodev", mount_point, "tracefs", 0, NULL). PermissionDenied on EPERM
  // ("needs root or CAP_SYS_ADMIN"), other errnos named with the mount point.
  static absl::StatusOr<Tracefs> FindOrMount(const std::string& proc_root = "/proc",
                                             const std::string& mount_point = kDefaultMountPoint);

  // A tracefs rooted at `root` (a fixture directory, or a known mount point). Never fails;
  // reads fail later if the directory is not tracefs-like.
  static Tracefs AtRoot(std::string root) { return Tracefs(std::move(root)); }

  const std::string& root() const { return root_; }

  // Every tracepoint under events/*/* (directories with an "id" file), sorted by system then
  // event.
  absl::StatusOr<std::vector<TracepointName>> ListTracepoints() const;

  // Tracepoints whose system and event match the fnmatch(3) globs ("sched", "*";
  // "syscalls", "sys_enter_open*"). A pattern without glob characters that names no
  // tracepoint is NotFound with near matches: "unknown tracepoint 'sched:sched_swich'; did
  // you mean sched:sched_switch? ...". A glob that matches nothing is NotFound too.
  absl::StatusOr<std::vector<TracepointName>> Expand(std::string_view system_glob,
                                                     std::string_view event_glob) const;

  // events/SYSTEM/EVENT/id: the perf_event_attr.config of PERF_TYPE_TRACEPOINT.
  absl::StatusOr<uint64_t> ReadId(const TracepointName& tp) const;
  // The text of events/SYSTEM/EVENT/format (parse with TraceFormat::Parse).
  absl::StatusOr<std::string> ReadFormat(const TracepointName& tp) const;
  // The text of events/SYSTEM/EVENT/filter (the ftrace filter, "none" when unset; after a
  // failed write it holds the kernel's parse error).
  absl::StatusOr<std::string> ReadFilter(const TracepointName& tp) const;

 private:
  explicit Tracefs(std::string root) : root_(std::move(root)) {}
  std::string EventDir(const TracepointName& tp) const;

  std::string root_;
};

// Near matches of `wanted` ("sched:sched_swich") among `names` for error messages: names
// within a small edit distance, or containing / contained in the wanted text, best first,
// at most `max` of them.
std::vector<std::string> NearMatches(std::string_view wanted, const std::vector<std::string>& names,
                                     size_t max = 5);

}  // namespace wick

#endif  // WICK_TRACEFS_H_
