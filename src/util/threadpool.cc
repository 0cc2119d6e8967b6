#include "util/threadpool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "core/error.h"

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

  // run_items: each thread's share of items left, [front, back) packed as front | back << 32, on a
  // cache line of its own. The owner takes from the front, the others from the back.
  struct alignas(64) Share {
    std::atomic<uint64_t> range{0};
  };
  std::unique_ptr<Share[]> shares;

  // record_step_times: the caller's clock readings (only the caller's thread touches these).
  using Clock = std::chrono::steady_clock;
  bool recording = false;
  Clock::time_point last_end{};  // the end of the last recorded step; the epoch before the first
  StepTimes times;

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
  impl_->shares.reset(new Impl::Share[size_t(n_threads)]);
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
  Impl& p = *impl_;
  const bool record = p.recording;
  Impl::Clock::time_point start{};
  if (record) {
    start = Impl::Clock::now();
    if (p.last_end != Impl::Clock::time_point{}) p.times.between_s += std::chrono::duration<double>(start - p.last_end).count();
  }
  if (n_threads_ == 1) {
    fn(0, 1);
    if (record) {
      p.times.steps++;
      p.last_end = Impl::Clock::now();
    }
    return;
  }
  p.job = &fn;
  p.done.store(0, std::memory_order_relaxed);
  {
    // Taking the lock orders the bump against a worker that is about to sleep.
    std::lock_guard<std::mutex> lock(p.mu);
    p.generation.fetch_add(1, std::memory_order_acq_rel);
  }
  p.wake.notify_all();
  fn(0, n_threads_);
  const Impl::Clock::time_point own_done = record ? Impl::Clock::now() : start;
  const int others = n_threads_ - 1;
  for (int spin = 0; p.done.load(std::memory_order_acquire) != others; ++spin) {
    if (spin < Impl::kSpinIterations) {
      R1_CPU_RELAX();
    } else {
      std::this_thread::yield();
    }
  }
  if (record) {
    p.last_end = Impl::Clock::now();
    p.times.end_wait_s += std::chrono::duration<double>(p.last_end - own_done).count();
    p.times.steps++;
  }
}

void ThreadPool::record_step_times(bool on) {
  impl_->recording = on;
  if (on) {
    impl_->times = StepTimes{};
    impl_->last_end = Impl::Clock::time_point{};
  }
}

ThreadPool::StepTimes ThreadPool::step_times() const { return impl_->times; }

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

namespace {

constexpr uint64_t pack_range(uint64_t front, uint64_t back) { return front | back << 32; }

// A run of items from a share: its owner takes a quarter of what is left from the front (at least
// one item), another thread one item from the back. {-1, -1} when the share is empty.
std::pair<int64_t, int64_t> take_items(std::atomic<uint64_t>& range, bool owner) {
  uint64_t r = range.load(std::memory_order_acquire);
  for (;;) {
    const uint64_t front = r & 0xFFFFFFFFu, back = r >> 32;
    if (front >= back) return {-1, -1};
    const uint64_t n = owner ? std::max<uint64_t>(1, (back - front) / 4) : 1;
    const uint64_t next = owner ? pack_range(front + n, back) : pack_range(front, back - 1);
    if (range.compare_exchange_weak(r, next, std::memory_order_acq_rel, std::memory_order_acquire))
      return owner ? std::pair<int64_t, int64_t>(front, front + n) : std::pair<int64_t, int64_t>(back - 1, back);
  }
}

}  // namespace

void ThreadPool::run_items(int64_t n_items, const std::function<void(int, int64_t, int64_t)>& fn) {
  if (n_items <= 0) return;
  if (n_threads_ == 1 || n_items == 1) return fn(0, 0, n_items);
  if (n_items >= (int64_t{1} << 32)) fail("thread pool: ", n_items, " items in one step (at most 2^32 - 1)");
  Impl::Share* shares = impl_->shares.get();
  const int nt = n_threads_;
  for (int t = 0; t < nt; ++t)  // published to the workers by run()'s release of the job
    shares[t].range.store(pack_range(uint64_t(n_items * t / nt), uint64_t(n_items * (t + 1) / nt)),
                          std::memory_order_relaxed);
  run([&](int tid, int) {
    for (;;) {
      const auto [b, e] = take_items(shares[tid].range, true);
      if (b < 0) break;
      fn(tid, b, e);
    }
    for (;;) {
      int victim = -1;
      uint64_t most = 0;
      for (int t = 0; t < nt; ++t) {
        const uint64_t r = shares[t].range.load(std::memory_order_acquire);
        const uint64_t front = r & 0xFFFFFFFFu, back = r >> 32;
        if (back > front && back - front > most) most = back - front, victim = t;
      }
      if (victim < 0) return;
      const auto [b, e] = take_items(shares[victim].range, false);
      if (b >= 0) fn(tid, b, e);
    }
  });
}

void run_jobs_on_threads(size_t n_jobs, const std::function<void(size_t)>& job, unsigned max_threads) {
  std::atomic<size_t> next{0};
  std::mutex failed_mutex;
  std::exception_ptr failed;
  auto work = [&] {
    for (size_t j; (j = next.fetch_add(1)) < n_jobs;) try {
        job(j);
      } catch (...) {
        const std::lock_guard<std::mutex> lock(failed_mutex);
        if (!failed) failed = std::current_exception();
        next.store(n_jobs);
      }
  };
  const size_t n_threads = std::min<size_t>({std::max(1u, std::thread::hardware_concurrency()), std::max(1u, max_threads), n_jobs});
  std::vector<std::thread> helpers;
  for (size_t i = 1; i < n_threads; ++i) helpers.emplace_back(work);
  work();
  for (std::thread& h : helpers) h.join();
  if (failed) std::rethrow_exception(failed);
}

ThreadPool& serial_pool() {
  thread_local ThreadPool serial(1);
  return serial;
}

}  // namespace r1
