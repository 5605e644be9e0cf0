#include "wick/trace_event.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "wick/read_file.h"
#include "wick/scoped.h"
#include "wick/status.h"

namespace wick {
namespace {

std::string_view Trim(std::string_view s) { return Sv(absl::StripAsciiWhitespace(Sv(s))); }

// Decimal or 0x-prefixed hexadecimal.
bool ParseNumber(std::string_view text, uint64_t* out) {
  if (absl::StartsWithIgnoreCase(Sv(text), "0x")) {
    return text.size() > 2 && absl::SimpleHexAtoi(Sv(text.substr(2)), out);
  }
  return !text.empty() && absl::SimpleAtoi(Sv(text), out);
}

// "SYMBOL[+OFFSET]" → symbol, offset. A '+' not followed by a number belongs to the name.
absl::Status SplitSymbolOffset(std::string_view text, std::string_view spec_text,
                               std::string* symbol, uint64_t* offset) {
  const size_t plus = text.rfind('+');
  if (plus != std::string_view::npos && plus > 0) {
    if (!ParseNumber(text.substr(plus + 1), offset)) {
      return absl::InvalidArgumentError(absl::StrCat("event '", Sv(spec_text), "': offset '",
                                                     Sv(text.substr(plus + 1)),
                                                     "' is not a number (decimal or 0x hex)"));
    }
    text = text.substr(0, plus);
  }
  if (text.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("event '", Sv(spec_text), "': empty symbol"));
  }
  *symbol = std::string(text);
  return absl::OkStatus();
}

struct Pmu {
  uint32_t type = 0;
  int retprobe_bit = -1;  // -1: the PMU has no retprobe format
};

// <sys_root>/bus/event_source/devices/<name>: its type and the bit of format/retprobe
// ("config:0").
absl::StatusOr<Pmu> ReadPmu(const std::string& sys_root, std::string_view name) {
  const std::string dir = absl::StrCat(sys_root, "/bus/event_source/devices/", Sv(name));
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat("this kernel was built without ", Sv(name), " support (no ", dir, "); ",
                     Sv(name), ": events need CONFIG_", absl::AsciiStrToUpper(Sv(name)),
                     "S=y and "
                     "CONFIG_",
                     absl::AsciiStrToUpper(Sv(name)), "_EVENTS=y"));
  }
  WICK_ASSIGN_OR_RETURN(std::string type_text, ReadFile(dir + "/type"));
  Pmu pmu;
  if (!absl::SimpleAtoi(Sv(Trim(type_text)), &pmu.type)) {
    return absl::InvalidArgumentError(absl::StrCat(dir, "/type: not a number: '", type_text, "'"));
  }
  absl::StatusOr<std::string> retprobe = ReadFile(dir + "/format/retprobe");
  if (retprobe.ok()) {
    // "config:N" (a single bit; ranges "config:N-M" are not used for retprobe).
    std::string_view text = Trim(*retprobe);
    int bit = -1;
    if (!absl::StartsWith(Sv(text), "config:") || !absl::SimpleAtoi(Sv(text.substr(7)), &bit) ||
        bit < 0 || bit > 63) {
      return absl::InvalidArgumentError(
          absl::StrCat(dir, "/format/retprobe: expected 'config:N', got '", Sv(text), "'"));
    }
    pmu.retprobe_bit = bit;
  }
  return pmu;
}

class ElfFile {
 public:
  static absl::StatusOr<ElfFile> Open(const std::string& path) {
    elf_version(EV_CURRENT);
    ScopedFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return ErrnoError(errno, absl::StrCat("cannot open ", path));
    Elf* elf = elf_begin(fd.get(), ELF_C_READ_MMAP, nullptr);
    if (elf == nullptr || elf_kind(elf) != ELF_K_ELF) {
      if (elf != nullptr) elf_end(elf);
      return absl::InvalidArgumentError(absl::StrCat(path, " is not an ELF file"));
    }
    return ElfFile(path, std::move(fd), elf);
  }
  ElfFile(ElfFile&& o) noexcept
      : path_(std::move(o.path_)), fd_(std::move(o.fd_)), elf_(std::exchange(o.elf_, nullptr)) {}
  ElfFile& operator=(ElfFile&&) = delete;
  ~ElfFile() {
    if (elf_ != nullptr) elf_end(elf_);
  }

