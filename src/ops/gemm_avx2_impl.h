// Prefill tiles for CPUs with AVX2 but not AVX-512: Q8_0, Q4_0,
// Q4_1, Q5_0, Q5_1 and IQ4_NL weights against Q8_0 activations, 2 rows × 4 tokens per pass; Q4_K, Q5_K and Q6_K against
// Q8_K, 1 row × 32 tokens of expanded super-blocks (expanding a block costs more than a token's
// products, so more tokens per expansion run faster: 4 × 2 < 2 × 8 < 2 × 16 ≤ 1 × 32, Q6_K 1.2× at
// the last step). The
// one-row dot products decode a weight block once per token and load an activation block once per
// row; the tiles decode once per token tile and load once per row pair. Per block the integer sums
// and their float accumulation are the dot products' (vec_dot_avx2.cc, ops/avx2_kquant.h), so every
// result equals theirs bit for bit (Matmul.Avx2TilesEqualTheDotProducts).
// Also here: Q4_0 rows repacked at load in groups of 8 (ops/repack.h; decode and prefill), and float
// tiles for F32 / F16 / BF16 / F8_E4M3 weights against float32 activations (4 rows × 3 tokens).
// Compiled twice, each file its own copy (an unnamed namespace): gemm_avx2.cc (-mavx2 -mfma -mf16c)
// and gemm_avx2vnni.cc (the same and -mavxvnni), where the int8 products of the 32-element block
// formats take one vpdpbusd instead of vpmaddubsw + vpmaddwd (avx2_util.h: dot_u8s8); the sums,
// and so the results, are the same.
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>
#include <vector>

#include "ops/avx2_kquant.h"
#include "ops/avx2_util.h"
#include "ops/blocks.h"
#include "ops/float_gemm.h"
#include "ops/gemm_tile.h"
#include "ops/repack.h"
#include "ops/tile_walk.h"

