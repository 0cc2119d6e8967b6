// AVX-512 (F, BW, VL) dot products; this file is compiled with -mavx512f -mavx512bw -mavx512vl
// (plus AVX2/FMA/F16C). Same schemes as the AVX2 file on 64-byte vectors: a K-quant
// 64-value chunk (two sub-blocks) or two Q8_0 blocks per instruction.
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "ops/avx2_util.h"
#include "ops/blocks.h"
#include "ops/convert.h"
#include "ops/vec_dot.h"

namespace r1 {
namespace {

template <__m512 (*Load16)(const void*, int64_t), float (*Scalar)(const void*, int64_t)>
float dot_float(int64_t k, const void* w, const void* a) {
  const float* y = static_cast<const float*>(a);
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  int64_t i = 0;
  for (; i + 64 <= k; i += 64)
    for (int u = 0; u < 4; ++u) acc[u] = _mm512_fmadd_ps(Load16(w, i + 16 * u), _mm512_loadu_ps(y + i + 16 * u), acc[u]);
  for (; i + 16 <= k; i += 16) acc[0] = _mm512_fmadd_ps(Load16(w, i), _mm512_loadu_ps(y + i), acc[0]);
  float s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));
  for (; i < k; ++i) s += Scalar(w, i) * y[i];
  return s;
}

__m512 load_f32(const void* w, int64_t i) { return _mm512_loadu_ps(static_cast<const float*>(w) + i); }
float at_f32(const void* w, int64_t i) { return static_cast<const float*>(w)[i]; }
__m512 load_f16(const void* w, int64_t i) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(w) + i)));
}
float at_f16(const void* w, int64_t i) { return half_to_f32(static_cast<const uint16_t*>(w)[i]); }
__m512 load_bf16(const void* w, int64_t i) {
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(w) + i));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
float at_bf16(const void* w, int64_t i) { return bf16_to_f32(static_cast<const uint16_t*>(w)[i]); }
__m512 load_f8(const void* w, int64_t i) {
  return _mm512_mul_ps(load16_f8_over_256(static_cast<const uint8_t*>(w) + i), _mm512_set1_ps(256.0f));
}
float at_f8(const void* w, int64_t i) { return fp8_e4m3_table()[static_cast<const uint8_t*>(w)[i]]; }

__m512i join(__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); }

__m512i dot_u8_scaled(__m512i q, __m512i a, __m512i scale16) {
  return _mm512_madd_epi16(_mm512_maddubs_epi16(q, a), scale16);
}

// Σ x·a of signed int8 vectors: |x| as unsigned, the sign of x moved onto a.
__m512i dot_i8(__m512i x, __m512i a) {
  const __mmask64 neg = _mm512_movepi8_mask(x);
  const __m512i ax = _mm512_abs_epi8(x);
  const __m512i sa = _mm512_mask_sub_epi8(a, neg, _mm512_setzero_si512(), a);
  return _mm512_madd_epi16(_mm512_maddubs_epi16(ax, sa), _mm512_set1_epi16(1));
}

// Two 32-blocks per step: lanes 0..7 hold block i's partial sums, lanes 8..15 block i+1's.
template <typename WBlock, __m256i (*Codes)(const WBlock&)>
float dot_q8_0_like(int64_t k, const void* w, const void* a) {
  const WBlock* x = static_cast<const WBlock*>(w);
  const BlockQ8_0* y = static_cast<const BlockQ8_0*>(a);
  const int64_t nb = k / kQK;
  __m512 acc = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2) {
    const __m512i xv = join(Codes(x[i]), Codes(x[i + 1]));
    const __m512i av = join(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].qs)),
                            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i + 1].qs)));
    const __m512 d = _mm512_castpd_ps(
        _mm512_insertf64x4(_mm512_castps_pd(_mm512_set1_ps(half_to_f32(x[i].d) * half_to_f32(y[i].d))),
                           _mm256_castps_pd(_mm256_set1_ps(half_to_f32(x[i + 1].d) * half_to_f32(y[i + 1].d))), 1));
    acc = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(dot_i8(xv, av)), acc);
  }
  float s = _mm512_reduce_add_ps(acc);
  for (; i < nb; ++i) {
    const __m256i xv = Codes(x[i]);
    const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].qs));
    const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(xv, xv), _mm256_sign_epi8(av, xv)),
                                        _mm256_set1_epi16(1));
    __m128i t = _mm_add_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4e));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xb1));
    s += (half_to_f32(x[i].d) * half_to_f32(y[i].d)) * static_cast<float>(_mm_cvtsi128_si32(t));
  }
  return s;
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
    __m512i acc = _mm512_setzero_si512();
    for (int c = 0; c < 4; ++c) {
      // Chunk c = sub-blocks 2c (low nibbles) and 2c+1 (high nibbles): 64 values in output order.
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * c));
      __m256i lo = _mm256_and_si256(q, low4);
      __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
      if constexpr (kFiveBit) {
        lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 2 * c), one), 4));
        hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 2 * c + 1), one), 4));
      }
      const __m512i av = _mm512_loadu_si512(y[i].qs + 64 * c);
      const __m512i scale16 = join(_mm256_set1_epi16(sc[2 * c]), _mm256_set1_epi16(sc[2 * c + 1]));
      acc = _mm512_add_epi32(acc, dot_u8_scaled(join(lo, hi), av, scale16));
    }
    const int sumi = _mm512_reduce_add_epi32(acc);
    s += (y[i].d * half_to_f32(d)) * static_cast<float>(sumi) - (y[i].d * half_to_f32(dmin)) * static_cast<float>(summs);
  }
  return s;
}

