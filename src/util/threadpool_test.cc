#include "util/threadpool.h"

#include <gtest/gtest.h>

#include <thread>

#include <atomic>
#include <mutex>
#include <set>
#include <vector>

namespace r1 {
namespace {

TEST(ThreadPool, RunCallsEveryThreadOnce) {
  for (int n : {1, 2, 3, 8}) {
    ThreadPool pool(n);
    EXPECT_EQ(pool.size(), n);
    std::mutex mu;
    std::multiset<int> seen;
    pool.run([&](int ith, int nth) {
      EXPECT_EQ(nth, n);
      std::lock_guard<std::mutex> lock(mu);
      seen.insert(ith);
    });
    ASSERT_EQ(seen.size(), static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) EXPECT_EQ(seen.count(i), 1u);
  }
}

TEST(ThreadPool, DefaultSizeIsHardwareConcurrency) {
  ThreadPool pool(0);
  EXPECT_GE(pool.size(), 1);
}

TEST(ThreadPool, ParallelForCoversRangeExactlyOnceInGrainMultiples) {
  ThreadPool pool(4);
  for (int64_t n : {1, 5, 16, 17, 1000, 1001}) {
    for (int64_t grain : {1, 4, 16, 2000}) {
      std::vector<std::atomic<int>> hits(n);
      pool.parallel_for(n, grain, [&](int64_t b, int64_t e) {
        EXPECT_LT(b, e);
        EXPECT_EQ(b % grain, 0) << "chunk start not a multiple of the grain";
        EXPECT_TRUE(e == n || e % grain == 0);
        for (int64_t i = b; i < e; ++i) hits[i]++;
      });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "n=" << n << " grain=" << grain << " i=" << i;
    }
  }
}

TEST(ThreadPool, ManySmallJobsInARow) {
  // Exercises the spin / sleep hand-off: thousands of back-to-back jobs must all complete.
  ThreadPool pool(3);
  std::atomic<int64_t> total{0};
  for (int it = 0; it < 5000; ++it) pool.run([&](int ith, int) { total += ith + 1; });
  EXPECT_EQ(total.load(), 5000 * (1 + 2 + 3));
}

TEST(ThreadPool, WakesAfterWorkersFellAsleep) {
  ThreadPool pool(2);
  std::atomic<int> count{0};
  pool.run([&](int, int) { count++; });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // past the spin phase
  pool.run([&](int, int) { count++; });
  EXPECT_EQ(count.load(), 4);
}

}  // namespace
}  // namespace r1
