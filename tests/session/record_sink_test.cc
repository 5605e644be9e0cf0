// The record sink on its own, fed hand-built records as any source (live rings, a perf.data
// file) would feed it: its per-record path allocates nothing once a stack is known, and a
// snapshot's sink counts into its own recording, leaving the first one as it was.
#include "record_sink.h"

#include <linux/perf_event.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "testing/testing.h"
#include "wick/record.h"
#include "wick/recording.h"

namespace wick {
namespace {

__attribute__((noinline)) void SinkSampledFunction() { asm volatile(""); }

constexpr uint64_t kSampleType = PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_IP | PERF_SAMPLE_TID |
                                 PERF_SAMPLE_TIME | PERF_SAMPLE_PERIOD | PERF_SAMPLE_CALLCHAIN;

// A SAMPLE record of `pid` with `period`, user callchain `chain`, parsed into *out.
void MakeSample(uint32_t pid, uint64_t period, const std::vector<uint64_t>& chain,
                std::vector<uint64_t>* words, ParsedRecord* out) {
  words->clear();
  const size_t n = 1 + 1 + 1 + 1 + 1 + 1 + 1 + chain.size();
  perf_event_header h{PERF_RECORD_SAMPLE, PERF_RECORD_MISC_USER, uint16_t(n * 8)};
  uint64_t hw;
  std::memcpy(&hw, &h, 8);
  words->push_back(hw);
  words->push_back(7);  // identifier
  words->push_back(chain.empty() ? 0 : chain[1]);
  words->push_back(uint64_t(pid) | (uint64_t(pid) << 32));
  words->push_back(12345);
  words->push_back(period);
  words->push_back(chain.size());
  words->insert(words->end(), chain.begin(), chain.end());
  std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(words->data()),
                                   words->size() * 8);
  WICK_EXPECT_OK(ParseRecord(bytes, SampleFormat::FromAttr([] {
                               perf_event_attr a{};
                               a.sample_type = kSampleType;
                               return a;
                             }()),
                             out));
}

class RecordSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "wick_sink_XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static RecordSink::Options Options() {
    RecordSink::Options o;
    for (const char* name : {"cpu-clock", "page-faults"}) {
      o.events.emplace_back();
      o.events.back().name = name;
    }
    o.sample_type = kSampleType;
    o.max_stack = 127;
    o.callchain = true;
    return o;
  }
  std::unique_ptr<RecordingWriter> Writer(const std::string& name) {
    auto w = RecordingWriter::Open(dir_ + "/" + name, RecordingMeta{});
    EXPECT_TRUE(w.ok()) << w.status();
    return w.ok() ? *std::move(w) : nullptr;
  }
  // A sink of this process writing to out.wick, with one stream (0).
  std::unique_ptr<RecordSink> Sink() {
    auto sink = std::make_unique<RecordSink>(Options());
    WICK_EXPECT_OK(sink->processes().ScanProcess(getpid()));
    EXPECT_EQ(sink->AddStream(), 0u);
    sink->SetWriter(Writer("out.wick"));
    return sink;
  }
  std::vector<uint64_t> Chain(uint64_t i) const {
    const uint64_t ip = reinterpret_cast<uint64_t>(&SinkSampledFunction);
    return {PERF_CONTEXT_USER, ip + (i % 4), ip + 8};
  }

  std::string dir_;
  std::vector<uint64_t> words_;
  ParsedRecord rec_;
};

