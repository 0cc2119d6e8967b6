#include "util/sample_stats.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>
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

TEST(MemoryUsage, ReadsKibFieldsOfProcFiles) {
  const std::string path = ::testing::TempDir() + "/r1_proc_fields";
  {
    std::ofstream f(path);
    f << "Rss:              123 kB\nAnonHugePages:   4096 kB\nSwap: 0 kB\nBroken:\n";
  }
  EXPECT_EQ(proc_kib_field(path.c_str(), "AnonHugePages:"), int64_t{4096} * 1024);
  EXPECT_EQ(proc_kib_field(path.c_str(), "Rss:"), 123 * 1024);
  EXPECT_EQ(proc_kib_field(path.c_str(), "Swap:"), 0);
  EXPECT_EQ(proc_kib_field(path.c_str(), "AnonHuge:"), -1);  // a prefix of a key is not the key
  EXPECT_EQ(proc_kib_field(path.c_str(), "Broken:"), -1);    // no number
  EXPECT_EQ(proc_kib_field((path + ".missing").c_str(), "Rss:"), -1);
  std::remove(path.c_str());
  // This process's huge pages are part of its resident memory.
  const int64_t huge = anon_huge_page_bytes();
  EXPECT_GE(huge, 0);
  EXPECT_LE(huge, current_rss_bytes());
}

}  // namespace
}  // namespace r1
