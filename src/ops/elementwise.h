// Element-wise and row-wise float ops of the transformer block. Output pointers may alias inputs.
#pragma once
#include <cstdint>

namespace r1 {

// y = weight ⊙ x / sqrt(mean(x²) + eps); weight may be null (then 1). Sum of squares in double.
void rmsnorm(float* y, const float* x, const float* weight, float eps, int64_t n);
// x = exp(x - max) / Σ exp(x - max), in place. An all -inf row becomes all zeros. Returns the inputs'
// log-sum-exp ln Σ exp(x) = max + ln Σ exp(x - max) (-inf for an all -inf row), by which attention
// over parts of the keys is merged (ops/attention.h).
float softmax(float* x, int64_t n);
// Its AVX2 and NEON forms (a vector exp: the attention kernels call softmax once per query and
// position block, and libm's expf took ~15% of a prompt at depth when the bf16 AVX-512 kernel used
// the scalar loop), which softmax() picks with the x86 (AVX2 or AVX-512) and NEON matmul backends.
float softmax_avx2(float* x, int64_t n);
float softmax_neon(float* x, int64_t n);
// x = x · sigmoid(x), in place.
void silu(float* x, int64_t n);
// out = silu(gate) ⊙ up.
void swiglu(float* out, const float* gate, const float* up, int64_t n);
// Its AVX-512, AVX2 and NEON forms (elementwise_avx512.cc, elementwise_avx2.cc, elementwise_neon.cc),
// which swiglu() picks with those matmul backends.
void swiglu_avx512(float* out, const float* gate, const float* up, int64_t n);
void swiglu_avx2(float* out, const float* gate, const float* up, int64_t n);
void swiglu_neon(float* out, const float* gate, const float* up, int64_t n);
// y = a + b.
void add(float* y, const float* a, const float* b, int64_t n);
// y = a ⊙ s (scalar).
void scale(float* y, const float* a, float s, int64_t n);
// y[c] = a[c] · s[c / block] for c < n (a row times one scale per block of columns: DeepSeek's FP8
// block scales moved onto the activations).
void scale_blocks(float* y, const float* a, const float* s, int64_t block, int64_t n);

}  // namespace r1
