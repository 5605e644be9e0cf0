// RecordingWriter: buffers definitions and counts between flushes and appends each batch as
// one checksummed chunk (layout in format.h), so the file on disk is always a valid prefix.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "format.h"
#include "wick/recording.h"
#include "wick/scoped.h"
#include "wick/status.h"

namespace wick {
namespace {

namespace fmt = recording_format;

// Appends little-endian scalars and length-prefixed strings to a byte buffer.
class Encoder {
 public:
  explicit Encoder(std::string* out) : out_(out) {}
  template <typename T>
  void Put(T v) {
    static_assert(std::is_trivially_copyable_v<T>);
    char bytes[sizeof(T)];
    std::memcpy(bytes, &v, sizeof(T));
    out_->append(bytes, sizeof(T));
  }
  void PutStr(std::string_view s) {
    Put<uint32_t>(static_cast<uint32_t>(s.size()));
    out_->append(s.data(), s.size());
  }

 private:
  std::string* out_;
};

struct PendingBinary {
  uint32_t id;
  std::string build_id;
  std::string path;
};
struct PendingComm {
  uint32_t id;
  std::string name;
};
struct PendingEventType {
  uint32_t id;
  std::string name;
  std::string format;
};
struct PendingStack {
  uint32_t id;
  uint32_t event;
  uint32_t comm;
  uint32_t pid;
  uint32_t tid;
  std::vector<Frame> frames;
};

class FileRecordingWriter final : public RecordingWriter {
 public:
  FileRecordingWriter(std::string path, ScopedFd fd) : path_(std::move(path)), fd_(std::move(fd)) {
    ResetTraceSamples();
  }

  absl::Status WriteMeta(const RecordingMeta& meta) {
    std::string header;
    header.append(fmt::kMagic, sizeof(fmt::kMagic));
    Encoder e(&header);
    e.Put<uint32_t>(kRecordingVersion);
    e.Put<uint32_t>(fmt::kHeaderSize);
    e.Put<uint64_t>(0);
    if (absl::Status status = WriteAll(header); !status.ok()) {
      (void)::ftruncate(fd_.get(), 0);  // not even a header: an empty file, not a foreign one
      return status;
    }
    complete_bytes_ = bytes_written_;

    std::string payload;
    Encoder p(&payload);
    p.Put<uint64_t>(meta.sample_period);
    p.Put<uint64_t>(meta.sample_freq);
    p.Put<uint64_t>(meta.start_time_ns);
    p.PutStr(meta.command_line);
    p.PutStr(meta.event);
    p.PutStr(meta.hostname);
    p.PutStr(meta.kernel_release);
    p.PutStr(meta.boot_id);
    return WriteChunk(fmt::kChunkMeta, payload);
  }

  void AddBinary(uint32_t id, std::string_view build_id, std::string_view path) override {
    if (finished_) return;
    binaries_.push_back({id, std::string(build_id), std::string(path)});
  }
  void AddComm(uint32_t id, std::string_view name) override {
    if (finished_) return;
    comms_.push_back({id, std::string(name)});
  }
  using RecordingWriter::AddStack;
  void AddStack(uint32_t id, uint32_t event, uint32_t comm, uint32_t pid, uint32_t tid,
                std::span<const Frame> frames) override {
    if (finished_) return;
    stacks_.push_back(
        {id, event, comm, pid, tid, std::vector<Frame>(frames.begin(), frames.end())});
  }
  using RecordingWriter::AddCount;
  void AddCount(uint32_t id, uint64_t delta, uint64_t weight_delta) override {
    if (finished_ || (delta == 0 && weight_delta == 0)) return;
    auto& [count, weight] = counts_[id];
    count += delta;
    weight += weight_delta;
    samples_added_ += delta;
  }

  void AddEventType(uint32_t id, std::string_view name, std::string_view format) override {
    if (finished_) return;
    event_types_.push_back({id, std::string(name), std::string(format)});
  }

  void AddTraceSample(uint64_t time, uint32_t cpu, uint32_t pid, uint32_t tid, uint32_t comm,
                      uint32_t event_type, uint32_t stack,
                      std::span<const std::byte> raw) override {
    if (finished_) return;
    // Encoded straight into the chunk payload: the string keeps its capacity across
    // flushes, so a steady stream of samples stops allocating after the first second.
    Encoder p(&trace_payload_);
    p.Put<uint64_t>(time);
    p.Put<uint32_t>(cpu);
    p.Put<uint32_t>(pid);
    p.Put<uint32_t>(tid);
    p.Put<uint32_t>(comm);
    p.Put<uint32_t>(event_type);
    p.Put<uint32_t>(stack);
    p.Put<uint32_t>(static_cast<uint32_t>(raw.size()));
    trace_payload_.append(reinterpret_cast<const char*>(raw.data()), raw.size());
    ++trace_count_;
  }

