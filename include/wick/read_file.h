// Reads kernel and config files (/proc, /sys, tracefs) whole.
//
// One helper for every module that reads such files, with one error convention: errors name
// the path (ErrnoError), and a process that vanished mid-read (ESRCH from /proc/PID/...)
// reads as NotFound, like a missing file. procfs files report size 0, so both readers grow
// their buffer until the end.
#ifndef WICK_READ_FILE_H_
#define WICK_READ_FILE_H_

#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace wick {

// A file's bytes in one malloc'd block, grown by realloc while reading: glibc keeps large
// blocks in mappings of their own and moves them by remapping, so a 5 MB /proc/kallsyms is
// neither copied at each doubling nor zero-filled first, as a growing std::string would be
// (two thirds of its load's CPU). Movable, not copyable.
class FileBytes {
 public:
  std::string_view view() const { return {data_.get(), size_}; }
  const char* data() const { return data_.get(); }
  size_t size() const { return size_; }

 private:
  friend absl::StatusOr<FileBytes> ReadFileBytes(const std::string& path);
  struct Free {
    void operator()(char* p) const { std::free(p); }
  };
  std::unique_ptr<char, Free> data_;
  size_t size_ = 0;
};

// The whole contents of `path`. NotFound when it does not exist (or its process is gone);
// otherwise the errno of open/read in words.
absl::StatusOr<FileBytes> ReadFileBytes(const std::string& path);
// The same, as a string (one more copy: for the small files most callers read).
absl::StatusOr<std::string> ReadFile(const std::string& path);

}  // namespace wick

#endif  // WICK_READ_FILE_H_
