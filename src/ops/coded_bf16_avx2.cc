// AVX2 kernels for coded BF16 rows (ops/coded_bf16.h), for CPUs without AVX-512: one-token decode
// reads 12 bits a weight, as the AVX-512 kernels do (coded_bf16_avx512.cc), instead of the 16 of the
// plain F16 / BF16 dot products. A block of 64 weights becomes bf16 words in a few instructions: the
// 32 code bytes give their low nibbles (elements 0..31) and, shifted, their high nibbles (32..63); one
// in-lane byte lookup (vpshufb, the 16-entry table in both lanes) each turns them into high bytes;
// unpacklo/hi_epi8 with the 32 low bytes of each half join them into words. That leaves word vector
// v = 2·half + (0 for unpacklo, 1 for unpackhi) holding, in 128-bit lane L, elements
// 32·half + 16·L + 8·(v % 2) + 0..7, two per 32-bit lane: a shift and a mask make float32s of the
// even and the odd ones. The one-token kernel lays the activation out once per call in that order
// and keeps float32 products; the row decoder (for the float32 prefill tile) puts the words back in
// order as float32 with unpacks and lane permutes.
#include <immintrin.h>

#include "ops/avx2_util.h"
#include "ops/coded_bf16.h"
#include "ops/coded_bf16_walk.h"
#include "ops/convert.h"

namespace r1 {
namespace {

struct BlockDecoder {
  __m256i table;
  __m256i low4 = _mm256_set1_epi8(0x0F);

  explicit BlockDecoder(const CodedBf16Header& h)
      : table(_mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h.high)))) {}

  // The block's 64 bf16 words, w[v] as described above.
  void words(const uint8_t* block, __m256i w[4]) const {
    const __m256i codes = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block));
    const __m256i high0 = _mm256_shuffle_epi8(table, _mm256_and_si256(codes, low4));
    const __m256i high1 = _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(codes, 4), low4));
    const __m256i low0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 32));
    const __m256i low1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 64));
    w[0] = _mm256_unpacklo_epi8(low0, high0);
    w[1] = _mm256_unpackhi_epi8(low0, high0);
    w[2] = _mm256_unpacklo_epi8(low1, high1);
    w[3] = _mm256_unpackhi_epi8(low1, high1);
  }
};

// Element of a block that float32 lane `lane` (0..7) of float vector f (0..7: word vector f / 2, its
// even words for even f, odd for odd f) carries.
constexpr int lane_element(int f, int lane) {
  const int v = f / 2;
  return 32 * (v / 2) + 16 * (lane / 4) + 8 * (v % 2) + 2 * (lane % 4) + f % 2;
}

__m256 even_f32(__m256i words) { return _mm256_castsi256_ps(_mm256_slli_epi32(words, 16)); }
__m256 odd_f32(__m256i words) {
  return _mm256_castsi256_ps(_mm256_and_si256(words, _mm256_set1_epi32(static_cast<int>(0xFFFF0000u))));
}

// R rows side by side (`stride` bytes apart, k weights each) against the laid-out activation xs. Each
// row sums into the same four accumulators whatever R, so a row's result does not depend on how the
// rows were grouped or split over threads.
template <int R>
void coded_rows(const BlockDecoder& dec, const uint8_t* w, size_t stride, int64_t k, const float* xs, float* y) {
  const StreamPrefetch hint = stream_prefetch();
  __m256 acc[R][4];
  for (int j = 0; j < R; ++j) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = _mm256_setzero_ps();
  for (int64_t b = 0; b < k; b += kCodedBlock) {
    const size_t off = static_cast<size_t>(b) / kCodedBlock * 96;
    const size_t ahead = coded_prefetch_distance<R>(off, stride);
    const float* x = xs + b;
    for (int j = 0; j < R; ++j) {
      const uint8_t* block = w + j * stride + off;
      prefetch_coded_step(block + ahead, b, k, hint);
      __m256i v[4];
      dec.words(block, v);
      for (int u = 0; u < 4; ++u) {
        acc[j][u] = _mm256_fmadd_ps(even_f32(v[u]), _mm256_loadu_ps(x + 16 * u), acc[j][u]);
        acc[j][u] = _mm256_fmadd_ps(odd_f32(v[u]), _mm256_loadu_ps(x + 16 * u + 8), acc[j][u]);
      }
    }
  }
  for (int j = 0; j < R; ++j)
    y[j] = hsum(_mm256_add_ps(_mm256_add_ps(acc[j][0], acc[j][1]), _mm256_add_ps(acc[j][2], acc[j][3])));
}

// Long rows (kCodedStreamsMinK on) two side by side: eight accumulators stay in the 16 registers.
// BM_gemv_coded_cold at k = 8960, 2 threads, Intel Xeon: 1, 2, 4 or 8 rows read 38.0, 38.9, 34.7
// and 38.9 GB/s (BF16-equivalent; level within the noise), against 28.2 for the plain BF16 rows.
constexpr int kAvx2CodedStreams = 2;

}  // namespace

void gemv_coded_bf16_avx2(const CodedBf16& m, int64_t r0, int64_t r1, const float* x, int64_t n_tok, float* y,
                          int64_t ldy) {
  const int64_t k = m.k;
  const float* xs = lay_out_coded_activations<8, 8, lane_element>(x, k, n_tok);
  const BlockDecoder dec(*m.header);
  // A few tokens: each group of rows again for every token, from cache after the first (16 registers
  // hold one token's accumulators for two rows).
  walk_coded_rows<kAvx2CodedStreams>(
      m, r0, r1,
      [&](const uint8_t* w, int64_t i) {
        for (int64_t t = 0; t < n_tok; ++t)
          coded_rows<kAvx2CodedStreams>(dec, w, m.row_bytes, k, xs + t * k, y + t * ldy + i);
      },
      [&](const uint8_t* w, int64_t i) {
        for (int64_t t = 0; t < n_tok; ++t) coded_rows<1>(dec, w, m.row_bytes, k, xs + t * k, y + t * ldy + i);
      });
  for (int64_t t = 0; t < n_tok; ++t) add_coded_bf16_exceptions(m, r0, r1, x + t * k, y + t * ldy, false);
}

void decode_coded_f32_rows_avx2(const CodedBf16& m, int64_t r0, int64_t r1, float* out) {
  const int64_t k = m.k;
  const BlockDecoder dec(*m.header);
  const __m256i zero = _mm256_setzero_si256();
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* block = m.rows + static_cast<size_t>(r) * m.row_bytes;
    float* row = out + (r - r0) * k;
    for (int64_t b = 0; b < k; b += kCodedBlock, block += 96) {
      __m256i w[4];
      dec.words(block, w);
      for (int v = 0; v < 4; ++v) {
        // Word vector v holds elements e..e+7 in lane 0 and e+16..e+23 in lane 1 (e = 32·(v/2) + 8·(v%2)):
        // a word below 16 zero bits is its float32.
        const __m256i lo = _mm256_unpacklo_epi16(zero, w[v]), hi = _mm256_unpackhi_epi16(zero, w[v]);
        float* dst = row + b + 32 * (v / 2) + 8 * (v % 2);
        _mm256_storeu_ps(dst, _mm256_castsi256_ps(_mm256_permute2x128_si256(lo, hi, 0x20)));
        _mm256_storeu_ps(dst + 16, _mm256_castsi256_ps(_mm256_permute2x128_si256(lo, hi, 0x31)));
      }
    }
    for (uint32_t e = m.first[r]; e < m.first[r + 1]; ++e) row[m.exceptions[e].col] = bf16_to_f32(m.exceptions[e].bits);
  }
}

}  // namespace r1
