// pprof output decoded by protoc (an independent protobuf implementation) against a schema
// with pprof's field numbers: exact samples, names, mappings, build-ids, inlined Lines, gzip.
#include "wick/pprof.h"

#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "output_fixture.h"
#include "testing/testing.h"

namespace wick {
namespace {

// protoc's text format, as a tree: "name: value" fields and "name { ... }" messages.
struct Msg {
  std::vector<std::pair<std::string, std::string>> fields;
  // Owned through pointers: a pair holding Msg itself needs Msg complete (clang's check).
  std::vector<std::pair<std::string, std::unique_ptr<Msg>>> messages;

  std::vector<std::string> All(const std::string& name) const {
    std::vector<std::string> out;
    for (const auto& [n, v] : fields) {
      if (n == name) out.push_back(v);
    }
    return out;
  }
  std::string Get(const std::string& name) const {
    std::vector<std::string> all = All(name);
    return all.empty() ? "0" : all[0];
  }
  uint64_t Num(const std::string& name) const {
    uint64_t v = 0;
    EXPECT_TRUE(absl::SimpleAtoi(Get(name), &v)) << name << "=" << Get(name);
    return v;
  }
  std::vector<const Msg*> Subs(const std::string& name) const {
    std::vector<const Msg*> out;
    for (const auto& [n, m] : messages) {
      if (n == name) out.push_back(m.get());
    }
    return out;
  }
};

Msg ParseText(std::istream& in) {
  Msg msg;
  std::string line;
  while (std::getline(in, line)) {
    const size_t start = line.find_first_not_of(' ');
    if (start == std::string::npos) continue;
    line = line.substr(start);
    if (line == "}") break;
    if (line.size() > 2 && line.substr(line.size() - 2) == " {") {
      msg.messages.emplace_back(line.substr(0, line.size() - 2),
                                std::make_unique<Msg>(ParseText(in)));
      continue;
    }
    const size_t colon = line.find(": ");
    if (colon == std::string::npos) continue;
    std::string value = line.substr(colon + 2);
    if (value.size() >= 2 && value.front() == '"') {
      std::string unescaped;
      absl::CUnescape(value.substr(1, value.size() - 2), &unescaped);
      value = unescaped;
    }
    msg.fields.emplace_back(line.substr(0, colon), value);
  }
  return msg;
}

std::string TempPath(const std::string& name) {
  return absl::StrCat(::testing::TempDir(), "/", name, ".", getpid());
}

// Decodes a serialized Profile with protoc.
Msg Decode(const std::string& raw) {
  const std::string in = TempPath("profile.pb"), out = TempPath("profile.txt");
  {
    std::ofstream f(in, std::ios::binary);
    f << raw;
  }
  const std::string cmd = absl::StrCat(WICK_PROTOC, " --decode=perftools.profiles.Profile -I ",
                                       WICK_PROTO_DIR, " profile.proto < ", in, " > ", out);
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream f(out);
  return ParseText(f);
}

std::string Gunzip(const std::string& gz) {
  z_stream z{};
  EXPECT_EQ(inflateInit2(&z, 15 + 16), Z_OK);
  std::string out(1 << 20, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  z.avail_in = static_cast<uInt>(gz.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(inflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  inflateEnd(&z);
  return out;
}

class PprofTest : public OutputTest {
 protected:
  // Resolves a decoded profile into readable pieces.
  struct View {
    Msg msg;
    std::vector<std::string> strings;
    std::map<uint64_t, const Msg*> locations, functions, mappings;

    std::string Str(const std::string& index) const {
      size_t i = 0;
      EXPECT_TRUE(absl::SimpleAtoi(index, &i));
      return i < strings.size() ? strings[i] : "<bad string index " + index + ">";
    }
    // "fn1+fn2" for a location's Lines (innermost first).
    std::string LocationName(uint64_t id) const {
      auto it = locations.find(id);
      if (it == locations.end()) return "<no location>";
      std::string name;
      for (const Msg* line : it->second->Subs("line")) {
        auto fn = functions.find(line->Num("function_id"));
        if (!name.empty()) name += "+";
        name += fn == functions.end() ? "<no function>" : Str(fn->second->Get("name"));
        if (line->Num("line") != 0) absl::StrAppend(&name, ":", line->Num("line"));
      }
      return name;
    }
    // Each sample's numeric pid and tid labels as "pid=P tid=T" (absent labels: "-").
    std::vector<std::string> Ids() const {
      std::vector<std::string> out;
      for (const Msg* s : msg.Subs("sample")) {
        std::string pid = "-", tid = "-";
        for (const Msg* l : s->Subs("label")) {
          const std::string key = Str(l->Get("key"));
          if (key == "pid") pid = l->Get("num");
          if (key == "tid") tid = l->Get("num");
          if (key == "pid" || key == "tid") {
            EXPECT_TRUE(l->All("str").empty());
          }
        }
        out.push_back(absl::StrCat("pid=", pid, " tid=", tid));
      }
      return out;
    }
    // Each sample as "thread|leaf;...;root=v1,v2".
    std::vector<std::string> Samples() const {
      std::vector<std::string> out;
      for (const Msg* s : msg.Subs("sample")) {
        std::string text;
        for (const Msg* l : s->Subs("label")) {
          const std::string key = Str(l->Get("key"));
          if (key == "pid" || key == "tid") continue;  // see Ids()
          absl::StrAppend(&text, key, "=", Str(l->Get("str")), "|");
        }
        const std::vector<std::string> ids = s->All("location_id");
        for (size_t i = 0; i < ids.size(); ++i) {
          uint64_t id = 0;
          EXPECT_TRUE(absl::SimpleAtoi(ids[i], &id));
          absl::StrAppend(&text, i == 0 ? "" : ";", LocationName(id));
        }
        text += "=";
        const std::vector<std::string> values = s->All("value");
        for (size_t i = 0; i < values.size(); ++i) absl::StrAppend(&text, i ? "," : "", values[i]);
        out.push_back(text);
      }
      return out;
    }
  };

  View Pprof(const PprofOptions& opts = {}, bool inlined = true) {
    View v;
    v.msg = Decode(EncodePprofProfile(Prof(inlined), opts));
    v.strings = v.msg.All("string_table");
    for (const Msg* m : v.msg.Subs("location")) v.locations[m->Num("id")] = m;
    for (const Msg* m : v.msg.Subs("function")) v.functions[m->Num("id")] = m;
    for (const Msg* m : v.msg.Subs("mapping")) v.mappings[m->Num("id")] = m;
    return v;
  }

  // "name:line" of a known_tree_fp function at its test offset, as the symbolizer sees it.
  std::string Ln(const std::string& name) {
    const SymbolizedAddress& s =
        sym_.SymbolizeFile(build_id_, workloads::KnownTreePath(), offsets_[name]);
    EXPECT_NE(s.line, 0u) << name;
    return absl::StrCat(name, ":", s.line);
  }
};

TEST_F(PprofTest, KnownTreeSamplesNamesAndMappings) {
  rec_.meta.event = "cpu-clock";
  rec_.meta.sample_freq = 1000;  // 1 ms per sample
  rec_.meta.command_line = "wick record -F 1000 -g -- known_tree_fp 1";
  rec_.meta.start_time_ns = 1700000000000000000;
  rec_.meta.duration_ns = 1500000000;
  AddKnownTree();
  AddStack(0, {User(1, 0x1a2b), Raw(0x7f0000001000), F("main")}, 4);
  const View v = Pprof();

  ASSERT_FALSE(v.strings.empty());
  EXPECT_EQ(v.strings[0], "");
  const std::vector<const Msg*> types = v.msg.Subs("sample_type");
  ASSERT_EQ(types.size(), 2u);
  EXPECT_EQ(v.Str(types[0]->Get("type")), "samples");
  EXPECT_EQ(v.Str(types[0]->Get("unit")), "count");
  EXPECT_EQ(v.Str(types[1]->Get("type")), "cpu");
  EXPECT_EQ(v.Str(types[1]->Get("unit")), "nanoseconds");
  EXPECT_EQ(v.msg.Num("period"), 1000000u);
  EXPECT_EQ(v.msg.Num("time_nanos"), 1700000000000000000u);
  EXPECT_EQ(v.msg.Num("duration_nanos"), 1500000000u);
  ASSERT_EQ(v.msg.All("comment").size(), 2u);
  EXPECT_EQ(v.Str(v.msg.All("comment")[0]), "wick record -F 1000 -g -- known_tree_fp 1");

  // Each user function's Line carries the address's own source line.
  const std::string tail = absl::StrCat(Ln("work"), ";", Ln("main"));
  EXPECT_EQ(v.Samples(),
            (std::vector<std::string>{
                absl::StrCat("thread=known_tree_fp|", Ln("a"), ";", tail, "=6,6000000"),
                absl::StrCat("thread=known_tree_fp|", Ln("b"), ";", tail, "=3,3000000"),
                absl::StrCat("thread=known_tree_fp|", Ln("c"), ";", tail, "=1,1000000"),
                absl::StrCat("thread=known_tree_fp|ext4_sync_fs;do_syscall_64;"
                             "entry_SYSCALL_64;",
                             Ln("c"), ";", tail, "=2,2000000"),
                absl::StrCat("thread=known_tree_fp|libfoo.so+0x1a2b;[unknown];", Ln("main"),
                             "=4,4000000"),
            }));
  PprofOptions no_lines;
  no_lines.lines = false;
  EXPECT_EQ(Pprof(no_lines).Samples()[0], "thread=known_tree_fp|a;work;main=6,6000000");

  // Mappings: known_tree_fp (id 1, build-id in hex), libfoo.so (id 2, no build-id), kernel.
  ASSERT_EQ(v.mappings.size(), 3u);
  const Msg& exe = *v.mappings.at(1);
  EXPECT_EQ(v.Str(exe.Get("filename")), workloads::KnownTreePath());
  EXPECT_EQ(v.Str(exe.Get("build_id")), absl::BytesToHexString(build_id_));
  EXPECT_EQ(build_id_.size(), 20u);
  EXPECT_EQ(exe.Get("has_functions"), "true");
  const Msg& lib = *v.mappings.at(2);
  EXPECT_EQ(v.Str(lib.Get("filename")), "/nonexistent/lib/libfoo.so");
  EXPECT_EQ(lib.Get("build_id"), "0");
  const Msg& kernel = *v.mappings.at(3);
  EXPECT_EQ(v.Str(kernel.Get("filename")), "[kernel.kallsyms]");
  EXPECT_EQ(kernel.Num("memory_start"), kKernelBase + 0x10);
  EXPECT_EQ(kernel.Num("memory_limit"), kKernelBase + 0x1005);

  // Locations carry their mapping and address (file offset for user frames).
  for (const auto& [id, loc] : v.locations) {
    const std::string name = v.LocationName(id);
    if (name == "a") {
      EXPECT_EQ(loc->Num("mapping_id"), 1u);
      EXPECT_EQ(loc->Num("address"), offsets_["a"]);
    } else if (name == "do_syscall_64") {
      EXPECT_EQ(loc->Num("mapping_id"), 3u);
      EXPECT_EQ(loc->Num("address"), kKernelBase + 0x120);
    } else if (name == "[unknown]") {
      EXPECT_EQ(loc->Num("mapping_id"), 0u);
      EXPECT_EQ(loc->Num("address"), 0x7f0000001000u);
    }
  }
  // One Location per distinct frame; one Function per distinct name.
  EXPECT_EQ(v.locations.size(), 10u);
  EXPECT_EQ(v.functions.size(), 10u);
  for (const auto& [id, fn] : v.functions) {
    EXPECT_EQ(fn->Get("name"), fn->Get("system_name"));
  }
}

// Samples carry numeric pid and tid labels (pprof -tagfocus / -tags); version-1 recordings,
// which do not know them, get none rather than zeros.
TEST_F(PprofTest, SamplesHavePidAndTidLabels) {
  rec_.meta.event = "cpu-clock";
  AddStack(0, {F("a"), F("main")}, 2);
  rec_.stacks.back().pid = 4000;
  rec_.stacks.back().tid = 4001;
  AddStack(0, {F("a"), F("main")}, 3);
  rec_.stacks.back().pid = 4000;
  rec_.stacks.back().tid = 4000;
  AddStack(0, {F("b"), F("main")}, 1);  // idle-like: pid 0, tid 0
  const View v = Pprof();
  EXPECT_EQ(v.Ids(),
            (std::vector<std::string>{"pid=4000 tid=4001", "pid=4000 tid=4000", "pid=0 tid=0"}));
  rec_.version = 1;
  EXPECT_EQ(Pprof().Ids(), (std::vector<std::string>{"pid=- tid=-", "pid=- tid=-", "pid=- tid=-"}));
}

TEST_F(PprofTest, NonClockEventsHaveOnlySampleCounts) {
  rec_.meta.event = "page-faults";
  rec_.meta.sample_period = 1;
  AddStack(0, {F("main")}, 5);
  const View v = Pprof();
  ASSERT_EQ(v.msg.Subs("sample_type").size(), 1u);
  EXPECT_EQ(v.Samples(), std::vector<std::string>{"thread=known_tree_fp|" + Ln("main") + "=5"});
  const std::vector<const Msg*> period_type = v.msg.Subs("period_type");
  ASSERT_EQ(period_type.size(), 1u);
  EXPECT_EQ(v.Str(period_type[0]->Get("type")), "page-faults");
  EXPECT_EQ(v.msg.Num("period"), 1u);
}

TEST_F(PprofTest, InlinedFunctionsAreLinesOfOneLocationInnermostFirst) {
  const auto [outer, main_offset] = AddInlineBinary();
  AddStack(0, {User(2, outer), User(2, main_offset)}, 9);
  const SymbolizedAddress& s = sym_.SymbolizeFile("", workloads::KnownTreeInlinePath(), outer);
  ASSERT_EQ(s.inlined.size(), 1u);
  const uint32_t burn_line = s.inlined[0].line;
  EXPECT_NE(burn_line, 0u);

  View v = Pprof();
  // outer's Line is the call site of burn (s.line); main's its own row.
  EXPECT_NE(s.line, 0u);
  const uint32_t main_line =
      sym_.SymbolizeFile("", workloads::KnownTreeInlinePath(), main_offset).line;
  EXPECT_NE(main_line, 0u);
  EXPECT_EQ(v.Samples(),
            std::vector<std::string>{absl::StrCat("thread=known_tree_fp|burn:", burn_line,
                                                  "+outer:", s.line, ";main:", main_line, "=9")});
  EXPECT_EQ(v.mappings.at(3)->Get("has_inline_frames"), "true");
  EXPECT_EQ(v.mappings.at(3)->Get("has_line_numbers"), "true");
  for (const auto& [id, fn] : v.functions) {
    if (v.Str(fn->Get("name")) == "burn") {
      EXPECT_NE(v.Str(fn->Get("filename")).find("known_tree_inline.c"), std::string::npos);
    }
  }

  PprofOptions flat;
  flat.lines = false;
  v = Pprof(flat, /*inlined=*/false);
  EXPECT_EQ(v.Samples(), std::vector<std::string>{"thread=known_tree_fp|outer;main=9"});
}

TEST_F(PprofTest, GzipRoundTripsAndFileIsWritten) {
  AddKnownTree();
  const std::string raw = EncodePprofProfile(Prof());
  absl::StatusOr<std::string> gz = GzipCompress(raw);
  WICK_ASSERT_OK(gz.status());
  ASSERT_GE(gz->size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>((*gz)[0]), 0x1f);  // gzip magic
  EXPECT_EQ(static_cast<unsigned char>((*gz)[1]), 0x8b);
  EXPECT_EQ(Gunzip(*gz), raw);

  const std::string path = TempPath("out.pb.gz");
  WICK_ASSERT_OK(WritePprofFile(Prof(), path));
  std::ifstream f(path, std::ios::binary);
  std::stringstream contents;
  contents << f.rdbuf();
  EXPECT_EQ(Gunzip(contents.str()), raw);
  std::remove(path.c_str());

  absl::Status bad = WritePprofFile(Prof(), "/nonexistent-dir/x.pb.gz");
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(std::string(bad.message()).find("/nonexistent-dir/x.pb.gz"), std::string::npos);
}

// A wall profile has one sample type per value, wall the default (go tool pprof
// -sample_index=cpu / off-cpu picks the others); an off-CPU reason frame is a Location of its
// own without an address.
TEST_F(PprofTest, WallProfileHasOneSampleTypePerValue) {
  rec_.version = 3;
  rec_.meta.sample_freq = 1000;
  for (const char* name : {"cpu-clock", "off-cpu", "page-faults"}) {
    rec_.event_types.push_back({static_cast<uint32_t>(rec_.event_types.size()), name, ""});
  }
  AddStack(0, {F("a"), F("main")}, 2);
  rec_.stacks.back().weight = 2'000'000;
  AddStack(0, {Frame{1, 0, FrameKind::kOffCpu}, F("b"), F("main")}, 3);
  rec_.stacks.back().event = 1;
  rec_.stacks.back().weight = 7'000'000;
  AddStack(0, {F("c"), F("main")}, 9);  // page faults: not in the wall
  rec_.stacks.back().event = 2;
  rec_.stacks.back().weight = 9;
  PprofOptions no_lines;
  no_lines.lines = false;
  const View v = Pprof(no_lines);
  const std::vector<const Msg*> types = v.msg.Subs("sample_type");
  ASSERT_EQ(types.size(), 4u);
  const std::vector<std::pair<std::string, std::string>> expected = {{"samples", "count"},
                                                                     {"wall", "nanoseconds"},
                                                                     {"cpu", "nanoseconds"},
                                                                     {"off-cpu", "nanoseconds"}};
  for (size_t i = 0; i < types.size(); ++i) {
    EXPECT_EQ(v.Str(types[i]->Get("type")), expected[i].first);
    EXPECT_EQ(v.Str(types[i]->Get("unit")), expected[i].second);
  }
  EXPECT_EQ(v.Str(v.msg.Get("default_sample_type")), "wall");
  EXPECT_EQ(v.Samples(), (std::vector<std::string>{
                             "thread=known_tree_fp|a;main=2,2000000,2000000,0",
                             "thread=known_tree_fp|[off-cpu: sleep];b;main=0,7000000,0,7000000",
                         }));
  const std::vector<const Msg*> period_type = v.msg.Subs("period_type");
  ASSERT_EQ(period_type.size(), 1u);
  EXPECT_EQ(v.Str(period_type[0]->Get("type")), "wall");
  EXPECT_EQ(v.msg.Num("period"), 1000000u);
  for (const auto& [id, loc] : v.locations) {
    if (v.LocationName(id) == "[off-cpu: sleep]") {
      EXPECT_EQ(loc->Num("address"), 0u);
      EXPECT_EQ(loc->Num("mapping_id"), 0u);
    }
  }

  // The cpu-clock profile of the same recording: samples and cpu, CPU time the default;
  // page-faults: samples (the default) and faults.
  View clock;
  clock.msg = Decode(EncodePprofProfile(ProfileOf(rec_, true, "cpu-clock"), no_lines));
  clock.strings = clock.msg.All("string_table");
  ASSERT_EQ(clock.msg.Subs("sample_type").size(), 2u);
  EXPECT_EQ(clock.Str(clock.msg.Get("default_sample_type")), "cpu");
  View faults;
  faults.msg = Decode(EncodePprofProfile(ProfileOf(rec_, true, "page-faults"), no_lines));
  faults.strings = faults.msg.All("string_table");
  const std::vector<const Msg*> fault_types = faults.msg.Subs("sample_type");
  ASSERT_EQ(fault_types.size(), 2u);
  EXPECT_EQ(faults.Str(fault_types[1]->Get("type")), "page-faults");
  EXPECT_EQ(faults.Str(faults.msg.Get("default_sample_type")), "samples");
}

TEST_F(PprofTest, EmptyRecordingIsAValidProfile) {
  const View v = Pprof();
  EXPECT_EQ(v.strings.size() >= 1 ? v.strings[0] : "missing", "");
  EXPECT_TRUE(v.msg.Subs("sample").empty());
  EXPECT_EQ(v.msg.Subs("sample_type").size(), 1u);
}

}  // namespace
}  // namespace wick
