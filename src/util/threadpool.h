// A fixed pool of worker threads, created once; run() hands every thread a share of the work and
// returns when all are done. Workers spin briefly before sleeping so that the many small jobs of
// one-token decode do not pay a wake-up each.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>

namespace r1 {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);  // n_threads <= 0: hardware concurrency
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }
  // Calls fn(thread_index, n_threads) on every thread (the caller is thread 0) and waits.
  void run(const std::function<void(int, int)>& fn);
  // Splits [0, n) into contiguous chunks (multiples of `grain`) and calls fn(begin, end).
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);
  // Calls fn(thread_index, begin, end) on runs of the items [0, n_items), each item once, in one step.
  // Thread t owns the t-th contiguous share of the items and walks it in order, taking a quarter of
  // what is left of it per run (few calls, long runs); a thread done with its share then takes items
  // one at a time from the end of the share with the most left. For one-token decode's weight rows:
  // equal shares finish apart when the machine slows one thread down for a while, and the waits for
  // the last thread were ~8-12% of the threads' time in MoE decode.
  void run_items(int64_t n_items, const std::function<void(int, int64_t, int64_t)>& fn);

  // Where one-token decode's time goes around the parallel steps (`r1 bench --steps`), recorded by
  // the caller's thread while on: the steps run, its time from the end of one step to the start of
  // the next (its serial work, while the other threads wait), and its waits at the steps' ends for
  // the others to finish.
  struct StepTimes {
    int64_t steps = 0;
    double between_s = 0, end_wait_s = 0;
  };
  void record_step_times(bool on);  // turning it on clears what was recorded
  StepTimes step_times() const;

 private:
  struct Impl;
  Impl* impl_;
  int n_threads_;
};

// Jobs [0, n_jobs) on up to max_threads short-lived threads (the caller is one of them), each job
// taken by the next free thread: for one-off work outside any pool's life, such as a model load. The
// first exception a job throws stops the handing out of jobs and is rethrown once every thread is done.
void run_jobs_on_threads(size_t n_jobs, const std::function<void(size_t)>& job, unsigned max_threads = 8);

// This thread's one-thread pool: for kernels called inside work that run() has already split
// over the threads (each thread runs whole items; no nested hand-off).
ThreadPool& serial_pool();

}  // namespace r1
