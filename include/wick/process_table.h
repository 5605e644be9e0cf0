// Tracks every process's executable mappings and every thread's name, so a sampled user
// address becomes a Frame (binary id, file offset) and a sample gets its thread's comm id.
//
// State comes from a /proc scan at start (ScanAll / ScanProcess) and then from the kernel's
// COMM / MMAP / MMAP2 / FORK / EXIT records, passed in as plain arguments (this module does
// not depend on the record parser). The tables own all strings; binary and comm ids are dense
// from 0 and never reused, so a recording writer can append new ones incrementally (keep a
// watermark, write ids [watermark, size())). Resolve() and CommId() are the per-sample hot
// path: no allocation, no syscalls. Event handlers may allocate and read ELF files (the
// build-id, once per file). Not thread-safe: one ProcessTable per session, one thread.
// Errors: only the scans return a Status; bad mappings in events are data, not errors.
#ifndef WICK_PROCESS_TABLE_H_
#define WICK_PROCESS_TABLE_H_

#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "wick/build_id.h"
#include "wick/frame.h"
#include "wick/stats.h"

namespace wick {

// Interns (build-id, path) pairs. build_id is raw bytes, empty when it could not be read.
class BinaryTable {
 public:
  uint32_t Intern(std::string_view build_id, std::string_view path);
  size_t size() const { return binaries_.size(); }
  // `id` < size().
  const std::string& build_id(uint32_t id) const { return binaries_[id].build_id; }
  const std::string& path(uint32_t id) const { return binaries_[id].path; }

 private:
  struct Binary {
    std::string build_id;
    std::string path;
  };
  std::vector<Binary> binaries_;
  // Key: build_id length (8 bytes) + build_id + path, so no two pairs collide.
  absl::flat_hash_map<std::string, uint32_t> ids_;
};

// Interns thread names (comm, at most 15 bytes in the kernel).
class CommTable {
 public:
  uint32_t Intern(std::string_view comm);
  size_t size() const { return names_.size(); }
  // `id` < size().
  const std::string& name(uint32_t id) const { return names_[id]; }

 private:
  std::vector<std::string> names_;
  absl::flat_hash_map<std::string, uint32_t> ids_;
};

class ProcessTable {
 public:
  // Name given to threads wick never saw a comm for.
  static constexpr std::string_view kUnknownComm = "[unknown]";

  // `stats` (may be null: counters are then kept internally) must outlive the table.
  // `proc_root` is where procfs is mounted; tests point it at a fixture tree.
  explicit ProcessTable(Stats* stats, std::string proc_root = "/proc");
  ProcessTable(const ProcessTable&) = delete;
  ProcessTable& operator=(const ProcessTable&) = delete;
  // Counts into `stats` from now on (null: internally), e.g. an --overwrite snapshot's own.
  void set_stats(Stats* stats) { stats_ = stats != nullptr ? stats : &own_stats_; }

  // Reads PROC/PID/maps (executable mappings), PROC/PID/comm and every PROC/PID/task/TID/comm.
  // NotFound "no process with pid N" when PROC/PID does not exist.
  absl::Status ScanProcess(pid_t pid);
  // Scans every numeric entry of PROC; processes that exit mid-scan are skipped. With
  // `only_unknown`, processes already known are left as they are.
  absl::Status ScanAll(bool only_unknown = false);

