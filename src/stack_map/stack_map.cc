#include "wick/stack_map.h"

#include <algorithm>
#include <bit>
#include <limits>

namespace wick {
namespace {

// splitmix64's finalizer: a cheap full-avalanche mix of one word.
inline uint64_t Mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

// wyhash's folded multiply: one 64x64->128 multiply mixes two words.
inline uint64_t Mum(uint64_t a, uint64_t b) {
  unsigned __int128 r = static_cast<unsigned __int128>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}

}  // namespace

uint64_t StackMap::DefaultHash(const StackKey& key, std::span<const Frame> frames) {
  // One multiply per frame keeps hashing a 20-frame stack at a few nanoseconds; the final
  // Mix() spreads the result over the low bits that pick the slot.
  uint64_t h = (uint64_t{key.comm} << 32) ^ frames.size() ^ 0x9e3779b97f4a7c15ULL;
  h = Mum(h ^ ((uint64_t{key.pid} << 32) | key.tid), 0xe7037ed1a0b428dbULL ^ key.event);
  for (const Frame& f : frames) {
    const uint64_t tag = (uint64_t{f.binary} << 2) | static_cast<uint32_t>(f.kind);
    h = Mum(h ^ f.value, 0xa0761d6478bd642fULL ^ tag);
  }
  return Mix(h);
}

StackMap::StackMap(size_t max_frames_total, size_t max_stacks, HashFn hash, uint32_t first_id)
    // Offsets and ids are 32-bit; kEmptySlot is reserved.
    : max_frames_(std::min<size_t>(max_frames_total, std::numeric_limits<uint32_t>::max())),
      max_stacks_(std::min<size_t>(max_stacks, std::numeric_limits<uint32_t>::max() / 4)),
      first_id_(first_id),
      hash_(hash != nullptr ? hash : &DefaultHash) {
  arena_.reserve(max_frames_);
  stacks_.reserve(max_stacks_);
  dirty_.reserve(max_stacks_);
  // At most half full, so linear probing stays short and always finds an empty slot.
  slots_.assign(std::bit_ceil(std::max<size_t>(2 * max_stacks_, 2)), Slot{0, kEmptySlot});
}

std::optional<uint32_t> StackMap::Insert(const StackKey& key, std::span<const Frame> frames,
                                         uint64_t count, uint64_t weight) {
  const uint64_t hash = hash_(key, frames);
  const size_t mask = slots_.size() - 1;
  size_t i = static_cast<size_t>(hash) & mask;
  for (;; i = (i + 1) & mask) {
    Slot& slot = slots_[i];
    if (slot.id == kEmptySlot) break;
    if (slot.hash != hash) continue;
    Stack& s = stacks_[slot.id];
    // Equal hashes are only a hint: a different stack with the same hash gets its own slot.
    if (s.key != key || s.length != frames.size() ||
        !std::equal(frames.begin(), frames.end(), arena_.begin() + s.offset)) {
      continue;
    }
    Add(slot.id, count, weight);
    return first_id_ + slot.id;
  }
  if (stacks_.size() >= max_stacks_ || frames.size() > max_frames_ - arena_.size()) {
    return std::nullopt;
  }
  const uint32_t id = static_cast<uint32_t>(stacks_.size());
  // Both within the capacity reserved in the constructor: no allocation.
  stacks_.push_back(Stack{.hash = hash,
                          .count = 0,
                          .weight = 0,
                          .taken = 0,
                          .weight_taken = 0,
                          .offset = static_cast<uint32_t>(arena_.size()),
                          .length = static_cast<uint32_t>(frames.size()),
                          .key = key,
                          .dirty = false});
  arena_.insert(arena_.end(), frames.begin(), frames.end());
  slots_[i] = Slot{hash, id};
  Add(id, count, weight);
  return first_id_ + id;
}

void StackMap::Add(uint32_t index, uint64_t count, uint64_t weight) {
  Stack& s = stacks_[index];
  s.count += count;
  s.weight += weight;
  if ((count != 0 || weight != 0) && !s.dirty) {
    s.dirty = true;
    dirty_.push_back(index);  // each at most once: fits the reserved max_stacks_
  }
}

void StackMap::TakeDeltas(
    absl::FunctionRef<void(uint32_t id, uint64_t count_delta, uint64_t weight_delta)> callback) {
  for (uint32_t index : dirty_) {
    Stack& s = stacks_[index];
    s.dirty = false;
    const uint64_t count = s.count - s.taken, weight = s.weight - s.weight_taken;
    s.taken = s.count;
    s.weight_taken = s.weight;
    if (count != 0 || weight != 0) callback(first_id_ + index, count, weight);
  }
  dirty_.clear();
}

}  // namespace wick
