// libunwind backend: one remote address space per process (UNW_CACHE_GLOBAL caches the
// decoded CFI by IP), with accessors that read registers and stack from the sample and
// unwind tables straight from the mmapped ELF files (.eh_frame_hdr binary search table,
// found through PT_GNU_EH_FRAME). No .debug_frame. A frame without CFI (JIT code, code
// without .eh_frame) is left by our own frame-pointer step, not libunwind's guess, and
// libunwind starts again from the caller's registers.
#define UNW_REMOTE_ONLY
#include <elf.h>
#include <libunwind.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

#include "absl/hash/hash.h"
#include "cfi_rules.h"
#include "unwinder_internal.h"
#include "wick/build_id.h"

// Exported by libunwind-x86_64 but not declared in its public headers (perf declares it too).
extern "C" int _Ux86_64_dwarf_search_unwind_table(unw_addr_space_t as, unw_word_t ip,
                                                  unw_dyn_info_t* di, unw_proc_info_t* pi,
                                                  int need_unwind_info, void* arg);

namespace wick::unwinder_internal {
namespace {

class LibunwindBackend;

struct Module {
  uint64_t lo, hi, bias;
  const ElfImage* image;  // null: not an ELF we could read
  unw_dyn_info_t di;
  bool has_table;
};

struct Process {
  LibunwindBackend* owner = nullptr;
  pid_t pid = 0;
  unw_addr_space_t as = nullptr;
  std::vector<Module> modules;
  // The registers libunwind starts from: the sample's, or those a frame-pointer step through
  // JIT code left.
  Regs frame;
  StackMemory* stack = nullptr;
  bool had_info = true;  // find_proc_info found an FDE for the last IP asked
};

class LibunwindBackend final : public Backend {
 public:
  LibunwindBackend(ProcessTable* processes, ElfCache* elves)
      : processes_(processes),
        elves_(elves),
        own_cfi_steps_(std::getenv("WICK_UNWIND_LIBUNWIND_ONLY") == nullptr) {
    std::memset(&accessors_, 0, sizeof accessors_);
    accessors_.find_proc_info = FindProcInfo;
    accessors_.put_unwind_info = PutUnwindInfo;
    accessors_.get_dyn_info_list_addr = GetDynInfoListAddr;
    accessors_.access_mem = AccessMem;
    accessors_.access_reg = AccessReg;
    accessors_.access_fpreg = AccessFpreg;
    accessors_.resume = Resume;
    accessors_.get_proc_name = GetProcName;
  }
  ~LibunwindBackend() override {
    for (auto& [pid, p] : by_pid_) unw_destroy_addr_space(p->as);
  }

  void ForgetProcess(pid_t pid) override {
    auto it = by_pid_.find(pid);
    if (it == by_pid_.end()) return;
    unw_destroy_addr_space(it->second->as);
    by_pid_.erase(it);
  }

