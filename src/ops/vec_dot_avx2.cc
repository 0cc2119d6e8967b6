// AVX2 + FMA + F16C dot products (this file is compiled with -mavx2 -mfma -mf16c). Integer formats
// multiply unsigned codes by signed activations with maddubs, then fold the sub-block scale in
// with madd; every integer sum equals the scalar reference's.
#include <immintrin.h>

#include <cstring>

#include "ops/avx2_kquant.h"
#include "ops/avx2_util.h"
#include "ops/blocks.h"
#include "ops/convert.h"
#include "ops/gemm_tile.h"
#include "ops/quant.h"
#include "ops/vec_dot.h"

namespace r1 {
namespace {

// Every dot product here takes kPrefetch: true in decode (gemv_rows), which reads rows one after
// another (avx2_util.h, prefetch_stream_ahead); the products do not depend on it.

// Float rows of kElem-byte weights: `Load8` turns 8 weights into 8 floats. Four accumulators hide the
// FMA latency.
template <__m256 (*Load8)(const void*, int64_t), float (*Scalar)(const void*, int64_t), size_t kElem,
          bool kPrefetch = false>
float dot_float(int64_t k, const void* w, const void* a) {
  const float* y = static_cast<const float*>(a);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  int64_t i = 0;
  for (; i + 32 <= k; i += 32) {
    prefetch_stream_ahead<kPrefetch, 32 * kElem>(static_cast<const uint8_t*>(w) + i * kElem);
    for (int u = 0; u < 4; ++u) acc[u] = _mm256_fmadd_ps(Load8(w, i + 8 * u), _mm256_loadu_ps(y + i + 8 * u), acc[u]);
  }
  for (; i + 8 <= k; i += 8) acc[0] = _mm256_fmadd_ps(Load8(w, i), _mm256_loadu_ps(y + i), acc[0]);
  float s = hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
  for (; i < k; ++i) s += Scalar(w, i) * y[i];
  return s;
}

float at_f32(const void* w, int64_t i) { return static_cast<const float*>(w)[i]; }
float at_f16(const void* w, int64_t i) { return half_to_f32(static_cast<const uint16_t*>(w)[i]); }
float at_bf16(const void* w, int64_t i) { return bf16_to_f32(static_cast<const uint16_t*>(w)[i]); }
float at_f8(const void* w, int64_t i) { return fp8_e4m3_table()[static_cast<const uint8_t*>(w)[i]]; }

// F8_E4M3: 32 codes per step, converted 16 at a time (f8_to_f16_over_256 on 256-bit lanes, half the
// instructions per code of load8_f8), the 2^8 once at the end; the rest as dot_float. Decode on the
// AVX2 backend (BM_gemv_cold) read ~12.5 GB/s through dot_float with load8_f8.
template <bool kPrefetch = false>
float dot_f8(int64_t k, const void* w, const void* a) {
  const auto* c = static_cast<const uint8_t*>(w);
  const float* y = static_cast<const float*>(a);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  int64_t i = 0;
  for (; i + 32 <= k; i += 32) {
    prefetch_stream_ahead<kPrefetch, 32>(c + i);
    for (int h = 0; h < 2; ++h) {
      const __m256i f16 =
          f8_to_f16_over_256(_mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c + i + 16 * h))));
      acc[2 * h] = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm256_castsi256_si128(f16)), _mm256_loadu_ps(y + i + 16 * h), acc[2 * h]);
      acc[2 * h + 1] = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm256_extracti128_si256(f16, 1)), _mm256_loadu_ps(y + i + 16 * h + 8),
                                       acc[2 * h + 1]);
    }
  }
  float s = 256.0f * hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
  return s + (i < k ? dot_float<load8_f8, at_f8, 1>(k - i, c + i, y + i) : 0.0f);
}

