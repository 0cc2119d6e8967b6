// The AVX-512 BW kernel for one token or a few (decode, a batched decode step) through coded BF16 rows
// (ops/coded_bf16.h). A block of 64 weights becomes bf16 in a few instructions: the 32 code bytes,
// loaded into both halves of a register, give their low nibbles in the first half and their high
// nibbles in the second (one variable shift per half, one mask); one in-lane byte lookup (vpshufb)
// turns the 64 codes into high bytes; unpacklo/hi_epi8 with the 64 low bytes join them into bf16
// words. Those leave each 128-bit lane holding elements {16L..16L+7} (lo) and {16L+8..16L+15} (hi),
// two per 32-bit lane: a shift and a mask make float32s of the even and the odd ones. The kernel lays
// each token's activation out once per call in that order (as gemv_avx512bf16.cc does for FP8) and
// keeps float32 products.
#include <immintrin.h>

#include "ops/coded_bf16_avx512.h"
#include "ops/gemm_tile.h"

namespace r1 {
namespace {

// Element of a block that float32 lane `lane` of vector v (0..3) carries, as described above.
constexpr int lane_element(int v, int lane) { return 16 * (lane / 4) + 8 * (v / 2) + 2 * (lane % 4) + v % 2; }

__m512 even_f32(__m512i words) { return _mm512_castsi512_ps(_mm512_slli_epi32(words, 16)); }
__m512 odd_f32(__m512i words) {
  return _mm512_castsi512_ps(_mm512_and_si512(words, _mm512_set1_epi32(static_cast<int>(0xFFFF0000u))));
}

// R rows side by side (`stride` bytes apart, k weights each) against T tokens' laid-out activations
// (xs, token t's at xs + t·k): with R > 1 each activation load serves the R rows (one row: loaded
// where used, which leaves the registers to four tokens' accumulators). Token t's products go to
// y[t·ldy + j]; a row's sum is formed the same way for any R and T.
template <int R, int T>
void coded_rows(const BlockDecoder& dec, const uint8_t* w, size_t stride, int64_t k, const float* xs, float* y,
                int64_t ldy) {
  const StreamPrefetch hint = stream_prefetch();
  __m512 acc[R][T][4];
  for (int j = 0; j < R; ++j)
    for (int t = 0; t < T; ++t) acc[j][t][0] = acc[j][t][1] = acc[j][t][2] = acc[j][t][3] = _mm512_setzero_ps();
  for (int64_t b = 0; b < k; b += kCodedBlock) {
    const size_t off = static_cast<size_t>(b) / kCodedBlock * 96;
    const size_t ahead = coded_prefetch_distance<R>(off, stride);
    __m512 held[R > 1 ? T : 1][4];
    if constexpr (R > 1)
      for (int t = 0; t < T; ++t)
        for (int u = 0; u < 4; ++u) held[t][u] = _mm512_loadu_ps(xs + t * k + b + 16 * u);
    auto x = [&](int t, int u) {
      if constexpr (R > 1) return held[t][u];
      return _mm512_loadu_ps(xs + t * k + b + 16 * u);
    };
    for (int j = 0; j < R; ++j) {
      const uint8_t* block = w + j * stride + off;
      prefetch_coded_step(block + ahead, b, k, hint);
      __m512i lo, hi;
      dec.words(block, lo, hi);
      const __m512 w0 = even_f32(lo), w1 = odd_f32(lo), w2 = even_f32(hi), w3 = odd_f32(hi);
      for (int t = 0; t < T; ++t) {
        acc[j][t][0] = _mm512_fmadd_ps(w0, x(t, 0), acc[j][t][0]);
        acc[j][t][1] = _mm512_fmadd_ps(w1, x(t, 1), acc[j][t][1]);
        acc[j][t][2] = _mm512_fmadd_ps(w2, x(t, 2), acc[j][t][2]);
        acc[j][t][3] = _mm512_fmadd_ps(w3, x(t, 3), acc[j][t][3]);
      }
    }
  }
  for (int j = 0; j < R; ++j)
    for (int t = 0; t < T; ++t)
      y[t * ldy + j] = _mm512_reduce_add_ps(
          _mm512_add_ps(_mm512_add_ps(acc[j][t][0], acc[j][t][1]), _mm512_add_ps(acc[j][t][2], acc[j][t][3])));
}

// Rows [r0, r1) against T tokens, walked as for one token, long rows in fewer streams the more tokens
// there are, so that the accumulators fit in registers.
template <int T>
void coded_tokens(const CodedBf16& m, const BlockDecoder& dec, int64_t r0, int64_t r1, const float* xs, float* y,
                  int64_t ldy) {
  constexpr int R = T == 1 ? kCodedStreams : T == 2 ? 2 : 1;
  walk_coded_rows<R>(
      m, r0, r1, [&](const uint8_t* w, int64_t i) { coded_rows<R, T>(dec, w, m.row_bytes, m.k, xs, y + i, ldy); },
      [&](const uint8_t* w, int64_t i) { coded_rows<1, T>(dec, w, m.row_bytes, m.k, xs, y + i, ldy); });
}

}  // namespace

void gemv_coded_bf16_avx512(const CodedBf16& m, int64_t r0, int64_t r1, const float* x, int64_t n_tok, float* y,
                            int64_t ldy) {
  const int64_t k = m.k;
  const float* xs = lay_out_coded_activations<4, 16, lane_element>(x, k, n_tok);
  const BlockDecoder dec(*m.header);
  with_token_count(n_tok, [&](auto T) { coded_tokens<T>(m, dec, r0, r1, xs, y, ldy); });
  for (int64_t t = 0; t < n_tok; ++t) add_coded_bf16_exceptions(m, r0, r1, x + t * k, y + t * ldy, false);
}

}  // namespace r1
