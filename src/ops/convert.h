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

}  // namespace r1
