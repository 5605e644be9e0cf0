// ParseRecord over hand-built records of every type and sample_type field, and malformed ones.
#include "wick/record.h"

#include <linux/perf_event.h>

#include <bit>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "testing/testing.h"

namespace wick {
namespace {

// Appends fields to a record; Finish() sets header.size and returns an 8-byte aligned span.
class Builder {
 public:
  explicit Builder(uint32_t type, uint16_t misc = 0) {
    perf_event_header h{type, misc, 0};
    Append(&h, sizeof(h));
  }
  Builder& U64(uint64_t v) { return Append(&v, 8); }
  Builder& U32(uint32_t v) { return Append(&v, 4); }
  Builder& U16(uint16_t v) { return Append(&v, 2); }
  Builder& U8(uint8_t v) { return Append(&v, 1); }
  Builder& Bytes(const void* p, size_t n) { return Append(p, n); }
  // A NUL-terminated string padded with NULs to a multiple of 8 bytes, as the kernel does.
  Builder& Str(const std::string& s) {
    Append(s.data(), s.size());
    size_t n = 8 - s.size() % 8;
    for (size_t i = 0; i < n; ++i) U8(0);
    return *this;
  }
  Builder& SampleId(uint64_t st, const ::wick::SampleId& id) {
    if (st & PERF_SAMPLE_TID) U32(id.pid).U32(id.tid);
    if (st & PERF_SAMPLE_TIME) U64(id.time);
    if (st & PERF_SAMPLE_ID) U64(id.id);
    if (st & PERF_SAMPLE_STREAM_ID) U64(id.stream_id);
    if (st & PERF_SAMPLE_CPU) U32(id.cpu).U32(id.res);
    if (st & PERF_SAMPLE_IDENTIFIER) U64(id.identifier);
    return *this;
  }
  size_t size() const { return bytes_.size(); }
  // header.size = the bytes appended, unless `size_field` overrides it.
  std::span<const std::byte> Finish(int size_field = -1) {
    uint16_t size =
        size_field < 0 ? static_cast<uint16_t>(bytes_.size()) : static_cast<uint16_t>(size_field);
    std::memcpy(bytes_.data() + 6, &size, 2);
    words_.assign((bytes_.size() + 7) / 8, 0);
    std::memcpy(words_.data(), bytes_.data(), bytes_.size());
    return std::as_bytes(std::span(words_)).first(bytes_.size());
  }

