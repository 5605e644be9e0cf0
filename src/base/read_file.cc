#include "wick/read_file.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "wick/scoped.h"
#include "wick/status.h"

namespace wick {

absl::StatusOr<FileBytes> ReadFileBytes(const std::string& path) {
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoError(errno, absl::StrCat("open ", path));
  FileBytes out;
  size_t room = 0;
  for (;;) {
    if (out.size_ == room) {
      room = std::max<size_t>(2 * room, 4096);
      char* grown = static_cast<char*>(std::realloc(out.data_.get(), room));
      if (grown == nullptr)
        return absl::ResourceExhaustedError(absl::StrCat("read ", path, ": no memory"));
      (void)out.data_.release();  // realloc took it over
      out.data_.reset(grown);
    }
    const ssize_t n = ::read(fd.get(), out.data_.get() + out.size_, room - out.size_);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno == ESRCH ? ENOENT : errno, absl::StrCat("read ", path));
    }
    if (n == 0) break;
    out.size_ += static_cast<size_t>(n);
  }
  return out;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  WICK_ASSIGN_OR_RETURN(FileBytes bytes, ReadFileBytes(path));
  return std::string(bytes.view());
}

}  // namespace wick
