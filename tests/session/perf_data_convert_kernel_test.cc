// ConvertPerfData's choice of kernel names: a perf.data's kernel frames are named from this
// machine's kallsyms only when perf's kernel map says the file comes from this boot (its
// `_text` where this boot's is). A kallsyms whose `_text` lies elsewhere stands in for
// another boot: the frames stay addresses and a note says why. Records with Debian's perf.
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "run.h"
#include "testing/testing.h"
#include "wick/perf_data.h"
#include "wick/perf_data_convert.h"
#include "wick/recording.h"
#include "workloads.h"

namespace wick {
namespace {

using testing::RunProgram;
using testing::RunResult;
using testing::TempPath;

class PerfDataConvertTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = TempPath("convert.perf.data");
    const RunResult r =
        RunProgram({"/usr/bin/perf", "record", "-q", "--buildid-mmap", "-e", "cpu-clock", "-g",
                    "-o", path_, "--", workloads::KnownTreePath(), "r30"});
    if (r.exit_code != 0) WICK_SKIP_OR_FAIL("perf record failed: " + r.err);
  }

  // Converts the recording with `kallsyms`; the recording read back.
  Recording Convert(const std::string& kallsyms, PerfDataConversion* out) {
    absl::StatusOr<PerfDataReader> reader = PerfDataReader::OpenFile(path_);
    EXPECT_TRUE(reader.ok()) << reader.status();
    const std::string wick = TempPath("convert.wick");
    PerfDataConvertOptions options;
    options.kallsyms_path = kallsyms;
    absl::StatusOr<PerfDataConversion> conv =
        ConvertPerfData(*reader, "convert.perf.data", wick, options);
    EXPECT_TRUE(conv.ok()) << conv.status();
    if (conv.ok()) *out = *conv;
    absl::StatusOr<Recording> rec = ReadRecording(wick);
    EXPECT_TRUE(rec.ok()) << rec.status();
    return rec.ok() ? *std::move(rec) : Recording();
  }

  std::string path_;
};

TEST_F(PerfDataConvertTest, KernelFramesNamedOnlyFromThisBoot) {
  PerfDataConversion conv;
  const Recording here = Convert("/proc/kallsyms", &conv);
  EXPECT_TRUE(conv.kernel_named);
  EXPECT_GT(conv.stats.Get(Stat::kKernelFrames), 0u);
  EXPECT_FALSE(here.kernel_symbols.empty());
  for (const std::string& note : conv.notes) EXPECT_FALSE(absl::StrContains(note, "unnamed"));

  // The same kallsyms with every address moved by 2 MiB: KASLR's slide on another boot.
  std::ifstream in("/proc/kallsyms");
  std::ofstream moved(TempPath("moved_kallsyms"));
  std::string line;
  while (std::getline(in, line)) {
    const uint64_t addr = std::stoull(line.substr(0, 16), nullptr, 16);
    char hex[17];
    std::snprintf(hex, sizeof(hex), "%016llx",
                  static_cast<unsigned long long>(addr == 0 ? 0 : addr + (2 << 20)));
    moved << hex << line.substr(16) << "\n";
  }
  moved.close();
  const Recording elsewhere = Convert(TempPath("moved_kallsyms"), &conv);
  EXPECT_FALSE(conv.kernel_named);
  EXPECT_TRUE(elsewhere.kernel_symbols.empty());
  bool noted = false;
  for (const std::string& note : conv.notes) {
    noted |= absl::StrContains(note, "kernel frames of convert.perf.data are left unnamed") &&
             absl::StrContains(note, "another boot");
  }
  EXPECT_TRUE(noted) << ::testing::PrintToString(conv.notes);
}

}  // namespace
}  // namespace wick