// Σ x·a for two signed int8 vectors (|x|, |a| <= 128 / 127): move the sign onto a.
__m256i dot_i8(__m256i x, __m256i a) {
  return dot_u8s8(_mm256_setzero_si256(), _mm256_sign_epi8(x, x), _mm256_sign_epi8(a, x));
}

template <typename Block, __m256i (*kCodes)(const Block&), bool kPrefetch = false>
float dot_signed_blocks(int64_t k, const void* w, const void* a) {
  const Block* x = static_cast<const Block*>(w);
  const BlockQ8_0* y = static_cast<const BlockQ8_0*>(a);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < k / kQK; ++i) {
    prefetch_stream_ahead<kPrefetch, sizeof(Block)>(x + i);
    const __m256i p = dot_i8(kCodes(x[i]), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].qs)));
    const __m256 d = _mm256_set1_ps(half_to_f32(x[i].d) * half_to_f32(y[i].d));
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
  }
  return hsum(acc);
}

// Codes 0..31 are unsigned already, so the products take them as they are; Σa comes from the same
// activation bytes against ones.
template <typename Block, __m256i (*kCodes)(const Block&), bool kPrefetch = false>
float dot_offset_blocks(int64_t k, const void* w, const void* a) {
  const Block* x = static_cast<const Block*>(w);
  const BlockQ8_0* y = static_cast<const BlockQ8_0*>(a);
  const __m256i ones8 = _mm256_set1_epi8(1), zero = _mm256_setzero_si256();
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < k / kQK; ++i) {
    prefetch_stream_ahead<kPrefetch, sizeof(Block)>(x + i);
    const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].qs));
    const __m256i p = dot_u8s8(zero, kCodes(x[i]), av);
    const __m256i sa = dot_u8s8(zero, ones8, av);
    const float da = half_to_f32(y[i].d);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(half_to_f32(x[i].d) * da), _mm256_cvtepi32_ps(p), acc);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(half_to_f32(x[i].m) * da), _mm256_cvtepi32_ps(sa), acc);
  }
  return hsum(acc);
}

template <bool P = false>
constexpr VecDotFn dot_q8_0 = dot_signed_blocks<BlockQ8_0, block_codes, P>;
template <bool P = false>
constexpr VecDotFn dot_q4_0 = dot_signed_blocks<BlockQ4_0, block_codes, P>;
template <bool P = false>
constexpr VecDotFn dot_q5_0 = dot_signed_blocks<BlockQ5_0, block_codes, P>;
template <bool P = false>
constexpr VecDotFn dot_iq4_nl = dot_signed_blocks<BlockIQ4NL, block_codes, P>;
template <bool P = false>
constexpr VecDotFn dot_q4_1 = dot_offset_blocks<BlockQ4_1, block_codes, P>;
template <bool P = false>
constexpr VecDotFn dot_q5_1 = dot_offset_blocks<BlockQ5_1, block_codes, P>;

// K-quants: each super-block's products (ops/avx2_kquant.h) summed in 8 float lanes.
template <__m256 (*kBlockDot)(const void*, const BlockQ8K&, __m256), size_t kBlockBytes, bool kPrefetch = false>
float dot_k(int64_t k, const void* w, const void* a) {
  const uint8_t* x = static_cast<const uint8_t*>(w);
  const BlockQ8K* y = static_cast<const BlockQ8K*>(a);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < k / kQKK; ++i) {
    prefetch_stream_ahead<kPrefetch, kBlockBytes>(x + i * kBlockBytes);
    acc = kBlockDot(x + i * kBlockBytes, y[i], acc);
  }
  return hsum(acc);
}

// One token (decode): rows in order, each through its dot product (the prefetching form).
template <VecDotFn kDot>
void gemv_rows(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, float* y) {
  const auto* w8 = static_cast<const uint8_t*>(w);
  for (int64_t r = 0; r < n_rows; ++r) y[r] = kDot(k, w8 + static_cast<size_t>(r) * w_stride, a);
}

