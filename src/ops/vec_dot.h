// Dot products of one weight row with one activation row, one function per weight type, in several
// builds: scalar (the reference), AVX2+FMA+F16C and AVX-512 (F/BW/VL) on x86-64, NEON and NEON with
// the dot-product extension on AArch64, each in its own file with its own compiler flags. matmul.cc
// picks a table at run time.
//
// Activation format per weight type (as llama.cpp): F32/F16/BF16/F8_E4M3 weights take float32
// activations; Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 and IQ4_NL take Q8_0 blocks (llama.cpp gives Q4_1 / Q5_1
// Q8_1 blocks, which only add the block sum; it is formed here from the codes); Q4_K/Q5_K/Q6_K take Q8_K blocks.
#pragma once
#include <cstdint>

#include "core/dtype.h"

namespace r1 {

// k elements; w and a point at the row starts in their formats.
using VecDotFn = float (*)(int64_t k, const void* w, const void* a);

struct VecDotTable {
  const char* name;
  VecDotFn f32, f16, bf16, f8_e4m3, q8_0, q4_0, q4_k, q5_k, q6_k;
  // quantize_row_q8_0_activations and quantize_row(Q8_K, ...) in this build (the same bytes).
  void (*quantize_q8_0)(const float* x, void* dst, int64_t k) = nullptr;
  void (*quantize_q8_k)(const float* x, void* dst, int64_t k) = nullptr;
  // fp16 rows <-> float32 with the build's conversion instructions (F16C, NEON fcvt): the values of
  // fp16_to_f32 / f32_to_fp16 (nearest even). convert.h's *_row functions call the active backend's.
  void (*fp16_to_f32_row)(const uint16_t* x, float* y, int64_t n) = nullptr;
  void (*f32_to_fp16_row)(const float* x, uint16_t* y, int64_t n) = nullptr;
  // The other 32-element formats (Q8_0 activations).
  VecDotFn q4_1 = nullptr, q5_0 = nullptr, q5_1 = nullptr, iq4_nl = nullptr;
};

const VecDotTable& vec_dot_scalar();
#if defined(R1_HAVE_X86_KERNELS)
const VecDotTable& vec_dot_avx2();
const VecDotTable& vec_dot_avx512();
#endif
#if defined(R1_HAVE_NEON_KERNELS)
const VecDotTable& vec_dot_neon();          // every AArch64 CPU
const VecDotTable& vec_dot_neon_dotprod();  // with the dot-product extension (sdot)
#endif

VecDotFn vec_dot_for(const VecDotTable& table, DType weight_type);  // throws for an unsupported type
// The activation format a weight type's dot product expects (F32, Q8_0 or Q8_K).
DType activation_type_for(DType weight_type);

// float32 activations -> Q8_0 blocks the way llama.cpp's x86 matmul does it (d = amax/127,
// codes = round-half-even(x·127/amax)); quantize_row(Q8_0) is the file-format reference instead.
void quantize_row_q8_0_activations(const float* x, void* dst, int64_t k);

// 256-entry e4m3fn decode table, shared by the kernels.
const float* fp8_e4m3_table();

}  // namespace r1
