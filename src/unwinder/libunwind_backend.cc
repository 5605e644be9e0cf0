// libunwind backend: one remote address space per process (UNW_CACHE_GLOBAL caches the
// decoded CFI by IP), with accessors that read registers and stack from the sample and
// unwind tables straight from the mmapped ELF files (.eh_frame_hdr binary search table,
// found through PT_GNU_EH_FRAME). No .debug_frame: binaries without .eh_frame stop with
// kNoUnwindInfo unless frame pointers continue the walk.
#define UNW_REMOTE_ONLY
#include <elf.h>
#include <libunwind.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "unwinder_internal.h"

// Exported by libunwind-x86_64 but not declared in its public headers (perf declares it too).
extern "C" int _Ux86_64_dwarf_search_unwind_table(unw_addr_space_t as, unw_word_t ip,
                                                  unw_dyn_info_t* di, unw_proc_info_t* pi,
                                                  int need_unwind_info, void* arg);

namespace wick::unwinder_internal {
namespace {

// .eh_frame_hdr encoding constants (DW_EH_PE_*).
constexpr uint8_t kPeDatarelSdata4 = 0x3b;  // DW_EH_PE_datarel | DW_EH_PE_sdata4

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
  const Regs* regs = nullptr;
  StackMemory* stack = nullptr;
  bool had_info = true;  // find_proc_info found an FDE for the last IP asked
};

class LibunwindBackend final : public Backend {
 public:
  LibunwindBackend(ProcessTable* processes, ElfCache* elves)
      : processes_(processes), elves_(elves) {
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
    p->regs = &regs;
    p->stack = stack;
    p->had_info = true;
    size_t n = 0;
    pcs[n++] = regs.ip();
    unw_cursor_t cursor;
    if (p->as == nullptr || unw_init_remote(&cursor, p->as, p) != 0) {
      result.frames = n;
      result.reason = StopReason::kError;
      return result;
    }
    uint64_t last_sp = regs.sp();
    uint64_t last_ip = regs.ip();
    for (;;) {
      p->had_info = true;
      // The frame being left is a signal trampoline: the next IP is where the signal
      // interrupted the code, not a return address.
      const bool after_signal = unw_is_signal_frame(&cursor) > 0;
      const int rc = unw_step(&cursor);
      if (rc == 0 && p->had_info && stack->failure() == ReadFailure::kNone) {
        result.reason = StopReason::kRoot;
        break;
      }
      // rc 0 without CFI for the last IP: libunwind's frame-pointer guess gave up, which is
      // not the root.
      if (rc <= 0) {
        result.reason = ClassifyFailure(processes_, elves_, pid, pcs[n - 1], *stack, p->had_info);
        break;
      }
      unw_word_t ip = 0, sp = 0;
      unw_get_reg(&cursor, UNW_REG_IP, &ip);
      unw_get_reg(&cursor, UNW_REG_SP, &sp);
      if (ip == 0) {
        result.reason = StopReason::kRoot;
        break;
      }
      if (sp < last_sp || (sp == last_sp && ip == last_ip)) {  // no progress: corrupt
        result.reason = StopReason::kError;
        break;
      }
      last_sp = sp;
      last_ip = ip;
      // No CFI for the frame just left, yet the step worked: libunwind's rbp-chain fallback.
      if (!p->had_info) result.used_frame_pointers = true;
      if (n >= pcs.size()) {
        result.reason = StopReason::kMaxDepth;
        break;
      }
      pcs[n++] = after_signal ? ip : ip - 1;
    }
    result.frames = n;
    return result;
  }

 private:
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
    m.bias = img.e_type == ET_EXEC ? 0 : where.bias;
    m.lo = m.bias + img.min_vaddr;
    m.hi = m.bias + img.max_vaddr;
    m.image = &img;
    // .eh_frame_hdr: version, eh_frame_ptr_enc, fde_count_enc, table_enc, eh_frame_ptr,
    // fde_count, then the sorted (initial_location, fde) table, both datarel sdata4.
    uint64_t hdr_word = 0;
    if (img.eh_frame_hdr_vaddr != 0 && img.ReadVaddr(img.eh_frame_hdr_vaddr, &hdr_word)) {
      const uint8_t* h = reinterpret_cast<const uint8_t*>(&hdr_word);
      uint64_t count_word = 0;
      if (h[0] == 1 && h[3] == kPeDatarelSdata4 && h[2] == 0x03 /* udata4 */ &&
          h[1] == 0x1b /* pcrel sdata4 */ &&
          img.ReadVaddr(img.eh_frame_hdr_vaddr + 8, &count_word)) {
        const uint64_t fde_count = static_cast<uint32_t>(count_word);
        m.di.format = UNW_INFO_FORMAT_REMOTE_TABLE;
        m.di.start_ip = m.lo;
        m.di.end_ip = m.hi;
        m.di.u.rti.name_ptr = 0;
        m.di.u.rti.segbase = m.bias + img.eh_frame_hdr_vaddr;
        m.di.u.rti.table_data = m.bias + img.eh_frame_hdr_vaddr + 12;
        m.di.u.rti.table_len = fde_count * 8 / sizeof(unw_word_t);
        m.has_table = fde_count > 0;
      }
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
    const Regs& regs = *static_cast<Process*>(arg)->regs;
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
};

}  // namespace

std::unique_ptr<Backend> MakeLibunwindBackend(ProcessTable* processes, ElfCache* elves) {
  return std::make_unique<LibunwindBackend>(processes, elves);
}

}  // namespace wick::unwinder_internal
