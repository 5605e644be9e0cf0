// Deduplicating stack map: every distinct (event, comm, pid, tid, frames) stack is stored once
// with a count and a weight (so reports can filter and split by process and thread, and never
// add one event's samples to another's),
// like the kernel's BPF stack map in build-id mode, but it never evicts and never
// overwrites on a hash collision: when full, Insert fails and the caller counts
// Stat::kStackMapFull.
//
// All memory (frame arena, stack table, open-addressing hash index, dirty list) is
// allocated in the constructor; Insert, the accessors and TakeCountDeltas never allocate.
// Stack ids are dense from first_id() (0 unless the map continues an earlier one) and stable,
// so a recording writer appends stacks [watermark, size()) and then the count deltas. Not
// thread-safe (one map per reader or a lock around it). Frame spans returned by Frames() stay valid
// for the map's lifetime.
#ifndef WICK_STACK_MAP_H_
#define WICK_STACK_MAP_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "absl/functional/function_ref.h"
#include "wick/frame.h"

namespace wick {

// What, besides its frames, tells stacks apart: the event sampled (an index into the
// recording's event types), the thread's comm id, its process and thread.
struct StackKey {
  uint32_t event = 0;
  uint32_t comm = 0;
  uint32_t pid = 0;
  uint32_t tid = 0;

  friend bool operator==(const StackKey&, const StackKey&) = default;
};

class StackMap {
 public:
  using HashFn = uint64_t (*)(const StackKey& key, std::span<const Frame> frames);

  // Room for `max_stacks` stacks holding `max_frames_total` frames altogether. `hash` replaces
  // the default hash (tests inject a constant one to force collisions).
  // `first_id`: the id of the first stack, for a map that replaces one whose stacks were all
  // written (their ids stay taken in the recording).
  StackMap(size_t max_frames_total, size_t max_stacks, HashFn hash = nullptr,
           uint32_t first_id = 0);
  StackMap(StackMap&&) = default;
  StackMap& operator=(StackMap&&) = default;

  // Adds `count` samples of total `weight` (the sum of their periods) to stack (key, frames)
  // and returns its id; a new stack is copied into the arena. nullopt when the stack is new and
  // the map is full (nothing is changed then). A count of 0 defines the stack without a sample
  // (off-CPU time is added once the thread is back on the CPU, with AddTo).
  std::optional<uint32_t> Insert(const StackKey& key, std::span<const Frame> frames, uint64_t count,
                                 uint64_t weight);
  // Event 0, weight 0.
  std::optional<uint32_t> Insert(uint32_t comm, uint32_t pid, uint32_t tid,
                                 std::span<const Frame> frames, uint64_t count = 1) {
    return Insert(StackKey{0, comm, pid, tid}, frames, count, 0);
  }
  // Grows stack `id` (first_id() <= id < size()).
  void AddTo(uint32_t id, uint64_t count, uint64_t weight) { Add(id - first_id_, count, weight); }

  // One past the last id (first_id() + the number of stacks held).
  size_t size() const { return first_id_ + stacks_.size(); }
  uint32_t first_id() const { return first_id_; }
  size_t held() const { return stacks_.size(); }
  size_t max_stacks() const { return max_stacks_; }
  size_t frames_used() const { return arena_.size(); }
  size_t max_frames_total() const { return max_frames_; }
  // first_id() <= `id` < size().
  std::span<const Frame> Frames(uint32_t id) const {
    const Stack& s = stacks_[id - first_id_];
    return std::span<const Frame>(arena_.data() + s.offset, s.length);
  }
  const StackKey& Key(uint32_t id) const { return stacks_[id - first_id_].key; }
  uint32_t Event(uint32_t id) const { return Key(id).event; }
  uint32_t Comm(uint32_t id) const { return Key(id).comm; }
  uint32_t Pid(uint32_t id) const { return Key(id).pid; }
  uint32_t Tid(uint32_t id) const { return Key(id).tid; }
  uint64_t Count(uint32_t id) const { return stacks_[id - first_id_].count; }
  uint64_t Weight(uint32_t id) const { return stacks_[id - first_id_].weight; }

  // Calls callback(id, count_delta, weight_delta) for every stack whose count or weight grew
  // since the previous call, in order of first growth, and resets the deltas. No allocation.
  void TakeDeltas(
      absl::FunctionRef<void(uint32_t id, uint64_t count_delta, uint64_t weight_delta)> callback);
  // The count deltas alone.
  void TakeCountDeltas(absl::FunctionRef<void(uint32_t id, uint64_t delta)> callback) {
    TakeDeltas([&](uint32_t id, uint64_t count, uint64_t) {
      if (count != 0) callback(id, count);
    });
  }

  static uint64_t DefaultHash(const StackKey& key, std::span<const Frame> frames);

 private:
  static constexpr uint32_t kEmptySlot = 0xffffffffu;
  struct Stack {
    uint64_t hash;
    uint64_t count;
    uint64_t weight;
    uint64_t taken;         // count already reported by TakeDeltas
    uint64_t weight_taken;  // weight already reported
    uint32_t offset;        // into arena_
    uint32_t length;
    StackKey key;
    bool dirty;
  };
  struct Slot {
    uint64_t hash;
    uint32_t id;  // kEmptySlot when free
  };

  // `index` = id - first_id_.
  void Add(uint32_t index, uint64_t count, uint64_t weight);

  size_t max_frames_;
  size_t max_stacks_;
  uint32_t first_id_ = 0;
  HashFn hash_;
  std::vector<Frame> arena_;     // reserved to max_frames_
  std::vector<Stack> stacks_;    // reserved to max_stacks_
  std::vector<Slot> slots_;      // power of two >= 2 * max_stacks_, linear probing
  std::vector<uint32_t> dirty_;  // reserved to max_stacks_
};

}  // namespace wick

#endif  // WICK_STACK_MAP_H_
