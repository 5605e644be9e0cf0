// elfutils backend: one Dwfl per process with its modules reported lazily (the first time
// an unwind reaches a binary) and our own Dwfl_Thread_Callbacks over the sample's
// registers and stack snapshot. libdwfl caches each module's CFI (.eh_frame, then
// .debug_frame) after the first lookup, and falls back to the rbp chain (ebl x86_64_unwind)
// where a frame has no CFI.
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <libelf.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "unwinder_internal.h"

namespace wick::unwinder_internal {
namespace {

class LibdwBackend;

struct Module {
  uint64_t lo, hi;
};

struct Process {
  LibdwBackend* owner = nullptr;
  pid_t pid = 0;
  Dwfl* dwfl = nullptr;
  bool attached = false;
  std::vector<Module> modules;  // address ranges already reported (or known to fail)
  // The sample being unwound.
  pid_t tid = 0;
  const Regs* regs = nullptr;
  StackMemory* stack = nullptr;
  std::span<uint64_t> pcs;
  size_t n = 0;
  bool full = false;
};

const Dwfl_Callbacks kDwflCallbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = nullptr,
};

pid_t NextThread(Dwfl*, void* arg, void** thread_argp) {
  if (*thread_argp != nullptr) return 0;
  *thread_argp = arg;
  return static_cast<Process*>(arg)->tid;
}

bool GetThread(Dwfl*, pid_t tid, void* arg, void** thread_argp) {
  *thread_argp = arg;
  return tid == static_cast<Process*>(arg)->tid;
}

bool MemoryRead(Dwfl*, Dwarf_Addr addr, Dwarf_Word* result, void* arg) {
  uint64_t v = 0;
  if (!static_cast<Process*>(arg)->stack->Read(addr, &v)) return false;
  *result = v;
  return true;
}

bool SetInitialRegisters(Dwfl_Thread* thread, void* arg) {
  const Regs& regs = *static_cast<Process*>(arg)->regs;
  Dwarf_Word words[kDwarfRegs];
  for (int i = 0; i < kDwarfRegs; ++i) words[i] = regs.dwarf[i];
  return dwfl_thread_state_registers(thread, 0, kDwarfRegs, words);
}

const Dwfl_Thread_Callbacks kThreadCallbacks = {
    .next_thread = NextThread,
    .get_thread = GetThread,
    .memory_read = MemoryRead,
    .set_initial_registers = SetInitialRegisters,
    .detach = nullptr,
    .thread_detach = nullptr,
};

class LibdwBackend final : public Backend {
 public:
  LibdwBackend(ProcessTable* processes, ElfCache* elves) : processes_(processes), elves_(elves) {
    elf_version(EV_CURRENT);
    // The architecture libdwfl unwinds for comes from an ELF; ours is x86_64 like the samples.
    self_fd_ = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (self_fd_ >= 0) self_elf_ = elf_begin(self_fd_, ELF_C_READ_MMAP, nullptr);
  }
  ~LibdwBackend() override {
    for (auto& [pid, p] : processes_by_pid_) End(p.get());
    if (self_elf_ != nullptr) elf_end(self_elf_);
    if (self_fd_ >= 0) close(self_fd_);
  }

  void ForgetProcess(pid_t pid) override {
    auto it = processes_by_pid_.find(pid);
    if (it == processes_by_pid_.end()) return;
    End(it->second.get());
    processes_by_pid_.erase(it);
  }

  UnwindResult Unwind(pid_t pid, pid_t tid, const Regs& regs, StackMemory* stack,
                      std::span<uint64_t> pcs) override {
    UnwindResult result;
    Process* p = GetProcess(pid);
    p->tid = tid > 0 ? tid : pid;
    p->regs = &regs;
    p->stack = stack;
    p->pcs = pcs;
    p->n = 0;
    p->full = false;
    EnsureModule(p, regs.ip());
    if (p->dwfl == nullptr || !p->attached) {
      pcs[0] = regs.ip();
      result.frames = 1;
      result.reason = ClassifyFailure(processes_, elves_, pid, regs.ip(), *stack, false);
      return result;
    }
    const int rc = dwfl_getthread_frames(p->dwfl, p->tid, OnFrame, p);
    result.frames = p->n;
    if (p->full) {
      result.reason = StopReason::kMaxDepth;
    } else {
      const uint64_t lookup = p->n > 0 ? p->pcs[p->n - 1] : regs.ip();
      bool has_cfi = false;
      // libdwfl ends the walk with rc 0 both at the root and when a return address could
      // not be read, and at the root it may still try (and fail) its frame-pointer guess:
      // the outermost frame's own CFI (return address undefined: _start, clone) decides.
      if (RaUndefined(p, lookup, &has_cfi) || (rc == 0 && stack->failure() == ReadFailure::kNone)) {
        result.reason = StopReason::kRoot;
      } else {
        result.reason = ClassifyFailure(processes_, elves_, pid, lookup, *stack, has_cfi);
      }
    }
    return result;
  }

