#include "wick/build_id.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>

#include "absl/strings/str_cat.h"
#include "wick/byte_reader.h"
#include "wick/read_file.h"
#include "wick/scoped.h"
#include "wick/status.h"

namespace wick {
namespace {

// The ELF class decides the header layouts; everything else is shared.
struct Elf32Types {
  using Ehdr = Elf32_Ehdr;
  using Phdr = Elf32_Phdr;
  using Shdr = Elf32_Shdr;
};
struct Elf64Types {
  using Ehdr = Elf64_Ehdr;
  using Phdr = Elf64_Phdr;
  using Shdr = Elf64_Shdr;
};

// The bit of a .gnu.version entry that marks a symbol version as hidden: not the default one
// (binutils' VERSYM_HIDDEN; <elf.h> has no name for it).
constexpr Elf64_Versym kVersymHidden = 0x8000;

uint64_t AlignUp(uint64_t v, uint64_t align) { return (v + align - 1) & ~(align - 1); }

// Searches one note area for NT_GNU_BUILD_ID with name "GNU". Notes are 4-byte aligned in
// both classes, except areas with 8-byte alignment (e.g. .note.gnu.property), whose name and
// descriptor are padded to 8.
std::optional<std::string> FindBuildIdNote(std::span<const std::byte> notes, uint64_t align) {
  align = align == 8 ? 8 : 4;
  ByteReader reader(notes);
  while (reader.remaining() >= sizeof(Elf64_Nhdr)) {
    Elf64_Nhdr nhdr;  // Elf32_Nhdr and Elf64_Nhdr are the same three 32-bit words.
    std::span<const std::byte> name;
    std::span<const std::byte> desc;
    if (!reader.Read(&nhdr) || !reader.ReadBytes(nhdr.n_namesz, &name) ||
        !reader.Skip(AlignUp(nhdr.n_namesz, align) - nhdr.n_namesz) ||
        !reader.ReadBytes(nhdr.n_descsz, &desc)) {
      return std::nullopt;
    }
    if (nhdr.n_type == NT_GNU_BUILD_ID && nhdr.n_namesz == 4 &&
        std::memcmp(name.data(), "GNU", 4) == 0 && !desc.empty()) {
      return std::string(reinterpret_cast<const char*>(desc.data()), desc.size());
    }
    // The last note may lack padding at the end of the area.
    uint64_t pad = AlignUp(nhdr.n_descsz, align) - nhdr.n_descsz;
    if (!reader.Skip(std::min<uint64_t>(pad, reader.remaining()))) return std::nullopt;
  }
  return std::nullopt;
}

template <typename T>
absl::StatusOr<std::string> ParseClass(std::span<const std::byte> elf, std::string_view name) {
  auto truncated = [&](std::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat(Sv(name), ": truncated or corrupt ELF file (", Sv(what),
                     " outside the file); is it still being written?"));
  };
  ByteReader reader(elf);
  typename T::Ehdr ehdr;
  if (!reader.Read(&ehdr)) return truncated("ELF header");

  // Program headers: PT_NOTE segments. A region outside the file is remembered, not fatal:
  // separate debug files keep program headers whose segments they do not contain.
  const char* bad = nullptr;
  if (ehdr.e_phnum != 0 && ehdr.e_phentsize < sizeof(typename T::Phdr)) {
    bad = "program header size";
  } else {
    for (uint64_t i = 0; i < ehdr.e_phnum; ++i) {
      typename T::Phdr phdr;
      ByteReader ph(elf);
      if (ehdr.e_phoff > elf.size() || i > (elf.size() - ehdr.e_phoff) / ehdr.e_phentsize ||
          !ph.Seek(ehdr.e_phoff + i * ehdr.e_phentsize) || !ph.Read(&phdr)) {
        bad = "program headers";
        break;
      }
      if (phdr.p_type != PT_NOTE) continue;
      ByteReader seg(elf);
      std::span<const std::byte> notes;
      if (!seg.Seek(phdr.p_offset) || !seg.ReadBytes(phdr.p_filesz, &notes)) {
        bad = "note segment";
        continue;
      }
      if (auto id = FindBuildIdNote(notes, phdr.p_align)) return *id;
    }
  }

