// Recording reader: validates the header, then walks checksummed chunks (format.h) until the
// END chunk. A short or corrupt chunk ends the walk without an error; what came before it
// is returned with complete=false. Every count is bounded by the bytes that remain before
// any memory is reserved for it, and ids are checked so later users can index tables.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "format.h"
#include "wick/byte_reader.h"
#include "wick/recording.h"
#include "wick/scoped.h"
#include "wick/status.h"

namespace wick {
namespace {

namespace fmt = recording_format;

bool ReadStr(ByteReader& r, std::string* out) {
  uint32_t len = 0;
  std::span<const std::byte> bytes;
  if (!r.Read(&len) || !r.ReadBytes(len, &bytes)) return false;
  out->assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  return true;
}

// Reads a u32 count of entries at least `min_size` bytes each; fails if they cannot fit.
bool ReadCount(ByteReader& r, size_t min_size, uint32_t* n) {
  if (!r.Read(n)) return false;
  if (static_cast<uint64_t>(*n) * min_size > r.remaining()) {
    r.Fail();
    return false;
  }
  return true;
}

class Parser {
 public:
  Parser(std::span<const std::byte> data, std::string_view name) : data_(data), name_(name) {}

  absl::StatusOr<Recording> Parse() {
    if (data_.empty()) {
      return Error("empty file (0 bytes); the recording never started");
    }
    const size_t magic_len = std::min(data_.size(), sizeof(fmt::kMagic));
    if (std::memcmp(data_.data(), fmt::kMagic, magic_len) != 0) {
      return Error("not a wick recording (bad magic)");
    }
    ByteReader r(data_);
    uint32_t version = 0;
    uint32_t header_size = 0;
    if (!r.Skip(sizeof(fmt::kMagic)) || !r.Read(&version)) {
      return CutShort(0, "the file header is incomplete");
    }
    if (version == 0) return Error("format version 0 is not valid (corrupt header)");
    if (version > kRecordingVersion) {
      return Error(absl::StrCat("format version ", version,
                                " is newer than this wick understands (", kRecordingVersion,
                                "); upgrade wick"));
    }
    rec_.version = version;
    if (!r.Read(&header_size) || header_size > data_.size()) {
      return CutShort(0, "the file header is incomplete");
    }
    if (header_size < fmt::kMinHeaderSize) {
      return Error(absl::StrCat("header size ", header_size, " is too small (corrupt header)"));
    }

    size_t pos = header_size;
    while (true) {
      const size_t left = data_.size() - pos;
      if (left < fmt::kChunkHeaderSize) return CutShort(pos, "");
      ByteReader h(data_.subspan(pos, fmt::kChunkHeaderSize));
      uint32_t type = 0;
      uint32_t crc = 0;
      uint64_t size = 0;
      h.Read(&type);
      h.Read(&crc);
      h.Read(&size);
      if (size > left - fmt::kChunkHeaderSize) return CutShort(pos, "");
      std::span<const std::byte> payload = data_.subspan(pos + fmt::kChunkHeaderSize, size);
      if (fmt::ChunkCrc(type, size, payload) != crc) {
        return CutShort(pos, absl::StrCat("the chunk at offset ", pos, " fails its checksum"));
      }
      // A chunk whose checksum holds but whose payload does not parse came from a broken
      // writer rather than a torn write; stop there the same way.
      if (!ParseChunk(type, payload)) {
        return CutShort(
            pos, absl::StrCat("the chunk at offset ", pos, " (type ", type, ") is malformed"));
      }
      pos += fmt::kChunkHeaderSize + size;
      if (type == fmt::kChunkEnd) {
        rec_.complete = true;
        Finalize();
        return std::move(rec_);
      }
    }
  }

 private:
  absl::Status Error(std::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(Sv(name_), ": ", Sv(what)));
  }

  // The file stops (or stops making sense) at `good_end`: return what came before.
  Recording CutShort(size_t good_end, std::string_view why) {
    Finalize();
    uint64_t samples = 0;
    for (const RecordedStack& s : rec_.stacks) samples += s.count;
    const size_t bad = data_.size() - good_end;
    std::string note =
        absl::StrCat("cut short after ", good_end, " of ", data_.size(), " bytes: recovered ",
                     rec_.stacks.size(), " stacks, ", samples, " samples; ");
    if (!rec_.trace_samples.empty()) {
      note.insert(note.size() - 2, absl::StrCat(", ", rec_.trace_samples.size(), " trace events"));
    }
    if (!why.empty()) {
      absl::StrAppend(&note, Sv(why), "; the last ", bad, " bytes were not used");
    } else if (bad > 0) {
      absl::StrAppend(&note, "the last ", bad, " bytes were incomplete");
    } else {
      absl::StrAppend(&note,
                      "no end chunk (wick was killed, or the disk filled, before it finished)");
    }
    rec_.complete = false;
    rec_.truncation_note = std::move(note);
    return std::move(rec_);
  }