 private:
  static int OnFrame(Dwfl_Frame* frame, void* arg) {
    Process* p = static_cast<Process*>(arg);
    Dwarf_Addr pc = 0;
    bool activation = false;
    if (!dwfl_frame_pc(frame, &pc, &activation)) return DWARF_CB_ABORT;
    if (p->n >= p->pcs.size()) {
      p->full = true;
      return DWARF_CB_ABORT;
    }
    // No loop check here: recursion repeats return addresses legitimately and libdwfl 0.188
    // does not expose a frame's SP; a corrupt cycle ends at the depth limit.
    const uint64_t lookup = activation ? pc : pc - 1;
    p->pcs[p->n++] = lookup;
    p->owner->EnsureModule(p, lookup);
    return DWARF_CB_OK;
  }

  Process* GetProcess(pid_t pid) {
    auto& slot = processes_by_pid_[pid];
    if (slot == nullptr) {
      slot = std::make_unique<Process>();
      slot->owner = this;
      slot->pid = pid;
      slot->dwfl = dwfl_begin(&kDwflCallbacks);
    }
    return slot.get();
  }

  static void End(Process* p) {
    if (p->dwfl != nullptr) dwfl_end(p->dwfl);
    p->dwfl = nullptr;
  }

  // Reports the binary mapped at `addr` to the process's Dwfl the first time it is reached.
  void EnsureModule(Process* p, uint64_t addr) {
    if (p->dwfl == nullptr) return;
    for (const Module& m : p->modules) {
      if (addr >= m.lo && addr < m.hi) return;
    }
    const Placement where = Place(processes_, elves_, p->pid, addr);
    if (where.image == nullptr) return;
    const ElfImage& img = *where.image;
    p->modules.push_back({where.bias + img.min_vaddr, where.bias + img.max_vaddr});
    // libdwfl places an executable at its link address only: a second copy of its text
    // mapped elsewhere (node's builtins) stays unknown to it, and reporting the file from
    // there first would leave its real range unreported.
    if (img.e_type == ET_EXEC && where.bias != 0) return;
    dwfl_report_begin_add(p->dwfl);
    Dwfl_Module* mod =
        dwfl_report_elf(p->dwfl, img.path.c_str(), img.path.c_str(), -1, where.bias, true);
    dwfl_report_end(p->dwfl, nullptr, nullptr);
    if (mod != nullptr && !p->attached && self_elf_ != nullptr) {
      p->attached = dwfl_attach_state(p->dwfl, self_elf_, p->pid, &kThreadCallbacks, p);
    }
  }

  // True when the CFI of `pc` marks the return address undefined (the outermost frame).
  // *has_cfi: some CFI covers pc.
  static bool RaUndefined(Process* p, uint64_t pc, bool* has_cfi) {
    *has_cfi = false;
    if (p->dwfl == nullptr) return false;
    Dwfl_Module* mod = dwfl_addrmodule(p->dwfl, pc);
    if (mod == nullptr) return false;
    for (int eh = 0; eh < 2; ++eh) {
      Dwarf_Addr bias = 0;
      Dwarf_CFI* cfi = eh == 0 ? dwfl_module_eh_cfi(mod, &bias) : dwfl_module_dwarf_cfi(mod, &bias);
      Dwarf_Frame* frame = nullptr;
      if (cfi == nullptr || dwarf_cfi_addrframe(cfi, pc - bias, &frame) != 0) continue;
      *has_cfi = true;
      Dwarf_Op ops_mem[3];
      Dwarf_Op* ops = nullptr;
      size_t nops = 0;
      const bool undefined = dwarf_frame_register(frame, kDwarfRip, ops_mem, &ops, &nops) == 0 &&
                             nops == 0 && ops == ops_mem;
      free(frame);
      return undefined;
    }
    return false;
  }

  ProcessTable* processes_;
  ElfCache* elves_;
  int self_fd_ = -1;
  Elf* self_elf_ = nullptr;
  absl::flat_hash_map<pid_t, std::unique_ptr<Process>> processes_by_pid_;
};

}  // namespace

std::unique_ptr<Backend> MakeLibdwBackend(ProcessTable* processes, ElfCache* elves) {
  return std::make_unique<LibdwBackend>(processes, elves);
}

}  // namespace wick::unwinder_internal