namespace r1 {
namespace {

// R rows (w_stride bytes apart) × T tokens (a_stride apart), nb blocks each; y[t·ldy + r]. Signed
// codes go into the products as |code| against the activations with the code's sign; unsigned ones (the
// formats with an offset m) as they are, and m·da·Σa is added per block, as the dot products do.
template <typename Block, int R, int T>
void tile(int64_t nb, const uint8_t* w, size_t w_stride, const uint8_t* a, size_t a_stride, float* y, int64_t ldy) {
  constexpr bool kOffsets = requires(const Block& b) { b.m; };
  __m256 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
  const __m256i ones8 = _mm256_set1_epi8(1);
  for (int64_t i = 0; i < nb; ++i) {
    __m256i x[R], ax[R];
    float dw[R], mw[R];
    for (int r = 0; r < R; ++r) {
      const Block& b = reinterpret_cast<const Block*>(w + r * w_stride)[i];
      x[r] = block_codes(b);  // avx2_util.h
      ax[r] = kOffsets ? x[r] : _mm256_sign_epi8(x[r], x[r]);
      dw[r] = half_to_f32(b.d);
      if constexpr (kOffsets) mw[r] = half_to_f32(b.m);
    }
    for (int t = 0; t < T; ++t) {
      const BlockQ8_0& ab = reinterpret_cast<const BlockQ8_0*>(a + t * a_stride)[i];
      const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ab.qs));
      const float da = half_to_f32(ab.d);
      __m256 sa = _mm256_setzero_ps();
      if constexpr (kOffsets) sa = _mm256_cvtepi32_ps(dot_u8s8(_mm256_setzero_si256(), ones8, av));
      for (int r = 0; r < R; ++r) {
        const __m256i p = dot_u8s8(_mm256_setzero_si256(), ax[r], kOffsets ? av : _mm256_sign_epi8(av, x[r]));
        acc[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(dw[r] * da), _mm256_cvtepi32_ps(p), acc[r][t]);
        if constexpr (kOffsets) acc[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(mw[r] * da), sa, acc[r][t]);
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) y[t * ldy + r] = hsum(acc[r][t]);
}

constexpr int kRows = 2, kToks = 4;
template <typename Block, int R, int... Ts>
constexpr std::array<TileFn, sizeof...(Ts)> row_tiles(std::integer_sequence<int, Ts...>) {
  return {&tile<Block, R, Ts + 1>...};
}

template <typename Block>
void gemm(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, size_t a_stride, int64_t n_tok,
          float* y, int64_t ldy) {
  static constexpr std::array<std::array<TileFn, kToks>, kRows> table = {
      row_tiles<Block, 1>(std::make_integer_sequence<int, kToks>{}),
      row_tiles<Block, 2>(std::make_integer_sequence<int, kToks>{})};
  run_tiles(table, k / kQK, w, w_stride, n_rows, a, a_stride, n_tok, y, ldy);
}

// ---- Q4_0 / Q8_0 interleaved in groups of 8 rows (ops/repack.h) ------------------------------------

// An activation block's scale as a float and 8·Σa: Q4_0 codes go into the products unsigned (0..15 for
// −8..7), so Σ(q − 8)·a = Σq·a − 8·Σa, the same integer the dot products form.
struct ActBlock {
  float d;
  int32_t sum8;
};

inline __m256i broadcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

// The integer sums of one block column of a group (8 rows) with T tokens' block i, row r in lane r.
// Q4_0: each 32-byte chunk's low and high nibbles are multiplied by 4 broadcast activations each.
// With vpdpbusd every product goes straight into 32 bits; without, the 8 products of a block add up
// in 16 bits (|Σ| <= 8 · 2 · 15 · 127 < 2^15) before one widening. Q8_0: signed codes, so the
// products take |q| and the activations with q's sign.
template <DType kType, int T>
inline void column_sums(const uint8_t* qs, const uint8_t* a, size_t a_stride, int64_t i, __m256i* p) {
  for (int t = 0; t < T; ++t) p[t] = _mm256_setzero_si256();
  if constexpr (kType == DType::Q4_0) {
    const __m256i low4 = _mm256_set1_epi8(0xF);
#if !defined(__AVXVNNI__)
    __m256i s16[T];
    for (int t = 0; t < T; ++t) s16[t] = _mm256_setzero_si256();
#endif
#pragma GCC unroll 1  // unrolled, GCC sums the chunks' products as a tree and spills them to the stack
    for (int v = 0; v < 4; ++v) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * v));
      const __m256i lo = _mm256_and_si256(q, low4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
      for (int t = 0; t < T; ++t) {
        const int8_t* aq = reinterpret_cast<const BlockQ8_0*>(a + t * a_stride)[i].qs;
#if defined(__AVXVNNI__)
        p[t] = dot_u8s8(dot_u8s8(p[t], lo, broadcast4(aq + 4 * v)), hi, broadcast4(aq + 16 + 4 * v));
#else
        s16[t] = _mm256_add_epi16(s16[t], _mm256_maddubs_epi16(lo, broadcast4(aq + 4 * v)));
        s16[t] = _mm256_add_epi16(s16[t], _mm256_maddubs_epi16(hi, broadcast4(aq + 16 + 4 * v)));
#endif
      }
    }
#if !defined(__AVXVNNI__)
    for (int t = 0; t < T; ++t) p[t] = _mm256_madd_epi16(s16[t], _mm256_set1_epi16(1));
#endif
  } else {
#pragma GCC unroll 1  // as Q4_0's
    for (int v = 0; v < 8; ++v) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * v));
      const __m256i q_abs = _mm256_sign_epi8(q, q);
      for (int t = 0; t < T; ++t) {
        const __m256i av = broadcast4(reinterpret_cast<const BlockQ8_0*>(a + t * a_stride)[i].qs + 4 * v);
        p[t] = dot_u8s8(p[t], q_abs, _mm256_sign_epi8(av, q));
      }
    }
  }
}

