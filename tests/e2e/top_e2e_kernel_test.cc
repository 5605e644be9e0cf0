// wick top against the known-answer workload: the plain tables of --stdio (and of a stdout that
// is not a terminal) give known_tree's 6:3:1 split; the full-screen view, driven in a real
// terminal (tmux: send-keys types, capture-pane reads the screen), shows the hot row, changes
// its order on `s`, shows callers on Enter, keeps the last view when the target exits, and
// leaves the terminal as it found it on q, Ctrl-C and SIGTERM.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "run.h"
#include "testing/testing.h"
#include "workloads.h"

namespace wick::testing {
namespace {

const std::string kWick = WICK_BINARY;
using workloads::KnownTreePath;
constexpr const char* kTmux = "/usr/bin/tmux";

struct Row {
  double self = -1, total = -1;  // self -1: a callers row (no self column)
  std::string function, module, comm;
};

// One row of a table: "%6s %7s  %-40s %-20s %s" (see top_command.cc).
bool ParseRow(const std::string& line, Row* row) {
  if (line.size() < 58) return false;
  const std::string self(absl::StripAsciiWhitespace(line.substr(0, 6)));
  if (!self.empty() && !absl::SimpleAtod(self, &row->self)) return false;
  if (!absl::SimpleAtod(absl::StripAsciiWhitespace(line.substr(7, 7)), &row->total)) return false;
  row->function = std::string(absl::StripAsciiWhitespace(line.substr(16, 40)));
  row->module = std::string(absl::StripAsciiWhitespace(line.substr(57, 20)));
  row->comm = line.size() > 78 ? std::string(absl::StripAsciiWhitespace(line.substr(78))) : "";
  return true;
}

struct Table {
  std::string header;
  std::vector<Row> rows;
  const Row* Find(const std::string& function) const {
    for (const Row& r : rows) {
      if (r.function == function) return &r;
    }
    return nullptr;
  }
};

// The tables of --stdio: a header line, the column names, rows, a blank line.
std::vector<Table> ParseTables(const std::string& out) {
  std::vector<Table> tables;
  bool in_table = false;
  const std::vector<std::string> lines = absl::StrSplit(out, '\n');
  for (const std::string& line : lines) {
    if (absl::StrContains(line, " | sort: ")) {
      tables.push_back({line, {}});
      in_table = true;
    } else if (line.empty()) {
      in_table = false;
    } else if (in_table && !absl::StartsWith(line, " Self%")) {
      Row r;
      if (ParseRow(line, &r)) tables.back().rows.push_back(r);
    }
  }
  return tables;
}

void ExpectKnownSplit(const Table& t, bool totals) {
  const Row *a = t.Find("a"), *b = t.Find("b"), *c = t.Find("c");
  ASSERT_TRUE(a && b && c) << t.header;
  EXPECT_NEAR(a->self, 60, 5) << t.header;
  EXPECT_NEAR(b->self, 30, 5) << t.header;
  EXPECT_NEAR(c->self, 10, 5) << t.header;
  if (totals) {
    EXPECT_NEAR(a->total, 60, 5);
    const Row* work = t.Find("work");
    ASSERT_NE(work, nullptr);
    EXPECT_GT(work->total, 95);
    // work's own loop (deadlines, the calls) takes the odd sample: CI saw 0.05 %.
    EXPECT_LT(work->self, 1.0);
  }
  EXPECT_EQ(a->module, "known_tree_fp");
  EXPECT_EQ(a->comm, "known_tree_fp");
}

// Stdout is a pipe here: plain tables without --stdio. The second table holds two periods.
TEST(TopE2eTest, TablesWhenStdoutIsNotATerminal) {
  const RunResult r = RunProgram({kWick, "top", "-d", "1", "--", KnownTreePath(), "r400"});
  if (r.exit_code != 0 && absl::StrContains(r.err, "perf_event")) {
    WICK_SKIP_OR_FAIL("wick top cannot open perf events: " + r.err);
  }
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<Table> tables = ParseTables(r.out);
  ASSERT_GE(tables.size(), 2u) << r.out;
  EXPECT_TRUE(absl::StartsWith(tables[1].header, "cpu-clock 999 Hz | ")) << tables[1].header;
  EXPECT_TRUE(absl::StrContains(tables[1].header, "decaying")) << tables[1].header;
  ExpectKnownSplit(tables[1], /*totals=*/false);
  EXPECT_TRUE(absl::StrContains(r.out, "the targets exited: this was the last period")) << r.out;
  // The end-of-run line says what was sampled and lost.
  EXPECT_TRUE(absl::StrContains(r.err, "samples of cpu-clock in")) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, " lost, wick's own CPU")) << r.err;
}

TEST(TopE2eTest, StdioWithStacksHasTotals) {
  const RunResult r = RunProgram({kWick, "top", "--stdio", "-g", "-z", "-d", "1", "--rows", "40",
                                  "--", KnownTreePath(), "r400"});
  if (r.exit_code != 0 && absl::StrContains(r.err, "perf_event")) {
    WICK_SKIP_OR_FAIL("wick top cannot open perf events: " + r.err);
  }
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<Table> tables = ParseTables(r.out);
  ASSERT_GE(tables.size(), 2u) << r.out;
  EXPECT_TRUE(absl::StrContains(tables[1].header, "cumulative")) << tables[1].header;
  ExpectKnownSplit(tables[1], /*totals=*/true);
}