 private:
  Builder& Append(const void* p, size_t n) {
    size_t old = bytes_.size();
    bytes_.resize(old + n);
    std::memcpy(bytes_.data() + old, p, n);
    return *this;
  }
  std::vector<std::byte> bytes_;
  std::vector<uint64_t> words_;
};

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

TEST(ValidateSampleFormatTest, AcceptsSupportedRejectsOthers) {
  WICK_EXPECT_OK(ValidateSampleFormat({}));
  WICK_EXPECT_OK(ValidateSampleFormat({kSupportedSampleType, kSupportedReadFormat, true, 0xff}));
  for (uint64_t bit : {uint64_t{PERF_SAMPLE_BRANCH_STACK}, uint64_t{PERF_SAMPLE_REGS_INTR},
                       uint64_t{PERF_SAMPLE_AUX}, uint64_t{1} << 40}) {
    absl::Status s = ValidateSampleFormat({PERF_SAMPLE_IP | bit, 0, false, 0});
    EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented) << bit;
  }
  EXPECT_NE(Msg(ValidateSampleFormat({PERF_SAMPLE_BRANCH_STACK, 0, false, 0}))
                .find("PERF_SAMPLE_BRANCH_STACK"),
            std::string::npos);
  EXPECT_EQ(ValidateSampleFormat({PERF_SAMPLE_READ, uint64_t{1} << 9, false, 0}).code(),
            absl::StatusCode::kUnimplemented);
}

TEST(ParseRecordTest, SampleFixedFields) {
  SampleFormat fmt{PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME |
                       PERF_SAMPLE_ADDR | PERF_SAMPLE_ID | PERF_SAMPLE_STREAM_ID | PERF_SAMPLE_CPU |
                       PERF_SAMPLE_PERIOD,
                   0, true, 0};
  Builder b(PERF_RECORD_SAMPLE, PERF_RECORD_MISC_USER);
  b.U64(11).U64(0x401000).U32(100).U32(101).U64(123456789).U64(0xdead).U64(12).U64(13);
  b.U32(3).U32(0).U64(1000);
  ParsedRecord r;
  WICK_ASSERT_OK(ParseRecord(b.Finish(), fmt, &r));
  EXPECT_EQ(r.type, PERF_RECORD_SAMPLE);
  EXPECT_EQ(r.misc, PERF_RECORD_MISC_USER);
  EXPECT_EQ(r.size, 8u + 72u);
  const SampleRecord& s = r.sample;
  EXPECT_EQ(s.identifier, 11u);
  EXPECT_EQ(s.ip, 0x401000u);
  EXPECT_EQ(s.pid, 100u);
  EXPECT_EQ(s.tid, 101u);
  EXPECT_EQ(s.time, 123456789u);
  EXPECT_EQ(s.addr, 0xdeadu);
  EXPECT_EQ(s.id, 12u);
  EXPECT_EQ(s.stream_id, 13u);
  EXPECT_EQ(s.cpu, 3u);
  EXPECT_EQ(s.period, 1000u);
  EXPECT_FALSE(r.has_sample_id);  // samples carry the ids inline
}

TEST(ParseRecordTest, SampleReadSingle) {
  SampleFormat fmt{PERF_SAMPLE_READ,
                   PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING |
                       PERF_FORMAT_ID | PERF_FORMAT_LOST,
                   false, 0};
  Builder b(PERF_RECORD_SAMPLE);
  b.U64(500).U64(20).U64(10).U64(7).U64(2);
  ParsedRecord r;
  WICK_ASSERT_OK(ParseRecord(b.Finish(), fmt, &r));
  EXPECT_EQ(r.sample.read.nr, 1u);
  EXPECT_EQ(r.sample.read.value, 500u);
  EXPECT_EQ(r.sample.read.time_enabled, 20u);
  EXPECT_EQ(r.sample.read.time_running, 10u);
  EXPECT_EQ(r.sample.read.id, 7u);
  EXPECT_EQ(r.sample.read.lost, 2u);
}

TEST(ParseRecordTest, SampleReadGroup) {
  SampleFormat fmt{PERF_SAMPLE_READ | PERF_SAMPLE_PERIOD,
                   PERF_FORMAT_GROUP | PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_ID, false, 0};
  Builder b(PERF_RECORD_SAMPLE);
  b.U64(99).U64(2).U64(30).U64(1000).U64(1).U64(2000).U64(2);
  ParsedRecord r;
  WICK_ASSERT_OK(ParseRecord(b.Finish(), fmt, &r));
  const ReadValues& v = r.sample.read;
  EXPECT_EQ(r.sample.period, 99u);
  EXPECT_EQ(v.nr, 2u);
  EXPECT_EQ(v.time_enabled, 30u);
  EXPECT_EQ(v.entry_words, 2u);
  EXPECT_EQ(std::vector<uint64_t>(v.group.begin(), v.group.end()),
            (std::vector<uint64_t>{1000, 1, 2000, 2}));

  Builder lying(PERF_RECORD_SAMPLE);
  lying.U64(99).U64(uint64_t{1} << 62).U64(30).U64(1000).U64(1);
  EXPECT_EQ(ParseRecord(lying.Finish(), fmt, &r).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ParseRecordTest, CallchainWithContextMarkers) {
  SampleFormat fmt{PERF_SAMPLE_IP | PERF_SAMPLE_CALLCHAIN, 0, false, 0};
  const uint64_t chain[] = {kContextKernel, 0xffffffff81000010, 0xffffffff81000020,
                            kContextUser,   0x401234,           0x401567};
  Builder b(PERF_RECORD_SAMPLE);
  b.U64(0xffffffff81000010).U64(6).Bytes(chain, sizeof(chain));
  ParsedRecord r;
  WICK_ASSERT_OK(ParseRecord(b.Finish(), fmt, &r));
  ASSERT_EQ(r.sample.callchain.size(), 6u);
  EXPECT_TRUE(std::equal(r.sample.callchain.begin(), r.sample.callchain.end(), chain));
  int kernel = 0, user = 0;
  CallchainContext ctx = CallchainContext::kUnknown;
  for (uint64_t e : r.sample.callchain) {
    if (IsContextMarker(e)) {
      ctx = ClassifyContextMarker(e);
      continue;
    }
    kernel += ctx == CallchainContext::kKernel;
    user += ctx == CallchainContext::kUser;
  }
  EXPECT_EQ(kernel, 2);
  EXPECT_EQ(user, 2);
}

TEST(ParseRecordTest, ContextMarkers) {
  EXPECT_TRUE(IsContextMarker(PERF_CONTEXT_HV));
  EXPECT_TRUE(IsContextMarker(PERF_CONTEXT_GUEST_USER));
  EXPECT_TRUE(IsContextMarker(PERF_CONTEXT_MAX));
  EXPECT_FALSE(IsContextMarker(0xffffffff81000000));
  EXPECT_FALSE(IsContextMarker(PERF_CONTEXT_MAX - 1));
  EXPECT_EQ(ClassifyContextMarker(PERF_CONTEXT_HV), CallchainContext::kHv);
  EXPECT_EQ(ClassifyContextMarker(PERF_CONTEXT_GUEST), CallchainContext::kGuest);
  EXPECT_EQ(ClassifyContextMarker(PERF_CONTEXT_GUEST_KERNEL), CallchainContext::kGuestKernel);
  EXPECT_EQ(ClassifyContextMarker(PERF_CONTEXT_GUEST_USER), CallchainContext::kGuestUser);
  EXPECT_EQ(ClassifyContextMarker(PERF_CONTEXT_MAX), CallchainContext::kUnknown);
  EXPECT_EQ(ClassifyContextMarker(0x401000), CallchainContext::kUnknown);
}

TEST(ParseRecordTest, CallchainNrTooLarge) {
  SampleFormat fmt{PERF_SAMPLE_CALLCHAIN, 0, false, 0};
  for (uint64_t nr : {uint64_t{3}, uint64_t{1} << 61, ~uint64_t{0}}) {
    Builder b(PERF_RECORD_SAMPLE);
    b.U64(nr).U64(1).U64(2);
    ParsedRecord r;
    absl::Status s = ParseRecord(b.Finish(), fmt, &r);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << nr;
    EXPECT_NE(Msg(s).find("CALLCHAIN"), std::string::npos) << s;
  }
}

TEST(ParseRecordTest, Raw) {
  SampleFormat fmt{PERF_SAMPLE_RAW | PERF_SAMPLE_PERIOD, 0, false, 0};
  const char data[12] = "tracepoint";
  Builder b(PERF_RECORD_SAMPLE);
  b.U64(1).U32(12).Bytes(data, 12);
  ParsedRecord r;
  WICK_ASSERT_OK(ParseRecord(b.Finish(), fmt, &r));
  ASSERT_EQ(r.sample.raw.size(), 12u);
  EXPECT_EQ(std::memcmp(r.sample.raw.data(), data, 12), 0);

  Builder odd(PERF_RECORD_SAMPLE);
  odd.U64(1).U32(10).Bytes(data, 12);  // size + data not u64-padded
  EXPECT_EQ(ParseRecord(odd.Finish(), fmt, &r).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ParseRecordTest, RegsAndStackUser) {
  const uint64_t mask = (1 << 6) | (1 << 7) | (1 << 8);  // bp, sp, ip on x86_64
  SampleFormat fmt{PERF_SAMPLE_TID | PERF_SAMPLE_REGS_USER | PERF_SAMPLE_STACK_USER, 0, false,
                   mask};
  uint8_t stack[32];
  for (int i = 0; i < 32; ++i) stack[i] = static_cast<uint8_t>(i);
  Builder b(PERF_RECORD_SAMPLE);
  b.U32(5).U32(6).U64(PERF_SAMPLE_REGS_ABI_64).U64(0x7ffd0010).U64(0x7ffd0000).U64(0x401000);
  b.U64(32).Bytes(stack, 32).U64(24);
  ParsedRecord r;
  WICK_ASSERT_OK(ParseRecord(b.Finish(), fmt, &r));
  const SampleRecord& s = r.sample;
  EXPECT_EQ(s.regs_user_abi, uint64_t{PERF_SAMPLE_REGS_ABI_64});
  EXPECT_EQ(std::vector<uint64_t>(s.regs_user.begin(), s.regs_user.end()),
            (std::vector<uint64_t>{0x7ffd0010, 0x7ffd0000, 0x401000}));
  ASSERT_EQ(s.stack_user.size(), 32u);
  EXPECT_EQ(std::memcmp(s.stack_user.data(), stack, 32), 0);
  EXPECT_EQ(s.stack_user_dyn_size, 24u);

  // A kernel thread: abi NONE, no registers; stack size 0 and no dyn_size.
  Builder none(PERF_RECORD_SAMPLE);
  none.U32(5).U32(6).U64(PERF_SAMPLE_REGS_ABI_NONE).U64(0);
  WICK_ASSERT_OK(ParseRecord(none.Finish(), fmt, &r));
  EXPECT_TRUE(r.sample.regs_user.empty());
  EXPECT_TRUE(r.sample.stack_user.empty());
  EXPECT_EQ(r.sample.stack_user_dyn_size, 0u);

  Builder dyn_too_big(PERF_RECORD_SAMPLE);
  dyn_too_big.U32(5).U32(6).U64(PERF_SAMPLE_REGS_ABI_NONE).U64(32).Bytes(stack, 32).U64(40);
  EXPECT_EQ(ParseRecord(dyn_too_big.Finish(), fmt, &r).code(), absl::StatusCode::kInvalidArgument);
  Builder stack_too_big(PERF_RECORD_SAMPLE);
  stack_too_big.U32(5).U32(6).U64(PERF_SAMPLE_REGS_ABI_NONE).U64(64).Bytes(stack, 32).U64(8);
  EXPECT_EQ(ParseRecord(stack_too_big.Finish(), fmt, &r).code(),
            absl::StatusCode::kInvalidArgument);
  Builder bad_abi(PERF_RECORD_SAMPLE);
  bad_abi.U32(5).U32(6).U64(7).U64(0);
  EXPECT_EQ(ParseRecord(bad_abi.Finish(), fmt, &r).code(), absl::StatusCode::kInvalidArgument);
}

// Writes every field `st` selects with a value derived from its position, in kernel order.
std::span<const std::byte> BuildSample(Builder& b, uint64_t st) {
  uint64_t v = 1;
  auto u64 = [&](uint64_t bit) {
    if (st & bit) b.U64(v);
    ++v;
  };
  u64(PERF_SAMPLE_IDENTIFIER);
  u64(PERF_SAMPLE_IP);
  if (st & PERF_SAMPLE_TID) b.U32(201).U32(202);
  u64(PERF_SAMPLE_TIME);
  u64(PERF_SAMPLE_ADDR);
  u64(PERF_SAMPLE_ID);
  u64(PERF_SAMPLE_STREAM_ID);
  if (st & PERF_SAMPLE_CPU) b.U32(1).U32(0);
  u64(PERF_SAMPLE_PERIOD);
  if (st & PERF_SAMPLE_READ) b.U64(77).U64(78);  // value, id
  if (st & PERF_SAMPLE_CALLCHAIN) b.U64(3).U64(kContextUser).U64(0x1000).U64(0x2000);
  if (st & PERF_SAMPLE_RAW) b.U32(4).U32(0xabcd);
  if (st & PERF_SAMPLE_REGS_USER) b.U64(PERF_SAMPLE_REGS_ABI_64).U64(0x10).U64(0x20);
  if (st & PERF_SAMPLE_STACK_USER) b.U64(16).U64(0).U64(0).U64(8);
  u64(PERF_SAMPLE_WEIGHT | PERF_SAMPLE_WEIGHT_STRUCT);
  u64(PERF_SAMPLE_DATA_SRC);
  u64(PERF_SAMPLE_TRANSACTION);
  u64(PERF_SAMPLE_PHYS_ADDR);
  u64(PERF_SAMPLE_CGROUP);
  u64(PERF_SAMPLE_DATA_PAGE_SIZE);
  u64(PERF_SAMPLE_CODE_PAGE_SIZE);
  return b.Finish();
}

TEST(ParseRecordTest, EverySampleTypeCombination) {
  // All 2^22 subsets are too many; a fixed pseudo-random 20000 of them plus every single bit.
  std::vector<uint64_t> bits;
  for (int i = 0; i < 64; ++i) {
    if (kSupportedSampleType & (uint64_t{1} << i)) bits.push_back(uint64_t{1} << i);
  }
  std::vector<uint64_t> masks(bits.begin(), bits.end());
  masks.push_back(0);
  masks.push_back(kSupportedSampleType & ~uint64_t{PERF_SAMPLE_WEIGHT_STRUCT});
  std::mt19937_64 rng(42);
  for (int i = 0; i < 20000; ++i) masks.push_back(rng() & kSupportedSampleType);
  for (uint64_t st : masks) {
    // WEIGHT and WEIGHT_STRUCT share one slot; the kernel refuses both at once.
    if ((st & PERF_SAMPLE_WEIGHT) && (st & PERF_SAMPLE_WEIGHT_STRUCT)) {
      st &= ~uint64_t{PERF_SAMPLE_WEIGHT_STRUCT};
    }
    SampleFormat fmt{st, PERF_FORMAT_ID, false, 0x3};
    Builder b(PERF_RECORD_SAMPLE);
    auto rec = BuildSample(b, st);
    ParsedRecord r;
    absl::Status status = ParseRecord(rec, fmt, &r);
    ASSERT_TRUE(status.ok()) << std::hex << st << ": " << status;
    const SampleRecord& s = r.sample;
    auto expect = [&](uint64_t bit, uint64_t got, uint64_t want) {
      EXPECT_EQ(got, (st & bit) ? want : 0) << std::hex << "st " << st << " bit " << bit;
    };
    expect(PERF_SAMPLE_IDENTIFIER, s.identifier, 1);
    expect(PERF_SAMPLE_IP, s.ip, 2);
    expect(PERF_SAMPLE_TID, s.pid, 201);
    expect(PERF_SAMPLE_TID, s.tid, 202);
    expect(PERF_SAMPLE_TIME, s.time, 3);
    expect(PERF_SAMPLE_ADDR, s.addr, 4);
    expect(PERF_SAMPLE_ID, s.id, 5);
    expect(PERF_SAMPLE_STREAM_ID, s.stream_id, 6);
    expect(PERF_SAMPLE_CPU, s.cpu, 1);
    expect(PERF_SAMPLE_PERIOD, s.period, 7);
    expect(PERF_SAMPLE_READ, s.read.value, 77);
    expect(PERF_SAMPLE_READ, s.read.id, 78);
    expect(PERF_SAMPLE_CALLCHAIN, s.callchain.size(), 3);
    expect(PERF_SAMPLE_RAW, s.raw.size(), 4);
    expect(PERF_SAMPLE_REGS_USER, s.regs_user.size(), 2);
    expect(PERF_SAMPLE_STACK_USER, s.stack_user.size(), 16);
    expect(PERF_SAMPLE_STACK_USER, s.stack_user_dyn_size, 8);
    expect(PERF_SAMPLE_WEIGHT | PERF_SAMPLE_WEIGHT_STRUCT, s.weight, 8);
    expect(PERF_SAMPLE_DATA_SRC, s.data_src, 9);
    expect(PERF_SAMPLE_TRANSACTION, s.transaction, 10);
    expect(PERF_SAMPLE_PHYS_ADDR, s.phys_addr, 11);
    expect(PERF_SAMPLE_CGROUP, s.cgroup, 12);
    expect(PERF_SAMPLE_DATA_PAGE_SIZE, s.data_page_size, 13);
    expect(PERF_SAMPLE_CODE_PAGE_SIZE, s.code_page_size, 14);
    if (HasFailure()) return;

    // Every shorter header.size is a truncation and an error, never a crash.
    for (size_t size = 8; size < rec.size(); size += 8) {
      Builder t(PERF_RECORD_SAMPLE);
      auto whole = BuildSample(t, st);
      std::vector<uint64_t> copy(whole.size() / 8 + 1);
      std::memcpy(copy.data(), whole.data(), whole.size());
      uint16_t size16 = static_cast<uint16_t>(size);
      std::memcpy(reinterpret_cast<std::byte*>(copy.data()) + 6, &size16, 2);
      auto span = std::as_bytes(std::span(copy)).first(whole.size());
      EXPECT_EQ(ParseRecord(span, fmt, &r).code(), absl::StatusCode::kInvalidArgument)
          << std::hex << st << " size " << size;
    }
  }
}

constexpr uint64_t kAllIds = PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_ID |
                             PERF_SAMPLE_STREAM_ID | PERF_SAMPLE_CPU | PERF_SAMPLE_IDENTIFIER;
const SampleId kId = {.pid = 10,
                      .tid = 11,
                      .time = 12,
                      .id = 13,
                      .stream_id = 14,
                      .cpu = 15,
                      .res = 0,
                      .identifier = 16};

void ExpectId(const ParsedRecord& r) {
  EXPECT_TRUE(r.has_sample_id);
  EXPECT_EQ(r.sample_id.pid, 10u);
  EXPECT_EQ(r.sample_id.tid, 11u);
  EXPECT_EQ(r.sample_id.time, 12u);
  EXPECT_EQ(r.sample_id.id, 13u);
  EXPECT_EQ(r.sample_id.stream_id, 14u);
  EXPECT_EQ(r.sample_id.cpu, 15u);
  EXPECT_EQ(r.sample_id.identifier, 16u);
}

TEST(ParseRecordTest, MmapWithSampleId) {
  SampleFormat fmt{kAllIds | PERF_SAMPLE_IP | PERF_SAMPLE_CALLCHAIN, 0, true, 0};
  Builder b(PERF_RECORD_MMAP);
  b.U32(1)
      .U32(2)
      .U64(0x400000)
      .U64(0x1000)
      .U64(0x2000)
      .Str("/usr/bin/true")
      .SampleId(fmt.sample_type, kId);
  ParsedRecord r;
  WICK_ASSERT_OK(ParseRecord(b.Finish(), fmt, &r));
  EXPECT_EQ(r.type, PERF_RECORD_MMAP);
  EXPECT_EQ(r.mmap.pid, 1u);
  EXPECT_EQ(r.mmap.tid, 2u);
  EXPECT_EQ(r.mmap.addr, 0x400000u);
  EXPECT_EQ(r.mmap.len, 0x1000u);
  EXPECT_EQ(r.mmap.pgoff, 0x2000u);
  EXPECT_EQ(r.mmap.filename, "/usr/bin/true");
  ExpectId(r);

  // Without sample_id_all there is no trailer.
  Builder plain(PERF_RECORD_MMAP);
  plain.U32(1).U32(2).U64(0x400000).U64(0x1000).U64(0x2000).Str("/lib/x.so");
  fmt.sample_id_all = false;
  WICK_ASSERT_OK(ParseRecord(plain.Finish(), fmt, &r));
  EXPECT_EQ(r.mmap.filename, "/lib/x.so");
  EXPECT_FALSE(r.has_sample_id);
}

TEST(ParseRecordTest, SampleIdSubsetKeepsKernelOrder) {
  SampleFormat fmt{PERF_SAMPLE_TIME | PERF_SAMPLE_CPU | PERF_SAMPLE_IDENTIFIER, 0, true, 0};
  Builder b(PERF_RECORD_LOST_SAMPLES);
  b.U64(5).U64(999).U32(3).U32(0).U64(42);
  ParsedRecord r;
  WICK_ASSERT_OK(ParseRecord(b.Finish(), fmt, &r));
  EXPECT_EQ(r.lost_samples.lost, 5u);
  EXPECT_EQ(r.sample_id.time, 999u);
  EXPECT_EQ(r.sample_id.cpu, 3u);
  EXPECT_EQ(r.sample_id.identifier, 42u);
  EXPECT_EQ(r.sample_id.pid, 0u);
}

TEST(ParseRecordTest, Mmap2WithInode) {
  SampleFormat fmt{kAllIds, 0, true, 0};
  Builder b(PERF_RECORD_MMAP2, PERF_RECORD_MISC_USER);
  b.U32(1).U32(2).U64(0x7f0000000000).U64(0x3000).U64(0x1000);
  b.U32(8).U32(1).U64(123456).U64(7).U32(5).U32(2).Str("/usr/lib/x86_64-linux-gnu/libm.so.6");
  b.SampleId(fmt.sample_type, kId);
  ParsedRecord r;
  WICK_ASSERT_OK(ParseRecord(b.Finish(), fmt, &r));
  const MmapRecord& m = r.mmap;
  EXPECT_EQ(m.addr, 0x7f0000000000u);
  EXPECT_EQ(m.maj, 8u);
  EXPECT_EQ(m.min, 1u);
  EXPECT_EQ(m.ino, 123456u);
  EXPECT_EQ(m.ino_generation, 7u);
  EXPECT_FALSE(m.has_build_id);
  EXPECT_EQ(m.prot, 5u);
  EXPECT_EQ(m.flags, 2u);
  EXPECT_EQ(m.filename, "/usr/lib/x86_64-linux-gnu/libm.so.6");
  ExpectId(r);
}

TEST(ParseRecordTest, Mmap2WithBuildId) {
  SampleFormat fmt{PERF_SAMPLE_TID, 0, true, 0};
  uint8_t id[20] = {};
  for (int i = 0; i < 20; ++i) id[i] = static_cast<uint8_t>(0xa0 + i);
  Builder b(PERF_RECORD_MMAP2, PERF_RECORD_MISC_MMAP_BUILD_ID);
  b.U32(1).U32(2).U64(0x1000).U64(0x3000).U64(0).U8(20).U8(0).U16(0).Bytes(id, 20);
  b.U32(5).U32(2).Str("/bin/x").U32(1).U32(2);
  ParsedRecord r;
  WICK_ASSERT_OK(ParseRecord(b.Finish(), fmt, &r));
  EXPECT_TRUE(r.mmap.has_build_id);
  ASSERT_EQ(r.mmap.build_id.size(), 20u);
  EXPECT_EQ(std::memcmp(r.mmap.build_id.data(), id, 20), 0);
  EXPECT_EQ(r.mmap.filename, "/bin/x");
  EXPECT_EQ(r.mmap.prot, 5u);

  Builder shorter(PERF_RECORD_MMAP2, PERF_RECORD_MISC_MMAP_BUILD_ID);
  shorter.U32(1).U32(2).U64(0x1000).U64(0x3000).U64(0).U8(16).U8(0).U16(0).Bytes(id, 20);
  shorter.U32(5).U32(2).Str("/bin/x").U32(1).U32(2);
  WICK_ASSERT_OK(ParseRecord(shorter.Finish(), fmt, &r));
  EXPECT_EQ(r.mmap.build_id.size(), 16u);

  Builder bad(PERF_RECORD_MMAP2, PERF_RECORD_MISC_MMAP_BUILD_ID);
  bad.U32(1).U32(2).U64(0x1000).U64(0x3000).U64(0).U8(21).U8(0).U16(0).Bytes(id, 20);
  bad.U32(5).U32(2).Str("/bin/x").U32(1).U32(2);
  EXPECT_EQ(ParseRecord(bad.Finish(), fmt, &r).code(), absl::StatusCode::kInvalidArgument);
}

// The kernel leaves PERF_RECORD_MISC_MMAP_BUILD_ID set for events that did not ask
// (SampleFormat::mmap_build_id): such a record holds maj/min/ino.
TEST(ParseRecordTest, Mmap2BuildIdBitOfAnEventThatDidNotAsk) {
  SampleFormat fmt{PERF_SAMPLE_TID, 0, true, 0};
  fmt.mmap_build_id = false;
  Builder b(PERF_RECORD_MMAP2, PERF_RECORD_MISC_USER | PERF_RECORD_MISC_MMAP_BUILD_ID);
  b.U32(1).U32(2).U64(0x1000).U64(0x3000).U64(0);
  b.U32(254).U32(0).U64(123456).U64(7).U32(5).U32(2).Str("/bin/x").U32(1).U32(2);
  ParsedRecord r;
  WICK_ASSERT_OK(ParseRecord(b.Finish(), fmt, &r));
  EXPECT_FALSE(r.mmap.has_build_id);
  EXPECT_EQ(r.mmap.maj, 254u);
  EXPECT_EQ(r.mmap.ino, 123456u);
  EXPECT_EQ(r.mmap.filename, "/bin/x");
  // Read as a build-id (the default), its size byte says 254: not one.
  EXPECT_EQ(ParseRecord(b.Finish(), SampleFormat{PERF_SAMPLE_TID, 0, true, 0}, &r).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ParseRecordTest, KernelRecordNames) {
  EXPECT_STREQ(KernelRecordName(PERF_RECORD_MMAP2), "MMAP2");
  EXPECT_STREQ(KernelRecordName(PERF_RECORD_KSYMBOL), "KSYMBOL");
  EXPECT_EQ(KernelRecordName(PERF_RECORD_MAX), nullptr);
  EXPECT_TRUE(IsDecodedRecordType(PERF_RECORD_SWITCH_CPU_WIDE));
  EXPECT_FALSE(IsDecodedRecordType(PERF_RECORD_KSYMBOL));
}

TEST(ParseRecordTest, Comm) {
  SampleFormat fmt{kAllIds, 0, true, 0};
  Builder b(PERF_RECORD_COMM, PERF_RECORD_MISC_COMM_EXEC);
  b.U32(7).U32(8).Str("worker-1").SampleId(fmt.sample_type, kId);
  ParsedRecord r;
  WICK_ASSERT_OK(ParseRecord(b.Finish(), fmt, &r));
  EXPECT_EQ(r.comm.pid, 7u);
  EXPECT_EQ(r.comm.tid, 8u);
  EXPECT_EQ(r.comm.comm, "worker-1");
  EXPECT_TRUE(r.comm.exec);
  ExpectId(r);

  Builder rename(PERF_RECORD_COMM);
  rename.U32(7).U32(8).Str("x").SampleId(fmt.sample_type, kId);
  WICK_ASSERT_OK(ParseRecord(rename.Finish(), fmt, &r));
  EXPECT_EQ(r.comm.comm, "x");
  EXPECT_FALSE(r.comm.exec);
}

TEST(ParseRecordTest, ForkAndExit) {
  SampleFormat fmt{kAllIds, 0, true, 0};
  for (uint32_t type : {PERF_RECORD_FORK, PERF_RECORD_EXIT}) {
    Builder b(type);
    b.U32(20).U32(10).U32(21).U32(11).U64(5555).SampleId(fmt.sample_type, kId);
    ParsedRecord r;
    WICK_ASSERT_OK(ParseRecord(b.Finish(), fmt, &r));
    EXPECT_EQ(r.type, type);
    EXPECT_EQ(r.fork_exit.pid, 20u);
    EXPECT_EQ(r.fork_exit.ppid, 10u);
    EXPECT_EQ(r.fork_exit.tid, 21u);
    EXPECT_EQ(r.fork_exit.ptid, 11u);
    EXPECT_EQ(r.fork_exit.time, 5555u);
    ExpectId(r);
  }
}

TEST(ParseRecordTest, LostLostSamplesThrottle) {
  SampleFormat fmt{kAllIds, 0, true, 0};
  ParsedRecord r;
  Builder lost(PERF_RECORD_LOST);
  lost.U64(3).U64(1234).SampleId(fmt.sample_type, kId);
  WICK_ASSERT_OK(ParseRecord(lost.Finish(), fmt, &r));
  EXPECT_EQ(r.lost.id, 3u);
  EXPECT_EQ(r.lost.lost, 1234u);
  ExpectId(r);

  Builder ls(PERF_RECORD_LOST_SAMPLES);
  ls.U64(99).SampleId(fmt.sample_type, kId);
  WICK_ASSERT_OK(ParseRecord(ls.Finish(), fmt, &r));
  EXPECT_EQ(r.lost_samples.lost, 99u);
  ExpectId(r);

  for (uint32_t type : {PERF_RECORD_THROTTLE, PERF_RECORD_UNTHROTTLE}) {
    Builder t(type);
    t.U64(100).U64(5).U64(6).SampleId(fmt.sample_type, kId);
    WICK_ASSERT_OK(ParseRecord(t.Finish(), fmt, &r));
    EXPECT_EQ(r.type, type);
    EXPECT_EQ(r.throttle.time, 100u);
    EXPECT_EQ(r.throttle.id, 5u);
    EXPECT_EQ(r.throttle.stream_id, 6u);
    ExpectId(r);
  }
}

// PERF_RECORD_SWITCH (per-task) carries only the trailer; SWITCH_CPU_WIDE adds the other
// task. misc says in or out, and whether the task left the CPU runnable (preempted).
TEST(ParseRecordTest, SwitchAndSwitchCpuWide) {
  SampleFormat fmt{kAllIds, 0, true, 0};
  ParsedRecord r;
  Builder in(PERF_RECORD_SWITCH);
  in.SampleId(fmt.sample_type, kId);
  WICK_ASSERT_OK(ParseRecord(in.Finish(), fmt, &r));
  EXPECT_EQ(r.type, uint32_t{PERF_RECORD_SWITCH});
  EXPECT_FALSE(r.switch_.out);
  EXPECT_FALSE(r.switch_.preempt);
  EXPECT_EQ(r.switch_.next_prev_pid, 0u);
  ExpectId(r);

  Builder out(PERF_RECORD_SWITCH,
              PERF_RECORD_MISC_SWITCH_OUT | PERF_RECORD_MISC_SWITCH_OUT_PREEMPT);
  out.SampleId(fmt.sample_type, kId);
  WICK_ASSERT_OK(ParseRecord(out.Finish(), fmt, &r));
  EXPECT_TRUE(r.switch_.out);
  EXPECT_TRUE(r.switch_.preempt);
  ExpectId(r);

  Builder wide(PERF_RECORD_SWITCH_CPU_WIDE, PERF_RECORD_MISC_SWITCH_OUT);
  wide.U32(300).U32(301).SampleId(fmt.sample_type, kId);
  WICK_ASSERT_OK(ParseRecord(wide.Finish(), fmt, &r));
  EXPECT_EQ(r.type, uint32_t{PERF_RECORD_SWITCH_CPU_WIDE});
  EXPECT_TRUE(r.switch_.out);
  EXPECT_FALSE(r.switch_.preempt);
  EXPECT_EQ(r.switch_.next_prev_pid, 300u);
  EXPECT_EQ(r.switch_.next_prev_tid, 301u);
  ExpectId(r);

  // A CPU-wide record without its pid/tid before the trailer is malformed.
  Builder cut(PERF_RECORD_SWITCH_CPU_WIDE);
  cut.U32(300).SampleId(fmt.sample_type, kId);
  EXPECT_EQ(ParseRecord(cut.Finish(), fmt, &r).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ParseRecordTest, UnknownAndUndecodedTypesPassThrough) {
  SampleFormat fmt{PERF_SAMPLE_TID | PERF_SAMPLE_TIME, 0, true, 0};
  ParsedRecord r;
  Builder unknown(200);
  unknown.U64(1).U64(2).U64(3);
  WICK_ASSERT_OK(ParseRecord(unknown.Finish(), fmt, &r));
  EXPECT_EQ(r.type, 200u);
  EXPECT_EQ(r.payload.size(), 24u);
  EXPECT_FALSE(r.has_sample_id);

  // PERF_RECORD_SWITCH has no fields of its own, only the trailer.
  Builder sw(PERF_RECORD_SWITCH, PERF_RECORD_MISC_SWITCH_OUT);
  sw.U32(4).U32(5).U64(77);
  WICK_ASSERT_OK(ParseRecord(sw.Finish(), fmt, &r));
  EXPECT_EQ(r.type, uint32_t{PERF_RECORD_SWITCH});
  EXPECT_TRUE(r.has_sample_id);
  EXPECT_EQ(r.sample_id.pid, 4u);
  EXPECT_EQ(r.sample_id.time, 77u);
}

TEST(ParseRecordTest, MalformedHeaders) {
  SampleFormat fmt{PERF_SAMPLE_IP, 0, false, 0};
  ParsedRecord r;
  alignas(8) std::byte small[8] = {};
  EXPECT_EQ(ParseRecord(std::span(small, 4), fmt, &r).code(), absl::StatusCode::kInvalidArgument);

  Builder zero(PERF_RECORD_SAMPLE);
  zero.U64(1);
  EXPECT_EQ(ParseRecord(zero.Finish(0), fmt, &r).code(), absl::StatusCode::kInvalidArgument);

  // header.size lies: larger than the bytes we have.
  Builder lie(PERF_RECORD_SAMPLE);
  lie.U64(1);
  absl::Status s = ParseRecord(lie.Finish(64), fmt, &r);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(Msg(s).find("header.size"), std::string::npos) << s;

  // header.size smaller than the span: bytes beyond it are ignored, which truncates the IP.
  Builder shorter(PERF_RECORD_SAMPLE);
  shorter.U64(1);
  EXPECT_EQ(ParseRecord(shorter.Finish(8), fmt, &r).code(), absl::StatusCode::kInvalidArgument);
  Builder longer_span(PERF_RECORD_SAMPLE);
  longer_span.U64(0x1234).U64(0xffff);  // an extra word past header.size
  WICK_ASSERT_OK(ParseRecord(longer_span.Finish(16), fmt, &r));
  EXPECT_EQ(r.sample.ip, 0x1234u);

  // Leftover bytes in a SAMPLE mean the format does not match.
  Builder extra(PERF_RECORD_SAMPLE);
  extra.U64(1).U64(2);
  EXPECT_EQ(ParseRecord(extra.Finish(), fmt, &r).code(), absl::StatusCode::kInvalidArgument);

  // Misaligned input.
  Builder ok(PERF_RECORD_SAMPLE);
  ok.U64(1);
  auto rec = ok.Finish();
  std::vector<std::byte> shifted(rec.size() + 1);
  std::memcpy(shifted.data() + 1, rec.data(), rec.size());
  EXPECT_EQ(ParseRecord(std::span(shifted).subspan(1), fmt, &r).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ParseRecordTest, TruncatedNonSampleRecords) {
  SampleFormat fmt{kAllIds, 0, true, 0};
  ParsedRecord r;
  // Trailer alone needs 48 bytes.
  Builder tiny(PERF_RECORD_FORK);
  tiny.U64(1);
  EXPECT_EQ(ParseRecord(tiny.Finish(), fmt, &r).code(), absl::StatusCode::kInvalidArgument);
  // Fields missing before the trailer.
  Builder fork(PERF_RECORD_FORK);
  fork.U32(1).U32(2).SampleId(fmt.sample_type, kId);
  EXPECT_EQ(ParseRecord(fork.Finish(), fmt, &r).code(), absl::StatusCode::kInvalidArgument);
  Builder mmap2(PERF_RECORD_MMAP2);
  mmap2.U32(1).U32(2).U64(0).U64(0).U64(0).U32(1).SampleId(fmt.sample_type, kId);
  EXPECT_EQ(ParseRecord(mmap2.Finish(), fmt, &r).code(), absl::StatusCode::kInvalidArgument);
  Builder comm(PERF_RECORD_COMM);
  comm.U32(1).SampleId(fmt.sample_type, kId);
  EXPECT_EQ(ParseRecord(comm.Finish(), fmt, &r).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ParseRecordTest, DoesNotAllocate) {
  SampleFormat fmt{PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_CALLCHAIN, 0,
                   true, 0};
  Builder sample(PERF_RECORD_SAMPLE);
  sample.U64(1).U32(2).U32(3).U64(4).U64(2).U64(kContextUser).U64(0x1000);
  Builder mmap2(PERF_RECORD_MMAP2);
  mmap2.U32(1).U32(2).U64(0).U64(0).U64(0).U32(8).U32(1).U64(1).U64(1).U32(5).U32(2);
  mmap2.Str("/usr/lib/libc.so.6").U32(1).U32(2).U64(3);
  auto s = sample.Finish();
  auto m = mmap2.Finish();
  ParsedRecord r;
  testing::AllocationCounter counter;
  for (int i = 0; i < 100; ++i) {
    if (!ParseRecord(s, fmt, &r).ok()) break;
    if (!ParseRecord(m, fmt, &r).ok()) break;
  }
  EXPECT_EQ(counter.Count(), 0u);
  EXPECT_EQ(r.mmap.filename, "/usr/lib/libc.so.6");
}

// The seed corpus holds real records of this kernel (see record_kernel_test.cc): each must
// parse under the format it was captured with.
TEST(ParseRecordTest, RealKernelRecordsFromCorpus) {
  int files = 0;
  std::map<uint32_t, int> types;
  for (const auto& entry : std::filesystem::directory_iterator(WICK_RECORD_CORPUS)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_GT(bytes.size(), 9u + 8u) << entry.path();
    SampleFormat fmt;
    std::memcpy(&fmt.sample_type, bytes.data(), 8);
    fmt.sample_id_all = bytes[8] & 1;
    fmt.sample_regs_user = (1 << 6) | (1 << 7) | (1 << 8);
    std::vector<uint64_t> words((bytes.size() - 9 + 7) / 8);
    std::memcpy(words.data(), bytes.data() + 9, bytes.size() - 9);
    ParsedRecord r;
    absl::Status status =
        ParseRecord(std::as_bytes(std::span(words)).first(bytes.size() - 9), fmt, &r);
    EXPECT_TRUE(status.ok()) << entry.path() << ": " << status;
    ++types[r.type];
    if (r.type == PERF_RECORD_SAMPLE && (fmt.sample_type & PERF_SAMPLE_CALLCHAIN)) {
      ASSERT_FALSE(r.sample.callchain.empty());
      EXPECT_TRUE(IsContextMarker(r.sample.callchain[0]));
    }
    if (r.type != PERF_RECORD_SAMPLE) {
      EXPECT_TRUE(r.has_sample_id);
    }
    ++files;
  }
  EXPECT_GE(files, 5);
  for (uint32_t type : {PERF_RECORD_SAMPLE, PERF_RECORD_MMAP2, PERF_RECORD_COMM, PERF_RECORD_FORK,
                        PERF_RECORD_EXIT}) {
    EXPECT_GE(types[type], 1) << "no record of type " << type << " in the corpus";
  }
}

}  // namespace
}  // namespace wick