  UnwindResult Unwind(pid_t pid, pid_t, const Regs& regs, StackMemory* stack,
                      std::span<uint64_t> pcs) override {
    UnwindResult result;
    Process* p = GetProcess(pid);
    p->frame = regs;
    p->stack = stack;
    size_t n = 0;
    pcs[n++] = regs.ip();
    if (p->as == nullptr) {
      result.frames = n;
      result.reason = StopReason::kError;
      return result;
    }
    const ProcessTable::Process* process = processes_->Find(pid);
    if (own_cfi_steps_ && OwnCfiUnwind(p, process, regs, stack, pcs, &result)) return result;
    unw_cursor_t cursor;
    bool have_cursor = false;  // `cursor` stands at the frame pcs[n - 1] names
    uint64_t last_sp = regs.sp();
    uint64_t pc = regs.ip();  // the frame being left: its IP or return address, as found
    for (;;) {
      uint64_t ip = 0;
      // The frame being left is a signal trampoline: the next IP is where the signal
      // interrupted the code, not a return address.
      bool after_signal = false;
      const bool jit = InJitCode(process, pc);
      bool by_frame_pointer = jit;
      if (!jit) {
        if (!have_cursor) {
          // libunwind looks up the CFI of the IP it starts from as is, but a return address
          // belongs to its call instruction (the return address of a noreturn call is the
          // next function's first byte): start it from the byte before.
          if (n > 1) p->frame.dwarf[kDwarfRip] = pc - 1;
          if (unw_init_remote(&cursor, p->as, p) != 0) {
            result.reason = StopReason::kError;
            break;
          }
          have_cursor = true;
        }
        const unw_cursor_t before = cursor;
        after_signal = unw_is_signal_frame(&cursor) > 0;
        p->had_info = true;
        stack->ClearFailure();
        const int rc = unw_step(&cursor);
        if (!p->had_info) {
          // No CFI for pc: libunwind guessed through rbp, and after its guess the CFA of the
          // next frame is off (stacks through code without CFI ended in a wrong address
          // after the first frame with CFI again). Take the frame-pointer step as for JIT
          // code instead, from the registers before libunwind's step.
          cursor = before;
          by_frame_pointer = true;
        } else if (rc == 0 && stack->failure() == ReadFailure::kNone) {
          result.reason = StopReason::kRoot;
          break;
        } else if (rc <= 0) {
          result.reason =
              ClassifyFailure(processes_, elves_, pid, n > 1 ? pc - 1 : pc, *stack, true);
          break;
        } else {
          unw_word_t sp = 0;
          unw_get_reg(&cursor, UNW_REG_IP, &ip);
          unw_get_reg(&cursor, UNW_REG_SP, &sp);
          if (ip == 0) {
            result.reason = StopReason::kRoot;
            break;
          }
          if (sp < last_sp || (sp == last_sp && ip == pc)) {  // no progress: corrupt
            result.reason = StopReason::kError;
            break;
          }
          last_sp = sp;
        }
      }
      if (by_frame_pointer) {
        // No unwind tables: leave the frame by its frame pointer, from the registers DWARF
        // unwinding left it with (or the sampled ones), and start libunwind again from the
        // caller once the chain is back in code with CFI.
        if (have_cursor) ReadCalleeSaved(&cursor, &p->frame);
        after_signal = false;
        StopReason why = StopReason::kJit;
        bool stepped = FramePointerStep(stack, &p->frame, &why);
        ip = p->frame.ip();
        if (stepped && !processes_->MayBeMapped(pid, ip)) {  // rbp was no frame pointer
          stepped = false;
          why = StopReason::kJit;
        }
        if (!stepped) {
          // Outside JIT code: no CFI in a file, or an IP in no mapping at all.
          result.reason =
              jit || why == StopReason::kStackTooSmall
                  ? why
                  : ClassifyFailure(processes_, elves_, pid, n > 1 ? pc - 1 : pc, *stack, false);
          break;
        }
        ++result.fp_steps;
        if (!jit) result.used_frame_pointers = true;
        have_cursor = false;
        last_sp = p->frame.sp();
      }
      if (n >= pcs.size()) {
        result.reason = StopReason::kMaxDepth;
        break;
      }
      // Callers are named inside their call instruction (see Backend::Unwind).
      pcs[n++] = after_signal ? ip : ip - 1;
      pc = ip;
    }
    result.frames = n;
    return result;
  }

