// Element-wise ops on AVX-512F; compiled with -mavx512f and called only when the CPU has it.
#include <immintrin.h>

#include "ops/elementwise.h"
#include "ops/exp_avx512.h"

namespace r1 {

// silu(g) · u = g / (1 + e^-g) · u, 16 at a time (a tail under a mask). For g < -88.7, e^-g is +inf
// and the result 0 (of the sign of g·u), as the scalar form gives.
void swiglu_avx512(float* out, const float* gate, const float* up, int64_t n) {
  const __m512 one = _mm512_set1_ps(1.0f);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - i)) - 1);
    const __m512 g = _mm512_maskz_loadu_ps(m, gate + i), u = _mm512_maskz_loadu_ps(m, up + i);
    const __m512 e = exp512(_mm512_sub_ps(_mm512_setzero_ps(), g));
    _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(_mm512_div_ps(g, _mm512_add_ps(one, e)), u));
  }
}

}  // namespace r1
