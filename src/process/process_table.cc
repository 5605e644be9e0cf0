#include "wick/process_table.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "wick/build_id.h"
#include "wick/read_file.h"
#include "wick/scoped.h"
#include "wick/status.h"

namespace wick {
namespace {

// A raw frame carries its pid, so report time can name it from the process's JIT map.
Frame RawFrame(pid_t pid, uint64_t addr) {
  return Frame{.value = addr,
               .binary = pid > 0 ? static_cast<uint32_t>(pid) : 0u,
               .kind = FrameKind::kUserRaw};
}

std::string_view StripNewline(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\0')) s.remove_suffix(1);
  return s;
}

bool ParsePid(std::string_view s, pid_t* pid) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *pid);
  return ec == std::errc() && ptr == s.data() + s.size() && *pid > 0;
}

// Names the kernel gives mappings that are not regular files on disk: frames in them keep
// their raw address.
bool IsRegularFileName(std::string_view name) {
  if (name.empty() || name[0] != '/') return false;  // [vdso], [stack], [anon:x], anon_inode:
  if (name.starts_with("//anon") || name.starts_with("/memfd:") || name.starts_with("/dev/") ||
      name.starts_with("/SYSV")) {
    return false;
  }
  return true;  // " (deleted)" too: map_files still reads it while it is mapped
}

struct MapsLine {
  uint64_t start = 0, end = 0, pgoff = 0;
  bool exec = false;
  ProcessTable::MappedFile file;
  std::string_view path;
};

// "start-end perms offset dev inode   path"; path may be absent and may contain spaces.
bool ParseMapsLine(std::string_view line, MapsLine* out) {
  auto hex = [&](uint64_t* v) {
    auto [ptr, ec] = std::from_chars(line.data(), line.data() + line.size(), *v, 16);
    if (ec != std::errc()) return false;
    line.remove_prefix(ptr - line.data());
    return true;
  };
  auto expect = [&](char c) {
    if (line.empty() || line[0] != c) return false;
    line.remove_prefix(1);
    return true;
  };
  auto field = [&](std::string_view* f) {
    size_t sp = line.find(' ');
    if (sp == std::string_view::npos) {
      *f = line;
      line = {};
    } else {
      *f = line.substr(0, sp);
      line.remove_prefix(sp + 1);
    }
    return !f->empty();
  };
  std::string_view perms, dev, inode;
  if (!hex(&out->start) || !expect('-') || !hex(&out->end) || !expect(' ') || !field(&perms) ||
      !hex(&out->pgoff) || !expect(' ') || !field(&dev) || !field(&inode)) {
    return false;
  }
  if (perms.size() < 3 || out->end <= out->start) return false;
  out->exec = perms[2] == 'x';
  // dev is "MAJOR:MINOR" in hex, inode decimal.
  const size_t colon = dev.find(':');
  if (colon != std::string_view::npos) {
    std::from_chars(dev.data(), dev.data() + colon, out->file.major, 16);
    std::from_chars(dev.data() + colon + 1, dev.data() + dev.size(), out->file.minor, 16);
  }
  std::from_chars(inode.data(), inode.data() + inode.size(), out->file.inode, 10);
  size_t first = line.find_first_not_of(' ');
  out->path = first == std::string_view::npos ? std::string_view() : line.substr(first);
  return true;
}

}  // namespace

uint32_t BinaryTable::Intern(std::string_view build_id, std::string_view path) {
  std::string key;
  key.reserve(8 + build_id.size() + path.size());
  uint64_t len = build_id.size();
  key.append(reinterpret_cast<const char*>(&len), sizeof(len));
  key.append(build_id);
  key.append(path);
  auto [it, inserted] = ids_.try_emplace(std::move(key), static_cast<uint32_t>(binaries_.size()));
  if (inserted) binaries_.push_back(Binary{std::string(build_id), std::string(path)});
  return it->second;
}

uint32_t CommTable::Intern(std::string_view comm) {
  auto it = ids_.find(Sv(comm));
  if (it != ids_.end()) return it->second;
  uint32_t id = static_cast<uint32_t>(names_.size());
  names_.emplace_back(comm);
  ids_.emplace(std::string(comm), id);
  return id;
}

ProcessTable::ProcessTable(Stats* stats, std::string proc_root)
    : stats_(stats != nullptr ? stats : &own_stats_),
      proc_root_(std::move(proc_root)),
      unknown_comm_(comms_.Intern(kUnknownComm)) {}

