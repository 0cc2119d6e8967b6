// K-quant super-blocks (Q4_K, Q5_K, Q6_K) for the AVX2 kernels: a weight block expanded once into
// 8 vectors of 32 unsigned codes and their scales, then its products with a Q8_K activation block
// in 8 float lanes. The prefill tiles (gemm_avx2_impl.h) take these steps; the dot products and decode
// (vec_dot_avx2.cc) take kblock_dot_*, the same integer lanes and float steps without the expanded
// block, so their results agree bit for bit (Matmul.Avx2TilesEqualTheDotProducts). Include only from
// files compiled with -mavx2 -mfma -mf16c; an unnamed namespace, as avx2_util.h says why.
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "ops/avx2_util.h"
#include "ops/blocks.h"

namespace r1 {
namespace {

// Codes q[v] (0..31 for Q4_K / Q5_K, 0..63 for Q6_K) go with activations qs[32v .. 32v+31]; scale[v]
// holds their sub-block scales as 16-bit lanes. Q4_K / Q5_K: the mins as 8 16-bit lanes; Q6_K: the
// 16 signed scales widened to 16 bits (its codes are offset by 32). dscale: the float factors of the
// lanes kblock_tokens converts (Q4_K / Q5_K: d in the low four, −dmin in the high four; Q6_K: d).
struct KBlock {
  __m256i q[8], scale[8];
  __m256i offset_scales;  // Q6_K: scales[0..15]; Q4_K / Q5_K: mins in the low 128 bits
  __m256 dscale;
};

// A Q4_K / Q5_K block's 8 sub-block scales (low 128 bits) and 8 mins (high), k_scale_min for every j
// at once, as 16-bit lanes. Reads 16 bytes from `packed` (the 12 scale bytes and 4 code bytes after them).
inline __m256i q4k_scales_mins(const uint8_t* packed) {
  const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(packed));
  const char z = -128;  // pshufb: a zero byte
  // Dwords: bytes 0..3 (scales 0..3), 8..11 (scales 4..7: low 4 bits), 4..7 (mins 0..3), 8..11 (mins 4..7: high 4 bits).
  const __m128i low = _mm_shuffle_epi8(b, _mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11));
  // Scales / mins 4..7 take their top 2 bits from bits 6..7 of bytes 0..3 / 4..7.
  const __m128i top = _mm_shuffle_epi8(b, _mm_setr_epi8(z, z, z, z, 0, 1, 2, 3, z, z, z, z, 4, 5, 6, 7));
  const __m128i lo_bits = _mm_and_si128(_mm_srlv_epi32(low, _mm_setr_epi32(0, 0, 0, 4)),
                                        _mm_setr_epi32(0x3F3F3F3F, 0x0F0F0F0F, 0x3F3F3F3F, 0x0F0F0F0F));
  const __m128i top_bits = _mm_and_si128(_mm_srli_epi32(top, 2), _mm_set1_epi8(0x30));
  return _mm256_cvtepu8_epi16(_mm_or_si128(lo_bits, top_bits));
}

// 16-bit lane j of `v` (the same 8 lanes in both 128-bit halves) in every lane.
inline __m256i broadcast_lane16(__m256i v, int j) {
  return _mm256_shuffle_epi8(v, _mm256_set1_epi16(static_cast<short>(0x0100 + 0x0202 * j)));
}

// Q4_K / Q5_K: the fields of a block, and its 32 codes of vector v = 2c (low nibbles) or 2c + 1.
template <bool kFiveBit>
struct Q4KFields {
  const uint8_t *scales, *qs, *qh = nullptr;
  const uint16_t* d_dmin;  // d, then dmin
  explicit Q4KFields(const void* block) {
    if constexpr (kFiveBit) {
      const BlockQ5K& b = *static_cast<const BlockQ5K*>(block);
      scales = b.scales, qs = b.qs, qh = b.qh, d_dmin = &b.d;
    } else {
      const BlockQ4K& b = *static_cast<const BlockQ4K*>(block);
      scales = b.scales, qs = b.qs, d_dmin = &b.d;
    }
  }
  // Codes 2c and 2c + 1 (c = 0..3) into lo and hi.
  void codes(int c, __m256i hbits, __m256i* lo, __m256i* hi) const {
    const __m256i low4 = _mm256_set1_epi8(0xF), one = _mm256_set1_epi8(1);
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * c));
    *lo = _mm256_and_si256(q, low4);
    *hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
    if constexpr (kFiveBit) {
      *lo = _mm256_or_si256(*lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 2 * c), one), 4));
      *hi = _mm256_or_si256(*hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 2 * c + 1), one), 4));
    }
  }
  __m256i high_bits() const {
    return kFiveBit ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qh)) : _mm256_setzero_si256();
  }
  // d in the low four lanes, -dmin in the high four (converted together: they are adjacent in the block).
  __m256 dscale() const {
    uint32_t both;
    std::memcpy(&both, d_dmin, sizeof(both));
    const __m256 dd = _mm256_castps128_ps256(_mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(both))));
    return _mm256_mul_ps(_mm256_permutevar8x32_ps(dd, _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1)),
                         _mm256_setr_ps(1, 1, 1, 1, -1, -1, -1, -1));
  }
};

