#include "wick/stats.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

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

std::vector<std::string> FormatStats(const Stats& stats, std::span<const Stat> skip) {
  uint64_t unwinds = 0;
  for (size_t i = static_cast<size_t>(Stat::kUnwindComplete);
       i <= static_cast<size_t>(Stat::kUnwindError); ++i) {
    unwinds += stats.Get(static_cast<Stat>(i));
  }
  std::vector<std::string> lines;
  for (Severity severity : {Severity::kError, Severity::kDataLoss, Severity::kInfo}) {
    for (size_t i = 0; i < kNumStats; ++i) {
      const Stat stat = static_cast<Stat>(i);
      const StatInfo& info = kInfos[i];
      const uint64_t value = stats.Get(stat);
      if (value == 0 || info.severity != severity ||
          std::find(skip.begin(), skip.end(), stat) != skip.end()) {
        continue;
      }
      // Counters of nanoseconds (names ending in _ns) read better as seconds.
      std::string line = info.name.ends_with("_ns")
                             ? absl::StrFormat("%.3f s %s", double(value) / 1e9, info.description)
                             : absl::StrCat(value, " ", std::string(info.description));
      if (i >= static_cast<size_t>(Stat::kUnwindComplete) &&
          i <= static_cast<size_t>(Stat::kUnwindError)) {
        absl::StrAppend(&line, absl::StrFormat(" (%.1f%% of unwinds)",
                                               100.0 * double(value) / double(unwinds)));
      }
      absl::StrAppend(&line, " [", std::string(info.name), "]");
      lines.push_back(std::move(line));
    }
  }
  return lines;
}

}  // namespace wick
