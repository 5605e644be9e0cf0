#include "wick/record.h"

#include <bit>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "wick/byte_reader.h"

namespace wick {
namespace {

constexpr uint64_t kSampleIdBits = PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_ID |
                                   PERF_SAMPLE_STREAM_ID | PERF_SAMPLE_CPU | PERF_SAMPLE_IDENTIFIER;

const char* SampleBitName(uint64_t bit) {
  switch (bit) {
    case PERF_SAMPLE_BRANCH_STACK:
      return "PERF_SAMPLE_BRANCH_STACK";
    case PERF_SAMPLE_REGS_INTR:
      return "PERF_SAMPLE_REGS_INTR";
    case PERF_SAMPLE_AUX:
      return "PERF_SAMPLE_AUX";
    default:
      return "an unknown sample_type bit";
  }
}

const char* RecordName(uint32_t type) {
  const char* name = KernelRecordName(type);
  return name != nullptr ? name : "record";
}

absl::Status Truncated(uint32_t type, const char* field) {
  return absl::InvalidArgumentError(
      absl::StrCat("PERF_RECORD_", RecordName(type), ": truncated at ", field));
}

absl::Status Bad(uint32_t type, const char* what) {
  return absl::InvalidArgumentError(absl::StrCat("PERF_RECORD_", RecordName(type), ": ", what));
}

// `count` u64 words as a typed span. Record starts are 8-byte aligned and every field
// before an array is a multiple of 8 bytes (checked where the kernel pads), so the span is
// aligned; the check keeps that an invariant rather than a hope.
bool ReadWords(ByteReader* r, uint64_t count, std::span<const uint64_t>* out) {
  std::span<const std::byte> bytes;
  if (!r->ReadArray<uint64_t>(count, &bytes)) return false;
  if (reinterpret_cast<uintptr_t>(bytes.data()) % alignof(uint64_t) != 0) {
    r->Fail();
    return false;
  }
  *out = AsSpanOf<uint64_t>(bytes);
  return true;
}

size_t SampleIdSize(const SampleFormat& fmt) {
  return fmt.sample_id_all ? 8 * std::popcount(fmt.sample_type & kSampleIdBits) : 0;
}

// The sample_id trailer, in the kernel's order (__perf_event_header__init_id).
bool ParseSampleId(std::span<const std::byte> bytes, uint64_t st, SampleId* id) {
  ByteReader r(bytes);
  // A failed read leaves the reader failed, so one ok() check at the end covers them all.
  if (st & PERF_SAMPLE_TID) r.Read(&id->pid) && r.Read(&id->tid);
  if (st & PERF_SAMPLE_TIME) r.Read(&id->time);
  if (st & PERF_SAMPLE_ID) r.Read(&id->id);
  if (st & PERF_SAMPLE_STREAM_ID) r.Read(&id->stream_id);
  if (st & PERF_SAMPLE_CPU) r.Read(&id->cpu) && r.Read(&id->res);
  if (st & PERF_SAMPLE_IDENTIFIER) r.Read(&id->identifier);
  return r.ok();
}

absl::Status ParseRead(ByteReader* r, uint64_t read_format, ReadValues* v) {
  constexpr uint32_t kType = PERF_RECORD_SAMPLE;
  const bool enabled = read_format & PERF_FORMAT_TOTAL_TIME_ENABLED;
  const bool running = read_format & PERF_FORMAT_TOTAL_TIME_RUNNING;
  const bool id = read_format & PERF_FORMAT_ID;
  const bool lost = read_format & PERF_FORMAT_LOST;
  if (read_format & PERF_FORMAT_GROUP) {
    if (!r->Read(&v->nr)) return Truncated(kType, "READ nr");
    if (enabled && !r->Read(&v->time_enabled)) return Truncated(kType, "READ time_enabled");
    if (running && !r->Read(&v->time_running)) return Truncated(kType, "READ time_running");
    v->entry_words = 1 + id + lost;
    if (v->nr > r->remaining() / (8 * v->entry_words)) return Bad(kType, "READ nr too large");
    if (!ReadWords(r, v->nr * v->entry_words, &v->group)) return Truncated(kType, "READ values");
  } else {
    v->nr = 1;
    if (!r->Read(&v->value)) return Truncated(kType, "READ value");
    if (enabled && !r->Read(&v->time_enabled)) return Truncated(kType, "READ time_enabled");
    if (running && !r->Read(&v->time_running)) return Truncated(kType, "READ time_running");
    if (id && !r->Read(&v->id)) return Truncated(kType, "READ id");
    if (lost && !r->Read(&v->lost)) return Truncated(kType, "READ lost");
  }
  return absl::OkStatus();
}

// Fields in the order of perf_output_sample() (kernel/events/core.c).
absl::Status ParseSample(std::span<const std::byte> body, const SampleFormat& fmt,
                         SampleRecord* s) {
  constexpr uint32_t kType = PERF_RECORD_SAMPLE;
  const uint64_t st = fmt.sample_type;
  ByteReader r(body);
  auto u64 = [&](uint64_t bit, uint64_t* field) { return !(st & bit) || r.Read(field); };
  if (!u64(PERF_SAMPLE_IDENTIFIER, &s->identifier)) return Truncated(kType, "IDENTIFIER");
  if (!u64(PERF_SAMPLE_IP, &s->ip)) return Truncated(kType, "IP");
  if ((st & PERF_SAMPLE_TID) && !(r.Read(&s->pid) && r.Read(&s->tid))) {
    return Truncated(kType, "TID");
  }
  if (!u64(PERF_SAMPLE_TIME, &s->time)) return Truncated(kType, "TIME");
  if (!u64(PERF_SAMPLE_ADDR, &s->addr)) return Truncated(kType, "ADDR");
  if (!u64(PERF_SAMPLE_ID, &s->id)) return Truncated(kType, "ID");
  if (!u64(PERF_SAMPLE_STREAM_ID, &s->stream_id)) return Truncated(kType, "STREAM_ID");
  if ((st & PERF_SAMPLE_CPU) && !(r.Read(&s->cpu) && r.Read(&s->res))) {
    return Truncated(kType, "CPU");
  }
  if (!u64(PERF_SAMPLE_PERIOD, &s->period)) return Truncated(kType, "PERIOD");
  if (st & PERF_SAMPLE_READ) {
    absl::Status status = ParseRead(&r, fmt.read_format, &s->read);
    if (!status.ok()) return status;
  }
  if (st & PERF_SAMPLE_CALLCHAIN) {
    uint64_t nr;
    if (!r.Read(&nr)) return Truncated(kType, "CALLCHAIN nr");
    if (nr > r.remaining() / 8) return Bad(kType, "CALLCHAIN nr larger than the record");
    if (!ReadWords(&r, nr, &s->callchain)) return Truncated(kType, "CALLCHAIN ips");
  }
  if (st & PERF_SAMPLE_RAW) {
    uint32_t size;
    if (!r.Read(&size)) return Truncated(kType, "RAW size");
    // The kernel pads the data so that size field + data is a multiple of u64.
    if ((uint64_t{size} + 4) % 8 != 0) return Bad(kType, "RAW size not u64-padded");
    if (!r.ReadBytes(size, &s->raw)) return Truncated(kType, "RAW data");
  }
  if (st & PERF_SAMPLE_REGS_USER) {
    if (!r.Read(&s->regs_user_abi)) return Truncated(kType, "REGS_USER abi");
    if (s->regs_user_abi > PERF_SAMPLE_REGS_ABI_64) return Bad(kType, "REGS_USER abi unknown");
    if (s->regs_user_abi != PERF_SAMPLE_REGS_ABI_NONE &&
        !ReadWords(&r, std::popcount(fmt.sample_regs_user), &s->regs_user)) {
      return Truncated(kType, "REGS_USER regs");
    }
  }
  if (st & PERF_SAMPLE_STACK_USER) {
    uint64_t size;
    if (!r.Read(&size)) return Truncated(kType, "STACK_USER size");
    // size 0 (no user regs, e.g. a kernel thread; or a copy the sample had no room for)
    // has no data and no dyn_size.
    if (size != 0) {
      if (size % 8 != 0) return Bad(kType, "STACK_USER size not a multiple of 8");
      if (!r.ReadBytes(size, &s->stack_user)) return Truncated(kType, "STACK_USER data");
      if (!r.Read(&s->stack_user_dyn_size)) return Truncated(kType, "STACK_USER dyn_size");
      if (s->stack_user_dyn_size > size) return Bad(kType, "STACK_USER dyn_size > size");
    }
  }
  if (!u64(PERF_SAMPLE_WEIGHT | PERF_SAMPLE_WEIGHT_STRUCT, &s->weight)) {
    return Truncated(kType, "WEIGHT");
  }
  if (!u64(PERF_SAMPLE_DATA_SRC, &s->data_src)) return Truncated(kType, "DATA_SRC");
  if (!u64(PERF_SAMPLE_TRANSACTION, &s->transaction)) return Truncated(kType, "TRANSACTION");
  if (!u64(PERF_SAMPLE_PHYS_ADDR, &s->phys_addr)) return Truncated(kType, "PHYS_ADDR");
  if (!u64(PERF_SAMPLE_CGROUP, &s->cgroup)) return Truncated(kType, "CGROUP");
  if (!u64(PERF_SAMPLE_DATA_PAGE_SIZE, &s->data_page_size)) {
    return Truncated(kType, "DATA_PAGE_SIZE");
  }
  if (!u64(PERF_SAMPLE_CODE_PAGE_SIZE, &s->code_page_size)) {
    return Truncated(kType, "CODE_PAGE_SIZE");
  }
  // The kernel sizes a sample exactly; leftover bytes mean fmt is not the event's format.
  if (r.remaining() != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("PERF_RECORD_SAMPLE: ", r.remaining(),
                     " bytes after the last field (sample_type does not match the event?)"));
  }
  return absl::OkStatus();
}

absl::Status ParseMmap(ByteReader* r, uint32_t type, uint16_t misc, bool build_id_bit,
                       MmapRecord* m) {
  if (!(r->Read(&m->pid) && r->Read(&m->tid) && r->Read(&m->addr) && r->Read(&m->len) &&
        r->Read(&m->pgoff))) {
    return Truncated(type, "pid/tid/addr/len/pgoff");
  }
  if (type == PERF_RECORD_MMAP2) {
    if ((misc & PERF_RECORD_MISC_MMAP_BUILD_ID) && build_id_bit) {
      uint8_t build_id_size, reserved_1;
      uint16_t reserved_2;
      std::span<const std::byte> build_id;
      if (!(r->Read(&build_id_size) && r->Read(&reserved_1) && r->Read(&reserved_2) &&
            r->ReadBytes(20, &build_id))) {
        return Truncated(type, "build_id");
      }
      if (build_id_size > 20) return Bad(type, "build_id_size > 20");
      m->has_build_id = true;
      m->build_id = build_id.first(build_id_size);
    } else if (!(r->Read(&m->maj) && r->Read(&m->min) && r->Read(&m->ino) &&
                 r->Read(&m->ino_generation))) {
      return Truncated(type, "maj/min/ino/ino_generation");
    }
    if (!(r->Read(&m->prot) && r->Read(&m->flags))) return Truncated(type, "prot/flags");
  }
  // The filename is NUL-terminated and padded up to the sample_id trailer.
  if (!r->ReadString(r->remaining(), &m->filename)) return Truncated(type, "filename");
  return absl::OkStatus();
}

absl::Status ParseFields(uint32_t type, uint16_t misc, const SampleFormat& fmt,
                         std::span<const std::byte> fields, ParsedRecord* out) {
  ByteReader r(fields);
  switch (type) {
    case PERF_RECORD_MMAP:
    case PERF_RECORD_MMAP2:
      return ParseMmap(&r, type, misc, fmt.mmap_build_id, &out->mmap);
    case PERF_RECORD_COMM: {
      CommRecord& c = out->comm;
      if (!(r.Read(&c.pid) && r.Read(&c.tid))) return Truncated(type, "pid/tid");
      if (!r.ReadString(r.remaining(), &c.comm)) return Truncated(type, "comm");
      c.exec = (misc & PERF_RECORD_MISC_COMM_EXEC) != 0;
      return absl::OkStatus();
    }
    case PERF_RECORD_FORK:
    case PERF_RECORD_EXIT: {
      ForkExitRecord& f = out->fork_exit;
      if (!(r.Read(&f.pid) && r.Read(&f.ppid) && r.Read(&f.tid) && r.Read(&f.ptid) &&
            r.Read(&f.time))) {
        return Truncated(type, "pid/ppid/tid/ptid/time");
      }
      return absl::OkStatus();
    }
    case PERF_RECORD_LOST:
      if (!(r.Read(&out->lost.id) && r.Read(&out->lost.lost))) return Truncated(type, "id/lost");
      return absl::OkStatus();
    case PERF_RECORD_LOST_SAMPLES:
      if (!r.Read(&out->lost_samples.lost)) return Truncated(type, "lost");
      return absl::OkStatus();
    case PERF_RECORD_THROTTLE:
    case PERF_RECORD_UNTHROTTLE: {
      ThrottleRecord& t = out->throttle;
      if (!(r.Read(&t.time) && r.Read(&t.id) && r.Read(&t.stream_id))) {
        return Truncated(type, "time/id/stream_id");
      }
      return absl::OkStatus();
    }
    case PERF_RECORD_SWITCH:
    case PERF_RECORD_SWITCH_CPU_WIDE: {
      SwitchRecord& s = out->switch_;
      s.out = (misc & PERF_RECORD_MISC_SWITCH_OUT) != 0;
      s.preempt = (misc & PERF_RECORD_MISC_SWITCH_OUT_PREEMPT) != 0;
      if (type == PERF_RECORD_SWITCH_CPU_WIDE &&
          !(r.Read(&s.next_prev_pid) && r.Read(&s.next_prev_tid))) {
        return Truncated(type, "next_prev_pid/next_prev_tid");
      }
      return absl::OkStatus();
    }
    default:
      return absl::OkStatus();
  }
}

}  // namespace

