// Unit tests of the trace module: format files captured on this kernel (testdata/), raw
// payloads built by hand, a fixture tracefs and sysfs, ELF symbol resolution on a bundled
// program and on this test binary.
#include <linux/perf_event.h>
#include <stdio.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/testing.h"
#include "wick/event_spec.h"
#include "wick/trace_event.h"
#include "wick/trace_format.h"
#include "wick/tracefs.h"

namespace wick {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

std::string ReadTestdata(const std::string& name) {
  std::ifstream in(std::string(WICK_TRACE_TESTDATA) + "/" + name);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

TraceFormat MustParse(const std::string& text) {
  absl::StatusOr<TraceFormat> f = TraceFormat::Parse(text);
  EXPECT_TRUE(f.ok()) << f.status();
  return f.ok() ? *f : TraceFormat();
}

// A raw payload under construction: little-endian scalars and bytes at given offsets.
class Payload {
 public:
  explicit Payload(size_t size) : bytes_(size) {}
  template <typename T>
  Payload& Put(size_t offset, T value) {
    std::memcpy(bytes_.data() + offset, &value, sizeof(T));
    return *this;
  }
  Payload& PutBytes(size_t offset, std::string_view s) {
    std::memcpy(bytes_.data() + offset, s.data(), s.size());
    return *this;
  }
  std::span<const std::byte> span() const { return bytes_; }

 private:
  std::vector<std::byte> bytes_;
};

uint32_t DataLoc(uint32_t offset, uint32_t length) { return (length << 16) | offset; }

// ---------------------------------------------------------------------------------------------
// TraceFormat::Parse

TEST(TraceFormatTest, ParsesSchedSwitch) {
  TraceFormat f = MustParse(ReadTestdata("sched_switch.format"));
  EXPECT_EQ(f.name, "sched_switch");
  EXPECT_EQ(f.id, 372u);
  ASSERT_EQ(f.fields.size(), 11u);
  EXPECT_EQ(f.fields[0].name, "common_type");
  EXPECT_TRUE(f.fields[3].is_common);
  EXPECT_FALSE(f.fields[4].is_common);
  const TraceField* comm = f.FindField("prev_comm");
  ASSERT_NE(comm, nullptr);
  EXPECT_EQ(comm->type, "char");
  EXPECT_EQ(comm->kind, TraceField::Kind::kCharArray);
  EXPECT_EQ(comm->offset, 8u);
  EXPECT_EQ(comm->size, 16u);
  EXPECT_EQ(comm->array_length, 16u);
  const TraceField* state = f.FindField("prev_state");
  ASSERT_NE(state, nullptr);
  EXPECT_EQ(state->type, "long");
  EXPECT_EQ(state->kind, TraceField::Kind::kInteger);
  EXPECT_TRUE(state->is_signed);
  EXPECT_EQ(f.FindField("next_pid")->type, "pid_t");
  EXPECT_EQ(f.FixedSize(), 64u);
  EXPECT_THAT(f.print_fmt, StartsWith("\"prev_comm=%s prev_pid=%d"));
}

TEST(TraceFormatTest, ParsesKinds) {
  TraceFormat exec = MustParse(ReadTestdata("sched_process_exec.format"));
  EXPECT_EQ(exec.FindField("filename")->kind, TraceField::Kind::kDataLocString);
  EXPECT_EQ(exec.FindField("filename")->type, "__data_loc char[]");

  TraceFormat openat = MustParse(ReadTestdata("sys_enter_openat.format"));
  EXPECT_EQ(openat.FindField("filename")->kind, TraceField::Kind::kPointer);
  EXPECT_EQ(openat.FindField("filename")->type, "const char *");
  EXPECT_EQ(openat.FindField("dfd")->size, 8u);  // declared int, stored as a long

  TraceFormat dma = MustParse(ReadTestdata("dma_map_sg.format"));
  const TraceField* lengths = dma.FindField("lengths");
  EXPECT_EQ(lengths->kind, TraceField::Kind::kDataLocArray);
  EXPECT_EQ(lengths->element_size, 4u);
  EXPECT_FALSE(lengths->element_signed);
  EXPECT_EQ(dma.FindField("dma_addrs")->element_size, 8u);
  EXPECT_EQ(dma.FindField("truncated")->kind, TraceField::Kind::kInteger);

  TraceFormat stack = MustParse(ReadTestdata("kernel_stack.format"));
  EXPECT_EQ(stack.FindField("caller")->kind, TraceField::Kind::kArray);
  EXPECT_EQ(stack.FindField("caller")->array_length, 8u);
  EXPECT_EQ(stack.FindField("caller")->element_size, 8u);

  TraceFormat graph = MustParse(ReadTestdata("funcgraph_entry.format"));
  EXPECT_EQ(graph.FindField("args")->kind, TraceField::Kind::kArray);
  EXPECT_EQ(graph.FindField("args")->size, 0u);
}

TEST(TraceFormatTest, PrintFmtMaySpanLines) {
  // As ext4_fc_stats and ext4_fsmap_* print on this kernel: newlines inside the string.
  TraceFormat f = MustParse(
      "name: m\nID: 2\nformat:\n\tfield:int a;\toffset:0;\tsize:4;\tsigned:1;\n\n"
      "print fmt: \"a=%d\n\tmore: %s\n\", REC->a\n");
  EXPECT_EQ(f.print_fmt, "\"a=%d\n\tmore: %s\n\", REC->a");
  EXPECT_EQ(f.fields.size(), 1u);
}

TEST(TraceFormatTest, RejectsMalformed) {
  const std::string header = "name: x\nID: 1\nformat:\n";
  for (const std::string& text : {
           std::string(""),
           std::string("name: x\nformat:\n"),                                    // no ID
           std::string("name: x\nID: one\nformat:\n"),                           // ID not a number
           std::string("name: x\nID: 1\n\tfield:int a;\toffset:0;\tsize:4;\n"),  // before format:
           header + "\tfield:int a;\toffset:zero;\tsize:4;\n",
           header + "\tfield:int a;\tsize:4;\n",                           // no offset
           header + "\tfield:;\toffset:0;\tsize:4;\n",                     // no declaration
           header + "\tfield:int;\toffset:0;\tsize:4;\n",                  // no type
           header + "\tfield:int a;\toffset:70000;\tsize:4;\n",            // beyond 64 KiB
           header + "\tfield:__data_loc char[] s;\toffset:0;\tsize:8;\n",  // data_loc size
           header + "what is this\n",
       }) {
    absl::StatusOr<TraceFormat> f = TraceFormat::Parse(text);
    EXPECT_FALSE(f.ok()) << text;
    EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
  absl::StatusOr<TraceFormat> f =
      TraceFormat::Parse(header + "\tfield:int a;\toffset:x;\tsize:4;\n");
  EXPECT_THAT(Msg(f.status()), HasSubstr("format line 4"));
}

// ---------------------------------------------------------------------------------------------
// DecodeTraceFields and the formatters

// sched_switch from bash (pid 1234, prio 120, state S) to swapper/0:
//   0000: 74 01 01 00 d2 04 00 00  common_type=372 flags=1 preempt=0 common_pid=1234
//   0008: "bash" padded to 16       prev_comm
//   0018: d2 04 00 00 78 00 00 00  prev_pid=1234 prev_prio=120
//   0020: 01 00 .. 00              prev_state=1 (long)
//   0028: "swapper/0" padded to 16  next_comm
//   0038: 00 00 00 00 78 00 00 00  next_pid=0 next_prio=120
//   0040: 00 00 00 00              kernel padding (the u32 size + data is 8-byte aligned)
Payload SchedSwitchPayload() {
  Payload p(68);
  p.Put<uint16_t>(0, 372).Put<uint8_t>(2, 1).Put<int32_t>(4, 1234);
  p.PutBytes(8, "bash").Put<int32_t>(24, 1234).Put<int32_t>(28, 120).Put<int64_t>(32, 1);
  p.PutBytes(40, "swapper/0").Put<int32_t>(56, 0).Put<int32_t>(60, 120);
  return p;
}

TEST(DecodeTest, SchedSwitch) {
  TraceFormat f = MustParse(ReadTestdata("sched_switch.format"));
  Payload p = SchedSwitchPayload();
  WICK_ASSERT_OK_AND_ASSIGN(std::vector<TraceValue> values, DecodeTraceFields(f, p.span()));
  ASSERT_EQ(values.size(), 7u);
  EXPECT_EQ(values[0].field->name, "prev_comm");
  EXPECT_EQ(values[0].type, TraceValue::Type::kString);
  EXPECT_EQ(values[0].str, "bash");
  EXPECT_EQ(values[1].type, TraceValue::Type::kSigned);
  EXPECT_EQ(values[1].s, 1234);
  EXPECT_EQ(FormatTraceText(values),
            "prev_comm=bash prev_pid=1234 prev_prio=120 prev_state=1 next_comm=swapper/0 "
            "next_pid=0 next_prio=120");
  EXPECT_EQ(FormatTraceJson(values),
            R"({"prev_comm":"bash","prev_pid":1234,"prev_prio":120,"prev_state":1,)"
            R"("next_comm":"swapper/0","next_pid":0,"next_prio":120})");

  WICK_ASSERT_OK_AND_ASSIGN(std::vector<TraceValue> all,
                            DecodeTraceFields(f, p.span(), /*include_common=*/true));
  ASSERT_EQ(all.size(), 11u);
  EXPECT_THAT(FormatTraceText(all),
              StartsWith("common_type=372 common_flags=1 common_preempt_count=0 "
                         "common_pid=1234 prev_comm=bash"));
}

TEST(DecodeTest, SignExtensionOfEverySize) {
  TraceFormat f = MustParse(
      "name: ints\nID: 9\nformat:\n"
      "\tfield:s8 a;\toffset:0;\tsize:1;\tsigned:1;\n"
      "\tfield:u8 b;\toffset:1;\tsize:1;\tsigned:0;\n"
      "\tfield:short c;\toffset:2;\tsize:2;\tsigned:1;\n"
      "\tfield:unsigned short d;\toffset:4;\tsize:2;\tsigned:0;\n"
      "\tfield:int e;\toffset:8;\tsize:4;\tsigned:1;\n"
      "\tfield:u32 g;\toffset:12;\tsize:4;\tsigned:0;\n"
      "\tfield:s64 h;\toffset:16;\tsize:8;\tsigned:1;\n"
      "\tfield:u64 i;\toffset:24;\tsize:8;\tsigned:0;\n"
      "\tfield:bool j;\toffset:32;\tsize:1;\tsigned:0;\n"
      "\tfield:u8 mac[6];\toffset:33;\tsize:6;\tsigned:0;\n"
      "\tfield:struct odd k;\toffset:40;\tsize:3;\tsigned:0;\n"
      "\tfield:void * p;\toffset:48;\tsize:8;\tsigned:0;\n");
  Payload p(56);
  p.Put<int8_t>(0, -1).Put<uint8_t>(1, 255).Put<int16_t>(2, -2).Put<uint16_t>(4, 65535);
  p.Put<int32_t>(8, -3).Put<uint32_t>(12, 4294967295u).Put<int64_t>(16, INT64_MIN);
  p.Put<uint64_t>(24, UINT64_MAX)
      .Put<uint8_t>(32, 1)
      .PutBytes(33, std::string_view("\x00\x11\x22\x33\x44\xff", 6));
  p.PutBytes(40, "\xab\xcd\xef").Put<uint64_t>(48, 0xffffffff81000000);
  WICK_ASSERT_OK_AND_ASSIGN(std::vector<TraceValue> values, DecodeTraceFields(f, p.span()));
  EXPECT_EQ(FormatTraceText(values),
            "a=-1 b=255 c=-2 d=65535 e=-3 g=4294967295 h=-9223372036854775808 "
            "i=18446744073709551615 j=1 mac=[0,17,34,51,68,255] k=abcdef p=0xffffffff81000000");
  EXPECT_EQ(FormatTraceJson(values),
            R"({"a":-1,"b":255,"c":-2,"d":65535,"e":-3,"g":4294967295,)"
            R"("h":-9223372036854775808,"i":18446744073709551615,"j":1,)"
            R"("mac":[0,17,34,51,68,255],"k":"abcdef","p":"0xffffffff81000000"})");
}

// sched_process_exec of /bin/true by pid 77: the filename lives after the fixed fields,
// found through the __data_loc word (length 10 << 16 | offset 20).
TEST(DecodeTest, DataLocString) {
  TraceFormat f = MustParse(ReadTestdata("sched_process_exec.format"));
  Payload p(32);
  p.Put<uint16_t>(0, 365).Put<int32_t>(4, 77).Put<uint32_t>(8, DataLoc(20, 10));
  p.Put<int32_t>(12, 77).Put<int32_t>(16, 77).PutBytes(20, std::string_view("/bin/true\0", 10));
  WICK_ASSERT_OK_AND_ASSIGN(std::vector<TraceValue> values, DecodeTraceFields(f, p.span()));
  EXPECT_EQ(FormatTraceText(values), "filename=/bin/true pid=77 old_pid=77");

  // Out of the payload: an error naming the field, never a read past the end.
  p.Put<uint32_t>(8, DataLoc(24, 10));
  absl::StatusOr<std::vector<TraceValue>> bad = DecodeTraceFields(f, p.span());
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(Msg(bad.status()), HasSubstr("__data_loc field filename"));
}

TEST(DecodeTest, DataLocArrays) {
  TraceFormat f = MustParse(ReadTestdata("dma_map_sg.format"));
  Payload p(96);
  p.Put<uint32_t>(8, DataLoc(48, 4)).Put<int32_t>(12, 2).Put<int32_t>(16, 2).Put<uint8_t>(20, 1);
  p.Put<uint32_t>(24, DataLoc(56, 16)).Put<uint32_t>(28, DataLoc(72, 16));
  p.Put<uint32_t>(32, DataLoc(88, 8)).Put<uint32_t>(36, 1).Put<uint64_t>(40, 2);
  p.PutBytes(48, std::string_view("sda\0", 4)).Put<uint64_t>(56, 0x1000).Put<uint64_t>(64, 0x2000);
  p.Put<uint64_t>(72, 0xa000)
      .Put<uint64_t>(80, 0xb000)
      .Put<uint32_t>(88, 512)
      .Put<uint32_t>(92, 4096);
  WICK_ASSERT_OK_AND_ASSIGN(std::vector<TraceValue> values, DecodeTraceFields(f, p.span()));
  EXPECT_EQ(FormatTraceText(values),
            "device=sda full_nents=2 full_ents=2 truncated=1 phys_addrs=[4096,8192] "
            "dma_addrs=[40960,45056] lengths=[512,4096] dir=1 attrs=2");
}

TEST(DecodeTest, RelLoc) {
  // __rel_loc offsets count from the end of the field: name at 16 = 8 + 4 + 4.
  TraceFormat f = MustParse(
      "name: rel\nID: 10\nformat:\n"
      "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n"
      "\tfield:__rel_loc char[] name;\toffset:8;\tsize:4;\tsigned:0;\n"
      "\tfield:int x;\toffset:12;\tsize:4;\tsigned:1;\n"
      "\tfield:__rel_loc s16[] v;\toffset:24;\tsize:4;\tsigned:0;\n");
  EXPECT_EQ(f.FindField("name")->kind, TraceField::Kind::kRelLocString);
  EXPECT_EQ(f.FindField("v")->kind, TraceField::Kind::kRelLocArray);
  EXPECT_TRUE(f.FindField("v")->element_signed);
  Payload p(36);
  p.Put<uint32_t>(8, DataLoc(4, 4)).Put<int32_t>(12, -7).PutBytes(16, std::string_view("abc\0", 4));
  p.Put<uint32_t>(24, DataLoc(4, 4)).Put<int16_t>(32, -1).Put<int16_t>(34, 300);
  WICK_ASSERT_OK_AND_ASSIGN(std::vector<TraceValue> values, DecodeTraceFields(f, p.span()));
  EXPECT_EQ(FormatTraceText(values), "name=abc x=-7 v=[-1,300]");
}

TEST(DecodeTest, FixedAndOpenArrays) {
  TraceFormat stack = MustParse(ReadTestdata("kernel_stack.format"));
  Payload p(80);
  p.Put<int32_t>(8, 2);
  for (int i = 0; i < 8; ++i) p.Put<uint64_t>(16 + 8 * i, i + 1);
  WICK_ASSERT_OK_AND_ASSIGN(std::vector<TraceValue> values, DecodeTraceFields(stack, p.span()));
  EXPECT_EQ(FormatTraceText(values), "size=2 caller=[1,2,3,4,5,6,7,8]");

  TraceFormat graph = MustParse(ReadTestdata("funcgraph_entry.format"));
  Payload g(40);
  g.Put<uint64_t>(8, 0xffffffff81000000)
      .Put<uint32_t>(16, 3)
      .Put<uint64_t>(24, 5)
      .Put<uint64_t>(32, 6);
  WICK_ASSERT_OK_AND_ASSIGN(values, DecodeTraceFields(graph, g.span()));
  EXPECT_EQ(FormatTraceText(values), "func=18446744071578845184 depth=3 args=[5,6]");
}

TEST(DecodeTest, ShortPayloadIsAnError) {
  TraceFormat f = MustParse(ReadTestdata("sched_switch.format"));
  Payload p = SchedSwitchPayload();
  for (size_t size : {0, 4, 8, 63}) {
    absl::StatusOr<std::vector<TraceValue>> v = DecodeTraceFields(f, p.span().first(size));
    EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument) << size;
  }
  EXPECT_TRUE(DecodeTraceFields(f, p.span().first(64)).ok());
}

TEST(DecodeTest, JsonEscapesStrings) {
  TraceFormat f =
      MustParse("name: s\nID: 1\nformat:\n\tfield:char s[16];\toffset:0;\tsize:16;\tsigned:0;\n");
  Payload p(16);
  p.PutBytes(0, "a\"b\\c\n\xff\xc3\xa9\x01");
  WICK_ASSERT_OK_AND_ASSIGN(std::vector<TraceValue> values, DecodeTraceFields(f, p.span()));
  // Valid UTF-8 as it is; the stray \xff as U+FFFD, counted.
  uint64_t replaced = 0;
  EXPECT_EQ(FormatTraceJson(values, &replaced),
            "{\"s\":\"a\\\"b\\\\c\\n\xef\xbf\xbd\xc3\xa9\\u0001\"}");
  EXPECT_EQ(replaced, 1u);
}

// ---------------------------------------------------------------------------------------------
// Tracefs against a fixture tree

class FixtureDir : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/wick_trace_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  void Write(const std::string& rel, const std::string& text) {
    const std::filesystem::path p = std::filesystem::path(root_) / rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  void AddTracepoint(const std::string& system, const std::string& event, int id,
                     const std::string& format = "") {
    const std::string dir = "tracing/events/" + system + "/" + event + "/";
    Write(dir + "id", std::to_string(id) + "\n");
    Write(dir + "format", format.empty() ? "name: " + event + "\nID: " + std::to_string(id) +
                                               "\nformat:\n\nprint fmt: \"\"\n"
                                         : format);
  }
  std::string root_;
};

using TracefsTest = FixtureDir;

TEST_F(TracefsTest, FindReadsProcMounts) {
  Write("proc/mounts", "sysfs /sys sysfs rw 0 0\nnodev /my\\040tracing tracefs rw,relatime 0 0\n");
  WICK_ASSERT_OK_AND_ASSIGN(Tracefs t, Tracefs::Find(root_ + "/proc"));
  EXPECT_EQ(t.root(), "/my tracing");

  Write("debug/tracing/events/.keep", "");
  Write("proc/mounts", "debugfs " + root_ + "/debug debugfs rw 0 0\n");
  WICK_ASSERT_OK_AND_ASSIGN(t, Tracefs::Find(root_ + "/proc"));
  EXPECT_EQ(t.root(), root_ + "/debug/tracing");

  Write("proc/mounts", "sysfs /sys sysfs rw 0 0\n");
  absl::StatusOr<Tracefs> none = Tracefs::Find(root_ + "/proc");
  EXPECT_EQ(none.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Msg(none.status()), HasSubstr("mount -t tracefs nodev /sys/kernel/tracing"));
}

TEST_F(TracefsTest, ExpandsGlobsAndSuggests) {
  AddTracepoint("sched", "sched_switch", 372, ReadTestdata("sched_switch.format"));
  AddTracepoint("sched", "sched_wakeup", 373);
  AddTracepoint("syscalls", "sys_enter_openat", 782);
  AddTracepoint("syscalls", "sys_enter_open", 780);
  AddTracepoint("syscalls", "sys_exit_open", 781);
  Write("tracing/events/enable", "0\n");  // a file among the systems, as in real tracefs
  Tracefs t = Tracefs::AtRoot(root_ + "/tracing");

  WICK_ASSERT_OK_AND_ASSIGN(std::vector<TracepointName> all, t.ListTracepoints());
  EXPECT_EQ(all.size(), 5u);
  WICK_ASSERT_OK_AND_ASSIGN(std::vector<TracepointName> sched, t.Expand("sched", "*"));
  EXPECT_THAT(sched, ElementsAre(TracepointName{"sched", "sched_switch"},
                                 TracepointName{"sched", "sched_wakeup"}));
  WICK_ASSERT_OK_AND_ASSIGN(std::vector<TracepointName> open,
                            t.Expand("syscalls", "sys_enter_open*"));
  EXPECT_THAT(open, ElementsAre(TracepointName{"syscalls", "sys_enter_open"},
                                TracepointName{"syscalls", "sys_enter_openat"}));
  WICK_ASSERT_OK_AND_ASSIGN(std::vector<TracepointName> one, t.Expand("sched", "sched_switch"));
  EXPECT_EQ(one.size(), 1u);

  absl::StatusOr<std::vector<TracepointName>> typo = t.Expand("sched", "sched_swich");
  EXPECT_EQ(typo.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Msg(typo.status()), HasSubstr("unknown tracepoint 'sched:sched_swich'"));
  EXPECT_THAT(Msg(typo.status()), HasSubstr("did you mean sched:sched_switch"));
  absl::StatusOr<std::vector<TracepointName>> wrong_system = t.Expand("syscall", "sys_exit_open");
  EXPECT_THAT(Msg(wrong_system.status()), HasSubstr("did you mean syscalls:sys_exit_open"));
  absl::StatusOr<std::vector<TracepointName>> no_glob = t.Expand("irq", "*");
  EXPECT_THAT(Msg(no_glob.status()), HasSubstr("no tracepoint matches 'irq:*'"));

  WICK_ASSERT_OK_AND_ASSIGN(uint64_t id, t.ReadId({"syscalls", "sys_enter_openat"}));
  EXPECT_EQ(id, 782u);
  EXPECT_FALSE(Tracefs::AtRoot(root_ + "/nothing").ListTracepoints().ok());
}

TEST(NearMatchesTest, EditDistanceAndSubstrings) {
  const std::vector<std::string> names = {"readline", "readlink", "main", "rl_readline_state",
                                          "write"};
  EXPECT_THAT(NearMatches("readlin", names),
              ElementsAre("readline", "readlink", "rl_readline_state"));
  EXPECT_THAT(NearMatches("mian", names), ElementsAre("main"));
  EXPECT_TRUE(NearMatches("zzzzzzzz", names).empty());
  EXPECT_TRUE(NearMatches(std::string(1000, 'a'), names).empty());
}

// ---------------------------------------------------------------------------------------------
// Specs, resolution, attrs

EventSpec Spec(const char* text) {
  absl::StatusOr<EventSpec> s = ParseEventSpec(text);
  EXPECT_TRUE(s.ok()) << text << ": " << s.status();
  return s.ok() ? *s : EventSpec();
}

TEST(ParseTraceEventSpecTest, Parts) {
  WICK_ASSERT_OK_AND_ASSIGN(TraceEventSpec tp,
                            ParseTraceEventSpec(Spec("syscalls:sys_enter_open*:u")));
  EXPECT_EQ(tp.system, "syscalls");
  EXPECT_EQ(tp.event, "sys_enter_open*");

  WICK_ASSERT_OK_AND_ASSIGN(TraceEventSpec u,
                            ParseTraceEventSpec(Spec("uprobe:/bin/bash:readline+0x10")));
  EXPECT_EQ(u.kind, EventKind::kUprobe);
  EXPECT_EQ(u.target, "/bin/bash");
  EXPECT_EQ(u.symbol, "readline");
  EXPECT_EQ(u.offset, 16u);
  EXPECT_FALSE(u.has_address);

  WICK_ASSERT_OK_AND_ASSIGN(TraceEventSpec a, ParseTraceEventSpec(Spec("uretprobe:/a:b/c:0x4f0")));
  EXPECT_EQ(a.target, "/a:b/c");  // the last ':' separates the location
  EXPECT_TRUE(a.has_address);
  EXPECT_EQ(a.address, 0x4f0u);

  WICK_ASSERT_OK_AND_ASSIGN(TraceEventSpec k, ParseTraceEventSpec(Spec("kprobe:do_sys_openat2+4")));
  EXPECT_EQ(k.target, "do_sys_openat2");
  EXPECT_EQ(k.offset, 4u);

  for (const char* bad : {"uprobe:/bin/bash", "uprobe:/bin/bash:readline+x", "uprobe::main",
                          "uretprobe:/bin/bash:readline+4", "kretprobe:f+1", "kprobe:0xzz",
                          "uprobe:/bin/bash:0xgg"}) {
    absl::StatusOr<TraceEventSpec> s = ParseTraceEventSpec(Spec(bad));
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

using ResolveTest = FixtureDir;

TEST_F(ResolveTest, KprobesNeedTheKprobePmu) {
  Write("sys/bus/event_source/devices/uprobe/type", "7\n");
  for (const char* text : {"kprobe:do_sys_openat2", "kretprobe:do_sys_openat2"}) {
    absl::StatusOr<std::vector<ResolvedTraceEvent>> r =
        ResolveTraceEvents(Spec(text), KernelCaps(), nullptr, root_ + "/sys");
    EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(Msg(r.status()), StartsWith("this kernel was built without kprobe support (no " +
                                            root_ + "/sys/bus/event_source/devices/kprobe)"));
  }
  // This machine's kernel: the exact message users see.
  if (!std::filesystem::exists("/sys/bus/event_source/devices/kprobe")) {
    absl::StatusOr<std::vector<ResolvedTraceEvent>> r =
        ResolveTraceEvents(Spec("kprobe:do_sys_openat2"), KernelCaps(), nullptr);
    EXPECT_THAT(Msg(r.status()), StartsWith("this kernel was built without kprobe support (no "
                                            "/sys/bus/event_source/devices/kprobe)"));
  }
}

TEST_F(ResolveTest, KprobeWithFixturePmu) {
  Write("sys/bus/event_source/devices/kprobe/type", "9\n");
  Write("sys/bus/event_source/devices/kprobe/format/retprobe", "config:0\n");
  WICK_ASSERT_OK_AND_ASSIGN(
      std::vector<ResolvedTraceEvent> r,
      ResolveTraceEvents(Spec("kretprobe:vfs_read"), KernelCaps(), nullptr, root_ + "/sys"));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].event.type, 9u);
  EXPECT_EQ(r[0].event.config, 1u);
  EXPECT_EQ(*r[0].probe_string, "vfs_read");
  perf_event_attr attr{};
  ApplyTraceEvent(r[0], &attr);
  EXPECT_EQ(attr.config1, reinterpret_cast<uintptr_t>(r[0].probe_string->c_str()));
  EXPECT_EQ(attr.config2, 0u);
  EXPECT_STREQ(reinterpret_cast<const char*>(attr.config1), "vfs_read");
}

TEST_F(ResolveTest, TracepointsFromFixtureTracefs) {
  AddTracepoint("sched", "sched_switch", 372, ReadTestdata("sched_switch.format"));
  AddTracepoint("sched", "sched_wakeup", 373);
  Tracefs t = Tracefs::AtRoot(root_ + "/tracing");
  WICK_ASSERT_OK_AND_ASSIGN(std::vector<ResolvedTraceEvent> r,
                            ResolveTraceEvents(Spec("sched:*"), KernelCaps(), &t));
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].event.name, "sched:sched_switch");
  EXPECT_EQ(r[0].event.type, static_cast<uint32_t>(PERF_TYPE_TRACEPOINT));
  EXPECT_EQ(r[0].event.config, 372u);
  ASSERT_NE(r[0].format, nullptr);
  EXPECT_EQ(r[0].format->fields.size(), 11u);
  EXPECT_TRUE(r[0].is_tracepoint());
  EXPECT_EQ(r[0].probe_string, nullptr);

