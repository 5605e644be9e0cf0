// wick stat on the real kernel: counts, intervals, repeats, JSON and CSV, where the output
// goes, targets and errors.
#include <signal.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "folded.h"
#include "run.h"
#include "testing/testing.h"
#include "workloads.h"

namespace wick::testing {
namespace {

const std::string kWick = WICK_BINARY;

// One line of --json: each key with its value's text (strings unquoted). wick's objects are
// flat; anything else in the output fails the test.
using JsonObject = std::map<std::string, std::string>;

std::vector<JsonObject> ParseJsonLines(const std::string& text) {
  std::vector<JsonObject> out;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    JsonObject obj;
    absl::string_view rest = line;
    if (!absl::ConsumePrefix(&rest, "{") || !absl::ConsumeSuffix(&rest, "}")) {
      ADD_FAILURE() << "not a JSON object: " << line;
      return {};
    }
    while (!rest.empty()) {
      size_t colon = rest.find("\":");
      if (!absl::ConsumePrefix(&rest, "\"") || colon == absl::string_view::npos) {
        ADD_FAILURE() << "bad key in: " << line;
        return {};
      }
      std::string key(rest.substr(0, colon - 1));
      rest.remove_prefix(colon + 1);
      std::string value;
      if (absl::ConsumePrefix(&rest, "\"")) {
        size_t end = rest.find('"');
        if (end == absl::string_view::npos || rest.substr(0, end).find('\\') != rest.npos) {
          ADD_FAILURE() << "unexpected string in: " << line;
          return {};
        }
        value = std::string(rest.substr(0, end));
        rest.remove_prefix(end + 1);
      } else {
        size_t end = rest.find(',');
        value = std::string(rest.substr(0, end));
        rest.remove_prefix(end == absl::string_view::npos ? rest.size() : end);
        double unused;
        if (value != "null" && value != "true" && value != "false" &&
            !absl::SimpleAtod(value, &unused)) {
          ADD_FAILURE() << "bad value '" << value << "' in: " << line;
          return {};
        }
      }
      if (!obj.emplace(key, value).second) ADD_FAILURE() << "key twice: " << line;
      if (!rest.empty() && !absl::ConsumePrefix(&rest, ",")) {
        ADD_FAILURE() << "expected ',' in: " << line;
        return {};
      }
    }
    if (!obj.count("event")) ADD_FAILURE() << "no event in: " << line;
    out.push_back(std::move(obj));
  }
  return out;
}

double Num(const JsonObject& obj, const std::string& key) {
  auto it = obj.find(key);
  double v = 0;
  if (it == obj.end() || !absl::SimpleAtod(it->second, &v)) {
    ADD_FAILURE() << "no number " << key;
    return -1;
  }
  return v;
}

// The totals line (no "interval") of `event`.
JsonObject Total(const std::vector<JsonObject>& lines, const std::string& event) {
  JsonObject found;
  for (const JsonObject& o : lines) {
    if (o.at("event") == event && !o.count("interval")) {
      EXPECT_TRUE(found.empty()) << "two totals for " << event;
      found = o;
    }
  }
  EXPECT_FALSE(found.empty()) << "no total for " << event;
  return found;
}

// The lines of a CSV file, each split at `sep`, every line with `fields` fields.
std::vector<std::vector<std::string>> ParseCsv(const std::string& text, const std::string& sep,
                                               size_t fields) {
  std::vector<std::vector<std::string>> out;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::vector<std::string> f = absl::StrSplit(line, sep);
    EXPECT_EQ(f.size(), fields) << line;
    if (f.size() != fields) return {};
    out.push_back(std::move(f));
  }
  return out;
}

double Atod(absl::string_view s) {
  double v = 0;
  EXPECT_TRUE(absl::SimpleAtod(s, &v)) << "not a number: " << s;
  return v;
}

// The line of the table that holds `what` (an event, or "time elapsed").
std::string TableLine(const std::string& table, const std::string& what) {
  for (absl::string_view line : absl::StrSplit(table, '\n')) {
    if (absl::StrContains(line, " " + what)) return std::string(line);
  }
  ADD_FAILURE() << "no line for " << what << " in:\n" << table;
  return "";
}