  // File offset of virtual address `vaddr` through an executable PT_LOAD segment.
  absl::StatusOr<uint64_t> AddressToOffset(uint64_t vaddr, std::string_view what) const {
    size_t count = 0;
    if (elf_getphdrnum(elf_, &count) != 0) {
      return absl::InvalidArgumentError(absl::StrCat(path_, ": no program headers"));
    }
    for (size_t i = 0; i < count; ++i) {
      GElf_Phdr ph;
      if (gelf_getphdr(elf_, static_cast<int>(i), &ph) == nullptr || ph.p_type != PT_LOAD) continue;
      if (vaddr >= ph.p_vaddr && vaddr < ph.p_vaddr + ph.p_filesz) {
        if ((ph.p_flags & PF_X) == 0) {
          return absl::InvalidArgumentError(
              absl::StrCat(path_, ": ", Sv(what), " (0x", absl::Hex(vaddr),
                           ") is in a non-executable segment; uprobes go on code"));
        }
        return vaddr - ph.p_vaddr + ph.p_offset;
      }
    }
    return absl::InvalidArgumentError(absl::StrCat(path_, ": ", Sv(what), " (0x", absl::Hex(vaddr),
                                                   ") is in no loadable segment of the file"));
  }

  // Value of the defined symbol `name`, .symtab first, then .dynsym. Fills `names` with
  // every defined function name when not found (for near matches).
  std::optional<uint64_t> FindSymbol(std::string_view name, std::vector<std::string>* names,
                                     bool* has_symtab) const {
    *has_symtab = false;
    for (Elf64_Word wanted_type : {SHT_SYMTAB, SHT_DYNSYM}) {
      Elf_Scn* scn = nullptr;
      while ((scn = elf_nextscn(elf_, scn)) != nullptr) {
        GElf_Shdr sh;
        if (gelf_getshdr(scn, &sh) == nullptr || sh.sh_type != wanted_type) continue;
        if (wanted_type == SHT_SYMTAB) *has_symtab = true;
        Elf_Data* data = elf_getdata(scn, nullptr);
        if (data == nullptr || sh.sh_entsize == 0) continue;
        const size_t n = sh.sh_size / sh.sh_entsize;
        for (size_t i = 0; i < n; ++i) {
          GElf_Sym sym;
          if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr) continue;
          if (sym.st_shndx == SHN_UNDEF || sym.st_value == 0) continue;
          const int type = GELF_ST_TYPE(sym.st_info);
          if (type != STT_FUNC && type != STT_GNU_IFUNC && type != STT_NOTYPE) continue;
          const char* sym_name = elf_strptr(elf_, sh.sh_link, sym.st_name);
          if (sym_name == nullptr || *sym_name == '\0') continue;
          if (name == sym_name) return sym.st_value;
          if (type != STT_NOTYPE) names->emplace_back(sym_name);
        }
      }
    }
    return std::nullopt;
  }

 private:
  ElfFile(std::string path, ScopedFd fd, Elf* elf)
      : path_(std::move(path)), fd_(std::move(fd)), elf_(elf) {}

  std::string path_;
  ScopedFd fd_;
  Elf* elf_ = nullptr;
};

// Identifiers of a filter expression that name fields: not inside quotes, not numbers, not
// the right-hand side of a comparison (an unquoted string value).
std::vector<std::string> FilterFieldNames(std::string_view expr) {
  std::vector<std::string> out;
  bool after_operator = false;
  for (size_t i = 0; i < expr.size();) {
    const char c = expr[i];
    if (c == '"' || c == '\'') {
      const size_t end = expr.find(c, i + 1);
      i = end == std::string_view::npos ? expr.size() : end + 1;
      after_operator = false;
    } else if (absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t j = i;
      while (j < expr.size() &&
             (absl::ascii_isalnum(static_cast<unsigned char>(expr[j])) || expr[j] == '_')) {
        ++j;
      }
      if (!after_operator) out.emplace_back(expr.substr(i, j - i));
      after_operator = false;
      i = j;
    } else if (absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      while (i < expr.size() && absl::ascii_isalnum(static_cast<unsigned char>(expr[i]))) ++i;
      after_operator = false;
    } else if (c == '=' || c == '!' || c == '<' || c == '>' || c == '~' || c == '&') {
      // "&&" joins conditions; a single '&' is a bit test whose operand is a value.
      if (c == '&' && i + 1 < expr.size() && expr[i + 1] == '&') {
        after_operator = false;
        i += 2;
        continue;
      }
      after_operator = true;
      ++i;
    } else if (c == '|' || c == '(' || c == ')') {
      after_operator = false;
      ++i;
    } else {
      ++i;  // whitespace keeps the state
    }
  }
  return out;
}

