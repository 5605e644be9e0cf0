// Status helpers shared by every module.
//
// Whole operations return absl::Status / absl::StatusOr<T>; these macros propagate them the
// way Perfetto's status_macros.h does, since Debian's Abseil (20220623) ships none.
// ErrnoError() is the one place an errno becomes words: callers name the object and,
// where there is one, the fix; the errno text is appended.
#ifndef WICK_STATUS_H_
#define WICK_STATUS_H_

#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define WICK_STATUS_CONCAT_INNER_(a, b) a##b
#define WICK_STATUS_CONCAT_(a, b) WICK_STATUS_CONCAT_INNER_(a, b)

// Returns from the current function if `expr` (an absl::Status) is not OK.
#define WICK_RETURN_IF_ERROR(expr)               \
  do {                                           \
    ::absl::Status wick_status_ = (expr);        \
    if (!wick_status_.ok()) return wick_status_; \
  } while (0)

// `lhs` = value of `rexpr` (an absl::StatusOr<T>), or return its status.
#define WICK_ASSIGN_OR_RETURN(lhs, rexpr) \
  WICK_ASSIGN_OR_RETURN_IMPL_(WICK_STATUS_CONCAT_(wick_statusor_, __LINE__), lhs, rexpr)
#define WICK_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                                \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()

namespace wick {

// Debian's Abseil is built with its own absl::string_view (ABSL_OPTION_USE_STD_STRING_VIEW 0),
// which does not convert from std::string_view: pass views to absl::StrCat, absl::Status
// etc. through Sv().
inline absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }
inline std::string_view Sv(absl::string_view s) { return std::string_view(s.data(), s.size()); }

// Builds a status from `err` (an errno value): "<what>: <strerror>[; <hint>]". The code is
// the canonical one for the errno (EACCES → PermissionDenied, ENOENT → NotFound, ...).
absl::Status ErrnoError(int err, std::string_view what, std::string_view hint = {});

// Prepends context to a non-OK status, keeping its code: "<context>: <message>".
absl::Status Annotate(const absl::Status& status, std::string_view context);

}  // namespace wick

#endif  // WICK_STATUS_H_
