#include "util/sample_stats.h"

#include <gtest/gtest.h>

#include <vector>

#include "util/memory_usage.h"

namespace r1 {
namespace {

TEST(SampleStats, MeanAndSampleStddev) {
  SampleStats s = sample_stats({2, 4, 4, 4, 5, 5, 7, 9});
  EXPECT_DOUBLE_EQ(s.mean, 5.0);
  EXPECT_NEAR(s.stddev, 2.138089935, 1e-8);  // sqrt(32/7)
  EXPECT_DOUBLE_EQ(sample_stats({3}).stddev, 0.0);
  EXPECT_DOUBLE_EQ(sample_stats({}).mean, 0.0);
}

TEST(SampleStats, Median) {
  EXPECT_DOUBLE_EQ(median({5, 1, 3}), 3.0);
  EXPECT_DOUBLE_EQ(median({4, 1, 3, 2}), 2.5);
  EXPECT_DOUBLE_EQ(median({}), 0.0);
}

TEST(MemoryUsage, PeakRssGrowsWithTouchedMemory) {
  const int64_t before = peak_rss_bytes();
  EXPECT_GT(before, 0);
  EXPECT_GT(current_rss_bytes(), 0);
  const size_t n = size_t{64} << 20;
  std::vector<char> big(n, 1);  // touches 64 MiB
  EXPECT_GE(peak_rss_bytes(), static_cast<int64_t>(n));
  EXPECT_GE(current_rss_bytes(), static_cast<int64_t>(n));
  EXPECT_EQ(big[n - 1], 1);
}

}  // namespace
}  // namespace r1
