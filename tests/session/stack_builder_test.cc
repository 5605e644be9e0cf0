// The steady-state per-sample path of a recording — ring buffer read → record parse → stack
// build → stack map — must not allocate: it runs at thousands of samples per second per CPU.
#include "stack_builder.h"

#include <asm/perf_regs.h>
#include <linux/perf_event.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "testing/testing.h"
#include "wick/record.h"
#include "wick/ring_buffer.h"

namespace wick {
namespace {

__attribute__((noinline)) void SampledFunction() { asm volatile(""); }

constexpr uint64_t kSampleType =
    PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_CALLCHAIN;

// Appends one SAMPLE record (ip, pid/tid, time, callchain) in the kernel's layout.
void AppendSample(std::vector<uint64_t>* out, uint64_t ip, uint32_t pid,
                  const std::vector<uint64_t>& chain, uint32_t tid = 0) {
  if (tid == 0) tid = pid;
  size_t words = 1 + 1 + 1 + 1 + 1 + chain.size();
  perf_event_header h{PERF_RECORD_SAMPLE, PERF_RECORD_MISC_USER, uint16_t(words * 8)};
  uint64_t hw;
  std::memcpy(&hw, &h, 8);
  out->push_back(hw);
  out->push_back(ip);
  out->push_back(uint64_t(pid) | (uint64_t(tid) << 32));
  out->push_back(12345);
  out->push_back(chain.size());
  out->insert(out->end(), chain.begin(), chain.end());
}

TEST(StackBuilderTest, SteadyStateReadParseBuildInsertDoesNotAllocate) {
  Stats stats;
  ProcessTable processes(&stats);
  WICK_ASSERT_OK(processes.ScanProcess(getpid()));
  StackMap stacks(1 << 16, 1 << 12);
  StackBuilder builder(&processes, &stacks, &stats, kSampleType, 127);

  // 64 distinct stacks: a kernel part and a user part that ends in this test binary.
  const uint64_t user_ip = reinterpret_cast<uint64_t>(&SampledFunction);
  std::vector<uint64_t> records;
  for (uint64_t i = 0; i < 64; ++i) {
    std::vector<uint64_t> chain = {PERF_CONTEXT_KERNEL, 0xffffffff81000000 + i * 16,
                                   0xffffffff81001000,  PERF_CONTEXT_USER,
                                   user_ip + (i % 4),   user_ip + 8,
                                   user_ip + 16};
    AppendSample(&records, user_ip, uint32_t(getpid()), chain);
  }
  const size_t batch_bytes = records.size() * 8;

  // A ring laid out as the kernel's: metadata page then a power-of-two data area.
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  const size_t data_size = 64 * 1024;
  ASSERT_LT(batch_bytes, data_size);
  void* mem = std::aligned_alloc(page, page + data_size);
  ASSERT_NE(mem, nullptr);
  std::memset(mem, 0, page + data_size);
  auto* meta = static_cast<perf_event_mmap_page*>(mem);
  std::byte* data = static_cast<std::byte*>(mem) + page;
  RingBuffer ring(meta, data, data_size);
  SampleFormat format{kSampleType, 0, false, 0};
  ParsedRecord parsed;

  uint64_t head = 0;
  auto produce = [&] {
    // Like the kernel: copy the records in (wrapping), then publish data_head.
    const auto* src = reinterpret_cast<const std::byte*>(records.data());
    for (size_t i = 0; i < batch_bytes; ++i) data[(head + i) & (data_size - 1)] = src[i];
    head += batch_bytes;
    __atomic_store_n(&meta->data_head, head, __ATOMIC_RELEASE);
  };
  auto consume = [&] {
    size_t n = 0;
    for (auto rec = ring.Next(); !rec.empty(); rec = ring.Next()) {
      if (ParseRecord(rec, format, &parsed).ok()) builder.OnSample(parsed);
      ++n;
    }
    ring.Consume();
    return n;
  };

  // Warm up: first sight of each stack stores it (in preallocated memory, but the first
  // batch may still touch lazily built state).
  produce();
  ASSERT_EQ(consume(), 64u);
  ASSERT_EQ(stacks.size(), 64u);

  testing::AllocationCounter allocations;
  size_t consumed = 0;
  for (int i = 0; i < 2000; ++i) {
    produce();
    consumed += consume();
  }
  EXPECT_EQ(allocations.Count(), 0u);
  EXPECT_EQ(consumed, 2000u * 64);
  EXPECT_EQ(stacks.size(), 64u);
  EXPECT_EQ(stats.Get(Stat::kSamples), 2001u * 64);
  EXPECT_EQ(stacks.Count(0), 2001u);
  // The user leaf resolved to this test binary's file, not to a raw address.
  EXPECT_EQ(stacks.Frames(0)[2].kind, FrameKind::kUserFile);
  EXPECT_EQ(stacks.Frames(0)[0].kind, FrameKind::kKernel);
  std::free(mem);
}

// A builder over this process, and samples of a two-frame user callchain in it.
struct SelfSampler {
  SelfSampler() { WICK_EXPECT_OK(processes.ScanProcess(getpid())); }
  // A sample of thread `tid` of this process; valid until the next call.
  const ParsedRecord& Sample(uint32_t tid) {
    const uint64_t user_ip = reinterpret_cast<uint64_t>(&SampledFunction);
    const std::vector<uint64_t> chain = {PERF_CONTEXT_USER, user_ip, user_ip + 8};
    words.clear();
    AppendSample(&words, user_ip, pid, chain, tid);
    std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(words.data()),
                                     words.size() * 8);
    WICK_EXPECT_OK(ParseRecord(bytes, SampleFormat{kSampleType, 0, false, 0}, &parsed));
    return parsed;
  }
  Stats stats;
  ProcessTable processes{&stats};
  StackMap stacks{1 << 12, 1 << 8};
  StackBuilder builder{&processes, &stacks, &stats, kSampleType, 127};
  const uint32_t pid = uint32_t(getpid());
  std::vector<uint64_t> words;
  ParsedRecord parsed;
};

// The same callchain sampled in two threads of this process is two stacks, each carrying its
// pid and tid (reports filter and split by them).
TEST(StackBuilderTest, StacksAreKeyedByThread) {
  SelfSampler t;
  const uint32_t pid = t.pid;
  for (uint32_t tid : {pid, pid + 1, pid, pid + 1, pid + 1}) t.builder.OnSample(t.Sample(tid));
  const StackMap& stacks = t.stacks;
  ASSERT_EQ(stacks.size(), 2u);
  EXPECT_EQ(stacks.Pid(0), pid);
  EXPECT_EQ(stacks.Tid(0), pid);
  EXPECT_EQ(stacks.Count(0), 2u);
  EXPECT_EQ(stacks.Pid(1), pid);
  EXPECT_EQ(stacks.Tid(1), pid + 1);
  EXPECT_EQ(stacks.Count(1), 3u);
  EXPECT_EQ(std::vector<Frame>(stacks.Frames(0).begin(), stacks.Frames(0).end()),
            std::vector<Frame>(stacks.Frames(1).begin(), stacks.Frames(1).end()));
}

// A sample's event, weight and synthetic leaf (what --off-cpu gives a switch-out) go with it:
// each event's stacks are apart, weights add up, the leaf comes below the sample's own.
TEST(StackBuilderTest, TargetSetsEventWeightAndLeaf) {
  SelfSampler t;
  const Frame reason{uint64_t(OffCpuReason::kSleep), 0, FrameKind::kOffCpu};
  StackBuilder& b = t.builder;
  EXPECT_EQ(b.OnSample(t.Sample(t.pid),
                       {.event = 0, .count = 1, .weight = 1000, .leaf = {}, .callchain = {}})
                .stack,
            0u);
  EXPECT_EQ(b.OnSample(t.Sample(t.pid),
                       {.event = 0, .count = 1, .weight = 1001, .leaf = {}, .callchain = {}})
                .stack,
            0u);
  EXPECT_EQ(b.OnSample(t.Sample(t.pid),
                       {.event = 1, .count = 1, .weight = 1, .leaf = {}, .callchain = {}})
                .stack,
            1u);
  EXPECT_EQ(b.OnSample(t.Sample(t.pid),
                       {.event = 2, .count = 0, .weight = 0, .leaf = reason, .callchain = {}})
                .stack,
            2u);
  const StackMap& stacks = t.stacks;
  ASSERT_EQ(stacks.size(), 3u);
  EXPECT_EQ(stacks.Weight(0), 2001u);
  EXPECT_EQ(stacks.Count(0), 2u);
  EXPECT_EQ(stacks.Event(1), 1u);
  EXPECT_EQ(stacks.Count(2), 0u);
  ASSERT_EQ(stacks.Frames(2).size(), stacks.Frames(0).size() + 1);
  EXPECT_EQ(stacks.Frames(2)[0], reason);
  EXPECT_EQ(stacks.Frames(2)[1], stacks.Frames(0)[0]);
}

// A perf.data file mixes events with and without callchains: the target says which a sample
// is. Entries under a guest, hypervisor or unknown context marker are skipped and counted.
TEST(StackBuilderTest, TargetSaysWhetherThereIsACallchainAndOddContextsAreCounted) {
  Stats stats;
  ProcessTable processes(&stats);
  StackMap stacks(1 << 12, 1 << 8);
  StackBuilder builder(&processes, &stacks, &stats, kSampleType, 127);
  std::vector<uint64_t> words;
  AppendSample(&words, 0xffffffff81000040, 0,
               {PERF_CONTEXT_KERNEL, 0xffffffff81000010, PERF_CONTEXT_GUEST_KERNEL, 0xffffffff8200,
                0xfffffffffffff100 /* not a marker the kernel defines */, 0x1234});
  ParsedRecord rec;
  WICK_ASSERT_OK(
      ParseRecord(std::as_bytes(std::span(words)), SampleFormat{kSampleType, 0, false, 0}, &rec));
  rec.misc = PERF_RECORD_MISC_KERNEL;
  const uint32_t with = builder.OnSample(rec).stack;
  ASSERT_EQ(stacks.Frames(with).size(), 1u);
  EXPECT_EQ(stacks.Frames(with)[0], (Frame{0xffffffff81000010, 0, FrameKind::kKernel}));
  EXPECT_EQ(stats.Get(Stat::kCallchainFramesSkipped), 2u);
  // The same record taken as an event without callchains: its ip alone.
  const uint32_t without =
      builder.OnSample(rec, {.event = 0, .count = 1, .weight = 0, .leaf = {}, .callchain = false})
          .stack;
  ASSERT_EQ(stacks.Frames(without).size(), 1u);
  EXPECT_EQ(stacks.Frames(without)[0], (Frame{0xffffffff81000040, 0, FrameKind::kKernel}));
}

// A builder that walks frame pointers in stack copies, and a switch-out sample of `pid` with
// one kernel frame whose user registers and copy the test sets.
struct CopyWalk {
  explicit CopyWalk(uint32_t pid, uint32_t max_stack = 127)
      : builder(&processes, &stacks, &stats, kSampleType, max_stack) {
    builder.WalkFramePointersInCopies(uint64_t{1} << PERF_REG_X86_BP |
                                      uint64_t{1} << PERF_REG_X86_SP |
                                      uint64_t{1} << PERF_REG_X86_IP);
    rec.type = PERF_RECORD_SAMPLE;
    rec.sample.pid = rec.sample.tid = pid;
    rec.sample.callchain = kernel_chain;
  }
  // The frames' values of the stack the sample lands in (with the walk, or its callchain).
  std::vector<uint64_t> Walk(bool in_copy = true) {
    const StackBuilder::SampleTarget target{.event = 0,
                                            .count = 1,
                                            .weight = 0,
                                            .leaf = {},
                                            .callchain = {},
                                            .user_fp_in_copy = in_copy};
    std::vector<uint64_t> v;
    for (const Frame& f : stacks.Frames(builder.OnSample(rec, target).stack)) v.push_back(f.value);
    return v;
  }

