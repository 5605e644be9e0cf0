// pprof output: a gzip-compressed perftools.profiles.Profile protobuf (profile.proto of
// github.com/google/pprof), read by `go tool pprof`, Pyroscope, Parca and speedscope.
//
// One Sample per recorded stack with values [samples/count] and, for clock events with a known
// period or frequency, [cpu/nanoseconds]; a "thread" label carries the comm, numeric "pid" and
// "tid" labels the process and thread (not for version-1 recordings, which lack them). One Location
// per distinct frame (leaf first in Sample.location_id) with one Line per function at that address:
// inlined functions innermost first, then the symbol's function, as pprof expects. One Mapping
// per recorded binary with its build-id in hex, plus one for the kernel. Function names come
// from the shared frame naming of folded.h. Stateless apart from the Symbolizer's caches;
// errors only for a failed write (naming the path) or a failed compression.
#ifndef WICK_PPROF_H_
#define WICK_PPROF_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "wick/recording.h"
#include "wick/symbolizer.h"

namespace wick {

struct PprofOptions {
  // One Line per inlined function (innermost first) before the symbol's own Line. When false,
  // each Location has the symbol's Line only.
  bool inlined = true;
  // Source file and line numbers in Line/Function entries where debug info has them.
  bool lines = true;
  // When set, counts the bytes of strings that were not UTF-8 (written as U+FFFD).
  uint64_t* text_not_utf8 = nullptr;
};

// The serialized (uncompressed) Profile message.
std::string EncodePprofProfile(const Recording& rec, Symbolizer& sym,
                               const PprofOptions& opts = {});

// gzip (RFC 1952) of `data`, as pprof files are stored.
absl::StatusOr<std::string> GzipCompress(const std::string& data);

// Writes the gzip-compressed Profile to `path` (created or truncated).
absl::Status WritePprofFile(const Recording& rec, Symbolizer& sym, const std::string& path,
                            const PprofOptions& opts = {});

}  // namespace wick

#endif  // WICK_PPROF_H_
