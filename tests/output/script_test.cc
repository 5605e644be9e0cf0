// Unit tests of wick script (script.h) on hand-built recordings: exact text and JSON lines
// for sched_switch payloads decoded with a captured format file, probe events without a
// payload, callchains (symbolized from the known_tree workload), --event globs, undecodable
// payloads and the message for a recording without trace events.
#include "wick/script.h"

#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_format.h"
#include "output_fixture.h"
#include "testing/testing.h"

namespace wick {
namespace {

std::string ReadTestdata(const std::string& name) {
  std::ifstream in(std::string(WICK_TRACE_TESTDATA) + "/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A sched_switch payload (layout of tests/trace/testdata/sched_switch.format, 68 bytes with
// the kernel's padding).
std::string SwitchPayload(const char* prev, int32_t prev_pid, int64_t state, const char* next,
                          int32_t next_pid) {
  std::string p(68, '\0');
  auto put = [&](size_t off, auto v) { std::memcpy(p.data() + off, &v, sizeof(v)); };
  put(0, uint16_t{372});
  put(4, prev_pid);
  std::memcpy(p.data() + 8, prev, std::strlen(prev));
  put(24, prev_pid);
  put(28, int32_t{120});
  put(32, state);
  std::memcpy(p.data() + 40, next, std::strlen(next));
  put(56, next_pid);
  put(60, int32_t{120});
  return p;
}

RecordedTraceSample Sample(uint64_t time, uint32_t cpu, uint32_t pid, uint32_t tid, uint32_t comm,
                           uint32_t type, std::string raw, uint32_t stack = kNoStack) {
  RecordedTraceSample s;
  s.time = time;
  s.cpu = cpu;
  s.pid = pid;
  s.tid = tid;
  s.comm = comm;
  s.event_type = type;
  s.stack = stack;
  s.raw = std::move(raw);
  return s;
}

class ScriptTest : public OutputTest {
 protected:
  void SetUp() override {
    OutputTest::SetUp();
    rec_.comms.push_back({1, "bash"});
    rec_.event_types.push_back({0, "sched:sched_switch", ReadTestdata("sched_switch.format")});
    rec_.event_types.push_back({1, "uprobe:/bin/x:f", ""});
    rec_.trace_samples.push_back(Sample(12'345'678'901'234, 1, 1234, 1234, 1, 0,
                                        SwitchPayload("bash", 1234, 1, "swapper/1", 0)));
    rec_.trace_samples.push_back(Sample(12'345'679'000'999, 0, 77, 78, 0, 1, ""));
  }

  std::string Run(const ScriptOptions& opts, ScriptResult* result = nullptr) {
    std::ostringstream out;
    WICK_EXPECT_OK(WriteScript(rec_, sym_, out, opts, result));
    return out.str();
  }

  Symbolizer sym_;
};

TEST_F(ScriptTest, TextLinesAreExact) {
  ScriptResult result;
  EXPECT_EQ(Run({}, &result),
            "            bash   1234/1234   [001] 12345.678901: sched:sched_switch: "
            "prev_comm=bash prev_pid=1234 prev_prio=120 prev_state=1 next_comm=swapper/1 "
            "next_pid=0 next_prio=120\n"
            "   known_tree_fp     77/78     [000] 12345.679000: uprobe:/bin/x:f:\n");
  EXPECT_EQ(result.printed, 2u);
  EXPECT_EQ(result.undecoded, 0u);
}

TEST_F(ScriptTest, JsonLinesAreExact) {
  ScriptOptions opts;
  opts.json = true;
  EXPECT_EQ(Run(opts),
            R"({"comm":"bash","pid":1234,"tid":1234,"cpu":1,"time":12345.678901,)"
            R"("time_ns":12345678901234,"event":"sched:sched_switch","fields":{"prev_comm":"bash",)"
            R"("prev_pid":1234,"prev_prio":120,"prev_state":1,"next_comm":"swapper/1",)"
            R"("next_pid":0,"next_prio":120}})"
            "\n"
            R"({"comm":"known_tree_fp","pid":77,"tid":78,"cpu":0,"time":12345.679000,)"
            R"("time_ns":12345679000999,"event":"uprobe:/bin/x:f","fields":{}})"
            "\n");
}

TEST_F(ScriptTest, CallchainsAreSymbolizedLeafFirst) {
  AddStack(0, {Kernel(kKernelBase + 0x108), F("c"), F("main"), Raw(0x7f0000001234)}, 1);
  rec_.trace_samples[1].stack = 0;
  ScriptOptions opts;
  opts.event_globs = {"uprobe:*"};
  const std::string text = Run(opts);
  EXPECT_EQ(text, absl::StrFormat("   known_tree_fp     77/78     [000] 12345.679000: "
                                  "uprobe:/bin/x:f:\n"
                                  "\t%16x do_syscall_64 ([kernel])\n"
                                  "\t%16x c (known_tree_fp)\n"
                                  "\t%16x main (known_tree_fp)\n"
                                  "\t    7f0000001234 [unknown] ([unknown])\n\n",
                                  kKernelBase + 0x108, offsets_["c"], offsets_["main"]));
  opts.json = true;
  EXPECT_NE(Run(opts).find(absl::StrFormat(
                R"("fields":{},"callchain":[{"addr":"0x%x","name":"do_syscall_64","module":)"
                R"("[kernel]"},{"addr":"0x%x","name":"c","module":"known_tree_fp"},)",
                kKernelBase + 0x108, offsets_["c"])),
            std::string::npos)
      << Run(opts);
  opts.json = false;
  opts.callchain = false;
  EXPECT_EQ(Run(opts), "   known_tree_fp     77/78     [000] 12345.679000: uprobe:/bin/x:f:\n");
}

TEST_F(ScriptTest, EventGlobsSelect) {
  ScriptOptions opts;
  opts.event_globs = {"sched_switch"};  // no ':' also matches the event part
  ScriptResult result;
  EXPECT_EQ(Run(opts, &result).find("uprobe"), std::string::npos);
  EXPECT_EQ(result.printed, 1u);
  opts.event_globs = {"sched:*", "uprobe:/bin/*"};
  result = {};
  Run(opts, &result);
  EXPECT_EQ(result.printed, 2u);
  opts.event_globs = {"syscalls:*"};
  EXPECT_EQ(Run(opts), "");
  EXPECT_TRUE(EventMatches("sched:sched_switch", {}));
  EXPECT_FALSE(EventMatches("sched:sched_switch", {"sched_wakeup"}));
  EXPECT_TRUE(EventMatches("uretprobe:/bin/x:f", {"u*probe:*"}));
}

TEST_F(ScriptTest, UndecodablePayloadsAreShownNotFatal) {
  rec_.trace_samples[0].raw.resize(20);  // cut inside prev_comm
  rec_.event_types[1].format = "not a format file";
  ScriptResult result;
  const std::string text = Run({}, &result);
  EXPECT_EQ(result.printed, 2u);
  EXPECT_EQ(result.undecoded, 2u);
  EXPECT_NE(text.find("sched:sched_switch: [undecodable: "), std::string::npos) << text;
  EXPECT_NE(text.find("uprobe:/bin/x:f: [undecodable: format: "), std::string::npos) << text;
  ScriptOptions opts;
  opts.json = true;
  const std::string json = Run(opts);
  EXPECT_NE(json.find(R"("fields":null,"error":")"), std::string::npos) << json;
}

// A comm may hold any byte but NUL: valid UTF-8 passes as it is, a byte that is not UTF-8
// becomes U+FFFD (counted), quotes, backslashes and control bytes are escaped.
TEST_F(ScriptTest, JsonNamesAreValidUtf8) {
  rec_.comms[1].name = "a\"b\\c\n\x01\xff\xc5\xbelu\xc5\xa5";
  ScriptOptions opts;
  opts.json = true;
  ScriptResult result;
  const std::string json = Run(opts, &result);
  EXPECT_NE(json.find("{\"comm\":\"a\\\"b\\\\c\\n\\u0001\xef\xbf\xbd\xc5\xbelu\xc5\xa5\","),
            std::string::npos)
      << json;
  EXPECT_EQ(result.text_not_utf8, 1u);
}

TEST(ScriptMessageTest, NoTraceEvents) {
  Recording rec;
  rec.meta.event = "cpu-clock";
  EXPECT_EQ(NoTraceEventsMessage(rec, "wick.data"),
            "wick.data has no trace events (recorded with -e cpu-clock); use wick report");
  rec.event_types.push_back({0, "cpu-clock", ""});
  rec.event_types.push_back({1, "sched:sched_switch", "x"});
  EXPECT_EQ(NoTraceEventsMessage(rec, "w"),
            "w has no trace events (recorded with -e cpu-clock,sched:sched_switch); use wick "
            "report");
  Symbolizer sym;
  std::ostringstream out;
  ScriptResult result;
  WICK_EXPECT_OK(WriteScript(rec, sym, out, {}, &result));
  EXPECT_EQ(out.str(), "");
  EXPECT_EQ(result.printed, 0u);
}

}  // namespace
}  // namespace wick