  // PERF_RECORD_MMAP / MMAP2. `prot` is the MMAP2 prot (PROT_* bits); pass kProtUnknown for
  // PERF_RECORD_MMAP (v1), whose mappings are treated as executable. Non-executable mappings
  // are not kept but still remove what they overlap (mmap semantics). A mapping replaces (trims or
  // splits) any mapping it overlaps. `build_id` is the kernel's (PERF_RECORD_MISC_MMAP_BUILD_ID),
  // empty when it gave none: the file is then read through PROC/PID/root/<filename> (falling back
  // to <filename>), once per file.
  //
  // Without a build-id from the kernel, the file is found as the process mapped it: through
  // PROC/PID/map_files/START-END while the mapping exists (the very file, even deleted or
  // replaced on disk since), else by its path resolved inside the process's root (openat2
  // RESOLVE_IN_ROOT: a container's absolute symlinks stay in the container), else by the
  // host path. `file` (device and inode from /proc/PID/maps or MMAP2) must then match the
  // file found; a mapped file no path leads to any more is counted (kFilesReplaced) and
  // stored as "PATH (replaced)" without build-id, never named from the wrong file. When
  // map_files gave the mapped file but its path now holds another, its functions are read
  // at once (TakeCapturedSymbols), so the report names its frames.
  static constexpr uint32_t kProtUnknown = 0xffffffffu;
  struct MappedFile {
    uint32_t major = 0, minor = 0;
    uint64_t inode = 0;
  };
  void OnMmap(pid_t pid, pid_t tid, uint64_t start, uint64_t len, uint64_t pgoff,
              std::string_view filename, uint32_t prot, std::span<const std::byte> build_id,
              const MappedFile* file = nullptr);
  // The functions of mapped files replaced or deleted on disk, read through map_files since
  // the last call: (binary id, symbols by file offset).
  std::vector<std::pair<uint32_t, std::vector<FileSymbol>>> TakeCapturedSymbols() {
    return std::move(captured_);
  }
  // PERF_RECORD_COMM. `exec` (PERF_RECORD_MISC_COMM_EXEC): the image changed, the process's
  // old mappings are dropped (the kernel sends the new image's MMAP2s after this record).
  // `time`: the record's timestamp, used only with KeepHistory.
  void OnComm(pid_t pid, pid_t tid, std::string_view comm, bool exec, uint64_t time = 0);
  // PERF_RECORD_FORK. pid != ppid: a new process, copying the parent's mappings. In both
  // cases thread `tid` starts with the comm of thread `ptid`.
  void OnFork(pid_t pid, pid_t ppid, pid_t tid, pid_t ptid, uint64_t time = 0);

  // For samples handled long after the records around them (--overwrite reads its samples
  // at the end): an exec, or a new process reusing a pid, keeps the image it replaces (its
  // mappings and its main thread's comm) with the time it ended, and Resolve / ResolveUser /
  // CommId answer for the process as it was at SetResolveTime's time. At most
  // kMaxGenerations images are kept, the oldest dropped first. Off by default.
  static constexpr size_t kMaxGenerations = 1024;
  void KeepHistory() { keep_history_ = true; }
  // The sample time that the lookups answer for; UINT64_MAX (the default): now.
  void SetResolveTime(uint64_t time) { resolve_time_ = time; }
  // PERF_RECORD_EXIT of thread `tid` of process `pid` (of the process when tid == pid). Only
  // marks it: samples still queued in other CPUs' ring buffers may need its mappings.
  void OnExit(pid_t pid, pid_t tid);
  // Frees the processes and threads whose exit was seen before the previous call, unless a
  // new one took the pid or tid since. A process whose main thread exited first is freed
  // after its last thread. The session calls this once a second, after reading every ring up
  // to then, so no sample of theirs can still come. The table then holds the live tasks plus
  // those that exited in the last two seconds, however many come and go (a fork storm).
  // Counts kProcessesForgotten. Does nothing with KeepHistory (--overwrite resolves its
  // samples at the end, against kept images).
  void ForgetExited();
  size_t ProcessCount() const { return processes_.size(); }
  size_t ThreadCount() const { return thread_comms_.size(); }

  // Hot path. The frame of user address `addr` in process `pid`: kUserFile {binary id, file
  // offset = addr - start + pgoff} when in a file mapping (kFramesNoBuildId counted when the
  // binary has no build-id), else kUserRaw {addr, binary = pid} (kFramesUnmapped counted;
  // also for an unknown pid; the pid keys the recording's JIT symbols). Does not count kUserFrames
  // or kSamplesUnknownPid.
  Frame Resolve(pid_t pid, uint64_t addr);

