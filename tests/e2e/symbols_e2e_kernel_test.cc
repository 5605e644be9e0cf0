// Report-time symbol sources a user points wick at: --symfs for binaries copied from another
// machine or a container, --debug-dir for debug files in a build-id tree.
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "run.h"
#include "testing/testing.h"
#include "workloads.h"

namespace wick::testing {
namespace {

namespace fs = std::filesystem;
const std::string kWick = WICK_BINARY;

class SymbolsE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RunResult r =
        RunProgram({kWick, "record", "-o", TempPath("probe-sym.wick"), "--", "/bin/true"});
    if (r.exit_code != 0) WICK_SKIP_OR_FAIL("wick record cannot open perf events: " + r.err);
    char templ[] = "/tmp/wick-symbols-XXXXXX";
    ASSERT_NE(mkdtemp(templ), nullptr);
    dir_ = templ;
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }

  std::string Folded(const std::vector<std::string>& extra) {
    std::vector<std::string> argv = {kWick, "report", "-i", dir_ + "/r.wick", "--folded"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    RunResult r = RunProgram(argv);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  }

  std::string dir_;
};

TEST_F(SymbolsE2eTest, SymfsFindsABinaryThatMovedAway) {
  fs::create_directories(dir_ + "/app");
  fs::copy_file(workloads::KnownTreePath(), dir_ + "/app/kt");
  RunResult r =
      RunProgram({kWick, "record", "-g", "-o", dir_ + "/r.wick", "--", dir_ + "/app/kt", "r30"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The binary leaves; a copy sits under a root elsewhere, at its recorded path.
  fs::create_directories(dir_ + "/root" + dir_ + "/app");
  fs::rename(dir_ + "/app/kt", dir_ + "/root" + dir_ + "/app/kt");
  std::string without = Folded({});
  EXPECT_FALSE(absl::StrContains(without, ";main;work;a ")) << without;
  EXPECT_TRUE(absl::StrContains(without, "kt+0x")) << without;
  std::string with = Folded({"--symfs", dir_ + "/root"});
  EXPECT_TRUE(absl::StrContains(with, ";main;work;a ")) << with;
}

TEST_F(SymbolsE2eTest, DebugDirWithABuildIdTree) {
  // A stripped binary (only dynamic symbols) and its debug file in DIR/.build-id/xx/rest.debug.
  fs::create_directories(dir_ + "/app");
  fs::copy_file(workloads::KnownTreeStrippedPath(), dir_ + "/app/kt");
  WICK_ASSERT_OK_AND_ASSIGN(std::string id, workloads::ReadElfBuildId(dir_ + "/app/kt"));
  std::string hex = absl::BytesToHexString(absl::string_view(id.data(), id.size()));
  std::string debug = dir_ + "/debug/.build-id/" + hex.substr(0, 2);
  fs::create_directories(debug);
  fs::copy_file(workloads::KnownTreePath() + ".debug", debug + "/" + hex.substr(2) + ".debug");
  RunResult r =
      RunProgram({kWick, "record", "-g", "-o", dir_ + "/r.wick", "--", dir_ + "/app/kt", "r30"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string without = Folded({});
  ASSERT_FALSE(without.empty());
  EXPECT_FALSE(absl::StrContains(without, ";work;a ")) << without;
  std::string with = Folded({"--debug-dir", dir_ + "/debug"});
  EXPECT_TRUE(absl::StrContains(with, ";main;work;a ")) << with;
}

}  // namespace
}  // namespace wick::testing
