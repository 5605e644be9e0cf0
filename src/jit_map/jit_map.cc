// perf-PID.map reading: the file lives in a world-writable directory, so it is checked with
// fstat on the descriptor we read (no check-then-open race) after an O_NOFOLLOW open.
#include "wick/jit_map.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "wick/scoped.h"
#include "wick/status.h"

namespace wick {
namespace {

bool ParseHex(std::string_view* s, uint64_t* v) {
  std::string_view in = *s;
  if (in.starts_with("0x") || in.starts_with("0X")) in.remove_prefix(2);
  auto [ptr, ec] = std::from_chars(in.data(), in.data() + in.size(), *v, 16);
  if (ec != std::errc() || ptr == in.data()) return false;
  s->remove_prefix(static_cast<size_t>(ptr - s->data()));
  return true;
}

bool SkipSpaces(std::string_view* s) {
  const size_t n = s->find_first_not_of(" \t");
  if (n == 0 || n == std::string_view::npos) return false;  // at least one, and more after
  s->remove_prefix(n);
  return true;
}

// "START SIZE NAME".
bool ParseLine(std::string_view line, uint32_t pid, JitSymbol* out) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  uint64_t start = 0, size = 0;
  if (!ParseHex(&line, &start) || !SkipSpaces(&line) || !ParseHex(&line, &size) ||
      !SkipSpaces(&line)) {
    return false;
  }
  if (size == 0 || start + size < start) return false;
  out->pid = pid;
  out->start = start;
  out->size = size;
  out->name.assign(line.data(), line.size());
  return true;
}

}  // namespace

std::vector<JitSymbol> ParsePerfMap(std::string_view text, uint32_t pid, uint64_t* bad_lines) {
  std::vector<JitSymbol> out;
  uint64_t bad = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (line.empty()) continue;
    JitSymbol s;
    if (ParseLine(line, pid, &s)) {
      out.push_back(std::move(s));
    } else {
      ++bad;
    }
  }
  if (bad_lines != nullptr) *bad_lines += bad;
  return out;
}

absl::StatusOr<std::vector<JitSymbol>> ReadPerfMap(const std::string& path, uint32_t pid,
                                                   std::span<const uid_t> allowed_uids,
                                                   uint64_t* bad_lines, uint64_t max_bytes) {
  // O_NONBLOCK: a FIFO planted under the name must not hang us before fstat refuses it.
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY));
  if (!fd) {
    const int err = errno;
    if (err == ENOENT) return absl::NotFoundError(absl::StrCat(path, ": no such file"));
    if (err == ELOOP) {
      return absl::FailedPreconditionError(
          absl::StrCat(path, ": is a symbolic link; JIT maps are read only from regular files"));
    }
    return ErrnoError(err, absl::StrCat("opening JIT map ", path));
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoError(errno, absl::StrCat("stat ", path));
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(path, ": not a regular file; not used"));
  }
  if (std::find(allowed_uids.begin(), allowed_uids.end(), st.st_uid) == allowed_uids.end()) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": owned by uid ", st.st_uid,
                     ", neither root, wick's user nor the process's user; not used"));
  }
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    return absl::FailedPreconditionError(absl::StrCat(
        path, ": ", st.st_size, " bytes, more than the limit of ", max_bytes, "; not used"));
  }
  // The runtime may still be appending: read what is there, up to the limit.
  std::string text;
  text.resize(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(fd.get(), text.data() + got, text.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, absl::StrCat("reading JIT map ", path));
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  text.resize(got);
  // A line cut by a concurrent writer is not a symbol.
  const size_t last_nl = text.rfind('\n');
  text.resize(last_nl == std::string::npos ? 0 : last_nl + 1);
  return ParsePerfMap(text, pid, bad_lines);
}

