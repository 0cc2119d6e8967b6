// Prefill (matrix × several tokens) kernels on AVX-512 VNNI; this file is compiled with
// -mavx512vnni (plus F/BW/VL, AVX2, FMA, F16C) and only called when the CPU has it.
//
// Integer formats (Q4_0, Q8_0, the K-quants and the other 32-element formats) go through one
// register tile that holds 16 rows in the lanes of a vector (see "the tile"). A thread reads a group
// of 16 rows as stored, transposes them into that layout and decodes the codes and scales there,
// once per chunk of tokens (matmul.cc feeds up to 128), then multiplies the group with every token
// of the chunk, so the tile's inner loop is the same for every format. Activations are those of the
// dot products (Q8_0 blocks for the 32-element formats, Q8_K for the K-quants, as llama.cpp),
// rearranged once per chunk.
//
// Float formats (F32, F16, BF16, F8_E4M3) have their own rows-in-lanes kernel (gemm_float_avx512.cc).
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <type_traits>
#include <utility>
#include <vector>

#include "ops/avx2_util.h"
#include "ops/blocks.h"
#include "ops/gemm_tile.h"
#include "ops/int_lanes_avx512.h"
#include "ops/repack.h"
#include "ops/vec_dot.h"

namespace r1 {
namespace {

// ---- integer formats: the tile ----------------------------------------------------------------

// Rows in lanes (ops/int_lanes_avx512.h: a group of 16 weight rows stored so that one 512-bit vector
// holds 4 consecutive codes of each of the 16 rows, expanded from the file's layout), and vpdpbusd
// against one activation dword (4 codes of a token, broadcast) adds 4 products to each row's lane. A 32-element block is 8 such vectors; the int32
// sums come out with one row per lane, so the float work (convert, scale, accumulate) is done once
// per 16 rows and token instead of once per row, and no horizontal sums are needed.
//
// vpdpbusd takes unsigned × signed bytes: the weight codes are stored unsigned (code + offset: 8 for
// Q4_0, 16 for Q5_0, 32 for Q6_K, 128 for Q8_0 and IQ4_NL, 0 for Q4_1 / Q5_1 / Q4_K / Q5_K, whose
// codes are unsigned with a min) and each int32 accumulator starts at the
// token's −offset·Σa over the block (or half block), which takes the offset out exactly.
constexpr int kLaneToks = 8;  // tokens per tile: 8 float + 8 int accumulators + 8 weight vectors

// A group of 16 rows in the layout above; k elements per row, nb = k / 32 blocks.
struct LaneRows {
  const uint8_t* codes;  // [block][quad 0..7][row][4 codes]
  const float* scales;   // [block][half][row] with kHalves (Q6_K: a scale per 16), else [block][row]
  const float* mins;     // [block][row] for the formats with a min (Q4_1, Q5_1, Q4_K, Q5_K), or null
};

// A chunk's activations as the tile reads them.
struct LaneActs {
  const int8_t* codes;   // [token][k]
  const float* d;        // [token][nb]: the block's activation scale
  const int32_t* start;  // [token][nb or 2·nb]: −offset·Σa per block (per half block with kHalves)
  const float* sums;     // [token][nb]: d·Σa per block, for the mins
  int64_t k, nb;
};

// T tokens from t0 against one group of rows; y rows of the group are masked to the valid ones.
// Quad-major, token-minor: consecutive vpdpbusd feed different tokens' sums, which hides its latency.
template <int T, bool kHalves, bool kMins>
void tile_lanes(const LaneRows& w, const LaneActs& a, int64_t t0, float* y, int64_t ldy, __mmask16 rows) {
  constexpr int kStarts = kHalves ? 2 : 1, kQuadsPerStart = 8 / kStarts;
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < a.nb; ++b) {
    __m512i wv[8];
    for (int q = 0; q < 8; ++q) wv[q] = _mm512_loadu_si512(w.codes + (b * 8 + q) * 64);
    for (int h = 0; h < kStarts; ++h) {
      __m512i sum[T];
      for (int t = 0; t < T; ++t) sum[t] = _mm512_set1_epi32(a.start[((t0 + t) * a.nb + b) * kStarts + h]);
      for (int q = h * kQuadsPerStart; q < (h + 1) * kQuadsPerStart; ++q)
        for (int t = 0; t < T; ++t) {
          const int32_t* ac = reinterpret_cast<const int32_t*>(a.codes + (t0 + t) * a.k + 32 * b);
          sum[t] = _mm512_dpbusd_epi32(sum[t], wv[q], _mm512_set1_epi32(ac[q]));
        }
      const __m512 dw = _mm512_loadu_ps(w.scales + (b * kStarts + h) * kLanes);
      for (int t = 0; t < T; ++t)
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum[t]), _mm512_mul_ps(dw, _mm512_set1_ps(a.d[(t0 + t) * a.nb + b])),
                                 acc[t]);
    }
    if constexpr (kMins)
      for (int t = 0; t < T; ++t)
        acc[t] = _mm512_fmadd_ps(_mm512_loadu_ps(w.mins + b * kLanes), _mm512_set1_ps(a.sums[(t0 + t) * a.nb + b]), acc[t]);
  }
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(y + (t0 + t) * ldy, rows, acc[t]);
}

