#include "wick/unwinder.h"

#include <asm/perf_regs.h>
#include <elf.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <vector>

#include "unwinder_internal.h"
#include "wick/build_id.h"

namespace wick {

using unwinder_internal::Backend;
using unwinder_internal::ElfCache;
using unwinder_internal::Regs;
using unwinder_internal::StackMemory;

uint64_t UnwinderRegsMask() {
  uint64_t mask = 0;
  for (int r : {PERF_REG_X86_AX, PERF_REG_X86_BX, PERF_REG_X86_CX, PERF_REG_X86_DX, PERF_REG_X86_SI,
                PERF_REG_X86_DI, PERF_REG_X86_BP, PERF_REG_X86_SP, PERF_REG_X86_IP, PERF_REG_X86_R8,
                PERF_REG_X86_R9, PERF_REG_X86_R10, PERF_REG_X86_R11, PERF_REG_X86_R12,
                PERF_REG_X86_R13, PERF_REG_X86_R14, PERF_REG_X86_R15}) {
    mask |= uint64_t{1} << r;
  }
  return mask;
}

uint64_t FramePointerRegsMask() {
  return uint64_t{1} << PERF_REG_X86_BP | uint64_t{1} << PERF_REG_X86_SP |
         uint64_t{1} << PERF_REG_X86_IP;
}

std::string_view StopReasonName(StopReason reason) {
  switch (reason) {
    case StopReason::kRoot:
      return "root";
    case StopReason::kNoUnwindInfo:
      return "no_unwind_info";
    case StopReason::kStackTooSmall:
      return "stack_too_small";
    case StopReason::kUnmapped:
      return "unmapped";
    case StopReason::kJit:
      return "jit";
    case StopReason::kMaxDepth:
      return "max_depth";
    case StopReason::kBadRegisters:
      return "bad_registers";
    case StopReason::kError:
      return "error";
  }
  return "?";
}

namespace unwinder_internal {

bool ExtractRegs(const UserStack& sample, Regs* out) {
  if (sample.abi != PERF_SAMPLE_REGS_ABI_64) return false;
  // PERF_REG_X86_* -> DWARF number (-1: not used by DWARF unwinding).
  static constexpr int kToDwarf[PERF_REG_X86_64_MAX] = {0,  3,  2,  1,  4,  5,  6,  7,
                                                        16, -1, -1, -1, -1, -1, -1, -1,   // AX..GS
                                                        8,  9,  10, 11, 12, 13, 14, 15};  // R8..R15
  *out = Regs{};
  if (static_cast<size_t>(std::popcount(sample.regs_mask)) != sample.regs.size()) return false;
  bool have_ip = false, have_sp = false;
  size_t i = 0;
  for (int r = 0; r < 64; ++r) {
    if ((sample.regs_mask & (uint64_t{1} << r)) == 0) continue;
    const uint64_t v = sample.regs[i++];
    if (r >= PERF_REG_X86_64_MAX || kToDwarf[r] < 0) continue;
    out->dwarf[kToDwarf[r]] = v;
    have_ip |= r == PERF_REG_X86_IP;
    have_sp |= r == PERF_REG_X86_SP;
  }
  return have_ip && have_sp;
}

StackMemory::StackMemory(uint64_t sp, std::span<const std::byte> stack, uint64_t dyn_size)
    : sp_(sp),
      data_(stack.data()),
      size_(std::min<uint64_t>(dyn_size, stack.size())),
      full_(dyn_size >= stack.size()) {}

bool StackMemory::Read(uint64_t addr, uint64_t* value) {
  if (Contains(addr)) {
    std::memcpy(value, data_ + (addr - sp_), 8);
    return true;
  }
  // Beyond the copied top while the copy was cut by SIZE (not by the end of the stack):
  // a bigger snapshot would have had it. 8 MiB: the default stack limit.
  if (full_ && addr >= sp_ + size_ && addr - sp_ < (uint64_t{8} << 20)) {
    failure_ = ReadFailure::kBeyondSnapshot;
  } else if (failure_ == ReadFailure::kNone) {
    failure_ = ReadFailure::kOutside;
  }
  return false;
}

bool ElfImage::OffsetToVaddr(uint64_t offset, uint64_t* vaddr) const {
  for (const Load& l : loads) {
    if (offset >= l.offset && offset - l.offset < std::max(l.filesz, uint64_t{1})) {
      *vaddr = offset - l.offset + l.vaddr;
      return true;
    }
  }
  return false;
}

bool ElfImage::ReadVaddr(uint64_t vaddr, uint64_t* value) const {
  for (const Load& l : loads) {
    if (vaddr >= l.vaddr && vaddr - l.vaddr < l.filesz && l.filesz - (vaddr - l.vaddr) >= 8) {
      const uint64_t off = vaddr - l.vaddr + l.offset;
      if (off > bytes.size() || bytes.size() - off < 8) return false;
      std::memcpy(value, bytes.data() + off, 8);
      return true;
    }
  }
  return false;
}

namespace {

void LoadImage(const std::string& path, ElfImage* img) {
  img->path = path;
  ScopedFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return;
  struct stat st;
  if (fstat(fd.get(), &st) != 0 || st.st_size < static_cast<off_t>(sizeof(Elf64_Ehdr))) return;
  void* p = mmap(nullptr, st.st_size, PROT_READ, MAP_PRIVATE, fd.get(), 0);
  if (p == MAP_FAILED) return;
  img->file = ScopedMmap(p, st.st_size);
  img->bytes = {static_cast<const std::byte*>(p), static_cast<size_t>(st.st_size)};
  Elf64_Ehdr eh;
  std::memcpy(&eh, p, sizeof eh);
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
      eh.e_machine != EM_X86_64 || eh.e_phentsize != sizeof(Elf64_Phdr)) {
    return;
  }
  img->e_type = eh.e_type;
  if (eh.e_phoff > img->bytes.size() ||
      (img->bytes.size() - eh.e_phoff) / sizeof(Elf64_Phdr) < eh.e_phnum) {
    return;
  }
  bool first = true;
  for (size_t i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    std::memcpy(&ph, img->bytes.data() + eh.e_phoff + i * sizeof ph, sizeof ph);
    if (ph.p_type == PT_LOAD) {
      img->loads.push_back({ph.p_vaddr, ph.p_memsz, ph.p_offset, ph.p_filesz});
      img->min_vaddr = first ? ph.p_vaddr : std::min(img->min_vaddr, ph.p_vaddr);
      img->max_vaddr = std::max(img->max_vaddr, ph.p_vaddr + ph.p_memsz);
      first = false;
    } else if (ph.p_type == PT_GNU_EH_FRAME) {
      img->eh_frame_hdr_vaddr = ph.p_vaddr;
      img->eh_frame_hdr_size = ph.p_memsz;
    }
  }
  img->ok = !img->loads.empty();
}

}  // namespace

const ElfImage* ElfCache::Get(uint32_t binary) {
  auto [it, inserted] = images_.try_emplace(binary);
  if (inserted) {
    it->second = std::make_unique<ElfImage>();
    if (binary < processes_->binaries().size()) {
      const std::string& path = processes_->binaries().path(binary);
      // [vdso] is read from this process's own copy (same kernel, same image).
      LoadImage(path == kVdsoPath ? OwnVdsoFile() : path, it->second.get());
    }
  }
  return it->second.get();
}

Placement Place(ProcessTable* processes, ElfCache* elves, pid_t pid, uint64_t addr) {
  Placement out;
  const Frame f = processes->Resolve(pid, addr);
  if (f.kind != FrameKind::kUserFile) return out;
  const ElfImage* img = elves->Get(f.binary);
  uint64_t vaddr = 0;
  if (!img->ok || !img->OffsetToVaddr(f.value, &vaddr)) return out;
  out.image = img;
  out.binary = f.binary;
  out.bias = addr - vaddr;
  return out;
}

StopReason ClassifyFailure(ProcessTable* processes, ElfCache* elves, pid_t pid, uint64_t pc,
                           const StackMemory& stack, bool has_cfi) {
  if (stack.failure() == ReadFailure::kBeyondSnapshot) return StopReason::kStackTooSmall;
  const Placement where = Place(processes, elves, pid, pc);
  if (where.image == nullptr) {
    return InJitCode(processes->Find(pid), pc) ? StopReason::kJit : StopReason::kUnmapped;
  }
  return has_cfi ? StopReason::kError : StopReason::kNoUnwindInfo;
}

bool InJitCode(const ProcessTable::Process* process, uint64_t addr) {
  if (process == nullptr) return false;
  const std::vector<ProcessTable::Mapping>& maps = process->mappings;
  auto it = std::upper_bound(maps.begin(), maps.end(), addr,
                             [](uint64_t a, const ProcessTable::Mapping& m) { return a < m.end; });
  return it != maps.end() && addr >= it->start && it->binary == ProcessTable::kNoBinary;
}

bool FramePointerStep(StackMemory* stack, Regs* regs, StopReason* why) {
  const uint64_t fp = regs->bp();
  // Below rsp, rbp points at no live frame: the JIT uses it as a general register here, or
  // the sample hit a frame being torn down. Refusing it also makes every step climb.
  if (fp < regs->sp() || fp > UINT64_MAX - 16) {
    *why = StopReason::kJit;
    return false;
  }
  uint64_t saved_fp = 0, ret = 0;
  stack->ClearFailure();
  if (!stack->Read(fp, &saved_fp) || !stack->Read(fp + 8, &ret)) {
    *why = stack->failure() == ReadFailure::kBeyondSnapshot ? StopReason::kStackTooSmall
                                                            : StopReason::kJit;
    return false;
  }
  if (ret == 0) {  // the end of an rbp chain, which a JIT frame never is
    *why = StopReason::kJit;
    return false;
  }
  regs->dwarf[kDwarfRbp] = saved_fp;
  regs->dwarf[kDwarfRsp] = fp + 16;
  regs->dwarf[kDwarfRip] = ret;
  return true;
}

}  // namespace unwinder_internal

