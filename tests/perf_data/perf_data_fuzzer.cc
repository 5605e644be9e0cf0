// Feeds arbitrary bytes to PerfDataReader: it must never crash, hang or over-allocate, and
// what it yields must be safe to use the way a record sink does (attr indexes in range,
// records inside their bytes, samples counted once). Each input is read twice: mapped
// (OpenBuffer, file or pipe format) and streamed from a real pipe (OpenFd), whose reads
// take the other path through the same records. The seeds in corpus/ are small recordings
// by Debian's perf (file mode fp, DWARF, -z, a tracepoint; pipe mode).
#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "wick/perf_data.h"
#include "wick/scoped.h"

namespace {

volatile uint64_t g_sink;

void Drain(wick::PerfDataReader& reader) {
  uint64_t samples = 0;
  while (true) {
    absl::StatusOr<const wick::PerfDataRecord*> rec = reader.Next();
    if (!rec.ok() || *rec == nullptr) break;
    const wick::PerfDataRecord& r = **rec;
    if (r.attr >= reader.info().attrs.size()) std::abort();
    if (r.bytes.size() < 8 || r.parsed.size != r.bytes.size()) std::abort();
    if (r.parsed.type == PERF_RECORD_SAMPLE) {
      ++samples;
      for (uint64_t ip : r.parsed.sample.callchain) g_sink = g_sink + ip;
      for (std::byte b : r.parsed.sample.stack_user) g_sink = g_sink + uint64_t(b);
    }
  }
  if (samples != reader.stats().samples) std::abort();
  for (const std::string& line : wick::DescribeSkipped(reader.stats()))
    g_sink = g_sink + line.size();
  for (const wick::PerfDataTraceFormat& f : reader.info().tracing_data.formats) {
    g_sink = g_sink + f.text.size();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  absl::StatusOr<wick::PerfDataReader> mapped = wick::PerfDataReader::OpenBuffer(bytes, "fuzz");
  if (mapped.ok()) Drain(*mapped);

  // Streamed: the whole input fits in the pipe's buffer (64 KiB), so one thread suffices.
  if (size > 65536) return 0;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return 0;
  wick::ScopedFd read_end(fds[0]), write_end(fds[1]);
  size_t written = 0;
  while (written < size) {
    const ssize_t n = write(write_end.get(), data + written, size - written);
    if (n <= 0) break;
    written += n;
  }
  write_end.reset();
  if (written == size) {
    absl::StatusOr<wick::PerfDataReader> streamed =
        wick::PerfDataReader::OpenFd(read_end.get(), "fuzz");
    if (streamed.ok()) Drain(*streamed);
  }
  return 0;
}