absl::Status ProcessTable::ScanProcess(pid_t pid) {
  std::string dir = absl::StrCat(proc_root_, "/", pid);
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat("no process with pid ", pid));
    return ErrnoError(errno, absl::StrCat("stat ", dir));
  }
  absl::StatusOr<std::string> maps = ReadFile(dir + "/maps");
  if (!maps.ok()) {
    if (absl::IsNotFound(maps.status())) {
      return absl::NotFoundError(absl::StrCat("no process with pid ", pid, " (it exited)"));
    }
    return Annotate(maps.status(), absl::StrCat("reading the mappings of pid ", pid,
                                                " (needs root or ptrace access to it)"));
  }

  // A rescan replaces what we knew: the scan is the newer truth.
  Process& process = GetProcess(pid);
  process.mappings.clear();
  process.exited = false;
  process_exits_.erase(pid);
  std::string_view rest = *maps;
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    MapsLine m;
    if (!ParseMapsLine(line, &m) || !m.exec) continue;
    OnMmap(pid, pid, m.start, m.end - m.start, m.pgoff, m.path, PROT_READ | PROT_EXEC, {},
           m.file.inode != 0 ? &m.file : nullptr);
  }

  if (absl::StatusOr<std::string> comm = ReadFile(dir + "/comm"); comm.ok()) {
    thread_comms_[pid] = comms_.Intern(StripNewline(*comm));
  }
  std::string task_dir = dir + "/task";
  std::unique_ptr<DIR, int (*)(DIR*)> tasks(::opendir(task_dir.c_str()), &::closedir);
  if (tasks != nullptr) {
    while (struct dirent* ent = ::readdir(tasks.get())) {
      pid_t tid;
      if (!ParsePid(ent->d_name, &tid)) continue;
      absl::StatusOr<std::string> comm =
          ReadFile(absl::StrCat(task_dir, "/", ent->d_name, "/comm"));
      if (comm.ok()) thread_comms_[tid] = comms_.Intern(StripNewline(*comm));
    }
  }
  return absl::OkStatus();
}

absl::Status ProcessTable::ScanAll(bool only_unknown) {
  std::unique_ptr<DIR, int (*)(DIR*)> proc(::opendir(proc_root_.c_str()), &::closedir);
  if (proc == nullptr) {
    return ErrnoError(errno, absl::StrCat("open ", proc_root_), "is procfs mounted?");
  }
  while (struct dirent* ent = ::readdir(proc.get())) {
    pid_t pid;
    if (!ParsePid(ent->d_name, &pid)) continue;
    if (only_unknown && KnowsProcess(pid)) continue;
    // Processes that exit mid-scan, or that we may not read, are skipped: their samples
    // are counted as samples_unknown_process.
    (void)ScanProcess(pid);
  }
  return absl::OkStatus();
}

void ProcessTable::OnMmap(pid_t pid, pid_t /*tid*/, uint64_t start, uint64_t len, uint64_t pgoff,
                          std::string_view filename, uint32_t prot,
                          std::span<const std::byte> build_id, const MappedFile* file) {
  if (len == 0 || start + len < start) return;
  Mapping mapping{.start = start, .end = start + len, .pgoff = pgoff};
  bool exec = prot == kProtUnknown || (prot & PROT_EXEC) != 0;
  Process& process = GetProcess(pid);
  if (!exec) {
    // Not kept (no code runs there), but it still replaced whatever was mapped there before.
    mapping.binary = kNoBinary;
    AddMapping(process, mapping);
    RemoveMapping(process, mapping);
    return;
  }
  if (IsRegularFileName(filename)) {
    mapping.binary =
        BinaryFor(pid, filename, build_id, start, start + len, file, &mapping.has_build_id);
  } else if (filename == kVdsoPath && !OwnVdsoBuildId().empty()) {
    // The kernel maps one vDSO into every 64-bit process: ours, which the unwinder and the
    // symbolizer read (see OwnVdsoFile), so its frames get names instead of raw addresses.
    mapping.binary = binaries_.Intern(OwnVdsoBuildId(), kVdsoPath);
    mapping.has_build_id = true;
  }
  AddMapping(process, mapping);
}

