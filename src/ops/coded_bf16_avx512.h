// The block decoder of the AVX-512 coded BF16 kernels (coded_bf16_avx512.cc, coded_bf16_avx512bf16.cc):
// included only by files compiled for AVX-512 BW.
#pragma once
#include <immintrin.h>

#include "ops/coded_bf16.h"
#include "ops/coded_bf16_walk.h"
#include "ops/gemm_tile.h"

namespace r1 {
// Internal linkage: the files that include this are compiled with different flags.
namespace {

struct BlockDecoder {
  __m512i table = _mm512_setzero_si512();
  __m512i shifts = _mm512_setzero_si512();  // 0 for the first 32 bytes, 4 for the last 32
  __m512i low4 = _mm512_set1_epi8(0x0F);

  explicit BlockDecoder(const CodedBf16Header& h)
      : table(_mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h.high)))),
        shifts(_mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(4), 1)) {}

  // The block's 64 bf16 words as unpacklo (first) and unpackhi (second) leave them.
  void words(const uint8_t* block, __m512i& lo, __m512i& hi) const {
    const __m512i codes = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(block)));
    const __m512i nibbles = _mm512_and_si512(_mm512_srlv_epi16(codes, shifts), low4);
    const __m512i high = _mm512_shuffle_epi8(table, nibbles);
    const __m512i low = _mm512_loadu_si512(block + 32);
    lo = _mm512_unpacklo_epi8(low, high);
    hi = _mm512_unpackhi_epi8(low, high);
  }
};

}  // namespace
}  // namespace r1
