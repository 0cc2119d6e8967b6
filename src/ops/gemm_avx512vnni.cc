// Tiled Q8_0 / Q4_0 / F16 kernels on AVX-512 VNNI; this file is compiled with -mavx512vnni (plus
// F/BW/VL, AVX2, FMA, F16C) and only called when the CPU has it.
//
// vpdpbusd multiplies unsigned bytes by signed bytes and adds groups of four into int32 lanes,
// in one instruction. Our operands are both signed, so one side is made unsigned and the error
// is corrected for:
//   Q4_0: codes q = w + 8 are already 0..15:   Σ w·a = Σ q·a − 8·Σ a   (per token; added after the loop)
//   Q8_0: activations u = a + 128 are 1..255:  Σ w·a = Σ u·w − 128·Σ w (per weight row; accumulator start)
// Each step covers two 32-blocks (one 512-bit vector); lanes 0..7 hold block i, 8..15 block i+1,
// so a lane's int32 sum is scaled by its own block's d_w·d_a before the float accumulation.
// The F16 kernel (float32 activations, converted with vcvtph2ps) needs only AVX-512F; it lives
// here so that one backend carries all tile kernels.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <type_traits>
#include <utility>
#include <vector>

#include "ops/blocks.h"
#include "ops/gemm_tile.h"

namespace r1 {
namespace {

constexpr int kMaxRows = 4, kMaxToks = 4;  // F16: 16 float accumulators, half the register file
// Q8_0 / Q4_0: tokens go in pairs (tile_pairs), so 6 × 6 needs 18 accumulators; 6 × 6 measured ~3%
// faster than 8 × 4 and 4 × 8 on pp512 (qwen2-1.5b Q4_0, 2 threads).
constexpr int kQRows = 6, kQToks = 6;

__m512i join(__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); }

// [d0 × 8 lanes | d1 × 8 lanes] from two consecutive float scales (converted once per gemm call,
// not once per tile: each weight row meets every token tile, each token every row group).
__m512 scales(const float* d) {
  return _mm512_mask_broadcastss_ps(_mm512_set1_ps(d[0]), 0xFF00, _mm_load_ss(d + 1));
}

// The fp16 scale of every block of n rows of nb blocks, as float, row after row.
template <typename Block>
void unpack_scales(const uint8_t* p, size_t stride, int64_t n, int64_t nb, float* out) {
  for (int64_t r = 0; r < n; ++r) {
    const Block* b = reinterpret_cast<const Block*>(p + r * stride);
    for (int64_t i = 0; i < nb; ++i) out[r * nb + i] = _cvtsh_ss(b[i].d);
  }
}

__m256i q8_codes(const BlockQ8_0& b) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs)); }

// Two Q4_0 blocks as 0..15 codes: lanes 0..7 block 0, 8..15 block 1, each in element order
// (element j in the low nibble of qs[j], element j + 16 in the high nibble). Both blocks' qs are
// broadcast into [qs0 qs0 qs1 qs1] and the odd 128-bit lanes shifted by 4: one pass for both.
__m512i q4_codes2(const BlockQ4_0* x) {
  const __m512i q = _mm512_mask_broadcast_i32x4(
      _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[0].qs))), 0xFF00,
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[1].qs)));
  return _mm512_and_si512(_mm512_srlv_epi64(q, _mm512_set_epi64(4, 4, 0, 0, 4, 4, 0, 0)), _mm512_set1_epi8(0xF));
}

