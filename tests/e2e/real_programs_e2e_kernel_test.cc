// Real programs nobody here wrote, as Debian ships them (stripped: often only dynamic
// symbols), recorded with --call-graph dwarf: xz, python3 (also in the vDSO) and sqlite3.
//
// Checked for each: at least 90 % of the samples' user stacks reach the process root (the
// outermost frame is _start, or, when _start has no symbol, the function at the entry point
// as fun_ENTRY@exe (or its code as exe+0xOFFSET), called into __libc_start_main); every user
// frame is a name, an unnamed function fun_OFFSET@module or module+0xOFFSET,
// never a bare "[unknown]" or a raw address (but for a sample inside execve: InExecWindow);
// and the functions the files do export appear by name (lzma_code, _PyEval_EvalFrameDefault,
// sqlite3_step...).
#include <elf.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "folded.h"
#include "run.h"
#include "testing/testing.h"

namespace wick::testing {
namespace {

const std::string kWick = WICK_BINARY;

// File offset of the ELF entry point of `path` (through its PT_LOAD headers); -1 if unknown.
int64_t EntryFileOffset(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  Elf64_Ehdr eh;
  if (!in.read(reinterpret_cast<char*>(&eh), sizeof(eh))) return -1;
  if (eh.e_ident[EI_CLASS] != ELFCLASS64) return -1;
  for (int i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    in.seekg(static_cast<std::streamoff>(eh.e_phoff + i * uint64_t{eh.e_phentsize}));
    if (!in.read(reinterpret_cast<char*>(&ph), sizeof(ph))) return -1;
    if (ph.p_type == PT_LOAD && eh.e_entry >= ph.p_vaddr && eh.e_entry - ph.p_vaddr < ph.p_filesz) {
      return static_cast<int64_t>(eh.e_entry - ph.p_vaddr + ph.p_offset);
    }
  }
  return -1;
}

std::string Basename(const std::string& path) { return path.substr(path.rfind('/') + 1); }

struct Analysis {
  uint64_t total = 0;
  uint64_t rooted = 0;
  uint64_t in_exec = 0;                   // samples of the exec window (see InExecWindow)
  std::map<std::string, uint64_t> roots;  // outermost user frame -> samples
  std::vector<std::string> bad_frames;    // "[unknown]", raw addresses, empty names
  std::set<std::string> names;            // every user frame
};

// A sample taken inside execve after the new image replaced the old one, before the program's
// first instruction: the kernel's frames are right, and the user registers are still the old
// image's, at an address nothing maps any more. wick (as perf) names that lone user frame
// [unknown]: it belongs to no file of the process. Such samples are rare (the window is a few
// hundred microseconds), and they are allowed here only with exactly that shape.
bool InExecWindow(const std::vector<std::string>& user, const std::vector<std::string>& frames) {
  if (user.size() != 1 || user[0] != "[unknown]") return false;
  for (const std::string& f : frames) {
    for (const char* exec : {"load_elf_binary_[k]", "begin_new_exec_[k]", "bprm_execve_[k]",
                             "do_execveat_common.isra.0_[k]", "__x64_sys_execve_[k]"}) {
      if (f == exec) return true;
    }
  }
  return false;
}

// `exe` is the executable's real path: its unnamed entry code counts as the root.
Analysis Analyze(const std::string& folded, const std::string& exe) {
  Analysis a;
  const std::string exe_base = Basename(exe);
  const int64_t entry = EntryFileOffset(exe);
  const Folded parsed = ParseFoldedOrFail(folded);
  for (const FoldedStack& stack : parsed.stacks()) {
    const uint64_t n = stack.count;
    a.total += n;
    std::vector<std::string> user;  // root first, without the comm and kernel frames
    for (size_t i = 1; i < stack.frames.size(); ++i) {
      if (absl::EndsWith(stack.frames[i], "_[k]")) continue;
      user.push_back(stack.frames[i]);
    }
    if (InExecWindow(user, stack.frames)) {
      a.in_exec += n;
      continue;
    }
    for (const std::string& f : user) {
      a.names.insert(f);
      // [vdso]+0xOFFSET is the module+offset form of the vDSO (whose helpers, as the pvclock
      // read under a kvm-clock clocksource, have no exported name).
      const bool bad = f.empty() || f == "[unknown]" || absl::StartsWith(f, "0x") ||
                       (absl::StartsWith(f, "[") && !absl::StartsWith(f, "[vdso]+0x")) ||
                       absl::StartsWith(f, "+0x");
      if (bad && a.bad_frames.size() < 20) a.bad_frames.push_back(absl::StrJoin(stack.frames, ";"));
    }
    if (user.empty()) continue;
    a.roots[user[0]] += n;
    bool entry_code = user[0] == "_start";
    const std::string prefix = exe_base + "+0x";
    const std::string function_suffix = "@" + exe_base;
    uint64_t offset = 0;
    if (!entry_code && entry >= 0 && absl::StartsWith(user[0], prefix) &&
        absl::SimpleHexAtoi(user[0].substr(prefix.size()), &offset)) {
      // A return address inside _start (which is a few dozen bytes long).
      entry_code = offset >= uint64_t(entry) && offset < uint64_t(entry) + 0x40;
    }
    if (!entry_code && entry >= 0 && absl::StartsWith(user[0], "fun_") &&
        absl::EndsWith(user[0], function_suffix) &&
        absl::SimpleHexAtoi(user[0].substr(4, user[0].size() - 4 - function_suffix.size()),
                            &offset)) {
      // _start without a symbol, named by its .eh_frame entry: it starts at the entry point.
      entry_code = offset == uint64_t(entry);
    }
    if (entry_code && user.size() >= 2 && absl::StartsWith(user[1], "__libc_start_main")) {
      a.rooted += n;
    }
  }
  return a;
}

std::string Describe(const Analysis& a) {
  std::string s = "roots:";
  for (const auto& [root, n] : a.roots) s += " " + root + "=" + std::to_string(n);
  if (!a.bad_frames.empty()) s += "\nbad frames in:\n" + absl::StrJoin(a.bad_frames, "\n");
  return s;
}

class RealProgramsE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RunResult probe =
        RunProgram({kWick, "record", "-o", TempPath("probe.wick"), "--", "/bin/true"});
    if (probe.exit_code != 0) WICK_SKIP_OR_FAIL("cannot open perf events: " + probe.err);
  }

