// What the AVX-512 attention kernels share (attention_avx512.cc in float32 products,
// attention_avx512bf16.cc in bf16 ones); include only from files compiled with AVX-512F.
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "ops/exp_avx512.h"
#include "ops/block_rows.h"

namespace r1 {

// 16 values of Q8_0 rows from p (within one block): codes widened, times the block's scale (broadcast
// as fp16 and widened by the vector unit: through a scalar register it cost ~10% more,
// BM_attention_cold_typed).
inline __m512 load16_q8(Q8Ptr p) {
  const __m512 codes = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p.codes()))));
  return _mm512_mul_ps(codes, _mm512_cvtph_ps(_mm256_set1_epi16(static_cast<short>(p.block().d))));
}

// 16 floats from a row pointer of each cache type (attention.h's KR / VR: float32, F16 bits, Q8_0, Q4_0).
inline __m512 load16(const float* p) { return _mm512_loadu_ps(p); }
inline __m512 load16(const uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
inline __m512 load16(Q8Ptr p) { return load16_q8(p); }
// The values of 16 Q4_0 codes, the low nibbles of `bytes`, with the block's scale d: (c − 8) · d.
inline __m512 q4_values(__m128i bytes, __m512 d) {
  const __m128i codes = _mm_sub_epi8(_mm_and_si128(bytes, _mm_set1_epi8(15)), _mm_set1_epi8(8));
  return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(codes)), d);
}
inline __m512 q4_scale(Q4Ptr p) { return _mm512_cvtph_ps(_mm256_set1_epi16(static_cast<short>(p.block().d))); }
// 16 values of Q4_0 rows from p (elements 0..15 or 16..31 of a block: its 16 bytes' low or high nibbles).
inline __m512 load16(Q4Ptr p) {
  const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p.bytes()));
  return q4_values(_mm_srl_epi16(bytes, _mm_cvtsi32_si128(p.nibble_shift())), q4_scale(p));
}

// 32 values from p, a row pointer at a multiple of 32 values (a whole block of Q8_0 / Q4_0): values
// 0..15 to lo, 16..31 to hi. A Q4_0 block's bytes and scale are loaded once for both halves.
template <class T>
inline void load32(T p, __m512& lo, __m512& hi) {
  lo = load16(p);
  hi = load16(p + 16);
}
inline void load32(Q4Ptr p, __m512& lo, __m512& hi) {
  const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p.bytes()));
  const __m512 d = q4_scale(p);
  lo = q4_values(bytes, d);
  hi = q4_values(_mm_srli_epi16(bytes, 4), d);
}

// The 16 sums of 16 vectors' lanes: out[i] = Σ_lanes a[i].
inline __m512 reduce16(const __m512* a) {
  __m512 b[8], c[4];
  for (int i = 0; i < 8; ++i)  // per 128-bit lane: [a2i(0+2), a2i+1(0+2), a2i(1+3), a2i+1(1+3)]
    b[i] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * i], a[2 * i + 1]), _mm512_unpackhi_ps(a[2 * i], a[2 * i + 1]));
  for (int j = 0; j < 4; ++j) {  // per 128-bit lane L: lane-L sums of a4j .. a4j+3
    const __m512d x = _mm512_castps_pd(b[2 * j]), y = _mm512_castps_pd(b[2 * j + 1]);
    c[j] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)), _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
  }
  // Sum the four 128-bit lanes of c0..c3 into lane j of the result.
  const __m512 e01 = _mm512_add_ps(_mm512_shuffle_f32x4(c[0], c[1], 0x88), _mm512_shuffle_f32x4(c[0], c[1], 0xDD));
  const __m512 e23 = _mm512_add_ps(_mm512_shuffle_f32x4(c[2], c[3], 0x88), _mm512_shuffle_f32x4(c[2], c[3], 0xDD));
  return _mm512_add_ps(_mm512_shuffle_f32x4(e01, e23, 0x88), _mm512_shuffle_f32x4(e01, e23, 0xDD));
}

// The scores kernels' sums (lane i·L + l: query i, key l of L = 16 / Q) to s[i · s_stride + t + l]: one
// masked store of the whole vector per query, placed so that its lanes land at t .. (a compressing
// store is microcoded on AMD Zen 4, several times slower; on the EPYC measured, a Zen 5, the masked
// stores took BM_attention_prompt from 66.5 to 63.6 µs).
template <int Q>
inline void store_scores(__m512 sums, float* s, int64_t s_stride, int64_t t) {
  constexpr int L = 16 / Q;
  for (int i = 0; i < Q; ++i)
    _mm512_mask_storeu_ps(s + i * (s_stride - L) + t, static_cast<__mmask16>(((1u << L) - 1) << (i * L)), sums);
}

// Softmax of n floats in place, as elementwise.h's softmax (an all −inf row becomes zeros; the sum in
// double; returns the log-sum-exp): the float32 AVX-512 attention kernel's (attention_avx512.cc).
inline float softmax512(float* s, int64_t n) {
  const auto mask = [n](int64_t t) { return n - t >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - t)) - 1); };
  const float ninf = -std::numeric_limits<float>::infinity();
  __m512 mx = _mm512_set1_ps(ninf);
  for (int64_t t = 0; t < n; t += 16) mx = _mm512_max_ps(mx, _mm512_mask_loadu_ps(_mm512_set1_ps(ninf), mask(t), s + t));
  const float max = _mm512_reduce_max_ps(mx);
  if (max == ninf) {
    std::fill(s, s + n, 0.0f);
    return max;
  }
  __m512d sum = _mm512_setzero_pd();  // in double, as the scalar softmax
  for (int64_t t = 0; t < n; t += 16) {
    const __mmask16 m = mask(t);
    const __m512 e = _mm512_maskz_mov_ps(m, exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, s + t), _mm512_set1_ps(max))));
    _mm512_mask_storeu_ps(s + t, m, e);
    sum = _mm512_add_pd(sum, _mm512_add_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(e)),
                                           _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1)))));
  }
  const double total = _mm512_reduce_add_pd(sum);
  const __m512 inv = _mm512_set1_ps(static_cast<float>(1.0 / total));
  for (int64_t t = 0; t < n; t += 16) _mm512_mask_storeu_ps(s + t, mask(t), _mm512_mul_ps(_mm512_maskz_loadu_ps(mask(t), s + t), inv));
  return max + static_cast<float>(std::log(total));
}

}  // namespace r1
