// Small helpers of the AVX2 kernels (include only from files compiled with -mavx2 -mfma -mf16c).
#pragma once
#include <immintrin.h>

#include <cstdint>

#include "ops/vec_dot.h"

namespace r1 {

// One fp16 -> f32 with the F16C instruction: the portable fp16_to_f32 is an out-of-line bit
// manipulation, and the block kernels convert two scales per block.
inline float half_to_f32(uint16_t h) { return _cvtsh_ss(h); }

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
inline __m256 load8_f8(const void* w, int64_t i) {
  const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(static_cast<const uint8_t*>(w) + i));
  return _mm256_i32gather_ps(fp8_e4m3_table(), _mm256_cvtepu8_epi32(b), 4);
}

}  // namespace r1