class Unwinder::Impl {
 public:
  Impl(ProcessTable* processes, Stats* stats, UnwindBackend kind)
      : processes_(processes),
        stats_(stats != nullptr ? stats : &own_stats_),
        elves_(processes),
        kind_(kind) {
    backend_ = kind == UnwindBackend::kLibdw
                   ? unwinder_internal::MakeLibdwBackend(processes, &elves_)
                   : unwinder_internal::MakeLibunwindBackend(processes, &elves_);
    pcs_.resize(1024);
  }

  UnwindResult Unwind(const UserStack& sample, std::span<Frame> out) {
    UnwindResult result;
    Regs regs;
    if (out.empty()) {
      result.reason = StopReason::kMaxDepth;
    } else if (!unwinder_internal::ExtractRegs(sample, &regs)) {
      result.reason = StopReason::kBadRegisters;
    } else {
      const size_t max = std::min(out.size(), pcs_.size());
      StackMemory stack(regs.sp(), sample.stack, sample.dyn_size);
      result = backend_->Unwind(sample.pid, sample.tid, regs, &stack,
                                std::span<uint64_t>(pcs_.data(), max));
      // A caller's return address in no mapping at all (JIT code lies in anonymous mappings,
      // which count) is no frame: a frame-pointer guess through a function without CFI, or a
      // CFA computed from it, produced it. Seen in exit handlers: _fini has no CFI. Stop
      // before it instead of showing a bare unknown frame as the root.
      for (size_t i = 1; i < result.frames; ++i) {
        if (!processes_->MayBeMapped(sample.pid, pcs_[i])) {
          result.frames = i;
          result.reason = StopReason::kUnmapped;
          break;
        }
      }
      processes_->ResolveUser(sample.pid, std::span<const uint64_t>(pcs_.data(), result.frames),
                              out);
    }
    Count(result.reason);
    if (result.fp_steps != 0) stats_->Add(Stat::kUnwindFpSteps, result.fp_steps);
    return result;
  }

