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
// no horizontal sums, and a vector of 16 results per token. Two such groups (32 rows) share each
// broadcast, so a token pair is loaded once per 2 instructions: with one group the loads (a
// broadcast per vdpbf16ps) held the kernel at ~55% of the instruction's peak.
constexpr int kLanes = 16, kGroups = 2, kToks = 12;

// T tokens from t0 against G groups (each pairs [k / 2][16 rows], k / 2 · 16 apart); the last
// group's rows masked to the valid ones.
template <int G, int T>
void tile(int64_t k, const uint32_t* w, const uint16_t* a, int64_t t0, float* y, int64_t ldy, __mmask16 last) {
  __m512 acc[G][T];
  for (int g = 0; g < G; ++g)
    for (int t = 0; t < T; ++t) acc[g][t] = _mm512_setzero_ps();
  const int64_t group = k / 2 * kLanes;
  for (int64_t p = 0; p < k / 2; ++p) {
    __m512bh wv[G];
    for (int g = 0; g < G; ++g) wv[g] = (__m512bh)_mm512_loadu_si512(w + g * group + p * kLanes);
    // Token-major: consecutive instructions feed different accumulators (vdpbf16ps's latency).
    for (int t = 0; t < T; ++t) {
      const __m512bh at = (__m512bh)_mm512_set1_epi32(reinterpret_cast<const int32_t*>(a + (t0 + t) * k)[p]);
      for (int g = 0; g < G; ++g) acc[g][t] = _mm512_dpbf16_ps(acc[g][t], wv[g], at);
    }
  }
  for (int g = 0; g < G; ++g) {
    const __mmask16 rows = g == G - 1 ? last : __mmask16(0xFFFF);
    for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(y + (t0 + t) * ldy + g * kLanes, rows, acc[g][t]);
  }
}

using TileFn = void (*)(int64_t, const uint32_t*, const uint16_t*, int64_t, float*, int64_t, __mmask16);

template <int G, int... Ts>
constexpr auto tiles(std::integer_sequence<int, Ts...>) {
  return std::array<TileFn, sizeof...(Ts)>{&tile<G, Ts + 1>...};
}

void gemm_bf16(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, size_t a_stride,
               int64_t n_tok, float* y, int64_t ldy) {
  static constexpr auto one = tiles<1>(std::make_integer_sequence<int, kToks>{});
  static constexpr auto two = tiles<2>(std::make_integer_sequence<int, kToks>{});
  const uint8_t* w8 = static_cast<const uint8_t*>(w);
  thread_local std::vector<uint16_t> abf;
  thread_local std::vector<uint32_t> lanes;
  abf.resize(static_cast<size_t>(n_tok * k));
  lanes.resize(static_cast<size_t>(kGroups * k / 2 * kLanes));
  for (int64_t t = 0; t < n_tok; ++t) {
    const float* x = reinterpret_cast<const float*>(static_cast<const uint8_t*>(a) + t * a_stride);
    for (int64_t i = 0; i < k; i += 32)
      _mm512_storeu_si512(abf.data() + t * k + i,
                          (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(x + i)));
  }
  const __m512i index = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                           _mm512_set1_epi32(static_cast<int>(w_stride)));
  for (int64_t r = 0; r < n_rows; r += kGroups * kLanes) {
    const int64_t R = std::min<int64_t>(kGroups * kLanes, n_rows - r);
    const int G = R > kLanes ? 2 : 1;
    // Element pair p of row j at byte j·w_stride + 4p of the group; missing rows read as zeros.
    const __mmask16 last = static_cast<__mmask16>((1u << (R - (G - 1) * kLanes)) - 1);
    for (int g = 0; g < G; ++g) {
      const __mmask16 mask = g == G - 1 ? last : __mmask16(0xFFFF);
      const uint8_t* src = w8 + (r + g * kLanes) * static_cast<int64_t>(w_stride);
      uint32_t* dst = lanes.data() + g * (k / 2 * kLanes);
      for (int64_t p = 0; p < k / 2; ++p)
        _mm512_storeu_si512(dst + p * kLanes, _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), mask, index, src + 4 * p, 1));
    }
    // The next rows' bytes, a slice per token tile: the gathers above wait on every cache miss
    // of 16 rows at once (~8% of a BF16 prefill in perf without this).
    const uint8_t* next = w8 + (r + R) * static_cast<int64_t>(w_stride);
    const int64_t next_bytes = std::min<int64_t>(kGroups * kLanes, n_rows - r - R) * static_cast<int64_t>(w_stride);
    const int64_t n_tiles = (n_tok + kToks - 1) / kToks, slice = (next_bytes / n_tiles + 63) / 64 * 64;
    for (int64_t t = 0, i = 0; t < n_tok; t += kToks, ++i) {
      prefetch_rows(next + i * slice, std::min(slice, next_bytes - i * slice));
      const int T = static_cast<int>(std::min<int64_t>(kToks, n_tok - t));
      (G == 2 ? two : one)[T - 1](k, lanes.data(), abf.data(), t, y + r, ldy, last);
    }
  }
}

}  // namespace

GemmTileFn gemm_bf16_avx512bf16() { return gemm_bf16; }

}  // namespace r1