void SortJitSymbols(std::vector<JitSymbol>* symbols) {
  // Stable, so among equal (pid, start) the last one in map order is last; keep that one.
  std::stable_sort(symbols->begin(), symbols->end(), [](const JitSymbol& a, const JitSymbol& b) {
    return std::tie(a.pid, a.start) < std::tie(b.pid, b.start);
  });
  auto same = [](const JitSymbol& a, const JitSymbol& b) {
    return a.pid == b.pid && a.start == b.start;
  };
  size_t out = 0;
  for (size_t i = 0; i < symbols->size(); ++i) {
    if (i + 1 < symbols->size() && same((*symbols)[i], (*symbols)[i + 1])) continue;
    if (out != i) (*symbols)[out] = std::move((*symbols)[i]);
    ++out;
  }
  symbols->resize(out);
}

std::vector<JitSymbol> CaptureJitSymbols(std::span<const uint32_t> pids, Stats* stats,
                                         const JitCaptureOptions& options) {
  std::vector<uint32_t> unique(pids.begin(), pids.end());
  std::sort(unique.begin(), unique.end());
  unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
  std::vector<JitSymbol> all;
  for (uint32_t pid : unique) {
    if (pid == 0) continue;
    std::vector<uid_t> allowed = {0, ::geteuid()};
    struct stat st;
    if (::stat(absl::StrCat(options.proc_root, "/", pid).c_str(), &st) == 0) {
      allowed.push_back(st.st_uid);
    }
    uint64_t bad = 0;
    absl::StatusOr<std::vector<JitSymbol>> symbols =
        ReadPerfMap(absl::StrCat(options.tmp_dir, "/perf-", pid, ".map"), pid, allowed, &bad,
                    options.max_bytes);
    stats->Add(Stat::kJitMapBadLines, bad);
    if (!symbols.ok()) {
      if (!absl::IsNotFound(symbols.status())) stats->Add(Stat::kJitMapsSkipped);
      continue;
    }
    stats->Add(Stat::kJitMapsRead);
    all.insert(all.end(), std::make_move_iterator(symbols->begin()),
               std::make_move_iterator(symbols->end()));
  }
  SortJitSymbols(&all);
  return all;
}

void AddRawFramePids(const StackMap& stacks, std::vector<uint32_t>* pids) {
  for (uint32_t id = stacks.first_id(); id < stacks.size(); ++id) {
    for (const Frame& f : stacks.Frames(id)) {
      if (f.kind == FrameKind::kUserRaw && f.binary != 0) pids->push_back(f.binary);
    }
  }
}

std::vector<JitSymbol> CaptureJitSymbolsForStacks(const StackMap& stacks, Stats* stats,
                                                  const JitCaptureOptions& options,
                                                  std::span<const uint32_t> more_pids) {
  std::vector<uint32_t> pids(more_pids.begin(), more_pids.end());
  AddRawFramePids(stacks, &pids);
  return CaptureJitSymbols(pids, stats, options);
}

const JitSymbol* LookupJitSymbol(std::span<const JitSymbol> sorted, uint32_t pid, uint64_t addr) {
  // The first symbol past (pid, addr); candidates are before it, same pid, start <= addr.
  auto it = std::upper_bound(sorted.begin(), sorted.end(), std::make_pair(pid, addr),
                             [](const std::pair<uint32_t, uint64_t>& key, const JitSymbol& s) {
                               return key < std::make_pair(s.pid, s.start);
                             });
  // Overlaps are rare (a runtime reusing memory); look a few symbols back for a covering one.
  constexpr int kMaxBack = 16;
  for (int i = 0; i < kMaxBack && it != sorted.begin(); ++i) {
    --it;
    if (it->pid != pid) break;
    if (addr - it->start < it->size) return &*it;
  }
  return nullptr;
}

const JitSymbol* LookupJitSymbol(const Recording& rec, uint32_t pid, uint64_t addr) {
  return LookupJitSymbol(rec.jit_symbols, pid, addr);
}

}  // namespace wick
