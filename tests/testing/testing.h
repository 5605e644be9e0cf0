// Helpers for wick's tests: status assertions, skip-or-fail for kernel capabilities, and an
// allocation counter (this library replaces global operator new to count calls).
#ifndef WICK_TESTS_TESTING_H_
#define WICK_TESTS_TESTING_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"

#define WICK_EXPECT_OK(expr)                                           \
  do {                                                                 \
    const auto& wick_s_ = (expr);                                      \
    EXPECT_TRUE(wick_s_.ok()) << ::wick::testing::StatusText(wick_s_); \
  } while (0)

#define WICK_ASSERT_OK(expr)                                           \
  do {                                                                 \
    const auto& wick_s_ = (expr);                                      \
    ASSERT_TRUE(wick_s_.ok()) << ::wick::testing::StatusText(wick_s_); \
  } while (0)

#define WICK_TESTING_CONCAT_INNER_(a, b) a##b
#define WICK_TESTING_CONCAT_(a, b) WICK_TESTING_CONCAT_INNER_(a, b)
#define WICK_ASSERT_OK_AND_ASSIGN(lhs, rexpr) \
  WICK_ASSERT_OK_AND_ASSIGN_IMPL_(WICK_TESTING_CONCAT_(wick_sor_, __LINE__), lhs, rexpr)
#define WICK_ASSERT_OK_AND_ASSIGN_IMPL_(tmp, lhs, rexpr)              \
  auto tmp = (rexpr);                                                 \
  ASSERT_TRUE(tmp.ok()) << ::wick::testing::StatusText(tmp.status()); \
  lhs = std::move(tmp).value()

// Skips the test with `reason`, or fails it when WICK_REQUIRE_PERF=1 is set (CI), so a
// machine that cannot run kernel tests never passes for one that did.
#define WICK_SKIP_OR_FAIL(reason)                                                \
  do {                                                                           \
    if (::wick::testing::RequirePerf()) {                                        \
      FAIL() << "required by WICK_REQUIRE_PERF=1 but unavailable: " << (reason); \
    } else {                                                                     \
      GTEST_SKIP() << (reason);                                                  \
    }                                                                            \
  } while (0)

// WICK_REQUIRE(cond, reason): skip-or-fail unless cond holds.
#define WICK_REQUIRE(cond, reason)          \
  do {                                      \
    if (!(cond)) WICK_SKIP_OR_FAIL(reason); \
  } while (0)

namespace wick::testing {

inline std::string StatusText(const absl::Status& s) { return s.ToString(); }
template <typename T>
std::string StatusText(const absl::StatusOr<T>& s) {
  return s.status().ToString();
}

// True when WICK_REQUIRE_PERF=1 is in the environment.
bool RequirePerf();

// Number of global operator new calls made by this process so far (all threads).
uint64_t AllocationCount();

// Counts allocations made between construction and Count().
class AllocationCounter {
 public:
  AllocationCounter() : start_(AllocationCount()) {}
  uint64_t Count() const { return AllocationCount() - start_; }

 private:
  uint64_t start_;
};

// Directory holding test data and built helper binaries, from WICK_TEST_DATA_DIR if set,
// else the compile-time build directory.
std::string BuildDir();

}  // namespace wick::testing

#endif  // WICK_TESTS_TESTING_H_
