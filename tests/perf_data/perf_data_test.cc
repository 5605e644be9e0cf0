// PerfDataReader on perf.data files built byte by byte here: what perf's files hold in the
// cases a recording on this machine does not produce on demand (records out of order across
// rounds, several events told apart by id, a compressed stream that splits a record, the
// kernel's stray build-id bit, unknown types, damage), file and pipe mode.
#include "wick/perf_data.h"

#include <fcntl.h>
#include <unistd.h>
#include <zstd.h>

#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/testing.h"
#include "wick/scoped.h"

namespace wick {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Appends little-endian scalars and strings.
class Bytes {
 public:
  template <typename T>
  Bytes& Put(T v) {
    const char* p = reinterpret_cast<const char*>(&v);
    s_.append(p, sizeof(v));
    return *this;
  }
  Bytes& Append(std::string_view b) {
    s_.append(b);
    return *this;
  }
  // perf's do_write_string: u32 length (padded to 8 with NULs) + the bytes.
  Bytes& PerfString(std::string_view str) {
    const uint32_t len = (str.size() + 1 + 7) / 8 * 8;
    Put(len);
    s_.append(str);
    s_.append(len - str.size(), '\0');
    return *this;
  }
  Bytes& Pad8() {
    s_.append((8 - s_.size() % 8) % 8, '\0');
    return *this;
  }
  const std::string& str() const { return s_; }
  size_t size() const { return s_.size(); }

 private:
  std::string s_;
};

std::string Record(uint32_t type, uint16_t misc, const std::string& body) {
  Bytes b;
  b.Put(type).Put(misc).Put(static_cast<uint16_t>(8 + body.size())).Append(body);
  return b.str();
}

struct SampleIdFields {
  uint32_t pid = 0, tid = 0;
  uint64_t time = 0, id = 0, cpu = 0;
};

// Builds perf.data files: attrs, records, feature sections; file or pipe format.
class PerfDataBuilder {
 public:
  static perf_event_attr Attr(uint64_t sample_type, bool sample_id_all = true) {
    perf_event_attr a{};
    a.size = sizeof(a);
    a.type = PERF_TYPE_SOFTWARE;
    a.config = PERF_COUNT_SW_CPU_CLOCK;
    a.sample_type = sample_type;
    a.sample_id_all = sample_id_all;
    return a;
  }

  int AddAttr(const perf_event_attr& attr, std::vector<uint64_t> ids) {
    attrs_.push_back({attr, std::move(ids)});
    return attrs_.size() - 1;
  }

  // A SAMPLE of attr `a` with the fields its sample_type asks for.
  void Sample(int a, uint64_t time, uint64_t ip, uint32_t tid = 42, uint64_t id = 0,
              std::vector<uint64_t> callchain = {}) {
    const uint64_t st = attrs_[a].attr.sample_type;
    Bytes b;
    if (st & PERF_SAMPLE_IDENTIFIER) b.Put(id);
    if (st & PERF_SAMPLE_IP) b.Put(ip);
    if (st & PERF_SAMPLE_TID) b.Put(tid).Put(tid);
    if (st & PERF_SAMPLE_TIME) b.Put(time);
    if (st & PERF_SAMPLE_ID) b.Put(id);
    if (st & PERF_SAMPLE_CPU) b.Put(uint64_t{1});
    if (st & PERF_SAMPLE_PERIOD) b.Put(uint64_t{1000});
    if (st & PERF_SAMPLE_CALLCHAIN) {
      b.Put(uint64_t(callchain.size()));
      for (uint64_t ip : callchain) b.Put(ip);
    }
    Add(Record(PERF_RECORD_SAMPLE, PERF_RECORD_MISC_USER, b.str()));
  }

  // The sample_id trailer attr `a` gives non-SAMPLE records.
  std::string Trailer(int a, const SampleIdFields& f) const {
    const perf_event_attr& attr = attrs_[a].attr;
    Bytes b;
    if (!attr.sample_id_all) return "";
    const uint64_t st = attr.sample_type;
    if (st & PERF_SAMPLE_TID) b.Put(f.pid).Put(f.tid);
    if (st & PERF_SAMPLE_TIME) b.Put(f.time);
    if (st & PERF_SAMPLE_ID) b.Put(f.id);
    if (st & PERF_SAMPLE_CPU) b.Put(f.cpu);
    if (st & PERF_SAMPLE_IDENTIFIER) b.Put(f.id);
    return b.str();
  }