  // The same for many addresses of one sample, with the process looked up once: Find() it
  // (nullptr when unknown), then Resolve each address in it. The pointer is valid until the
  // next event handler or SetResolveTime call.
  static constexpr uint32_t kNoBinary = 0xffffffffu;
  struct Mapping {
    uint64_t start = 0;
    uint64_t end = 0;  // exclusive
    uint64_t pgoff = 0;
    uint32_t binary = kNoBinary;  // kNoBinary: anonymous / special, frames stay raw
    bool has_build_id = false;
  };
  struct Process {
    std::vector<Mapping> mappings;  // sorted by start, non-overlapping
    bool exited = false;
  };
  const Process* Find(pid_t pid) const { return ProcessAt(pid); }
  Frame ResolveIn(pid_t pid, const Process* process, uint64_t addr);
  // Hot path for one sample: out[i] = Resolve(pid, addrs[i]) for i < addrs.size()
  // (out.size() must be >= addrs.size()); counts kSamplesUnknownPid once if pid is unknown.
  void ResolveUser(pid_t pid, std::span<const uint64_t> addrs, std::span<Frame> out);
  // True when `addr` lies in a mapping of `pid`, file or anonymous (JIT code), or when the
  // process is unknown (nothing to tell). Not the hot path: for the unwinder's checks.
  bool MayBeMapped(pid_t pid, uint64_t addr) const;
  // True when wick has scanned or seen records for `pid` (exited processes included).
  bool KnowsProcess(pid_t pid) const { return processes_.contains(pid); }
  bool HasExited(pid_t pid) const;

  // Hot path. The comm id of thread `tid`; when the thread is unknown, that of its process
  // `pid` (the main thread), else the id of kUnknownComm.
  uint32_t CommId(pid_t pid, pid_t tid) const;
  // Same when only the tid is known.
  uint32_t CommId(pid_t tid) const { return CommId(-1, tid); }

  BinaryTable& binaries() { return binaries_; }
  CommTable& comms() { return comms_; }

  // Number of mappings currently known for `pid` (tests and diagnostics).
  size_t MappingCount(pid_t pid) const;

 private:
  struct FileKey {
    uint64_t dev, ino, size;
    int64_t mtime_ns;
    friend bool operator==(const FileKey&, const FileKey&) = default;
    template <typename H>
    friend H AbslHashValue(H h, const FileKey& k) {
      return H::combine(std::move(h), k.dev, k.ino, k.size, k.mtime_ns);
    }
  };

  // An image a process had until `end_time` (KeepHistory).
  struct Generation {
    uint64_t end_time;
    Process process;
    uint32_t comm;
  };
  Process& GetProcess(pid_t pid) { return processes_[pid]; }
  void Archive(pid_t pid, uint64_t end_time);
  // The process `pid` as of resolve_time_: an archived image or the current one (nullptr
  // when unknown); sets *comm to the archived comm when it is an archived image.
  const Process* ProcessAt(pid_t pid, uint32_t* comm = nullptr) const;
  static void AddMapping(Process& process, const Mapping& mapping);
  static void RemoveMapping(Process& process, const Mapping& mapping);
  uint32_t BinaryFor(pid_t pid, std::string_view filename, std::span<const std::byte> kernel_id,
                     uint64_t start, uint64_t end, const MappedFile* file, bool* has_build_id);
  // The build-id of the file open at `fd` (cached by its identity); `st` is its fstat.
  std::string BuildIdOf(int fd, const struct stat& st, std::string_view name);

  Stats own_stats_;
  Stats* stats_;
  std::string proc_root_;
  BinaryTable binaries_;
  CommTable comms_;
  uint32_t unknown_comm_;
  absl::flat_hash_map<pid_t, Process> processes_;
  absl::flat_hash_map<pid_t, uint32_t> thread_comms_;  // tid -> comm id
  // Exits not yet forgotten: pid or tid -> the ForgetExited() epoch in which it was seen.
  absl::flat_hash_map<pid_t, uint64_t> process_exits_;
  absl::flat_hash_map<pid_t, uint64_t> thread_exits_;
  uint64_t forget_epoch_ = 0;
  absl::flat_hash_map<FileKey, std::string> build_id_cache_;  // by file identity
  std::vector<std::pair<uint32_t, std::vector<FileSymbol>>> captured_;
  absl::flat_hash_set<uint32_t> replaced_binaries_;  // counted in kFilesReplaced
  bool keep_history_ = false;
  uint64_t resolve_time_ = UINT64_MAX;
  absl::flat_hash_map<pid_t, std::vector<Generation>> history_;  // by end_time, per pid
  std::vector<pid_t> archive_order_;  // pids in the order archived (for the cap)
  size_t archive_head_ = 0;           // archive_order_[archive_head_..] are still kept
};

}  // namespace wick

#endif  // WICK_PROCESS_TABLE_H_
