// Q4_K / Q5_K block scales on AVX-512, 16 dwords at once (one per row, or per lane): shared by the
// prefill tile's expansion (gemm_avx512vnni.cc) and the interleaved one-token kernel
// (gemv_x8_avx512.cc). Include only from files built with AVX-512 F/BW.
#pragma once
#include <immintrin.h>

namespace r1 {

// The 6-bit scales and mins of a block's scales[12], given as its three dwords u0, u1, u2 (the same
// bit layout as q4k_scales_mins in avx2_kquant.h): byte j of sc[0] / mn[0] is sub-block j's scale /
// min (j < 4), byte j of sc[1] / mn[1] sub-block 4 + j's.
struct Q4KScalesMins {
  __m512i sc[2], mn[2];
};

inline Q4KScalesMins q4k_scales_mins_x16(__m512i u0, __m512i u1, __m512i u2) {
  const __m512i m6 = _mm512_set1_epi32(0x3f3f3f3f), m4 = _mm512_set1_epi32(0x0f0f0f0f);
  const __m512i m2 = _mm512_set1_epi32(0x03030303);
  // Scales / mins 4..7: low 4 bits from u2 (low / high nibbles), top 2 bits from bits 6..7 of u0 / u1.
  return {{_mm512_and_si512(u0, m6),
           _mm512_or_si512(_mm512_and_si512(u2, m4), _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(u0, 6), m2), 4))},
          {_mm512_and_si512(u1, m6),
           _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(u2, 4), m4),
                           _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(u1, 6), m2), 4))}};
}

}  // namespace r1