  // Section headers: SHT_NOTE sections (files without note segments, debug files).
  if (ehdr.e_shoff != 0 && ehdr.e_shentsize < sizeof(typename T::Shdr)) {
    bad = "section header size";
  } else if (ehdr.e_shoff != 0) {
    uint64_t shnum = ehdr.e_shnum;
    if (shnum == 0) {  // more than SHN_LORESERVE sections: the count is in section 0
      typename T::Shdr shdr0;
      ByteReader sh(elf);
      if (sh.Seek(ehdr.e_shoff) && sh.Read(&shdr0)) {
        shnum = shdr0.sh_size;
      } else {
        bad = "section headers";
      }
    }
    for (uint64_t i = 0; i < shnum; ++i) {
      typename T::Shdr shdr;
      ByteReader sh(elf);
      if (ehdr.e_shoff > elf.size() || i > (elf.size() - ehdr.e_shoff) / ehdr.e_shentsize ||
          !sh.Seek(ehdr.e_shoff + i * ehdr.e_shentsize) || !sh.Read(&shdr)) {
        bad = "section headers";
        break;
      }
      if (shdr.sh_type != SHT_NOTE) continue;
      ByteReader sec(elf);
      std::span<const std::byte> notes;
      if (!sec.Seek(shdr.sh_offset) || !sec.ReadBytes(shdr.sh_size, &notes)) {
        bad = "note section";
        continue;
      }
      if (auto id = FindBuildIdNote(notes, shdr.sh_addralign)) return *id;
    }
  }
  if (bad != nullptr) return truncated(bad);
  return absl::NotFoundError(
      absl::StrCat(Sv(name), ": no GNU build-id note; link with -Wl,--build-id to get one"));
}

template <typename T>
struct SymTypes;
template <>
struct SymTypes<Elf64Types> {
  using Sym = Elf64_Sym;
  static unsigned char Type(const Sym& s) { return ELF64_ST_TYPE(s.st_info); }
  static unsigned char Bind(const Sym& s) { return ELF64_ST_BIND(s.st_info); }
};
template <>
struct SymTypes<Elf32Types> {
  using Sym = Elf32_Sym;
  static unsigned char Type(const Sym& s) { return ELF32_ST_TYPE(s.st_info); }
  static unsigned char Bind(const Sym& s) { return ELF32_ST_BIND(s.st_info); }
};

template <typename T>
absl::StatusOr<std::vector<FileSymbol>> ParseSymbolsOfClass(std::span<const std::byte> elf,
                                                            std::string_view name) {
  using Sym = typename SymTypes<T>::Sym;
  auto corrupt = [&](std::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat(Sv(name), ": corrupt ELF file (", Sv(what), " outside the file)"));
  };
  ByteReader reader(elf);
  typename T::Ehdr ehdr;
  if (!reader.Read(&ehdr)) return corrupt("ELF header");
  // The loadable segments: a symbol's address -> its place in the file.
  std::vector<typename T::Phdr> loads;
  if (ehdr.e_phnum != 0 && ehdr.e_phentsize < sizeof(typename T::Phdr)) {
    return corrupt("program header size");
  }
  for (uint64_t i = 0; i < ehdr.e_phnum; ++i) {
    typename T::Phdr phdr;
    ByteReader ph(elf);
    if (ehdr.e_phoff > elf.size() || i > (elf.size() - ehdr.e_phoff) / ehdr.e_phentsize ||
        !ph.Seek(ehdr.e_phoff + i * ehdr.e_phentsize) || !ph.Read(&phdr)) {
      return corrupt("program headers");
    }
    // A segment that claims bytes past the file's end places nothing.
    if (phdr.p_type == PT_LOAD && phdr.p_offset <= elf.size() &&
        phdr.p_filesz <= elf.size() - phdr.p_offset) {
      loads.push_back(phdr);
    }
  }
  std::vector<typename T::Shdr> sections;
  if (ehdr.e_shoff != 0 && ehdr.e_shnum != 0) {
    if (ehdr.e_shentsize < sizeof(typename T::Shdr)) return corrupt("section header size");
    for (uint64_t i = 0; i < ehdr.e_shnum; ++i) {
      typename T::Shdr shdr;
      ByteReader sh(elf);
      if (ehdr.e_shoff > elf.size() || i > (elf.size() - ehdr.e_shoff) / ehdr.e_shentsize ||
          !sh.Seek(ehdr.e_shoff + i * ehdr.e_shentsize) || !sh.Read(&shdr)) {
        return corrupt("section headers");
      }
      sections.push_back(shdr);
    }
  }
  // .symtab when the file has one (every function), else .dynsym (the exported ones).
  const typename T::Shdr* table = nullptr;
  for (uint32_t type : {SHT_SYMTAB, SHT_DYNSYM}) {
    for (const auto& sh : sections) {
      if (sh.sh_type == type && table == nullptr) table = &sh;
    }
  }
  if (table == nullptr) return std::vector<FileSymbol>{};
  if (table->sh_link >= sections.size() || table->sh_entsize < sizeof(Sym)) {
    return corrupt("symbol table");
  }
  const auto& strtab = sections[table->sh_link];
  std::span<const std::byte> syms, strings;
  ByteReader st(elf), ss(elf);
  if (!st.Seek(table->sh_offset) || !st.ReadBytes(table->sh_size, &syms)) {
    return corrupt("symbol table");
  }
  if (!ss.Seek(strtab.sh_offset) || !ss.ReadBytes(strtab.sh_size, &strings)) {
    return corrupt("string table");
  }
  const std::string_view names(reinterpret_cast<const char*>(strings.data()), strings.size());
  // .dynsym's versions (one 16-bit entry per symbol): a hidden one is an old version's alias.
  // They only choose among aliases: a table outside the file is left unused.
  std::span<const std::byte> versions;
  for (const auto& sh : sections) {
    ByteReader vr(elf);
    if (table->sh_type == SHT_DYNSYM && sh.sh_type == SHT_GNU_versym &&
        sh.sh_link < sections.size() && &sections[sh.sh_link] == table &&
        (!vr.Seek(sh.sh_offset) || !vr.ReadBytes(sh.sh_size, &versions))) {
      versions = {};
    }
  }
  struct Candidate {
    uint64_t offset, size;
    SymbolNameCandidate name;
  };
  std::vector<Candidate> found;
  for (uint64_t i = 0; i + 1 <= syms.size() / table->sh_entsize; ++i) {
    Sym sym;
    std::memcpy(&sym, syms.data() + i * table->sh_entsize, sizeof(sym));
    const unsigned char type = SymTypes<T>::Type(sym);
    if ((type != STT_FUNC && type != STT_GNU_IFUNC) || sym.st_size == 0 ||
        sym.st_shndx == SHN_UNDEF || sym.st_name >= names.size()) {
      continue;
    }
    std::string_view symbol_name = names.substr(sym.st_name);
    symbol_name = symbol_name.substr(0, symbol_name.find('\0'));
    if (symbol_name.empty()) continue;
    Elf64_Versym version = 0;  // the same 16 bits in both classes
    if ((i + 1) * sizeof(version) <= versions.size()) {
      std::memcpy(&version, versions.data() + i * sizeof(version), sizeof(version));
    }
    for (const auto& load : loads) {
      if (sym.st_value >= load.p_vaddr && sym.st_value - load.p_vaddr < load.p_filesz) {
        found.push_back({sym.st_value - load.p_vaddr + load.p_offset,
                         sym.st_size,
                         {symbol_name, SymTypes<T>::Bind(sym), (version & kVersymHidden) != 0}});
        break;
      }
    }
  }
  // One per offset: of aliases (the same offset), the name a user would type; on a tie the
  // first in table order (the sort is stable).
  std::stable_sort(found.begin(), found.end(),
                   [](const Candidate& a, const Candidate& b) { return a.offset < b.offset; });
  std::vector<FileSymbol> out;
  for (size_t i = 0; i < found.size();) {
    size_t best = i, j = i + 1;
    for (; j < found.size() && found[j].offset == found[i].offset; ++j) {
      if (PreferSymbolName(found[j].name, found[best].name)) best = j;
    }
    out.push_back({found[best].offset, found[best].size, std::string(found[best].name.name)});
    i = j;
  }
  return out;
}