 private:
  // The whole unwind by the CFI rules of cfi_rules.h, as libunwind would step each frame,
  // when every frame has a plain rule and stays in the copied stack; false (nothing kept) to
  // leave it to libunwind from the start, which also says why an unwind stopped early.
  bool OwnCfiUnwind(Process* p, const ProcessTable::Process* process, const Regs& regs,
                    StackMemory* stack, std::span<uint64_t> pcs, UnwindResult* result) {
    uint64_t pc = regs.ip(), sp = regs.sp(), bp = regs.bp(), last_sp = regs.sp();
    uint64_t lookup = pc;  // the frame's IP, or a caller's return address - 1
    size_t n = 1;
    for (;;) {
      if (InJitCode(process, pc)) return false;
      Module* m = FindModule(p, lookup);
      if (m == nullptr || m->image == nullptr || !m->has_table) return false;
      const uint64_t vaddr = lookup - m->bias;
      // Direct-mapped, allocated once: a long recording's many distinct IPs replace each
      // other's slots instead of growing a table on the sample path.
      RuleSlot& slot = rules_[absl::HashOf(m->image, vaddr) % rules_.size()];
      if (slot.image != m->image || slot.vaddr != vaddr) {
        slot = {m->image, vaddr, FindCfiRule(*m->image, vaddr)};
      }
      const CfiRule& rule = slot.rule;
      if (rule.kind == CfiRule::kEnd) {
        result->reason = StopReason::kRoot;
        break;
      }
      if (rule.kind != CfiRule::kStep) return false;
      const uint64_t cfa = (rule.cfa_reg == kDwarfRsp ? sp : bp) + int64_t{rule.cfa_offset};
      uint64_t ra = 0;
      const uint64_t ra_at = cfa + int64_t{rule.ra_offset};
      if (!stack->Contains(ra_at) || !stack->Read(ra_at, &ra)) return false;
      if (rule.rbp_saved) {
        const uint64_t bp_at = cfa + int64_t{rule.rbp_offset};
        if (!stack->Contains(bp_at) || !stack->Read(bp_at, &bp)) return false;
      }
      if (ra == 0) {
        result->reason = StopReason::kRoot;
        break;
      }
      if (cfa < last_sp || (cfa == last_sp && ra == pc)) return false;
      last_sp = sp = cfa;
      if (n >= pcs.size()) {
        result->reason = StopReason::kMaxDepth;
        break;
      }
      pcs[n++] = ra - 1;
      pc = ra;
      lookup = ra - 1;
    }
    result->frames = n;
    result->own_cfi = true;
    return true;
  }

  Process* GetProcess(pid_t pid) {
    auto& slot = by_pid_[pid];
    if (slot == nullptr) {
      slot = std::make_unique<Process>();
      slot->owner = this;
      slot->pid = pid;
      slot->as = unw_create_addr_space(&accessors_, 0);
      if (slot->as != nullptr) unw_set_caching_policy(slot->as, UNW_CACHE_GLOBAL);
    }
    return slot.get();
  }

  Module* FindModule(Process* p, uint64_t addr) {
    for (Module& m : p->modules) {
      if (addr >= m.lo && addr < m.hi) return &m;
    }
    const Placement where = Place(processes_, elves_, p->pid, addr);
    if (where.image == nullptr) return nullptr;
    const ElfImage& img = *where.image;
    Module m{};
    // The bias of this mapping, also for an executable: node maps a second copy of its text
    // elsewhere (its builtins), and a module placed at the link address would not hold those
    // addresses, so each lookup there would add another one.
    m.bias = where.bias;
    m.lo = m.bias + img.min_vaddr;
    m.hi = m.bias + img.max_vaddr;
    m.image = &img;
    // The .eh_frame_hdr search table, which libunwind searches as a remote table.
    uint64_t words[2] = {0, 0};
    std::optional<uint32_t> fde_count;
    if (img.eh_frame_hdr_vaddr != 0 && img.ReadVaddr(img.eh_frame_hdr_vaddr, &words[0]) &&
        img.ReadVaddr(img.eh_frame_hdr_vaddr + 8, &words[1])) {
      fde_count = EhFrameHdrFdeCount(std::span<const std::byte, kEhFrameHdrSize>(
          reinterpret_cast<const std::byte*>(words), kEhFrameHdrSize));
    }
    if (fde_count) {
      m.di.format = UNW_INFO_FORMAT_REMOTE_TABLE;
      m.di.start_ip = m.lo;
      m.di.end_ip = m.hi;
      m.di.u.rti.name_ptr = 0;
      m.di.u.rti.segbase = m.bias + img.eh_frame_hdr_vaddr;
      m.di.u.rti.table_data = m.bias + img.eh_frame_hdr_vaddr + kEhFrameHdrSize;
      m.di.u.rti.table_len = uint64_t{*fde_count} * 8 / sizeof(unw_word_t);
      m.has_table = *fde_count > 0;
    }
    p->modules.push_back(m);
    return &p->modules.back();
  }

