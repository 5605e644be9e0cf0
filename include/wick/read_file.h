// Reads small kernel and config files (/proc, /sys, tracefs) whole.
//
// One helper for every module that reads such files, with one error convention: errors name
// the path (ErrnoError), and a process that vanished mid-read (ESRCH from /proc/PID/...)
// reads as NotFound, like a missing file.
#ifndef WICK_READ_FILE_H_
#define WICK_READ_FILE_H_

#include <string>

#include "absl/status/statusor.h"

namespace wick {

// The whole contents of `path`. NotFound when it does not exist (or its process is gone);
// otherwise the errno of open/read in words.
absl::StatusOr<std::string> ReadFile(const std::string& path);

}  // namespace wick

#endif  // WICK_READ_FILE_H_
