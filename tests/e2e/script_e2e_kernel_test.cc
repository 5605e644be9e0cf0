// wick record -e <trace event> + wick script on the real kernel: exact counts of tracepoint
// and uprobe events from known-answer programs (tests/trace/), the same counts through wick
// stat, sched_switch fields decoded identically to perf's decoding of the same switches, and
// one-line errors for files wick script cannot use.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "run.h"
#include "testing/testing.h"

namespace wick::testing {
namespace {

const std::string kWick = WICK_BINARY;
const std::string kOpenatN = WICK_OPENAT_N;
const std::string kUprobeTarget = WICK_UPROBE_TARGET;
const std::string kPerf = "/usr/bin/perf";  // Debian's perf, the reference decoder

// The value of "key" in one JSON object line: a number as its digits, a string unquoted
// (escapes left as they are). "" when absent. Good for wick script's flat fields.
std::string JsonField(absl::string_view line, const std::string& key) {
  const std::string needle = "\"" + key + "\":";
  size_t at = line.find(needle);
  if (at == absl::string_view::npos) return "";
  absl::string_view rest = line.substr(at + needle.size());
  if (absl::StartsWith(rest, "\"")) {
    size_t end = 1;
    while (end < rest.size() && rest[end] != '"') end += rest[end] == '\\' ? 2 : 1;
    return std::string(rest.substr(1, end - 1));
  }
  size_t end = rest.find_first_of(",}");
  return std::string(rest.substr(0, end));
}

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

int CountLines(const std::string& text) { return static_cast<int>(Lines(text).size()); }

// wick script --json output, events of `comm` only, counted by event name; every such event
// must come from one process (returned in *pid).
std::map<std::string, int> CountByEvent(const std::string& json, const std::string& comm,
                                        std::set<std::string>* pids) {
  std::map<std::string, int> counts;
  for (const std::string& line : Lines(json)) {
    if (JsonField(line, "comm") != comm) continue;
    ++counts[JsonField(line, "event")];
    pids->insert(JsonField(line, "pid"));
  }
  return counts;
}

// wick stat --json: the value of `event`, -1 when absent.
double StatValue(const std::string& out, const std::string& event) {
  double v = -1;
  for (const std::string& line : Lines(out)) {
    if (JsonField(line, "event") != event) continue;
    EXPECT_TRUE(absl::SimpleAtod(JsonField(line, "value"), &v)) << line;
  }
  return v;
}

class ScriptE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WICK_REQUIRE(::geteuid() == 0, "tracepoints and uprobes need root (tracefs, uprobe PMU)");
    RunResult r = RunProgram({kWick, "record", "-e", "syscalls:sys_enter_openat", "-o",
                              TempPath("probe.wick"), "--", "/bin/true"});
    if (r.exit_code != 0) WICK_SKIP_OR_FAIL("wick record cannot open tracepoints here: " + r.err);
  }
};

