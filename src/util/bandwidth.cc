#include "util/bandwidth.h"

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "util/huge_pages.h"
#include "util/threadpool.h"
#include "util/timer.h"

namespace r1 {
namespace {

// The read kernel must read as fast as the decode kernels can (it is their ceiling): 32
// independent sums, so that the adds are not bound by the latency of their chains (with the
// baseline x86-64 target, 8 SSE accumulators), and the decode kernels' software prefetch 16 KiB
// ahead. With 8 sums and no prefetch one thread read ~27 GB/s while BM_gemv_cold's Q8_0 kernel
// read 38 GB/s.
float read_sum(const float* a, int64_t n) {
  constexpr int kSums = 32;  // 128 bytes per step
  constexpr int64_t kAhead = 16384 / sizeof(float);
  float s[kSums] = {};
  int64_t i = 0;
  for (; i + kSums <= n; i += kSums) {
    __builtin_prefetch(a + i + kAhead);
    __builtin_prefetch(a + i + kAhead + 16);
    for (int u = 0; u < kSums; ++u) s[u] += a[i + u];
  }
  for (; i < n; ++i) s[0] += a[i];
  float total = 0;
  for (float v : s) total += v;
  return total;
}

// One pass of read_sum over a[0, n) split between the pool's threads, in 10^9 bytes/s.
double read_pass(ThreadPool& pool, const float* a, int64_t n) {
  std::vector<float> partial(static_cast<size_t>(pool.size()), 0.0f);
  Timer t;
  pool.run([&](int ith, int nth) {
    const int64_t i0 = n * ith / nth, i1 = n * (ith + 1) / nth;
    partial[static_cast<size_t>(ith)] = read_sum(a + i0, i1 - i0);
  });
  const double gbs = static_cast<double>(n) * sizeof(float) / t.seconds() / 1e9;
  volatile float sink = 0;  // keeps the sums alive
  for (float p : partial) sink = sink + p;
  return gbs;
}

// ReadBandwidth's array length, checked before the array is made.
size_t read_floats(int64_t n_floats) {
  if (n_floats < 1024) fail("ReadBandwidth: need n_floats >= 1024");
  return static_cast<size_t>(n_floats);
}

}  // namespace

ReadBandwidth::ReadBandwidth(ThreadPool& pool, int64_t n_floats)
    : pool_(pool), n_(n_floats), a_(read_floats(n_floats), "bandwidth array") {
  pool.parallel_for(n_floats, 4096, [&](int64_t i0, int64_t i1) { std::fill(a_.data() + i0, a_.data() + i1, 1.0f); });
}

double ReadBandwidth::best_gbs(int reps) {
  double best = 0;
  for (int rep = 0; rep < reps; ++rep) best = std::max(best, read_pass(pool_, a_.data(), n_));
  return best;
}

std::vector<BandwidthResult> measure_bandwidth(ThreadPool& pool, int64_t n_floats, int reps) {
  if (n_floats < 1024 || reps < 1) fail("measure_bandwidth: need n_floats >= 1024 and reps >= 1");
  const size_t n = static_cast<size_t>(n_floats);
  // In 2 MiB pages, as the weights and caches are (util/huge_pages.h): from 4 KiB pages this machine
  // read far less at times (42-48 GB/s against a decode kernel's 77, PERFORMANCE.md session 38).
  // The pages stay untouched until each thread's first write below places its slice.
  HugeFloatArray arrays[3] = {{n, "bandwidth array"}, {n, "bandwidth array"}, {n, "bandwidth array"}};
  float *a = arrays[0].data(), *b = arrays[1].data(), *c = arrays[2].data();
  const int64_t bytes = n_floats * static_cast<int64_t>(sizeof(float));
  pool.parallel_for(n_floats, 4096, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) a[i] = 1.0f, b[i] = 2.0f, c[i] = 0.0f;
  });

  struct Kernel {
    const char* name;
    int64_t bytes;  // per repetition
  };
  const Kernel kernels[] = {{"read", bytes}, {"copy", 2 * bytes}, {"scale", 2 * bytes}, {"add", 3 * bytes},
                            {"triad", 3 * bytes}};
  std::vector<BandwidthResult> out;
  const float q = 3.0f;
  for (int k = 0; k < 5; ++k) {
    BandwidthResult r{kernels[k].name, 0, 0, kernels[k].bytes};
    double total = 0;
    for (int rep = 0; rep < reps; ++rep) {
      double gbs;
      if (k == 0) {
        gbs = read_pass(pool, a, n_floats);
      } else {
        Timer t;
        pool.run([&](int ith, int nth) {
          const int64_t i0 = n_floats * ith / nth, i1 = n_floats * (ith + 1) / nth;
          switch (k) {
            case 1: for (int64_t i = i0; i < i1; ++i) c[i] = a[i]; break;
            case 2: for (int64_t i = i0; i < i1; ++i) b[i] = q * c[i]; break;
            case 3: for (int64_t i = i0; i < i1; ++i) c[i] = a[i] + b[i]; break;
            default: for (int64_t i = i0; i < i1; ++i) a[i] = b[i] + q * c[i]; break;
          }
        });
        gbs = static_cast<double>(r.bytes_per_rep) / t.seconds() / 1e9;
      }
      r.best_gbs = std::max(r.best_gbs, gbs);
      total += gbs;
    }
    r.avg_gbs = total / reps;
    out.push_back(r);
  }
  return out;
}

}  // namespace r1