  void Count(StopReason reason) {
    static constexpr Stat kStat[] = {Stat::kUnwindComplete,      Stat::kUnwindNoInfo,
                                     Stat::kUnwindStackTooSmall, Stat::kUnwindUnmapped,
                                     Stat::kUnwindJit,           Stat::kUnwindMaxDepth,
                                     Stat::kUnwindBadRegisters,  Stat::kUnwindError};
    stats_->Add(kStat[static_cast<size_t>(reason)]);
  }

  void ForgetProcess(pid_t pid) { backend_->ForgetProcess(pid); }
  UnwindBackend kind() const { return kind_; }
  void set_stats(Stats* stats) { stats_ = stats != nullptr ? stats : &own_stats_; }

 private:
  ProcessTable* processes_;
  Stats own_stats_;
  Stats* stats_;
  ElfCache elves_;
  UnwindBackend kind_;
  std::unique_ptr<Backend> backend_;
  std::vector<uint64_t> pcs_;
};

Unwinder::Unwinder(ProcessTable* processes, Stats* stats, UnwindBackend backend)
    : impl_(std::make_unique<Impl>(processes, stats, backend)) {}
Unwinder::~Unwinder() = default;

UnwindResult Unwinder::Unwind(const UserStack& sample, std::span<Frame> out) {
  return impl_->Unwind(sample, out);
}
void Unwinder::ForgetProcess(pid_t pid) { impl_->ForgetProcess(pid); }
void Unwinder::set_stats(Stats* stats) { impl_->set_stats(stats); }
UnwindBackend Unwinder::backend() const { return impl_->kind(); }

}  // namespace wick