  void Comm(int a, uint32_t pid, std::string_view name, const SampleIdFields& f) {
    Bytes b;
    b.Put(pid).Put(pid).Append(name).Append(std::string(1, '\0')).Pad8().Append(Trailer(a, f));
    Add(Record(PERF_RECORD_COMM, 0, b.str()));
  }

  // MMAP2 with maj/min/ino, the misc bits given.
  void Mmap2(int a, uint32_t pid, uint64_t addr, std::string_view file, uint16_t misc,
             const SampleIdFields& f) {
    Bytes b;
    b.Put(pid).Put(pid).Put(addr).Put(uint64_t{0x1000}).Put(uint64_t{0});
    b.Put(uint32_t{0xfe}).Put(uint32_t{1}).Put(uint64_t{4242}).Put(uint64_t{7});
    b.Put(uint32_t{5}).Put(uint32_t{2});
    b.Append(file).Append(std::string(1, '\0')).Pad8().Append(Trailer(a, f));
    Add(Record(PERF_RECORD_MMAP2, misc, b.str()));
  }

  void FinishedRound() { Add(Record(kPerfRecordFinishedRound, 0, "")); }
  void Add(const std::string& record) { data_.Append(record); }
  void Feature(uint32_t feature, std::string bytes) { features_.push_back({feature, bytes}); }

  std::string File(uint64_t data_pad = 0) const {
    const uint64_t attr_entry = sizeof(perf_event_attr) + 16;
    Bytes ids;
    std::vector<std::pair<uint64_t, uint64_t>> id_sections;
    uint64_t at = 104;
    for (const AttrIds& a : attrs_) {
      id_sections.emplace_back(at, 8 * a.ids.size());
      for (uint64_t id : a.ids) ids.Put(id);
      at += 8 * a.ids.size();
    }
    const uint64_t attrs_offset = at;
    const uint64_t data_offset = attrs_offset + attrs_.size() * attr_entry + data_pad;
    const uint64_t data_size = data_.size();
    uint64_t features[4] = {0, 0, 0, 0};
    for (const auto& [f, bytes] : features_) features[f / 64] |= uint64_t{1} << (f % 64);
    Bytes out;
    out.Put(kPerfFileMagic).Put(uint64_t{104}).Put(attr_entry);
    out.Put(attrs_offset).Put(uint64_t(attrs_.size() * attr_entry));
    out.Put(data_offset).Put(data_size).Put(uint64_t{0}).Put(uint64_t{0});
    for (uint64_t w : features) out.Put(w);
    out.Append(ids.str());
    for (size_t i = 0; i < attrs_.size(); ++i) {
      out.Put(attrs_[i].attr).Put(id_sections[i].first).Put(id_sections[i].second);
    }
    out.Append(std::string(data_pad, '\0')).Append(data_.str());
    // The feature table, then each feature's bytes, in bit order.
    std::vector<std::pair<uint32_t, std::string>> sorted = features_;
    std::sort(sorted.begin(), sorted.end());
    uint64_t next = out.size() + 16 * sorted.size();
    for (const auto& [f, bytes] : sorted) {
      out.Put(next).Put(uint64_t(bytes.size()));
      next += bytes.size();
    }
    for (const auto& [f, bytes] : sorted) out.Append(bytes);
    return out.str();
  }

  // Pipe format: the header, HEADER_ATTR and HEADER_FEATURE records, then the data.
  std::string Pipe() const {
    Bytes out;
    out.Put(kPerfFileMagic).Put(uint64_t{16});
    for (const AttrIds& a : attrs_) {
      Bytes b;
      b.Put(a.attr);
      for (uint64_t id : a.ids) b.Put(id);
      out.Append(Record(kPerfRecordHeaderAttr, 0, b.str()));
    }
    for (const auto& [f, bytes] : features_) {
      Bytes b;
      b.Put(uint64_t{f}).Append(bytes).Pad8();
      out.Append(Record(kPerfRecordHeaderFeature, 0, b.str()));
    }
    out.Append(data_.str());
    return out.str();
  }

