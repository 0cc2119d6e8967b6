// NEON prefill kernels, included by vec_dot_neon.cc and vec_dot_neon_dotprod.cc like
// vec_dot_neon_impl.h (each file its own copy): Q4_0 / Q8_0 rows repacked at load in groups of 8
// (ops/repack.h), the 32-element blocks as stored, the K-quants (neon_kquant.h) and the float
// formats' tile (float_gemm.h), below.
#pragma once
#include <arm_neon.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "ops/blocks.h"
#include "ops/convert.h"
#include "ops/float_gemm.h"
#include "ops/gemm_tile.h"
#include "ops/neon_kquant.h"
#include "ops/neon_util.h"
#include "ops/repack.h"
#include "ops/tile_walk.h"
#include "ops/vec_dot_neon_impl.h"  // block_codes, block_step, load4_*, f8_to_f16_over_256

namespace r1 {
namespace {

// ---- Q4_0 / Q8_0 repacked in groups of 8 rows (ops/repack.h) ------------------------------------

// A 16-byte half of a chunk holds 4 codes of each of 4 rows; one multiply-add of it against a
// token's 4 activations (one 32-bit lane of the activation block, broadcast) adds 4 products to each
// row's int32 lane: with the dot-product extension one sdot (by lane), without it two widening
// multiplies and two pairwise adds. Each row's sum is formed block by block in one float lane, as the
// AVX2 kernel (gemm_avx2_impl.h) and the scalar dot products do.

// acc[j] += Σ_b w[4j + b] · a[4·kLane + b] for the 4 rows j of w.
template <int kLane>
inline int32x4_t dot_rows4(int32x4_t acc, int8x16_t w, int8x16_t a) {
#if defined(__ARM_FEATURE_DOTPROD)
  return vdotq_laneq_s32(acc, w, a, kLane);
#else
  const int8x16_t b = vreinterpretq_s8_s32(vdupq_laneq_s32(vreinterpretq_s32_s8(a), kLane));
  const int16x8_t lo = vmull_s8(vget_low_s8(w), vget_low_s8(b));  // rows 0, 1: 4 products each
  const int16x8_t hi = vmull_high_s8(w, b);                      // rows 2, 3
  return vpadalq_s16(acc, vpaddq_s16(lo, hi));  // pair sums <= 2 · 128 · 127: no overflow
#endif
}

// Chunk v of a block column (8 rows × codes 4v .. 4v+3) against activations a_lo (elements 0..15)
// and a_hi (16..31): Q4_0's low nibbles are elements 4v.., its high ones 16 + 4v..; Q8_0's chunk v
// (v < 8) is elements 4v.. of a_lo (v < 4) or a_hi.
template <DType kType, int kV>
inline void chunk(const uint8_t* qs, int8x16_t a_lo, int8x16_t a_hi, int32x4_t& r03, int32x4_t& r47) {
  const uint8x16_t c0 = vld1q_u8(qs + 32 * kV), c1 = vld1q_u8(qs + 32 * kV + 16);
  if constexpr (kType == DType::Q4_0) {
    const uint8x16_t low4 = vdupq_n_u8(0xF);
    const int8x16_t eight = vdupq_n_s8(8);
    const auto code = [&](uint8x16_t c) { return vsubq_s8(vreinterpretq_s8_u8(c), eight); };
    r03 = dot_rows4<kV>(r03, code(vandq_u8(c0, low4)), a_lo);
    r47 = dot_rows4<kV>(r47, code(vandq_u8(c1, low4)), a_lo);
    r03 = dot_rows4<kV>(r03, code(vshrq_n_u8(c0, 4)), a_hi);
    r47 = dot_rows4<kV>(r47, code(vshrq_n_u8(c1, 4)), a_hi);
  } else {
    const int8x16_t a = kV < 4 ? a_lo : a_hi;
    r03 = dot_rows4<kV % 4>(r03, vreinterpretq_s8_u8(c0), a);
    r47 = dot_rows4<kV % 4>(r47, vreinterpretq_s8_u8(c1), a);
  }
}

template <DType kType, int... kVs>
inline void column(const uint8_t* qs, int8x16_t a_lo, int8x16_t a_hi, int32x4_t& r03, int32x4_t& r47,
                   std::integer_sequence<int, kVs...>) {
  (chunk<kType, kVs>(qs, a_lo, a_hi, r03, r47), ...);
}

// One group of 8 rows × T tokens (activation rows a_stride bytes apart, their block scales in da).
template <DType kType, int T>
void tile_x8_neon(int64_t nb, const uint8_t* w, const uint8_t* a, size_t a_stride, const float* da, float* y,
                  int64_t ldy) {
  constexpr int64_t kColumn = kInterleave * (kType == DType::Q4_0 ? sizeof(BlockQ4_0) : sizeof(BlockQ8_0));
  constexpr int kChunks = kType == DType::Q4_0 ? 4 : 8;
  float32x4_t acc[T][2];
  for (int t = 0; t < T; ++t) acc[t][0] = acc[t][1] = vdupq_n_f32(0);
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* col = w + i * kColumn;
    const float32x4_t d03 = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(reinterpret_cast<const uint16_t*>(col))));
    const float32x4_t d47 = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(reinterpret_cast<const uint16_t*>(col) + 4)));
    for (int t = 0; t < T; ++t) {
      const BlockQ8_0& ab = reinterpret_cast<const BlockQ8_0*>(a + t * a_stride)[i];
      int32x4_t r03 = vdupq_n_s32(0), r47 = vdupq_n_s32(0);
      column<kType>(col + 2 * kInterleave, vld1q_s8(ab.qs), vld1q_s8(ab.qs + 16), r03, r47,
                    std::make_integer_sequence<int, kChunks>{});
      const float d = da[t * nb + i];
      acc[t][0] = vfmaq_f32(acc[t][0], vmulq_n_f32(d03, d), vcvtq_f32_s32(r03));
      acc[t][1] = vfmaq_f32(acc[t][1], vmulq_n_f32(d47, d), vcvtq_f32_s32(r47));
    }
  }
  for (int t = 0; t < T; ++t) {
    vst1q_f32(y + t * ldy, acc[t][0]);
    vst1q_f32(y + t * ldy + 4, acc[t][1]);
  }
}

