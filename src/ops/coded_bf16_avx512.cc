// The AVX-512 BW one-token kernel for coded BF16 rows (ops/coded_bf16.h). A block of 64 weights becomes bf16 in
// a few instructions: the 32 code bytes, loaded into both halves of a register, give their low
// nibbles in the first half and their high nibbles in the second (one variable shift per half, one
// mask); one in-lane byte lookup (vpshufb) turns the 64 codes into high bytes; unpacklo/hi_epi8 with
// the 64 low bytes join them into bf16 words. Those leave each 128-bit lane holding elements
// {16L..16L+7} (lo) and {16L+8..16L+15} (hi), two per 32-bit lane: a shift and a mask make float32s of
// the even and the odd ones. The one-token kernel lays the activation out once per call in that
// order (as gemv_avx512bf16.cc does for FP8) and keeps float32 products.
#include <immintrin.h>

#include <vector>

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

// R rows side by side (`stride` bytes apart, k weights each) against the laid-out activation xs: each
// activation load serves R rows.
template <int R>
void coded_rows(const BlockDecoder& dec, const uint8_t* w, size_t stride, int64_t k, const float* xs, float* y) {
  __m512 acc[R][4];
  for (int j = 0; j < R; ++j) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = _mm512_setzero_ps();
  for (int64_t b = 0; b < k; b += kCodedBlock) {
    const size_t off = static_cast<size_t>(b) / kCodedBlock * 96;
    const size_t ahead = coded_prefetch_distance<R>(off, stride);
    const __m512 x0 = _mm512_loadu_ps(xs + b), x1 = _mm512_loadu_ps(xs + b + 16);
    const __m512 x2 = _mm512_loadu_ps(xs + b + 32), x3 = _mm512_loadu_ps(xs + b + 48);
    for (int j = 0; j < R; ++j) {
      const uint8_t* block = w + j * stride + off;
      prefetch_coded_block(block + ahead);
      __m512i lo, hi;
      dec.words(block, lo, hi);
      acc[j][0] = _mm512_fmadd_ps(even_f32(lo), x0, acc[j][0]);
      acc[j][1] = _mm512_fmadd_ps(odd_f32(lo), x1, acc[j][1]);
      acc[j][2] = _mm512_fmadd_ps(even_f32(hi), x2, acc[j][2]);
      acc[j][3] = _mm512_fmadd_ps(odd_f32(hi), x3, acc[j][3]);
    }
  }
  for (int j = 0; j < R; ++j)
    y[j] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[j][0], acc[j][1]), _mm512_add_ps(acc[j][2], acc[j][3])));
}

}  // namespace

void gemv_coded_bf16_avx512(const CodedBf16& m, int64_t r0, int64_t r1, const float* x, float* y) {
  const int64_t k = m.k;
  thread_local std::vector<float> xs;
  if (xs.size() < static_cast<size_t>(k)) xs.resize(static_cast<size_t>(k));
  lay_out_coded_activation<4, 16, lane_element>(x, k, xs.data());
  const BlockDecoder dec(*m.header);
  walk_coded_rows(
      m, r0, r1,
      [&](const uint8_t* w, int64_t i) { coded_rows<kCodedStreams>(dec, w, m.row_bytes, k, xs.data(), y + i); },
      [&](const uint8_t* w, int64_t i) { coded_rows<1>(dec, w, m.row_bytes, k, xs.data(), y + i); });
  add_coded_bf16_exceptions(m, r0, r1, x, y, false);
}

}  // namespace r1
