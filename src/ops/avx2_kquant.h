// K-quant super-blocks (Q4_K, Q5_K, Q6_K) for the AVX2 kernels: a weight block expanded once into
// 8 vectors of 32 unsigned codes and their scales, then its products with a Q8_K activation block
// in 8 float lanes. The dot products (vec_dot_avx2.cc) and the prefill tiles (gemm_avx2.cc) both
// take these steps, so their results agree bit for bit. Include only from files compiled with
// -mavx2 -mfma -mf16c.
#pragma once
#include <immintrin.h>

#include <cstdint>

#include "ops/avx2_util.h"
#include "ops/blocks.h"

namespace r1 {

// Codes q[v] (0..31 for Q4_K / Q5_K, 0..63 for Q6_K) go with activations qs[32v .. 32v+31]; scale[v]
// holds their sub-block scales as 16-bit lanes. Q4_K / Q5_K: the mins as 8 16-bit lanes; Q6_K: the
// 16 signed scales widened to 16 bits (its codes are offset by 32). dscale: the float factors of the
// lanes kblock_fma converts (Q4_K / Q5_K: d in the low four, −dmin in the high four; Q6_K: d).
struct KBlock {
  __m256i q[8], scale[8];
  __m256i offset_scales;  // Q6_K: scales[0..15]; Q4_K / Q5_K: mins in the low 128 bits
  __m256 dscale;
};

// A Q8_K activation block as kblock_fma uses it: its scale broadcast, its block sums (Q6_K) or the
// sums of pairs of them, one per 32 (Q4_K / Q5_K, low 128 bits).
struct KActs {
  __m256i qs[8];  // the codes, 32 per vector
  __m256 d;
  __m256i bsums;
};

template <bool kFiveBit>
inline void expand_q4k(const void* block, KBlock& k) {
  const uint8_t *scales, *qs, *qh = nullptr;
  uint16_t d, dmin;
  if constexpr (kFiveBit) {
    const BlockQ5K& b = *static_cast<const BlockQ5K*>(block);
    scales = b.scales, qs = b.qs, qh = b.qh, d = b.d, dmin = b.dmin;
  } else {
    const BlockQ4K& b = *static_cast<const BlockQ4K*>(block);
    scales = b.scales, qs = b.qs, d = b.d, dmin = b.dmin;
  }
  k.dscale = _mm256_set_m128(_mm_set1_ps(-half_to_f32(dmin)), _mm_set1_ps(half_to_f32(d)));
  alignas(16) int16_t m16[8];
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    k_scale_min(j, scales, &sc, &m);
    k.scale[j] = _mm256_set1_epi16(sc);
    m16[j] = m;
  }
  k.offset_scales = _mm256_castsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(m16)));
  const __m256i low4 = _mm256_set1_epi8(0xF), one = _mm256_set1_epi8(1);
  const __m256i hbits = kFiveBit ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qh)) : _mm256_setzero_si256();
  for (int c = 0; c < 4; ++c) {
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * c));
    __m256i lo = _mm256_and_si256(q, low4);
    __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
    if constexpr (kFiveBit) {
      lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 2 * c), one), 4));
      hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 2 * c + 1), one), 4));
    }
    k.q[2 * c] = lo, k.q[2 * c + 1] = hi;
  }
}

inline void expand_q6k(const void* block, KBlock& k) {
  const BlockQ6K& b = *static_cast<const BlockQ6K*>(block);
  k.dscale = _mm256_set1_ps(half_to_f32(b.d));
  k.offset_scales = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales)));
  const __m256i low4 = _mm256_set1_epi8(0xF), three = _mm256_set1_epi8(3);
  for (int h = 0; h < 2; ++h) {
    const __m256i ql0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.ql + 64 * h));
    const __m256i ql1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.ql + 64 * h + 32));
    const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh + 32 * h));
    const __m256i lows[4] = {_mm256_and_si256(ql0, low4), _mm256_and_si256(ql1, low4),
                             _mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4),
                             _mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4)};
    for (int g = 0; g < 4; ++g) {
      const __m256i top = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * g), three);
      const int8_t* sc = b.scales + 8 * h + 2 * g;
      k.q[4 * h + g] = _mm256_or_si256(lows[g], _mm256_slli_epi16(top, 4));
      k.scale[4 * h + g] = _mm256_set_m128i(_mm_set1_epi16(sc[1]), _mm_set1_epi16(sc[0]));
    }
  }
}

template <bool kQ6>
inline KActs load_kacts(const BlockQ8K& y) {
  KActs a;
  for (int v = 0; v < 8; ++v) a.qs[v] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y.qs + 32 * v));
  a.d = _mm256_set1_ps(y.d);
  a.bsums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y.bsums));
  if constexpr (!kQ6) a.bsums = _mm256_castsi128_si256(_mm_hadd_epi16(_mm256_castsi256_si128(a.bsums),
                                                                       _mm256_extracti128_si256(a.bsums, 1)));
  return a;
}

// acc + the block's products in 8 float lanes, whose sum is Q4_K / Q5_K's d·d_a·Σ scale·code·a −
// dmin·d_a·Σ min·(block sums) or Q6_K's d·d_a·(Σ scale·code·a − 32·Σ scale·(block sums)). The
// integer sums are exact; the float sum over blocks stays in lanes until the caller's hsum.
template <bool kQ6>
inline __m256 kblock_fma(const KBlock& k, const KActs& a, __m256 acc) {
  __m256i isum = _mm256_setzero_si256();
  for (int v = 0; v < 8; ++v)
    isum = _mm256_add_epi32(isum, _mm256_madd_epi16(_mm256_maddubs_epi16(k.q[v], a.qs[v]), k.scale[v]));
  if constexpr (kQ6) {
    isum = _mm256_sub_epi32(isum, _mm256_slli_epi32(_mm256_madd_epi16(k.offset_scales, a.bsums), 5));
  } else {
    const __m128i four = _mm_add_epi32(_mm256_castsi256_si128(isum), _mm256_extracti128_si256(isum, 1));
    const __m128i mins = _mm_madd_epi16(_mm256_castsi256_si128(k.offset_scales), _mm256_castsi256_si128(a.bsums));
    isum = _mm256_set_m128i(mins, four);
  }
  return _mm256_fmadd_ps(_mm256_mul_ps(k.dscale, a.d), _mm256_cvtepi32_ps(isum), acc);
}

}  // namespace r1
