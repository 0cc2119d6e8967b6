// How the one-token kernels prefetch the weights they stream: a software prefetch of each line a
// few KiB ahead of their loads, with the hint that suits the CPU. The answer differs by CPU
// (PERFORMANCE.md, Kernels, sessions 34-40):
//   - AMD Zen 5 (EPYC, 2 vCPUs): prefetchnta 4 KiB ahead read 1.10-1.55x as fast as none in
//     Qwen-1.5B decode (Q8_0, Q4_0; the AVX2, float and coded BF16 kernels alike), prefetcht0 / t1
//     0.84-0.98x;
//   - Intel (Xeon, family 6 model 207, 2 vCPUs): prefetchnta halves a pure read (8.3 against 15.7
//     GB/s on one thread) and slows kernels whose rows sit in L2; prefetcht0 4 KiB ahead read 1.6x
//     as fast as none, 1.4x as fast as prefetchnta, in the Q4_0 interleaved kernel from memory.
// So non-temporal on AMD CPUs, into L1 elsewhere. R1_STREAM_PREFETCH=nta|t0|t1|none overrides (A/B
// timing); any other value is an error. The products do not depend on it.
#pragma once
#include <atomic>
#include <cstddef>
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

namespace r1 {

enum class StreamPrefetch { kNone, kNonTemporal, kL1, kL2 };

// The CPU's choice, or the environment's.
StreamPrefetch decide_stream_prefetch();

extern std::atomic<int> g_stream_prefetch;  // -1 until first asked

inline StreamPrefetch stream_prefetch() {
  int v = g_stream_prefetch.load(std::memory_order_relaxed);
  if (v < 0) {
    v = static_cast<int>(decide_stream_prefetch());
    g_stream_prefetch.store(v, std::memory_order_relaxed);
  }
  return static_cast<StreamPrefetch>(v);
}

// Sets the hint for the rest of the process (tests: the products must not depend on it).
inline void set_stream_prefetch(StreamPrefetch hint) { g_stream_prefetch.store(static_cast<int>(hint)); }

#if defined(__x86_64__) || defined(__i386__)
// One line at p, with the hint (a constant per run: the branch is predicted).
inline void prefetch_stream_line(const void* p, StreamPrefetch hint) {
  const char* c = static_cast<const char*>(p);
  switch (hint) {
    case StreamPrefetch::kNonTemporal: _mm_prefetch(c, _MM_HINT_NTA); break;
    case StreamPrefetch::kL1: _mm_prefetch(c, _MM_HINT_T0); break;
    case StreamPrefetch::kL2: _mm_prefetch(c, _MM_HINT_T1); break;
    case StreamPrefetch::kNone: break;
  }
}

// Every line of [p, p + bytes), bytes a multiple of 64.
inline void prefetch_stream(const void* p, size_t bytes, StreamPrefetch hint) {
  for (size_t off = 0; off < bytes; off += 64) prefetch_stream_line(static_cast<const char*>(p) + off, hint);
}
#endif

}  // namespace r1
