// A 16 × 16 matrix of 32-bit elements (16 vectors, one row each) transposed in registers: 4 stages of
// swapping the off-diagonal h × h blocks (h = 8, 4, 2, 1), two vpermt2d per pair of vectors. The
// rows-in-lanes prefill kernels lay out weights with it (gemm_avx512bf16.cc: bf16 pairs,
// gemm_float_avx512.cc: float32); a gather per output vector instead waited on 16 rows' cache
// lines at once (~9% of a BF16 prefill in perf).
// In an unnamed namespace: each including file, built for its own CPU, keeps its own copy.
#pragma once
#include <immintrin.h>

#include <array>
#include <cstdint>

namespace r1 {
namespace {

class Transpose16x16 {
 public:
  Transpose16x16() {
    for (int s = 0; s < 4; ++s)
      for (int o = 0; o < 2; ++o) index_[s][o] = _mm512_loadu_si512(kTable[s][o].data());
  }
  // v[j] lane i becomes v[i] lane j.
  void operator()(__m512i v[16]) const {
    for (int s = 0; s < 4; ++s) {
      const int h = 8 >> s;
      for (int j = 0; j < 16; ++j) {
        if (j & h) continue;
        const __m512i x = v[j], y = v[j + h];
        v[j] = _mm512_permutex2var_epi32(x, index_[s][0], y);
        v[j + h] = _mm512_permutex2var_epi32(x, index_[s][1], y);
      }
    }
  }

 private:
  // Per stage (h = 8 >> s): row i keeps its left h × h block and takes row i+h's left block; row i+h
  // takes row i's right block and keeps its own.
  static constexpr auto kTable = [] {
    std::array<std::array<std::array<int32_t, 16>, 2>, 4> t{};
    for (int s = 0; s < 4; ++s)
      for (int p = 0, h = 8 >> s; p < 16; ++p) {
        t[s][0][p] = (p & h) ? 16 + p - h : p;
        t[s][1][p] = (p & h) ? 16 + p : p + h;
      }
    return t;
  }();
  __m512i index_[4][2];
};

}  // namespace
}  // namespace r1
