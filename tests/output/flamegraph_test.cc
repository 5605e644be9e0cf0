// The HTML flame graph's embedded data, parsed back from the page: the merged tree, counts,
// frame kinds, escaping; and the page is self-contained (no network references).
#include "wick/flamegraph.h"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "output_fixture.h"
#include "testing/testing.h"
#include "wick/status.h"

namespace wick {
namespace {

// A minimal JSON reader for what the writer emits: arrays, objects, strings, integers.
struct Json {
  enum Type { kNumber, kString, kArray, kObject } type = kNumber;
  uint64_t number = 0;
  std::string string;
  std::vector<Json> items;
  std::map<std::string, Json> members;
};

class JsonParser {
 public:
  explicit JsonParser(std::string_view text) : s_(text) {}
  bool Parse(Json* out) { return Value(out) && pos_ == s_.size(); }

 private:
  bool Value(Json* out) {
    if (pos_ >= s_.size()) return false;
    const char c = s_[pos_];
    if (c == '[') {
      out->type = Json::kArray;
      ++pos_;
      if (Peek(']')) return ++pos_, true;
      do {
        out->items.emplace_back();
        if (!Value(&out->items.back())) return false;
      } while (Eat(','));
      return Eat(']');
    }
    if (c == '{') {
      out->type = Json::kObject;
      ++pos_;
      if (Peek('}')) return ++pos_, true;
      do {
        Json key;
        if (!String(&key.string) || !Eat(':')) return false;
        if (!Value(&out->members[key.string])) return false;
      } while (Eat(','));
      return Eat('}');
    }
    if (c == '"') {
      out->type = Json::kString;
      return String(&out->string);
    }
    size_t end = pos_;
    while (end < s_.size() && s_[end] >= '0' && s_[end] <= '9') ++end;
    if (end == pos_ || !absl::SimpleAtoi(Sv(s_.substr(pos_, end - pos_)), &out->number))
      return false;
    pos_ = end;
    return true;
  }
  bool String(std::string* out) {
    if (!Eat('"')) return false;
    while (pos_ < s_.size() && s_[pos_] != '"') {
      char c = s_[pos_++];
      if (c != '\\') {
        if (static_cast<unsigned char>(c) < 0x20) return false;  // raw control character
        out->push_back(c);
        continue;
      }
      if (pos_ >= s_.size()) return false;
      c = s_[pos_++];
      if (c == 'u') {
        uint32_t cp = 0;
        if (pos_ + 4 > s_.size() || !absl::SimpleHexAtoi(Sv(s_.substr(pos_, 4)), &cp)) return false;
        pos_ += 4;
        if (cp < 0x80) {
          out->push_back(static_cast<char>(cp));
        } else {
          out->append(absl::StrCat("<U+", absl::Hex(cp), ">"));
        }
      } else {
        out->push_back(c == 'n' ? '\n' : c);
      }
    }
    return Eat('"');
  }
  bool Peek(char c) const { return pos_ < s_.size() && s_[pos_] == c; }
  bool Eat(char c) {
    if (!Peek(c)) return false;
    ++pos_;
    return true;
  }

  std::string_view s_;
  size_t pos_ = 0;
};

class FlameGraphTest : public OutputTest {
 protected:
  // Parses the page's embedded data; flattens the tree to "all;comm;...;frame" -> total.
  void Load(const FlameGraphOptions& opts = {}, bool inlined = true) {
    std::ostringstream out;
    WICK_ASSERT_OK(WriteFlameGraph(Prof(inlined), out, opts));
    html_ = out.str();
    const std::string open = "<script id=\"wick-data\" type=\"application/json\">";
    const size_t begin = html_.find(open);
    ASSERT_NE(begin, std::string::npos);
    const size_t end = html_.find("</script>", begin);
    ASSERT_NE(end, std::string::npos);
    const std::string data = html_.substr(begin + open.size(), end - begin - open.size());
    EXPECT_EQ(data, FlameGraphJson(Prof(inlined), opts));
    json_ = Json();
    ASSERT_TRUE(JsonParser(data).Parse(&json_)) << data;
    ASSERT_EQ(json_.type, Json::kObject);
    names_.clear();
    kinds_.clear();
    for (const Json& n : json_.members["names"].items) names_.push_back(n.string);
    for (const Json& k : json_.members["kinds"].items) kinds_.push_back(static_cast<int>(k.number));
    ASSERT_EQ(names_.size(), kinds_.size());
    paths_.clear();
    Walk(json_.members["tree"], "");
  }

