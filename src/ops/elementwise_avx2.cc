// Element-wise ops on AVX2 + FMA; compiled with -mavx2 -mfma and called only when the CPU has them.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "ops/elementwise.h"
#include "ops/exp_poly.h"

namespace r1 {
namespace {

// e^x with exp512's polynomial (ops/exp_poly.h) and 2^n built in the exponent bits (AVX2 has no
// vscalefps): x is held under 88.3 so that n <= 127, and x > 88.72 gives +inf, x < -87.33 gives 0,
// as expf's range ends.
inline __m256 exp256(__m256 x) {
  using namespace exp_poly;
  const __m256 xc = _mm256_min_ps(x, _mm256_set1_ps(88.3f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Hi), xc);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Lo), r);
  __m256 p = _mm256_set1_ps(kCoef[0]);
  for (int i = 1; i < 7; ++i) p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kCoef[i]));
  const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  __m256 e = _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
  e = _mm256_blendv_ps(e, _mm256_set1_ps(INFINITY), _mm256_cmp_ps(x, _mm256_set1_ps(88.72283f), _CMP_GT_OQ));
  return _mm256_blendv_ps(e, _mm256_setzero_ps(), _mm256_cmp_ps(x, _mm256_set1_ps(-87.33654f), _CMP_LT_OQ));
}

}  // namespace

// silu(g) · u, 8 at a time; the tail as the scalar loop.
void swiglu_avx2(float* out, const float* gate, const float* up, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i), u = _mm256_loadu_ps(up + i);
    const __m256 e = exp256(_mm256_sub_ps(_mm256_setzero_ps(), g));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)), u));
  }
  for (; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

// As the scalar softmax (the sum in double, an all -inf row all zeros), 8 at a time; the tail with expf.
float softmax_avx2(float* x, int64_t n) {
  const float ninf = -std::numeric_limits<float>::infinity();
  __m256 mx = _mm256_set1_ps(ninf);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) mx = _mm256_max_ps(mx, _mm256_loadu_ps(x + i));
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, mx);
  float max = *std::max_element(lanes, lanes + 8);
  for (int64_t j = i; j < n; ++j) max = std::max(max, x[j]);
  if (max == ninf) {
    std::fill(x, x + n, 0.0f);
    return max;
  }
  __m256d sum = _mm256_setzero_pd();
  const __m256 vmax = _mm256_set1_ps(max);
  for (i = 0; i + 8 <= n; i += 8) {
    const __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmax));
    _mm256_storeu_ps(x + i, e);
    sum = _mm256_add_pd(sum, _mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(e)), _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1))));
  }
  alignas(32) double halves[4];
  _mm256_store_pd(halves, sum);
  double total = halves[0] + halves[1] + halves[2] + halves[3];
  for (int64_t j = i; j < n; ++j) total += (x[j] = std::exp(x[j] - max));
  const float inv = static_cast<float>(1.0 / total);
  for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), _mm256_set1_ps(inv)));
  for (int64_t j = i; j < n; ++j) x[j] *= inv;
  return max + static_cast<float>(std::log(total));
}

}  // namespace r1
