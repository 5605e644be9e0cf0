#include "wick/read_file.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "wick/scoped.h"
#include "wick/status.h"

namespace wick {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoError(errno, absl::StrCat("open ", path));
  // Read straight into the string, doubling its room: procfs files (kallsyms, 5 MB) say
  // size 0, and a bounce buffer would copy every byte once more.
  std::string out;
  size_t len = 0;
  out.resize(4096);
  for (;;) {
    if (len == out.size()) out.resize(out.size() * 2);
    const ssize_t n = ::read(fd.get(), out.data() + len, out.size() - len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno == ESRCH ? ENOENT : errno, absl::StrCat("read ", path));
    }
    if (n == 0) break;
    len += static_cast<size_t>(n);
  }
  out.resize(len);
  return out;
}

}  // namespace wick