  void Walk(const Json& node, const std::string& prefix) {
    ASSERT_EQ(node.type, Json::kArray);
    ASSERT_EQ(node.items.size(), 3u);
    ASSERT_LT(node.items[0].number, names_.size());
    const std::string path =
        prefix.empty() ? names_[node.items[0].number] : prefix + ";" + names_[node.items[0].number];
    paths_[path] += node.items[1].number;
    uint64_t children = 0;
    std::string previous;
    for (const Json& child : node.items[2].items) {
      children += child.items[1].number;
      const std::string& name = names_[child.items[0].number];
      EXPECT_LE(previous, name) << "children sorted by name under " << path;
      previous = name;
      Walk(child, path);
    }
    EXPECT_LE(children, node.items[1].number) << path;
  }

  int KindOf(const std::string& name) const {
    for (size_t i = 0; i < names_.size(); ++i) {
      if (names_[i] == name) return kinds_[i];
    }
    return -1;
  }

  std::string html_;
  Json json_;
  std::vector<std::string> names_;
  std::vector<int> kinds_;
  std::map<std::string, uint64_t> paths_;
};

TEST_F(FlameGraphTest, KnownTreeMergedWithExactCounts) {
  AddKnownTree();
  AddStack(0, {F("a", 5), F("work", 1), F("main")}, 4);  // other offsets, same functions
  AddStack(0, {User(1, 0x1a2b), Raw(0x7f0000001000), F("main")}, 1);
  Load();
  const std::string k = "all;known_tree_fp;main;work;c;";
  EXPECT_EQ(paths_, (std::map<std::string, uint64_t>{
                        {"all", 17},
                        {"all;known_tree_fp", 17},
                        {"all;known_tree_fp;main", 17},
                        {"all;known_tree_fp;main;[unknown]", 1},
                        {"all;known_tree_fp;main;[unknown];libfoo.so+0x1a2b", 1},
                        {"all;known_tree_fp;main;work", 16},
                        {"all;known_tree_fp;main;work;a", 10},
                        {"all;known_tree_fp;main;work;b", 3},
                        {"all;known_tree_fp;main;work;c", 3},
                        {k + "entry_SYSCALL_64", 2},
                        {k + "entry_SYSCALL_64;do_syscall_64", 2},
                        {k + "entry_SYSCALL_64;do_syscall_64;ext4_sync_fs", 2},
                    }));
  EXPECT_EQ(KindOf("all"), static_cast<int>(FlameKind::kRoot));
  EXPECT_EQ(KindOf("known_tree_fp"), static_cast<int>(FlameKind::kComm));
  EXPECT_EQ(KindOf("work"), static_cast<int>(FlameKind::kUser));
  EXPECT_EQ(KindOf("do_syscall_64"), static_cast<int>(FlameKind::kKernel));
  EXPECT_EQ(KindOf("[unknown]"), static_cast<int>(FlameKind::kUnknown));
  EXPECT_EQ(KindOf("libfoo.so+0x1a2b"), static_cast<int>(FlameKind::kUnknown));
  // Self-contained: no external scripts, styles or fetches.
  EXPECT_EQ(html_.find("http://"), std::string::npos);
  EXPECT_EQ(html_.find("https://"), std::string::npos);
  EXPECT_EQ(html_.find("<script src"), std::string::npos);
  EXPECT_EQ(html_.find("<link"), std::string::npos);
}

TEST_F(FlameGraphTest, InlinedFramesAreTheirOwnKind) {
  const auto [outer, main_offset] = AddInlineBinary();
  AddStack(0, {User(2, outer), User(2, main_offset)}, 9);
  Load();
  EXPECT_EQ(paths_["all;known_tree_fp;main;outer;burn"], 9u);
  EXPECT_EQ(KindOf("burn"), static_cast<int>(FlameKind::kInlined));
  EXPECT_EQ(KindOf("outer"), static_cast<int>(FlameKind::kUser));

  FlameGraphOptions opts;
  opts.lines = true;
  Load(opts);
  const uint32_t line =
      sym_.SymbolizeFile("", workloads::KnownTreeInlinePath(), outer).inlined[0].line;
  const uint32_t main_line =
      sym_.SymbolizeFile("", workloads::KnownTreeInlinePath(), main_offset).line;
  const uint32_t call_line = sym_.SymbolizeFile("", workloads::KnownTreeInlinePath(), outer).line;
  EXPECT_NE(call_line, 0u);
  EXPECT_EQ(paths_[absl::StrCat("all;known_tree_fp;main (known_tree_inline.c:", main_line,
                                ");outer (known_tree_inline.c:", call_line,
                                ");burn (known_tree_inline.c:", line, ")")],
            9u);

  opts.lines = false;
  Load(opts, /*inlined=*/false);
  EXPECT_EQ(paths_.count("all;known_tree_fp;main;outer;burn"), 0u);
  EXPECT_EQ(paths_["all;known_tree_fp;main;outer"], 9u);
}

TEST_F(FlameGraphTest, NamesCannotBreakOutOfTheScriptElement) {
  rec_.comms.push_back({1, "</script><b>x&y\"\n\x01"});
  AddStack(1, {F("main")}, 2);
  FlameGraphOptions opts;
  opts.title = "a <b> & c";
  Load(opts);
  EXPECT_EQ(paths_["all;</script><b>x&y\"\n\x01;main"], 2u);
  EXPECT_NE(html_.find("<title>a &lt;b&gt; &amp; c</title>"), std::string::npos);
  // Exactly the two script elements of the page end.
  size_t ends = 0;
  for (size_t p = html_.find("</script>"); p != std::string::npos;
       p = html_.find("</script>", p + 1)) {
    ++ends;
  }
  EXPECT_EQ(ends, 2u);
}

TEST_F(FlameGraphTest, ManyDistinctStacks) {
  // 100k distinct stacks (offsets inside a, b, c, work): still one small tree.
  for (uint64_t i = 0; i < 100000; ++i) {
    const char* leaf = i % 3 == 0 ? "a" : i % 3 == 1 ? "b" : "c";
    AddStack(0, {F(leaf, i % 7), F("work", i % 5), F("main", i % 2)}, 1 + i % 2);
  }
  Load();
  EXPECT_EQ(paths_["all"], 150000u);
  EXPECT_EQ(paths_["all;known_tree_fp;main;work;a"], 50001u);  // i % 3 == 0: 33334 stacks
  EXPECT_EQ(paths_.size(), 7u);
}

// --minwidth's forms: pixels ("2", "0.5px") or a percentage of the drawn width ("0.1%").
TEST(FlameMinWidthTest, PixelsOrPercent) {
  struct Case {
    const char* text;
    double value;
    bool percent;
  };
  for (const Case& c : {Case{"1", 1, false}, Case{"0", 0, false}, Case{"0.5px", 0.5, false},
                        Case{"2.5", 2.5, false}, Case{"0.1%", 0.1, true}, Case{"100%", 100, true},
                        Case{"0%", 0, true}}) {
    absl::StatusOr<FlameMinWidth> w = ParseFlameMinWidth(c.text);
    ASSERT_TRUE(w.ok()) << c.text << ": " << w.status();
    EXPECT_EQ(w->value, c.value) << c.text;
    EXPECT_EQ(w->percent, c.percent) << c.text;
  }
  for (const char* bad : {"", "%", "px", "-1", "101%", "abc", "1pt", "nan", "inf", "1%%"}) {
    absl::StatusOr<FlameMinWidth> w = ParseFlameMinWidth(bad);
    ASSERT_FALSE(w.ok()) << bad;
    EXPECT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(w.status().message().find(absl::StrCat("'", bad, "'")), std::string::npos)
        << w.status();
    EXPECT_NE(w.status().message().find("0.1%"), std::string::npos) << w.status();
  }
}

// The minimum width is the page's, not the data's: every frame stays in the embedded tree
// (zoom and search need them), the page script gets the setting, and a bad one is an error.
TEST_F(FlameGraphTest, MinWidthGoesToThePageNotTheData) {
  AddKnownTree();
  AddStack(0, {F("b"), F("work"), F("main")}, 100000);  // a: 6 of 100012 samples
  FlameGraphOptions opts;
  Load(opts);
  EXPECT_EQ(paths_["all;known_tree_fp;main;work;a"], 6u);
  EXPECT_NE(html_.find("const MINW={\"value\":1,\"percent\":false};"), std::string::npos);
  opts.min_width = {0.25, true};
  Load(opts);
  EXPECT_EQ(paths_["all;known_tree_fp;main;work;a"], 6u);
  EXPECT_NE(html_.find("const MINW={\"value\":0.25,\"percent\":true};"), std::string::npos);
  EXPECT_EQ(html_.find("@MINWIDTH@"), std::string::npos);
  for (const FlameMinWidth bad :
       {FlameMinWidth{-1, false}, FlameMinWidth{101, true}, FlameMinWidth{std::nan(""), false}}) {
    opts.min_width = bad;
    std::ostringstream out;
    const absl::Status s = WriteFlameGraph(Prof(), out, opts);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_NE(s.message().find("minimum width"), std::string::npos) << s;
    EXPECT_EQ(out.str(), "") << "nothing written";
  }
}

TEST_F(FlameGraphTest, EmptyRecordingIsAnEmptyTree) {
  Load();
  EXPECT_EQ(paths_, (std::map<std::string, uint64_t>{{"all", 0}}));
}

// wick diff: frames sized by the new profile, each node carrying its base count; paths only
// the base has are there with no width, so their loss still shows in the tooltip data.
TEST_F(FlameGraphTest, DifferentialTreeCarriesBaseCounts) {
  AddKnownTree();  // base: a 6, b 3, c 1 + 2 (kernel) = 12
  const Recording base = rec_;
  rec_.stacks[0].count = 4;   // a
  rec_.stacks[1].count = 16;  // b
  rec_.stacks[2].count = 0;   // c (leaf) gone
  rec_.stacks[3].count = 4;   // c -> kernel
  FlameGraphOptions opts;
  opts.include_comm = false;
  opts.title = "wick diff: base -> new";
  std::ostringstream page;
  WICK_ASSERT_OK(WriteDiffFlameGraph(ProfileOf(base), Prof(), page, opts));
  const std::string data = DiffFlameGraphJson(ProfileOf(base), Prof(), opts);
  EXPECT_NE(page.str().find(data), std::string::npos);
  EXPECT_NE(page.str().find("<title>wick diff: base -&gt; new</title>"), std::string::npos);
  EXPECT_NE(page.str().find("function diffColor"), std::string::npos);

  Json doc;
  ASSERT_TRUE(JsonParser(data).Parse(&doc)) << data;
  EXPECT_EQ(doc.members["diff"].members["base_total"].number, 12u);
  std::vector<std::string> names;
  for (const Json& n : doc.members["names"].items) names.push_back(n.string);
  // path -> (new, base)
  std::map<std::string, std::pair<uint64_t, uint64_t>> counts;
  std::function<void(const Json&, const std::string&)> walk = [&](const Json& node,
                                                                  const std::string& prefix) {
    ASSERT_EQ(node.items.size(), 4u);
    const std::string path = prefix + (prefix.empty() ? "" : ";") + names[node.items[0].number];
    counts[path] = {node.items[1].number, node.items[3].number};
    for (const Json& child : node.items[2].items) walk(child, path);
  };
  walk(doc.members["tree"], "");
  EXPECT_EQ(counts["all"], std::make_pair(uint64_t{24}, uint64_t{12}));
  EXPECT_EQ(counts["all;main;work"], std::make_pair(uint64_t{24}, uint64_t{12}));
  EXPECT_EQ(counts["all;main;work;a"], std::make_pair(uint64_t{4}, uint64_t{6}));
  EXPECT_EQ(counts["all;main;work;b"], std::make_pair(uint64_t{16}, uint64_t{3}));
  EXPECT_EQ(counts["all;main;work;c"], std::make_pair(uint64_t{4}, uint64_t{3}));
  EXPECT_EQ(counts["all;main;work;c;entry_SYSCALL_64"], std::make_pair(uint64_t{4}, uint64_t{2}));
  EXPECT_EQ(counts.size(), 9u);  // all, main, work, a, b, c and three kernel frames below c
  EXPECT_EQ(counts.count("all;known_tree_fp"), 0u) << "no comm roots";

  // Base-only paths: new count 0.
  AddStack(0, {F("a", 1), F("main")}, 0);
  Recording base2 = base;
  base2.stacks.push_back(rec_.stacks.back());
  base2.stacks.back().count = 5;
  EXPECT_NE(DiffFlameGraphJson(ProfileOf(base2), Prof(), opts).find(",[],5]"), std::string::npos);
  // A plain graph has no base counts.
  EXPECT_EQ(FlameGraphJson(Prof(), opts).find("\"diff\""), std::string::npos);
}

}  // namespace
}  // namespace wick
