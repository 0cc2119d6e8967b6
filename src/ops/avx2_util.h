// Small helpers of the AVX2 kernels (include only from files compiled with -mavx2 -mfma -mf16c).
// Everything is in an unnamed namespace: the files that include this are compiled for different CPUs
// (AVX2, AVX2 + AVX-VNNI, AVX-512), and an inline function with external linkage that one of them
// left out of line would be merged by the linker into one copy, built for any one of those CPUs.
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "ops/blocks.h"
#include "ops/prefetch.h"

#include "ops/vec_dot.h"

namespace r1 {
namespace {

// acc + the sums of each 4 adjacent products u·s (u unsigned, s signed bytes), per 32-bit lane:
// vpdpbusd where the file is compiled for AVX-VNNI, vpmaddubsw + vpmaddwd otherwise. They agree
// wherever no pair of products passes 2^15 - 1 (vpmaddubsw saturates), which the kernels' codes and
// activations keep to (|u| <= 128, |s| <= 127).
inline __m256i dot_u8s8(__m256i acc, __m256i u, __m256i s) {
#if defined(__AVXVNNI__)
  return _mm256_dpbusd_avx_epi32(acc, u, s);
#else
  return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
#endif
}

// Q8_K's inverse scale for a block of kQKK activations whose largest magnitude is amax (> 0): -127
// over the first element of that magnitude, sign kept, as quantize_row(Q8_K) takes it. The vector
// quantizers find amax first; none equal to it (a NaN) takes the block's last element, so the search
// stays inside the block. 8 compares at a time: a scalar walk cost more than the rest of a block's
// quantizing.
inline float q8k_inverse_scale(const float* x, float amax) {
  const __m256 target = _mm256_set1_ps(amax), sign = _mm256_set1_ps(-0.0f);
  int first = kQKK - 1;
  for (int j = 0; j < kQKK; j += 8) {
    const __m256 magnitude = _mm256_andnot_ps(sign, _mm256_loadu_ps(x + j));
    const int at = _mm256_movemask_ps(_mm256_cmp_ps(magnitude, target, _CMP_EQ_OQ));
    if (at != 0) {
      first = j + __builtin_ctz(static_cast<unsigned>(at));
      break;
    }
  }
  return -127.f / x[first];
}

// One fp16 -> f32 with the F16C instruction: the portable fp16_to_f32 is an out-of-line bit
// manipulation, and the block kernels convert two scales per block.
inline float half_to_f32(uint16_t h) { return _cvtsh_ss(h); }

// Decode (one token) walks each thread's rows in order; its kernels ask for the bytes this far ahead
// of those they read, as they go (the hint: ops/prefetch.h). Variants alternated token by token in one process,
// Qwen-1.5B on the avx2 backend: Q4_K_M 1.16x, F16 1.13x, BF16 1.25x over a T0 prefetch of each whole
// row 16 KiB ahead when the row starts; Q8_0 1.10x, Q4_0 1.06x (repacked) over none. With a
// non-temporal prefetch of the whole row when it starts, 2 and 8 KiB ahead read as 4. (Measured on
// AMD Zen 5 with the non-temporal hint; other CPUs take theirs, ops/prefetch.h.)
constexpr size_t kAvx2PrefetchBytes = 4096;
template <bool kPrefetch, size_t kBytes>
inline void prefetch_stream_ahead(const void* p) {
  if constexpr (kPrefetch) prefetch_stream(static_cast<const char*>(p) + kAvx2PrefetchBytes, kBytes, stream_prefetch());
}

// The sum of 8 floats (the dot products and the prefill tiles share it, so their results agree).
inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// 8 weights from element i of a row in its own format, as float32 (the dot products and the float tiles).
inline __m256 load8_f32(const void* w, int64_t i) { return _mm256_loadu_ps(static_cast<const float*>(w) + i); }
inline __m256 load8_f16(const void* w, int64_t i) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(w) + i)));
}
inline __m256 load8_bf16(const void* w, int64_t i) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(w) + i));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
// F8_E4M3 codes, sign-extended to 16-bit lanes (vpmovsxbw: the sign in bits 15..7), as the fp16 bits
// of their values / 2^8: shifted left by 7, the exponent and mantissa bits lie under fp16's (biases 7
// and 15: the 2^-8) and the sign in bits 15 and 14, of which 14 is cleared. Exact for every code,
// subnormals included (fp16's own); the NaN codes 0x7F / 0xFF become fp16 NaNs. Arithmetic instead
// of a table gather: the gather held F8 decode to ~4 GB/s (BM_gemv_cold).
inline __m128i f8_to_f16_over_256(__m128i x) {
  const __m128i h = _mm_and_si128(_mm_slli_epi16(x, 7), _mm_set1_epi16(static_cast<short>(0xBF80)));
  const __m128i nan = _mm_cmpeq_epi16(_mm_and_si128(x, _mm_set1_epi16(0x7F)), _mm_set1_epi16(0x7F));
  return _mm_or_si128(h, _mm_and_si128(nan, _mm_set1_epi16(0x7E00)));
}
inline __m256i f8_to_f16_over_256(__m256i x) {
  const __m256i h = _mm256_and_si256(_mm256_slli_epi16(x, 7), _mm256_set1_epi16(static_cast<short>(0xBF80)));
  const __m256i nan = _mm256_cmpeq_epi16(_mm256_and_si256(x, _mm256_set1_epi16(0x7F)), _mm256_set1_epi16(0x7F));
  return _mm256_or_si256(h, _mm256_and_si256(nan, _mm256_set1_epi16(0x7E00)));
}
#if defined(__AVX512F__)
// 32 codes at once (AVX-512 BW): the NaN codes through a mask.
inline __m512i f8_to_f16_over_256(__m512i x) {
  const __m512i h = _mm512_and_si512(_mm512_slli_epi16(x, 7), _mm512_set1_epi16(static_cast<short>(0xBF80)));
  const __mmask32 nan = _mm512_cmpeq_epi16_mask(_mm512_and_si512(x, _mm512_set1_epi16(0x7F)), _mm512_set1_epi16(0x7F));
  return _mm512_mask_mov_epi16(h, nan, _mm512_set1_epi16(0x7E00));
}
// 16 F8_E4M3 codes from p as float32: their values / 2^8 (the AVX-512 kernels multiply by 2^8 where
// it costs least).
inline __m512 load16_f8_over_256(const uint8_t* p) {
  return _mm512_cvtph_ps(f8_to_f16_over_256(_mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)))));
}
#endif
inline __m256 load8_f8(const void* w, int64_t i) {
  const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(static_cast<const uint8_t*>(w) + i));
  return _mm256_mul_ps(_mm256_cvtph_ps(f8_to_f16_over_256(_mm_cvtepi8_epi16(b))), _mm256_set1_ps(256.0f));
}