template <bool kFiveBit>
inline void expand_q4k(const void* block, KBlock& k) {
  const Q4KFields<kFiveBit> f(block);
  k.dscale = f.dscale();
  const __m256i sm = q4k_scales_mins(f.scales), sc2 = _mm256_permute4x64_epi64(sm, 0x44);
  for (int j = 0; j < 8; ++j) k.scale[j] = broadcast_lane16(sc2, j);
  k.offset_scales = _mm256_castsi128_si256(_mm256_extracti128_si256(sm, 1));
  const __m256i hbits = f.high_bits();
  for (int c = 0; c < 4; ++c) f.codes(c, hbits, &k.q[2 * c], &k.q[2 * c + 1]);
}

// Q6_K's scales 8h + 2g (low 128 bits) and 8h + 2g + 1 (high), each in every 16-bit lane of its half,
// from all 16 scales as 16-bit lanes.
inline __m256i q6k_scale_pair(__m256i scales16, int h, int g) {
  const __m256i half = h ? _mm256_permute4x64_epi64(scales16, 0xEE) : _mm256_permute4x64_epi64(scales16, 0x44);
  const short lo = static_cast<short>(0x0100 + 0x0404 * g), hi = static_cast<short>(0x0302 + 0x0404 * g);
  return _mm256_shuffle_epi8(half, _mm256_set_m128i(_mm_set1_epi16(hi), _mm_set1_epi16(lo)));
}

// Q6_K's code vectors 4h .. 4h + 3 (h = 0, 1): 4 low bits from ql, 2 high bits from qh.
inline void q6k_codes(const BlockQ6K& b, int h, __m256i q[4]) {
  const __m256i low4 = _mm256_set1_epi8(0xF), three = _mm256_set1_epi8(3);
  const __m256i ql0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.ql + 64 * h));
  const __m256i ql1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.ql + 64 * h + 32));
  const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh + 32 * h));
  const __m256i lows[4] = {_mm256_and_si256(ql0, low4), _mm256_and_si256(ql1, low4),
                           _mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4),
                           _mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4)};
  for (int g = 0; g < 4; ++g)
    q[g] = _mm256_or_si256(lows[g], _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * g), three), 4));
}

inline void expand_q6k(const void* block, KBlock& k) {
  const BlockQ6K& b = *static_cast<const BlockQ6K*>(block);
  k.dscale = _mm256_set1_ps(half_to_f32(b.d));
  k.offset_scales = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales)));
  for (int h = 0; h < 2; ++h) {
    q6k_codes(b, h, k.q + 4 * h);
    for (int g = 0; g < 4; ++g) k.scale[4 * h + g] = q6k_scale_pair(k.offset_scales, h, g);
  }
}

