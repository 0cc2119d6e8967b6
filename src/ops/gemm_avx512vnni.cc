// Tiled Q8_0 / Q4_0 / F16 kernels on AVX-512 VNNI; this file is compiled with -mavx512vnni (plus
// F/BW/VL, AVX2, FMA, F16C) and only called when the CPU has it.
//
// vpdpbusd multiplies unsigned bytes by signed bytes and adds groups of four into int32 lanes,
// in one instruction. Our operands are both signed, so one side is made unsigned and the error
// is folded into the accumulator's starting value:
//   Q4_0: codes q = w + 8 are already 0..15:   Σ w·a = Σ q·a − 8·Σ a          (per token)
//   Q8_0: activations u = a + 128 are 1..255:  Σ w·a = Σ u·w − 128·Σ w        (per weight row)
// Each step covers two 32-blocks (one 512-bit vector); lanes 0..7 hold block i, 8..15 block i+1,
// so a lane's int32 sum is scaled by its own block's d_w·d_a before the float accumulation.
// The F16 kernel (float32 activations, converted with vcvtph2ps) needs only AVX-512F; it lives
// here so that one backend carries all tile kernels.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <type_traits>
#include <utility>

#include "ops/blocks.h"
#include "ops/gemm_tile.h"

namespace r1 {
namespace {

constexpr int kMaxRows = 4, kMaxToks = 4;  // 16 float accumulators: half the register file

__m512i join(__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); }

// [d0 × 8 lanes | d1 × 8 lanes] from two fp16 scales.
__m512 scales(uint16_t d0, uint16_t d1) {
  return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_set1_ps(_cvtsh_ss(d0))),
                                             _mm256_castps_pd(_mm256_set1_ps(_cvtsh_ss(d1))), 1));
}

__m256i q8_codes(const BlockQ8_0& b) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs)); }

// 0..15: element j in the low nibble of qs[j], element j + 16 in the high nibble.
__m256i q4_codes(const BlockQ4_0& b) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs));
  return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0xF));
}

// R rows × T tokens over nb blocks (nb even).
template <int R, int T, bool kQ4>
void tile(int64_t nb, const uint8_t* w, size_t w_stride, const uint8_t* a, size_t a_stride, float* y, int64_t ldy) {
  using WBlock = std::conditional_t<kQ4, BlockQ4_0, BlockQ8_0>;
  const __m512i zero = _mm512_setzero_si512();
  const __m512i unsigned_one = _mm512_set1_epi8(kQ4 ? 8 : static_cast<char>(0x80));  // 8 or 128
  __m512 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();

  for (int64_t i = 0; i < nb; i += 2) {
    __m512i wv[R], av[T], bias[kQ4 ? T : R];
    __m512 dw[R], da[T];
    for (int r = 0; r < R; ++r) {
      const WBlock* x = reinterpret_cast<const WBlock*>(w + r * w_stride) + i;
      if constexpr (kQ4) {
        wv[r] = join(q4_codes(x[0]), q4_codes(x[1]));
      } else {
        wv[r] = join(q8_codes(x[0]), q8_codes(x[1]));
        bias[r] = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, unsigned_one, wv[r]));  // −128·Σw
      }
      dw[r] = scales(x[0].d, x[1].d);
    }
    for (int t = 0; t < T; ++t) {
      const BlockQ8_0* b = reinterpret_cast<const BlockQ8_0*>(a + t * a_stride) + i;
      av[t] = join(q8_codes(b[0]), q8_codes(b[1]));
      if constexpr (kQ4) {
        bias[t] = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, unsigned_one, av[t]));  // −8·Σa
      } else {
        av[t] = _mm512_xor_si512(av[t], unsigned_one);  // a + 128 as unsigned bytes
      }
      da[t] = scales(b[0].d, b[1].d);
    }
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < T; ++t) {
        const __m512i s = kQ4 ? _mm512_dpbusd_epi32(bias[t], wv[r], av[t]) : _mm512_dpbusd_epi32(bias[r], av[t], wv[r]);
        acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw[r], da[t]), acc[r][t]);
      }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) y[t * ldy + r] = _mm512_reduce_add_ps(acc[r][t]);
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

enum class Kind { Q8_0, Q4_0, F16 };

template <Kind kKind, int R, int T>
void tile_of(int64_t k, const uint8_t* w, size_t w_stride, const uint8_t* a, size_t a_stride, float* y, int64_t ldy) {
  if constexpr (kKind == Kind::F16) {
    tile_f16<R, T>(k, w, w_stride, a, a_stride, y, ldy);
  } else {
    tile<R, T, kKind == Kind::Q4_0>(k / kQK, w, w_stride, a, a_stride, y, ldy);
  }
}

template <Kind kKind, int R, int... Ts>
constexpr auto row_of_tiles(std::integer_sequence<int, Ts...>) {
  return std::array<TileFn, sizeof...(Ts)>{&tile_of<kKind, R, Ts + 1>...};
}

template <Kind kKind>
void gemm(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, size_t a_stride, int64_t n_tok,
          float* y, int64_t ldy) {
  static constexpr auto toks = std::make_integer_sequence<int, kMaxToks>{};
  static constexpr std::array<std::array<TileFn, kMaxToks>, kMaxRows> tiles = {
      row_of_tiles<kKind, 1>(toks), row_of_tiles<kKind, 2>(toks), row_of_tiles<kKind, 3>(toks),
      row_of_tiles<kKind, 4>(toks)};
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

}  // namespace

const GemmTable& gemm_avx512vnni() {
  static const GemmTable t = {gemm<Kind::Q8_0>, gemm<Kind::Q4_0>, gemm<Kind::F16>};
  return t;
}

}  // namespace r1
