#include "wick/live_top.h"

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace wick {
namespace {

constexpr uint64_t kLeaf = 0xffffffff81000000, kMid = kLeaf + 0x100, kRoot = kLeaf + 0x200,
                   kRec = kLeaf + 0x300;

Frame K(uint64_t address) { return Frame{address + 0x10, 0, FrameKind::kKernel}; }

// One session's worth of writes: three comms (two named alike), two events, recursion.
class LiveTopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RecordingMeta meta;
    meta.event = "cpu-clock,page-faults";
    meta.sample_freq = 999;
    writer_ = feed_.OpenWriter(meta);
    writer_->AddEventType(0, "cpu-clock", "");
    writer_->AddEventType(1, "page-faults", "");
    writer_->AddComm(0, "alpha");
    writer_->AddComm(1, "beta");
    writer_->AddComm(2, "alpha");  // another thread of the same name: the same rows
    const std::vector<KernelSymbol> symbols = {{kLeaf, 0x100, "leaf_fn", ""},
                                               {kMid, 0x100, "mid_fn", ""},
                                               {kRoot, 0x100, "root_fn", ""},
                                               {kRec, 0x100, "rec_fn", ""}};
    writer_->AddKernelSymbols(symbols);
    AddStack(0, 0, 0, {K(kLeaf), K(kMid), K(kRoot)}, 80);
    AddStack(1, 0, 0, {K(kMid), K(kRoot)}, 16);
    AddStack(2, 0, 2, {K(kLeaf), K(kRec), K(kRec), K(kRoot)}, 4);
    AddStack(3, 1, 0, {K(kLeaf)}, 1000);  // page faults: not rows of cpu-clock
    AddStack(4, 0, 1, {K(kLeaf)}, 100);
    Stats stats;
    stats.Add(Stat::kLostSamples, 3);
    writer_->NoteStats(stats);
    ASSERT_TRUE(writer_->Flush().ok());
  }
  void AddStack(uint32_t id, uint32_t event, uint32_t comm, std::vector<Frame> frames,
                uint64_t count) {
    writer_->AddStack(id, event, comm, 1, 1, frames);
    writer_->AddCount(id, count, count * 1000);
  }
  static const TopRow* Find(const TopView& v, const std::string& function,
                            const std::string& comm) {
    for (const TopRow& r : v.rows) {
      if (r.function == function && r.comm == comm) return &r;
    }
    return nullptr;
  }

  TopFeed feed_;
  std::unique_ptr<RecordingWriter> writer_;
};

TEST_F(LiveTopTest, RowsAreFunctionsOfACommWithSelfAndTotal) {
  LiveTop top({}, /*cumulative=*/false);
  top.Apply(feed_.Take());
  top.EndPeriod();
  EXPECT_EQ(top.stats().Get(Stat::kLostSamples), 3u);
  ASSERT_EQ(top.event_names().size(), 2u);
  EXPECT_EQ(top.event_names()[0], "cpu-clock");
  const TopView v = top.Rows(TopSort::kSelf, 0);
  EXPECT_EQ(v.all, 200u);
  EXPECT_EQ(v.period_samples, 200u);
  ASSERT_EQ(v.rows.size(), 5u);
  // By self, then total.
  EXPECT_EQ(v.rows[0].function, "leaf_fn");
  EXPECT_EQ(v.rows[0].comm, "beta");
  EXPECT_EQ(v.rows[1].function, "leaf_fn");
  EXPECT_EQ(v.rows[1].comm, "alpha");
  EXPECT_EQ(v.rows[1].self, 84u);  // comms 0 and 2 share the name
  EXPECT_EQ(v.rows[1].total, 84u);
  EXPECT_TRUE(v.rows[1].kernel);
  EXPECT_EQ(v.rows[1].module, "[kernel]");
  EXPECT_EQ(v.rows[2].function, "mid_fn");
  EXPECT_EQ(v.rows[2].self, 16u);
  EXPECT_EQ(v.rows[2].total, 96u);
  EXPECT_EQ(v.rows[3].function, "root_fn");
  EXPECT_EQ(v.rows[3].total, 100u);
  const TopRow* rec = Find(v, "rec_fn", "alpha");
  ASSERT_NE(rec, nullptr);
  EXPECT_EQ(rec->total, 4u);  // recursive: once per stack

  const TopView by_total = top.Rows(TopSort::kTotal, 2);
  EXPECT_EQ(by_total.functions, 5u);
  ASSERT_EQ(by_total.rows.size(), 2u);
  // Tied at 100: the larger self first.
  EXPECT_EQ(by_total.rows[0].function, "leaf_fn");
  EXPECT_EQ(by_total.rows[0].comm, "beta");
  EXPECT_EQ(by_total.rows[1].function, "root_fn");
}

