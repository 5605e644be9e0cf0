#include <cerrno>

#include "testing/testing.h"
#include "wick/byte_reader.h"
#include "wick/stats.h"
#include "wick/status.h"

namespace wick {
namespace {

TEST(ByteReaderTest, RefusesToReadPastEnd) {
  const std::byte data[6] = {std::byte{1}, std::byte{0}, std::byte{0},
                             std::byte{0}, std::byte{7}, std::byte{8}};
  ByteReader r(data);
  uint32_t v = 0;
  ASSERT_TRUE(r.Read(&v));
  EXPECT_EQ(v, 1u);
  EXPECT_EQ(r.remaining(), 2u);
  uint32_t w = 0;
  EXPECT_FALSE(r.Read(&w));
  EXPECT_FALSE(r.ok());
  uint8_t b = 0;
  EXPECT_FALSE(r.Read(&b)) << "a failed reader stays failed";
}

TEST(ByteReaderTest, ArrayCountOverflowFails) {
  const std::byte data[8] = {};
  ByteReader r(data);
  std::span<const std::byte> out;
  EXPECT_FALSE(r.ReadArray<uint64_t>(UINT64_MAX / 4, &out));
}

TEST(ByteReaderTest, StringStopsAtNul) {
  const char text[8] = {'a', 'b', 0, 'x', 'y', 'z', 0, 0};
  ByteReader r(std::as_bytes(std::span(text)));
  std::string_view s;
  ASSERT_TRUE(r.ReadString(8, &s));
  EXPECT_EQ(s, "ab");
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(StatusTest, ErrnoErrorNamesObjectAndHint) {
  absl::Status s = ErrnoError(EACCES, "perf_event_open(cpu-clock, pid 1)", "lower paranoid");
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(), "perf_event_open(cpu-clock, pid 1): Permission denied; lower paranoid");
  EXPECT_EQ(Annotate(s, "record").message(), "record: " + std::string(s.message()));
}

TEST(StatsTest, NamesRoundTrip) {
  for (size_t i = 0; i < kNumStats; ++i) {
    Stat s;
    ASSERT_TRUE(StatFromName(GetStatInfo(static_cast<Stat>(i)).name, &s));
    EXPECT_EQ(static_cast<size_t>(s), i);
  }
  Stats a, b;
  a.Add(Stat::kSamples, 3);
  b.Add(Stat::kSamples, 4);
  a.Merge(b);
  EXPECT_EQ(a.Get(Stat::kSamples), 7u);
}

}  // namespace
}  // namespace wick
