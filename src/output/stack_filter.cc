#include "wick/stack_filter.h"

#include <algorithm>
#include <string_view>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "wick/profile.h"
#include "wick/status.h"

namespace wick {

bool StackFilter::Matches(const Recording& rec, const RecordedStack& stack) const {
  auto has = [](const auto& list, const auto& value) {
    return list.empty() || std::find(list.begin(), list.end(), value) != list.end();
  };
  return has(pids, stack.pid) && has(tids, stack.tid) &&
         (comms.empty() ||
          std::find(comms.begin(), comms.end(), CommName(rec, stack.comm)) != comms.end());
}

uint64_t ApplyStackFilter(const StackFilter& filter, Recording* rec) {
  uint64_t kept = 0;
  for (RecordedStack& stack : rec->stacks) {
    if (!filter.empty() && !filter.Matches(*rec, stack)) stack.count = 0;
    kept += stack.count;
  }
  return kept;
}

std::string PerThreadRootName(std::string_view comm, uint32_t pid, uint32_t tid) {
  return absl::StrCat(Sv(comm), "-", pid, "/", tid);
}

void SplitCommsByThread(Recording* rec) {
  absl::flat_hash_map<std::tuple<uint32_t, uint32_t, uint32_t>, uint32_t> roots;
  for (RecordedStack& stack : rec->stacks) {
    auto [it, inserted] = roots.try_emplace(std::make_tuple(stack.comm, stack.pid, stack.tid),
                                            static_cast<uint32_t>(rec->comms.size()));
    if (inserted) {
      RecordedComm c;
      c.id = it->second;
      c.name = PerThreadRootName(CommName(*rec, stack.comm), stack.pid, stack.tid);
      rec->comms.push_back(std::move(c));
    }
    stack.comm = it->second;
  }
}

}  // namespace wick