  // Records `argv` with DWARF unwinding and returns the folded report.
  std::string Record(const std::vector<std::string>& argv, const std::string& name) {
    const std::string file = TempPath(name + ".wick");
    std::vector<std::string> cmd = {kWick, "record", "--call-graph", "dwarf", "-o", file, "--"};
    cmd.insert(cmd.end(), argv.begin(), argv.end());
    RunResult r = RunProgram(cmd);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("lost samples: 0 "), std::string::npos) << r.err;
    RunResult report = RunProgram({kWick, "report", "-i", file, "--folded"});
    EXPECT_EQ(report.exit_code, 0) << report.err;
    return report.out;
  }

  void Check(const std::string& folded, const std::string& exe,
             const std::vector<std::string>& must_name) {
    const Analysis a = Analyze(folded, exe);
    ASSERT_GT(a.total, 200u) << folded.substr(0, 2000);
    EXPECT_GE(double(a.rooted), 0.9 * double(a.total))
        << a.rooted << " of " << a.total << " samples reach the root\n"
        << Describe(a);
    EXPECT_TRUE(a.bad_frames.empty()) << Describe(a);
    EXPECT_LE(a.in_exec, std::max<uint64_t>(3, a.total / 100)) << "samples inside execve";
    for (const std::string& name : must_name) {
      EXPECT_TRUE(a.names.count(name)) << name << " not among the frames\n" << Describe(a);
    }
  }
};

