// AVX2 + FMA + F16C dot products (this file is compiled with -mavx2 -mfma -mf16c). Integer formats
// multiply unsigned codes by signed activations with maddubs, then fold the sub-block scale in
// with madd; every integer sum equals the scalar reference's.
#include <immintrin.h>

#include "ops/avx2_util.h"
#include "ops/blocks.h"
#include "ops/convert.h"
#include "ops/quant.h"
#include "ops/vec_dot.h"

namespace r1 {
namespace {

int hsum_i32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

// Float rows: `Load8` turns 8 weights into 8 floats. Four accumulators hide the FMA latency.
template <__m256 (*Load8)(const void*, int64_t), float (*Scalar)(const void*, int64_t)>
float dot_float(int64_t k, const void* w, const void* a) {
  const float* y = static_cast<const float*>(a);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  int64_t i = 0;
  for (; i + 32 <= k; i += 32)
    for (int u = 0; u < 4; ++u) acc[u] = _mm256_fmadd_ps(Load8(w, i + 8 * u), _mm256_loadu_ps(y + i + 8 * u), acc[u]);
  for (; i + 8 <= k; i += 8) acc[0] = _mm256_fmadd_ps(Load8(w, i), _mm256_loadu_ps(y + i), acc[0]);
  float s = hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
  for (; i < k; ++i) s += Scalar(w, i) * y[i];
  return s;
}

__m256 load_f32(const void* w, int64_t i) { return _mm256_loadu_ps(static_cast<const float*>(w) + i); }
float at_f32(const void* w, int64_t i) { return static_cast<const float*>(w)[i]; }
__m256 load_f16(const void* w, int64_t i) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(w) + i)));
}
float at_f16(const void* w, int64_t i) { return half_to_f32(static_cast<const uint16_t*>(w)[i]); }
__m256 load_bf16(const void* w, int64_t i) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(w) + i));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
float at_bf16(const void* w, int64_t i) { return bf16_to_f32(static_cast<const uint16_t*>(w)[i]); }
__m256 load_f8(const void* w, int64_t i) {
  const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(static_cast<const uint8_t*>(w) + i));
  return _mm256_i32gather_ps(fp8_e4m3_table(), _mm256_cvtepu8_epi32(b), 4);
}
float at_f8(const void* w, int64_t i) { return fp8_e4m3_table()[static_cast<const uint8_t*>(w)[i]]; }

// Σ q·a over 32 bytes as 8 int32 lanes, q unsigned (0..63), a signed, each pair-sum times `scale16`.
__m256i dot_u8_scaled(__m256i q, __m256i a, __m256i scale16) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(q, a), scale16);
}

// Σ x·a for two signed int8 vectors (|x|, |a| <= 128 / 127): move the sign onto a.
__m256i dot_i8(__m256i x, __m256i a) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(a, x)), _mm256_set1_epi16(1));
}

float dot_q8_0(int64_t k, const void* w, const void* a) {
  const BlockQ8_0* x = static_cast<const BlockQ8_0*>(w);
  const BlockQ8_0* y = static_cast<const BlockQ8_0*>(a);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < k / kQK; ++i) {
    const __m256i p = dot_i8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].qs)),
                             _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].qs)));
    const __m256 d = _mm256_set1_ps(half_to_f32(x[i].d) * half_to_f32(y[i].d));
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
  }
  return hsum(acc);
}

float dot_q4_0(int64_t k, const void* w, const void* a) {
  const BlockQ4_0* x = static_cast<const BlockQ4_0*>(w);
  const BlockQ8_0* y = static_cast<const BlockQ8_0*>(a);
  const __m256i low4 = _mm256_set1_epi8(0xF), eight = _mm256_set1_epi8(8);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < k / kQK; ++i) {
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[i].qs));
    const __m256i both = _mm256_set_m128i(_mm_srli_epi16(q, 4), q);  // [low nibbles | high nibbles]
    const __m256i v = _mm256_sub_epi8(_mm256_and_si256(both, low4), eight);
    const __m256i p = dot_i8(v, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].qs)));
    const __m256 d = _mm256_set1_ps(half_to_f32(x[i].d) * half_to_f32(y[i].d));
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
  }
  return hsum(acc);
}

