#include "wick/status.h"

#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"

namespace wick {

absl::Status ErrnoError(int err, std::string_view what, std::string_view hint) {
  std::string message = absl::StrCat(Sv(what), ": ", std::strerror(err));
  if (!hint.empty()) absl::StrAppend(&message, "; ", Sv(hint));
  return absl::Status(absl::ErrnoToStatusCode(err), message);
}

absl::Status Annotate(const absl::Status& status, std::string_view context) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(Sv(context), ": ", status.message()));
}

}  // namespace wick
