#include "wick/stats.h"

namespace wick {
namespace {

constexpr StatInfo kInfos[] = {
#define WICK_STAT_INFO(id, name, sev, desc) {name, Severity::sev, desc},
    WICK_STATS(WICK_STAT_INFO)
#undef WICK_STAT_INFO
};
static_assert(sizeof(kInfos) / sizeof(kInfos[0]) == kNumStats);

}  // namespace

const StatInfo& GetStatInfo(Stat stat) { return kInfos[static_cast<size_t>(stat)]; }

bool StatFromName(std::string_view name, Stat* out) {
  for (size_t i = 0; i < kNumStats; ++i) {
    if (kInfos[i].name == name) {
      *out = static_cast<Stat>(i);
      return true;
    }
  }
  return false;
}

}  // namespace wick