  static int FindProcInfo(unw_addr_space_t as, unw_word_t ip, unw_proc_info_t* pi,
                          int need_unwind_info, void* arg) {
    Process* p = static_cast<Process*>(arg);
    Module* m = p->owner->FindModule(p, ip);
    if (m == nullptr || !m->has_table) {
      p->had_info = false;
      return -UNW_ENOINFO;
    }
    const int rc = _Ux86_64_dwarf_search_unwind_table(as, ip, &m->di, pi, need_unwind_info, arg);
    p->had_info = rc >= 0;
    return rc;
  }

  // The registers of the frame `cursor` stands at that outlive a call (rsp and the
  // callee-saved rbx, rbp, r12-r15) into `regs`; libunwind reads them lazily through
  // AccessReg, so this comes before `regs` changes. The others are dead in a caller's frame.
  static void ReadCalleeSaved(unw_cursor_t* cursor, Regs* regs) {
    Regs out = *regs;
    for (int r : {UNW_X86_64_RBX, UNW_X86_64_RBP, UNW_X86_64_RSP, UNW_X86_64_R12, UNW_X86_64_R13,
                  UNW_X86_64_R14, UNW_X86_64_R15}) {
      unw_word_t v = 0;
      if (unw_get_reg(cursor, r, &v) == 0) out.dwarf[r] = v;
    }
    *regs = out;
  }

  static void PutUnwindInfo(unw_addr_space_t, unw_proc_info_t*, void*) {}
  static int GetDynInfoListAddr(unw_addr_space_t, unw_word_t*, void*) { return -UNW_ENOINFO; }

  static int AccessMem(unw_addr_space_t, unw_word_t addr, unw_word_t* valp, int write, void* arg) {
    if (write) return -UNW_EINVAL;
    Process* p = static_cast<Process*>(arg);
    uint64_t v = 0;
    if (p->stack->Contains(addr)) {
      p->stack->Read(addr, &v);
      *valp = v;
      return 0;
    }
    // Unwind tables: read from the file of a module already placed.
    for (const Module& m : p->modules) {
      if (addr >= m.lo && addr < m.hi && m.image != nullptr) {
        if (m.image->ReadVaddr(addr - m.bias, &v)) {
          *valp = v;
          return 0;
        }
        break;
      }
    }
    p->stack->Read(addr, &v);  // records why it failed
    return -UNW_EINVAL;
  }

  static int AccessReg(unw_addr_space_t, unw_regnum_t reg, unw_word_t* valp, int write, void* arg) {
    if (write) return -UNW_EREADONLYREG;
    const Regs& regs = static_cast<Process*>(arg)->frame;
    if (reg < 0 || reg >= kDwarfRegs) return -UNW_EBADREG;
    *valp = regs.dwarf[reg];
    return 0;
  }

  static int AccessFpreg(unw_addr_space_t, unw_regnum_t, unw_fpreg_t*, int, void*) {
    return -UNW_EINVAL;
  }
  static int Resume(unw_addr_space_t, unw_cursor_t*, void*) { return -UNW_EINVAL; }
  static int GetProcName(unw_addr_space_t, unw_word_t, char*, size_t, unw_word_t*, void*) {
    return -UNW_EINVAL;
  }

  ProcessTable* processes_;
  ElfCache* elves_;
  unw_accessors_t accessors_;
  absl::flat_hash_map<pid_t, std::unique_ptr<Process>> by_pid_;
  // OwnCfiUnwind's rules by (image, link-time address), shared by every process of a binary:
  // 16k slots, 512 KiB.
  const bool own_cfi_steps_;
  struct RuleSlot {
    const ElfImage* image = nullptr;
    uint64_t vaddr = 0;
    CfiRule rule;
  };
  std::vector<RuleSlot> rules_ = std::vector<RuleSlot>(size_t{1} << 14);
};

}  // namespace

std::unique_ptr<Backend> MakeLibunwindBackend(ProcessTable* processes, ElfCache* elves) {
  return std::make_unique<LibunwindBackend>(processes, elves);
}

}  // namespace wick::unwinder_internal