float dot_q6_k(int64_t k, const void* w, const void* a) {
  const BlockQ6K* x = static_cast<const BlockQ6K*>(w);
  const BlockQ8K* y = static_cast<const BlockQ8K*>(a);
  const __m512i low4 = _mm512_set1_epi8(0xF), three = _mm512_set1_epi8(3);
  // Byte shuffles that repeat scale s[0..3] eight times each (for 32 int16 lanes).
  const __m128i rep01 = _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
  const __m128i rep23 = _mm_setr_epi8(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  float s = 0;
  for (int64_t i = 0; i < k / kQKK; ++i) {
    int sum_offset = 0;
    for (int j = 0; j < 16; ++j) sum_offset += x[i].scales[j] * y[i].bsums[j];
    __m512i acc = _mm512_setzero_si512();
    for (int h = 0; h < 2; ++h) {
      // ql0 = [ql[0..31] | ql[0..31]] so that one shift serves groups 0/2, likewise ql1 for 1/3.
      const __m256i l0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].ql + 64 * h));
      const __m256i l1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].ql + 64 * h + 32));
      const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].qh + 32 * h));
      const __m512i qh2 = join(qh, qh);
      // Groups (0,1): low nibbles of l0,l1 with qh bits 0-1 / 2-3; groups (2,3): high nibbles, bits 4-5 / 6-7.
      const __m512i lo01 = _mm512_and_si512(join(l0, l1), low4);
      const __m512i lo23 = _mm512_and_si512(_mm512_srli_epi16(join(l0, l1), 4), low4);
      const __m512i top_shift01 = _mm512_and_si512(
          _mm512_srlv_epi16(qh2, join(_mm256_set1_epi16(0), _mm256_set1_epi16(2))), three);
      const __m512i top_shift23 = _mm512_and_si512(
          _mm512_srlv_epi16(qh2, join(_mm256_set1_epi16(4), _mm256_set1_epi16(6))), three);
      const __m512i q01 = _mm512_or_si512(lo01, _mm512_slli_epi16(top_shift01, 4));
      const __m512i q23 = _mm512_or_si512(lo23, _mm512_slli_epi16(top_shift23, 4));
      const __m128i sc8 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(x[i].scales + 8 * h));
      const __m512i s01 = _mm512_cvtepi8_epi16(_mm256_set_m128i(_mm_shuffle_epi8(sc8, rep23), _mm_shuffle_epi8(sc8, rep01)));
      const __m128i sc8hi = _mm_srli_si128(sc8, 4);
      const __m512i s23 = _mm512_cvtepi8_epi16(_mm256_set_m128i(_mm_shuffle_epi8(sc8hi, rep23), _mm_shuffle_epi8(sc8hi, rep01)));
      acc = _mm512_add_epi32(acc, dot_u8_scaled(q01, _mm512_loadu_si512(y[i].qs + 128 * h), s01));
      acc = _mm512_add_epi32(acc, dot_u8_scaled(q23, _mm512_loadu_si512(y[i].qs + 128 * h + 64), s23));
    }
    const int sumi = _mm512_reduce_add_epi32(acc);
    s += (y[i].d * half_to_f32(x[i].d)) * static_cast<float>(sumi - 32 * sum_offset);
  }
  return s;
}

}  // namespace