TEST_F(RecordSinkTest, SteadyStateHandleDoesNotAllocate) {
  std::unique_ptr<RecordSink> owned = Sink();
  RecordSink& sink = *owned;
  const uint32_t stream = 0;
  const uint32_t pid = uint32_t(getpid());
  std::vector<ParsedRecord> samples(4);
  std::vector<std::vector<uint64_t>> words(4);
  for (uint64_t i = 0; i < 4; ++i) MakeSample(pid, 1000, Chain(i), &words[i], &samples[i]);
  for (const ParsedRecord& s : samples) sink.Handle(stream, s, 0);  // first sight stores them

  testing::AllocationCounter allocations;
  for (int i = 0; i < 5000; ++i) {
    for (const ParsedRecord& s : samples) sink.Handle(stream, s, 0);
  }
  EXPECT_EQ(allocations.Count(), 0u);
  EXPECT_EQ(sink.samples(0), 4u * 5001);
  EXPECT_EQ(sink.samples(1), 0u);
  EXPECT_EQ(sink.stats().Get(Stat::kSamples), 4u * 5001);
  EXPECT_EQ(sink.stacks().size(), 4u);

  WICK_ASSERT_OK(sink.Flush());
  WICK_ASSERT_OK(sink.Finish(1));
  absl::StatusOr<Recording> r = ReadRecording(dir_ + "/out.wick");
  WICK_ASSERT_OK(r);
  EXPECT_TRUE(r->complete);
  ASSERT_EQ(r->event_types.size(), 2u);
  EXPECT_EQ(r->event_types[1].name, "page-faults");
  ASSERT_EQ(r->stacks.size(), 4u);
  uint64_t count = 0, weight = 0;
  for (const RecordedStack& s : r->stacks) count += s.count, weight += s.weight;
  EXPECT_EQ(count, 4u * 5001);
  EXPECT_EQ(weight, 4u * 5001 * 1000);
}

// A snapshot's sink shares the process table but not the counters: what it handles (here a
// sample of a pid nobody knows, which the process table counts) is its recording's, and the
// first sink's counters, stacks and samples are as they were, before and after it.
TEST_F(RecordSinkTest, SnapshotSinkKeepsItsOwnCountersAndStacks) {
  std::unique_ptr<RecordSink> owned = Sink();
  RecordSink& sink = *owned;
  const uint32_t stream = 0;
  const uint32_t pid = uint32_t(getpid());
  MakeSample(pid, 10, Chain(0), &words_, &rec_);
  sink.Handle(stream, rec_, 0);

  constexpr uint32_t kUnknownPid = 0x7ffffff0;
  {
    RecordSink snapshot(sink, Writer("out.wick.1"));
    MakeSample(pid, 20, Chain(1), &words_, &rec_);
    snapshot.Handle(stream, rec_, 1);
    MakeSample(kUnknownPid, 30, Chain(2), &words_, &rec_);
    snapshot.Handle(stream, rec_, RecordSink::kUnknownEvent);
    EXPECT_EQ(snapshot.stats().Get(Stat::kSamples), 2u);
    EXPECT_EQ(snapshot.stats().Get(Stat::kSamplesUnknownPid), 1u);
    EXPECT_EQ(snapshot.samples(1), 1u);
    EXPECT_EQ(snapshot.stacks().size(), 2u);
    WICK_ASSERT_OK(snapshot.Flush());
    WICK_ASSERT_OK(snapshot.Finish(1));
    EXPECT_EQ(sink.stats().Get(Stat::kSamples), 1u);
    EXPECT_EQ(sink.stats().Get(Stat::kSamplesUnknownPid), 0u);
  }
  EXPECT_EQ(sink.samples(0), 1u);
  EXPECT_EQ(sink.samples(1), 0u);
  EXPECT_EQ(sink.stacks().size(), 1u);
  // The process table counts into the first sink again.
  MakeSample(kUnknownPid, 40, Chain(3), &words_, &rec_);
  sink.Handle(stream, rec_, 0);
  EXPECT_EQ(sink.stats().Get(Stat::kSamplesUnknownPid), 1u);

  absl::StatusOr<Recording> snap = ReadRecording(dir_ + "/out.wick.1");
  WICK_ASSERT_OK(snap);
  EXPECT_TRUE(snap->complete);
  EXPECT_EQ(snap->stats.Get(Stat::kSamplesUnknownPid), 1u);
  ASSERT_EQ(snap->stacks.size(), 2u);
  EXPECT_EQ(snap->stacks[0].event, 1u);
  EXPECT_EQ(snap->stacks[0].weight, 20u);
  // The snapshot's comms start from its own id 0 yet name the shared table's threads.
  EXPECT_EQ(snap->comms.size(), sink.processes().comms().size());
}

}  // namespace
}  // namespace wick