// One group of 8 rows × T tokens: lane r of acc[t] is row r, so the group's 8 results leave in one
// store. Each block's integer sum is scaled by both scales and added in block order, as the scalar
// dot products (and llama.cpp's repacked kernels) do.
template <DType kType, int T>
void tile_x8(int64_t nb, const uint8_t* w, const uint8_t* a, size_t a_stride, const ActBlock* s, int64_t ldy, float* y) {
  constexpr int64_t kColumn = kInterleave * (kType == DType::Q4_0 ? sizeof(BlockQ4_0) : sizeof(BlockQ8_0));
  __m256 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* col = w + i * kColumn;
    prefetch_stream_ahead<T == 1, kColumn>(col);  // decode (avx2_util.h)
    __m256i p[T];
    column_sums<kType, T>(col + 2 * kInterleave, a, a_stride, i, p);
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(col)));
    for (int t = 0; t < T; ++t) {
      const ActBlock& ab = s[t * nb + i];
      if constexpr (kType == DType::Q4_0) p[t] = _mm256_sub_epi32(p[t], _mm256_set1_epi32(ab.sum8));
      acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(ab.d)), _mm256_cvtepi32_ps(p[t]), acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) _mm256_storeu_ps(y + t * ldy, acc[t]);
}

constexpr int kX8Toks = 4;  // tokens per pass: 2 × 4 accumulators + codes fit the 16 registers
using X8TileFn = void (*)(int64_t, const uint8_t*, const uint8_t*, size_t, const ActBlock*, int64_t, float*);

// n_rows (a multiple of 8) interleaved rows × n_tok tokens; one token is decode's case.
template <DType kType>
void gemm_x8(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, size_t a_stride, int64_t n_tok,
             float* y, int64_t ldy) {
  static constexpr std::array<X8TileFn, kX8Toks> tiles = {tile_x8<kType, 1>, tile_x8<kType, 2>, tile_x8<kType, 3>,
                                                          tile_x8<kType, 4>};
  const int64_t nb = k / kQK;
  thread_local std::vector<ActBlock> sums;
  sums.resize(static_cast<size_t>(n_tok * nb));
  const __m256i ones8 = _mm256_set1_epi8(1);
  for (int64_t t = 0; t < n_tok; ++t) {
    const auto* ab = reinterpret_cast<const BlockQ8_0*>(static_cast<const uint8_t*>(a) + t * a_stride);
    for (int64_t i = 0; i < nb; ++i) {
      int32_t sum8 = 0;
      if constexpr (kType == DType::Q4_0) {
        const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ab[i].qs));
        const __m256i s = dot_u8s8(_mm256_setzero_si256(), ones8, q);
        __m128i h = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4E));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xB1));
        sum8 = 8 * _mm_cvtsi128_si32(h);
      }
      sums[t * nb + i] = {half_to_f32(ab[i].d), sum8};
    }
  }
  const auto* w8 = static_cast<const uint8_t*>(w);
  const auto* a8 = static_cast<const uint8_t*>(a);
  const size_t group_bytes = kInterleave * w_stride;
  for (int64_t t0 = 0; t0 < n_tok; t0 += kTokChunk) {
    const int64_t t1 = std::min(n_tok, t0 + kTokChunk);
    for (int64_t r = 0; r < n_rows; r += kInterleave)
      for (int64_t t = t0; t < t1; t += kX8Toks) {
        const int64_t T = std::min<int64_t>(kX8Toks, t1 - t);
        tiles[T - 1](nb, w8 + r / kInterleave * group_bytes, a8 + t * a_stride, a_stride, sums.data() + t * nb, ldy,
                     y + t * ldy + r);
      }
  }
}

// ---- K-quants ------------------------------------------------------------------------------------

// R rows × T tokens of K-quant super-blocks (ops/avx2_kquant.h): each row's block expanded once for
// the T tokens; the dot products' steps per block and token, so the results equal theirs.
constexpr int kKRows = 1, kKToks = 32;

// kblock_tokens over T tokens in groups of up to 8 (8 sums, a code vector, its scales and an
// activation vector fill 11 of the 16 registers).
template <bool kQ6, int T>
inline void kblock_token_groups(const KBlock& k, const uint8_t* a, size_t a_stride, int64_t i, __m256* acc) {
  constexpr int kGroup = 8;
  if constexpr (T > kGroup) {
    kblock_tokens<kQ6, kGroup>(k, a, a_stride, i, acc);
    kblock_token_groups<kQ6, T - kGroup>(k, a + kGroup * a_stride, a_stride, i, acc + kGroup);
  } else {
    kblock_tokens<kQ6, T>(k, a, a_stride, i, acc);
  }
}

