// Report-time symbol sources a user points wick at: --symfs for binaries copied from another
// machine or a container, --debug-dir for debug files in a build-id tree.
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "folded.h"
#include "run.h"
#include "testing/testing.h"
#include "workloads.h"

namespace wick::testing {
namespace {

namespace fs = std::filesystem;
const std::string kWick = WICK_BINARY;

// A frame named by module and offset: the binary kt without its symbols.
bool UnnamedInKt(const std::string& frame) { return absl::StartsWith(frame, "kt+0x"); }

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

  Folded Report(const std::vector<std::string>& extra) {
    return ReportFolded(kWick, dir_ + "/r.wick", extra);
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
  const Folded without = Report({});
  EXPECT_EQ(without.With({"main", "work", "a"}), 0u);
  EXPECT_GT(without.WithFrame(UnnamedInKt), without.total() / 2);
  // a takes 60 % of the time.
  const Folded with = Report({"--symfs", dir_ + "/root"});
  EXPECT_GT(with.With({"main", "work", "a"}), with.total() * 4 / 10);
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
  const Folded without = Report({});
  ASSERT_GT(without.total(), 0u);
  EXPECT_EQ(without.With({"work", "a"}), 0u);
  const Folded with = Report({"--debug-dir", dir_ + "/debug"});
  EXPECT_GT(with.With({"main", "work", "a"}), with.total() * 4 / 10);
}

}  // namespace
}  // namespace wick::testing