absl::Status WriteSmallFile(const std::string& path, std::string_view text) {
  ScopedFd fd(open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
  if (!fd) return ErrnoError(errno, absl::StrCat("cannot open ", path));
  if (write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    return ErrnoError(errno, absl::StrCat("write to ", path));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TraceEventSpec> ParseTraceEventSpec(const EventSpec& spec) {
  TraceEventSpec out;
  out.kind = spec.kind;
  const std::string_view text = spec.name;
  switch (spec.kind) {
    case EventKind::kBuiltin:
      return absl::InvalidArgumentError(
          absl::StrCat("event '", spec.name, "' is not a tracepoint or probe"));
    case EventKind::kTracepoint: {
      const size_t colon = text.find(':');
      if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("tracepoint '", spec.name, "': expected SYSTEM:EVENT"));
      }
      out.system = std::string(text.substr(0, colon));
      out.event = std::string(text.substr(colon + 1));
      return out;
    }
    case EventKind::kUprobe:
    case EventKind::kUretprobe: {
      const bool ret = spec.kind == EventKind::kUretprobe;
      const std::string_view usage = ret ? "uretprobe:PATH:SYMBOL or uretprobe:PATH:0xADDR"
                                         : "uprobe:PATH:SYMBOL[+OFFSET] or uprobe:PATH:0xADDR";
      std::string_view rest = text.substr(text.find(':') + 1);
      const size_t colon = rest.rfind(':');
      if (colon == std::string_view::npos || colon == 0 || colon + 1 == rest.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("event '", spec.name, "': expected ", Sv(usage)));
      }
      out.target = std::string(rest.substr(0, colon));
      const std::string_view location = rest.substr(colon + 1);
      if (absl::StartsWithIgnoreCase(Sv(location), "0x") &&
          location.find('+') == std::string_view::npos) {
        if (!ParseNumber(location, &out.address)) {
          return absl::InvalidArgumentError(absl::StrCat("event '", spec.name, "': address '",
                                                         Sv(location), "' is not hexadecimal"));
        }
        out.has_address = true;
        return out;
      }
      WICK_RETURN_IF_ERROR(SplitSymbolOffset(location, text, &out.symbol, &out.offset));
      if (ret && out.offset != 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "event '", spec.name, "': a uretprobe goes on a function's entry; drop the +OFFSET"));
      }
      return out;
    }
    case EventKind::kKprobe:
    case EventKind::kKretprobe: {
      const std::string_view rest = text.substr(text.find(':') + 1);
      if (absl::StartsWithIgnoreCase(Sv(rest), "0x")) {
        if (!ParseNumber(rest, &out.address)) {
          return absl::InvalidArgumentError(
              absl::StrCat("event '", spec.name, "': address '", Sv(rest), "' is not hexadecimal"));
        }
        out.has_address = true;
        return out;
      }
      WICK_RETURN_IF_ERROR(SplitSymbolOffset(rest, text, &out.target, &out.offset));
      if (spec.kind == EventKind::kKretprobe && out.offset != 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "event '", spec.name, "': a kretprobe goes on a function's entry; drop the +OFFSET"));
      }
      return out;
    }
  }
  return absl::InternalError("unhandled event kind");
}

absl::StatusOr<uint64_t> ElfSymbolFileOffset(const std::string& path, std::string_view symbol,
                                             uint64_t offset) {
  WICK_ASSIGN_OR_RETURN(ElfFile elf, ElfFile::Open(path));
  std::vector<std::string> names;
  bool has_symtab = false;
  std::optional<uint64_t> value = elf.FindSymbol(symbol, &names, &has_symtab);
  if (!value.has_value()) {
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    std::vector<std::string> near = NearMatches(symbol, names);
    return absl::NotFoundError(absl::StrCat(
        "no function '", Sv(symbol), "' in ", path,
        near.empty() ? "" : absl::StrCat("; did you mean ", absl::StrJoin(near, ", "), "?"),
        has_symtab ? "" : " (the file has no .symtab, only exported symbols; is it stripped?)",
        " (list them: nm -D --defined-only ", path, ")"));
  }
  return elf.AddressToOffset(*value + offset,
                             absl::StrCat(Sv(symbol), offset ? absl::StrCat("+", offset) : ""));
}

