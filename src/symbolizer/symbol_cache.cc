#include "symbol_cache.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <span>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "wick/byte_reader.h"
#include "wick/read_file.h"
#include "wick/scoped.h"
#include "wick/status.h"

namespace wick {
namespace {

constexpr char kMagic[8] = {'W', 'I', 'C', 'K', 'S', 'Y', 'C', '1'};

void PutU32(std::string& out, uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); }
void PutU64(std::string& out, uint64_t v) { out.append(reinterpret_cast<const char*>(&v), 8); }
void PutStr(std::string& out, std::string_view s) {
  PutU32(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}

bool GetStr(ByteReader& r, std::string* out) {
  uint32_t n = 0;
  std::span<const std::byte> bytes;
  if (!r.Read(&n) || !r.ReadBytes(n, &bytes)) return false;
  out->assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  return true;
}

void PutAddress(std::string& out, uint64_t offset, const SymbolizedAddress& a) {
  PutU64(out, offset);
  PutU64(out, a.function_offset);
  PutU64(out, a.address);
  PutU64(out, a.function_file_offset);
  out.push_back(static_cast<char>(a.reason));
  out.push_back(a.unnamed_function ? 1 : 0);
  PutU32(out, a.line);
  PutStr(out, a.function);
  PutStr(out, a.file);
  PutU32(out, static_cast<uint32_t>(a.inlined.size()));
  for (const SymbolFrame& f : a.inlined) {
    PutStr(out, f.function);
    PutStr(out, f.file);
    PutU32(out, f.line);
  }
  PutU32(out, static_cast<uint32_t>(a.aliases.size()));
  for (const std::string& alias : a.aliases) PutStr(out, alias);
}

bool GetAddress(ByteReader& r, uint64_t* offset, SymbolizedAddress* a) {
  uint8_t reason = 0, unnamed = 0;
  uint32_t n = 0;
  if (!r.Read(offset) || !r.Read(&a->function_offset) || !r.Read(&a->address) ||
      !r.Read(&a->function_file_offset) || !r.Read(&reason) || !r.Read(&unnamed) ||
      !r.Read(&a->line) || !GetStr(r, &a->function) || !GetStr(r, &a->file) || !r.Read(&n)) {
    return false;
  }
  if (reason > static_cast<uint8_t>(SymbolizeReason::kNoSymbol) || unnamed > 1) return false;
  a->reason = static_cast<SymbolizeReason>(reason);
  a->unnamed_function = unnamed != 0;
  // Each frame takes at least 12 bytes: a count past what is left is a corrupt file, not
  // a reason to reserve gigabytes.
  if (n > r.remaining() / 12) return false;
  a->inlined.resize(n);
  for (SymbolFrame& f : a->inlined) {
    if (!GetStr(r, &f.function) || !GetStr(r, &f.file) || !r.Read(&f.line)) return false;
  }
  if (!r.Read(&n) || n > r.remaining() / 4) return false;
  a->aliases.resize(n);
  for (std::string& alias : a->aliases) {
    if (!GetStr(r, &alias)) return false;
  }
  return true;
}

// mkdir -p: each missing component, tolerating a concurrent run creating it first.
bool MakeDirs(const std::string& dir) {
  for (size_t slash = dir.find('/', 1);; slash = dir.find('/', slash + 1)) {
    const std::string part = dir.substr(0, slash);
    // 0700: a kernel symbol copy holds addresses kptr_restrict may hide from others.
    if (::mkdir(part.c_str(), 0700) != 0 && errno != EEXIST) return false;
    if (slash == std::string::npos) return true;
  }
}

std::string StatIdentity(const std::string& path, const struct stat& st) {
  return absl::StrFormat("%s\t%u\t%u\t%d\t%d.%09d", path, st.st_dev, st.st_ino, st.st_size,
                         st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
}

}  // namespace

uint64_t StableHash(std::string_view bytes, uint64_t h) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

namespace {

// A temporary file beside <dir>/<name>, unique even across PID namespaces that share the
// directory (mkstemp, mode 0600); -1 on error.
int MakeTemp(const std::string& path, std::string* tmp) {
  *tmp = path + ".tmp.XXXXXX";
  const int fd = ::mkostemp(tmp->data(), O_CLOEXEC);
  if (fd < 0) tmp->clear();
  return fd;
}

// fsync, close and rename `tmp` (open as `fd`) to `path`: a crash leaves the old file or
// the whole new one. Removes `tmp` on any error.
bool Publish(ScopedFd fd, const std::string& tmp, const std::string& path) {
  const bool ok = ::fsync(fd.get()) == 0 && ::close(fd.release()) == 0 &&
                  ::rename(tmp.c_str(), path.c_str()) == 0;
  if (!ok) ::unlink(tmp.c_str());
  return ok;
}

}  // namespace

bool WriteCacheFile(const std::string& dir, const std::string& name, std::string_view bytes) {
  if (!MakeDirs(dir)) return false;
  const std::string path = absl::StrCat(dir, "/", name);
  std::string tmp;
  ScopedFd fd(MakeTemp(path, &tmp));
  if (!fd) return false;
  for (size_t done = 0; done < bytes.size();) {
    const ssize_t n = ::write(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::unlink(tmp.c_str());
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return Publish(std::move(fd), tmp, path);
}

std::string InflatedDebugCopy(const std::string& dir, int fd, const std::string& path) {
  // Named by the identity of the file open, not of whatever is at `path` now.
  struct stat st;
  if (::fstat(fd, &st) != 0) return {};
  const std::string copy =
      absl::StrFormat("%s/%016x.debug", dir, StableHash(StatIdentity(path, st)));
  if (::access(copy.c_str(), R_OK) == 0) return copy;
  // Anything compressed at all? Most debug files (those built here) are not.
  elf_version(EV_CURRENT);
  bool compressed = false;
  if (Elf* elf = elf_begin(fd, ELF_C_READ_MMAP, nullptr)) {
    for (Elf_Scn* scn = nullptr; (scn = elf_nextscn(elf, scn)) != nullptr;) {
      GElf_Shdr shdr;
      if (gelf_getshdr(scn, &shdr) != nullptr && (shdr.sh_flags & SHF_COMPRESSED) != 0) {
        compressed = true;
        break;
      }
    }
    elf_end(elf);
  }
  if (!compressed || !MakeDirs(dir)) return {};
  // A byte copy first, then libelf inflates its sections in place and lays the file out
  // again (as eu-elfcompress -t none does); renamed into place only when whole.
  std::string tmp;
  ScopedFd out(MakeTemp(copy, &tmp));
  if (!out) return {};
  bool ok = true;
  off_t from = 0;
  bool by_read = false;  // copy_file_range refused (another filesystem before 5.19, ...)
  char buf[1 << 16];
  for (;;) {
    ssize_t n = 0;
    if (!by_read) {
      n = ::copy_file_range(fd, &from, out.get(), nullptr, size_t{1} << 30, 0);
      if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
        by_read = true;
        continue;
      }
    } else {
      n = ::pread(fd, buf, sizeof(buf), from);
      if (n > 0) {
        from += n;
        for (ssize_t done = 0; done < n;) {
          const ssize_t w = ::write(out.get(), buf + done, size_t(n - done));
          if (w < 0 && errno == EINTR) continue;
          if (w <= 0) {
            n = -1;
            break;
          }
          done += w;
        }
      }
    }
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ok = n == 0;
      break;
    }
  }
  if (ok) {
    Elf* elf = elf_begin(out.get(), ELF_C_RDWR, nullptr);
    ok = elf != nullptr;
    for (Elf_Scn* scn = nullptr; ok && (scn = elf_nextscn(elf, scn)) != nullptr;) {
      GElf_Shdr shdr;
      if (gelf_getshdr(scn, &shdr) == nullptr) ok = false;
      if (ok && (shdr.sh_flags & SHF_COMPRESSED) != 0) ok = elf_compress(scn, 0, 0) == 1;
    }
    ok = ok && elf_update(elf, ELF_C_WRITE) >= 0;
    if (elf != nullptr) elf_end(elf);
  }
  if (!ok) {
    ::unlink(tmp.c_str());
    return {};
  }
  if (!Publish(std::move(out), tmp, copy)) return {};
  return copy;
}

std::string FileIdentity(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return absl::StrCat(path, "\tabsent");
  return StatIdentity(path, st);
}

SymbolCacheEntry::SymbolCacheEntry(std::string dir, std::string name)
    : dir_(std::move(dir)), name_(std::move(name)) {}

std::string SymbolCacheEntry::EntryName(std::string_view build_id, std::string_view file,
                                        std::string_view fingerprint) {
  const uint64_t h = StableHash(fingerprint, StableHash(std::string(file) + '\0'));
  return absl::StrFormat("%s-%016x", absl::BytesToHexString(Sv(build_id)), h);
}

absl::flat_hash_map<uint64_t, SymbolizedAddress> SymbolCacheEntry::Load(
    const std::vector<std::string>& required) {
  absl::flat_hash_map<uint64_t, SymbolizedAddress> out;
  absl::StatusOr<FileBytes> bytes = ReadFileBytes(absl::StrCat(dir_, "/", name_));
  if (!bytes.ok() || bytes->size() < sizeof(kMagic) + 8) return out;
  const std::string_view all = bytes->view();
  const std::string_view body = all.substr(0, all.size() - 8);
  uint64_t sum = 0;
  std::memcpy(&sum, all.data() + body.size(), 8);
  if (std::memcmp(all.data(), kMagic, sizeof(kMagic)) != 0 || StableHash(body) != sum) return out;

  ByteReader r(std::as_bytes(std::span(body.data(), body.size())));
  r.Skip(sizeof(kMagic));
  uint32_t n = 0;
  if (!r.Read(&n) || n > r.remaining() / 4) return out;
  std::vector<std::string> identities(n);
  for (std::string& id : identities) {
    if (!GetStr(r, &id)) return out;
    // Identities begin with the path: stat it again now.
    if (FileIdentity(id.substr(0, id.find('\t'))) != id) return out;
  }
  for (const std::string& id : required) {
    if (std::find(identities.begin(), identities.end(), id) == identities.end()) return out;
  }
  if (!r.Read(&n)) return out;
  for (uint32_t i = 0; i < n; ++i) {
    uint64_t offset = 0;
    SymbolizedAddress a;
    if (!GetAddress(r, &offset, &a)) {
      out.clear();
      return out;
    }
    out.insert_or_assign(offset, std::move(a));
  }
  verified_ = std::move(identities);
  return out;
}

bool SymbolCacheEntry::Save(
    const std::vector<std::string>& identities,
    const absl::flat_hash_map<uint64_t, const SymbolizedAddress*>& results) {
  std::vector<std::string> all = verified_;
  for (const std::string& id : identities) {
    if (std::find(all.begin(), all.end(), id) == all.end()) all.push_back(id);
  }
  std::string out(kMagic, sizeof(kMagic));
  PutU32(out, static_cast<uint32_t>(all.size()));
  for (const std::string& id : all) PutStr(out, id);
  PutU32(out, static_cast<uint32_t>(results.size()));
  for (const auto& [offset, address] : results) PutAddress(out, offset, *address);
  PutU64(out, StableHash(out));

  return WriteCacheFile(dir_, name_, out);
}

}  // namespace wick