TEST_F(LiveTopTest, CallersOfARow) {
  LiveTop top({}, false);
  top.Apply(feed_.Take());
  top.EndPeriod();
  const TopView v = top.Rows(TopSort::kSelf, 0);
  const TopView leaf = top.Callers(Find(v, "leaf_fn", "alpha")->key, 0);
  ASSERT_EQ(leaf.rows.size(), 2u);
  EXPECT_EQ(leaf.rows[0].function, "mid_fn");
  EXPECT_EQ(leaf.rows[0].total, 80u);
  EXPECT_EQ(leaf.rows[1].function, "rec_fn");
  EXPECT_EQ(leaf.rows[1].total, 4u);
  // rec_fn calls itself once and is called by root_fn: both callers count the stack once.
  const TopView rec = top.Callers(Find(v, "rec_fn", "alpha")->key, 0);
  ASSERT_EQ(rec.rows.size(), 2u);
  EXPECT_EQ(rec.rows[0].total, 4u);
  EXPECT_EQ(rec.rows[1].total, 4u);
  // The outermost frame is called by no one.
  const TopView beta = top.Callers(Find(v, "leaf_fn", "beta")->key, 0);
  ASSERT_EQ(beta.rows.size(), 1u);
  EXPECT_EQ(beta.rows[0].function, "[root]");
  EXPECT_EQ(beta.rows[0].total, 100u);
}

TEST_F(LiveTopTest, CountsDecayByAnEighthAPeriodUnlessCumulative) {
  LiveTop decaying({}, false), cumulative({}, true);
  TopBatch batch = feed_.Take();
  TopBatch copy = batch;
  decaying.Apply(std::move(batch));
  cumulative.Apply(std::move(copy));
  decaying.EndPeriod();
  cumulative.EndPeriod();
  // A period with nothing new: 7/8 of what was shown stays (rounded down).
  decaying.EndPeriod();
  cumulative.EndPeriod();
  TopView v = decaying.Rows(TopSort::kSelf, 0);
  EXPECT_EQ(v.period_samples, 0u);
  EXPECT_EQ(Find(v, "leaf_fn", "beta")->self, 87u);        // 100 * 7/8
  EXPECT_EQ(Find(v, "leaf_fn", "alpha")->self, 70u + 3u);  // 80 * 7/8 + 4 * 7/8
  EXPECT_EQ(cumulative.Rows(TopSort::kSelf, 0).all, 200u);

  // The next flush's counts join the period under way.
  writer_->AddCount(4, 8, 0);
  ASSERT_TRUE(writer_->Flush().ok());
  decaying.Apply(feed_.Take());
  decaying.EndPeriod();
  v = decaying.Rows(TopSort::kSelf, 0);
  EXPECT_EQ(v.period_samples, 8u);
  EXPECT_EQ(Find(v, "leaf_fn", "beta")->self, 87u * 7 / 8 + 8);

  decaying.Zero();
  EXPECT_TRUE(decaying.Rows(TopSort::kSelf, 0).rows.empty());
}

TEST_F(LiveTopTest, BatchesHandedOverTogetherAndTheEnd) {
  // Two flushes before the view takes them: one batch, in order.
  writer_->AddComm(3, "gamma");
  AddStack(5, 0, 3, {K(kMid), K(kRoot)}, 10);
  ASSERT_TRUE(writer_->Flush().ok());
  ASSERT_TRUE(writer_->Finish({}, Stats(), 0).ok());
  TopBatch batch = feed_.Take();
  EXPECT_EQ(batch.flushes, 3u);  // two flushes and Finish's
  EXPECT_TRUE(batch.finished);
  EXPECT_EQ(feed_.Take().flushes, 0u);
  LiveTop top({}, false);
  top.Apply(std::move(batch));
  top.EndPeriod();
  EXPECT_TRUE(top.finished());
  const TopView v = top.Rows(TopSort::kSelf, 0);
  EXPECT_EQ(v.all, 210u);
  EXPECT_EQ(Find(v, "mid_fn", "gamma")->self, 10u);
}

// Counts for a stack the feed never defined (not from a session) are ignored, not a crash.
TEST(LiveTop, CountOfAnUndefinedStackIsIgnored) {
  TopFeed feed;
  std::unique_ptr<RecordingWriter> w = feed.OpenWriter(RecordingMeta());
  w->AddCount(7, 5, 0);
  ASSERT_TRUE(w->Flush().ok());
  LiveTop top({}, false);
  top.Apply(feed.Take());
  top.EndPeriod();
  EXPECT_EQ(top.Rows(TopSort::kSelf, 0).all, 0u);
}

}  // namespace
}  // namespace wick