// The ELF class (ELFCLASS64 or ELFCLASS32) of `elf`, once its magic and byte order check.
absl::StatusOr<int> ElfClass(std::span<const std::byte> elf, std::string_view name) {
  if (elf.size() < EI_NIDENT || std::memcmp(elf.data(), ELFMAG, SELFMAG) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(Sv(name), ": not an ELF file"));
  }
  const auto ident = reinterpret_cast<const unsigned char*>(elf.data());
  if (ident[EI_DATA] != ELFDATA2LSB) {
    return absl::InvalidArgumentError(
        absl::StrCat(Sv(name), ": big-endian ELF files are not supported"));
  }
  if (ident[EI_CLASS] != ELFCLASS64 && ident[EI_CLASS] != ELFCLASS32) {
    return absl::InvalidArgumentError(
        absl::StrCat(Sv(name), ": unknown ELF class ", ident[EI_CLASS]));
  }
  return ident[EI_CLASS];
}

// parse(bytes) on the regular file open at `fd`, mapped read-only: only the pages the parser
// reads are touched.
template <typename T, typename Parse>
absl::StatusOr<T> ParseMappedFile(int fd, std::string_view name, Parse parse) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoError(errno, absl::StrCat("fstat ", Sv(name)));
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(Sv(name), ": not a regular file"));
  }
  if (st.st_size < EI_NIDENT) {
    return absl::InvalidArgumentError(absl::StrCat(Sv(name), ": not an ELF file"));
  }
  const size_t size = static_cast<size_t>(st.st_size);
  void* addr = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (addr == MAP_FAILED) return ErrnoError(errno, absl::StrCat("mmap ", Sv(name)));
  ScopedMmap mapping(addr, size);
  return parse(std::span<const std::byte>(static_cast<const std::byte*>(mapping.data()), size));
}

}  // namespace