template <void (*kExpand)(const void*, KBlock&), size_t kBlockBytes, bool kQ6, int R, int T>
void tile_k(int64_t nb, const uint8_t* w, size_t w_stride, const uint8_t* a, size_t a_stride, float* y, int64_t ldy) {
  __m256 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
  KBlock kb[R];
  for (int64_t i = 0; i < nb; ++i) {
    for (int r = 0; r < R; ++r) kExpand(w + r * w_stride + i * kBlockBytes, kb[r]);
    for (int r = 0; r < R; ++r) kblock_token_groups<kQ6, T>(kb[r], a, a_stride, i, acc[r]);
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) y[t * ldy + r] = hsum(acc[r][t]);
}

template <void (*kExpand)(const void*, KBlock&), size_t kBlockBytes, bool kQ6, int R, int... Ts>
constexpr std::array<TileFn, sizeof...(Ts)> k_row_tiles(std::integer_sequence<int, Ts...>) {
  return {&tile_k<kExpand, kBlockBytes, kQ6, R, Ts + 1>...};
}
template <void (*kExpand)(const void*, KBlock&), size_t kBlockBytes, bool kQ6, int... Rs>
constexpr auto k_tiles(std::integer_sequence<int, Rs...>) {
  return std::array<std::array<TileFn, kKToks>, sizeof...(Rs)>{
      k_row_tiles<kExpand, kBlockBytes, kQ6, Rs + 1>(std::make_integer_sequence<int, kKToks>{})...};
}

template <void (*kExpand)(const void*, KBlock&), size_t kBlockBytes, bool kQ6>
void gemm_k(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, size_t a_stride, int64_t n_tok,
            float* y, int64_t ldy) {
  static constexpr auto table = k_tiles<kExpand, kBlockBytes, kQ6>(std::make_integer_sequence<int, kKRows>{});
  run_tiles(table, k / kQKK, w, w_stride, n_rows, a, a_stride, n_tok, y, ldy);
}

// ---- float formats ------------------------------------------------------------------------------

// The float tiles (float_gemm.h) on 8 lanes, 4 rows × 3 tokens.
struct Lanes8 {
  using Vec = __m256;
  static constexpr int kLanes = 8;
  static Vec zero() { return _mm256_setzero_ps(); }
  static Vec load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, Vec v) { _mm256_storeu_ps(p, v); }
  static Vec fma(Vec w, Vec a, Vec acc) { return _mm256_fmadd_ps(w, a, acc); }
  static float sum(Vec v) { return hsum(v); }
};
template <__m256 (*kLoad)(const void*, int64_t)>
using FloatKernel = FloatTile<Lanes8, kLoad, 4, 3>;

void f8_row_to_f16(const uint8_t* row, int64_t k, uint16_t* out) {
  for (int64_t i = 0; i < k; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), _mm256_cvtps_ph(load8_f8(row, i), _MM_FROUND_TO_NEAREST_INT));
}

GemmTable avx2_gemm_table() {
  GemmTable g;
  g.q8_0 = gemm<BlockQ8_0>;
  g.q4_0 = gemm<BlockQ4_0>;
  g.q5_0 = gemm<BlockQ5_0>;
  g.iq4_nl = gemm<BlockIQ4NL>;
  g.q4_1 = gemm<BlockQ4_1>;
  g.q5_1 = gemm<BlockQ5_1>;
  g.q4_0_x8 = gemm_x8<DType::Q4_0>;
  g.q8_0_x8 = gemm_x8<DType::Q8_0>;
  g.q4_k = gemm_k<expand_q4k<false>, sizeof(BlockQ4K), false>;
  g.q5_k = gemm_k<expand_q4k<true>, sizeof(BlockQ5K), false>;
  g.q6_k = gemm_k<expand_q6k, sizeof(BlockQ6K), true>;
  g.f32 = gemm_float<FloatKernel<load8_f32>>;
  g.f16 = gemm_float<FloatKernel<load8_f16>>;
  g.bf16 = gemm_float<FloatKernel<load8_bf16>>;
  g.f8_e4m3 = gemm_f8<FloatKernel<load8_f16>, f8_row_to_f16>;
  return g;
}

}  // namespace
}  // namespace r1
