// BF16 prefill kernel on AVX-512 BF16 (vdpbf16ps: 32 bf16 products per instruction, summed in
// float32); compiled with -mavx512bf16 and used only when the CPU has it (matmul.cc). The
// activations are rounded to bfloat16 once per call (round to nearest even), as llama.cpp does for
// BF16 weights; the weights are used as stored.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <utility>
#include <vector>

#include "ops/gemm_tile.h"

namespace r1 {
namespace {

// Rows in lanes (as the integer tile in gemm_avx512vnni.cc): one vector holds an element pair of each
// of 16 rows, and vdpbf16ps against a token's pair (broadcast) adds 2 products to each row's lane;
// no horizontal sums, and a vector of 16 results per token.
constexpr int kLanes = 16, kToks = 16;

// T tokens from t0 against one group (pairs [k / 2][16 rows]); y rows masked to the valid ones.
template <int T>
void tile(int64_t k, const uint32_t* w, const uint16_t* a, int64_t t0, float* y, int64_t ldy, __mmask16 rows) {
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t p = 0; p < k / 2; p += 8) {
    __m512bh wv[8];
    for (int q = 0; q < 8; ++q) wv[q] = (__m512bh)_mm512_loadu_si512(w + (p + q) * kLanes);
    // Pair-major, token-minor: consecutive instructions feed different accumulators, which hides
    // vdpbf16ps's latency.
    for (int q = 0; q < 8; ++q)
      for (int t = 0; t < T; ++t) {
        const uint32_t* at = reinterpret_cast<const uint32_t*>(a + (t0 + t) * k) + p;
        acc[t] = _mm512_dpbf16_ps(acc[t], wv[q], (__m512bh)_mm512_set1_epi32(static_cast<int>(at[q])));
      }
  }
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(y + (t0 + t) * ldy, rows, acc[t]);
}

using TileFn = void (*)(int64_t, const uint32_t*, const uint16_t*, int64_t, float*, int64_t, __mmask16);

template <int... Ts>
constexpr auto tiles(std::integer_sequence<int, Ts...>) {
  return std::array<TileFn, sizeof...(Ts)>{&tile<Ts + 1>...};
}

void gemm_bf16(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, size_t a_stride,
               int64_t n_tok, float* y, int64_t ldy) {
  static constexpr auto table = tiles(std::make_integer_sequence<int, kToks>{});
  const uint8_t* w8 = static_cast<const uint8_t*>(w);
  thread_local std::vector<uint16_t> abf;
  thread_local std::vector<uint32_t> lanes;
  abf.resize(static_cast<size_t>(n_tok * k));
  lanes.resize(static_cast<size_t>(k / 2 * kLanes));
  for (int64_t t = 0; t < n_tok; ++t) {
    const float* x = reinterpret_cast<const float*>(static_cast<const uint8_t*>(a) + t * a_stride);
    for (int64_t i = 0; i < k; i += 32)
      _mm512_storeu_si512(abf.data() + t * k + i,
                          (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(x + i)));
  }
  for (int64_t r = 0; r < n_rows; r += kLanes) {
    const int R = static_cast<int>(std::min<int64_t>(kLanes, n_rows - r));
    // Element pair p of row j at byte j·w_stride + 4p of the group; missing rows read as zeros.
    const __mmask16 mask = static_cast<__mmask16>((1u << R) - 1);
    const __m512i index = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                             _mm512_set1_epi32(static_cast<int>(w_stride)));
    const uint8_t* g = w8 + r * w_stride;
    for (int64_t p = 0; p < k / 2; ++p)
      _mm512_storeu_si512(lanes.data() + p * kLanes,
                          _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), mask, index, g + 4 * p, 1));
    for (int64_t t = 0; t < n_tok; t += kToks) {
      const int T = static_cast<int>(std::min<int64_t>(kToks, n_tok - t));
      table[T - 1](k, lanes.data(), abf.data(), t, y + r, ldy, mask);
    }
  }
}

}  // namespace

GemmTileFn gemm_bf16_avx512bf16() { return gemm_bf16; }

}  // namespace r1
