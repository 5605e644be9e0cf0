#include "off_cpu.h"

#include <bit>
#include <cstring>
#include <string>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace wick {
namespace {

// The integer at the start of `text` (0x hex or decimal) and how many characters it took.
bool ParseInteger(std::string_view text, uint64_t* value, size_t* used) {
  size_t n = 0;
  int base = 10;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    base = 16;
    n = 2;
  }
  const size_t digits_start = n;
  while (n < text.size() &&
         (base == 16 ? absl::ascii_isxdigit(text[n]) : absl::ascii_isdigit(text[n]))) {
    ++n;
  }
  if (n == digits_start) return false;
  const absl::string_view digits(text.data() + digits_start, n - digits_start);
  const bool ok = base == 16 ? absl::SimpleHexAtoi(digits, value) : absl::SimpleAtoi(digits, value);
  *used = n;
  return ok;
}

// The state table of the print fmt's __print_flags(..., "|", { 0x00000001, "S" }, ...):
// calls on_entry(bit, letter) for each entry. False when there is no table.
template <typename F>
bool ForEachStateFlag(std::string_view fmt, F&& on_entry) {
  size_t pos = fmt.find("__print_flags(");
  if (pos == std::string_view::npos) return false;
  fmt = fmt.substr(pos);
  // The table ends with its last entry's "})" (the mask before it has parentheses of its own).
  const size_t end = fmt.find("})");
  if (end != std::string_view::npos) fmt = fmt.substr(0, end + 1);
  bool any = false;
  for (pos = fmt.find('{'); pos != std::string_view::npos; pos = fmt.find('{', pos + 1)) {
    std::string_view entry = fmt.substr(pos + 1);
    while (!entry.empty() && absl::ascii_isspace(entry.front())) entry.remove_prefix(1);
    uint64_t bit = 0;
    size_t used = 0;
    if (!ParseInteger(entry, &bit, &used)) continue;
    entry = entry.substr(used);
    const size_t quote = entry.find('"');
    if (quote == std::string_view::npos || quote + 2 >= entry.size() || entry[quote + 2] != '"') {
      continue;
    }
    on_entry(bit, entry[quote + 1]);
    any = true;
  }
  return any;
}

// TASK_REPORT_MAX, the bit the kernel sets in prev_state of a preempted task, from the print
// fmt's `REC->prev_state & (((0x... | 0x...) + 1) << 1) ? "+" : ""` (what `+` means in
// "R+"); 0 when the print fmt does not say.
uint64_t PreemptedBit(std::string_view fmt) {
  const size_t plus = fmt.find("? \"+\"");
  if (plus == std::string_view::npos) return 0;
  const size_t start = fmt.rfind("REC->prev_state &", plus);
  if (start == std::string_view::npos) return 0;
  std::string_view expr = fmt.substr(start + 17, plus - start - 17);
  uint64_t mask = 0;
  bool any_hex = false;
  for (size_t pos = expr.find("0x"); pos != std::string_view::npos; pos = expr.find("0x", pos)) {
    uint64_t v = 0;
    size_t used = 0;
    if (!ParseInteger(expr.substr(pos), &v, &used)) return 0;
    mask |= v;
    any_hex = true;
    pos += used;
  }
  if (any_hex && expr.find("+ 1") != std::string_view::npos &&
      expr.find("<< 1") != std::string_view::npos) {
    return (mask + 1) << 1;
  }
  // Older kernels print the bit itself: `REC->prev_state & 2048 ? "+" : ""`.
  while (!expr.empty() && absl::ascii_isspace(expr.front())) expr.remove_prefix(1);
  while (!expr.empty() && absl::ascii_isspace(expr.back())) expr.remove_suffix(1);
  uint64_t v = 0;
  size_t used = 0;
  if (!any_hex && ParseInteger(expr, &v, &used) && used == expr.size()) return v;
  return 0;
}

}  // namespace

absl::Status CheckOffCpuRights(const KernelCaps& caps) {
  if (caps.PerfmonCapable() || caps.perf_event_paranoid <= -1) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(
      "--off-cpu reads sched:sched_switch's raw data (prev_state), which the kernel gives only "
      "to root, to CAP_PERFMON or with kernel.perf_event_paranoid -1; this process is not root, "
      "has no CAP_PERFMON, and kernel.perf_event_paranoid is ",
      caps.perf_event_paranoid,
      ": run as root, grant CAP_PERFMON (setcap cap_perfmon+ep), or sysctl "
      "kernel.perf_event_paranoid=-1"));
}

