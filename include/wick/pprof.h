// pprof output: a gzip-compressed perftools.profiles.Profile protobuf (profile.proto of
// github.com/google/pprof), read by `go tool pprof`, Pyroscope, Parca and speedscope.
//
// Written from one resolved profile (profile.h): one sample type per value of the profile
// (samples/count and cpu/nanoseconds for cpu-clock; wall, cpu and off-cpu nanoseconds for the
// wall profile, ...) with default_sample_type the shown one, so `go tool pprof
// -sample_index=NAME` picks another. One Sample per stack; a "thread" label carries the comm,
// numeric "pid" and "tid" labels the process and thread (not for version-1 recordings, which
// lack them). One Location per distinct recorded frame (leaf first in Sample.location_id) with
// one Line per display frame at that address: inlined functions innermost first, then the
// symbol's function, as pprof expects. One Mapping per recorded binary with its build-id in hex,
// plus one for the kernel. Stateless; errors only for a failed write (naming the path) or a
// failed compression.
#ifndef WICK_PPROF_H_
#define WICK_PPROF_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "wick/profile.h"

namespace wick {

struct PprofOptions {
  // Source file and line numbers in Line/Function entries where debug info has them.
  bool lines = true;
  // When set, counts the bytes of strings that were not UTF-8 (written as U+FFFD).
  uint64_t* text_not_utf8 = nullptr;
};

// The serialized (uncompressed) Profile message.
std::string EncodePprofProfile(const Profile& profile, const PprofOptions& opts = {});

// gzip (RFC 1952) of `data`, as pprof files are stored.
absl::StatusOr<std::string> GzipCompress(const std::string& data);

// Writes the gzip-compressed Profile to `path` (created or truncated).
absl::Status WritePprofFile(const Profile& profile, const std::string& path,
                            const PprofOptions& opts = {});

}  // namespace wick

#endif  // WICK_PPROF_H_
