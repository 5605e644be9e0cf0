// libFuzzer target for ParseRecord. Input: u64 sample_type (masked to the supported bits),
// u8 flags (bit 0: sample_id_all; bits 1-5: read_format), then the record bytes. The seed
// corpus (corpus/) holds real records of this kernel, written by record_kernel_test with
// WICK_DUMP_RECORDS=<dir>.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "wick/record.h"

namespace {

// x86_64 BP, SP, IP: what record_kernel_test's REGS_USER samples were opened with.
constexpr uint64_t kRegsMask = (1 << 6) | (1 << 7) | (1 << 8);

volatile uint64_t sink;

void Touch(std::span<const std::byte> bytes) {
  uint64_t sum = 0;
  for (std::byte b : bytes) sum += static_cast<uint8_t>(b);
  sink = sum;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 9) return 0;
  wick::SampleFormat fmt;
  std::memcpy(&fmt.sample_type, data, 8);
  fmt.sample_type &= wick::kSupportedSampleType;
  if ((fmt.sample_type & PERF_SAMPLE_WEIGHT) && (fmt.sample_type & PERF_SAMPLE_WEIGHT_STRUCT)) {
    fmt.sample_type &= ~uint64_t{PERF_SAMPLE_WEIGHT_STRUCT};
  }
  fmt.sample_id_all = data[8] & 1;
  fmt.read_format = (data[8] >> 1) & wick::kSupportedReadFormat;
  fmt.sample_regs_user = kRegsMask;
  if (!wick::ValidateSampleFormat(fmt).ok()) __builtin_trap();

  // Records come 8-byte aligned from the ring buffer; give the parser the same.
  std::vector<uint64_t> words((size - 9 + 7) / 8);
  if (size > 9) std::memcpy(words.data(), data + 9, size - 9);
  auto record = std::as_bytes(std::span(words)).first(size - 9);

  wick::ParsedRecord r;
  if (!wick::ParseRecord(record, fmt, &r).ok()) return 0;
  // Every span must lie inside the record; touching them lets ASan check that.
  auto inside = [&](std::span<const std::byte> s) {
    if (s.empty()) return;
    if (s.data() < record.data() || s.data() + s.size() > record.data() + r.size) {
      __builtin_trap();
    }
    Touch(s);
  };
  inside(r.payload);
  inside(std::as_bytes(r.sample.callchain));
  inside(std::as_bytes(r.sample.read.group));
  inside(r.sample.raw);
  inside(std::as_bytes(r.sample.regs_user));
  inside(r.sample.stack_user);
  inside(r.mmap.build_id);
  inside(std::as_bytes(std::span(r.mmap.filename.data(), r.mmap.filename.size())));
  inside(std::as_bytes(std::span(r.comm.comm.data(), r.comm.comm.size())));
  if (r.sample.stack_user_dyn_size > r.sample.stack_user.size()) __builtin_trap();
  if (r.sample.read.group.size() != r.sample.read.nr * r.sample.read.entry_words &&
      (fmt.read_format & PERF_FORMAT_GROUP) && r.type == PERF_RECORD_SAMPLE) {
    __builtin_trap();
  }
  for (uint64_t ip : r.sample.callchain) {
    if (wick::IsContextMarker(ip)) sink = static_cast<uint64_t>(wick::ClassifyContextMarker(ip));
  }
  return 0;
}
