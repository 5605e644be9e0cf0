// Renders a flame graph page in headless Chromium and checks its script ran on the embedded
// data (it fills the info line and draws). Skipped without /usr/bin/chromium, unless
// WICK_REQUIRE_PERF=1 (CI), where that fails.
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "output_fixture.h"
#include "testing/testing.h"
#include "wick/flamegraph.h"

namespace wick {
namespace {

class FlameGraphBrowserTest : public OutputTest {};

std::string RunChromium(const std::string& args, const std::string& out) {
  const std::string cmd = absl::StrCat(
      "/usr/bin/chromium --headless --no-sandbox --disable-gpu --disable-background-networking "
      "--disable-component-update --disable-sync --no-first-run --user-data-dir=",
      ::testing::TempDir(), "/wick-chromium.", getpid(), " ", args, " > ", out, " 2>/dev/null");
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream f(out);
  std::stringstream text;
  text << f.rdbuf();
  return text.str();
}

TEST_F(FlameGraphBrowserTest, ScriptRunsOnTheEmbeddedData) {
  if (access("/usr/bin/chromium", X_OK) != 0) {
    WICK_SKIP_OR_FAIL("no /usr/bin/chromium (apt-get install chromium)");
  }
  AddKnownTree();
  const std::string page = absl::StrCat(::testing::TempDir(), "/wick-fg.", getpid(), ".html");
  {
    std::ofstream f(page);
    WICK_ASSERT_OK(WriteFlameGraph(Prof(), f));
  }
  const std::string dom =
      RunChromium("--virtual-time-budget=2000 --dump-dom file://" + page, page + ".dom");
  // 12 samples; frames: all, the thread, main, work, a, b, c and three kernel functions.
  EXPECT_NE(dom.find("<span id=\"info\">12 samples, 10 frames</span>"), std::string::npos)
      << dom.substr(0, 3000);
  const std::string png = page + ".png";
  RunChromium("--window-size=1200,800 --screenshot=" + png + " file://" + page, page + ".log");
  std::ifstream shot(png, std::ios::binary);
  std::stringstream bytes;
  bytes << shot.rdbuf();
  EXPECT_GT(bytes.str().size(), 5000u) << "screenshot " << png;
  EXPECT_EQ(bytes.str().substr(1, 3), "PNG");
  std::remove(page.c_str());
  std::remove((page + ".dom").c_str());
  std::remove((page + ".log").c_str());
}

}  // namespace
}  // namespace wick