void ProcessTable::AddMapping(Process& process, const Mapping& mapping) {
  std::vector<Mapping>& maps = process.mappings;
  // Mappings are sorted and disjoint, so their ends are sorted too: the overlapping ones
  // are the contiguous run [first, last).
  auto first = std::upper_bound(maps.begin(), maps.end(), mapping.start,
                                [](uint64_t addr, const Mapping& m) { return addr < m.end; });
  auto last = std::lower_bound(first, maps.end(), mapping.end,
                               [](const Mapping& m, uint64_t addr) { return m.start < addr; });
  Mapping pieces[3];
  size_t n = 0;
  if (first != last && first->start < mapping.start) {
    pieces[n] = *first;  // the part of the first overlapped mapping left of the new one
    pieces[n++].end = mapping.start;
  }
  pieces[n++] = mapping;
  if (first != last && (last - 1)->end > mapping.end) {
    Mapping right = *(last - 1);  // the part right of the new one keeps its file offset
    right.pgoff += mapping.end - right.start;
    right.start = mapping.end;
    pieces[n++] = right;
  }
  auto pos = maps.erase(first, last);
  maps.insert(pos, pieces, pieces + n);
}

void ProcessTable::RemoveMapping(Process& process, const Mapping& mapping) {
  std::vector<Mapping>& maps = process.mappings;
  auto it = std::lower_bound(maps.begin(), maps.end(), mapping.start,
                             [](const Mapping& m, uint64_t addr) { return m.start < addr; });
  if (it != maps.end() && it->start == mapping.start && it->end == mapping.end) maps.erase(it);
}

namespace {

constexpr std::string_view kDeletedSuffix = " (deleted)";

bool SameFile(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// `fd` when it is open and fstat fills *st, else an invalid fd.
ScopedFd WithStat(ScopedFd fd, struct stat* st) {
  if (fd && ::fstat(fd.get(), st) != 0) return ScopedFd();
  return fd;
}

ScopedFd OpenFile(const std::string& path, struct stat* st) {
  return WithStat(ScopedFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC)), st);
}

// The mapping's file as /proc/PID/maps or MMAP2 names it. The inode must match; the device
// too, except that overlayfs (containers) shows the underlying device in maps and its own
// to stat.
bool IsMappedFile(const struct stat& st, const ProcessTable::MappedFile& file) {
  return st.st_ino == file.inode;
}

// `path` opened inside the root directory `root` (symlinks, absolute ones included, and ".."
// cannot leave it): openat2 with RESOLVE_IN_ROOT, Linux 5.6+. Invalid fd when missing.
// *root_open tells whether `root` itself could be opened.
ScopedFd OpenInRoot(const std::string& root, std::string_view path, bool* root_open) {
  ScopedFd root_fd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  *root_open = static_cast<bool>(root_fd);
  if (!root_fd) return ScopedFd();
  struct open_how how = {};
  how.flags = O_RDONLY | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  const std::string p(path);
  long fd = ::syscall(SYS_openat2, root_fd.get(), p.c_str(), &how, sizeof(how));
  if (fd < 0 && errno == ENOSYS) {
    // An older kernel: the root's path, which an absolute symlink can still lead out of.
    fd = ::open((root + p).c_str(), O_RDONLY | O_CLOEXEC);
  }
  return ScopedFd(fd < 0 ? -1 : static_cast<int>(fd));
}

}  // namespace

