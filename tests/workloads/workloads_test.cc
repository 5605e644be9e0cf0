// The workloads run in every mode and exit cleanly, and carry what other tests rely on:
// symbols a, b, c, work, main, a build-id, and a stripped copy with the same build-id.
#include "workloads.h"

#include <sys/wait.h>

#include <cstdio>
#include <string>

#include "gtest/gtest.h"
#include "testing/testing.h"

namespace wick::workloads {
namespace {

// Runs `command` through the shell; returns its stdout, sets *exit_code.
std::string RunShell(const std::string& command, int* exit_code) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) {
    *exit_code = -1;
    return out;
  }
  char buf[256];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int status = pclose(p);
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

TEST(WorkloadsTest, KnownTreeRunsInEveryMode) {
  int rc = -1;
  RunShell(KnownTreePath() + " 0.05", &rc);
  EXPECT_EQ(rc, 0);
  RunShell(KnownTreePath() + " 0.05 threads 3", &rc);
  EXPECT_EQ(rc, 0);
  RunShell(KnownTreePath() + " 0.05 fork", &rc);
  EXPECT_EQ(rc, 0);
  std::string out = RunShell(KnownTreePath() + " 0.05 pid", &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(out.rfind("pid ", 0), 0u) << out;
  RunShell(KnownTreePath() + " 0.05 bogus", &rc);
  EXPECT_EQ(rc, 2);
  RunShell(KnownTreeNoFpPath() + " 0.05", &rc);
  EXPECT_EQ(rc, 0);
  RunShell(KnownTreeCcPath() + " 0.05", &rc);
  EXPECT_EQ(rc, 0);
}

TEST(WorkloadsTest, SymbolsAndBuildIds) {
  for (const char* name : {"a", "b", "c", "work", "main"}) {
    WICK_ASSERT_OK_AND_ASSIGN(ElfSymbol sym, FindElfSymbol(KnownTreePath(), name));
    EXPECT_GT(sym.size, 0u) << name;
    EXPECT_GT(sym.file_offset, 0u) << name;
  }
  WICK_ASSERT_OK_AND_ASSIGN(std::string id, ReadElfBuildId(KnownTreePath()));
  EXPECT_EQ(id.size(), 20u);
  WICK_ASSERT_OK_AND_ASSIGN(std::string stripped_id, ReadElfBuildId(KnownTreeStrippedPath()));
  EXPECT_EQ(stripped_id, id);
  EXPECT_FALSE(FindElfSymbol(KnownTreeStrippedPath(), "a").ok());
  WICK_ASSERT_OK_AND_ASSIGN(ElfSymbol burn,
                            FindElfSymbolContaining(KnownTreeCcPath(), "wick_workload4BurnILi6"));
  EXPECT_EQ(burn.name.rfind("_Z", 0), 0u);
}

}  // namespace
}  // namespace wick::workloads
