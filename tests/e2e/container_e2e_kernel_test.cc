// A target in its own mount namespace, as in a container: its binary sits on a tmpfs only
// that namespace sees. wick must take the build-id through /proc/PID/root while recording
// (the host cannot open the file, then or later), so that the recording still symbolizes
// from a debug file found by build-id.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "folded.h"
#include "run.h"
#include "testing/testing.h"
#include "workloads.h"

namespace wick::testing {
namespace {

namespace fs = std::filesystem;
const std::string kWick = WICK_BINARY;

class ContainerE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RunResult r = RunProgram({kWick, "record", "-o", TempPath("probe-ct.wick"), "--", "/bin/true"});
    if (r.exit_code != 0) WICK_SKIP_OR_FAIL("wick record cannot open perf events: " + r.err);
    RunResult ns = RunProgram({"/usr/bin/unshare", "--mount", "--propagation", "private", "true"});
    if (ns.exit_code != 0)
      WICK_SKIP_OR_FAIL("cannot make a mount namespace (needs root): " + ns.err);
    char templ[] = "/tmp/wick-container-XXXXXX";
    ASSERT_NE(mkdtemp(templ), nullptr);
    dir_ = templ;
    fs::create_directories(dir_ + "/ns");
    fs::create_directories(dir_ + "/image");
    fs::copy_file(workloads::KnownTreePath(), dir_ + "/image/kt");
    // The debug file, by build-id, where a user would unpack the container's debug symbols.
    WICK_ASSERT_OK_AND_ASSIGN(std::string id, workloads::ReadElfBuildId(dir_ + "/image/kt"));
    const std::string hex = absl::BytesToHexString(id);
    const std::string debug = dir_ + "/debug/.build-id/" + hex.substr(0, 2);
    fs::create_directories(debug);
    fs::copy_file(workloads::KnownTreePath(), debug + "/" + hex.substr(2) + ".debug");
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }

  // argv that runs the workload from a tmpfs mounted over DIR/ns in a new mount namespace;
  // the host's DIR/ns stays empty.
  std::vector<std::string> InNamespace(const std::string& workload_args) {
    return {"/usr/bin/unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            absl::StrCat("mount -t tmpfs wick-ct ", dir_, "/ns && cp ", dir_, "/image/kt ", dir_,
                         "/ns/kt && exec ", dir_, "/ns/kt ", workload_args)};
  }

  void ExpectNamedOnlyByBuildId(const std::string& file) {
    ASSERT_FALSE(fs::exists(dir_ + "/ns/kt")) << "the namespace's tmpfs leaked to the host";
    // Without debug files nothing on the host has the binary: frames stay module+offset.
    const Folded without = ReportFolded(kWick, file);
    EXPECT_EQ(without.With({"main", "work", "a"}), 0u);
    EXPECT_GT(without.WithFrame([](const std::string& f) { return absl::StartsWith(f, "kt+0x"); }),
              without.total() / 2);
    // The recorded build-id finds the debug file: full names.
    // a takes 60 % of the time.
    const Folded with = ReportFolded(kWick, file, {"--debug-dir", dir_ + "/debug"});
    EXPECT_GT(with.With({"main", "work", "a"}), with.total() * 4 / 10);
  }

  std::string dir_;
};

// Attaching: the mappings come from /proc/PID/maps, the build-id from /proc/PID/root.
TEST_F(ContainerE2eTest, AttachedProcessBuildIdThroughItsRoot) {
  Background target(InNamespace("6 pid"));
  const std::string line = target.ReadLine();
  ASSERT_TRUE(absl::StartsWith(line, "pid ")) << line;
  const std::string pid = line.substr(4);
  const std::string file = dir_ + "/attach.wick";
  RunResult r = RunProgram({kWick, "record", "-g", "-p", pid, "--duration", "1.5", "-o", file});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Every user frame of the target had a build-id.
  EXPECT_TRUE(absl::StrContains(r.err, "frames without build-id: 0")) << r.err;
  ExpectNamedOnlyByBuildId(file);
}

// Launching: the mapping arrives in MMAP2 with the path as the target sees it.
TEST_F(ContainerE2eTest, LaunchedIntoANamespace) {
  const std::string file = dir_ + "/launch.wick";
  std::vector<std::string> argv = {kWick, "record", "-g", "-o", file, "--"};
  for (const std::string& a : InNamespace("r40")) argv.push_back(a);
  RunResult r = RunProgram(argv);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ExpectNamedOnlyByBuildId(file);
}

}  // namespace
}  // namespace wick::testing