// Q8_0 / Q4_0, R rows × T tokens over nb blocks (nb even), tokens taken in pairs (ta, tb): one
// vector of int sums serves both.
// Per 128-bit lane (4 dwords, all from one block) the pair's sums sit as [ta ta tb tb]: the first
// vpdpbusd multiplies weight dwords 0..3 with [ta0 ta1 tb2 tb3], the second the weights with their
// 64-bit halves swapped with [ta2 ta3 tb0 tb1], so lanes 0,1 add up all of ta and lanes 2,3 all of tb.
// That halves the float work (convert, scale, accumulate) per row and token, and the accumulators.
// Odd T: the last pair is (t, t), read from lanes 0,1 only. dws / das: the rows' / tokens' block
// scales as float, nb per row / token. Q4_0: cs holds −8·d_a·Σa per token block; that term is added
// after the loop as Σ_b d_w·cs (16 blocks per step), which keeps it out of the inner loop.
template <bool kQ4, int R, int T>
void tile_pairs(int64_t nb, const uint8_t* w, size_t w_stride, const float* dws, const uint8_t* a,
                size_t a_stride, const float* das, const float* cs, float* y, int64_t ldy) {
  constexpr int P = (T + 1) / 2;
  constexpr auto tb_of = [](int p) { return std::min(2 * p + 1, T - 1); };
  const __m512i zero = _mm512_setzero_si512();
  __m512 acc[R][P];
  for (int r = 0; r < R; ++r)
    for (int p = 0; p < P; ++p) acc[r][p] = _mm512_setzero_ps();

  for (int64_t i = 0; i < nb; i += 2) {
    __m512i m1[P], m2[P];
    __m512 da[P];
    for (int p = 0; p < P; ++p) {
      const BlockQ8_0* ba = reinterpret_cast<const BlockQ8_0*>(a + 2 * p * a_stride) + i;
      const BlockQ8_0* bb = reinterpret_cast<const BlockQ8_0*>(a + tb_of(p) * a_stride) + i;
      __m512i va = join(q8_codes(ba[0]), q8_codes(ba[1])), vb = join(q8_codes(bb[0]), q8_codes(bb[1]));
      if constexpr (!kQ4) {  // a + 128 as unsigned bytes
        va = _mm512_xor_si512(va, _mm512_set1_epi8(static_cast<char>(0x80)));
        vb = _mm512_xor_si512(vb, _mm512_set1_epi8(static_cast<char>(0x80)));
      }
      m1[p] = _mm512_mask_blend_epi32(0xCCCC, va, vb);
      m2[p] = _mm512_shuffle_epi32(_mm512_mask_blend_epi32(0xCCCC, vb, va), _MM_PERM_BADC);
      da[p] = _mm512_mask_blend_ps(0xCCCC, scales(das + 2 * p * nb + i), scales(das + tb_of(p) * nb + i));
    }
    for (int r = 0; r < R; ++r) {
      const __m512 dw = scales(dws + r * nb + i);
      if constexpr (kQ4) {
        const __m512i wv = q4_codes2(reinterpret_cast<const BlockQ4_0*>(w + r * w_stride) + i);
        const __m512i wv2 = _mm512_shuffle_epi32(wv, _MM_PERM_BADC);
        for (int p = 0; p < P; ++p) {
          const __m512i s = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(zero, wv, m1[p]), wv2, m2[p]);
          acc[r][p] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw, da[p]), acc[r][p]);
        }
      } else {
        const BlockQ8_0* x = reinterpret_cast<const BlockQ8_0*>(w + r * w_stride) + i;
        const __m512i wv = join(q8_codes(x[0]), q8_codes(x[1])), wv2 = _mm512_shuffle_epi32(wv, _MM_PERM_BADC);
        // −128·Σw over each lane's two weight dwords: every lane's sum covers all four dwords of its 128 bits.
        const __m512i c128 = _mm512_set1_epi8(static_cast<char>(0x80));
        const __m512i bias =
            _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(zero, c128, wv), c128, wv2));
        for (int p = 0; p < P; ++p) {
          const __m512i s = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(bias, m1[p], wv), m2[p], wv2);
          acc[r][p] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw, da[p]), acc[r][p]);
        }
      }
    }
  }
  // Q4_0: the −8·Σa terms, 16 blocks per step, folded into the [ta ta tb tb] layout.
  for (int64_t i = 0; kQ4 && i < nb; i += 16) {
    const __mmask16 m = nb - i >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << (nb - i)) - 1);
    for (int p = 0; p < P; ++p) {
      const __m512 ca = _mm512_maskz_loadu_ps(m, cs + 2 * p * nb + i);
      const __m512 cb = _mm512_maskz_loadu_ps(m, cs + tb_of(p) * nb + i);
      for (int r = 0; r < R; ++r) {
        const __m512 d = _mm512_maskz_loadu_ps(m, dws + r * nb + i);
        const __m512d xa = _mm512_castps_pd(_mm512_mul_ps(d, ca)), xb = _mm512_castps_pd(_mm512_mul_ps(d, cb));
        acc[r][p] = _mm512_add_ps(acc[r][p], _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(xa, xb)),
                                                           _mm512_castpd_ps(_mm512_unpackhi_pd(xa, xb))));
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int p = 0; p < P; ++p) {
      y[2 * p * ldy + r] = _mm512_mask_reduce_add_ps(0x3333, acc[r][p]);
      if (tb_of(p) != 2 * p) y[tb_of(p) * ldy + r] = _mm512_mask_reduce_add_ps(0xCCCC, acc[r][p]);
    }
}

// F16 rows × float32 tokens, 16 elements per step; k % 16 == 0.
template <int R, int T>
void tile_f16(int64_t k, const uint8_t* w, size_t w_stride, const uint8_t* a, size_t a_stride, float* y, int64_t ldy) {
  __m512 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  for (int64_t i = 0; i < k; i += 16) {
    __m512 wv[R];
    for (int r = 0; r < R; ++r)
      wv[r] = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + r * w_stride) + i / 16));
    for (int t = 0; t < T; ++t) {
      const __m512 av = _mm512_loadu_ps(reinterpret_cast<const float*>(a + t * a_stride) + i);
      for (int r = 0; r < R; ++r) acc[r][t] = _mm512_fmadd_ps(wv[r], av, acc[r][t]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) y[t * ldy + r] = _mm512_reduce_add_ps(acc[r][t]);
}

