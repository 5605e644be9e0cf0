// Unit tests of the recording writer and reader: round trip, incremental flushes, recovery
// of files cut at every byte, rejection of foreign/empty/newer files, corruption, and
// forward-compatibility rules (unknown chunks, unknown counters, longer payloads). Hand-made
// chunks are built from the layout in man/wick-data.5, independently of the writer.
#include "wick/recording.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "testing/testing.h"

namespace wick {
namespace {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "wick_recording_XXXXXX").string();
    char* p = ::mkdtemp(tmpl.data());
    if (p != nullptr) path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  std::string File(std::string_view name) const { return path_ + "/" + std::string(name); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

absl::StatusOr<Recording> Parse(std::string_view bytes, std::string_view name = "mem.wick") {
  return ParseRecording(std::as_bytes(std::span(bytes.data(), bytes.size())), name);
}

uint64_t TotalSamples(const Recording& rec) {
  uint64_t n = 0;
  for (const RecordedStack& s : rec.stacks) n += s.count;
  return n;
}

RecordingMeta TestMeta() {
  RecordingMeta meta;
  meta.command_line = "wick record -F 999 -g -- ./app --flag";
  meta.event = "cpu-clock";
  meta.sample_period = 0;
  meta.sample_freq = 999;
  meta.hostname = "testhost";
  meta.kernel_release = "6.18.0-test";
  meta.boot_id = "747a95c8-38b8-475a-8acb-edcb1c22f132";
  meta.start_time_ns = 1'700'000'000'123'456'789ull;
  return meta;
}

const std::string kBuildId(
    "\x01\x00\xab\xcd\xef\x00\x10\x20\x30\x40\x50\x60\x70\x80\x90\xa0\xb0"
    "\xc0\xd0\xe0",
    20);

// A small recording in three flushes; `flush_ends` gets BytesWritten() after each flush
// and `flushed_samples` the sample total that is on disk at that point.
struct SmallRecording {
  std::string bytes;
  std::vector<uint64_t> flush_ends;
  std::vector<uint64_t> flushed_samples;
  uint64_t total_samples = 0;
};

void WriteSmall(const std::string& path, SmallRecording* out) {
  auto writer_or = RecordingWriter::Open(path, TestMeta());
  ASSERT_TRUE(writer_or.ok()) << writer_or.status();
  RecordingWriter& w = **writer_or;
  out->flush_ends.push_back(w.BytesWritten());
  out->flushed_samples.push_back(0);
  uint64_t samples = 0;

  w.AddBinary(0, kBuildId, "/usr/bin/app");
  w.AddBinary(1, "", "/usr/lib/x86_64-linux-gnu/libc.so.6");
  w.AddComm(0, "app");
  const Frame s0[] = {{0x1234, 0, FrameKind::kUserFile}, {0x20, 1, FrameKind::kUserFile}};
  w.AddStack(0, 0, s0);
  w.AddCount(0, 5);
  samples += 5;
  ASSERT_TRUE(w.Flush().ok());
  out->flush_ends.push_back(w.BytesWritten());
  out->flushed_samples.push_back(samples);

  w.AddComm(1, "worker-1");
  const Frame s1[] = {{0xffffffff81000010ull, 0, FrameKind::kKernel},
                      {0x7f0000001000ull, 0, FrameKind::kUserRaw},
                      {0x99, 0, FrameKind::kUserFile}};
  w.AddStack(1, 1, 4242, 4243, s1);
  w.AddCount(1, 2);
  w.AddCount(0, 3);
  samples += 5;
  ASSERT_TRUE(w.Flush().ok());
  out->flush_ends.push_back(w.BytesWritten());
  out->flushed_samples.push_back(samples);

  w.AddStack(2, 0, {});  // an empty stack is legal (e.g. every frame was cut)
  w.AddCount(2, 1);
  w.AddCount(1, 10);
  samples += 11;
  ASSERT_TRUE(w.Flush().ok());
  out->flush_ends.push_back(w.BytesWritten());
  out->flushed_samples.push_back(samples);

  const KernelSymbol syms[] = {{0xffffffff81000000ull, 0x40, "do_syscall_64", ""},
                               {0xffffffffc0000000ull, 0, "ext4_readdir", "ext4"}};
  Stats stats;
  stats.Set(Stat::kSamples, samples);
  stats.Set(Stat::kLostSamples, 7);
  ASSERT_TRUE(w.Finish(syms, stats, 2'500'000'000ull).ok());
  out->total_samples = samples;
  out->bytes = ReadFile(path);
  ASSERT_EQ(out->bytes.size(), w.BytesWritten());
}

TEST(RecordingTest, RoundTripsEverything) {
  TempDir dir;
  const std::string path = dir.File("app.wick");
  auto writer_or = RecordingWriter::Open(path, TestMeta());
  WICK_ASSERT_OK(writer_or.status());
  RecordingWriter& w = **writer_or;
  w.AddBinary(0, kBuildId, "/usr/bin/app");
  w.AddBinary(1, "", "/lib/with spaces/\xc3\xa9t\xc3\xa9.so");
  w.AddComm(0, "app");
  w.AddComm(1, "");  // an empty name survives too
  const Frame frames[] = {{0xffffffff81000010ull, 0, FrameKind::kKernel},
                          {0x1234, 1, FrameKind::kUserFile},
                          {0x7ffd00001000ull, 0, FrameKind::kUserRaw},
                          {UINT64_MAX, 0, FrameKind::kUserFile}};
  w.AddStack(0, 1, 4242, 0xfffffff0u, frames);
  w.AddCount(0, UINT64_MAX / 2);
  const KernelSymbol syms[] = {{0xffffffff81000000ull, 0x40, "do_syscall_64", ""},
                               {0xffffffff81000040ull, 0, "entry_SYSCALL_64", ""},
                               {0xffffffffc0000000ull, 0x100, "ext4_readdir", "ext4"}};
  Stats stats;
  for (size_t i = 0; i < kNumStats; ++i) stats.Set(static_cast<Stat>(i), 1000 + i);
  WICK_ASSERT_OK(w.Finish(syms, stats, 123'456'789));
  EXPECT_EQ(w.BytesWritten(), std::filesystem::file_size(path));

  WICK_ASSERT_OK_AND_ASSIGN(Recording rec, ReadRecording(path));
  EXPECT_TRUE(rec.complete);
  EXPECT_EQ(rec.truncation_note, "");
  EXPECT_EQ(rec.invalid_items, 0u);
  EXPECT_EQ(rec.version, kRecordingVersion);
  const RecordingMeta want = TestMeta();
  EXPECT_EQ(rec.meta.command_line, want.command_line);
  EXPECT_EQ(rec.meta.event, want.event);
  EXPECT_EQ(rec.meta.sample_period, want.sample_period);
  EXPECT_EQ(rec.meta.sample_freq, want.sample_freq);
  EXPECT_EQ(rec.meta.hostname, want.hostname);
  EXPECT_EQ(rec.meta.kernel_release, want.kernel_release);
  EXPECT_EQ(rec.meta.boot_id, want.boot_id);
  EXPECT_EQ(rec.meta.start_time_ns, want.start_time_ns);
  EXPECT_EQ(rec.meta.duration_ns, 123'456'789u);

  ASSERT_EQ(rec.binaries.size(), 2u);
  EXPECT_EQ(rec.binaries[0].id, 0u);
  EXPECT_EQ(rec.binaries[0].build_id, kBuildId) << "build-ids are raw bytes, NULs included";
  EXPECT_EQ(rec.binaries[0].path, "/usr/bin/app");
  EXPECT_EQ(rec.binaries[1].id, 1u);
  EXPECT_EQ(rec.binaries[1].build_id, "");
  EXPECT_EQ(rec.binaries[1].path, "/lib/with spaces/\xc3\xa9t\xc3\xa9.so");
  ASSERT_EQ(rec.comms.size(), 2u);
  EXPECT_EQ(rec.comms[0].name, "app");
  EXPECT_EQ(rec.comms[1].id, 1u);
  EXPECT_EQ(rec.comms[1].name, "");
  ASSERT_EQ(rec.stacks.size(), 1u);
  EXPECT_EQ(rec.stacks[0].id, 0u);
  EXPECT_EQ(rec.stacks[0].comm, 1u);
  EXPECT_EQ(rec.stacks[0].pid, 4242u);
  EXPECT_EQ(rec.stacks[0].tid, 0xfffffff0u);
  EXPECT_EQ(rec.stacks[0].count, UINT64_MAX / 2);
  EXPECT_EQ(rec.stacks[0].frames, std::vector<Frame>(std::begin(frames), std::end(frames)));
  ASSERT_EQ(rec.kernel_symbols.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(rec.kernel_symbols[i].address, syms[i].address);
    EXPECT_EQ(rec.kernel_symbols[i].size, syms[i].size);
    EXPECT_EQ(rec.kernel_symbols[i].name, syms[i].name);
    EXPECT_EQ(rec.kernel_symbols[i].module, syms[i].module);
  }
  for (size_t i = 0; i < kNumStats; ++i) {
    EXPECT_EQ(rec.stats.Get(static_cast<Stat>(i)), 1000 + i) << GetStatInfo(Stat(i)).name;
  }
}

TEST(RecordingTest, CountsAccumulateAcrossFlushesAndEachFlushIsDurable) {
  TempDir dir;
  const std::string path = dir.File("inc.wick");
  auto writer_or = RecordingWriter::Open(path, TestMeta());
  WICK_ASSERT_OK(writer_or.status());
  RecordingWriter& w = **writer_or;

  // Only the header and metadata so far: a valid, empty, unfinished recording.
  {
    WICK_ASSERT_OK_AND_ASSIGN(Recording rec, ReadRecording(path));
    EXPECT_FALSE(rec.complete);
    EXPECT_EQ(rec.meta.event, "cpu-clock");
    EXPECT_TRUE(rec.stacks.empty());
  }

  w.AddComm(0, "a");
  w.AddStack(0, 0, {});
  w.AddCount(0, 3);
  WICK_ASSERT_OK(w.Flush());
  w.AddCount(0, 4);
  w.AddCount(0, 2);  // two deltas in one interval
  w.AddStack(1, 0, {});
  w.AddCount(1, 1);
  w.AddCount(1, 0);
  WICK_ASSERT_OK(w.Flush());

  // As if wick were killed here: everything flushed is there, the file says it is unfinished.
  {
    WICK_ASSERT_OK_AND_ASSIGN(Recording rec, ReadRecording(path));
    EXPECT_FALSE(rec.complete);
    ASSERT_EQ(rec.stacks.size(), 2u);
    EXPECT_EQ(rec.stacks[0].count, 9u);
    EXPECT_EQ(rec.stacks[1].count, 1u);
    const std::string size = std::to_string(w.BytesWritten());
    EXPECT_EQ(rec.truncation_note,
              "cut short after " + size + " of " + size +
                  " bytes: recovered 2 stacks, 10 samples; no end chunk (wick was killed, or the "
                  "disk filled, before it finished)");
  }

  const uint64_t before = w.BytesWritten();
  WICK_ASSERT_OK(w.Flush());
  EXPECT_EQ(w.BytesWritten(), before) << "a flush with nothing new writes nothing";

  w.AddCount(0, 5);
  w.AddCount(1, 6);  // added but never flushed separately: Finish() flushes it
  WICK_ASSERT_OK(w.Finish({}, Stats(), 1));
  WICK_ASSERT_OK_AND_ASSIGN(Recording rec, ReadRecording(path));
  EXPECT_TRUE(rec.complete);
  ASSERT_EQ(rec.stacks.size(), 2u);
  EXPECT_EQ(rec.stacks[0].count, 14u);
  EXPECT_EQ(rec.stacks[1].count, 7u);
  EXPECT_FALSE(w.Flush().ok()) << "a finished writer refuses more";
  EXPECT_FALSE(w.Finish({}, Stats(), 1).ok());
}

// Kernel symbols go out with each flush (KERNEL_SYMBOLS_ADDED), so a file cut short after a
// flush still names the kernel frames it holds; each symbol is written once by flushes, and
// Finish()'s full table (for older readers) does not double them.
TEST(RecordingTest, KernelSymbolsOfEachFlushSurviveACut) {
  TempDir dir;
  const std::string path = dir.File("ksyms.wick");
  auto writer_or = RecordingWriter::Open(path, TestMeta());
  WICK_ASSERT_OK(writer_or.status());
  RecordingWriter& w = **writer_or;
  const KernelSymbol a{0xffffffff81000000, 0x100, "schedule", ""};
  const KernelSymbol b{0xffffffff81000100, 0x80, "ext4_sync_fs", "ext4"};
  const Frame frames[] = {{a.address + 4, 0, FrameKind::kKernel}};
  w.AddComm(0, "a");
  w.AddStack(0, 0, frames);
  w.AddCount(0, 1);
  w.AddKernelSymbols(std::vector<KernelSymbol>{a});
  WICK_ASSERT_OK(w.Flush());
  w.AddKernelSymbols(std::vector<KernelSymbol>{a, b});  // a again: not written twice
  WICK_ASSERT_OK(w.Flush());
  {
    WICK_ASSERT_OK_AND_ASSIGN(Recording rec, ReadRecording(path));  // as after kill -9
    EXPECT_FALSE(rec.complete);
    ASSERT_EQ(rec.kernel_symbols.size(), 2u);
    EXPECT_EQ(rec.kernel_symbols[0].name, "schedule");
    EXPECT_EQ(rec.kernel_symbols[1].module, "ext4");
  }
  WICK_ASSERT_OK(w.Finish(std::vector<KernelSymbol>{b}, Stats(), 1));
  WICK_ASSERT_OK_AND_ASSIGN(Recording rec, ReadRecording(path));
  EXPECT_TRUE(rec.complete);
  ASSERT_EQ(rec.kernel_symbols.size(), 2u);
  EXPECT_EQ(rec.kernel_symbols[0].address, a.address);
  EXPECT_EQ(rec.kernel_symbols[1].address, b.address);
}

TEST(RecordingTest, DefinitionsAddedOutOfOrderWithinAnIntervalReadBack) {
  TempDir dir;
  const std::string path = dir.File("order.wick");
  auto writer_or = RecordingWriter::Open(path, TestMeta());
  WICK_ASSERT_OK(writer_or.status());
  RecordingWriter& w = **writer_or;
  w.AddComm(1, "second");
  w.AddComm(0, "first");
  w.AddStack(1, 1, {});
  w.AddStack(0, 0, {});
  w.AddCount(1, 2);
  WICK_ASSERT_OK(w.Finish({}, Stats(), 0));
  WICK_ASSERT_OK_AND_ASSIGN(Recording rec, ReadRecording(path));
  ASSERT_EQ(rec.comms.size(), 2u);
  EXPECT_EQ(rec.comms[0].name, "first");
  EXPECT_EQ(rec.comms[1].name, "second");
  ASSERT_EQ(rec.stacks.size(), 2u);
  EXPECT_EQ(rec.stacks[1].comm, 1u);
  EXPECT_EQ(rec.stacks[1].count, 2u);
  EXPECT_EQ(rec.invalid_items, 0u);
}

TEST(RecordingTest, TruncationAtEveryByteRecoversEveryFlushedChunk) {
  TempDir dir;
  SmallRecording small;
  ASSERT_NO_FATAL_FAILURE(WriteSmall(dir.File("small.wick"), &small));
  const std::string& bytes = small.bytes;
  ASSERT_GT(bytes.size(), 100u);

  uint64_t last_samples = 0;
  size_t last_stacks = 0;
  for (size_t cut = 1; cut <= bytes.size(); ++cut) {
    SCOPED_TRACE("cut at " + std::to_string(cut) + " of " + std::to_string(bytes.size()));
    auto rec_or = Parse(std::string_view(bytes).substr(0, cut));
    ASSERT_TRUE(rec_or.ok()) << "a cut-short file is not an error: " << rec_or.status();
    const Recording& rec = *rec_or;
    EXPECT_EQ(rec.complete, cut == bytes.size());
    EXPECT_EQ(rec.truncation_note.empty(), rec.complete);
    const uint64_t samples = TotalSamples(rec);
    EXPECT_LE(samples, small.total_samples);
    EXPECT_GE(samples, last_samples) << "recovery is monotonic in the cut offset";
    EXPECT_GE(rec.stacks.size(), last_stacks);
    // Every flush that fully reached the file before the cut is recovered.
    for (size_t i = 0; i < small.flush_ends.size(); ++i) {
      if (small.flush_ends[i] <= cut) {
        EXPECT_GE(samples, small.flushed_samples[i]);
      }
    }
    EXPECT_EQ(rec.invalid_items, 0u) << "a cut never produces dangling ids";
    if (!rec.complete) {
      EXPECT_NE(rec.truncation_note.find("cut short after "), std::string::npos)
          << rec.truncation_note;
      EXPECT_NE(rec.truncation_note.find(" of " + std::to_string(cut) + " bytes: recovered " +
                                         std::to_string(rec.stacks.size()) + " stacks, " +
                                         std::to_string(samples) + " samples; "),
                std::string::npos)
          << rec.truncation_note;
    }
    last_samples = samples;
    last_stacks = rec.stacks.size();
  }
  EXPECT_EQ(last_samples, small.total_samples);

  // The wording for a cut inside a chunk.
  const size_t cut = small.flush_ends[2] + 10;
  WICK_ASSERT_OK_AND_ASSIGN(Recording rec, Parse(std::string_view(bytes).substr(0, cut)));
  EXPECT_EQ(rec.truncation_note, "cut short after " + std::to_string(small.flush_ends[2]) + " of " +
                                     std::to_string(cut) + " bytes: recovered 2 stacks, " +
                                     std::to_string(small.flushed_samples[2]) +
                                     " samples; the last 10 bytes were incomplete");
}

TEST(RecordingTest, EmptyFileIsAnError) {
  TempDir dir;
  const std::string path = dir.File("empty.wick");
  WriteFile(path, "");
  auto rec = ReadRecording(path);
  ASSERT_FALSE(rec.ok());
  EXPECT_EQ(rec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(rec.status().message(), path + ": empty file (0 bytes); the recording never started");
}

TEST(RecordingTest, ForeignFilesAreRejectedByMagic) {
  TempDir dir;
  const std::string text = dir.File("notes.txt");
  WriteFile(text, "just some text\nsecond line\n");
  for (const std::string& path : {text, std::string("/proc/self/exe")}) {
    auto rec = ReadRecording(path);
    ASSERT_FALSE(rec.ok()) << path;
    EXPECT_EQ(rec.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(rec.status().message(), path + ": not a wick recording (bad magic)");
  }
  EXPECT_FALSE(Parse("X").ok()) << "one byte that does not start the magic";
  // A prefix of the magic is a recording cut inside its header, not a foreign file.
  WICK_ASSERT_OK_AND_ASSIGN(Recording cut, Parse("WICK"));
  EXPECT_FALSE(cut.complete);
  EXPECT_EQ(cut.truncation_note,
            "cut short after 0 of 4 bytes: recovered 0 stacks, 0 samples; the file header is "
            "incomplete; the last 4 bytes were not used");
  EXPECT_FALSE(ReadRecording(dir.File("missing.wick")).ok());
  auto d = ReadRecording(dir.path());
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().message(), dir.path() + ": not a regular file");
}

TEST(RecordingTest, NewerVersionIsRejectedWithUpgradeHint) {
  TempDir dir;
  SmallRecording small;
  ASSERT_NO_FATAL_FAILURE(WriteSmall(dir.File("small.wick"), &small));
  std::string bytes = small.bytes;
  const uint32_t v7 = 7;
  std::memcpy(bytes.data() + 8, &v7, 4);
  auto rec = Parse(bytes, "future.wick");
  ASSERT_FALSE(rec.ok());
  EXPECT_EQ(rec.status().message(),
            "future.wick: format version 7 is newer than this wick understands (" +
                std::to_string(kRecordingVersion) + "); upgrade wick");
}

TEST(RecordingTest, BitFlipsAreDetectedAndNeverCrash) {
  TempDir dir;
  SmallRecording small;
  ASSERT_NO_FATAL_FAILURE(WriteSmall(dir.File("small.wick"), &small));
  const size_t header_size = 24;  // the version 1 file header
  for (size_t i = 0; i < small.bytes.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bytes = small.bytes;
      bytes[i] = static_cast<char>(bytes[i] ^ (1 << bit));
      auto rec = Parse(bytes);
      if (i >= header_size) {
        // Every chunk is covered by its crc32: a flipped bit anywhere in one ends the
        // recovery there, it is never misread. (A flipped size bit that points past the end
        // looks exactly like a torn last chunk.)
        ASSERT_TRUE(rec.ok()) << "byte " << i << " bit " << bit << ": " << rec.status();
        EXPECT_FALSE(rec->complete) << "byte " << i << " bit " << bit;
        EXPECT_TRUE(rec->truncation_note.find("fails its checksum") != std::string::npos ||
                    rec->truncation_note.find("were incomplete") != std::string::npos)
            << rec->truncation_note;
        // Exactly the flushes before the damaged one are recovered.
        uint64_t want = 0;
        for (size_t k = 0; k < small.flush_ends.size(); ++k) {
          if (small.flush_ends[k] <= i) want = small.flushed_samples[k];
        }
        EXPECT_EQ(TotalSamples(*rec), want) << "byte " << i << " bit " << bit;
      } else if (rec.ok() && i >= 16) {
        EXPECT_TRUE(rec->complete) << "reserved header bytes are not interpreted";
      }
    }
  }
}

// --- Hand-made files, from the layout in man/wick-data.5 ---

class Builder {
 public:
  explicit Builder(uint32_t version = 1) {
    bytes_.append("WICKREC\0", 8);
    Put<uint32_t>(&bytes_, version);
    Put<uint32_t>(&bytes_, 24);
    Put<uint64_t>(&bytes_, 0);
  }
  template <typename T>
  static void Put(std::string* s, T v) {
    s->append(reinterpret_cast<const char*>(&v), sizeof(v));
  }
  static void PutStr(std::string* s, std::string_view v) {
    Put<uint32_t>(s, static_cast<uint32_t>(v.size()));
    s->append(v);
  }
  void Chunk(uint32_t type, std::string_view payload) {
    const uint64_t size = payload.size();
    uLong crc = crc32(0, nullptr, 0);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(&type), 4);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(&size), 8);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(payload.data()), payload.size());
    Put<uint32_t>(&bytes_, type);
    Put<uint32_t>(&bytes_, static_cast<uint32_t>(crc));
    Put<uint64_t>(&bytes_, size);
    bytes_.append(payload);
  }
  void End(uint64_t duration = 0) {
    std::string p;
    Put<uint64_t>(&p, duration);
    Chunk(5, p);
  }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

std::string DataPayload(const std::vector<std::pair<uint32_t, std::string>>& comms,
                        const std::vector<std::pair<uint32_t, uint32_t>>& stacks,  // id, comm
                        const std::vector<Frame>& frames_of_each,
                        const std::vector<std::pair<uint32_t, uint64_t>>& counts) {
  std::string p;
  Builder::Put<uint32_t>(&p, 1);  // one binary
  Builder::Put<uint32_t>(&p, 0);
  Builder::PutStr(&p, "");
  Builder::PutStr(&p, "/bin/x");
  Builder::Put<uint32_t>(&p, static_cast<uint32_t>(comms.size()));
  for (const auto& [id, name] : comms) {
    Builder::Put<uint32_t>(&p, id);
    Builder::PutStr(&p, name);
  }
  Builder::Put<uint32_t>(&p, static_cast<uint32_t>(stacks.size()));
  for (const auto& [id, comm] : stacks) {
    Builder::Put<uint32_t>(&p, id);
    Builder::Put<uint32_t>(&p, comm);
    Builder::Put<uint32_t>(&p, static_cast<uint32_t>(frames_of_each.size()));
    for (const Frame& f : frames_of_each) {
      Builder::Put<uint64_t>(&p, f.value);
      Builder::Put<uint32_t>(&p, f.binary);
      Builder::Put<uint32_t>(&p, static_cast<uint32_t>(f.kind));
    }
  }
  Builder::Put<uint32_t>(&p, static_cast<uint32_t>(counts.size()));
  for (const auto& [id, delta] : counts) {
    Builder::Put<uint32_t>(&p, id);
    Builder::Put<uint64_t>(&p, delta);
  }
  return p;
}

TEST(RecordingTest, HandMadeFileMatchesTheDocumentedLayout) {
  Builder b;
  std::string meta;
  Builder::Put<uint64_t>(&meta, 10007);
  Builder::Put<uint64_t>(&meta, 0);
  Builder::Put<uint64_t>(&meta, 42);
  Builder::PutStr(&meta, "cmd");
  Builder::PutStr(&meta, "task-clock");
  Builder::PutStr(&meta, "h");
  Builder::PutStr(&meta, "k");
  b.Chunk(1, meta);
  b.Chunk(2, DataPayload({{0, "x"}}, {{0, 0}}, {{0x10, 0, FrameKind::kUserFile}}, {{0, 3}}));
  b.End(77);
  WICK_ASSERT_OK_AND_ASSIGN(Recording rec, Parse(b.bytes()));
  EXPECT_TRUE(rec.complete);
  EXPECT_EQ(rec.meta.sample_period, 10007u);
  EXPECT_EQ(rec.meta.start_time_ns, 42u);
  EXPECT_EQ(rec.meta.event, "task-clock");
  EXPECT_EQ(rec.meta.duration_ns, 77u);
  ASSERT_EQ(rec.stacks.size(), 1u);
  EXPECT_EQ(rec.stacks[0].count, 3u);
  EXPECT_EQ(rec.invalid_items, 0u);
}

TEST(RecordingTest, LaterExtensionsAreSkipped) {
  Builder b;
  b.Chunk(99, "a chunk type from a later wick");
  std::string meta;
  Builder::Put<uint64_t>(&meta, 1);
  Builder::Put<uint64_t>(&meta, 2);
  Builder::Put<uint64_t>(&meta, 3);
  for (const char* s : {"c", "e", "h", "k", "boot"}) Builder::PutStr(&meta, s);
  meta += "a field appended by a later wick";
  b.Chunk(1, meta);
  std::string stats;
  Builder::Put<uint32_t>(&stats, 2);
  Builder::PutStr(&stats, "counter_from_the_future");
  Builder::Put<uint64_t>(&stats, 5);
  Builder::PutStr(&stats, "lost_samples");
  Builder::Put<uint64_t>(&stats, 6);
  b.Chunk(4, stats);
  b.End();
  WICK_ASSERT_OK_AND_ASSIGN(Recording rec, Parse(b.bytes()));
  EXPECT_TRUE(rec.complete);
  EXPECT_EQ(rec.meta.event, "e");
  EXPECT_EQ(rec.meta.boot_id, "boot");
  EXPECT_EQ(rec.meta.sample_freq, 2u);
  EXPECT_EQ(rec.stats.Get(Stat::kLostSamples), 6u);
  EXPECT_EQ(rec.stats.Get(Stat::kSamples), 0u);
}

TEST(RecordingTest, UndefinedAndRepeatedIdsAreRepairedAndCounted) {
  Builder b;
  b.Chunk(2, DataPayload({{0, "a"}, {0, "again"}, {5, "gap"}}, {{0, 9}, {1, 0}, {1, 0}, {7, 0}},
                         {{0x10, 0, FrameKind::kUserFile},
                          {0x20, 3, FrameKind::kUserFile},
                          {0x30, 0, static_cast<FrameKind>(77)}},
                         {{0, 1}, {1, 2}, {42, 100}}));
  b.End();
  WICK_ASSERT_OK_AND_ASSIGN(Recording rec, Parse(b.bytes()));
  EXPECT_TRUE(rec.complete);
  // Dropped: comm 0 again, comm 5 (gap), stack 1 again, stack 7, count for stack 42.
  // Repaired: stack 0's comm 9, and in both kept stacks the binary-3 and kind-77 frames.
  EXPECT_EQ(rec.invalid_items, 5u + 1u + 4u);
  ASSERT_EQ(rec.comms.size(), 2u);
  EXPECT_EQ(rec.comms[1].name, "[unknown]");
  ASSERT_EQ(rec.stacks.size(), 2u);
  EXPECT_EQ(rec.stacks[0].comm, 1u);
  EXPECT_EQ(rec.stacks[1].comm, 0u);
  EXPECT_EQ(rec.stacks[0].count, 1u);
  EXPECT_EQ(rec.stacks[1].count, 2u);
  const std::vector<Frame> want = {{0x10, 0, FrameKind::kUserFile},
                                   {0x20, 0, FrameKind::kUserRaw},
                                   {0x30, 0, FrameKind::kUserRaw}};
  EXPECT_EQ(rec.stacks[0].frames, want);
}

TEST(RecordingTest, LyingCountsStopTheReadWithoutAllocating) {
  for (uint32_t lie : {0xffffffffu, 0x10000000u, 2u}) {
    Builder b;
    b.Chunk(2, DataPayload({{0, "a"}}, {{0, 0}}, {}, {{0, 4}}));
    std::string p;
    Builder::Put<uint32_t>(&p, 0);  // no binaries
    Builder::Put<uint32_t>(&p, 0);  // no comms
    Builder::Put<uint32_t>(&p, 1);  // one stack...
    Builder::Put<uint32_t>(&p, 1);
    Builder::Put<uint32_t>(&p, 0);
    Builder::Put<uint32_t>(&p, lie);  // ...claiming `lie` frames in 16 bytes
    p.append(16, '\0');
    Builder::Put<uint32_t>(&p, 0);
    b.Chunk(2, p);
    b.End();
    testing::AllocationCounter allocs;
    WICK_ASSERT_OK_AND_ASSIGN(Recording rec, Parse(b.bytes()));
    EXPECT_FALSE(rec.complete);
    EXPECT_NE(rec.truncation_note.find("(type 2) is malformed"), std::string::npos)
        << rec.truncation_note;
    ASSERT_EQ(rec.stacks.size(), 1u) << "the chunk before the bad one is kept";
    EXPECT_EQ(rec.stacks[0].count, 4u);
    EXPECT_LT(allocs.Count(), 100u);
  }
}

TEST(RecordingTest, WriteErrorsNameThePath) {
  auto bad_dir = RecordingWriter::Open("/nonexistent-dir/x.wick", TestMeta());
  ASSERT_FALSE(bad_dir.ok());
  EXPECT_NE(bad_dir.status().message().find("/nonexistent-dir/x.wick"), absl::string_view::npos)
      << bad_dir.status();
  // /dev/full fails every write with ENOSPC.
  auto full = RecordingWriter::Open("/dev/full", TestMeta());
  ASSERT_FALSE(full.ok());
  EXPECT_NE(full.status().message().find("/dev/full"), absl::string_view::npos) << full.status();
  EXPECT_NE(full.status().message().find("disk space"), absl::string_view::npos) << full.status();
}

TEST(RecordingTest, KernelSymbolsComeBackSortedByAddress) {
  TempDir dir;
  const std::string path = dir.File("ksyms.wick");
  auto writer_or = RecordingWriter::Open(path, TestMeta());
  WICK_ASSERT_OK(writer_or.status());
  const KernelSymbol syms[] = {{0x300, 0, "c", ""}, {0x100, 0, "a", ""}, {0x200, 0, "b", "m"}};
  WICK_ASSERT_OK((*writer_or)->Finish(syms, Stats(), 0));
  WICK_ASSERT_OK_AND_ASSIGN(Recording rec, ReadRecording(path));
  ASSERT_EQ(rec.kernel_symbols.size(), 3u);
  EXPECT_EQ(rec.kernel_symbols[0].name, "a");
  EXPECT_EQ(rec.kernel_symbols[1].name, "b");
  EXPECT_EQ(rec.kernel_symbols[1].module, "m");
  EXPECT_EQ(rec.kernel_symbols[2].name, "c");
}

TEST(RecordingTest, JitSymbolsRoundTripAndRawFramesKeepTheirPid) {
  TempDir dir;
  const std::string path = dir.File("jit.wick");
  auto writer_or = RecordingWriter::Open(path, TestMeta());
  WICK_ASSERT_OK(writer_or.status());
  RecordingWriter& w = **writer_or;
  w.AddComm(0, "node");
  const Frame frames[] = {{0x7f0000001010ull, 4242, FrameKind::kUserRaw},
                          {0x7f0000002000ull, 0, FrameKind::kUserRaw}};
  w.AddStack(0, 0, frames);
  w.AddCount(0, 3);
  const JitSymbol first[] = {{4242, 0x7f0000002000ull, 0x20, "LazyCompile:*b /x.js:2"}};
  const JitSymbol second[] = {{4242, 0x7f0000001000ull, 0x100, "LazyCompile:*a /x.js:1"},
                              {7, 0x1000, 0x10, "seven"}};
  w.AddJitSymbols(first);
  w.AddJitSymbols(second);  // accumulates
  WICK_ASSERT_OK(w.Finish({}, Stats(), 0));

  WICK_ASSERT_OK_AND_ASSIGN(Recording rec, ReadRecording(path));
  EXPECT_TRUE(rec.complete);
  EXPECT_EQ(rec.invalid_items, 0u);
  ASSERT_EQ(rec.stacks.size(), 1u);
  EXPECT_EQ(rec.stacks[0].frames, std::vector<Frame>(std::begin(frames), std::end(frames)));
  ASSERT_EQ(rec.jit_symbols.size(), 3u);  // sorted by (pid, start)
  EXPECT_EQ(rec.jit_symbols[0].pid, 7u);
  EXPECT_EQ(rec.jit_symbols[0].name, "seven");
  EXPECT_EQ(rec.jit_symbols[1].pid, 4242u);
  EXPECT_EQ(rec.jit_symbols[1].start, 0x7f0000001000u);
  EXPECT_EQ(rec.jit_symbols[1].size, 0x100u);
  EXPECT_EQ(rec.jit_symbols[1].name, "LazyCompile:*a /x.js:1");
  EXPECT_EQ(rec.jit_symbols[2].name, "LazyCompile:*b /x.js:2");

  // Without JIT symbols the table reads back empty.
  const std::string plain = dir.File("plain.wick");
  auto plain_or = RecordingWriter::Open(plain, TestMeta());
  WICK_ASSERT_OK(plain_or.status());
  (*plain_or)->AddJitSymbols({});
  WICK_ASSERT_OK((*plain_or)->Finish({}, Stats(), 0));
  WICK_ASSERT_OK_AND_ASSIGN(Recording plain_rec, ReadRecording(plain));
  EXPECT_TRUE(plain_rec.jit_symbols.empty());
}

TEST(RecordingTest, HandMadeJitChunkMatchesTheDocumentedLayout) {
  Builder b;
  std::string jit;
  Builder::Put<uint32_t>(&jit, 2);
  Builder::Put<uint32_t>(&jit, 9);  // pid
  Builder::Put<uint64_t>(&jit, 0x5000);
  Builder::Put<uint64_t>(&jit, 0x40);
  Builder::PutStr(&jit, "jitted_b");
  Builder::Put<uint32_t>(&jit, 9);
  Builder::Put<uint64_t>(&jit, 0x4000);
  Builder::Put<uint64_t>(&jit, 0x40);
  Builder::PutStr(&jit, "jitted_a");
  b.Chunk(6, jit);
  b.End();
  WICK_ASSERT_OK_AND_ASSIGN(Recording rec, Parse(b.bytes()));
  EXPECT_TRUE(rec.complete);
  ASSERT_EQ(rec.jit_symbols.size(), 2u);
  EXPECT_EQ(rec.jit_symbols[0].name, "jitted_a");
  EXPECT_EQ(rec.jit_symbols[0].pid, 9u);
  EXPECT_EQ(rec.jit_symbols[1].start, 0x5000u);

  // A count the payload cannot hold stops the read there (cut short, nothing allocated).
  Builder lying;
  std::string bad;
  Builder::Put<uint32_t>(&bad, 0xffffffffu);
  lying.Chunk(6, bad);
  lying.End();
  WICK_ASSERT_OK_AND_ASSIGN(Recording cut, Parse(lying.bytes()));
  EXPECT_FALSE(cut.complete);
  EXPECT_NE(cut.truncation_note.find("malformed"), std::string::npos) << cut.truncation_note;
}

// --- Trace events (EVENT_TYPES and TRACE_SAMPLES chunks) ---

std::span<const std::byte> Bytes(std::string_view s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

const char kSwitchFormat[] = "name: sched_switch\nID: 316\nformat:\n...";

// Two flushes of trace samples, the second with times earlier than some of the first
// (rings are drained CPU by CPU), a stack and a comm defined in the flush that uses them.
struct TraceRecording {
  std::string bytes;
  std::vector<uint64_t> flush_ends;
  std::vector<size_t> flushed_samples;
};

void WriteTrace(const std::string& path, TraceRecording* out) {
  auto writer_or = RecordingWriter::Open(path, TestMeta());
  ASSERT_TRUE(writer_or.ok()) << writer_or.status();
  RecordingWriter& w = **writer_or;
  out->flush_ends.push_back(w.BytesWritten());
  out->flushed_samples.push_back(0);
  w.AddEventType(0, "sched:sched_switch", kSwitchFormat);
  w.AddEventType(1, "uprobe:/bin/x:f", "");
  w.AddComm(0, "app");
  w.AddTraceSample(300, 1, 10, 11, 0, 0, kNoStack, Bytes(std::string_view("\x01\x00\x02", 3)));
  w.AddTraceSample(100, 0, 10, 10, 0, 1, kNoStack, {});
  ASSERT_TRUE(w.Flush().ok());
  out->flush_ends.push_back(w.BytesWritten());
  out->flushed_samples.push_back(2);

  w.AddComm(1, "worker");
  const Frame frames[] = {{0xffffffff81000010ull, 0, FrameKind::kKernel}};
  w.AddStack(0, 1, frames);
  w.AddCount(0, 1);
  w.AddTraceSample(200, 1, 10, 12, 1, 1, 0, {});
  w.AddTraceSample(200, 0, 10, 10, 0, 0, kNoStack, Bytes("raw"));
  ASSERT_TRUE(w.Flush().ok());
  out->flush_ends.push_back(w.BytesWritten());
  out->flushed_samples.push_back(4);
  ASSERT_TRUE(w.Finish({}, Stats(), 1).ok());
  out->bytes = ReadFile(path);
}

TEST(RecordingTest, TraceSamplesRoundTripSortedByTimeThenCpu) {
  TempDir dir;
  TraceRecording trace;
  ASSERT_NO_FATAL_FAILURE(WriteTrace(dir.File("trace.wick"), &trace));
  WICK_ASSERT_OK_AND_ASSIGN(Recording rec, Parse(trace.bytes));
  EXPECT_TRUE(rec.complete);
  EXPECT_EQ(rec.invalid_items, 0u);
  ASSERT_EQ(rec.event_types.size(), 2u);
  EXPECT_EQ(rec.event_types[0].id, 0u);
  EXPECT_EQ(rec.event_types[0].name, "sched:sched_switch");
  EXPECT_EQ(rec.event_types[0].format, kSwitchFormat);
  EXPECT_EQ(rec.event_types[1].name, "uprobe:/bin/x:f");
  EXPECT_EQ(rec.event_types[1].format, "");
  ASSERT_EQ(rec.trace_samples.size(), 4u);
  const auto& t = rec.trace_samples;
  EXPECT_EQ(t[0].time, 100u);
  EXPECT_EQ(t[0].event_type, 1u);
  EXPECT_EQ(t[0].raw, "");
  EXPECT_EQ(t[1].time, 200u);
  EXPECT_EQ(t[1].cpu, 0u);
  EXPECT_EQ(t[1].raw, "raw");
  EXPECT_EQ(t[1].stack, kNoStack);
  EXPECT_EQ(t[2].time, 200u);
  EXPECT_EQ(t[2].cpu, 1u);
  EXPECT_EQ(t[2].tid, 12u);
  EXPECT_EQ(t[2].comm, 1u);
  EXPECT_EQ(t[2].stack, 0u);
  EXPECT_EQ(t[3].time, 300u);
  EXPECT_EQ(t[3].pid, 10u);
  EXPECT_EQ(t[3].tid, 11u);
  EXPECT_EQ(t[3].raw, std::string("\x01\x00\x02", 3));
  EXPECT_EQ(rec.stacks.size(), 1u);
}

TEST(RecordingTest, TraceTruncationAtEveryByteRecoversEveryFlushedSample) {
  TempDir dir;
  TraceRecording trace;
  ASSERT_NO_FATAL_FAILURE(WriteTrace(dir.File("trace.wick"), &trace));
  size_t last = 0;
  for (size_t cut = 1; cut <= trace.bytes.size(); ++cut) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    auto rec = Parse(std::string_view(trace.bytes).substr(0, cut));
    ASSERT_TRUE(rec.ok()) << rec.status();
    EXPECT_EQ(rec->complete, cut == trace.bytes.size());
    EXPECT_EQ(rec->invalid_items, 0u) << "a cut never produces dangling ids";
    EXPECT_GE(rec->trace_samples.size(), last);
    for (size_t i = 0; i < trace.flush_ends.size(); ++i) {
      if (trace.flush_ends[i] <= cut) {
        EXPECT_GE(rec->trace_samples.size(), trace.flushed_samples[i]);
      }
    }
    for (const RecordedTraceSample& s : rec->trace_samples) {
      ASSERT_LT(s.event_type, rec->event_types.size());
      ASSERT_LT(s.comm, rec->comms.size());
      ASSERT_TRUE(s.stack == kNoStack || s.stack < rec->stacks.size());
    }
    if (!rec->complete && !rec->trace_samples.empty()) {
      EXPECT_NE(rec->truncation_note.find(" samples, " + std::to_string(rec->trace_samples.size()) +
                                          " trace events; "),
                std::string::npos)
          << rec->truncation_note;
    }
    last = rec->trace_samples.size();
  }
  EXPECT_EQ(last, 4u);
}

TEST(RecordingTest, AddTraceSampleDoesNotAllocateOnceTheBufferHasGrown) {
  TempDir dir;
  auto writer_or = RecordingWriter::Open(dir.File("alloc.wick"), TestMeta());
  WICK_ASSERT_OK(writer_or.status());
  RecordingWriter& w = **writer_or;
  w.AddEventType(0, "sched:sched_switch", kSwitchFormat);
  w.AddComm(0, "app");
  const std::string raw(64, 'r');
  for (int i = 0; i < 1000; ++i) w.AddTraceSample(i, 0, 1, 1, 0, 0, kNoStack, Bytes(raw));
  WICK_ASSERT_OK(w.Flush());
  {
    testing::AllocationCounter allocs;
    for (int i = 0; i < 1000; ++i) w.AddTraceSample(i, 0, 1, 1, 0, 0, kNoStack, Bytes(raw));
    EXPECT_EQ(allocs.Count(), 0u);
  }
  WICK_ASSERT_OK(w.Finish({}, Stats(), 0));
  WICK_ASSERT_OK_AND_ASSIGN(Recording rec, ReadRecording(dir.File("alloc.wick")));
  EXPECT_EQ(rec.trace_samples.size(), 2000u);
  EXPECT_EQ(rec.trace_samples.back().raw, raw);
}

std::string EventTypesPayload(const std::vector<std::pair<uint32_t, std::string>>& types) {
  std::string p;
  Builder::Put<uint32_t>(&p, static_cast<uint32_t>(types.size()));
  for (const auto& [id, name] : types) {
    Builder::Put<uint32_t>(&p, id);
    Builder::PutStr(&p, name);
    Builder::PutStr(&p, "fmt of " + name);
  }
  return p;
}

struct HandSample {
  uint64_t time;
  uint32_t comm, event_type, stack;
  std::string raw;
};

std::string TraceSamplesPayload(const std::vector<HandSample>& samples) {
  std::string p;
  Builder::Put<uint32_t>(&p, static_cast<uint32_t>(samples.size()));
  for (const HandSample& s : samples) {
    Builder::Put<uint64_t>(&p, s.time);
    Builder::Put<uint32_t>(&p, 3);  // cpu
    Builder::Put<uint32_t>(&p, 4);  // pid
    Builder::Put<uint32_t>(&p, 5);  // tid
    Builder::Put<uint32_t>(&p, s.comm);
    Builder::Put<uint32_t>(&p, s.event_type);
    Builder::Put<uint32_t>(&p, s.stack);
    Builder::PutStr(&p, s.raw);
  }
  return p;
}

TEST(RecordingTest, HandMadeTraceChunksMatchTheDocumentedLayout) {
  Builder b;
  b.Chunk(2, DataPayload({{0, "x"}}, {{0, 0}}, {}, {}));
  b.Chunk(7, EventTypesPayload({{0, "a:b"}, {0, "again"}, {2, "gap"}, {1, "c:d"}}));
  // Dropped: unknown event type 2, unknown comm 1, unknown stack 1.
  b.Chunk(8, TraceSamplesPayload({{50, 0, 1, 0xffffffffu, ""},
                                  {40, 0, 0, 0, "payload"},
                                  {30, 0, 2, 0xffffffffu, ""},
                                  {30, 1, 0, 0xffffffffu, ""},
                                  {30, 0, 0, 1, ""}}));
  b.End();
  WICK_ASSERT_OK_AND_ASSIGN(Recording rec, Parse(b.bytes()));
  EXPECT_TRUE(rec.complete);
  EXPECT_EQ(rec.invalid_items, 2u + 3u);
  ASSERT_EQ(rec.event_types.size(), 2u);
  EXPECT_EQ(rec.event_types[0].name, "a:b");
  EXPECT_EQ(rec.event_types[0].format, "fmt of a:b");
  EXPECT_EQ(rec.event_types[1].name, "c:d");
  ASSERT_EQ(rec.trace_samples.size(), 2u);
  EXPECT_EQ(rec.trace_samples[0].time, 40u);
  EXPECT_EQ(rec.trace_samples[0].cpu, 3u);
  EXPECT_EQ(rec.trace_samples[0].pid, 4u);
  EXPECT_EQ(rec.trace_samples[0].tid, 5u);
  EXPECT_EQ(rec.trace_samples[0].stack, 0u);
  EXPECT_EQ(rec.trace_samples[0].raw, "payload");
  EXPECT_EQ(rec.trace_samples[1].time, 50u);
  EXPECT_EQ(rec.trace_samples[1].event_type, 1u);

  // Samples before their definitions are dropped too (definitions come first).
  Builder early;
  early.Chunk(8, TraceSamplesPayload({{1, 0, 0, 0xffffffffu, ""}}));
  early.Chunk(2, DataPayload({{0, "x"}}, {}, {}, {}));
  early.Chunk(7, EventTypesPayload({{0, "a:b"}}));
  early.End();
  WICK_ASSERT_OK_AND_ASSIGN(Recording e, Parse(early.bytes()));
  EXPECT_TRUE(e.trace_samples.empty());
  EXPECT_EQ(e.invalid_items, 1u);

  // Counts the payload cannot hold stop the read there without allocating for them.
  for (uint32_t type : {7u, 8u}) {
    Builder lying;
    lying.Chunk(2, DataPayload({{0, "x"}}, {}, {}, {}));
    std::string bad;
    Builder::Put<uint32_t>(&bad, 0x10000000u);
    bad.append(64, '\0');
    lying.Chunk(type, bad);
    lying.End();
    testing::AllocationCounter allocs;
    WICK_ASSERT_OK_AND_ASSIGN(Recording cut, Parse(lying.bytes()));
    EXPECT_FALSE(cut.complete);
    EXPECT_NE(cut.truncation_note.find("malformed"), std::string::npos) << cut.truncation_note;
    EXPECT_LT(allocs.Count(), 100u);
  }
}

// Version 1 files (stacks without pid and tid) still read, with pid = tid = 0; the same
// stack in the version 2 layout carries them.
TEST(RecordingTest, ReadsVersion1StacksAndVersion2Threads) {
  const std::vector<Frame> frames = {{0x10, 0, FrameKind::kUserFile},
                                     {0xffffffff81000000ull, 0, FrameKind::kKernel}};
  Builder v1(1);
  v1.Chunk(2, DataPayload({{0, "old"}}, {{0, 0}, {1, 0}}, frames, {{0, 3}, {1, 4}}));
  v1.End();
  WICK_ASSERT_OK_AND_ASSIGN(Recording old, Parse(v1.bytes()));
  EXPECT_TRUE(old.complete);
  EXPECT_EQ(old.version, 1u);
  EXPECT_EQ(old.invalid_items, 0u);
  ASSERT_EQ(old.stacks.size(), 2u);
  for (const RecordedStack& st : old.stacks) {
    EXPECT_EQ(st.pid, 0u);
    EXPECT_EQ(st.tid, 0u);
    EXPECT_EQ(st.frames, frames);
  }
  EXPECT_EQ(old.stacks[1].count, 4u);

  std::string p;
  Builder::Put<uint32_t>(&p, 0);  // no binaries
  Builder::Put<uint32_t>(&p, 1);
  Builder::Put<uint32_t>(&p, 0);
  Builder::PutStr(&p, "new");
  Builder::Put<uint32_t>(&p, 1);  // one stack: id, comm, pid, tid, frames
  for (uint32_t v : {0u, 0u, 77u, 78u, 1u}) Builder::Put<uint32_t>(&p, v);
  Builder::Put<uint64_t>(&p, 0xffffffff81000000ull);
  Builder::Put<uint32_t>(&p, 0);
  Builder::Put<uint32_t>(&p, 1);
  Builder::Put<uint32_t>(&p, 1);  // one count
  Builder::Put<uint32_t>(&p, 0);
  Builder::Put<uint64_t>(&p, 9);
  Builder v2(2);
  v2.Chunk(2, p);
  v2.End();
  WICK_ASSERT_OK_AND_ASSIGN(Recording cur, Parse(v2.bytes()));
  EXPECT_TRUE(cur.complete) << cur.truncation_note;
  EXPECT_EQ(cur.version, 2u);
  ASSERT_EQ(cur.stacks.size(), 1u);
  EXPECT_EQ(cur.stacks[0].pid, 77u);
  EXPECT_EQ(cur.stacks[0].tid, 78u);
  EXPECT_EQ(cur.stacks[0].count, 9u);
  EXPECT_EQ(cur.stacks[0].frames,
            (std::vector<Frame>{{0xffffffff81000000ull, 0, FrameKind::kKernel}}));
  // The version 1 reading of those bytes would differ: the layouts are not interchangeable.
  Builder v2_as_v1(1);
  v2_as_v1.Chunk(2, p);
  v2_as_v1.End();
  WICK_ASSERT_OK_AND_ASSIGN(Recording misread, Parse(v2_as_v1.bytes()));
  EXPECT_FALSE(misread.complete);
}

TEST(RecordingTest, StacksCarryTheirEventAndWeight) {
  TempDir dir;
  const std::string path = dir.File("events.wick");
  WICK_ASSERT_OK_AND_ASSIGN(std::unique_ptr<RecordingWriter> w,
                            RecordingWriter::Open(path, RecordingMeta{}));
  w->AddComm(0, "app");
  w->AddEventType(0, "cpu-clock", "");
  w->AddEventType(1, "page-faults", "");
  w->AddEventType(2, kOffCpuEventName, "");
  const Frame on_cpu[] = {{0xffffffff81000010ull, 0, FrameKind::kKernel}};
  const Frame off_cpu[] = {{uint64_t(OffCpuReason::kIo), 0, FrameKind::kOffCpu},
                           {0xffffffff81000010ull, 0, FrameKind::kKernel}};
  // The same frames under two events are two stacks.
  w->AddStack(0, 0, 0, 7, 7, on_cpu);
  w->AddStack(1, 1, 0, 7, 7, on_cpu);
  w->AddStack(2, 2, 0, 7, 8, off_cpu);
  w->AddCount(0, 2, 2'002'000);
  w->AddCount(1, 1, 1);
  w->AddCount(2, 0, 0);  // defined at switch-out, nothing yet
  ASSERT_TRUE(w->Flush().ok());
  w->AddCount(0, 1, 999'000);
  w->AddCount(2, 1, 5'000'000);
  ASSERT_TRUE(w->Finish({}, Stats(), 1).ok());
  WICK_ASSERT_OK_AND_ASSIGN(Recording rec, ReadRecording(path));
  EXPECT_EQ(rec.version, kRecordingVersion);
  EXPECT_EQ(rec.invalid_items, 0u);
  ASSERT_EQ(rec.stacks.size(), 3u);
  ASSERT_EQ(rec.event_types.size(), 3u);
  EXPECT_EQ(rec.event_types[2].name, kOffCpuEventName);
  EXPECT_EQ(rec.stacks[0].event, 0u);
  EXPECT_EQ(rec.stacks[0].count, 3u);
  EXPECT_EQ(rec.stacks[0].weight, 3'001'000u);
  EXPECT_EQ(rec.stacks[1].event, 1u);
  EXPECT_EQ(rec.stacks[1].weight, 1u);
  EXPECT_EQ(rec.stacks[2].event, 2u);
  EXPECT_EQ(rec.stacks[2].tid, 8u);
  EXPECT_EQ(rec.stacks[2].count, 1u);
  EXPECT_EQ(rec.stacks[2].weight, 5'000'000u);
  EXPECT_EQ(rec.stacks[2].frames, std::vector<Frame>(std::begin(off_cpu), std::end(off_cpu)));
  EXPECT_EQ(OffCpuReasonName(rec.stacks[2].frames[0].value), "io");
}

TEST(RecordingTest, HandMadeVersion3StacksMatchTheDocumentedLayout) {
  std::string p;
  Builder::Put<uint32_t>(&p, 0);  // no binaries
  Builder::Put<uint32_t>(&p, 1);
  Builder::Put<uint32_t>(&p, 0);
  Builder::PutStr(&p, "t");
  Builder::Put<uint32_t>(&p, 2);  // two stacks: id, event, comm, pid, tid, frames
  for (uint32_t v : {0u, 1u, 0u, 77u, 78u, 1u}) Builder::Put<uint32_t>(&p, v);
  Builder::Put<uint64_t>(&p, uint64_t(OffCpuReason::kSleep));
  Builder::Put<uint32_t>(&p, 0);
  Builder::Put<uint32_t>(&p, 3);  // kind 3: off-CPU reason
  for (uint32_t v : {1u, 9u, 0u, 77u, 78u, 0u}) Builder::Put<uint32_t>(&p, v);  // event 9: none
  Builder::Put<uint32_t>(&p, 2);  // two counts: id, delta, weight
  Builder::Put<uint32_t>(&p, 0);
  Builder::Put<uint64_t>(&p, 4);
  Builder::Put<uint64_t>(&p, 8'000'000);
  Builder::Put<uint32_t>(&p, 1);
  Builder::Put<uint64_t>(&p, 1);
  Builder::Put<uint64_t>(&p, 3);
  Builder b(3);
  b.Chunk(2, p);
  b.Chunk(7, EventTypesPayload({{0, "cpu-clock"}, {1, "off-cpu"}}));
  b.End();
  WICK_ASSERT_OK_AND_ASSIGN(Recording rec, Parse(b.bytes()));
  EXPECT_TRUE(rec.complete) << rec.truncation_note;
  ASSERT_EQ(rec.stacks.size(), 2u);
  EXPECT_EQ(rec.stacks[0].event, 1u);
  EXPECT_EQ(rec.stacks[0].pid, 77u);
  EXPECT_EQ(rec.stacks[0].count, 4u);
  EXPECT_EQ(rec.stacks[0].weight, 8'000'000u);
  EXPECT_EQ(rec.stacks[0].frames,
            (std::vector<Frame>{{uint64_t(OffCpuReason::kSleep), 0, FrameKind::kOffCpu}}));
  // An event the file never defines is repaired to event 0 and counted.
  EXPECT_EQ(rec.stacks[1].event, 0u);
  EXPECT_EQ(rec.stacks[1].weight, 3u);
  EXPECT_EQ(rec.invalid_items, 1u);
  // Read as version 2, the same bytes do not parse: the layouts are not interchangeable.
  Builder as_v2(2);
  as_v2.Chunk(2, p);
  as_v2.End();
  WICK_ASSERT_OK_AND_ASSIGN(Recording misread, Parse(as_v2.bytes()));
  EXPECT_FALSE(misread.complete && misread.invalid_items == 0 && misread.stacks.size() == 2 &&
               misread.stacks[0].weight == 8'000'000u);
}

// With WICK_WRITE_CORPUS=dir, writes the fuzzer's seed corpus (tests/recording/corpus; no
// .wick suffix, which .gitignore hides).
TEST(RecordingTest, WriteCorpus) {
  const char* out = std::getenv("WICK_WRITE_CORPUS");
  if (out == nullptr) GTEST_SKIP() << "set WICK_WRITE_CORPUS=dir to write the seed corpus";
  SmallRecording small;
  ASSERT_NO_FATAL_FAILURE(WriteSmall(std::string(out) + "/small_complete", &small));
  WriteFile(std::string(out) + "/small_cut_in_chunk",
            small.bytes.substr(0, small.flush_ends[2] + 20));
  WriteFile(std::string(out) + "/small_no_end", small.bytes.substr(0, small.flush_ends[3]));
  Builder b;
  b.Chunk(99, "x");
  b.Chunk(2, DataPayload({{0, "a"}, {3, "b"}}, {{0, 4}}, {{1, 7, FrameKind::kUserFile}},
                         {{0, 1}, {9, 1}}));
  b.End();
  WriteFile(std::string(out) + "/invalid_ids", b.bytes());
  TraceRecording trace;
  ASSERT_NO_FATAL_FAILURE(WriteTrace(std::string(out) + "/trace_complete", &trace));
  WriteFile(std::string(out) + "/trace_cut_in_samples",
            trace.bytes.substr(0, trace.flush_ends[2] - 5));
  Builder t;
  t.Chunk(2, DataPayload({{0, "x"}}, {{0, 0}}, {}, {}));
  t.Chunk(7, EventTypesPayload({{0, "a:b"}, {2, "gap"}}));
  t.Chunk(8, TraceSamplesPayload({{5, 0, 0, 0, "p"}, {4, 0, 2, 7, ""}}));
  t.End();
  WriteFile(std::string(out) + "/trace_invalid_ids", t.bytes());
}

}  // namespace
}  // namespace wick