// The 32 codes of a nibble-packed block in element order: [low nibbles | high nibbles], 0..15.
inline __m256i nibbles32(const uint8_t* qs) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0xF));
}
// 0x10 in byte j where bit j of qh is set: the fifth bits of Q5_0 / Q5_1 in element order.
inline __m256i fifth_bits(const uint8_t* qh) {
  uint32_t bits;
  std::memcpy(&bits, qh, 4);
  // Byte j takes byte j / 8 of the bits (the shuffle works within 128-bit lanes; every lane holds all 4)
  // and keeps bit j % 8 of it.
  const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3,
                                          3, 3, 3, 3, 3);
  const __m256i bit = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ULL));
  const __m256i v = _mm256_and_si256(_mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(bits)), spread), bit);
  return _mm256_and_si256(_mm256_cmpeq_epi8(v, bit), _mm256_set1_epi8(0x10));
}

// block_codes: the 32 codes of one block of a 32-element format, in element order, for the dot
// products and the prefill tiles. Signed (value = d·code):
inline __m256i block_codes(const BlockQ8_0& b) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs)); }
inline __m256i block_codes(const BlockQ4_0& b) { return _mm256_sub_epi8(nibbles32(b.qs), _mm256_set1_epi8(8)); }
inline __m256i block_codes(const BlockQ5_0& b) {
  return _mm256_sub_epi8(_mm256_or_si256(nibbles32(b.qs), fifth_bits(b.qh)), _mm256_set1_epi8(16));
}
inline __m256i block_codes(const BlockIQ4NL& b) {
  const __m128i table = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kIQ4NLValues));
  return _mm256_shuffle_epi8(_mm256_set_m128i(table, table), nibbles32(b.qs));
}
// Unsigned, 0..31 (value = d·code + m):
inline __m256i block_codes(const BlockQ4_1& b) { return nibbles32(b.qs); }
inline __m256i block_codes(const BlockQ5_1& b) { return _mm256_or_si256(nibbles32(b.qs), fifth_bits(b.qh)); }

}  // namespace
}  // namespace r1