// n_rows (a multiple of 8) repacked rows × n_tok tokens, 4 tokens per pass, 32 tokens per sweep of
// the rows (their activation blocks stay in cache while the rows pass).
template <DType kType>
void gemm_x8_neon(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, size_t a_stride,
                  int64_t n_tok, float* y, int64_t ldy) {
  using Tile = void (*)(int64_t, const uint8_t*, const uint8_t*, size_t, const float*, float*, int64_t);
  static constexpr std::array<Tile, 4> tiles = {tile_x8_neon<kType, 1>, tile_x8_neon<kType, 2>,
                                                tile_x8_neon<kType, 3>, tile_x8_neon<kType, 4>};
  const int64_t nb = k / kQK;
  const auto* w8 = static_cast<const uint8_t*>(w);
  const auto* a8 = static_cast<const uint8_t*>(a);
  thread_local std::vector<float> da;
  da.resize(static_cast<size_t>(n_tok * nb));
  for (int64_t t = 0; t < n_tok; ++t)
    for (int64_t i = 0; i < nb; ++i) da[t * nb + i] = half(reinterpret_cast<const BlockQ8_0*>(a8 + t * a_stride)[i].d);
  const size_t group_bytes = kInterleave * w_stride;
  for (int64_t t0 = 0; t0 < n_tok; t0 += kTokChunk) {  // tile_walk.h
    const int64_t t1 = std::min(n_tok, t0 + kTokChunk);
    for (int64_t r = 0; r < n_rows; r += kInterleave)
      for (int64_t t = t0; t < t1; t += 4) {
        const int64_t T = std::min<int64_t>(4, t1 - t);
        tiles[T - 1](nb, w8 + r / kInterleave * group_bytes, a8 + t * a_stride, a_stride, da.data() + t * nb,
                     y + t * ldy + r, ldy);
      }
  }
}