const char* KernelRecordName(uint32_t type) {
  switch (type) {
    case PERF_RECORD_MMAP:
      return "MMAP";
    case PERF_RECORD_LOST:
      return "LOST";
    case PERF_RECORD_COMM:
      return "COMM";
    case PERF_RECORD_EXIT:
      return "EXIT";
    case PERF_RECORD_THROTTLE:
      return "THROTTLE";
    case PERF_RECORD_UNTHROTTLE:
      return "UNTHROTTLE";
    case PERF_RECORD_FORK:
      return "FORK";
    case PERF_RECORD_READ:
      return "READ";
    case PERF_RECORD_SAMPLE:
      return "SAMPLE";
    case PERF_RECORD_MMAP2:
      return "MMAP2";
    case PERF_RECORD_AUX:
      return "AUX";
    case PERF_RECORD_ITRACE_START:
      return "ITRACE_START";
    case PERF_RECORD_LOST_SAMPLES:
      return "LOST_SAMPLES";
    case PERF_RECORD_SWITCH:
      return "SWITCH";
    case PERF_RECORD_SWITCH_CPU_WIDE:
      return "SWITCH_CPU_WIDE";
    case PERF_RECORD_NAMESPACES:
      return "NAMESPACES";
    case PERF_RECORD_KSYMBOL:
      return "KSYMBOL";
    case PERF_RECORD_BPF_EVENT:
      return "BPF_EVENT";
    case PERF_RECORD_CGROUP:
      return "CGROUP";
    case PERF_RECORD_TEXT_POKE:
      return "TEXT_POKE";
    case PERF_RECORD_AUX_OUTPUT_HW_ID:
      return "AUX_OUTPUT_HW_ID";
    default:
      return nullptr;
  }
}