uint32_t ProcessTable::BinaryFor(pid_t pid, std::string_view filename,
                                 std::span<const std::byte> kernel_id, uint64_t start, uint64_t end,
                                 const MappedFile* file, bool* has_build_id) {
  if (!kernel_id.empty()) {
    *has_build_id = true;
    return binaries_.Intern(
        std::string_view(reinterpret_cast<const char*>(kernel_id.data()), kernel_id.size()),
        filename);
  }
  std::string_view path = filename;
  const bool deleted = path.ends_with(kDeletedSuffix);
  if (deleted) path.remove_suffix(kDeletedSuffix.size());
  const std::string proc = absl::StrCat(proc_root_, "/", pid);

  // The file by its path, inside the process's root, and its identity.
  bool root_open = false;
  struct stat path_st = {};
  ScopedFd by_path =
      deleted ? ScopedFd() : WithStat(OpenInRoot(proc + "/root", path, &root_open), &path_st);

  // The very file mapped, while the mapping exists.
  struct stat mapped_st = {};
  ScopedFd mapped = OpenFile(absl::StrFormat("%s/map_files/%x-%x", proc, start, end), &mapped_st);
  if (mapped) {
    std::string build_id = BuildIdOf(mapped.get(), mapped_st, filename);
    *has_build_id = !build_id.empty();
    const uint32_t id = binaries_.Intern(build_id, path);
    if (!by_path || !SameFile(path_st, mapped_st)) {
      // Replaced or deleted on disk: nothing at the path will name these frames at report
      // time, so read the mapped file's functions now, once per binary.
      if (replaced_binaries_.insert(id).second) {
        stats_->Add(Stat::kFilesReplaced);
        absl::StatusOr<std::vector<FileSymbol>> symbols = ReadFileSymbols(mapped.get(), path);
        if (symbols.ok() && !symbols->empty()) captured_.push_back({id, *std::move(symbols)});
      }
    }
    return id;
  }

  // No map_files (not root, or the mapping is gone): the path's file, checked against the
  // identity the kernel gave; then the host's file of that name, under the same check.
  // Without an identity (PERF_RECORD_MMAP v1) the host's file is read only when there is no
  // root to look in (the process is gone), as before map_files and openat2.
  if (file != nullptr && by_path && !IsMappedFile(path_st, *file)) by_path = ScopedFd();
  if (!by_path && !deleted && (file != nullptr || !root_open)) {
    by_path = OpenFile(std::string(path), &path_st);
    if (file != nullptr && by_path && !IsMappedFile(path_st, *file)) by_path = ScopedFd();
  }
  if (!by_path && (file != nullptr || deleted)) {
    // No file with the mapped identity: never named from another file.
    *has_build_id = false;
    const uint32_t id =
        binaries_.Intern("", absl::StrCat(Sv(path), deleted ? Sv(kDeletedSuffix) : " (replaced)"));
    if (replaced_binaries_.insert(id).second) stats_->Add(Stat::kFilesReplaced);
    return id;
  }
  std::string build_id = by_path ? BuildIdOf(by_path.get(), path_st, filename) : std::string();
  *has_build_id = !build_id.empty();
  return binaries_.Intern(build_id, path);
}