absl::StatusOr<uint64_t> ElfAddressFileOffset(const std::string& path, uint64_t vaddr) {
  WICK_ASSIGN_OR_RETURN(ElfFile elf, ElfFile::Open(path));
  return elf.AddressToOffset(vaddr, "address");
}

absl::StatusOr<std::vector<ResolvedTraceEvent>> ResolveTraceEvents(const EventSpec& spec,
                                                                   const KernelCaps& caps,
                                                                   const Tracefs* tracefs,
                                                                   const std::string& sys_root) {
  (void)caps;  // PMU facts are read from sys_root so that the retprobe bit is current too
  WICK_ASSIGN_OR_RETURN(TraceEventSpec parsed, ParseTraceEventSpec(spec));
  std::vector<ResolvedTraceEvent> out;
  switch (spec.kind) {
    case EventKind::kBuiltin:
      break;  // refused by ParseTraceEventSpec
    case EventKind::kTracepoint: {
      if (tracefs == nullptr) {
        return absl::FailedPreconditionError(
            absl::StrCat("tracepoint '", spec.name, "' needs tracefs (none given)"));
      }
      WICK_ASSIGN_OR_RETURN(std::vector<TracepointName> names,
                            tracefs->Expand(parsed.system, parsed.event));
      out.reserve(names.size());
      for (const TracepointName& tp : names) {
        ResolvedTraceEvent ev;
        ev.kind = EventKind::kTracepoint;
        ev.event.type = PERF_TYPE_TRACEPOINT;
        ev.event.name = tp.FullName();
        WICK_ASSIGN_OR_RETURN(ev.event.config, tracefs->ReadId(tp));
        WICK_ASSIGN_OR_RETURN(std::string text, tracefs->ReadFormat(tp));
        absl::StatusOr<TraceFormat> format = TraceFormat::Parse(text);
        if (!format.ok()) {
          return Annotate(format.status(), absl::StrCat(tracefs->root(), "/events/", tp.system, "/",
                                                        tp.event, "/format"));
        }
        ev.format = std::make_shared<const TraceFormat>(*std::move(format));
        ev.format_text = std::move(text);
        out.push_back(std::move(ev));
      }
      return out;
    }
    case EventKind::kUprobe:
    case EventKind::kUretprobe: {
      WICK_ASSIGN_OR_RETURN(Pmu pmu, ReadPmu(sys_root, "uprobe"));
      const bool ret = spec.kind == EventKind::kUretprobe;
      // The kernel resolves config1 with kern_path(): give it an absolute, existing path.
      char* real = realpath(parsed.target.c_str(), nullptr);
      if (real == nullptr) {
        return ErrnoError(errno, absl::StrCat("event '", spec.name, "': binary ", parsed.target));
      }
      auto path = std::make_shared<const std::string>(real);
      free(real);
      uint64_t file_offset = 0;
      if (parsed.has_address) {
        WICK_ASSIGN_OR_RETURN(file_offset, ElfAddressFileOffset(*path, parsed.address));
      } else {
        WICK_ASSIGN_OR_RETURN(file_offset,
                              ElfSymbolFileOffset(*path, parsed.symbol, parsed.offset));
      }
      if (ret && pmu.retprobe_bit < 0) {
        return absl::FailedPreconditionError(
            absl::StrCat("event '", spec.name, "': the uprobe PMU has no retprobe format bit (",
                         sys_root, "/bus/event_source/devices/uprobe/format/retprobe)"));
      }
      ResolvedTraceEvent ev;
      ev.kind = spec.kind;
      ev.event.type = pmu.type;
      ev.event.config = ret ? uint64_t{1} << pmu.retprobe_bit : 0;
      ev.event.name = spec.name;
      ev.probe_string = std::move(path);
      ev.config2 = file_offset;
      out.push_back(std::move(ev));
      return out;
    }
    case EventKind::kKprobe:
    case EventKind::kKretprobe: {
      WICK_ASSIGN_OR_RETURN(Pmu pmu, ReadPmu(sys_root, "kprobe"));
      const bool ret = spec.kind == EventKind::kKretprobe;
      if (ret && pmu.retprobe_bit < 0) {
        return absl::FailedPreconditionError(
            absl::StrCat("event '", spec.name, "': the kprobe PMU has no retprobe format bit (",
                         sys_root, "/bus/event_source/devices/kprobe/format/retprobe)"));
      }
      ResolvedTraceEvent ev;
      ev.kind = spec.kind;
      ev.event.type = pmu.type;
      ev.event.config = ret ? uint64_t{1} << pmu.retprobe_bit : 0;
      ev.event.name = spec.name;
      if (parsed.has_address) {
        ev.config2 = parsed.address;  // config1 = 0: an absolute kernel address
      } else {
        ev.probe_string = std::make_shared<const std::string>(parsed.target);
        ev.config2 = parsed.offset;
      }
      out.push_back(std::move(ev));
      return out;
    }
  }
  return absl::InternalError("unhandled event kind");
}