bool PreferSymbolName(const SymbolNameCandidate& a, const SymbolNameCandidate& b) {
  auto exported = [](const SymbolNameCandidate& c) { return c.binding != STB_LOCAL; };
  // "name@VERSION" (one '@') in a .symtab is a non-default version; "name@@VERSION" the default.
  auto current = [](const SymbolNameCandidate& c) {
    const size_t at = c.name.find('@');
    return !c.hidden_version && (at == std::string_view::npos || c.name.substr(at, 2) == "@@");
  };
  auto underscores = [](const SymbolNameCandidate& c) {
    return std::min(c.name.find_first_not_of('_'), c.name.size());
  };
  auto global = [](const SymbolNameCandidate& c) { return c.binding != STB_WEAK; };
  if (exported(a) != exported(b)) return exported(a);
  if (current(a) != current(b)) return current(a);
  if (global(a) != global(b)) return global(a);
  if (underscores(a) != underscores(b)) return underscores(a) < underscores(b);
  return a.name.size() > b.name.size();
}

absl::StatusOr<std::vector<FileSymbol>> ParseFileSymbols(std::span<const std::byte> elf,
                                                         std::string_view name) {
  absl::StatusOr<int> elf_class = ElfClass(elf, name);
  if (!elf_class.ok()) return elf_class.status();
  return *elf_class == ELFCLASS64 ? ParseSymbolsOfClass<Elf64Types>(elf, name)
                                  : ParseSymbolsOfClass<Elf32Types>(elf, name);
}

absl::StatusOr<std::vector<FileSymbol>> ReadFileSymbols(int fd, std::string_view name) {
  return ParseMappedFile<std::vector<FileSymbol>>(
      fd, name, [&](std::span<const std::byte> elf) { return ParseFileSymbols(elf, name); });
}

