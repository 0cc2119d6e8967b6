// Scalar element conversions shared by every kernel (IEEE fp16, bfloat16, fp8 e4m3fn).
#pragma once
#include <cstdint>

namespace r1 {

float fp16_to_f32(uint16_t h);
uint16_t f32_to_fp16(float f);   // round to nearest even, like ggml / numpy
float bf16_to_f32(uint16_t b);
uint16_t f32_to_bf16(float f);   // round to nearest even (NaN stays NaN)
float fp8_e4m3_to_f32(uint8_t v);
uint8_t f32_to_fp8_e4m3(float f);  // round to nearest even, saturating at +-448

// The same conversions for rows of n, with the CPU's instructions where the matmul backend has them
// (F16C on x86-64, fcvt on NEON): the attention caches are F16, and element by element these were
// ~1-3% of a prompt. dequantize_row / quantize_row of F16 go through them.
void fp16_to_f32_row(const uint16_t* x, float* y, int64_t n);
void f32_to_fp16_row(const float* x, uint16_t* y, int64_t n);

}  // namespace r1