using LaneTileFn = void (*)(const LaneRows&, const LaneActs&, int64_t, float*, int64_t, __mmask16);

template <bool kHalves, bool kMins, int... Ts>
constexpr auto lane_tiles(std::integer_sequence<int, Ts...>) {
  return std::array<LaneTileFn, sizeof...(Ts)>{&tile_lanes<Ts + 1, kHalves, kMins>...};
}

// Activation rows (Q8_0 or Q8_K blocks) → LaneActs buffers: codes copied contiguous, per-block
// scales, the −offset·Σa starts and the d·Σa sums.
template <typename ActBlock, int kOffset, bool kHalves>
void lane_activations(const uint8_t* a, size_t a_stride, int64_t n_tok, int64_t k, int8_t* codes, float* d,
                      int32_t* start, float* sums) {
  const int64_t nb = k / kQK;
  for (int64_t t = 0; t < n_tok; ++t) {
    const ActBlock* blk = reinterpret_cast<const ActBlock*>(a + t * a_stride);
    int8_t* c = codes + t * k;
    for (int64_t b = 0; b < nb; ++b) {
      if constexpr (std::is_same_v<ActBlock, BlockQ8K>) {
        std::copy_n(blk[b / 8].qs + 32 * (b % 8), 32, c + 32 * b);
        d[t * nb + b] = blk[b / 8].d;
      } else {
        std::copy_n(blk[b].qs, 32, c + 32 * b);
        d[t * nb + b] = _cvtsh_ss(blk[b].d);
      }
      int32_t h0 = 0, h1 = 0;
      for (int j = 0; j < 16; ++j) h0 += c[32 * b + j], h1 += c[32 * b + 16 + j];
      if constexpr (kHalves) {
        start[(t * nb + b) * 2] = -kOffset * h0;
        start[(t * nb + b) * 2 + 1] = -kOffset * h1;
      } else {
        start[t * nb + b] = -kOffset * (h0 + h1);
      }
      sums[t * nb + b] = d[t * nb + b] * static_cast<float>(h0 + h1);
    }
  }
}

// One integer-format gemm. The chunk's activations are prepared once; then, a group of 16 rows at
// a time, the rows are expanded into lanes (kExpand) and multiplied with every token of the chunk.
// kX8: the rows are interleaved at load (ops/repack.h, n_rows a multiple of 8) and kExpand takes
// the two groups of 8 in X8Pair.
template <auto kExpand, typename ActBlock, int kOffset, bool kHalves, bool kMins, bool kX8 = false>
void gemm_int(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, size_t a_stride,
              int64_t n_tok, float* y, int64_t ldy) {
  static constexpr auto tiles = lane_tiles<kHalves, kMins>(std::make_integer_sequence<int, kLaneToks>{});
  constexpr int kStarts = kHalves ? 2 : 1;
  const uint8_t* w8 = static_cast<const uint8_t*>(w);
  const int64_t nb = k / kQK;
  // Per-thread scratch, reused across calls.
  thread_local std::vector<int8_t> act_codes;
  thread_local std::vector<uint8_t> lane_codes;
  thread_local std::vector<float> lane_scales, lane_mins, act_d, act_sums;
  thread_local std::vector<int32_t> act_start;
  lane_codes.resize(static_cast<size_t>(kLanes * k));
  lane_scales.resize(static_cast<size_t>(kStarts * kLanes * nb));
  lane_mins.resize(static_cast<size_t>(kLanes * nb));
  act_codes.resize(static_cast<size_t>(n_tok * k));
  act_d.resize(static_cast<size_t>(n_tok * nb));
  act_sums.resize(act_d.size());
  act_start.resize(static_cast<size_t>(kStarts * n_tok * nb));
  lane_activations<ActBlock, kOffset, kHalves>(static_cast<const uint8_t*>(a), a_stride, n_tok, k, act_codes.data(),
                                               act_d.data(), act_start.data(), act_sums.data());
  const LaneActs acts{act_codes.data(), act_d.data(), act_start.data(), act_sums.data(), k, nb};
  const LaneRows rows{lane_codes.data(), lane_scales.data(), kMins ? lane_mins.data() : nullptr};
  for (int64_t r = 0; r < n_rows; r += kLanes) {
    const int R = static_cast<int>(std::min<int64_t>(kLanes, n_rows - r));
    const uint8_t* group = w8 + r * w_stride;
    if constexpr (kX8)
      kExpand(X8Pair{group, R > kInterleave ? group + kInterleave * w_stride : group}, nb, lane_codes.data(),
              lane_scales.data(), lane_mins.data());
    else
      kExpand(RowGroup(group, w_stride, R), nb, lane_codes.data(), lane_scales.data(), lane_mins.data());
    // The next group's weight bytes are requested a slice per token tile, so that the requests do
    // not queue up behind each other.
    const uint8_t* next = w8 + (r + R) * w_stride;
    const int64_t next_bytes = std::min<int64_t>(kLanes, n_rows - r - R) * static_cast<int64_t>(w_stride);
    const int64_t n_tiles = (n_tok + kLaneToks - 1) / kLaneToks, slice = (next_bytes / n_tiles + 63) / 64 * 64;
    const __mmask16 mask = static_cast<__mmask16>((1u << R) - 1);
    for (int64_t t = 0, i = 0; t < n_tok; t += kLaneToks, ++i) {
      prefetch_rows(next + i * slice, std::min(slice, next_bytes - i * slice));
      const int T = static_cast<int>(std::min<int64_t>(kLaneToks, n_tok - t));
      tiles[T - 1](rows, acts, t, y + r, ldy, mask);
    }
  }
}