TEST(TopE2eTest, BadInputIsOneLine) {
  RunResult r = RunProgram({kWick, "top", "--stdio", "-e", "sched:no_such_event"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(absl::StartsWith(r.err, "wick top: ")) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "no_such_event")) << r.err;
  r = RunProgram({kWick, "top", "--stdio", "-p", "999999999"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(r.err, "no process with pid 999999999")) << r.err;
  r = RunProgram({kWick, "top", "--stdio", "-d", "0"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(r.err, "-d")) << r.err;
  r = RunProgram({kWick, "top", "--stdio", "-p", "1", "-a"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(r.err, "choose one target")) << r.err;
}

// A terminal of its own: a tmux server on a private socket, one window running a shell.
class Terminal {
 public:
  // A socket per terminal: a server being killed does not take the next test's session along.
  Terminal() : socket_(absl::StrCat("wick-top-e2e-", getpid(), "-", ++terminals_)) {
    ok_ = Tmux({"new-session", "-d", "-s", "t", "-x", "160", "-y", "40", "bash --norc --noprofile"})
              .exit_code == 0;
  }
  ~Terminal() { Tmux({"kill-server"}); }
  bool ok() const { return ok_; }
  RunResult Tmux(std::vector<std::string> args) {
    args.insert(args.begin(), {kTmux, "-L", socket_});
    return RunProgram(args);
  }
  void Type(const std::string& line) { Tmux({"send-keys", "-t", "t", "-l", line}); }
  void Keys(const std::string& keys) { Tmux({"send-keys", "-t", "t", keys}); }
  std::string Screen() { return Tmux({"capture-pane", "-t", "t", "-p"}).out; }
  // Polls the screen until `pred` holds (at most `timeout_s` of wall time; machines differ).
  bool WaitFor(const std::function<bool(const std::string&)>& pred, double timeout_s = 60) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    while (std::chrono::steady_clock::now() < end) {
      if (pred(Screen())) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }
  bool WaitForText(const std::string& text, double timeout_s = 60) {
    return WaitFor([&](const std::string& s) { return absl::StrContains(s, text); }, timeout_s);
  }
  // The terminal's settings (stty -g), read in the shell between commands.
  std::string TtySettings() {
    const std::string file = TempPath(absl::StrCat("stty-", ++stty_reads_));
    Type("stty -g > " + file);
    Keys("Enter");
    std::string settings;
    WaitFor([&](const std::string&) {
      settings = ReadFile(file);
      return !settings.empty();
    });
    return settings;
  }

 private:
  static inline int terminals_ = 0;
  std::string socket_;
  bool ok_ = false;
  int stty_reads_ = 0;
};

// The rows of the full-screen view: lines after the "Self%  Total%" column line.
std::vector<Row> ScreenRows(const std::string& screen) {
  std::vector<Row> rows;
  bool after_columns = false;
  const std::vector<std::string> lines = absl::StrSplit(screen, '\n');
  for (const std::string& line : lines) {
    if (absl::StartsWith(line, " Self%")) {
      after_columns = true;
    } else if (after_columns) {
      Row r;
      if (ParseRow(line, &r)) rows.push_back(r);
    }
  }
  return rows;
}

std::string FirstFunction(const std::string& screen) {
  const std::vector<Row> rows = ScreenRows(screen);
  return rows.empty() ? "" : rows[0].function;
}

class TopTerminalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(kTmux, X_OK) != 0) {
      // tools/setup installs tmux: its absence is a broken setup, not a reason to pass.
      FAIL() << kTmux << " is missing: run tools/setup (it installs tmux)";
    }
    ASSERT_TRUE(term_.ok()) << "tmux could not start a session";
    before_ = term_.TtySettings();
    ASSERT_FALSE(before_.empty());
  }
  // Starts wick top in the terminal; its exit status lands in the shell's output as
  // TOP-EXIT=N.
  void StartTop(const std::string& args) {
    term_.Type(kWick + " top " + args + "; echo TOP-EXIT=$?");
    term_.Keys("Enter");
  }
  // The hot row on top of the view, sorted by self.
  void WaitForHotRow() {
    ASSERT_TRUE(term_.WaitFor([](const std::string& s) {
      return absl::StrContains(s, "sort: self") && FirstFunction(s) == "a";
    })) << term_.Screen();
  }
  void ExpectExitAndSaneTerminal(const std::string& status) {
    ASSERT_TRUE(term_.WaitForText("TOP-EXIT=" + status)) << term_.Screen();
    EXPECT_EQ(term_.TtySettings(), before_) << "the terminal was left changed";
  }

  Terminal term_;
  std::string before_;
};