// The numbers of a table line (value, then perf's metric): digit-grouping commas dropped,
// words skipped.
std::vector<double> Numbers(const std::string& line) {
  std::vector<double> numbers;
  for (absl::string_view w : absl::StrSplit(line, ' ', absl::SkipEmpty())) {
    std::string digits(w);
    digits.erase(std::remove(digits.begin(), digits.end(), ','), digits.end());
    double v;
    if (absl::SimpleAtod(digits, &v)) numbers.push_back(v);
  }
  return numbers;
}

class StatE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RunResult r = RunProgram({kWick, "stat", "-e", "task-clock", "--", "/bin/true"});
    if (r.exit_code != 0) WICK_SKIP_OR_FAIL("wick stat cannot open perf events here: " + r.err);
  }
};

TEST_F(StatE2eTest, CountsACommandAndPassesItsExitCode) {
  std::string file = TempPath("stat-counts.json");
  RunResult r = RunProgram({kWick, "stat", "-e", "task-clock,page-faults", "--json", "-o", file,
                            "--", workloads::KnownTreePath(), "r25"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<JsonObject> lines = ParseJsonLines(ReadFile(file));
  double task_clock = Num(Total(lines, "task-clock"), "value");
  // The CPU time the command measured itself (25 rounds of 10 ms), however busy the machine:
  // task-clock counts it from exec, rusage from fork, both to the nanosecond.
  const double cpu = KnownTreeCpu(r.err);
  EXPECT_GT(cpu, 0.2);
  EXPECT_NEAR(task_clock, cpu * 1e9, 0.1 * cpu * 1e9 + 10e6);
  JsonObject faults = Total(lines, "page-faults");
  EXPECT_GT(Num(faults, "value"), 10);
  // perf's rate: page faults per second of the task-clock counted with them.
  EXPECT_EQ(faults["per_sec_of"], "task-clock");
  EXPECT_NEAR(Num(faults, "per_sec"), Num(faults, "value") * 1e9 / task_clock,
              0.001 * Num(faults, "per_sec") + 0.001);
  EXPECT_GT(Num(Total(lines, "task-clock"), "cpus_utilized"), 0);

  r = RunProgram({kWick, "stat", "--", "/bin/sh", "-c", "exit 5"});
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "context-switches")) << r.err;
  // Without "--": stat's options end at the command's first word.
  r = RunProgram({kWick, "stat", "-e", "task-clock", "/bin/sh", "-c", "exit 6"});
  EXPECT_EQ(r.exit_code, 6) << r.err;
  // A command that wick ends (--duration): the count succeeded.
  r = RunProgram({kWick, "stat", "--duration", "0.3", "--", "/bin/sleep", "30"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "the command was still running")) << r.err;
}

// As perf's, the counts go to stderr or -o FILE: the command's stdout is its own, whatever
// the format.
TEST_F(StatE2eTest, CommandStdoutIsUntouched) {
  for (std::vector<std::string> format :
       {std::vector<std::string>{}, {"--json"}, {"-x", ","}, {"-r", "2"}}) {
    std::vector<std::string> argv = {kWick, "stat"};
    argv.insert(argv.end(), format.begin(), format.end());
    argv.insert(argv.end(), {"--", "/bin/echo", "hi"});
    RunResult r = RunProgram(argv);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const bool twice = format == std::vector<std::string>{"-r", "2"};
    EXPECT_EQ(r.out, twice ? "hi\nhi\n" : "hi\n") << argv[2];
    EXPECT_TRUE(absl::StrContains(r.err, "task-clock")) << r.err;
  }
}

