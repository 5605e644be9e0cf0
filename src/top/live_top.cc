#include "wick/live_top.h"

#include <algorithm>
#include <iterator>
#include <span>
#include <string_view>

#include "absl/hash/hash.h"

namespace wick {

namespace {

template <typename T>
void MoveAppend(std::vector<T>* to, std::vector<T>* from) {
  if (to->empty()) {
    *to = std::move(*from);
  } else {
    to->insert(to->end(), std::make_move_iterator(from->begin()),
               std::make_move_iterator(from->end()));
  }
  from->clear();
}

constexpr std::string_view kRoot = "[root]";

}  // namespace

void TopBatch::Append(TopBatch&& later) {
  if (flushes == 0 && binaries.empty() && stacks.empty()) meta = std::move(later.meta);
  MoveAppend(&binaries, &later.binaries);
  MoveAppend(&comms, &later.comms);
  MoveAppend(&stacks, &later.stacks);
  MoveAppend(&counts, &later.counts);
  MoveAppend(&kernel_symbols, &later.kernel_symbols);
  MoveAppend(&binary_symbols, &later.binary_symbols);
  if (later.event_names.size() > event_names.size()) event_names = std::move(later.event_names);
  stats = later.stats;
  flushes += later.flushes;
  finished = finished || later.finished;
}

// The session's side: buffers what it is given, hands it over at each Flush().
class TopFeedWriter final : public RecordingWriter {
 public:
  TopFeedWriter(TopFeed* feed, const RecordingMeta& meta) : feed_(feed) { pending_.meta = meta; }

  void AddBinary(uint32_t id, std::string_view build_id, std::string_view path) override {
    pending_.binaries.push_back({id, RecordedBinary{id, std::string(build_id), std::string(path)}});
  }
  void AddComm(uint32_t id, std::string_view name) override {
    pending_.comms.push_back({id, std::string(name)});
  }
  void AddStack(uint32_t id, uint32_t event, uint32_t comm, uint32_t pid, uint32_t tid,
                std::span<const Frame> frames) override {
    pending_.stacks.push_back({id, event, comm, pid, tid, {frames.begin(), frames.end()}});
  }
  void AddCount(uint32_t id, uint64_t delta, uint64_t) override {
    pending_.counts.push_back({id, delta});
    samples_ += delta;
  }
  void AddEventType(uint32_t id, std::string_view name, std::string_view) override {
    if (event_names_.size() <= id) event_names_.resize(id + 1);
    event_names_[id] = std::string(name);
  }
  // A live view shows no trace events one by one, nor JIT maps (read at the end).
  void AddTraceSample(uint64_t, uint32_t, uint32_t, uint32_t, uint32_t, uint32_t, uint32_t,
                      std::span<const std::byte>) override {}
  void AddJitSymbols(std::span<const JitSymbol>) override {}
  void AddKernelSymbols(std::span<const KernelSymbol> symbols) override {
    pending_.kernel_symbols.insert(pending_.kernel_symbols.end(), symbols.begin(), symbols.end());
  }
  void AddBinarySymbols(uint32_t id, std::vector<FileSymbol> symbols) override {
    pending_.binary_symbols.push_back({id, std::move(symbols)});
  }
  void NoteStats(const Stats& stats) override { pending_.stats = stats; }
  absl::Status Flush() override {
    pending_.event_names = event_names_;
    pending_.flushes = 1;
    feed_->HandOver(std::move(pending_));
    pending_ = TopBatch();
    return absl::OkStatus();
  }
  absl::Status Finish(std::span<const KernelSymbol>, const Stats& stats, uint64_t) override {
    pending_.stats = stats;
    pending_.finished = true;
    return Flush();
  }
  uint64_t BytesWritten() const override { return 0; }
  uint64_t SamplesWritten() const override { return samples_; }
  uint64_t SamplesNotWritten() const override { return 0; }