// Rows interleaved at load: up to kMaxFewTokens tokens through the one-pass kernels
// (gemv_x8_avx512.cc), more through the tile above (kTile; Q4_0, Q5_0, Q8_0: k % 64 == 0, else
// kMaxFewTokens at a time through the one-pass kernel).
template <GemmTileFn kTile, GemvTokensFn kFew, bool kTileAnyWidth>
void interleaved_x8(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, size_t a_stride,
                    int64_t n_tok, float* y, int64_t ldy) {
  if (n_tok > kMaxFewTokens && (kTileAnyWidth || k % 64 == 0)) return kTile(k, w, w_stride, n_rows, a, a_stride, n_tok, y, ldy);
  for (int64_t t = 0; t < n_tok; t += kMaxFewTokens)
    kFew(k, w, w_stride, n_rows, static_cast<const uint8_t*>(a) + static_cast<size_t>(t) * a_stride, a_stride,
         std::min<int64_t>(kMaxFewTokens, n_tok - t), y + t * ldy, ldy);
}

}  // namespace

const GemmTable& gemm_avx512vnni() {
  static const GemmTable t = {
      .q8_0 = gemm_int<expand_q8_0, BlockQ8_0, 128, false, false>,
      .q4_0 = gemm_int<expand_nibbles<BlockQ4_0>, BlockQ8_0, 8, false, false>,
      .q4_k = gemm_int<expand_k<false>, BlockQ8K, 0, false, true>,
      .q5_k = gemm_int<expand_k<true>, BlockQ8K, 0, false, true>,
      .q6_k = gemm_int<expand_q6_k, BlockQ8K, 32, true, false>,
      .f32 = gemm_float_avx512(DType::F32),
      .f16 = gemm_float_avx512(DType::F16),
      .bf16 = gemm_float_avx512(DType::BF16),
      .f8_e4m3 = gemm_float_avx512(DType::F8_E4M3),
      .q4_0_x8 = interleaved_x8<gemm_int<expand_q4_0_x8, BlockQ8_0, 8, false, false, true>, gemv_q4_0_x8_avx512vnni,
                                false>,
      .q8_0_x8 = interleaved_x8<gemm_int<expand_q8_0_x8, BlockQ8_0, 128, false, false, true>, gemv_q8_0_x8_avx512vnni,
                                false>,
      .q4_k_x8 = interleaved_x8<gemm_int<expand_q4_k_x8, BlockQ8K, 0, false, true, true>, gemv_q4_k_x8_avx512vnni,
                                true>,
      .q5_0_x8 = interleaved_x8<gemm_int<expand_q5_0_x8, BlockQ8_0, 16, false, false, true>, gemv_q5_0_x8_avx512vnni,
                                false>,
      .q4_1 = gemm_int<expand_nibbles<BlockQ4_1>, BlockQ8_0, 0, false, true>,
      .q5_0 = gemm_int<expand_nibbles<BlockQ5_0>, BlockQ8_0, 16, false, false>,
      .q5_1 = gemm_int<expand_nibbles<BlockQ5_1>, BlockQ8_0, 0, false, true>,
      .iq4_nl = gemm_int<expand_nibbles<BlockIQ4NL>, BlockQ8_0, 128, false, false>,
  };
  return t;
}

}  // namespace r1