std::string RealPath(const std::string& path) {
  char buf[PATH_MAX];
  return realpath(path.c_str(), buf) != nullptr ? std::string(buf) : path;
}

TEST_F(RealProgramsE2eTest, Xz) {
  const std::string xz = "/usr/bin/xz";
  if (access(xz.c_str(), X_OK) != 0) WICK_SKIP_OR_FAIL("no /usr/bin/xz (apt-get install xz-utils)");
  // 3 MiB of incompressible bytes (xorshift): about 1.5 s of xz -9 on one thread.
  const std::string input = TempPath("xz-input.bin");
  {
    std::ofstream out(input, std::ios::binary);
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < (3 << 20) / 8; ++i) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      out.write(reinterpret_cast<const char*>(&x), sizeof(x));
    }
  }
  const std::string folded = Record({xz, "-9", "-T1", "-k", "-f", input}, "xz");
  // liblzma exports lzma_code; xz itself is stripped (its frames are fun_OFFSET@xz).
  Check(folded, RealPath(xz), {"lzma_code", "__libc_start_call_main"});
  std::remove(input.c_str());
  std::remove((input + ".xz").c_str());
}

TEST_F(RealProgramsE2eTest, Python3) {
  // Debian's interpreter, not a pyenv shim that may come first on PATH.
  const std::string python = "/usr/bin/python3";
  if (access(python.c_str(), X_OK) != 0) {
    WICK_SKIP_OR_FAIL("no /usr/bin/python3 (apt-get install python3)");
  }
  const std::string folded =
      Record({python, "-c",
              "import json\n"
              "def fib(n): return n if n < 2 else fib(n - 1) + fib(n - 2)\n"
              "fib(27)\n"
              "d = [json.dumps({'k': i, 'v': [i] * 5}) for i in range(150000)]\n"},
             "python3");
  Check(folded, RealPath(python),
        {"_start", "Py_BytesMain", "_PyEval_EvalFrameDefault", "PyEval_EvalCode"});
}

// Python asking the clock in a loop (a fixed 5 million times) spends much of its time in the
// kernel's vDSO, which has no file on disk: wick unwinds through it and names it from its own copy
// of the vDSO (before that, 17 % of these stacks stopped at a bare [unknown] under clock_gettime).
TEST_F(RealProgramsE2eTest, Python3InTheVdso) {
  const std::string python = "/usr/bin/python3";
  if (access(python.c_str(), X_OK) != 0) {
    WICK_SKIP_OR_FAIL("no /usr/bin/python3 (apt-get install python3)");
  }
  const std::string folded = Record({python, "-c",
                                     "import time\n"
                                     "for _ in range(5000000): time.monotonic()\n"},
                                    "python3-vdso");
  Check(folded, RealPath(python), {"_start", "clock_gettime@@GLIBC_2.17", "__vdso_clock_gettime"});
  const uint64_t in_vdso = ParseFoldedOrFail(folded).With({"__vdso_clock_gettime"});
  EXPECT_GT(in_vdso, 20u) << folded.substr(0, 2000);
}

TEST_F(RealProgramsE2eTest, Sqlite3) {
  const std::string sqlite = "/usr/bin/sqlite3";
  if (access(sqlite.c_str(), X_OK) != 0) {
    WICK_SKIP_OR_FAIL("no /usr/bin/sqlite3 (apt-get install sqlite3)");
  }
  const std::string folded =
      Record({sqlite, ":memory:",
              "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 6000000) "
              "SELECT count(*), sum(x * x % 7) FROM c;"},
             "sqlite3");
  // libsqlite3 exports its API and keeps internal names in .dynsym on Debian.
  Check(folded, RealPath(sqlite), {"sqlite3_step", "sqlite3VdbeExec", "__libc_start_call_main"});
}

}  // namespace
}  // namespace wick::testing