TEST_F(ScriptE2eTest, OpenatTracepointExactCountAndDecodedMode) {
  const std::string out = TempPath("openat.wick");
  RunResult r = RunProgram(
      {kWick, "record", "-e", "syscalls:sys_enter_openat", "-o", out, "--", kOpenatN, "7", "3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = RunProgram({kWick, "script", "-i", out, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::set<std::string> pids;
  std::map<std::string, int> counts = CountByEvent(r.out, "openat_n", &pids);
  EXPECT_EQ(counts["syscalls:sys_enter_openat"], 10) << r.out;
  EXPECT_EQ(pids.size(), 1u) << r.out;
  std::map<std::string, int> modes;
  for (const std::string& line : Lines(r.out)) {
    if (JsonField(line, "comm") == "openat_n") ++modes[JsonField(line, "mode")];
    EXPECT_FALSE(JsonField(line, "time_ns").empty()) << line;
  }
  EXPECT_EQ(modes["0"], 7) << r.out;
  EXPECT_EQ(modes["420"], 3) << r.out;  // 0644

  // The text form has the same events, one line each, with the decoded fields.
  r = RunProgram({kWick, "script", "-i", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  int text_lines = 0;
  for (const std::string& line : Lines(r.out)) {
    if (absl::StartsWith(absl::StripLeadingAsciiWhitespace(line), "openat_n ")) {
      EXPECT_TRUE(absl::StrContains(line, "syscalls:sys_enter_openat: ")) << line;
      EXPECT_TRUE(absl::StrContains(line, " mode=")) << line;
      ++text_lines;
    }
  }
  EXPECT_EQ(text_lines, 10) << r.out;

  // --event selects.
  r = RunProgram({kWick, "script", "-i", out, "--event", "sched:*"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(absl::StrContains(r.err, "no event matches")) << r.err;
}

TEST_F(ScriptE2eTest, UprobeAndUretprobeExactCounts) {
  const std::string out = TempPath("uprobe.wick");
  const std::string entry = "uprobe:" + kUprobeTarget + ":wick_uprobe_target";
  const std::string ret = "uretprobe:" + kUprobeTarget + ":wick_uprobe_target";
  RunResult r =
      RunProgram({kWick, "record", "-e", entry, "-e", ret, "-o", out, "--", kUprobeTarget, "13"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = RunProgram({kWick, "script", "-i", out, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::set<std::string> pids;
  std::map<std::string, int> counts = CountByEvent(r.out, "uprobe_target", &pids);
  EXPECT_EQ(counts[entry], 13) << r.out;
  EXPECT_EQ(counts[ret], 13) << r.out;
  EXPECT_EQ(counts.size(), 2u) << r.out;
  EXPECT_EQ(pids.size(), 1u);
  // Probes carry no payload: no fields.
  for (const std::string& line : Lines(r.out)) {
    EXPECT_TRUE(absl::StrContains(line, "\"fields\":{}")) << line;
  }
  // Entry and return alternate in time order.
  std::vector<std::string> order;
  for (const std::string& line : Lines(r.out)) order.push_back(JsonField(line, "event"));
  for (size_t i = 0; i < order.size(); ++i) EXPECT_EQ(order[i], i % 2 ? ret : entry) << i;
}

TEST_F(ScriptE2eTest, CallchainsOfUprobeHitsStartInTheProbedFunction) {
  const std::string out = TempPath("uprobe_g.wick");
  const std::string entry = "uprobe:" + kUprobeTarget + ":wick_uprobe_target";
  RunResult r =
      RunProgram({kWick, "record", "-e", entry, "-g", "-o", out, "--", kUprobeTarget, "5"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = RunProgram({kWick, "script", "-i", out, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 5u) << r.out;
  for (const std::string& line : lines) {
    // The leaf frame is the probed function itself, named from the binary's symbols.
    EXPECT_TRUE(absl::StrContains(line, "\"callchain\":[{\"addr\":")) << line;
    size_t at = line.find("\"callchain\":[");
    ASSERT_NE(at, std::string::npos);
    EXPECT_EQ(JsonField(line.substr(at), "name"), "wick_uprobe_target") << line;
  }
  r = RunProgram({kWick, "script", "-i", out, "--no-callchain"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(CountLines(r.out), 5) << r.out;
  EXPECT_FALSE(absl::StrContains(r.out, "\t")) << r.out;
}

// The same known-answer counts through wick stat (counting mode, no recording).
TEST_F(ScriptE2eTest, StatCountsTheSameEvents) {
  const std::string json = TempPath("stat-script.json");
  RunResult r = RunProgram({kWick, "stat", "-e", "syscalls:sys_enter_openat", "--json", "-o", json,
                            "--", kOpenatN, "7", "3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(StatValue(ReadFile(json), "syscalls:sys_enter_openat"), 10) << ReadFile(json);

  const std::string entry = "uprobe:" + kUprobeTarget + ":wick_uprobe_target";
  const std::string ret = "uretprobe:" + kUprobeTarget + ":wick_uprobe_target";
  r = RunProgram(
      {kWick, "stat", "-e", entry + "," + ret, "--json", "-o", json, "--", kUprobeTarget, "13"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(StatValue(ReadFile(json), entry), 13) << ReadFile(json);
  EXPECT_EQ(StatValue(ReadFile(json), ret), 13) << ReadFile(json);
}

// perf's rendering of prev_state ("S", "D", "R+", "I", ...) from the raw value, after the
// sched_switch print fmt of this kernel (tests/trace/testdata/sched_switch.format).
std::string PrevStateLetters(int64_t state) {
  static const std::pair<int64_t, const char*> kFlags[] = {{0x01, "S"}, {0x02, "D"}, {0x04, "T"},
                                                           {0x08, "t"}, {0x10, "X"}, {0x20, "Z"},
                                                           {0x40, "P"}, {0x80, "I"}};
  std::string s;
  const int64_t masked = state & 0xff;
  for (const auto& [bit, name] : kFlags) {
    if (masked & bit) s += s.empty() ? name : std::string("|") + name;
  }
  if (s.empty()) s = "R";
  if (state & 0x100) s += "+";
  return s;
}

struct Switch {
  std::string prev_comm, prev_pid, prev_prio, prev_state, next_comm, next_pid, next_prio;
  bool operator==(const Switch&) const = default;
};

std::string Describe(const Switch& s) {
  return s.prev_comm + "/" + s.prev_pid + "/" + s.prev_prio + "/" + s.prev_state + " ==> " +
         s.next_comm + "/" + s.next_pid + "/" + s.next_prio;
}

// "[001]  3912.949081889: sched:sched_switch: prev_comm=perf prev_pid=9032 prev_prio=120
// prev_state=S ==> next_comm=x next_pid=9021 next_prio=120" -> ((cpu, ns), fields).
bool ParsePerfLine(const std::string& line, std::pair<uint32_t, uint64_t>* key, Switch* s) {
  if (line.size() < 5 || line[0] != '[') return false;
  size_t close = line.find(']');
  uint32_t cpu = 0;
  if (close == std::string::npos || !absl::SimpleAtoi(line.substr(1, close - 1), &cpu)) {
    return false;
  }
  size_t colon = line.find(": sched:sched_switch: ", close);
  if (colon == std::string::npos) return false;
  std::string time(absl::StripAsciiWhitespace(line.substr(close + 1, colon - close - 1)));
  size_t dot = time.find('.');
  uint64_t sec = 0, nsec = 0;
  if (dot == std::string::npos || time.size() - dot - 1 != 9 ||
      !absl::SimpleAtoi(time.substr(0, dot), &sec) ||
      !absl::SimpleAtoi(time.substr(dot + 1), &nsec)) {
    return false;
  }
  *key = {cpu, sec * 1000000000 + nsec};
  auto between = [&](const std::string& from, const std::string& to) {
    size_t a = line.find(from);
    if (a == std::string::npos) return std::string();
    a += from.size();
    size_t b = to.empty() ? line.size() : line.find(to, a);
    return b == std::string::npos ? std::string() : line.substr(a, b - a);
  };
  s->prev_comm = between(" prev_comm=", " prev_pid=");
  s->prev_pid = between(" prev_pid=", " prev_prio=");
  s->prev_prio = between(" prev_prio=", " prev_state=");
  s->prev_state = between(" prev_state=", " ==> ");
  s->next_comm = between(" next_comm=", " next_pid=");
  s->next_pid = between(" next_pid=", " next_prio=");
  s->next_prio = between(" next_prio=", "");
  return true;
}

TEST_F(ScriptE2eTest, SchedSwitchFieldsMatchPerf) {
  RunResult probe = RunProgram({kPerf, "--version"});
  if (probe.exit_code != 0)
    WICK_SKIP_OR_FAIL("perf (the reference) is not installed: " + probe.err);
  const std::string wick_out = TempPath("switch.wick");
  const std::string perf_out = TempPath("switch.perf");
  const std::string sh = "/bin/sh";
  // wick records system-wide from before perf starts until after it ends; perf records the
  // same CPUs while a workload that sleeps 1 ms at a time switches a few hundred times, so
  // both see the same switches, however long each step takes on this machine.
  Background wick({kWick, "record", "-e", "sched:sched_switch", "-a", "-o", wick_out});
  const int cpus = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  ASSERT_GE(WaitForPerfEvents(wick.pid(), cpus), cpus) << "wick did not open its events";
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // and enabled them
  RunResult perf = RunProgram({kPerf, "record", "-q", "--buildid-mmap", "-k", "CLOCK_MONOTONIC",
                               "-e", "sched:sched_switch", "-a", "-o", perf_out, "--", sh, "-c",
                               "i=0; while [ $i -lt 200 ]; do sleep 0.001; i=$((i+1)); done"});
  ASSERT_EQ(perf.exit_code, 0) << perf.err;
  wick.Signal(SIGINT);
  ASSERT_EQ(wick.Wait(), 0);
  RunResult ps =
      RunProgram({kPerf, "script", "-i", perf_out, "--ns", "-F", "cpu,time,event,trace"});
  ASSERT_EQ(ps.exit_code, 0) << ps.err;
  std::map<std::pair<uint32_t, uint64_t>, Switch> by_perf;
  for (const std::string& line : Lines(ps.out)) {
    std::pair<uint32_t, uint64_t> key;
    Switch s;
    if (ParsePerfLine(line, &key, &s)) by_perf[key] = s;
  }
  ASSERT_GE(by_perf.size(), 200u) << ps.out.substr(0, 2000);

  RunResult ws = RunProgram({kWick, "script", "-i", wick_out, "--json"});
  ASSERT_EQ(ws.exit_code, 0) << ws.err;
  // wick's switches per CPU, by time.
  std::map<uint32_t, std::map<uint64_t, Switch>> by_wick;
  uint64_t wick_events = 0;
  for (const std::string& line : Lines(ws.out)) {
    ++wick_events;
    uint32_t cpu = 0;
    uint64_t ns = 0;
    ASSERT_TRUE(absl::SimpleAtoi(JsonField(line, "cpu"), &cpu)) << line;
    ASSERT_TRUE(absl::SimpleAtoi(JsonField(line, "time_ns"), &ns)) << line;
    Switch w;
    w.prev_comm = JsonField(line, "prev_comm");
    w.prev_pid = JsonField(line, "prev_pid");
    w.prev_prio = JsonField(line, "prev_prio");
    int64_t state = 0;
    EXPECT_TRUE(absl::SimpleAtoi(JsonField(line, "prev_state"), &state)) << line;
    w.prev_state = PrevStateLetters(state);
    w.next_comm = JsonField(line, "next_comm");
    w.next_pid = JsonField(line, "next_pid");
    w.next_prio = JsonField(line, "next_prio");
    by_wick[cpu][ns] = w;
  }
  // Each perf event stamps its own sample time, so the same switch differs by a few hundred
  // ns between wick's event and perf's. Match a perf switch to the wick switch on the same
  // CPU nearest in time, within 5 us, and only when no other wick switch on that CPU is within
  // 20 us (unambiguous); switches on one CPU are normally tens of us apart.
  constexpr uint64_t kNear = 5'000, kAlone = 20'000;
  // Only perf's switches from while wick was recording on that CPU (it started before perf
  // and stopped after it, but how soon its events were enabled depends on the machine).
  int matched = 0, mismatched = 0, ambiguous = 0, in_window = 0;
  for (const auto& [key, p] : by_perf) {
    const auto& [cpu, ns] = key;
    const auto& events = by_wick[cpu];
    if (events.empty() || ns <= events.begin()->first || ns >= events.rbegin()->first) continue;
    ++in_window;
    std::vector<std::pair<uint64_t, const Switch*>> near;  // (distance, switch)
    for (auto it = events.lower_bound(ns > kAlone ? ns - kAlone : 0);
         it != events.end() && it->first <= ns + kAlone; ++it) {
      near.push_back({it->first > ns ? it->first - ns : ns - it->first, &it->second});
    }
    if (near.empty()) continue;
    if (near.size() > 1) {
      ++ambiguous;
      continue;
    }
    if (near[0].first > kNear) continue;
    ++matched;
    if (!(*near[0].second == p)) {
      ++mismatched;
      ADD_FAILURE() << "cpu " << cpu << " perf time " << ns << ": wick "
                    << Describe(*near[0].second) << ", perf " << Describe(p);
    }
  }
  std::cout << "sched_switch: perf " << by_perf.size() << " (" << in_window
            << " while wick recorded), wick " << wick_events << ", matched " << matched
            << ", mismatched " << mismatched << ", ambiguous " << ambiguous << "\n";
  // wick saw the switches perf saw while both recorded; allow for lost events.
  EXPECT_GE(in_window, 200) << "wick " << wick_events << " events, perf " << by_perf.size();
  EXPECT_GE(matched, 100) << "wick " << wick_events << " events, perf " << by_perf.size();
  EXPECT_GE((matched + ambiguous) * 10, in_window * 9)
      << "wick " << wick_events << " events, perf " << by_perf.size() << ", " << in_window
      << " of them while wick recorded";
  EXPECT_EQ(mismatched, 0);
}

// A thread's name is its program's file name, which may hold any byte but '/' and NUL: every
// --json line is still valid JSON of valid UTF-8 (Python's json module reads it strictly),
// UTF-8 names come through as they are, a byte that is not UTF-8 as U+FFFD, counted.
TEST_F(ScriptE2eTest, JsonOfNamesThatAreNotPlainAscii) {
  const std::string dir = TempPath("names");
  mkdir(dir.c_str(), 0755);
  const std::string utf8 = "\xc5\xbelu\xc5\xa5";  // "žluť"
  const std::string odd = "q\xff\"\\\tx";         // not UTF-8, a quote, a backslash, a tab
  std::string expected;                           // the comms as Python prints them, one per line
  for (const std::string& name : {utf8, odd}) {
    const std::string program = dir + "/" + name;
    std::filesystem::copy_file(kOpenatN, program,
                               std::filesystem::copy_options::overwrite_existing);
    const std::string file = TempPath("names.wick");
    RunResult r = RunProgram(
        {kWick, "record", "-e", "syscalls:sys_enter_openat", "-o", file, "--", program, "3"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = RunProgram({kWick, "script", "-i", file, "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const bool valid = name == utf8;
    EXPECT_EQ(absl::StrContains(r.err, "were not UTF-8"), !valid) << r.err;
    const std::string json = TempPath("names.json");
    std::ofstream(json, std::ios::binary) << r.out;
    const std::string py = TempPath("names.py");
    std::ofstream(py) << "import json, sys\n"
                         "names = set()\n"
                         "for line in open(sys.argv[1], encoding='utf-8', errors='strict'):\n"
                         "    names.add(json.loads(line)['comm'])\n"
                         "print(json.dumps(sorted(names)))\n";
    RunResult parsed = RunProgram({"/usr/bin/python3", py, json});
    ASSERT_EQ(parsed.exit_code, 0) << parsed.err << r.out.substr(0, 500);
    EXPECT_EQ(parsed.out, valid ? "[\"\\u017elu\\u0165\"]\n" : "[\"q\\ufffd\\\"\\\\\\tx\"]\n")
        << r.out.substr(0, 500);
  }
}

TEST_F(ScriptE2eTest, UnusableFilesAreOneLineErrors) {
  const std::string foreign = TempPath("foreign.wick");
  std::ofstream(foreign) << "hello, not a recording\n";
  RunResult r = RunProgram({kWick, "script", "-i", foreign});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(CountLines(r.err), 1) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, foreign)) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "not a wick recording")) << r.err;

  r = RunProgram({kWick, "script", "-i", TempPath("does-not-exist.wick")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(CountLines(r.err), 1) << r.err;

  // A recording cut short: what it holds is printed after a one-line warning.
  const std::string full = TempPath("full.wick");
  r = RunProgram(
      {kWick, "record", "-e", "syscalls:sys_enter_openat", "-o", full, "--", kOpenatN, "5"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string bytes;
  {
    std::ifstream in(full, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const std::string cut = TempPath("cut.wick");
  std::ofstream(cut, std::ios::binary).write(bytes.data(), bytes.size() - 10);
  r = RunProgram({kWick, "script", "-i", cut});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_GT(CountLines(r.out), 0) << "what the cut file holds is printed";
  // One warning line first; the counters of what was recovered follow.
  EXPECT_TRUE(absl::StartsWith(r.err, "wick script: warning: ")) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err.substr(0, r.err.find('\n')), "incomplete")) << r.err;
  EXPECT_EQ(r.err.find("warning", r.err.find('\n')), std::string::npos) << r.err;

  // A recording of a sampling event: a one-line pointer to wick report.
  const std::string cpu = TempPath("cpu.wick");
  r = RunProgram({kWick, "record", "-e", "cpu-clock", "-o", cpu, "--", "/bin/true"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = RunProgram({kWick, "script", "-i", cpu});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(CountLines(r.err), 1) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err,
                                "has no trace events (recorded with -e cpu-clock); use "
                                "wick report"))
      << r.err;
}

}  // namespace
}  // namespace wick::testing