  static constexpr uint64_t kKernelFrame = 0xffffffff81000010;
  const uint64_t kernel_chain[2] = {PERF_CONTEXT_KERNEL, kKernelFrame};
  Stats stats;
  ProcessTable processes{&stats};
  StackMap stacks{1 << 12, 1 << 8};
  StackBuilder builder;
  ParsedRecord rec;
};

// --off-cpu -g: the user frames of a switch-out are the frame-pointer chain in its stack
// copy, as the kernel would walk it in the task's memory: the leaf's ip, then each frame's
// return address (minus one, into the call). The chain ends at a frame below the last one
// (a loop), at fp 0, or past the copy, which is counted when the copy was full.
TEST(StackBuilderTest, UserFramesWalkedByFramePointerInTheStackCopy) {
  CopyWalk t(4242);
  constexpr uint64_t kSp = 0x7ffd0000;
  std::vector<uint64_t> copy(32, 0);  // 256 bytes of stack at kSp
  const auto frame_at = [&](uint64_t offset, uint64_t next_fp, uint64_t ret) {
    copy[offset / 8] = next_fp;
    copy[offset / 8 + 1] = ret;
  };
  frame_at(0x20, kSp + 0x60, 0x401111);
  frame_at(0x60, kSp + 0xa0, 0x402222);
  frame_at(0xa0, 0, 0x403333);
  const std::vector<uint64_t> regs = {kSp + 0x20, kSp, 0x400000};  // bp, sp, ip
  t.rec.sample.regs_user_abi = PERF_SAMPLE_REGS_ABI_64;
  t.rec.sample.regs_user = regs;
  t.rec.sample.stack_user = std::as_bytes(std::span(copy));
  t.rec.sample.stack_user_dyn_size = copy.size() * 8;
  const uint64_t k = CopyWalk::kKernelFrame;
  EXPECT_EQ(t.Walk(), (std::vector<uint64_t>{k, 0x400000, 0x401110, 0x402221, 0x403332}));
  EXPECT_EQ(t.stats.Get(Stat::kFpChainsCutByCopy), 0u);
  // Without the flag the sample's user frames are its callchain's: none here.
  EXPECT_EQ(t.Walk(/*in_copy=*/false), (std::vector<uint64_t>{k}));

  // The last frame points past the full copy, within reach of a stack: cut, counted.
  frame_at(0xa0, kSp + 0x1000, 0x403333);
  EXPECT_EQ(t.Walk().size(), 5u);
  EXPECT_EQ(t.stats.Get(Stat::kFpChainsCutByCopy), 1u);
  // The kernel copied less than asked (the stack's mapping ended): nothing more to reach.
  t.rec.sample.stack_user_dyn_size = 0xb0;
  EXPECT_EQ(t.Walk().size(), 5u);
  EXPECT_EQ(t.stats.Get(Stat::kFpChainsCutByCopy), 1u);
  t.rec.sample.stack_user_dyn_size = copy.size() * 8;
  // A frame that points back down the stack ends the chain (no loop).
  frame_at(0x60, kSp + 0x20, 0x402222);
  EXPECT_EQ(t.Walk(), (std::vector<uint64_t>{k, 0x400000, 0x401110, 0x402221}));
  // A kernel thread has no user registers: no user frames.
  t.rec.sample.regs_user_abi = PERF_SAMPLE_REGS_ABI_NONE;
  EXPECT_EQ(t.Walk(), (std::vector<uint64_t>{k}));
}

// A 32-bit task's chain is of {u32 saved fp, u32 return address} frames; a chain longer than
// max_stack stops there and is counted as truncated, one that ends at max_stack is not.
TEST(StackBuilderTest, FramePointerCopyWalk32BitAndMaxStack) {
  CopyWalk t(4343, /*max_stack=*/3);
  constexpr uint32_t kSp = 0xffd00000;
  std::vector<uint32_t> copy(64, 0);  // 256 bytes of a 32-bit stack at kSp
  copy[0x10 / 4] = kSp + 0x30;
  copy[0x14 / 4] = 0x08048111;
  copy[0x30 / 4] = kSp + 0x50;
  copy[0x34 / 4] = 0x08048222;
  copy[0x50 / 4] = 0;
  copy[0x54 / 4] = 0x08048333;
  const std::vector<uint64_t> regs = {kSp + 0x10, kSp, 0x08048000};  // bp, sp, ip
  t.rec.sample.regs_user_abi = PERF_SAMPLE_REGS_ABI_32;
  t.rec.sample.regs_user = regs;
  t.rec.sample.stack_user = std::as_bytes(std::span(copy));
  t.rec.sample.stack_user_dyn_size = copy.size() * 4;
  const std::vector<uint64_t> three = {CopyWalk::kKernelFrame, 0x08048000, 0x08048110, 0x08048221};
  // The kernel frame, then the walk: leaf + 2 frames fill max_stack 3, and the third frame
  // (0x08048333) is there: truncated.
  EXPECT_EQ(t.Walk(), three);
  EXPECT_EQ(t.stats.Get(Stat::kTruncatedCallchains), 1u);
  // Without a third frame the chain ends at max_stack: not truncated.
  copy[0x54 / 4] = 0;
  EXPECT_EQ(t.Walk(), three);
  EXPECT_EQ(t.stats.Get(Stat::kTruncatedCallchains), 1u);
}

}  // namespace
}  // namespace wick