  bool ParseChunk(uint32_t type, std::span<const std::byte> payload) {
    ByteReader r(payload);
    switch (type) {
      case fmt::kChunkMeta:
        return ParseMeta(r);
      case fmt::kChunkData:
        return ParseData(r);
      case fmt::kChunkKernelSymbols:
      case fmt::kChunkKernelSymbolsAdded:
        return ParseKernelSymbols(r);
      case fmt::kChunkStats:
        return ParseStats(r);
      case fmt::kChunkJitSymbols:
        return ParseJitSymbols(r);
      case fmt::kChunkBinarySymbols:
        return ParseBinarySymbols(r);
      case fmt::kChunkEventTypes:
        return ParseEventTypes(r);
      case fmt::kChunkTraceSamples:
        return ParseTraceSamples(r);
      case fmt::kChunkEnd:
        return r.Read(&rec_.meta.duration_ns);
      default:
        return true;  // a chunk type from a later writer: skip it
    }
  }

  bool ParseMeta(ByteReader& r) {
    RecordingMeta m;
    if (!r.Read(&m.sample_period) || !r.Read(&m.sample_freq) || !r.Read(&m.start_time_ns) ||
        !ReadStr(r, &m.command_line) || !ReadStr(r, &m.event) || !ReadStr(r, &m.hostname) ||
        !ReadStr(r, &m.kernel_release)) {
      return false;
    }
    // Added after version 2's first files: absent there. Bytes that do not read as one are
    // a later extension's, not damage (the chunk's crc32 passed).
    if (r.remaining() > 0) {
      ByteReader rest(r.Rest());
      if (!ReadStr(rest, &m.boot_id)) m.boot_id.clear();
    }
    m.duration_ns = rec_.meta.duration_ns;
    rec_.meta = std::move(m);
    return true;
  }

  // Definitions must come in id order (id == table size); anything else is counted and
  // dropped rather than trusted to size a table.
  bool ParseData(ByteReader& r) {
    uint32_t n = 0;
    if (!ReadCount(r, fmt::kMinBinarySize, &n)) return false;
    for (uint32_t i = 0; i < n; ++i) {
      RecordedBinary b;
      if (!r.Read(&b.id) || !ReadStr(r, &b.build_id) || !ReadStr(r, &b.path)) return false;
      if (b.id != rec_.binaries.size()) {
        ++rec_.invalid_items;
        continue;
      }
      rec_.binaries.push_back(std::move(b));
    }
    if (!ReadCount(r, fmt::kMinCommSize, &n)) return false;
    for (uint32_t i = 0; i < n; ++i) {
      RecordedComm c;
      if (!r.Read(&c.id) || !ReadStr(r, &c.name)) return false;
      if (c.id != rec_.comms.size()) {
        ++rec_.invalid_items;
        continue;
      }
      rec_.comms.push_back(std::move(c));
    }
    // Version 1 stacks have no pid and tid (they stay 0), versions 1 and 2 no event (0) nor
    // weight (0).
    const bool has_thread = rec_.version >= 2;
    const bool has_event = rec_.version >= 3;
    const size_t min_stack = has_event    ? fmt::kMinStackSize
                             : has_thread ? fmt::kMinStackSizeV2
                                          : fmt::kMinStackSizeV1;
    if (!ReadCount(r, min_stack, &n)) return false;
    for (uint32_t i = 0; i < n; ++i) {
      RecordedStack s;
      uint32_t n_frames = 0;
      if (!r.Read(&s.id) || (has_event && !r.Read(&s.event)) || !r.Read(&s.comm) ||
          (has_thread && (!r.Read(&s.pid) || !r.Read(&s.tid))) ||
          !ReadCount(r, fmt::kFrameSize, &n_frames)) {
        return false;
      }
      s.frames.resize(n_frames);
      for (Frame& f : s.frames) {
        uint32_t kind = 0;
        r.Read(&f.value);
        r.Read(&f.binary);
        r.Read(&kind);
        f.kind = static_cast<FrameKind>(kind);  // checked in Finalize()
      }
      if (!r.ok()) return false;
      if (s.id != rec_.stacks.size()) {
        ++rec_.invalid_items;
        continue;
      }
      rec_.stacks.push_back(std::move(s));
    }
    if (!ReadCount(r, has_event ? fmt::kCountSize : fmt::kCountSizeV2, &n)) return false;
    for (uint32_t i = 0; i < n; ++i) {
      uint32_t id = 0;
      uint64_t delta = 0, weight = 0;
      if (!r.Read(&id) || !r.Read(&delta) || (has_event && !r.Read(&weight))) return false;
      if (id >= rec_.stacks.size()) {
        ++rec_.invalid_items;
        continue;
      }
      rec_.stacks[id].count += delta;
      rec_.stacks[id].weight += weight;
    }
    return true;
  }

