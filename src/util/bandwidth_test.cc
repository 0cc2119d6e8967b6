#include "util/bandwidth.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "util/threadpool.h"

namespace r1 {
namespace {

TEST(Bandwidth, ReportsEveryStreamKernelWithPlausibleNumbers) {
  ThreadPool pool(2);
  const int64_t n = 1 << 20;  // 4 MiB arrays: quick; cache effects make it an upper bound only
  auto r = measure_bandwidth(pool, n, 3);
  ASSERT_EQ(r.size(), 5u);
  const char* names[] = {"read", "copy", "scale", "add", "triad"};
  const int64_t bytes[] = {4 * n, 8 * n, 8 * n, 12 * n, 12 * n};
  for (size_t i = 0; i < r.size(); ++i) {
    EXPECT_EQ(r[i].kernel, names[i]);
    EXPECT_EQ(r[i].bytes_per_rep, bytes[i]);
    EXPECT_GT(r[i].best_gbs, 0.1) << names[i];     // any machine moves > 100 MB/s
    EXPECT_LT(r[i].best_gbs, 100000.0) << names[i];  // and < 100 TB/s: the timer works
    EXPECT_GE(r[i].best_gbs, r[i].avg_gbs * 0.999) << names[i];
  }
}

TEST(Bandwidth, RejectsTinyArrays) {
  ThreadPool pool(1);
  EXPECT_THROW(measure_bandwidth(pool, 10, 1), Error);
  EXPECT_THROW(measure_bandwidth(pool, 1 << 12, 0), Error);
}

}  // namespace
}  // namespace r1