void ApplyTraceEvent(const ResolvedTraceEvent& event, perf_event_attr* attr) {
  attr->type = event.event.type;
  attr->config = event.event.config;
  attr->config1 = event.probe_string ? reinterpret_cast<uintptr_t>(event.probe_string->c_str()) : 0;
  attr->config2 = event.config2;
  if (attr->sample_type != 0) {
    // A frequency makes no sense for events that fire on code paths: take every hit, as
    // perf does, unless the caller chose an explicit period.
    if (attr->freq) {
      attr->freq = 0;
      attr->sample_period = 1;
    }
    if (event.is_tracepoint()) attr->sample_type |= PERF_SAMPLE_RAW;
  }
}

absl::Status SetFilter(const PerfEvent& event, const std::string& expr, const TraceFormat* format,
                       const Tracefs* tracefs, const TracepointName* tracepoint) {
  if (ioctl(event.fd(), PERF_EVENT_IOC_SET_FILTER, expr.c_str()) == 0) return absl::OkStatus();
  const int err = errno;
  const std::string what = absl::StrCat("filter '", expr, "' on ", event.description());
  if (err != EINVAL) return ErrnoError(err, what);
  std::vector<std::string> details;
  if (format != nullptr) {
    // The kernel's own special fields, valid in every filter.
    static const absl::flat_hash_set<std::string> kSpecial = {"cpu", "CPU", "comm", "COMM"};
    std::vector<std::string> names;
    for (const TraceField& f : format->fields) names.push_back(f.name);
    for (const std::string& id : FilterFieldNames(expr)) {
      if (format->FindField(id) != nullptr || kSpecial.contains(id)) continue;
      std::vector<std::string> near = NearMatches(id, names, 3);
      std::vector<std::string> own;
      for (const TraceField& f : format->fields) {
        if (!f.is_common) own.push_back(f.name);
      }
      details.push_back(absl::StrCat(
          "unknown field '", id, "'",
          near.empty() ? "" : absl::StrCat(" (did you mean ", absl::StrJoin(near, ", "), "?)"),
          "; ", format->name, " has ", absl::StrJoin(own, ", ")));
    }
  }
  if (details.empty() && tracefs != nullptr && tracepoint != nullptr) {
    // perf's ioctl gives no reason; ftrace's filter file does. Try the same expression there
    // only if no ftrace filter is set, and clear it again.
    absl::StatusOr<std::string> before = tracefs->ReadFilter(*tracepoint);
    if (before.ok() && Trim(*before) == "none") {
      const std::string path = absl::StrCat(tracefs->root(), "/events/", tracepoint->system, "/",
                                            tracepoint->event, "/filter");
      if (!WriteSmallFile(path, expr).ok()) {
        absl::StatusOr<std::string> complaint = tracefs->ReadFilter(*tracepoint);
        if (complaint.ok()) {
          // "EXPR\n    ^\nparse_error: Field not found\n": keep the last line.
          std::string_view text = Trim(*complaint);
          const size_t nl = text.rfind('\n');
          if (nl != std::string_view::npos) text = text.substr(nl + 1);
          if (!text.empty() && text != "none") details.emplace_back(text);
        }
      }
      (void)WriteSmallFile(path, "0");
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      what, " was refused by the kernel",
      details.empty() ? " (check field names and operators: see the event's format file)"
                      : absl::StrCat(": ", absl::StrJoin(details, "; "))));
}

}  // namespace wick