// A few tokens (up to kAvx2FewTokens, activation rows a_stride bytes apart; token t's products at
// y + t·ldy) in one pass over the weights: each row through the prefetching dot product for the
// first token, then again from L1 for the others, so each token's products are those of gemv_rows,
// bit for bit. Decoding each row again per token costs more than the prefill tiles' layout past two
// tokens: Qwen-1.5B Q4_K_M on the avx2 backend (EPYC), 3 alternated rounds, pp2 1.21x and 2 sequences'
// decode 1.25x the tile's t/s, pp4 0.96x and 4 sequences 0.91x (PERFORMANCE.md, session 52).
constexpr int64_t kAvx2FewTokens = 2;
template <VecDotFn kDot, VecDotFn kDotFromCache>
void gemv_rows_tokens(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, size_t a_stride,
                      int64_t n_tok, float* y, int64_t ldy) {
  const auto* w8 = static_cast<const uint8_t*>(w);
  const auto* a8 = static_cast<const uint8_t*>(a);
  for (int64_t r = 0; r < n_rows; ++r) {
    const uint8_t* row = w8 + static_cast<size_t>(r) * w_stride;
    y[r] = kDot(k, row, a);
    for (int64_t t = 1; t < n_tok; ++t) y[t * ldy + r] = kDotFromCache(k, row, a8 + static_cast<size_t>(t) * a_stride);
  }
}

// ---- activation quantizers: the scalar ones' bytes (vec_dot.h), 8 floats per vector ----

__m256 abs8(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }
float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  return _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
}
int hsum_i32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
  return _mm_cvtsi128_si32(_mm_add_epi32(s, _mm_shuffle_epi32(s, 1)));
}
// 32 int32 codes (|q| <= 127) as 32 bytes in their order: the packs interleave 128-bit halves.
void store_codes32(const __m256i q[4], int8_t* dst) {
  const __m256i b = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst),
                      _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
}

// Codes rounded half to even (cvtps's default rounding, as nearbyint), the scale through F16C.
void quantize_q8_0_avx2(const float* x, void* dst, int64_t k) {
  BlockQ8_0* y = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < k / kQK; ++i, x += kQK) {
    __m256 v[4], m = _mm256_setzero_ps();
    for (int j = 0; j < 4; ++j) m = _mm256_max_ps(m, abs8(v[j] = _mm256_loadu_ps(x + 8 * j)));
    const float amax = hmax(m);
    y[i].d = _cvtss_sh(amax / 127.f, _MM_FROUND_TO_NEAREST_INT);
    const __m256 id = _mm256_set1_ps(amax != 0 ? 127.f / amax : 0.0f);
    __m256i q[4];
    for (int j = 0; j < 4; ++j) q[j] = _mm256_cvtps_epi32(_mm256_mul_ps(v[j], id));
    store_codes32(q, y[i].qs);
  }
}

// The scale from the first element of largest magnitude (sign kept), codes capped at 127, one bsum
// per 16.
void quantize_q8_k_avx2(const float* x, void* dst, int64_t k) {
  BlockQ8K* y = static_cast<BlockQ8K*>(dst);
  for (int64_t i = 0; i < k / kQKK; ++i, x += kQKK) {
    __m256 m = _mm256_setzero_ps();
    for (int j = 0; j < kQKK; j += 8) m = _mm256_max_ps(m, abs8(_mm256_loadu_ps(x + j)));
    const float amax = hmax(m);
    if (amax == 0) {
      std::memset(&y[i], 0, sizeof(BlockQ8K));
      continue;
    }
    const float iscale = q8k_inverse_scale(x, amax);
    const __m256 s = _mm256_set1_ps(iscale);
    for (int j = 0; j < kQKK; j += 32) {
      __m256i q[4];
      for (int u = 0; u < 4; ++u)
        q[u] = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + j + 8 * u), s)), _mm256_set1_epi32(127));
      store_codes32(q, y[i].qs + j);
      y[i].bsums[j / 16] = static_cast<int16_t>(hsum_i32(_mm256_add_epi32(q[0], q[1])));
      y[i].bsums[j / 16 + 1] = static_cast<int16_t>(hsum_i32(_mm256_add_epi32(q[2], q[3])));
    }
    y[i].d = 1 / iscale;
  }
}