  // A sampling attr at a frequency becomes every-hit with PERF_SAMPLE_RAW.
  perf_event_attr attr{};
  attr.freq = 1;
  attr.sample_freq = 99;
  attr.sample_type = PERF_SAMPLE_TID;
  ApplyTraceEvent(r[0], &attr);
  EXPECT_EQ(attr.type, static_cast<uint32_t>(PERF_TYPE_TRACEPOINT));
  EXPECT_EQ(attr.config, 372u);
  EXPECT_EQ(attr.freq, 0u);
  EXPECT_EQ(attr.sample_period, 1u);
  EXPECT_EQ(attr.sample_type, static_cast<uint64_t>(PERF_SAMPLE_TID | PERF_SAMPLE_RAW));
  EXPECT_EQ(attr.config1, 0u);
  // An explicit period stays.
  attr.sample_period = 10;
  ApplyTraceEvent(r[0], &attr);
  EXPECT_EQ(attr.sample_period, 10u);

  EXPECT_EQ(ResolveTraceEvents(Spec("sched:sched_switch"), KernelCaps(), nullptr).status().code(),
            absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<std::vector<ResolvedTraceEvent>> typo =
      ResolveTraceEvents(Spec("sched:sched_wakup"), KernelCaps(), &t);
  EXPECT_THAT(Msg(typo.status()), HasSubstr("did you mean sched:sched_wakeup"));
}

// ---------------------------------------------------------------------------------------------
// ELF symbols → file offsets

extern "C" __attribute__((noinline, used)) int WickTraceTestFunction(int x) { return x * 3 + 1; }

TEST(ElfTest, SymbolOffsetHoldsTheFunctionsBytes) {
  WICK_ASSERT_OK_AND_ASSIGN(uint64_t offset,
                            ElfSymbolFileOffset("/proc/self/exe", "WickTraceTestFunction"));
  // The bytes at that file offset are the code the CPU runs for the function.
  std::ifstream exe("/proc/self/exe", std::ios::binary);
  exe.seekg(static_cast<std::streamoff>(offset));
  char file_bytes[16];
  ASSERT_TRUE(exe.read(file_bytes, sizeof(file_bytes)));
  EXPECT_EQ(std::memcmp(file_bytes, reinterpret_cast<const void*>(&WickTraceTestFunction),
                        sizeof(file_bytes)),
            0);
  WICK_ASSERT_OK_AND_ASSIGN(uint64_t plus4,
                            ElfSymbolFileOffset("/proc/self/exe", "WickTraceTestFunction", 4));
  EXPECT_EQ(plus4, offset + 4);
}

uint64_t NmAddress(const std::string& path, const std::string& symbol) {
  FILE* nm = popen(("nm " + path).c_str(), "r");
  if (nm == nullptr) return 0;
  char line[512];
  uint64_t address = 0;
  while (fgets(line, sizeof(line), nm) != nullptr) {
    std::istringstream in(line);
    std::string addr, type, name;
    if (in >> addr >> type >> name && name == symbol) address = std::stoull(addr, nullptr, 16);
  }
  pclose(nm);
  return address;
}

TEST(ElfTest, AddressAndSymbolAgree) {
  const std::string path = WICK_UPROBE_TARGET;
  const uint64_t vaddr = NmAddress(path, "wick_uprobe_target");
  WICK_REQUIRE(vaddr != 0, "nm (binutils) is needed to read " + path);
  WICK_ASSERT_OK_AND_ASSIGN(uint64_t by_symbol, ElfSymbolFileOffset(path, "wick_uprobe_target"));
  WICK_ASSERT_OK_AND_ASSIGN(uint64_t by_address, ElfAddressFileOffset(path, vaddr));
  EXPECT_EQ(by_symbol, by_address);

  absl::StatusOr<uint64_t> data = ElfSymbolFileOffset(path, "wick_sink");  // not a function
  EXPECT_EQ(data.status().code(), absl::StatusCode::kNotFound);
  absl::StatusOr<uint64_t> nowhere = ElfAddressFileOffset(path, 0x7fff00000000);
  EXPECT_EQ(nowhere.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ElfTest, UnknownSymbolSuggests) {
  absl::StatusOr<uint64_t> r = ElfSymbolFileOffset(WICK_UPROBE_TARGET, "wick_uprobe_targt");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Msg(r.status()), HasSubstr("no function 'wick_uprobe_targt' in "));
  EXPECT_THAT(Msg(r.status()), HasSubstr("did you mean wick_uprobe_target?"));
  EXPECT_EQ(ElfSymbolFileOffset("/etc/hostname", "main").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ElfSymbolFileOffset("/nonexistent", "main").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ResolveTest, UprobeWithFixturePmu) {
  Write("sys/bus/event_source/devices/uprobe/type", "7\n");
  Write("sys/bus/event_source/devices/uprobe/format/retprobe", "config:0\n");
  const std::string path = WICK_UPROBE_TARGET;
  WICK_ASSERT_OK_AND_ASSIGN(uint64_t offset, ElfSymbolFileOffset(path, "wick_uprobe_target"));
  for (const char* kind : {"uprobe", "uretprobe"}) {
    const std::string text = std::string(kind) + ":" + path + ":wick_uprobe_target";
    WICK_ASSERT_OK_AND_ASSIGN(
        std::vector<ResolvedTraceEvent> r,
        ResolveTraceEvents(Spec(text.c_str()), KernelCaps(), nullptr, root_ + "/sys"));
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].event.type, 7u);
    EXPECT_EQ(r[0].event.config, std::string(kind) == "uretprobe" ? 1u : 0u);
    EXPECT_EQ(r[0].config2, offset);
    EXPECT_EQ(*r[0].probe_string, std::filesystem::canonical(path).string());
    EXPECT_EQ(r[0].event.name, text);
  }
  absl::StatusOr<std::vector<ResolvedTraceEvent>> missing = ResolveTraceEvents(
      Spec("uprobe:/no/such/binary:main"), KernelCaps(), nullptr, root_ + "/sys");
  EXPECT_THAT(Msg(missing.status()), HasSubstr("/no/such/binary"));
}

}  // namespace
}  // namespace wick