using TileFn = void (*)(int64_t, const uint8_t*, size_t, const uint8_t*, size_t, float*, int64_t);
using QTileFn = void (*)(int64_t, const uint8_t*, size_t, const float*, const uint8_t*, size_t, const float*,
                         const float*, float*, int64_t);

template <int R, int... Ts>
constexpr auto row_of_f16_tiles(std::integer_sequence<int, Ts...>) {
  return std::array<TileFn, sizeof...(Ts)>{&tile_f16<R, Ts + 1>...};
}

template <bool kQ4, int R, int... Ts>
constexpr auto row_of_q_tiles(std::integer_sequence<int, Ts...>) {
  return std::array<QTileFn, sizeof...(Ts)>{&tile_pairs<kQ4, R, Ts + 1>...};
}

template <bool kQ4, int... Rs>
constexpr auto q_tiles(std::integer_sequence<int, Rs...>) {
  return std::array<std::array<QTileFn, kQToks>, sizeof...(Rs)>{
      row_of_q_tiles<kQ4, Rs + 1>(std::make_integer_sequence<int, kQToks>{})...};
}

void gemm_f16(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, size_t a_stride,
              int64_t n_tok, float* y, int64_t ldy) {
  static constexpr auto toks = std::make_integer_sequence<int, kMaxToks>{};
  static constexpr std::array<std::array<TileFn, kMaxToks>, kMaxRows> tiles = {
      row_of_f16_tiles<1>(toks), row_of_f16_tiles<2>(toks), row_of_f16_tiles<3>(toks), row_of_f16_tiles<4>(toks)};
  const uint8_t* w8 = static_cast<const uint8_t*>(w);
  const uint8_t* a8 = static_cast<const uint8_t*>(a);
  // A group of rows stays in L1 while every token streams past it.
  for (int64_t r = 0; r < n_rows; r += kMaxRows) {
    const int R = static_cast<int>(std::min<int64_t>(kMaxRows, n_rows - r));
    for (int64_t t = 0; t < n_tok; t += kMaxToks) {
      const int T = static_cast<int>(std::min<int64_t>(kMaxToks, n_tok - t));
      tiles[R - 1][T - 1](k, w8 + r * w_stride, w_stride, a8 + t * a_stride, a_stride, y + t * ldy + r, ldy);
    }
  }
}

template <bool kQ4>
void gemm_q(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, size_t a_stride,
            int64_t n_tok, float* y, int64_t ldy) {
  using WBlock = std::conditional_t<kQ4, BlockQ4_0, BlockQ8_0>;
  static constexpr auto tiles = q_tiles<kQ4>(std::make_integer_sequence<int, kQRows>{});
  const uint8_t* w8 = static_cast<const uint8_t*>(w);
  const uint8_t* a8 = static_cast<const uint8_t*>(a);
  const int64_t nb = k / kQK;
  // Block scales as float, converted once here instead of once per tile.
  std::vector<float> das(static_cast<size_t>(n_tok * nb)), dws(static_cast<size_t>(kQRows * nb));
  unpack_scales<BlockQ8_0>(a8, a_stride, n_tok, nb, das.data());
  std::vector<float> cs;
  if constexpr (kQ4) {  // −8·d_a·Σa per token block (see tile_pairs)
    cs.resize(das.size());
    for (int64_t t = 0; t < n_tok; ++t) {
      const BlockQ8_0* b = reinterpret_cast<const BlockQ8_0*>(a8 + t * a_stride);
      for (int64_t i = 0; i < nb; ++i) {
        int sum = 0;
        for (int j = 0; j < kQK; ++j) sum += b[i].qs[j];
        cs[t * nb + i] = -8.0f * static_cast<float>(sum) * das[t * nb + i];
      }
    }
  }
  // A group of rows stays in L1 while every token streams past it.
  for (int64_t r = 0; r < n_rows; r += kQRows) {
    const int R = static_cast<int>(std::min<int64_t>(kQRows, n_rows - r));
    unpack_scales<WBlock>(w8 + r * w_stride, w_stride, R, nb, dws.data());
    for (int64_t t = 0; t < n_tok; t += kQToks) {
      const int T = static_cast<int>(std::min<int64_t>(kQToks, n_tok - t));
      tiles[R - 1][T - 1](nb, w8 + r * w_stride, w_stride, dws.data(), a8 + t * a_stride, a_stride,
                          das.data() + t * nb, kQ4 ? cs.data() + t * nb : nullptr, y + t * ldy + r, ldy);
    }
  }
}

}  // namespace

const GemmTable& gemm_avx512vnni() {
  static const GemmTable t = {gemm_q<false>, gemm_q<true>, gemm_f16};
  return t;
}

}  // namespace r1