  bool ParseKernelSymbols(ByteReader& r) {
    uint32_t n = 0;
    if (!ReadCount(r, fmt::kMinKernelSymbolSize, &n)) return false;
    std::vector<KernelSymbol> symbols;
    symbols.reserve(n);
    for (uint32_t i = 0; i < n; ++i) {
      KernelSymbol s;
      if (!r.Read(&s.address) || !r.Read(&s.size) || !ReadStr(r, &s.name) ||
          !ReadStr(r, &s.module)) {
        return false;
      }
      symbols.push_back(std::move(s));
    }
    // Flush-time chunks and Finish()'s full table accumulate; duplicates go at the end.
    rec_.kernel_symbols.insert(rec_.kernel_symbols.end(), std::make_move_iterator(symbols.begin()),
                               std::make_move_iterator(symbols.end()));
    return true;
  }

  // Several chunks accumulate (a writer may split a large table).
  bool ParseJitSymbols(ByteReader& r) {
    uint32_t n = 0;
    if (!ReadCount(r, fmt::kMinJitSymbolSize, &n)) return false;
    std::vector<JitSymbol> symbols;
    symbols.reserve(n);
    for (uint32_t i = 0; i < n; ++i) {
      JitSymbol s;
      if (!r.Read(&s.pid) || !r.Read(&s.start) || !r.Read(&s.size) || !ReadStr(r, &s.name)) {
        return false;
      }
      symbols.push_back(std::move(s));
    }
    rec_.jit_symbols.insert(rec_.jit_symbols.end(), std::make_move_iterator(symbols.begin()),
                            std::make_move_iterator(symbols.end()));
    return true;
  }

  bool ParseBinarySymbols(ByteReader& r) {
    uint32_t binary = 0, n = 0;
    if (!r.Read(&binary) || !ReadCount(r, fmt::kMinFileSymbolSize, &n)) return false;
    std::vector<FileSymbol> symbols;
    symbols.reserve(n);
    for (uint32_t i = 0; i < n; ++i) {
      FileSymbol s;
      if (!r.Read(&s.offset) || !r.Read(&s.size) || !ReadStr(r, &s.name)) return false;
      symbols.push_back(std::move(s));
    }
    if (binary >= rec_.binaries.size()) {
      ++rec_.invalid_items;  // written before its binary: a writer bug, not file damage
      return true;
    }
    std::sort(symbols.begin(), symbols.end(),
              [](const FileSymbol& a, const FileSymbol& b) { return a.offset < b.offset; });
    rec_.binary_symbols.push_back({binary, std::move(symbols)});
    return true;
  }

  bool ParseEventTypes(ByteReader& r) {
    uint32_t n = 0;
    if (!ReadCount(r, fmt::kMinEventTypeSize, &n)) return false;
    for (uint32_t i = 0; i < n; ++i) {
      RecordedEventType t;
      if (!r.Read(&t.id) || !ReadStr(r, &t.name) || !ReadStr(r, &t.format)) return false;
      if (t.id != rec_.event_types.size()) {
        ++rec_.invalid_items;
        continue;
      }
      rec_.event_types.push_back(std::move(t));
    }
    return true;
  }