template <bool kFiveBit>
float dot_qk(int64_t k, const void* w, const void* a) {
  const BlockQ8K* y = static_cast<const BlockQ8K*>(a);
  const __m256i low4 = _mm256_set1_epi8(0xF), one = _mm256_set1_epi8(1);
  float s = 0;
  for (int64_t i = 0; i < k / kQKK; ++i) {
    const uint8_t *scales, *qs, *qh = nullptr;
    uint16_t d, dmin;
    if constexpr (kFiveBit) {
      const BlockQ5K& b = static_cast<const BlockQ5K*>(w)[i];
      scales = b.scales, qs = b.qs, qh = b.qh, d = b.d, dmin = b.dmin;
    } else {
      const BlockQ4K& b = static_cast<const BlockQ4K*>(w)[i];
      scales = b.scales, qs = b.qs, d = b.d, dmin = b.dmin;
    }
    uint8_t sc[8], m[8];
    int summs = 0;
    for (int j = 0; j < 8; ++j) {
      k_scale_min(j, scales, &sc[j], &m[j]);
      summs += m[j] * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
    }
    const __m256i hbits = kFiveBit ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qh)) : _mm256_setzero_si256();
    __m256i acc = _mm256_setzero_si256();
    for (int c = 0; c < 4; ++c) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * c));
      __m256i lo = _mm256_and_si256(q, low4);
      __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
      if constexpr (kFiveBit) {
        lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 2 * c), one), 4));
        hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 2 * c + 1), one), 4));
      }
      const __m256i a0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].qs + 64 * c));
      const __m256i a1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].qs + 64 * c + 32));
      acc = _mm256_add_epi32(acc, dot_u8_scaled(lo, a0, _mm256_set1_epi16(sc[2 * c])));
      acc = _mm256_add_epi32(acc, dot_u8_scaled(hi, a1, _mm256_set1_epi16(sc[2 * c + 1])));
    }
    const int sumi = hsum_i32(acc);
    s += (y[i].d * half_to_f32(d)) * static_cast<float>(sumi) - (y[i].d * half_to_f32(dmin)) * static_cast<float>(summs);
  }
  return s;
}

float dot_q6_k(int64_t k, const void* w, const void* a) {
  const BlockQ6K* x = static_cast<const BlockQ6K*>(w);
  const BlockQ8K* y = static_cast<const BlockQ8K*>(a);
  const __m256i low4 = _mm256_set1_epi8(0xF), three = _mm256_set1_epi8(3);
  float s = 0;
  for (int64_t i = 0; i < k / kQKK; ++i) {
    int sum_offset = 0;
    for (int j = 0; j < 16; ++j) sum_offset += x[i].scales[j] * y[i].bsums[j];
    __m256i acc = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      const __m256i ql0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].ql + 64 * h));
      const __m256i ql1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].ql + 64 * h + 32));
      const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].qh + 32 * h));
      const __m256i lows[4] = {_mm256_and_si256(ql0, low4), _mm256_and_si256(ql1, low4),
                               _mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4),
                               _mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4)};
      for (int g = 0; g < 4; ++g) {
        const __m256i top = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * g), three);
        const __m256i q = _mm256_or_si256(lows[g], _mm256_slli_epi16(top, 4));
        const int8_t* sc = x[i].scales + 8 * h + 2 * g;
        const __m256i scale16 = _mm256_set_m128i(_mm_set1_epi16(sc[1]), _mm_set1_epi16(sc[0]));
        const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].qs + 128 * h + 32 * g));
        acc = _mm256_add_epi32(acc, dot_u8_scaled(q, av, scale16));
      }
    }
    const int sumi = hsum_i32(acc);
    s += (y[i].d * half_to_f32(x[i].d)) * static_cast<float>(sumi - 32 * sum_offset);
  }
  return s;
}

}  // namespace

const VecDotTable& vec_dot_avx2() {
  static const VecDotTable t = {"avx2",
                                dot_float<load_f32, at_f32>,
                                dot_float<load_f16, at_f16>,
                                dot_float<load_bf16, at_bf16>,
                                dot_float<load_f8, at_f8>,
                                dot_q8_0,
                                dot_q4_0,
                                dot_qk<false>,
                                dot_qk<true>,
                                dot_q6_k,
                                quantize_row_q8_0_activations,
                                [](const float* x, void* dst, int64_t k) { quantize_row(DType::Q8_K, x, dst, k); }};
  return t;
}

}  // namespace r1
