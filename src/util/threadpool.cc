#include "util/threadpool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define R1_CPU_RELAX() _mm_pause()
#else
#define R1_CPU_RELAX() std::this_thread::yield()
#endif

namespace r1 {

// A job is published by bumping `generation`; each worker runs it once, then bumps `done`.
// Workers spin on `generation` for a short while (decode issues a job every few microseconds)
// and then sleep on the condition variable, so an idle pool costs no CPU.
struct ThreadPool::Impl {
  static constexpr int kSpinIterations = 1 << 11;

  std::vector<std::thread> workers;
  const std::function<void(int, int)>* job = nullptr;
  std::atomic<uint64_t> generation{0};
  std::atomic<int> done{0};
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::condition_variable wake;
  int n_threads = 1;

  void worker_loop(int index) {
    uint64_t seen = 0;
    for (;;) {
      uint64_t gen = generation.load(std::memory_order_acquire);
      for (int spin = 0; gen == seen && spin < kSpinIterations; ++spin) {
        R1_CPU_RELAX();
        gen = generation.load(std::memory_order_acquire);
      }
      if (gen == seen) {
        std::unique_lock<std::mutex> lock(mu);
        wake.wait(lock, [&] { return generation.load(std::memory_order_acquire) != seen || stop.load(); });
        gen = generation.load(std::memory_order_acquire);
      }
      if (stop.load(std::memory_order_acquire)) return;
      seen = gen;
      (*job)(index, n_threads);
      done.fetch_add(1, std::memory_order_acq_rel);
    }
  }
};

ThreadPool::ThreadPool(int n_threads) : impl_(new Impl) {
  if (n_threads <= 0) n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  n_threads_ = n_threads;
  impl_->n_threads = n_threads;
  for (int i = 1; i < n_threads; ++i) impl_->workers.emplace_back([this, i] { impl_->worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stop.store(true);
    impl_->generation.fetch_add(1, std::memory_order_acq_rel);
  }
  impl_->wake.notify_all();
  for (auto& t : impl_->workers) t.join();
  delete impl_;
}

void ThreadPool::run(const std::function<void(int, int)>& fn) {
  if (n_threads_ == 1) {
    fn(0, 1);
    return;
  }
  Impl& p = *impl_;
  p.job = &fn;
  p.done.store(0, std::memory_order_relaxed);
  {
    // Taking the lock orders the bump against a worker that is about to sleep.
    std::lock_guard<std::mutex> lock(p.mu);
    p.generation.fetch_add(1, std::memory_order_acq_rel);
  }
  p.wake.notify_all();
  fn(0, n_threads_);
  const int others = n_threads_ - 1;
  for (int spin = 0; p.done.load(std::memory_order_acquire) != others; ++spin) {
    if (spin < Impl::kSpinIterations) {
      R1_CPU_RELAX();
    } else {
      std::this_thread::yield();
    }
  }
}

void ThreadPool::parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t chunks = (n + grain - 1) / grain;
  if (chunks == 1 || n_threads_ == 1) {
    fn(0, n);
    return;
  }
  run([&](int ith, int nth) {
    // Thread ith takes chunks [c0, c1): contiguous, sizes differing by at most one chunk.
    const int64_t c0 = chunks * ith / nth, c1 = chunks * (ith + 1) / nth;
    const int64_t begin = c0 * grain, end = std::min(n, c1 * grain);
    if (begin < end) fn(begin, end);
  });
}

ThreadPool& serial_pool() {
  thread_local ThreadPool serial(1);
  return serial;
}

}  // namespace r1