// -o FILE takes the table; stderr keeps only wick's notes. perf's comments: CPUs utilized for
// task-clock (its time over the time elapsed) and rates per second of it for counts.
TEST_F(StatE2eTest, TableToFileWithCpusUtilizedAndRates) {
  std::string file = TempPath("stat-table.txt");
  RunResult r = RunProgram({kWick, "stat", "-o", file, "--", workloads::KnownTreePath(), "r10"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(absl::StrContains(r.err, "task-clock")) << r.err;
  std::string table = ReadFile(file);
  EXPECT_TRUE(absl::StrContains(table, "Performance counter stats for '")) << table;
  std::vector<double> clock = Numbers(TableLine(table, "task-clock"));
  std::string faults_line = TableLine(table, "page-faults");
  std::vector<double> faults = Numbers(faults_line);
  std::vector<double> elapsed = Numbers(TableLine(table, "seconds time elapsed"));
  ASSERT_EQ(clock.size(), 2u) << table;  // msec, CPUs utilized
  ASSERT_EQ(faults.size(), 2u) << table;
  ASSERT_EQ(elapsed.size(), 1u) << table;
  EXPECT_TRUE(absl::StrContains(table, "msec task-clock")) << table;
  EXPECT_TRUE(absl::StrContains(table, "CPUs utilized")) << table;
  EXPECT_NEAR(clock[1], clock[0] / 1e3 / elapsed[0], 0.001 + 0.01 * clock[1]) << table;
  // page-faults per second of task-clock, in thousands when above a thousand.
  double rate = faults[0] / (clock[0] / 1e3);
  bool kilo = absl::StrContains(faults_line, " K/sec");
  EXPECT_TRUE(kilo || absl::StrContains(faults_line, " /sec")) << faults_line;
  EXPECT_NEAR(kilo ? faults[1] * 1e3 : faults[1], rate, 0.01 * rate) << table;
  EXPECT_NEAR(clock[0] / 1e3, KnownTreeCpu(r.err), 0.1 * KnownTreeCpu(r.err) + 0.01);

  // A path that cannot be written fails before the command runs.
  r = RunProgram({kWick, "stat", "-o", "/nonexistent/dir/x", "--", "/bin/echo", "ran"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(absl::StrContains(r.err, "/nonexistent/dir/x")) << r.err;
}

// -x: perf's CSV field order, value,unit,event,time running,% running,metric,metric unit.
TEST_F(StatE2eTest, CsvFieldsAndTaskClockOfTheWorkload) {
  std::string file = TempPath("stat.csv");
  RunResult r =
      RunProgram({kWick, "stat", "-x", ";", "-o", file, "-e", "task-clock", "-e",
                  "page-faults,context-switches", "--", workloads::KnownTreePath(), "r20"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto rows = ParseCsv(ReadFile(file), ";", 7);
  ASSERT_EQ(rows.size(), 3u);
  // Repeated -e, in order.
  EXPECT_EQ(rows[0][2], "task-clock");
  EXPECT_EQ(rows[1][2], "page-faults");
  EXPECT_EQ(rows[2][2], "context-switches");
  EXPECT_EQ(rows[0][1], "msec");
  EXPECT_EQ(rows[0][6], "CPUs utilized");
  EXPECT_EQ(rows[1][1], "");
  EXPECT_TRUE(absl::EndsWith(rows[1][6], "/sec")) << rows[1][6];
  EXPECT_EQ(rows[0][4], "100.00");
  const double cpu = KnownTreeCpu(r.err);
  EXPECT_NEAR(Atod(rows[0][0]) / 1e3, cpu, 0.1 * cpu + 0.01);
  // The task-clock ran all the time it counted: time running is its own value.
  EXPECT_NEAR(Atod(rows[0][3]) / 1e6, Atod(rows[0][0]), 0.01 * Atod(rows[0][0]) + 0.01);
}

// -r N: N runs, each count their mean and perf's "+- X%" (stddev of the mean, relative).
TEST_F(StatE2eTest, RepeatRunsTheCommandNTimes) {
  // Run k (1, 2, 3) makes 2 + 10 k write(2) calls: wc's and the log's, then 10 k echos. So the
  // counts are 12, 22, 32: mean 22, sample stddev 10, by construction.
  std::string log = TempPath("stat-runs.log");
  ASSERT_EQ(RunProgram({"/bin/sh", "-c", ": > " + log}).exit_code, 0);
  const std::string script = "n=$(( $(wc -l < " + log + ") + 1 )); echo run >> " + log +
                             "; i=0; while [ $i -lt $((n*10)) ]; do echo x > /dev/null; "
                             "i=$((i+1)); done";
  std::string json = TempPath("stat-runs.json");
  RunResult r =
      RunProgram({kWick, "stat", "-r", "3", "--json", "-o", json, "-e", "syscalls:sys_enter_write",
                  "-e", "task-clock", "--", "/bin/sh", "-c", script});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFile(log), "run\nrun\nrun\n");
  std::vector<JsonObject> lines = ParseJsonLines(ReadFile(json));
  ASSERT_EQ(lines.size(), 2u);
  JsonObject writes = Total(lines, "syscalls:sys_enter_write");
  EXPECT_EQ(Num(writes, "runs"), 3);
  EXPECT_DOUBLE_EQ(Num(writes, "value"), 22);
  EXPECT_DOUBLE_EQ(Num(writes, "stddev"), 10);

  // The same in CSV (a field more: the spread) and in the table.
  ASSERT_EQ(RunProgram({"/bin/sh", "-c", ": > " + log}).exit_code, 0);
  std::string csv = TempPath("stat-runs.csv");
  r = RunProgram({kWick, "stat", "-r", "3", "-x", ",", "-o", csv, "-e", "syscalls:sys_enter_write",
                  "--", "/bin/sh", "-c", script});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto rows = ParseCsv(ReadFile(csv), ",", 8);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0][0], "22");
  EXPECT_EQ(rows[0][3], absl::StrFormat("%.2f%%", 100.0 * 10 / std::sqrt(3.0) / 22));

  ASSERT_EQ(RunProgram({"/bin/sh", "-c", ": > " + log}).exit_code, 0);
  r = RunProgram(
      {kWick, "stat", "-r", "3", "-e", "syscalls:sys_enter_write", "--", "/bin/sh", "-c", script});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "(3 runs):")) << r.err;
  EXPECT_TRUE(
      absl::StrContains(r.err, absl::StrFormat("( +- %5.2f%% )", 100.0 * 10 / std::sqrt(3.0) / 22)))
      << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "seconds time elapsed  ( +- ")) << r.err;
  EXPECT_EQ(ReadFile(log), "run\nrun\nrun\n");

  // Ctrl-C ends the repeat, and the runs counted are shown as such.
  std::string table = TempPath("stat-stopped.txt");
  Background stopped({kWick, "stat", "-r", "5", "-o", table, "--", "/bin/sleep", "30"});
  ASSERT_GT(WaitForChild(stopped.pid()), 0);
  stopped.Signal(SIGINT);
  EXPECT_EQ(stopped.Wait(), 0);
  EXPECT_TRUE(absl::StrContains(ReadFile(table), "(1 of 5 runs: stopped):")) << ReadFile(table);

  // A failing run's status is wick's.
  r = RunProgram({kWick, "stat", "-r", "2", "--", "/bin/sh", "-c", "exit 3"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
}

TEST_F(StatE2eTest, ChildrenAreCounted) {
  // The shell only forks and waits: all the CPU time is its child's.
  std::string file = TempPath("stat-children.json");
  RunResult r = RunProgram({kWick, "stat", "-e", "task-clock", "--json", "-o", file, "--",
                            "/bin/sh", "-c", workloads::KnownTreePath() + " r25; true"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_GT(Num(Total(ParseJsonLines(ReadFile(file)), "task-clock"), "value"),
            0.9 * KnownTreeCpu(r.err) * 1e9);
}

// -I JSON: every field of an interval line is the interval's, so the intervals (the last,
// partial one too) add up to the totals.
TEST_F(StatE2eTest, IntervalsArePerIntervalAndSumToTheTotals) {
  Background target({workloads::KnownTreePath(), "3", "pid"});
  ASSERT_EQ(target.ReadLine(), "pid " + std::to_string(target.pid()));
  std::string file = TempPath("stat-intervals.json");
  RunResult r = RunProgram({kWick, "stat", "-e", "task-clock,context-switches", "-p",
                            std::to_string(target.pid()), "-I", "200", "--duration", "1", "--json",
                            "-o", file});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<JsonObject> lines = ParseJsonLines(ReadFile(file));
  for (std::string event : {"task-clock", "context-switches"}) {
    int intervals = 0;
    double value = 0, enabled = 0, running = 0, last_t = 0;
    for (const JsonObject& o : lines) {
      if (o.at("event") != event || !o.count("interval")) continue;
      ++intervals;
      EXPECT_GT(Num(o, "interval"), last_t);
      last_t = Num(o, "interval");
      value += Num(o, "value");
      enabled += Num(o, "time_enabled");
      running += Num(o, "time_running");
    }
    EXPECT_GE(intervals, 4) << event;
    EXPECT_LE(intervals, 7) << event;
    JsonObject total = Total(lines, event);
    EXPECT_NEAR(value, Num(total, "value"), intervals) << event;
    EXPECT_EQ(enabled, Num(total, "time_enabled")) << event;
    EXPECT_EQ(running, Num(total, "time_running")) << event;
  }
  EXPECT_GT(Num(Total(lines, "task-clock"), "value"), 0.05e9);

  // CSV: the interval lines only, as perf's, each led by its time.
  file = TempPath("stat-intervals.csv");
  r = RunProgram({kWick, "stat", "-e", "task-clock", "-p", std::to_string(target.pid()), "-I",
                  "200", "--duration", "0.5", "-x", ",", "-o", file});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto rows = ParseCsv(ReadFile(file), ",", 8);
  ASSERT_GE(rows.size(), 2u);
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i][3], "task-clock");
    if (i > 0) {
      EXPECT_GT(Atod(rows[i][0]), Atod(rows[i - 1][0]));
    }
  }
}