absl::StatusOr<std::string> ReadSchedSwitchFormat(const Tracefs& tracefs) {
  absl::StatusOr<std::string> text = tracefs.ReadFormat({"sched", "sched_switch"});
  if (!text.ok()) {
    return absl::NotFoundError(
        absl::StrCat("--off-cpu needs the sched:sched_switch tracepoint, which this kernel does "
                     "not have (",
                     text.status().message(), ")"));
  }
  return text;
}

absl::StatusOr<SchedSwitchLayout> SchedSwitchLayout::FromFormat(const TraceFormat& format) {
  const TraceField* field = format.FindField("prev_state");
  if (field == nullptr || field->kind != TraceField::Kind::kInteger ||
      !(field->size == 1 || field->size == 2 || field->size == 4 || field->size == 8)) {
    return absl::InvalidArgumentError(
        "sched:sched_switch's format has no integer prev_state field: --off-cpu cannot tell why "
        "a thread left the CPU on this kernel");
  }
  SchedSwitchLayout layout;
  layout.offset_ = field->offset;
  layout.size_ = field->size;
  layout.signed_ = field->is_signed;
  uint64_t highest = 0;
  const bool has_table = ForEachStateFlag(format.print_fmt, [&](uint64_t bit, char letter) {
    highest = std::max(highest, bit);
    switch (letter) {
      case 'S':
        layout.sleep_ |= bit;
        break;
      case 'D':
        layout.io_ |= bit;
        break;
      case 'T':
      case 't':
        layout.stopped_ |= bit;
        break;
      case 'I':
        layout.idle_ |= bit;
        break;
      case 'X':
      case 'Z':
        layout.exiting_ |= bit;
        break;
      default:
        break;  // P (parked), N, K, W...: other
    }
  });
  if (!has_table || layout.sleep_ == 0 || layout.io_ == 0) {
    return absl::InvalidArgumentError(
        "sched:sched_switch's print fmt has no prev_state table (S, D, ...): --off-cpu cannot "
        "tell why a thread left the CPU on this kernel");
  }
  layout.preempted_ = PreemptedBit(format.print_fmt);
  // The kernel defines TASK_REPORT_MAX as the bit above its last reported state (I).
  if (layout.preempted_ == 0 || layout.preempted_ <= highest) layout.preempted_ = highest << 1;
  return layout;
}

std::optional<uint64_t> SchedSwitchLayout::ReadPrevState(std::span<const std::byte> raw) const {
  if (uint64_t{offset_} + size_ > raw.size()) return std::nullopt;
  uint64_t v = 0;
  std::memcpy(&v, raw.data() + offset_, size_);  // little-endian: the low bytes
  if (signed_ && size_ < 8 && (v >> (8 * size_ - 1)) & 1) v |= ~uint64_t{0} << (8 * size_);
  return v;
}

SwitchOutState SchedSwitchLayout::Classify(uint64_t prev_state) const {
  if (prev_state & preempted_) return {false, OffCpuReason::kRunnable};
  const uint64_t s = prev_state & (preempted_ - 1);
  if (s == 0) return {false, OffCpuReason::kRunnable};
  if (s & exiting_) return {true, OffCpuReason::kOther};
  if (s & io_) return {false, OffCpuReason::kIo};
  if (s & sleep_) return {false, OffCpuReason::kSleep};
  if (s & stopped_) return {false, OffCpuReason::kStopped};
  if (s & idle_) return {false, OffCpuReason::kIdle};
  return {false, OffCpuReason::kOther};
}

Stat OffCpuTimeStat(OffCpuReason reason) {
  switch (reason) {
    case OffCpuReason::kSleep:
      return Stat::kOffCpuSleepNs;
    case OffCpuReason::kIo:
      return Stat::kOffCpuIoNs;
    case OffCpuReason::kRunnable:
      return Stat::kOffCpuRunnableNs;
    case OffCpuReason::kStopped:
      return Stat::kOffCpuStoppedNs;
    case OffCpuReason::kIdle:
      return Stat::kOffCpuIdleNs;
    default:
      return Stat::kOffCpuOtherNs;
  }
}