// ---- 32-element blocks as stored (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL against Q8_0 activations) ----

// R rows × T tokens: each row's block decoded once for the T tokens and each activation block loaded
// once for the R rows, where the one-row dot products do both per row and token. Per row and token
// the dot products' step (block_step), so the results equal theirs bit for bit. 4 × 4: 16
// accumulators, 8 code vectors and 2 activation vectors of the 32 registers.
constexpr int kBlockRows = 4, kBlockToks = 4;

template <typename Block, int R, int T>
void tile_blocks_neon(int64_t nb, const uint8_t* w, size_t w_stride, const uint8_t* a, size_t a_stride, float* y,
                      int64_t ldy) {
  constexpr bool kOffset = requires(const Block& b) { b.m; };
  float32x4_t acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = vdupq_n_f32(0);
  for (int64_t i = 0; i < nb; ++i) {
    int8x16_t lo[R], hi[R];
    float dw[R], mw[R] = {};
    for (int r = 0; r < R; ++r) {
      const Block& b = reinterpret_cast<const Block*>(w + r * w_stride)[i];
      block_codes(b, &lo[r], &hi[r]);
      dw[r] = half(b.d);
      if constexpr (kOffset) mw[r] = half(b.m);
    }
    for (int t = 0; t < T; ++t) {
      const BlockQ8_0& ab = reinterpret_cast<const BlockQ8_0*>(a + t * a_stride)[i];
      const int8x16_t a0 = vld1q_s8(ab.qs), a1 = vld1q_s8(ab.qs + 16);
      const float da = half(ab.d);
      const float32x4_t sa = kOffset ? block_sums(a0, a1) : vdupq_n_f32(0);
      for (int r = 0; r < R; ++r) acc[r][t] = block_step<kOffset>(acc[r][t], lo[r], hi[r], dw[r], mw[r], a0, a1, da, sa);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) y[t * ldy + r] = vaddvq_f32(acc[r][t]);
}

template <typename Block, int R, int... Ts>
constexpr std::array<TileFn, sizeof...(Ts)> block_row_tiles(std::integer_sequence<int, Ts...>) {
  return {&tile_blocks_neon<Block, R, Ts + 1>...};
}
template <typename Block, int... Rs>
constexpr auto block_tiles(std::integer_sequence<int, Rs...>) {
  return std::array<std::array<TileFn, kBlockToks>, sizeof...(Rs)>{
      block_row_tiles<Block, Rs + 1>(std::make_integer_sequence<int, kBlockToks>{})...};
}

template <typename Block>
void gemm_blocks_neon(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, size_t a_stride,
                      int64_t n_tok, float* y, int64_t ldy) {
  static constexpr auto table = block_tiles<Block>(std::make_integer_sequence<int, kBlockRows>{});
  run_tiles(table, k / kQK, w, w_stride, n_rows, a, a_stride, n_tok, y, ldy);
}

// ---- K-quants (Q4_K, Q5_K, Q6_K against Q8_K activations) ----------------------------------------

// One row × up to kTokChunk tokens (tile_walk.h) per pass: each super-block is expanded
// (neon_kquant.h) once for the tokens instead of once per token, as the one-row dot products do. The
// tokens' activation blocks (292 bytes each; 56 KiB at k = 1536, 320 KiB at 8960) stay in cache while
// the rows go by. The block's steps are the dot products', so prefill equals decode bit for bit.
template <void (*kExpand)(const void*, KBlockNeon&), size_t kBlockBytes, bool kQ6>
void gemm_k_neon(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, size_t a_stride,
                 int64_t n_tok, float* y, int64_t ldy) {
  const int64_t nb = k / kQKK;
  const auto* w8 = static_cast<const uint8_t*>(w);
  const auto* a8 = static_cast<const uint8_t*>(a);
  for (int64_t t0 = 0; t0 < n_tok; t0 += kTokChunk) {
    const int64_t n = std::min(kTokChunk, n_tok - t0);
    const uint8_t* a_chunk = a8 + t0 * a_stride;
    for (int64_t r = 0; r < n_rows; ++r) {
      float s[kTokChunk] = {};
      for (int64_t i = 0; i < nb; ++i) {
        KBlockNeon kb;
        kExpand(w8 + r * w_stride + i * kBlockBytes, kb);
        for (int64_t t = 0; t < n; ++t)
          s[t] = kblock_dot<kQ6>(kb, reinterpret_cast<const BlockQ8K*>(a_chunk + t * a_stride)[i], s[t]);
      }
      for (int64_t t = 0; t < n; ++t) y[(t0 + t) * ldy + r] = s[t];
    }
  }
}

// ---- float formats -------------------------------------------------------------------------------

// The float tile of the AVX2 backends (float_gemm.h) on 4 lanes. AArch64 has 32 vector registers, so
// 4 rows × 6 tokens: 24 accumulators + 6 activations + 1 weight vector, 10 loads per 24 FMAs (the
// one-row dot products it replaces for prefill load a weight and an activation vector per FMA).
struct Lanes4 {
  using Vec = float32x4_t;
  static constexpr int kLanes = 4;
  static Vec zero() { return vdupq_n_f32(0); }
  static Vec load(const float* p) { return vld1q_f32(p); }
  static void store(float* p, Vec v) { vst1q_f32(p, v); }
  static Vec fma(Vec w, Vec a, Vec acc) { return vfmaq_f32(acc, w, a); }
  static float sum(Vec v) { return vaddvq_f32(v); }
};
template <float32x4_t (*kLoad)(const void*, int64_t)>
using NeonFloatTile = FloatTile<Lanes4, kLoad, 4, 6>;

// Every e4m3 value is an fp16 value, so the F8 rows go through the F16 tile exactly: the dot
// products' conversion (f8_to_f16_over_256), scaled back by 2^8 in float32 (exact both ways).
void f8_row_to_f16_neon(const uint8_t* row, int64_t k, uint16_t* out) {
  int64_t i = 0;
  for (; i + 8 <= k; i += 8) {
    const float16x8_t h = f8_to_f16_over_256(vld1_s8(reinterpret_cast<const int8_t*>(row + i)));
    const float32x4_t lo = vmulq_n_f32(vcvt_f32_f16(vget_low_f16(h)), 256.0f);
    const float32x4_t hi = vmulq_n_f32(vcvt_high_f32_f16(h), 256.0f);
    vst1q_u16(out + i, vreinterpretq_u16_f16(vcvt_high_f16_f32(vcvt_f16_f32(lo), hi)));
  }
  for (; i < k; ++i) out[i] = f32_to_fp16(fp8_e4m3_to_f32(row[i]));
}

GemmTable neon_gemm_table() {
  GemmTable g;
  g.f32 = gemm_float<NeonFloatTile<load4_f32>>;
  g.f16 = gemm_float<NeonFloatTile<load4_f16>>;
  g.bf16 = gemm_float<NeonFloatTile<load4_bf16>>;
  g.f8_e4m3 = gemm_f8<NeonFloatTile<load4_f16>, f8_row_to_f16_neon>;
  g.q4_0_x8 = gemm_x8_neon<DType::Q4_0>;
  g.q8_0_x8 = gemm_x8_neon<DType::Q8_0>;
  g.q8_0 = gemm_blocks_neon<BlockQ8_0>;
  g.q4_0 = gemm_blocks_neon<BlockQ4_0>;
  g.q4_1 = gemm_blocks_neon<BlockQ4_1>;
  g.q5_0 = gemm_blocks_neon<BlockQ5_0>;
  g.q5_1 = gemm_blocks_neon<BlockQ5_1>;
  g.iq4_nl = gemm_blocks_neon<BlockIQ4NL>;
  g.q4_k = gemm_k_neon<expand_q4k_neon<false>, sizeof(BlockQ4K), false>;
  g.q5_k = gemm_k_neon<expand_q4k_neon<true>, sizeof(BlockQ5K), false>;
  g.q6_k = gemm_k_neon<expand_q6k_neon, sizeof(BlockQ6K), true>;
  return g;
}

}  // namespace
}  // namespace r1