// fp16 <-> float32 rows, 8 per F16C instruction; the tail element by element.
void fp16_row_avx2(const uint16_t* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i))));
  for (; i < n; ++i) y[i] = fp16_to_f32(x[i]);
}
void f32_row_to_fp16_avx2(const float* x, uint16_t* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; ++i) y[i] = f32_to_fp16(x[i]);
}

}  // namespace

const GemvTable& gemv_avx2() {
  static const GemvTable t = {
      gemv_rows<dot_q8_0<true>>,
      gemv_rows<dot_q4_0<true>>,
      gemv_rows<dot_k<kblock_dot_q4k<false>, sizeof(BlockQ4K), true>>,
      gemv_rows<dot_k<kblock_dot_q4k<true>, sizeof(BlockQ5K), true>>,
      gemv_rows<dot_k<kblock_dot_q6k, sizeof(BlockQ6K), true>>,
      gemv_rows<dot_float<load8_f16, at_f16, 2, true>>,
      gemv_rows<dot_float<load8_bf16, at_bf16, 2, true>>,
      gemv_rows<dot_float<load8_f32, at_f32, 4, true>>,
      gemv_rows<dot_q4_1<true>>,
      gemv_rows<dot_q5_0<true>>,
      gemv_rows<dot_q5_1<true>>,
      gemv_rows<dot_iq4_nl<true>>,
      gemv_rows<dot_f8<true>>,
      gemv_rows_tokens<dot_k<kblock_dot_q6k, sizeof(BlockQ6K), true>, dot_k<kblock_dot_q6k, sizeof(BlockQ6K)>>,
      gemv_rows_tokens<dot_k<kblock_dot_q4k<false>, sizeof(BlockQ4K), true>, dot_k<kblock_dot_q4k<false>, sizeof(BlockQ4K)>>,
      gemv_rows_tokens<dot_k<kblock_dot_q4k<true>, sizeof(BlockQ5K), true>, dot_k<kblock_dot_q4k<true>, sizeof(BlockQ5K)>>,
      gemv_rows_tokens<dot_float<load8_f16, at_f16, 2, true>, dot_float<load8_f16, at_f16, 2>>,
      gemv_rows_tokens<dot_float<load8_bf16, at_bf16, 2, true>, dot_float<load8_bf16, at_bf16, 2>>,
      gemv_rows_tokens<dot_float<load8_f32, at_f32, 4, true>, dot_float<load8_f32, at_f32, 4>>,
      kAvx2FewTokens,
  };
  return t;
}

const VecDotTable& vec_dot_avx2() {
  static const VecDotTable t = {"avx2",
                                dot_float<load8_f32, at_f32, 4>,
                                dot_float<load8_f16, at_f16, 2>,
                                dot_float<load8_bf16, at_bf16, 2>,
                                dot_f8<>,
                                dot_q8_0<>,
                                dot_q4_0<>,
                                dot_k<kblock_dot_q4k<false>, sizeof(BlockQ4K)>,
                                dot_k<kblock_dot_q4k<true>, sizeof(BlockQ5K)>,
                                dot_k<kblock_dot_q6k, sizeof(BlockQ6K)>,
                                quantize_q8_0_avx2,
                                quantize_q8_k_avx2,
                                fp16_row_avx2,
                                f32_row_to_fp16_avx2,
                                dot_q4_1<>,
                                dot_q5_0<>,
                                dot_q5_1<>,
                                dot_iq4_nl<>};
  return t;
}

}  // namespace r1