OffCpuPairing::OffCpuPairing(Stats* stats, OffCpuCharger* charger, uint64_t min_ns)
    : stats_(stats), charger_(charger), min_ns_(min_ns) {}

void OffCpuPairing::Charge(Thread& t, uint64_t end_time) {
  // Clocks of two CPUs may disagree by a hair: a switch-in stamped before its switch-out is a
  // block of no length, not a negative one.
  const uint64_t ns = end_time > t.out_time ? end_time - t.out_time : 0;
  t.out_pending = false;
  if (ns < min_ns_) {
    stats_->Add(Stat::kOffCpuShortDropped);
    stats_->Add(Stat::kOffCpuShortDroppedNs, ns);
    return;
  }
  stats_->Add(Stat::kOffCpuBlocks);
  stats_->Add(OffCpuTimeStat(t.reason), ns);
  charger_->Charge(t.stack, ns);
}

void OffCpuPairing::DropEarlyIn(Thread& t) {
  t.early_in = false;
  // A thread seen leaving the CPU before must have left it again before this switch-in: that
  // switch-out was lost. Otherwise the thread was off the CPU when recording started (or is
  // new): there is no stack to charge, and nothing is wrong.
  stats_->Add(t.seen_out ? Stat::kOffCpuUnpaired : Stat::kOffCpuFirstSwitchIn);
}

void OffCpuPairing::OnSwitchOut(uint32_t tid, uint64_t time, uint32_t stack, OffCpuReason reason) {
  stats_->Add(Stat::kOffCpuSwitches);
  Thread& t = threads_[tid];
  if (t.early_in) {
    if (t.early_in_time >= time) {
      // The switch-in that ends this block was read first (its ring was read before this
      // sample was committed to its own): pair them now.
      t.early_in = false;
      t.seen_out = true;
      t.out_time = time;
      t.stack = stack;
      t.reason = reason;
      Charge(t, t.early_in_time);
      return;
    }
    DropEarlyIn(t);
  }
  // A switch-out still waiting: its switch-in was lost.
  if (t.out_pending) stats_->Add(Stat::kOffCpuUnpaired);
  t.seen_out = true;
  t.out_pending = true;
  t.out_time = time;
  t.stack = stack;
  t.reason = reason;
}

void OffCpuPairing::OnSwitchOutRecord(uint32_t tid, uint64_t time) {
  auto it = threads_.find(tid);
  if (it == threads_.end()) return;
  Thread& t = it->second;
  // Only the switch-out waiting for its switch-in: a block already charged (paired
  // retroactively) keeps its length.
  if (t.out_pending && time > t.out_time) t.out_time = time;
}

void OffCpuPairing::OnSwitchIn(uint32_t tid, uint64_t time) {
  Thread& t = threads_[tid];
  if (t.out_pending) {
    Charge(t, time);
    return;
  }
  // No switch-out waits: either it is still on its way (paired when it comes), or there is
  // none (decided then, or at the end).
  if (t.early_in) DropEarlyIn(t);
  t.early_in = true;
  t.early_in_time = time;
}

void OffCpuPairing::OnLost(uint64_t time) {
  any_lost_ = true;
  // A record without a time stamp may have been lost at any time.
  last_lost_time_ = time == 0 ? UINT64_MAX : std::max(last_lost_time_, time);
}

void OffCpuPairing::OnExit(uint32_t tid) {
  auto it = threads_.find(tid);
  if (it == threads_.end()) return;
  Thread& t = it->second;
  if (t.out_pending) stats_->Add(Stat::kOffCpuUnpaired);
  if (t.early_in) DropEarlyIn(t);
  threads_.erase(it);
}

void OffCpuPairing::Finish(uint64_t stop_time) {
  for (auto& [tid, t] : threads_) {
    if (t.early_in) DropEarlyIn(t);
    if (!t.out_pending) continue;
    // A lost record after the switch-out may have been its switch-in: not a guess to make.
    if (any_lost_ && last_lost_time_ >= t.out_time) {
      stats_->Add(Stat::kOffCpuUnpaired);
      t.out_pending = false;
      continue;
    }
    stats_->Add(Stat::kOffCpuOpenAtEnd);
    Charge(t, stop_time);
  }
  threads_.clear();
}

}  // namespace wick