std::string ProcessTable::BuildIdOf(int fd, const struct stat& st, std::string_view name) {
  // Cached by file identity rather than by name: two containers may hold different files
  // under one path, and a rebuilt binary gets a new inode or mtime.
  FileKey key{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
              static_cast<uint64_t>(st.st_size),
              static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
  auto it = build_id_cache_.find(key);
  if (it != build_id_cache_.end()) return it->second;
  absl::StatusOr<std::string> id = ReadBuildIdOfFd(fd, name);
  std::string value = id.ok() ? *std::move(id) : std::string();
  build_id_cache_.emplace(key, value);
  return value;
}

void ProcessTable::Archive(pid_t pid, uint64_t end_time) {
  auto it = processes_.find(pid);
  if (it == processes_.end()) return;
  history_[pid].push_back({end_time, it->second, CommId(pid, pid)});
  archive_order_.push_back(pid);
  if (archive_order_.size() - archive_head_ > kMaxGenerations) {
    // Drop the oldest image kept of any process; its pid's list is oldest-first.
    const pid_t oldest = archive_order_[archive_head_++];
    std::vector<Generation>& gens = history_[oldest];
    gens.erase(gens.begin());
    if (gens.empty()) history_.erase(oldest);
    if (archive_head_ > 4096 && archive_head_ * 2 > archive_order_.size()) {
      archive_order_.erase(archive_order_.begin(), archive_order_.begin() + archive_head_);
      archive_head_ = 0;
    }
  }
}

const ProcessTable::Process* ProcessTable::ProcessAt(pid_t pid, uint32_t* comm) const {
  if (keep_history_ && resolve_time_ != UINT64_MAX) {
    if (auto h = history_.find(pid); h != history_.end()) {
      for (const Generation& g : h->second) {
        if (resolve_time_ < g.end_time) {
          if (comm != nullptr) *comm = g.comm;
          return &g.process;
        }
      }
    }
  }
  auto it = processes_.find(pid);
  return it == processes_.end() ? nullptr : &it->second;
}

void ProcessTable::OnComm(pid_t pid, pid_t tid, std::string_view comm, bool exec, uint64_t time) {
  if (exec && keep_history_) Archive(pid, time);
  Process& process = GetProcess(pid);
  if (exec) {
    process.mappings.clear();
    process.exited = false;
    process_exits_.erase(pid);
  }
  thread_comms_[tid] = comms_.Intern(comm);
}

void ProcessTable::OnFork(pid_t pid, pid_t ppid, pid_t tid, pid_t ptid, uint64_t time) {
  uint32_t comm = CommId(ppid, ptid);
  if (pid != ppid) {
    // A pid seen before now names another process: keep the old one's image.
    if (keep_history_) Archive(pid, time);
    std::vector<Mapping> inherited;
    if (auto parent = processes_.find(ppid); parent != processes_.end()) {
      inherited = parent->second.mappings;
    }
    Process& child = GetProcess(pid);  // may rehash: the parent reference is not kept
    child.mappings = std::move(inherited);
    child.exited = false;
    process_exits_.erase(pid);
  } else {
    GetProcess(pid);
  }
  thread_comms_[tid] = comm;
  thread_exits_.erase(tid);
}

void ProcessTable::OnExit(pid_t pid, pid_t tid) {
  thread_exits_[tid] = forget_epoch_;
  if (tid != pid) {
    // A thread's exit is not its process's (the kernel sends one record per task). When the
    // main thread went first (pthread_exit, or the order of an exit_group), the process is
    // forgotten one interval after its last thread instead.
    if (auto it = process_exits_.find(pid); it != process_exits_.end()) {
      it->second = forget_epoch_;
    }
    return;
  }
  auto it = processes_.find(pid);
  if (it == processes_.end()) return;
  it->second.exited = true;
  process_exits_[pid] = forget_epoch_;
}

void ProcessTable::ForgetExited() {
  if (keep_history_) return;
  const uint64_t now = forget_epoch_++;
  // Seen before the previous call: at least one whole interval ago.
  const uint64_t forgotten = absl::erase_if(process_exits_, [&](const auto& exit) {
    if (exit.second < now) processes_.erase(exit.first);
    return exit.second < now;
  });
  absl::erase_if(thread_exits_, [&](const auto& exit) {
    if (exit.second < now) thread_comms_.erase(exit.first);
    return exit.second < now;
  });
  stats_->Add(Stat::kProcessesForgotten, forgotten);
}

Frame ProcessTable::Resolve(pid_t pid, uint64_t addr) {
  return ResolveIn(pid, ProcessAt(pid), addr);
}

Frame ProcessTable::ResolveIn(pid_t pid, const Process* process, uint64_t addr) {
  if (process == nullptr) {
    stats_->Add(Stat::kFramesUnmapped);
    return RawFrame(pid, addr);
  }
  const std::vector<Mapping>& maps = process->mappings;
  auto it = std::upper_bound(maps.begin(), maps.end(), addr,
                             [](uint64_t a, const Mapping& m) { return a < m.end; });
  if (it == maps.end() || addr < it->start || it->binary == kNoBinary) {
    stats_->Add(Stat::kFramesUnmapped);
    return RawFrame(pid, addr);
  }
  if (!it->has_build_id) stats_->Add(Stat::kFramesNoBuildId);
  return Frame{
      .value = addr - it->start + it->pgoff, .binary = it->binary, .kind = FrameKind::kUserFile};
}

void ProcessTable::ResolveUser(pid_t pid, std::span<const uint64_t> addrs, std::span<Frame> out) {
  size_t n = std::min(addrs.size(), out.size());
  const Process* process = ProcessAt(pid);
  if (process == nullptr) {
    stats_->Add(Stat::kSamplesUnknownPid);
    stats_->Add(Stat::kFramesUnmapped, n);
    for (size_t i = 0; i < n; ++i) out[i] = RawFrame(pid, addrs[i]);
    return;
  }
  for (size_t i = 0; i < n; ++i) out[i] = ResolveIn(pid, process, addrs[i]);
}

bool ProcessTable::MayBeMapped(pid_t pid, uint64_t addr) const {
  const Process* process = ProcessAt(pid);
  if (process == nullptr) return true;
  const std::vector<Mapping>& maps = process->mappings;
  auto it = std::upper_bound(maps.begin(), maps.end(), addr,
                             [](uint64_t a, const Mapping& m) { return a < m.end; });
  return it != maps.end() && addr >= it->start;
}

bool ProcessTable::HasExited(pid_t pid) const {
  auto it = processes_.find(pid);
  return it != processes_.end() && it->second.exited;
}

uint32_t ProcessTable::CommId(pid_t pid, pid_t tid) const {
  if (keep_history_ && resolve_time_ != UINT64_MAX && pid > 0) {
    uint32_t comm = unknown_comm_;
    const Process* process = ProcessAt(pid, &comm);
    if (process != nullptr && comm != unknown_comm_) return comm;  // an archived image
  }
  if (auto it = thread_comms_.find(tid); it != thread_comms_.end()) return it->second;
  if (auto it = thread_comms_.find(pid); it != thread_comms_.end()) return it->second;
  return unknown_comm_;
}

size_t ProcessTable::MappingCount(pid_t pid) const {
  auto it = processes_.find(pid);
  return it == processes_.end() ? 0 : it->second.mappings.size();
}

}  // namespace wick
