// Scalar element conversions shared by every kernel (IEEE fp16, bfloat16, fp8 e4m3fn).
#pragma once
#include <bit>
#include <cstdint>

namespace r1 {

float fp16_to_f32(uint16_t h);
uint16_t f32_to_fp16(float f);   // round to nearest even, like ggml / numpy
// Inline: per-element callers (the coded BF16 exceptions, reference loops) call these in hot loops.
inline float bf16_to_f32(uint16_t b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }
inline uint16_t f32_to_bf16(float f) {  // round to nearest even (NaN stays NaN)
  const uint32_t u = std::bit_cast<uint32_t>(f);
  if ((u & 0x7fffffff) > 0x7f800000) return static_cast<uint16_t>((u >> 16) | 0x40);  // quiet NaN
  return static_cast<uint16_t>((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}
float fp8_e4m3_to_f32(uint8_t v);
uint8_t f32_to_fp8_e4m3(float f);  // round to nearest even, saturating at +-448

// The same conversions for rows of n, with the CPU's instructions where the matmul backend has them
// (F16C on x86-64, fcvt on NEON): the attention caches are F16, and element by element these were
// ~1-3% of a prompt. dequantize_row / quantize_row of F16 go through them.
void fp16_to_f32_row(const uint16_t* x, float* y, int64_t n);
void f32_to_fp16_row(const float* x, uint16_t* y, int64_t n);

}  // namespace r1
