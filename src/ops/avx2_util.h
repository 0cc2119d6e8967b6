// Small helpers of the AVX2 kernels (include only from files compiled with -mavx2 -mfma -mf16c).
#pragma once
#include <immintrin.h>

#include <cstdint>

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

}  // namespace r1
