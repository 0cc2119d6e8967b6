#include "util/threadpool.h"

#include <gtest/gtest.h>

#include <thread>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <utility>
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

TEST(ThreadPool, RunItemsCoversEveryItemOnceAndOwnersWalkForward) {
  for (int n_threads : {1, 2, 3}) {
    ThreadPool pool(n_threads);
    for (int64_t n : {1, 2, 7, 64, 1000}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      std::vector<std::vector<std::pair<int64_t, int64_t>>> runs(static_cast<size_t>(n_threads));
      pool.run_items(n, [&](int tid, int64_t b, int64_t e) {
        ASSERT_GE(b, 0);
        ASSERT_LT(b, e);
        ASSERT_LE(e, n);
        for (int64_t i = b; i < e; ++i) hits[size_t(i)]++;
        runs[size_t(tid)].push_back({b, e});
      });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[size_t(i)].load(), 1) << "threads " << n_threads << " n " << n;
      // Each thread's runs of its own share come first, in order and back to back; what it took from
      // the others' shares after them is one item a run.
      for (int t = 0; t < n_threads; ++t) {
        const auto& v = runs[size_t(t)];
        const int64_t share0 = n * t / n_threads, share1 = n * (t + 1) / n_threads;
        size_t j = 0;
        for (int64_t at = share0; j < v.size() && v[j].first == at && v[j].second <= share1; at = v[j++].second) {
        }
        for (; j < v.size(); ++j) {
          EXPECT_TRUE(v[j].first < share0 || v[j].first >= share1) << "run at " << v[j].first << " of its own share out of order";
          EXPECT_EQ(v[j].second, v[j].first + 1);
        }
      }
    }
  }
}

TEST(ThreadPool, RunItemsLetsAFreeThreadTakeASlowThreadsItems) {
  // Thread 1 stalls in its first run until thread 0 has taken some of thread 1's share: without the
  // taking from the back, this would never finish.
  ThreadPool pool(2);
  const int64_t n = 400;
  std::atomic<int> taken_from_1{0};
  std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
  pool.run_items(n, [&](int tid, int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) hits[size_t(i)]++;
    if (tid == 0 && b >= n / 2) taken_from_1 += int(e - b);
    if (tid == 1 && b == n / 2) {
      while (taken_from_1.load() < 5) std::this_thread::yield();
    }
  });
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[size_t(i)].load(), 1);
  EXPECT_GE(taken_from_1.load(), 5);
}

TEST(ThreadPool, ManySmallJobsInARow) {
  // Exercises the spin / sleep hand-off: thousands of back-to-back jobs must all complete.
  ThreadPool pool(3);
  std::atomic<int64_t> total{0};
  for (int it = 0; it < 5000; ++it) pool.run([&](int ith, int) { total += ith + 1; });
  EXPECT_EQ(total.load(), 5000 * (1 + 2 + 3));
}

// Three steps 50 ms apart, in each of which thread 1 works 10 ms longer than the caller: two gaps of
// >= 50 ms between steps, three waits of ~10 ms at their ends; nothing before the first step or
// while off. The upper bounds (loose for a loaded machine's late wake-ups) catch time counted in the
// wrong place: a gap counted as a wait, or the 150 ms before the first step.
TEST(ThreadPool, RecordsTimeBetweenStepsAndWaitsAtTheirEnds) {
  using std::chrono::milliseconds;
  ThreadPool pool(2);
  pool.run([](int, int) {});  // before recording: not counted
  std::this_thread::sleep_for(milliseconds(30));
  pool.record_step_times(true);
  std::this_thread::sleep_for(milliseconds(150));  // before the first recorded step: not counted
  for (int step = 0; step < 3; ++step) {
    if (step > 0) std::this_thread::sleep_for(milliseconds(50));
    pool.run([](int tid, int) {
      if (tid == 1) std::this_thread::sleep_for(milliseconds(10));
    });
  }
  const ThreadPool::StepTimes t = pool.step_times();
  EXPECT_EQ(t.steps, 3);
  EXPECT_GE(t.between_s, 0.100);
  EXPECT_LT(t.between_s, 0.100 + 0.090);
  EXPECT_GE(t.end_wait_s, 0.025);
  EXPECT_LT(t.end_wait_s, 0.030 + 0.060);

  pool.record_step_times(false);
  pool.run([](int, int) {});
  EXPECT_EQ(pool.step_times().steps, 3);  // kept, not added to
  pool.record_step_times(true);
  EXPECT_EQ(pool.step_times().steps, 0);  // cleared

  ThreadPool one(1);  // the caller alone: steps and gaps, no waits
  one.record_step_times(true);
  one.run([](int, int) {});
  std::this_thread::sleep_for(milliseconds(5));
  one.run([](int, int) {});
  EXPECT_EQ(one.step_times().steps, 2);
  EXPECT_GE(one.step_times().between_s, 0.005);
  EXPECT_EQ(one.step_times().end_wait_s, 0.0);
}

TEST(ThreadPool, WakesAfterWorkersFellAsleep) {
  ThreadPool pool(2);
  std::atomic<int> count{0};
  pool.run([&](int, int) { count++; });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // past the spin phase
  pool.run([&](int, int) { count++; });
  EXPECT_EQ(count.load(), 4);
}

// Every job runs exactly once; a job's exception comes back to the caller after the threads are done
// (no job starts after it), and no jobs is no call.
TEST(ThreadPool, RunJobsOnThreadsRunsEachOnceAndRethrows) {
  std::vector<std::atomic<int>> runs(100);
  run_jobs_on_threads(runs.size(), [&](size_t j) { runs[j].fetch_add(1); });
  for (size_t j = 0; j < runs.size(); ++j) EXPECT_EQ(runs[j].load(), 1) << j;
  std::atomic<int> after{0};
  EXPECT_THROW(run_jobs_on_threads(1000, [&](size_t j) {
                 if (j == 3) throw std::runtime_error("job 3");
                 after.fetch_add(1);
               }, 1),
               std::runtime_error);
  EXPECT_EQ(after.load(), 3);  // one thread: jobs 0..2 ran, then job 3 threw and nothing after it
  run_jobs_on_threads(0, [](size_t) { FAIL() << "no job to run"; });
}

}  // namespace
}  // namespace r1