 private:
  struct AttrIds {
    perf_event_attr attr;
    std::vector<uint64_t> ids;
  };
  std::vector<AttrIds> attrs_;
  Bytes data_;
  std::vector<std::pair<uint32_t, std::string>> features_;
};

std::span<const std::byte> Span(const std::string& s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

// What a reader yields: "S<attr>@time:ip" for samples, "C@time:comm", "M@time:file",
// "<type>@time" for the rest.
std::vector<std::string> ReadAll(PerfDataReader& reader) {
  std::vector<std::string> out;
  while (true) {
    absl::StatusOr<const PerfDataRecord*> rec = reader.Next();
    EXPECT_TRUE(rec.ok()) << rec.status();
    if (!rec.ok() || *rec == nullptr) break;
    const PerfDataRecord& r = **rec;
    switch (r.parsed.type) {
      case PERF_RECORD_SAMPLE:
        out.push_back(absl::StrCat("S", r.attr, "@", r.time, ":", r.parsed.sample.ip));
        break;
      case PERF_RECORD_COMM:
        out.push_back(absl::StrCat("C", r.attr, "@", r.time, ":", std::string(r.parsed.comm.comm)));
        break;
      case PERF_RECORD_MMAP2:
        out.push_back(
            absl::StrCat("M", r.attr, "@", r.time, ":", std::string(r.parsed.mmap.filename)));
        break;
      default:
        out.push_back(absl::StrCat(r.parsed.type, "@", r.time));
    }
  }
  return out;
}

// The reader borrows `bytes`: they must outlive it (a temporary would not).
absl::StatusOr<PerfDataReader> Open(const std::string& bytes) {
  return PerfDataReader::OpenBuffer(Span(bytes), "test.data");
}
absl::StatusOr<PerfDataReader> Open(std::string&& bytes) = delete;

constexpr uint64_t kBasic = PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME;

// perf's ordered_events: at each FINISHED_ROUND, what is not later than the newest time seen
// at the previous one; ties in arrival order; a record older than what was flushed comes out
// at the next flush, counted.
TEST(PerfDataTest, RoundsFlushAsPerfDoes) {
  PerfDataBuilder b;
  b.AddAttr(PerfDataBuilder::Attr(kBasic), {});
  for (uint64_t t : {10, 30, 20}) b.Sample(0, t, t);
  b.FinishedRound();  // flushes nothing (no earlier round); remembers 30
  for (uint64_t t : {25, 40, 15}) b.Sample(0, t, t);
  b.Sample(0, 20, 21);                                // same time as an earlier one: after it
  b.FinishedRound();                                  // flushes <= 30; remembers 40
  for (uint64_t t : {35, 50, 12}) b.Sample(0, t, t);  // 12: already flushed past
  for (const std::string& bytes : {b.File(), b.Pipe()}) {
    WICK_ASSERT_OK_AND_ASSIGN(PerfDataReader reader, Open(bytes));
    EXPECT_THAT(ReadAll(reader),
                ElementsAre("S0@10:10", "S0@15:15", "S0@20:20", "S0@20:21", "S0@25:25", "S0@30:30",
                            "S0@12:12", "S0@35:35", "S0@40:40", "S0@50:50"));
    EXPECT_EQ(reader.stats().records_out_of_order, 1u);
    EXPECT_EQ(reader.stats().samples, 10u);
    EXPECT_TRUE(reader.stats().complete);
  }
}

// Records without a time (perf's synthesized ones) go out as they are read.
TEST(PerfDataTest, UntimedRecordsComeOutAtOnce) {
  PerfDataBuilder b;
  b.AddAttr(PerfDataBuilder::Attr(kBasic), {});
  b.Sample(0, 100, 1);
  b.Comm(0, 7, "synthesized", {7, 7, 0});
  b.Comm(0, 7, "later", {7, 7, 50});
  const std::string bytes = b.File();
  WICK_ASSERT_OK_AND_ASSIGN(PerfDataReader reader, Open(bytes));
  EXPECT_THAT(ReadAll(reader), ElementsAre("C0@0:synthesized", "C0@50:later", "S0@100:1"));
}

// Several events: PERF_SAMPLE_IDENTIFIER first in samples and last in trailers.
TEST(PerfDataTest, SeveralEventsByIdentifier) {
  PerfDataBuilder b;
  const uint64_t st = PERF_SAMPLE_IDENTIFIER | kBasic | PERF_SAMPLE_CPU;
  b.AddAttr(PerfDataBuilder::Attr(st), {11, 12});
  b.AddAttr(PerfDataBuilder::Attr(st), {21});
  b.Sample(0, 5, 100, 1, 12);
  b.Sample(1, 6, 200, 1, 21);
  b.Sample(1, 7, 300, 1, 99);  // no event has id 99
  b.Sample(1, 8, 400, 1, 0);   // id 0: perf files it under the first event
  b.Comm(1, 3, "by-id", {3, 3, 4, 21});
  b.Comm(0, 3, "unknown", {3, 3, 9, 98});
  const std::string bytes = b.File();
  WICK_ASSERT_OK_AND_ASSIGN(PerfDataReader reader, Open(bytes));
  EXPECT_EQ(reader.AttrForId(21), 1);
  EXPECT_EQ(reader.AttrForId(99), -1);
  EXPECT_THAT(ReadAll(reader), ElementsAre("C1@4:by-id", "S0@5:100", "S1@6:200", "S0@8:400"));
  EXPECT_EQ(reader.stats().samples_unknown_attr, 1u);
  EXPECT_EQ(reader.stats().records_unknown_attr, 1u);
}

// PERF_SAMPLE_ID without IDENTIFIER: at its place after IP, TID and TIME; in trailers, after
// TID and TIME (counted from the end: before CPU).
TEST(PerfDataTest, SeveralEventsBySampleId) {
  PerfDataBuilder b;
  const uint64_t st = kBasic | PERF_SAMPLE_ID | PERF_SAMPLE_CPU | PERF_SAMPLE_PERIOD;
  b.AddAttr(PerfDataBuilder::Attr(st), {1});
  b.AddAttr(PerfDataBuilder::Attr(st), {2});
  b.Sample(1, 5, 100, 1, 2);
  b.Sample(0, 6, 200, 1, 1);
  b.Comm(1, 3, "two", {3, 3, 7, 2});
  const std::string bytes = b.Pipe();
  WICK_ASSERT_OK_AND_ASSIGN(PerfDataReader reader, Open(bytes));
  EXPECT_THAT(ReadAll(reader), ElementsAre("S1@5:100", "S0@6:200", "C1@7:two"));
}

TEST(PerfDataTest, EventsThatDisagreeOnTheIdAreRefused) {
  PerfDataBuilder b;
  b.AddAttr(PerfDataBuilder::Attr(kBasic | PERF_SAMPLE_ID), {1});
  b.AddAttr(PerfDataBuilder::Attr(PERF_SAMPLE_IP | PERF_SAMPLE_ID), {2});
  for (const std::string& bytes : {b.File(), b.Pipe()}) {
    absl::StatusOr<PerfDataReader> reader = Open(bytes);
    ASSERT_FALSE(reader.ok());
    EXPECT_THAT(std::string(reader.status().message()),
                HasSubstr("do not all carry the sample id at the same place"));
  }
}

TEST(PerfDataTest, SkippedAndUndecodableAreCounted) {
  PerfDataBuilder b;
  b.AddAttr(PerfDataBuilder::Attr(kBasic | PERF_SAMPLE_BRANCH_STACK), {});
  b.Sample(0, 5, 1);
  b.Add(Record(PERF_RECORD_KSYMBOL, 0, std::string(24, '\0')));
  b.Add(Record(PERF_RECORD_KSYMBOL, 0, std::string(24, '\0')));
  b.Add(Record(kPerfRecordThreadMap, 0, std::string(8, '\0')));
  b.Add(Record(200, 0, ""));
  b.Feature(13, "topology");            // CPU_TOPOLOGY: not read
  b.Feature(kPerfFeatEventDesc, "xx");  // too short to be one
  const std::string bytes = b.File();
  WICK_ASSERT_OK_AND_ASSIGN(PerfDataReader reader, Open(bytes));
  EXPECT_FALSE(reader.info().attrs[0].decodable.ok());
  EXPECT_THAT(ReadAll(reader), ElementsAre());
  const PerfDataStats& s = reader.stats();
  EXPECT_EQ(s.samples_undecodable, 1u);
  EXPECT_EQ(s.skipped_records.at(PERF_RECORD_KSYMBOL), 2u);
  EXPECT_EQ(s.skipped_records.at(kPerfRecordThreadMap), 1u);
  EXPECT_EQ(s.skipped_records.at(200), 1u);
  EXPECT_THAT(s.skipped_features, ElementsAre(13u));
  EXPECT_THAT(s.malformed_features, ElementsAre(uint32_t{kPerfFeatEventDesc}));
  EXPECT_THAT(DescribeSkipped(s),
              ElementsAre("skipped, not used by wick: 2 KSYMBOL records, 1 THREAD_MAP record, "
                          "1 type 200 record",
                          "1 samples skipped: their event's sample_type is not decodable",
                          "feature sections not used by wick: CPU_TOPOLOGY",
                          "feature section EVENT_DESC malformed, skipped"));
}

TEST(PerfDataTest, MalformedSampleIsCounted) {
  PerfDataBuilder b;
  b.AddAttr(PerfDataBuilder::Attr(kBasic | PERF_SAMPLE_CALLCHAIN), {});
  b.Sample(0, 5, 1, 42, 0, {7, 8});
  // A sample whose callchain claims more entries than it has.
  Bytes bad;
  bad.Put(uint64_t{2}).Put(uint32_t{1}).Put(uint32_t{1}).Put(uint64_t{6}).Put(uint64_t{1000});
  b.Add(Record(PERF_RECORD_SAMPLE, 0, bad.str()));
  const std::string bytes = b.File();
  WICK_ASSERT_OK_AND_ASSIGN(PerfDataReader reader, Open(bytes));
  EXPECT_THAT(ReadAll(reader), ElementsAre("S0@5:1"));
  EXPECT_EQ(reader.stats().samples_malformed, 1u);
}

// The header's features: what perf's files hold, as `perf report --header` reads them.
TEST(PerfDataTest, FeatureSections) {
  PerfDataBuilder b;
  b.AddAttr(PerfDataBuilder::Attr(kBasic | PERF_SAMPLE_ID), {5, 6});
  perf_event_attr tp = PerfDataBuilder::Attr(kBasic | PERF_SAMPLE_ID);
  tp.type = PERF_TYPE_TRACEPOINT;
  tp.config = 317;
  b.AddAttr(tp, {7});
  b.Sample(0, 5, 1, 42, 5);
  b.Feature(kPerfFeatHostname, Bytes().PerfString("vm").str());
  b.Feature(kPerfFeatArch, Bytes().PerfString("x86_64").str());
  b.Feature(kPerfFeatNrCpus, Bytes().Put(uint32_t{4}).Put(uint32_t{2}).str());
  b.Feature(kPerfFeatSampleTime, Bytes().Put(uint64_t{5}).Put(uint64_t{9}).str());
  b.Feature(kPerfFeatCmdline, Bytes()
                                  .Put(uint32_t{3})
                                  .PerfString("/usr/bin/perf")
                                  .PerfString("record")
                                  .PerfString("-g")
                                  .str());
  // EVENT_DESC names the first event only.
  Bytes desc;
  desc.Put(uint32_t{1}).Put(uint32_t{sizeof(perf_event_attr)}).Put(PerfDataBuilder::Attr(0));
  desc.Put(uint32_t{2}).PerfString("cpu-clock:ppp").Put(uint64_t{5}).Put(uint64_t{6});
  b.Feature(kPerfFeatEventDesc, desc.str());
  // BUILD_ID: one entry with PERF_RECORD_MISC_BUILD_ID_SIZE, one of perf before 5.11.
  Bytes ids;
  for (uint16_t misc :
       {uint16_t(PERF_RECORD_MISC_USER | (1 << 15)), uint16_t(PERF_RECORD_MISC_KERNEL)}) {
    Bytes e;
    e.Put(int32_t{-1}).Append(std::string(20, '\xab')).Put(uint8_t{8}).Append(std::string(3, '\0'));
    e.Append(misc & (1 << 15) ? "/bin/x" : "[kernel.kallsyms]").Append(std::string(1, '\0')).Pad8();
    ids.Append(Record(PERF_RECORD_MMAP /*type unused*/, misc, e.str()));
  }
  b.Feature(kPerfFeatBuildId, ids.str());
  // TRACING_DATA with one system of one event.
  const std::string format =
      "name: sched_switch\nID: 317\nformat:\n\tfield:int "
      "x;\toffset:8;\tsize:4;\tsigned:1;\n\nprint fmt: \"\"\n";
  Bytes tracing;
  tracing.Append(std::string("\x17\x08\x44tracing", 10)).Append(std::string("0.6\0", 4));
  tracing.Put(uint8_t{0}).Put(uint8_t{8}).Put(uint32_t{4096});
  tracing.Append(std::string("header_page\0", 12)).Put(uint64_t{3}).Append("abc");
  tracing.Append(std::string("header_event\0", 13)).Put(uint64_t{0});
  tracing.Put(uint32_t{0});  // ftrace formats
  tracing.Put(uint32_t{1}).Append(std::string("sched\0", 6)).Put(uint32_t{1});
  tracing.Put(uint64_t{format.size()}).Append(format);
  tracing.Put(uint32_t{0}).Put(uint32_t{0}).Put(uint64_t{0});  // kallsyms, printk, cmdlines
  b.Feature(kPerfFeatTracingData, tracing.str());

  const std::string bytes = b.File();

  WICK_ASSERT_OK_AND_ASSIGN(PerfDataReader reader, Open(bytes));
  const PerfDataInfo& info = reader.info();
  EXPECT_EQ(info.hostname, "vm");
  EXPECT_EQ(info.arch, "x86_64");
  EXPECT_EQ(info.nr_cpus_available, 4u);
  EXPECT_EQ(info.nr_cpus_online, 2u);
  EXPECT_EQ(info.first_sample_time, 5u);
  EXPECT_EQ(info.last_sample_time, 9u);
  EXPECT_THAT(info.cmdline, ElementsAre("/usr/bin/perf", "record", "-g"));
  ASSERT_EQ(info.attrs.size(), 2u);
  EXPECT_EQ(info.attrs[0].name, "cpu-clock:ppp");
  EXPECT_EQ(info.attrs[1].name, "sched:sched_switch");  // from the tracing data
  ASSERT_EQ(info.build_ids.size(), 2u);
  EXPECT_EQ(info.build_ids[0].build_id, std::string(8, '\xab'));
  EXPECT_EQ(info.build_ids[0].filename, "/bin/x");
  EXPECT_EQ(info.build_ids[0].pid, -1);
  EXPECT_EQ(info.build_ids[1].build_id, std::string(20, '\xab'));
  EXPECT_EQ(info.build_ids[1].misc, PERF_RECORD_MISC_KERNEL);
  ASSERT_TRUE(info.has_tracing_data);
  EXPECT_EQ(info.tracing_data.version, "0.6");
  ASSERT_EQ(info.tracing_data.formats.size(), 1u);
  EXPECT_EQ(info.tracing_data.formats[0].system, "sched");
  EXPECT_EQ(info.tracing_data.formats[0].text, format);
  EXPECT_EQ(info.tracing_data.raw, tracing.str());
}

TEST(PerfDataTest, AnotherArchitectureIsRefused) {
  PerfDataBuilder b;
  b.AddAttr(PerfDataBuilder::Attr(kBasic), {});
  b.Sample(0, 5, 1);  // a file without data is one perf never finished: no features
  b.Feature(kPerfFeatArch, Bytes().PerfString("aarch64").str());
  for (const std::string& bytes : {b.File(), b.Pipe()}) {
    absl::StatusOr<PerfDataReader> reader = Open(bytes);
    ASSERT_FALSE(reader.ok());
    EXPECT_EQ(reader.status().message(),
              "test.data: recorded on aarch64: wick reads x86_64 recordings only");
  }
}

// Linux sets PERF_RECORD_MISC_MMAP_BUILD_ID on events that did not ask once an earlier one
// did: without attr.build_id the record holds maj/min/ino.
TEST(PerfDataTest, StrayBuildIdBitOnMmap2) {
  for (bool asked : {false, true}) {
    PerfDataBuilder b;
    perf_event_attr attr = PerfDataBuilder::Attr(kBasic);
    attr.build_id = asked;
    b.AddAttr(attr, {});
    b.Mmap2(0, 1, 0x1000, "/bin/x", PERF_RECORD_MISC_USER | PERF_RECORD_MISC_MMAP_BUILD_ID,
            {1, 1, 5});
    const std::string bytes = b.File();
    WICK_ASSERT_OK_AND_ASSIGN(PerfDataReader reader, Open(bytes));
    absl::StatusOr<const PerfDataRecord*> rec = reader.Next();
    ASSERT_TRUE(rec.ok()) << rec.status();
    if (!asked) {
      ASSERT_NE(*rec, nullptr);
      EXPECT_FALSE((*rec)->parsed.mmap.has_build_id);
      EXPECT_EQ((*rec)->parsed.mmap.maj, 0xfeu);
      EXPECT_EQ((*rec)->parsed.mmap.ino, 4242u);
      EXPECT_EQ((*rec)->parsed.mmap.filename, "/bin/x");
      EXPECT_EQ(reader.stats().mmap_build_id_ignored, 1u);
    } else {
      // Read as a build-id, whose size byte (0xfe) cannot be one.
      EXPECT_EQ(*rec, nullptr);
      EXPECT_EQ(reader.stats().records_malformed, 1u);
    }
  }
}

// Old and new perf_event_attr sizes; a data section that is not 8-byte aligned.
TEST(PerfDataTest, AttrSizesAndUnalignedData) {
  PerfDataBuilder b;
  perf_event_attr attr = PerfDataBuilder::Attr(kBasic);
  attr.size = PERF_ATTR_SIZE_VER0;  // the rest of the entry is not the attr's
  attr.sample_regs_user = 0xff;     // beyond VER0: must not be read
  b.AddAttr(attr, {});
  b.Sample(0, 5, 1);
  b.Sample(0, 6, 2);
  const std::string bytes = b.File(/*data_pad=*/4);
  WICK_ASSERT_OK_AND_ASSIGN(PerfDataReader reader, Open(bytes));
  EXPECT_EQ(reader.info().attrs[0].attr.sample_regs_user, 0u);
  EXPECT_THAT(ReadAll(reader), ElementsAre("S0@5:1", "S0@6:2"));
}

// perf -z: one zstd stream over COMPRESSED records, a record split between two of them.
TEST(PerfDataTest, CompressedRecords) {
  PerfDataBuilder inner;
  inner.AddAttr(PerfDataBuilder::Attr(kBasic), {});
  for (uint64_t t = 1; t <= 200; ++t) inner.Sample(0, t, t);
  const std::string pipe = inner.Pipe();
  const std::string records = pipe.substr(pipe.size() - 200 * 32);
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  std::vector<std::string> pieces;
  for (size_t cut : {size_t{0}, size_t{100 * 32 + 12}}) {  // the second piece starts mid-record
    const size_t end = cut == 0 ? 100 * 32 + 12 : records.size();
    std::string out(ZSTD_compressBound(end - cut) + 64, '\0');
    ZSTD_inBuffer in{records.data() + cut, end - cut, 0};
    ZSTD_outBuffer o{out.data(), out.size(), 0};
    ASSERT_FALSE(ZSTD_isError(ZSTD_compressStream2(cctx, &o, &in, ZSTD_e_flush)));
    out.resize(o.pos);
    pieces.push_back(out);
  }
  ZSTD_freeCCtx(cctx);
  PerfDataBuilder b;
  b.AddAttr(PerfDataBuilder::Attr(kBasic), {});
  for (const std::string& p : pieces)
    b.Add(Record(kPerfRecordCompressed, 0, p + std::string((8 - p.size() % 8) % 8, '\0')));
  b.Add(Record(kPerfRecordCompressed, 0, std::string(16, 'x')));  // not zstd
  b.Feature(kPerfFeatCompressed, Bytes()
                                     .Put(uint32_t{0})
                                     .Put(uint32_t{1})
                                     .Put(uint32_t{1})
                                     .Put(uint32_t{5})
                                     .Put(uint32_t{1 << 20})
                                     .str());
  const std::string bytes = b.File();
  WICK_ASSERT_OK_AND_ASSIGN(PerfDataReader reader, Open(bytes));
  EXPECT_EQ(reader.info().compression_type, 1u);
  std::vector<std::string> got = ReadAll(reader);
  ASSERT_EQ(got.size(), 200u);
  EXPECT_EQ(got.front(), "S0@1:1");
  EXPECT_EQ(got.back(), "S0@200:200");
  EXPECT_EQ(reader.stats().compressed_records, 3u);
  EXPECT_EQ(reader.stats().compressed_malformed, 1u);
  EXPECT_EQ(reader.stats().decompressed_bytes, records.size());
}

// Pipe mode from a real pipe, written by another thread in small pieces, with the tracing
// data that follows its record outside header.size.
TEST(PerfDataTest, PipeStream) {
  PerfDataBuilder b;
  perf_event_attr attr = PerfDataBuilder::Attr(kBasic);
  attr.type = PERF_TYPE_TRACEPOINT;
  attr.config = 9;
  b.AddAttr(attr, {});
  const std::string format = "name: ev\nID: 9\nformat:\n\nprint fmt: \"\"\n";
  Bytes tracing;
  tracing.Append(std::string("\x17\x08\x44tracing", 10)).Append(std::string("0.6\0", 4));
  tracing.Put(uint8_t{0}).Put(uint8_t{8}).Put(uint32_t{4096});
  tracing.Append(std::string("header_page\0", 12)).Put(uint64_t{0});
  tracing.Append(std::string("header_event\0", 13)).Put(uint64_t{0});
  tracing.Put(uint32_t{0}).Put(uint32_t{1}).Append(std::string("sys\0", 4)).Put(uint32_t{1});
  tracing.Put(uint64_t{format.size()}).Append(format);
  const uint32_t tracing_size = tracing.size();
  b.Add(Record(kPerfRecordHeaderTracingData, 0, Bytes().Put(tracing_size).Put(uint32_t{0}).str()));
  b.Add(Bytes().Append(tracing.str()).Pad8().str());
  for (uint64_t t = 1; t <= 3000; ++t) {
    b.Sample(0, t, t);
    if (t % 100 == 0) b.FinishedRound();
  }
  const std::string bytes = b.Pipe();
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  ScopedFd read_end(fds[0]), write_end(fds[1]);
  std::thread writer([&] {
    for (size_t at = 0; at < bytes.size(); at += 1000) {
      const size_t n = std::min<size_t>(1000, bytes.size() - at);
      if (write(write_end.get(), bytes.data() + at, n) != ssize_t(n)) break;
    }
    write_end.reset();
  });
  absl::StatusOr<PerfDataReader> reader = PerfDataReader::OpenFd(read_end.get(), "stdin");
  std::vector<std::string> got;
  if (reader.ok()) got = ReadAll(*reader);
  writer.join();
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_TRUE(reader->info().pipe_mode);
  EXPECT_EQ(reader->info().attrs[0].name, "sys:ev");
  ASSERT_EQ(reader->info().tracing_data.formats.size(), 1u);
  ASSERT_EQ(got.size(), 3000u);
  EXPECT_EQ(got[2999], "S0@3000:3000");
  EXPECT_TRUE(reader->stats().complete);
}

// The steady state reads records without allocating: buffers reach their working size in
// the first rounds.
TEST(PerfDataTest, SteadyStateAllocatesNothing) {
  PerfDataBuilder b;
  b.AddAttr(PerfDataBuilder::Attr(kBasic | PERF_SAMPLE_CALLCHAIN), {});
  for (uint64_t round = 0; round < 60; ++round) {
    for (uint64_t i = 0; i < 50; ++i) {
      const uint64_t t = 1000 * round + (i * 37) % 50;  // out of order within the round
      b.Sample(0, t, t, 42, 0, {kContextUser, t, t + 1, t + 2});
    }
    b.FinishedRound();
  }
  for (const std::string& bytes : {b.File(), b.Pipe()}) {
    WICK_ASSERT_OK_AND_ASSIGN(PerfDataReader reader, Open(bytes));
    uint64_t n = 0, previous = 0;
    for (; n < 500; ++n) {
      absl::StatusOr<const PerfDataRecord*> rec = reader.Next();
      ASSERT_TRUE(rec.ok() && *rec != nullptr);
    }
    testing::AllocationCounter allocations;
    while (true) {
      absl::StatusOr<const PerfDataRecord*> rec = reader.Next();
      ASSERT_TRUE(rec.ok());
      if (*rec == nullptr) break;
      EXPECT_GE((*rec)->time, previous);
      previous = (*rec)->time;
      ++n;
    }
    EXPECT_EQ(allocations.Count(), 0u);
    EXPECT_EQ(n, 3000u);
  }
}

TEST(PerfDataTest, BadInput) {
  PerfDataBuilder b;
  b.AddAttr(PerfDataBuilder::Attr(kBasic), {});
  b.Sample(0, 5, 1);
  const std::string file = b.File();
  auto message = [](const std::string& bytes) {
    absl::StatusOr<PerfDataReader> r = Open(bytes);
    return r.ok() ? std::string("OK") : std::string(r.status().message());
  };
  EXPECT_EQ(message(""), "test.data: empty file (0 bytes): not a perf.data");
  EXPECT_EQ(message("hello, world"), "test.data: not a perf.data (no PERFILE2 magic)");
  EXPECT_EQ(message("PERFFILE" + file.substr(8)),
            "test.data: a version 1 perf.data (PERFFILE magic, perf before Linux 2.6.37): not "
            "supported");
  std::string swapped = file;
  std::reverse(swapped.begin(), swapped.begin() + 8);
  EXPECT_THAT(message(swapped), HasSubstr("big-endian"));
  // A pipe header with nothing after it.
  EXPECT_THAT(message(file.substr(0, 8) + std::string("\x10\0\0\0\0\0\0\0", 8)),
              HasSubstr("no events (no HEADER_ATTR record"));
  // An attr whose size is larger than its entry.
  std::string big = file;
  const uint32_t size = 4000;
  std::memcpy(big.data() + 104 + 4, &size, 4);
  EXPECT_THAT(message(big), HasSubstr("attr.size 4000 is larger than the attrs entry"));
  // A record header of size 0 in the data ends it there.
  PerfDataBuilder z;
  z.AddAttr(PerfDataBuilder::Attr(kBasic), {});
  z.Sample(0, 5, 1);
  z.Add(std::string(8, '\0'));
  z.Sample(0, 6, 2);
  const std::string bytes = z.File();
  WICK_ASSERT_OK_AND_ASSIGN(PerfDataReader reader, Open(bytes));
  EXPECT_THAT(ReadAll(reader), ElementsAre("S0@5:1"));
  EXPECT_FALSE(reader.stats().complete);
  EXPECT_THAT(reader.stats().truncation_note, HasSubstr("corrupt record header at byte"));
  EXPECT_THAT(reader.stats().truncation_note, HasSubstr("read 1 records (1 samples) before that"));
}

}  // namespace
}  // namespace wick