bool IsDecodedRecordType(uint32_t type) {
  switch (type) {
    case PERF_RECORD_SAMPLE:
    case PERF_RECORD_MMAP:
    case PERF_RECORD_MMAP2:
    case PERF_RECORD_COMM:
    case PERF_RECORD_FORK:
    case PERF_RECORD_EXIT:
    case PERF_RECORD_LOST:
    case PERF_RECORD_LOST_SAMPLES:
    case PERF_RECORD_THROTTLE:
    case PERF_RECORD_UNTHROTTLE:
    case PERF_RECORD_SWITCH:
    case PERF_RECORD_SWITCH_CPU_WIDE:
      return true;
    default:
      return false;
  }
}

absl::Status ValidateSampleFormat(const SampleFormat& fmt) {
  if (uint64_t extra = fmt.sample_type & ~kSupportedSampleType; extra != 0) {
    uint64_t bit = extra & -extra;
    return absl::UnimplementedError(absl::StrCat("sample_type 0x", absl::Hex(fmt.sample_type),
                                                 ": wick cannot decode ", SampleBitName(bit),
                                                 " (bit 0x", absl::Hex(bit), ")"));
  }
  if ((fmt.sample_type & PERF_SAMPLE_READ) && (fmt.read_format & ~kSupportedReadFormat) != 0) {
    return absl::UnimplementedError(
        absl::StrCat("read_format 0x", absl::Hex(fmt.read_format), ": wick cannot decode bit 0x",
                     absl::Hex(fmt.read_format & ~kSupportedReadFormat)));
  }
  return absl::OkStatus();
}