// quantize_row_q8_0_activations, 32 floats per block in two vectors: the same bytes (the rounding
// mode is round-half-even in both; the scale goes through the same fp16 conversion).
void quantize_q8_0_activations(const float* x, void* dst, int64_t k) {
  BlockQ8_0* y = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < k / kQK; ++i, x += kQK) {
    const __m512 a = _mm512_loadu_ps(x), b = _mm512_loadu_ps(x + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(a), _mm512_abs_ps(b)));
    y[i].d = _cvtss_sh(amax / 127.f, _MM_FROUND_TO_NEAREST_INT);  // F16C: f32_to_fp16's bits, faster
    const __m512 id = _mm512_set1_ps(amax != 0 ? 127.f / amax : 0.0f);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y[i].qs), _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(a, id))));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y[i].qs + 16),
                     _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(b, id))));
  }
}

// quantize_row(Q8_K, ...), 16 floats per vector: the scale from the first element of largest
// magnitude (sign kept), codes rounded half to even (as nearest_int) and capped at 127; the bsums
// from the stored codes, 4 per 64 bytes (vpsadbw of the codes + 128). Decode quantizes every step's
// input this way: a scalar walk to that element and one horizontal sum per 16 codes took ~0.8 µs of
// a 2048-wide row, half of a 64-row Q4_K matmul's time.
void quantize_q8_k_activations(const float* x, void* dst, int64_t k) {
  BlockQ8K* y = static_cast<BlockQ8K*>(dst);
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  for (int64_t i = 0; i < k / kQKK; ++i, x += kQKK) {
    __m512 m = _mm512_setzero_ps();
    for (int j = 0; j < kQKK; j += 16) m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_loadu_ps(x + j)));
    const float amax = _mm512_reduce_max_ps(m);
    if (amax == 0) {
      std::memset(&y[i], 0, sizeof(BlockQ8K));
      continue;
    }
    const float iscale = q8k_inverse_scale(x, amax);
    for (int j = 0; j < kQKK; j += 16) {
      // Capped at 127; the floor only matters for a NaN, which converts to INT_MIN.
      const __m512i q = _mm512_max_epi32(
          _mm512_min_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + j), _mm512_set1_ps(iscale))),
                           _mm512_set1_epi32(127)),
          _mm512_set1_epi32(-128));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(y[i].qs + j), _mm512_cvtepi32_epi8(q));
    }
    for (int j = 0; j < kQKK; j += 64) {
      // Per 128-bit lane (16 codes): two qword sums of 8 (codes + 128); their total − 16·128.
      const __m512i sad = _mm512_sad_epu8(_mm512_xor_si512(_mm512_loadu_si512(y[i].qs + j), flip), _mm512_setzero_si512());
      const __m512i lanes = _mm512_maskz_compress_epi64(0x55, _mm512_add_epi64(sad, _mm512_bsrli_epi128(sad, 8)));
      const __m128i sums = _mm_sub_epi16(_mm512_cvtepi64_epi16(lanes), _mm_set1_epi16(16 * 128));
      _mm_storel_epi64(reinterpret_cast<__m128i*>(y[i].bsums + j / 16), sums);
    }
    y[i].d = 1 / iscale;
  }
}

namespace {

// fp16 <-> float32 rows, 16 per instruction; the tail masked (only the tail: masked stores are
// slow on some CPUs, AMD Zen 4 among them).
void fp16_row_avx512(const uint16_t* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i))));
  if (i == n) return;
  const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
  _mm512_mask_storeu_ps(y + i, m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, x + i)));
}
void f32_row_to_fp16_avx512(const float* x, uint16_t* y, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i), _mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
  if (i == n) return;
  const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
  _mm256_mask_storeu_epi16(y + i, m, _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, x + i), _MM_FROUND_TO_NEAREST_INT));
}

}  // namespace

const VecDotTable& vec_dot_avx512() {
  static const VecDotTable t = {"avx512",
                                dot_float<load_f32, at_f32>,
                                dot_float<load_f16, at_f16>,
                                dot_float<load_bf16, at_bf16>,
                                dot_float<load_f8, at_f8>,
                                dot_q8_0_like<BlockQ8_0, block_codes>,
                                dot_q8_0_like<BlockQ4_0, block_codes>,
                                dot_qk<false>,
                                dot_qk<true>,
                                dot_q6_k,
                                quantize_q8_0_activations,
                                quantize_q8_k_activations,
                                fp16_row_avx512,
                                f32_row_to_fp16_avx512,
                                // Q4_1 / Q5_1 (unsigned codes plus an offset): the AVX2 kernels.
                                vec_dot_avx2().q4_1,
                                dot_q8_0_like<BlockQ5_0, block_codes>,
                                vec_dot_avx2().q5_1,
                                dot_q8_0_like<BlockIQ4NL, block_codes>};
  return t;
}

}  // namespace r1