 private:
  TopFeed* feed_;
  TopBatch pending_;
  std::vector<std::string> event_names_;
  uint64_t samples_ = 0;
};

std::unique_ptr<RecordingWriter> TopFeed::OpenWriter(const RecordingMeta& meta) {
  return std::make_unique<TopFeedWriter>(this, meta);
}

void TopFeed::HandOver(TopBatch&& batch) {
  std::lock_guard<std::mutex> lock(mu_);
  ready_.Append(std::move(batch));
}

TopBatch TopFeed::Take() {
  std::lock_guard<std::mutex> lock(mu_);
  TopBatch taken = std::move(ready_);
  ready_ = TopBatch();
  return taken;
}

size_t LiveTop::FrameHash::operator()(const Frame& f) const {
  return absl::HashOf(f.value, f.binary, static_cast<uint32_t>(f.kind));
}

LiveTop::LiveTop(SymbolizerOptions symbols, bool cumulative)
    : sym_(std::move(symbols)), cumulative_(cumulative) {
  rec_.version = 3;
  comm_names_.push_back("[unknown]");  // of a stack whose comm was never defined
  comm_name_index_.emplace(comm_names_[0], 0);
}

void LiveTop::Apply(TopBatch&& batch) {
  if (batch.flushes == 0) return;
  if (rec_.meta.event.empty() && !batch.meta.event.empty()) rec_.meta = batch.meta;
  for (auto& [id, binary] : batch.binaries) {
    if (rec_.binaries.size() <= id) rec_.binaries.resize(id + 1);
    rec_.binaries[id] = std::move(binary);
  }
  for (auto& [id, symbols] : batch.binary_symbols) {
    if (id < rec_.binaries.size()) {
      sym_.AddFileSymbols(rec_.binaries[id].build_id, rec_.binaries[id].path, symbols);
    }
  }
  for (auto& [id, name] : batch.comms) {
    if (comm_name_of_.size() <= id) comm_name_of_.resize(id + 1, 0);
    auto [it, added] = comm_name_index_.try_emplace(name, uint32_t(comm_names_.size()));
    if (added) comm_names_.push_back(name);
    comm_name_of_[id] = it->second;
  }
  if (!batch.kernel_symbols.empty()) {
    MoveAppend(&rec_.kernel_symbols, &batch.kernel_symbols);
    SortKernelSymbols(&rec_.kernel_symbols);
  }
  for (const TopBatch::Stack& s : batch.stacks) AddStack(s);
  for (const TopBatch::Count& c : batch.counts) {
    if (c.stack >= stacks_.size()) continue;  // never defined: not from a session
    stacks_[c.stack].period += c.count;
    if (stacks_[c.stack].event == 0) period_samples_ += c.count;
  }
  if (batch.event_names.size() > event_names_.size()) event_names_ = std::move(batch.event_names);
  stats_ = batch.stats;
  finished_ = finished_ || batch.finished;
}

uint32_t LiveTop::FunctionOf(const Frame& frame) {
  auto it = function_of_frame_.find(frame);
  if (it != function_of_frame_.end()) return it->second;
  scratch_.clear();
  ResolveFrame(rec_, sym_, frame, /*inlined=*/false, &scratch_);
  DisplayFrame f = scratch_.empty() ? DisplayFrame{} : std::move(scratch_.front());
  if (f.name.empty()) f.name = "[unknown]";
  // Rows are functions: the same function at another line is the same row.
  f.file.clear();
  f.line = 0;
  f.aliases = nullptr;
  auto [fit, added] = function_index_.try_emplace(f, uint32_t(functions_.size()));
  if (added) functions_.push_back(std::move(f));
  function_of_frame_.emplace(frame, fit->second);
  return fit->second;
}

uint32_t LiveTop::KeyOf(uint32_t function, uint32_t comm_name) {
  auto [it, added] =
      key_index_.try_emplace(uint64_t{function} << 32 | comm_name, uint32_t(keys_.size()));
  if (added) keys_.push_back({function, comm_name});
  return it->second;
}

void LiveTop::AddStack(const TopBatch::Stack& s) {
  if (stacks_.size() <= s.id) stacks_.resize(s.id + 1);
  StackInfo& info = stacks_[s.id];
  info.event = s.event;
  info.first = uint32_t(keys_of_stacks_.size());
  const uint32_t comm = s.comm < comm_name_of_.size() ? comm_name_of_[s.comm] : 0;
  // Stored leaf first; kept root first, as callers are read.
  for (auto f = s.frames.rbegin(); f != s.frames.rend(); ++f) {
    keys_of_stacks_.push_back(KeyOf(FunctionOf(*f), comm));
  }
  info.size = uint32_t(keys_of_stacks_.size()) - info.first;
}

void LiveTop::EndPeriod() {
  last_period_samples_ = period_samples_;
  period_samples_ = 0;
  for (StackInfo& s : stacks_) {
    if (!cumulative_) s.shown = s.shown * 7 / 8;
    s.shown += s.period;
    s.period = 0;
  }
}

void LiveTop::Zero() {
  for (StackInfo& s : stacks_) s.shown = 0;
}

TopRow LiveTop::RowOf(uint32_t key, uint64_t self, uint64_t total) const {
  const DisplayFrame& f = functions_[keys_[key].function];
  return TopRow{f.name, f.module, comm_names_[keys_[key].comm], f.kernel, self, total, key};
}

namespace {

void SortAndCut(TopSort sort, size_t limit, TopView* view) {
  auto first = [&](const TopRow& r) { return sort == TopSort::kSelf ? r.self : r.total; };
  auto second = [&](const TopRow& r) { return sort == TopSort::kSelf ? r.total : r.self; };
  std::sort(view->rows.begin(), view->rows.end(), [&](const TopRow& a, const TopRow& b) {
    if (first(a) != first(b)) return first(a) > first(b);
    if (second(a) != second(b)) return second(a) > second(b);
    if (a.function != b.function) return a.function < b.function;
    return a.comm < b.comm;
  });
  view->functions = view->rows.size();
  if (limit && view->rows.size() > limit) view->rows.resize(limit);
}

}  // namespace

TopView LiveTop::Rows(TopSort sort, size_t limit) const {
  TopView view;
  view.period_samples = last_period_samples_;
  std::vector<uint64_t> self(keys_.size()), total(keys_.size());
  // The stack that last counted a key: a recursive function counts once per stack.
  std::vector<uint32_t> seen(keys_.size(), UINT32_MAX);
  for (uint32_t id = 0; id < stacks_.size(); ++id) {
    const StackInfo& s = stacks_[id];
    if (s.shown == 0 || s.event != 0 || s.size == 0) continue;
    view.all += s.shown;
    const uint32_t* keys = keys_of_stacks_.data() + s.first;
    self[keys[s.size - 1]] += s.shown;
    for (uint32_t i = 0; i < s.size; ++i) {
      if (seen[keys[i]] == id) continue;
      seen[keys[i]] = id;
      total[keys[i]] += s.shown;
    }
  }
  for (uint32_t k = 0; k < keys_.size(); ++k) {
    if (total[k]) view.rows.push_back(RowOf(k, self[k], total[k]));
  }
  SortAndCut(sort, limit, &view);
  return view;
}

TopRow LiveTop::Row(uint32_t key) const {
  for (const TopRow& r : Rows(TopSort::kSelf, 0).rows) {
    if (r.key == key) return r;
  }
  return key < keys_.size() ? RowOf(key, 0, 0) : TopRow{};
}

TopView LiveTop::Callers(uint32_t key, size_t limit) const {
  TopView view;
  view.period_samples = last_period_samples_;
  // Callers are keyed by function alone (the row's comm is every caller's comm); "[root]" is
  // functions_.size().
  absl::flat_hash_map<uint32_t, uint64_t> by_caller;
  absl::flat_hash_map<uint32_t, uint32_t> last_stack;  // a caller counts once per stack
  const uint32_t root = uint32_t(functions_.size());
  for (uint32_t id = 0; id < stacks_.size(); ++id) {
    const StackInfo& s = stacks_[id];
    if (s.shown == 0 || s.event != 0) continue;
    view.all += s.shown;
    const uint32_t* keys = keys_of_stacks_.data() + s.first;
    for (uint32_t i = 0; i < s.size; ++i) {
      if (keys[i] != key) continue;
      const uint32_t caller = i == 0 ? root : keys_[keys[i - 1]].function;
      auto [it, added] = last_stack.try_emplace(caller, id);
      if (!added && it->second == id) continue;
      it->second = id;
      by_caller[caller] += s.shown;
    }
  }
  const std::string& comm = key < keys_.size() ? comm_names_[keys_[key].comm] : comm_names_[0];
  for (auto [caller, value] : by_caller) {
    if (caller == root) {
      view.rows.push_back(TopRow{std::string(kRoot), "", comm, false, 0, value, UINT32_MAX});
    } else {
      const DisplayFrame& f = functions_[caller];
      view.rows.push_back(TopRow{f.name, f.module, comm, f.kernel, 0, value,
                                 key_index_.contains(uint64_t{caller} << 32 | keys_[key].comm)
                                     ? key_index_.at(uint64_t{caller} << 32 | keys_[key].comm)
                                     : UINT32_MAX});
    }
  }
  SortAndCut(TopSort::kTotal, limit, &view);
  return view;
}

}  // namespace wick