  // Every id a sample names must be defined already (the writer puts DATA and EVENT_TYPES
  // before TRACE_SAMPLES in each flush); a sample naming anything else is dropped.
  bool ParseTraceSamples(ByteReader& r) {
    uint32_t n = 0;
    if (!ReadCount(r, fmt::kMinTraceSampleSize, &n)) return false;
    rec_.trace_samples.reserve(rec_.trace_samples.size() + n);
    for (uint32_t i = 0; i < n; ++i) {
      RecordedTraceSample t;
      if (!r.Read(&t.time) || !r.Read(&t.cpu) || !r.Read(&t.pid) || !r.Read(&t.tid) ||
          !r.Read(&t.comm) || !r.Read(&t.event_type) || !r.Read(&t.stack) || !ReadStr(r, &t.raw)) {
        return false;
      }
      if (t.event_type >= rec_.event_types.size() || t.comm >= rec_.comms.size() ||
          (t.stack != kNoStack && t.stack >= rec_.stacks.size())) {
        ++rec_.invalid_items;
        continue;
      }
      rec_.trace_samples.push_back(std::move(t));
    }
    return true;
  }

  bool ParseStats(ByteReader& r) {
    uint32_t n = 0;
    if (!ReadCount(r, fmt::kMinStatSize, &n)) return false;
    Stats stats;
    for (uint32_t i = 0; i < n; ++i) {
      std::string name;
      uint64_t value = 0;
      if (!ReadStr(r, &name) || !r.Read(&value)) return false;
      Stat stat;
      // Names this wick does not know come from a later one: ignored.
      if (StatFromName(name, &stat)) stats.Set(stat, value);
    }
    rec_.stats = stats;
    return true;
  }

  // Makes the tables safe to index: every stack names a known comm, every file frame a
  // known binary, every frame a known kind; kernel and JIT symbols sorted.
  void Finalize() {
    const uint32_t n_comms = static_cast<uint32_t>(rec_.comms.size());
    const bool any_bad_comm =
        std::any_of(rec_.stacks.begin(), rec_.stacks.end(),
                    [&](const RecordedStack& s) { return s.comm >= n_comms; });
    if (any_bad_comm) rec_.comms.push_back({n_comms, "[unknown]"});
    for (RecordedStack& s : rec_.stacks) {
      if (s.comm >= n_comms) {
        s.comm = n_comms;
        ++rec_.invalid_items;
      }
      // A writer without event types (older tools, tests) gives every stack event 0.
      if (s.event != 0 && s.event >= rec_.event_types.size()) {
        s.event = 0;
        ++rec_.invalid_items;
      }
      for (Frame& f : s.frames) {
        const bool bad_kind = f.kind != FrameKind::kUserFile && f.kind != FrameKind::kKernel &&
                              f.kind != FrameKind::kUserRaw && f.kind != FrameKind::kOffCpu;
        const bool bad_binary = f.kind == FrameKind::kUserFile && f.binary >= rec_.binaries.size();
        if (bad_kind || bad_binary) {
          f = Frame{f.value, 0, FrameKind::kUserRaw};
          ++rec_.invalid_items;
        }
      }
    }
    // Each flush holds what the per-CPU rings gave in turn; readers want one timeline.
    std::stable_sort(rec_.trace_samples.begin(), rec_.trace_samples.end(),
                     [](const RecordedTraceSample& a, const RecordedTraceSample& b) {
                       return std::tie(a.time, a.cpu) < std::tie(b.time, b.cpu);
                     });
    // The same symbol from a flush-time chunk and from Finish()'s table is kept once.
    SortKernelSymbols(&rec_.kernel_symbols);
    // Same for JIT symbols; the writer already sorted them and resolved equal starts, this
    // only makes a damaged or foreign file safe for binary search.
    std::sort(rec_.jit_symbols.begin(), rec_.jit_symbols.end(),
              [](const JitSymbol& a, const JitSymbol& b) {
                return std::tie(a.pid, a.start, a.size, a.name) <
                       std::tie(b.pid, b.start, b.size, b.name);
              });
  }

  std::span<const std::byte> data_;
  std::string_view name_;
  Recording rec_;
};

}  // namespace

absl::StatusOr<Recording> ParseRecording(std::span<const std::byte> data, std::string_view name) {
  return Parser(data, name).Parse();
}

absl::StatusOr<Recording> ReadRecording(const std::string& path) {
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoError(errno, absl::StrCat("opening recording ", path));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoError(errno, absl::StrCat("stat ", path));
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file"));
  }
  // read() rather than mmap(): a recording still being written, or truncated under us,
  // must not SIGBUS the reader; we parse the bytes we actually got.
  std::string bytes;
  bytes.resize(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < bytes.size()) {
    ssize_t n = ::read(fd.get(), bytes.data() + got, bytes.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, absl::StrCat("reading recording ", path));
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  bytes.resize(got);
  return ParseRecording(std::as_bytes(std::span(bytes.data(), bytes.size())), path);
}

}  // namespace wick