  void AddJitSymbols(std::span<const JitSymbol> symbols) override {
    if (finished_) return;
    jit_symbols_.insert(jit_symbols_.end(), symbols.begin(), symbols.end());
  }

  void AddKernelSymbols(std::span<const KernelSymbol> symbols) override {
    if (finished_) return;
    for (const KernelSymbol& k : symbols) {
      if (!kernel_symbol_addresses_.insert(k.address).second) continue;
      kernel_symbols_.push_back(k);
      ++kernel_symbols_pending_;
    }
  }

  // u32 n, n x { u64 address | u64 size | str name | str module }.
  static std::string EncodeKernelSymbols(std::span<const KernelSymbol> symbols) {
    std::string payload;
    Encoder p(&payload);
    p.Put<uint32_t>(static_cast<uint32_t>(symbols.size()));
    for (const KernelSymbol& s : symbols) {
      p.Put<uint64_t>(s.address);
      p.Put<uint64_t>(s.size);
      p.PutStr(s.name);
      p.PutStr(s.module);
    }
    return payload;
  }

  void AddBinarySymbols(uint32_t id, std::vector<FileSymbol> symbols) override {
    if (finished_) return;
    binary_symbols_.push_back({id, std::move(symbols)});
  }

  absl::Status Flush() override {
    if (finished_) return absl::FailedPreconditionError(absl::StrCat(path_, ": already finished"));
    WICK_RETURN_IF_ERROR(error_);
    // DATA first: trace samples name comms and stacks defined in it, binary symbols its
    // binaries.
    WICK_RETURN_IF_ERROR(FlushData());
    for (const auto& [id, symbols] : binary_symbols_) {
      std::string payload;
      Encoder p(&payload);
      p.Put<uint32_t>(id);
      p.Put<uint32_t>(static_cast<uint32_t>(symbols.size()));
      for (const FileSymbol& s : symbols) {
        p.Put<uint64_t>(s.offset);
        p.Put<uint64_t>(s.size);
        p.PutStr(s.name);
      }
      WICK_RETURN_IF_ERROR(WriteChunk(fmt::kChunkBinarySymbols, payload));
    }
    binary_symbols_.clear();
    if (!event_types_.empty()) {
      std::sort(event_types_.begin(), event_types_.end(),
                [](const auto& a, const auto& b) { return a.id < b.id; });
      std::string payload;
      Encoder p(&payload);
      p.Put<uint32_t>(static_cast<uint32_t>(event_types_.size()));
      for (const PendingEventType& t : event_types_) {
        p.Put<uint32_t>(t.id);
        p.PutStr(t.name);
        p.PutStr(t.format);
      }
      event_types_.clear();
      WICK_RETURN_IF_ERROR(WriteChunk(fmt::kChunkEventTypes, payload));
    }
    if (trace_count_ > 0) {
      std::memcpy(trace_payload_.data(), &trace_count_, sizeof(trace_count_));
      absl::Status status = WriteChunk(fmt::kChunkTraceSamples, trace_payload_);
      ResetTraceSamples();
      WICK_RETURN_IF_ERROR(status);
    }
    if (kernel_symbols_pending_ > 0) {
      const std::span<const KernelSymbol> added(
          kernel_symbols_.data() + (kernel_symbols_.size() - kernel_symbols_pending_),
          kernel_symbols_pending_);
      kernel_symbols_pending_ = 0;
      WICK_RETURN_IF_ERROR(WriteChunk(fmt::kChunkKernelSymbolsAdded, EncodeKernelSymbols(added)));
    }
    return absl::OkStatus();
  }