absl::StatusOr<std::string> ParseBuildId(std::span<const std::byte> elf, std::string_view name) {
  absl::StatusOr<int> elf_class = ElfClass(elf, name);
  if (!elf_class.ok()) return elf_class.status();
  return *elf_class == ELFCLASS64 ? ParseClass<Elf64Types>(elf, name)
                                  : ParseClass<Elf32Types>(elf, name);
}

absl::StatusOr<std::string> ReadBuildId(const std::string& path) {
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoError(errno, absl::StrCat("open ", path));
  return ReadBuildIdOfFd(fd.get(), path);
}

absl::StatusOr<std::string> ReadBuildIdOfFd(int fd, std::string_view name) {
  return ParseMappedFile<std::string>(
      fd, name, [&](std::span<const std::byte> elf) { return ParseBuildId(elf, name); });
}

std::string BuildIdToHex(std::string_view build_id) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(build_id.size() * 2);
  for (char c : build_id) {
    auto b = static_cast<unsigned char>(c);
    hex.push_back(kDigits[b >> 4]);
    hex.push_back(kDigits[b & 0xf]);
  }
  return hex;
}

namespace {

struct OwnVdso {
  std::string file;
  std::string build_id;
};

// Copies this process's [vdso] mapping (its bounds from /proc/self/maps) into a memfd.
OwnVdso LoadOwnVdso() {
  OwnVdso out;
  const uint64_t base = getauxval(AT_SYSINFO_EHDR);
  if (base == 0) return out;
  absl::StatusOr<std::string> maps = ReadFile("/proc/self/maps");
  if (!maps.ok()) return out;
  const std::string& text = *maps;
  uint64_t size = 0;
  for (size_t pos = 0; pos < text.size();) {
    const size_t nl = std::min(text.find('\n', pos), text.size());
    const std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.size() < 6 || line.compare(line.size() - 6, 6, "[vdso]") != 0) continue;
    unsigned long long start = 0, end = 0;
    if (std::sscanf(line.c_str(), "%llx-%llx", &start, &end) == 2 && start == base && end > start) {
      size = end - start;
    }
  }
  if (size == 0) return out;
  const std::span<const std::byte> image(reinterpret_cast<const std::byte*>(base), size);
  absl::StatusOr<std::string> id = ParseBuildId(image, kVdsoPath);
  if (!id.ok()) return out;
  const int fd = memfd_create("wick-vdso", MFD_CLOEXEC);
  if (fd < 0) return out;
  // Kept open on purpose: the path below names it for the whole process lifetime.
  if (::write(fd, image.data(), image.size()) != static_cast<ssize_t>(image.size())) {
    ::close(fd);
    return out;
  }
  out.file = absl::StrCat("/proc/self/fd/", fd);
  out.build_id = *std::move(id);
  return out;
}

const OwnVdso& GetOwnVdso() {
  static const OwnVdso* vdso = new OwnVdso(LoadOwnVdso());
  return *vdso;
}

}  // namespace

const std::string& OwnVdsoFile() { return GetOwnVdso().file; }
const std::string& OwnVdsoBuildId() { return GetOwnVdso().build_id; }

std::optional<uint32_t> EhFrameHdrFdeCount(std::span<const std::byte, kEhFrameHdrSize> header) {
  // DW_EH_PE_* encodings as GNU ld and lld write them. eh_frame_ptr is not used by the
  // searches, so any of its usual encodings will do.
  constexpr uint8_t kUdata4 = 0x03, kSdata4 = 0x0b, kPcrelSdata4 = 0x1b, kDatarelSdata4 = 0x3b;
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(header[i]); };
  const uint8_t ptr_enc = byte(1), count_enc = byte(2), table_enc = byte(3);
  if (byte(0) != 1 || (ptr_enc != kPcrelSdata4 && ptr_enc != kSdata4 && ptr_enc != kUdata4) ||
      (count_enc != kUdata4 && count_enc != kSdata4) || table_enc != kDatarelSdata4) {
    return std::nullopt;
  }
  uint32_t count = 0;
  std::memcpy(&count, header.data() + 8, sizeof(count));
  return count;
}

}  // namespace wick
