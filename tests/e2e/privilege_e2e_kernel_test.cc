// When the kernel refuses, wick says why and what to do: run from root, these tests drop to
// the unprivileged user `nobody` (setpriv) and check each refusal's one-line message, and that
// what an unprivileged user may do (its own processes, user space) still works.
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "folded.h"
#include "run.h"
#include "testing/testing.h"
#include "workloads.h"

namespace wick::testing {
namespace {

const std::string kWick = WICK_BINARY;

class PrivilegeE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) WICK_SKIP_OR_FAIL("needs root, to drop to nobody");
    if (access("/usr/bin/setpriv", X_OK) != 0) WICK_SKIP_OR_FAIL("setpriv (util-linux) missing");
    if (getpwnam("nobody") == nullptr) WICK_SKIP_OR_FAIL("no user 'nobody'");
    std::ifstream("/proc/sys/kernel/perf_event_paranoid") >> paranoid_;
    // A directory nobody can write to (TempPath's parent is private to root).
    char templ[] = "/tmp/wick-nobody-XXXXXX";
    ASSERT_NE(mkdtemp(templ), nullptr);
    dir_ = templ;
    chmod(dir_.c_str(), 0777);
  }

  RunResult AsNobody(std::vector<std::string> args) {
    std::vector<std::string> argv = {"/usr/bin/setpriv", "--reuid=nobody", "--regid=nogroup",
                                     "--clear-groups", kWick};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProgram(argv);
  }

  // Lines of `s` but the notice of the user-space fallback (which may precede an error).
  static int Lines(const std::string& s) {
    int n = 0;
    for (absl::string_view line : absl::StrSplit(s, '\n', absl::SkipEmpty())) {
      n += !absl::StrContains(line, "user space only, as");
    }
    return n;
  }

  // known_tree's recording in `file`, reported as nobody: a takes 60 % of the time, and no
  // kernel frame is recorded.
  void ExpectUserSpaceKnownTree(const std::string& file) {
    RunResult rep = AsNobody({"report", "-i", file, "--folded"});
    ASSERT_EQ(rep.exit_code, 0) << rep.err;
    const Folded folded = ParseFoldedOrFail(rep.out);
    EXPECT_GT(folded.With({"main", "work", "a"}), folded.total() * 4 / 10) << rep.out;
    EXPECT_EQ(folded.WithFrame([](const std::string& f) { return absl::EndsWith(f, "_[k]"); }), 0u)
        << rep.out;
  }

  int paranoid_ = 2;
  std::string dir_;
};

TEST_F(PrivilegeE2eTest, SystemWideNamesParanoidAndCapPerfmon) {
  if (paranoid_ <= 0) GTEST_SKIP() << "perf_event_paranoid allows system-wide profiling";
  RunResult r = AsNobody({"record", "-a", "--duration", "0.2", "-o", dir_ + "/a.wick"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(r.err, "kernel.perf_event_paranoid")) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "CAP_PERFMON")) << r.err;
  EXPECT_EQ(Lines(r.err), 1) << r.err;
}

// At perf_event_paranoid 2 (Debian's default) the kernel refuses kernel space to an
// unprivileged user: as perf does, record and stat fall back to user space by themselves with
// one notice, and stacks hold no kernel frame. A kernel side asked for explicitly (':k') is
// still refused with the hint.
TEST_F(PrivilegeE2eTest, UnprivilegedFallsBackToUserSpaceWithANotice) {
  if (paranoid_ != 2) GTEST_SKIP() << "perf_event_paranoid is not 2";
  const std::string file = dir_ + "/k.wick";
  RunResult r = AsNobody({"record", "-g", "-o", file, "--", workloads::KnownTreePath(), "r50"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "kernel.perf_event_paranoid is 2")) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "user space only, as cpu-clock:u")) << r.err;
  ExpectUserSpaceKnownTree(file);

  RunResult stat = AsNobody({"stat", "--", "/bin/true"});
  ASSERT_EQ(stat.exit_code, 0) << stat.err;
  EXPECT_TRUE(absl::StrContains(stat.err + stat.out, "user space only")) << stat.err;

  r = AsNobody({"record", "-e", "cpu-clock:k", "-o", dir_ + "/kk.wick", "--", "/bin/true"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(r.err, "kernel.perf_event_paranoid is")) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "':u'")) << r.err;
  EXPECT_EQ(Lines(r.err), 1) << r.err;
}

TEST_F(PrivilegeE2eTest, TracepointsNameTracefsAndTheFix) {
  // As root first, so tracefs is mounted and the refusal is about permissions, not absence.
  RunResult root = RunProgram({kWick, "record", "-e", "sched:sched_process_exec", "-o",
                               dir_ + "/root.wick", "--", "/bin/true"});
  ASSERT_EQ(root.exit_code, 0) << root.err;
  RunResult r =
      AsNobody({"record", "-e", "sched:sched_switch", "-o", dir_ + "/t.wick", "--", "/bin/true"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(r.err, "tracefs") || absl::StrContains(r.err, "tracepoint"))
      << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "root")) << r.err;
  EXPECT_EQ(Lines(r.err), 1) << r.err;
}

TEST_F(PrivilegeE2eTest, UserSpaceOfOwnProcessWorksUnprivileged) {
  if (paranoid_ > 2) GTEST_SKIP() << "perf_event_paranoid > 2 refuses everything unprivileged";
  std::string file = dir_ + "/u.wick";
  RunResult r = AsNobody(
      {"record", "-e", "cpu-clock:u", "-g", "-o", file, "--", workloads::KnownTreePath(), "r100"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ExpectUserSpaceKnownTree(file);
}

}  // namespace
}  // namespace wick::testing
