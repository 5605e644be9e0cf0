// Decoders of perf.data's feature sections and of the perf records that carry the same
// data in pipe mode (format.h draws the bytes). Pure functions over outside bytes: every
// read is bounded, malformed input returns false and leaves what was decoded so far.
#ifndef WICK_SRC_PERF_DATA_FEATURE_SECTIONS_H_
#define WICK_SRC_PERF_DATA_FEATURE_SECTIONS_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "wick/perf_data.h"

namespace wick::perf_data_internal {

// An EVENT_DESC entry: the name perf gave the event with these ids.
struct EventDesc {
  std::string name;
  std::vector<uint64_t> ids;
};

// Whether ParseFeature() reads this feature (the others are skipped and counted).
bool IsReadFeature(uint32_t feature);

// Decodes feature section `feature` into *info (EVENT_DESC into *descs, for the caller to
// match against the attrs). False when the bytes do not hold what the feature should.
bool ParseFeature(uint32_t feature, std::span<const std::byte> bytes, PerfDataInfo* info,
                  std::vector<EventDesc>* descs);

// One perf_record_header_build_id (header included), from the BUILD_ID feature or a
// HEADER_BUILD_ID record.
bool ParseBuildIdRecord(std::span<const std::byte> record, PerfDataBuildId* out);

// The TRACING_DATA bytes: version, page size and every event format file.
bool ParseTracingData(std::span<const std::byte> bytes, PerfDataTracingData* out);

// The tracepoint id in a format file's "ID: N" line, 0 when none.
uint64_t TraceFormatId(std::string_view text);

}  // namespace wick::perf_data_internal

#endif  // WICK_SRC_PERF_DATA_FEATURE_SECTIONS_H_