TEST_F(StatE2eTest, SystemWide) {
  std::string file = TempPath("stat-a.json");
  RunResult r = RunProgram(
      {kWick, "stat", "-a", "-e", "cpu-clock", "--duration", "0.5", "--json", "-o", file});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  JsonObject clock = Total(ParseJsonLines(ReadFile(file)), "cpu-clock");
  // Every CPU's clock runs for the whole half second: all of them are utilized.
  const double cpus = double(sysconf(_SC_NPROCESSORS_ONLN));
  EXPECT_GT(Num(clock, "value"), 0.4e9 * cpus);
  EXPECT_NEAR(Num(clock, "cpus_utilized"), cpus, 0.1 * cpus);
}

TEST_F(StatE2eTest, ErrorsAreOneLine) {
  RunResult r = RunProgram({kWick, "stat", "-e", "task-clok", "--", "/bin/true"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(r.err, "task-clock")) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  r = RunProgram({kWick, "stat", "-p", "4194304"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(r.err, "no process with pid 4194304")) << r.err;

  // Options that do not go together: usage errors, and nothing runs.
  const std::vector<std::pair<std::vector<std::string>, std::string>> refused = {
      {{"-r", "3", "-a"}, "-r"},
      {{"-r", "3", "-p", "1"}, "-r"},
      {{"-r", "2", "-I", "100", "--", "/bin/echo", "ran"}, "-I"},
      {{"-x,", "--json", "--", "/bin/echo", "ran"}, "--json"},
      {{"-x", "", "--", "/bin/echo", "ran"}, "-x"},
      {{"-r", "0", "--", "/bin/echo", "ran"}, "-r"},
  };
  for (const auto& [args, names] : refused) {
    std::vector<std::string> argv = {kWick, "stat"};
    argv.insert(argv.end(), args.begin(), args.end());
    r = RunProgram(argv);
    EXPECT_EQ(r.exit_code, 2) << args[0] << " " << args[1] << ": " << r.err;
    EXPECT_EQ(r.out, "") << args[0];
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_TRUE(absl::StrContains(r.err, names)) << r.err;
  }
}

}  // namespace
}  // namespace wick::testing