TEST_F(TopTerminalTest, HotRowSortCallersAndQuit) {
  StartTop("-g -d 1 -- " + KnownTreePath() + " 120");
  WaitForHotRow();
  if (HasFatalFailure()) return;
  const std::vector<Row> by_self = ScreenRows(term_.Screen());
  ASSERT_GE(by_self.size(), 3u);
  EXPECT_NEAR(by_self[0].self, 60, 5);
  // s: sorted by total, the functions every stack passes through come first.
  term_.Keys("s");
  ASSERT_TRUE(term_.WaitFor([](const std::string& s) {
    const std::vector<Row> rows = ScreenRows(s);
    return absl::StrContains(s, "sort: total") && !rows.empty() && rows[0].total > 95;
  })) << term_.Screen();
  EXPECT_NE(FirstFunction(term_.Screen()), "a");
  // Back to self, select the hot row and ask for its callers: work.
  term_.Keys("s");
  ASSERT_TRUE(term_.WaitFor([](const std::string& s) { return FirstFunction(s) == "a"; }))
      << term_.Screen();
  term_.Keys("Enter");
  ASSERT_TRUE(term_.WaitFor([](const std::string& s) {
    const std::vector<Row> rows = ScreenRows(s);
    return absl::StrContains(s, "callers of a ") && !rows.empty() && rows[0].function == "work";
  })) << term_.Screen();
  term_.Keys("q");
  // The command was still running: wick ended it with the view, and says 0.
  ExpectExitAndSaneTerminal("0");
  EXPECT_TRUE(absl::StrContains(term_.Screen(), "samples of cpu-clock in")) << term_.Screen();
}

// p freezes the view (sampling goes on), z zeroes the counts: while paused, nothing refills
// the rows; p again and the next refresh brings them back.
TEST_F(TopTerminalTest, PauseAndZero) {
  StartTop("-d 1 -- " + KnownTreePath() + " 120");
  WaitForHotRow();
  if (HasFatalFailure()) return;
  term_.Keys("p");
  ASSERT_TRUE(term_.WaitForText("[paused]")) << term_.Screen();
  term_.Keys("z");
  ASSERT_TRUE(term_.WaitFor([](const std::string& s) {
    return absl::StrContains(s, "counts zeroed") && ScreenRows(s).empty();
  })) << term_.Screen();
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // two refresh periods
  EXPECT_TRUE(ScreenRows(term_.Screen()).empty()) << term_.Screen();
  term_.Keys("p");
  ASSERT_TRUE(term_.WaitFor([](const std::string& s) {
    return !absl::StrContains(s, "[paused]") && FirstFunction(s) == "a";
  })) << term_.Screen();
  term_.Keys("q");
  ExpectExitAndSaneTerminal("0");
}

TEST_F(TopTerminalTest, LastViewStaysWhenTheTargetExits) {
  StartTop("-d 1 -- " + KnownTreePath() + " r150");
  ASSERT_TRUE(term_.WaitForText("the targets exited")) << term_.Screen();
  EXPECT_EQ(FirstFunction(term_.Screen()), "a") << term_.Screen();
  // Still there a while later: it waits for q.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_TRUE(absl::StrContains(term_.Screen(), "the targets exited")) << term_.Screen();
  EXPECT_EQ(FirstFunction(term_.Screen()), "a");
  term_.Keys("q");
  ExpectExitAndSaneTerminal("0");
}

// A terminal ncurses cannot drive (no terminfo entry): plain tables instead of an exit.
TEST_F(TopTerminalTest, UnknownTerminalFallsBackToTables) {
  term_.Type("TERM=no-such-terminal " + kWick + " top -d 1 --rows 3 -- " + KnownTreePath() +
             " r150; echo TOP-EXIT=$?");
  term_.Keys("Enter");
  ASSERT_TRUE(term_.WaitForText("TOP-EXIT=0")) << term_.Screen();
  const std::string screen = term_.Screen();
  EXPECT_TRUE(absl::StrContains(screen, "cannot drive this terminal (TERM=no-such-terminal)"))
      << screen;
  EXPECT_TRUE(absl::StrContains(screen, "the targets exited: this was the last period")) << screen;
  EXPECT_EQ(term_.TtySettings(), before_);
}

TEST_F(TopTerminalTest, CtrlCRestoresTheTerminal) {
  StartTop("-d 1 -- " + KnownTreePath() + " 120");
  WaitForHotRow();
  if (HasFatalFailure()) return;
  term_.Keys("C-c");
  ExpectExitAndSaneTerminal("0");
}

TEST_F(TopTerminalTest, SigtermRestoresTheTerminal) {
  StartTop("-d 1 -- " + KnownTreePath() + " 120");
  WaitForHotRow();
  if (HasFatalFailure()) return;
  const RunResult pid = RunProgram({"/usr/bin/pgrep", "-n", "-f", kWick + " top -d 1"});
  pid_t wick = 0;
  ASSERT_TRUE(absl::SimpleAtoi(absl::StripAsciiWhitespace(pid.out), &wick)) << pid.out;
  ASSERT_EQ(kill(wick, SIGTERM), 0);
  ExpectExitAndSaneTerminal("0");
}

}  // namespace
}  // namespace wick::testing