  absl::Status FlushData() {
    if (binaries_.empty() && comms_.empty() && stacks_.empty() && counts_.empty()) {
      return absl::OkStatus();
    }
    // Ids are dense over the file and the reader takes definitions in id order, so a
    // caller that added them out of order within one interval still reads back right.
    auto by_id = [](const auto& a, const auto& b) { return a.id < b.id; };
    // (A repeated id is a caller bug the reader counts; its order among equals is moot.)
    std::sort(binaries_.begin(), binaries_.end(), by_id);
    std::sort(comms_.begin(), comms_.end(), by_id);
    std::sort(stacks_.begin(), stacks_.end(), by_id);
    std::vector<std::pair<uint32_t, std::pair<uint64_t, uint64_t>>> counts(counts_.begin(),
                                                                           counts_.end());
    std::sort(counts.begin(), counts.end());
    uint64_t samples = 0;
    for (const auto& [id, delta] : counts) samples += delta.first;

    std::string payload;
    Encoder p(&payload);
    p.Put<uint32_t>(static_cast<uint32_t>(binaries_.size()));
    for (const PendingBinary& b : binaries_) {
      p.Put<uint32_t>(b.id);
      p.PutStr(b.build_id);
      p.PutStr(b.path);
    }
    p.Put<uint32_t>(static_cast<uint32_t>(comms_.size()));
    for (const PendingComm& c : comms_) {
      p.Put<uint32_t>(c.id);
      p.PutStr(c.name);
    }
    p.Put<uint32_t>(static_cast<uint32_t>(stacks_.size()));
    for (const PendingStack& s : stacks_) {
      p.Put<uint32_t>(s.id);
      p.Put<uint32_t>(s.event);
      p.Put<uint32_t>(s.comm);
      p.Put<uint32_t>(s.pid);
      p.Put<uint32_t>(s.tid);
      p.Put<uint32_t>(static_cast<uint32_t>(s.frames.size()));
      for (const Frame& f : s.frames) {
        p.Put<uint64_t>(f.value);
        p.Put<uint32_t>(f.binary);
        p.Put<uint32_t>(static_cast<uint32_t>(f.kind));
      }
    }
    p.Put<uint32_t>(static_cast<uint32_t>(counts.size()));
    for (const auto& [id, delta] : counts) {
      p.Put<uint32_t>(id);
      p.Put<uint64_t>(delta.first);
      p.Put<uint64_t>(delta.second);
    }
    binaries_.clear();
    comms_.clear();
    stacks_.clear();
    counts_.clear();
    return WriteChunk(fmt::kChunkData, payload, samples);
  }

  absl::Status Finish(std::span<const KernelSymbol> kernel_symbols, const Stats& stats,
                      uint64_t duration_ns) override {
    AddKernelSymbols(kernel_symbols);
    WICK_RETURN_IF_ERROR(Flush());
    finished_ = true;

    // Every kernel symbol, for readers that predate KERNEL_SYMBOLS_ADDED.
    SortKernelSymbols(&kernel_symbols_);
    std::string payload = EncodeKernelSymbols(kernel_symbols_);
    Encoder p(&payload);
    WICK_RETURN_IF_ERROR(WriteChunk(fmt::kChunkKernelSymbols, payload));

    if (!jit_symbols_.empty()) {
      payload.clear();
      p.Put<uint32_t>(static_cast<uint32_t>(jit_symbols_.size()));
      for (const JitSymbol& s : jit_symbols_) {
        p.Put<uint32_t>(s.pid);
        p.Put<uint64_t>(s.start);
        p.Put<uint64_t>(s.size);
        p.PutStr(s.name);
      }
      jit_symbols_.clear();
      WICK_RETURN_IF_ERROR(WriteChunk(fmt::kChunkJitSymbols, payload));
    }

    payload.clear();
    p.Put<uint32_t>(static_cast<uint32_t>(kNumStats));
    for (size_t i = 0; i < kNumStats; ++i) {
      const Stat stat = static_cast<Stat>(i);
      p.PutStr(GetStatInfo(stat).name);
      p.Put<uint64_t>(stats.Get(stat));
    }
    WICK_RETURN_IF_ERROR(WriteChunk(fmt::kChunkStats, payload));

    payload.clear();
    p.Put<uint64_t>(duration_ns);
    WICK_RETURN_IF_ERROR(WriteChunk(fmt::kChunkEnd, payload));

    // close() is where NFS and some filesystems report a failed write.
    if (::close(fd_.release()) != 0) {
      return error_ = ErrnoError(errno, absl::StrCat("closing recording ", path_));
    }
    return absl::OkStatus();
  }

  uint64_t BytesWritten() const override { return bytes_written_; }
  uint64_t SamplesWritten() const override { return samples_written_; }
  uint64_t SamplesNotWritten() const override { return samples_added_ - samples_written_; }

 private:
  void ResetTraceSamples() {
    trace_payload_.assign(sizeof(uint32_t), '\0');  // the count, patched at Flush()
    trace_count_ = 0;
  }