// acc[g] + the block's products with G tokens' blocks i (a: token 0's blocks, a_stride apart), in 8
// float lanes each, whose sum is Q4_K / Q5_K's d·d_a·Σ scale·code·a − dmin·d_a·Σ min·(block sums) or
// Q6_K's d·d_a·(Σ scale·code·a − 32·Σ scale·(block sums)). Each code vector and its scales are loaded
// once for the G tokens: loaded per product, they bound the tile. The integer sums are exact; the
// float sum over blocks stays in lanes until the caller's hsum.
template <bool kQ6, int G>
inline void kblock_tokens(const KBlock& k, const uint8_t* a, size_t a_stride, int64_t i, __m256* acc) {
  auto act = [&](int g) -> const BlockQ8K& { return reinterpret_cast<const BlockQ8K*>(a + g * a_stride)[i]; };
  __m256i isum[G];
  for (int g = 0; g < G; ++g) isum[g] = _mm256_setzero_si256();
#pragma GCC unroll 1  // unrolled, the G sums are formed as trees and spilled (as in gemm_avx2_impl.h's column_sums)
  for (int v = 0; v < 8; ++v) {
    const __m256i q = k.q[v], scale = k.scale[v];
    for (int g = 0; g < G; ++g) {
      const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(act(g).qs + 32 * v));
      isum[g] = _mm256_add_epi32(isum[g], _mm256_madd_epi16(_mm256_maddubs_epi16(q, av), scale));
    }
  }
  for (int g = 0; g < G; ++g) {
    const BlockQ8K& y = act(g);
    const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y.bsums));
    if constexpr (kQ6) {
      isum[g] = _mm256_sub_epi32(isum[g], _mm256_slli_epi32(_mm256_madd_epi16(k.offset_scales, bs), 5));
    } else {
      const __m128i pair_sums = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
      const __m128i four = _mm_add_epi32(_mm256_castsi256_si128(isum[g]), _mm256_extracti128_si256(isum[g], 1));
      const __m128i mins = _mm_madd_epi16(_mm256_castsi256_si128(k.offset_scales), pair_sums);
      isum[g] = _mm256_set_m128i(mins, four);
    }
    acc[g] = _mm256_fmadd_ps(_mm256_mul_ps(k.dscale, _mm256_set1_ps(y.d)), _mm256_cvtepi32_ps(isum[g]), acc[g]);
  }
}

// One token (decode): kblock_tokens<.., 1>(expand(block), y) bit for bit, each code vector
// multiplied as it is formed. Expanded, the block's 17 vectors went through the stack for every row.
template <bool kFiveBit>
inline __m256 kblock_dot_q4k(const void* block, const BlockQ8K& y, __m256 acc) {
  const Q4KFields<kFiveBit> f(block);
  const __m256i sm = q4k_scales_mins(f.scales), sc2 = _mm256_permute4x64_epi64(sm, 0x44), hbits = f.high_bits();
  __m256i isum = _mm256_setzero_si256();
  for (int c = 0; c < 4; ++c) {
    __m256i lo, hi;
    f.codes(c, hbits, &lo, &hi);
    const auto* a = reinterpret_cast<const __m256i*>(y.qs + 64 * c);
    isum = _mm256_add_epi32(isum, _mm256_madd_epi16(_mm256_maddubs_epi16(lo, _mm256_loadu_si256(a)),
                                                    broadcast_lane16(sc2, 2 * c)));
    isum = _mm256_add_epi32(isum, _mm256_madd_epi16(_mm256_maddubs_epi16(hi, _mm256_loadu_si256(a + 1)),
                                                    broadcast_lane16(sc2, 2 * c + 1)));
  }
  const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y.bsums));
  const __m128i pair_sums = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
  const __m128i four = _mm_add_epi32(_mm256_castsi256_si128(isum), _mm256_extracti128_si256(isum, 1));
  isum = _mm256_set_m128i(_mm_madd_epi16(_mm256_extracti128_si256(sm, 1), pair_sums), four);
  return _mm256_fmadd_ps(_mm256_mul_ps(f.dscale(), _mm256_set1_ps(y.d)), _mm256_cvtepi32_ps(isum), acc);
}

inline __m256 kblock_dot_q6k(const void* block, const BlockQ8K& y, __m256 acc) {
  const BlockQ6K& b = *static_cast<const BlockQ6K*>(block);
  const __m256i scales16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales)));
  __m256i isum = _mm256_setzero_si256();
  for (int h = 0; h < 2; ++h) {
    __m256i q[4];
    q6k_codes(b, h, q);
    for (int g = 0; g < 4; ++g) {
      const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y.qs + 32 * (4 * h + g)));
      isum = _mm256_add_epi32(isum, _mm256_madd_epi16(_mm256_maddubs_epi16(q[g], a), q6k_scale_pair(scales16, h, g)));
    }
  }
  const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y.bsums));
  isum = _mm256_sub_epi32(isum, _mm256_slli_epi32(_mm256_madd_epi16(scales16, bs), 5));
  return _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(half_to_f32(b.d)), _mm256_set1_ps(y.d)), _mm256_cvtepi32_ps(isum),
                         acc);
}

}  // namespace
}  // namespace r1
