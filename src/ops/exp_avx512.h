// A vector e^x for kernels compiled with AVX-512F (include only from such files).
#pragma once
#include <immintrin.h>

#include "ops/exp_poly.h"

namespace r1 {

// e^x to ~1 ulp for x ≤ 88.7 (larger gives +inf, x < −104 gives 0), as ops/exp_poly.h describes.
inline __m512 exp512(__m512 x) {
  using namespace exp_poly;
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(kLog2e)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Hi), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Lo), r);
  __m512 p = _mm512_set1_ps(kCoef[0]);
  for (int i = 1; i < 7; ++i) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kCoef[i]));
  return _mm512_scalef_ps(p, n);  // p · 2^n, with overflow to inf and underflow to 0
}

}  // namespace r1