absl::Status ParseRecord(std::span<const std::byte> record, const SampleFormat& fmt,
                         ParsedRecord* out) {
  *out = ParsedRecord();
  perf_event_header header;
  if (record.size() < sizeof(header)) {
    return absl::InvalidArgumentError(
        absl::StrCat("record of ", record.size(), " bytes is shorter than its header"));
  }
  if (reinterpret_cast<uintptr_t>(record.data()) % alignof(uint64_t) != 0) {
    return absl::InvalidArgumentError("record is not 8-byte aligned");
  }
  std::memcpy(&header, record.data(), sizeof(header));
  if (header.size < sizeof(header)) {
    return absl::InvalidArgumentError(
        absl::StrCat("record header.size ", header.size, " is smaller than the header"));
  }
  if (header.size > record.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "record header.size ", header.size, " exceeds the ", record.size(), " bytes available"));
  }
  out->type = header.type;
  out->misc = header.misc;
  out->size = header.size;
  std::span<const std::byte> body = record.subspan(sizeof(header), header.size - sizeof(header));
  out->payload = body;
  if (header.type == PERF_RECORD_SAMPLE) return ParseSample(body, fmt, &out->sample);
  // Every other record the kernel defines ends with the sample_id trailer when sample_id_all
  // is set (perf_event__output_id_sample); types from newer kernels are passed through as-is.
  if (header.type >= PERF_RECORD_MAX) return absl::OkStatus();
  size_t trailer = SampleIdSize(fmt);
  if (body.size() < trailer) return Bad(header.type, "too short for its sample_id trailer");
  if (fmt.sample_id_all) {
    out->has_sample_id = ParseSampleId(body.last(trailer), fmt.sample_type, &out->sample_id);
  }
  return ParseFields(header.type, header.misc, fmt, body.first(body.size() - trailer), out);
}

}  // namespace wick