  // `samples`: the sample counts the chunk carries, written once the whole chunk is.
  absl::Status WriteChunk(uint32_t type, const std::string& payload, uint64_t samples = 0) {
    // Header and payload in two writes: no copy of a possibly large payload.
    std::string header;
    const uint64_t size = payload.size();
    const uint32_t crc = fmt::ChunkCrc(type, size, std::as_bytes(std::span(payload)));
    Encoder e(&header);
    e.Put<uint32_t>(type);
    e.Put<uint32_t>(crc);
    e.Put<uint64_t>(size);
    absl::Status status = WriteAll(header);
    if (status.ok()) status = WriteAll(payload);
    if (!status.ok()) {
      // A part of a chunk would read as a cut (or, after a later write that fit, corrupt)
      // file: end the file at its last complete chunk, which a reader takes as cut short.
      if (fd_ && ::ftruncate(fd_.get(), static_cast<off_t>(complete_bytes_)) == 0) {
        bytes_written_ = complete_bytes_;
      }
      return status;
    }
    complete_bytes_ = bytes_written_;
    samples_written_ += samples;
    return absl::OkStatus();
  }

  // One write error ends the recording: later calls return the same error.
  absl::Status WriteAll(std::string_view bytes) {
    WICK_RETURN_IF_ERROR(error_);
    while (!bytes.empty()) {
      ssize_t n = ::write(fd_.get(), bytes.data(), bytes.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        const int err = errno;
        error_ = ErrnoError(err, absl::StrCat("writing recording ", path_),
                            err == ENOSPC ? "free some disk space or write elsewhere with -o" : "");
        return error_;
      }
      bytes.remove_prefix(static_cast<size_t>(n));
      bytes_written_ += static_cast<uint64_t>(n);
    }
    return absl::OkStatus();
  }

  const std::string path_;
  ScopedFd fd_;
  absl::Status error_;
  bool finished_ = false;
  uint64_t bytes_written_ = 0;
  uint64_t complete_bytes_ = 0;  // the end of the last chunk written whole
  uint64_t samples_added_ = 0;   // by AddCount
  uint64_t samples_written_ = 0;
  std::vector<PendingBinary> binaries_;
  std::vector<std::pair<uint32_t, std::vector<FileSymbol>>> binary_symbols_;
  std::vector<PendingComm> comms_;
  std::vector<PendingStack> stacks_;
  absl::flat_hash_map<uint32_t, std::pair<uint64_t, uint64_t>> counts_;  // id → count, weight
  std::vector<PendingEventType> event_types_;
  std::string trace_payload_;  // u32 count placeholder + encoded samples, reused
  uint32_t trace_count_ = 0;
  std::vector<JitSymbol> jit_symbols_;
  // Every kernel symbol added, in the order added; the last `kernel_symbols_pending_` are not
  // in the file yet.
  std::vector<KernelSymbol> kernel_symbols_;
  absl::flat_hash_set<uint64_t> kernel_symbol_addresses_;
  size_t kernel_symbols_pending_ = 0;
};

}  // namespace

absl::StatusOr<bool> KeepPreviousRecording(const std::string& path, bool force) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return false;
    return ErrnoError(errno, absl::StrCat("checking the output file ", path));
  }
  if (!S_ISREG(st.st_mode) || st.st_size == 0) return false;
  char magic[sizeof(recording_format::kMagic)] = {};
  {
    ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return ErrnoError(errno, absl::StrCat("reading the output file ", path));
    const ssize_t n = ::read(fd.get(), magic, sizeof(magic));
    if (n < 0) return ErrnoError(errno, absl::StrCat("reading the output file ", path));
  }
  if (std::memcmp(magic, recording_format::kMagic, sizeof(magic)) != 0) {
    if (force) return false;
    return absl::FailedPreconditionError(
        absl::StrCat(path,
                     " exists and is not a wick recording: not overwriting it (use -f to "
                     "overwrite it, or -o another file)"));
  }
  const std::string old = path + ".old";
  if (::rename(path.c_str(), old.c_str()) != 0) {
    return ErrnoError(errno, absl::StrCat("keeping the previous recording as ", old));
  }
  return true;
}

absl::StatusOr<std::unique_ptr<RecordingWriter>> RecordingWriter::Open(const std::string& path,
                                                                       const RecordingMeta& meta) {
  ScopedFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) {
    return ErrnoError(errno, absl::StrCat("creating recording ", path),
                      "check the directory exists and is writable, or choose another -o");
  }
  auto writer = std::make_unique<FileRecordingWriter>(path, std::move(fd));
  WICK_RETURN_IF_ERROR(writer->WriteMeta(meta));
  return writer;
}

}  // namespace wick
