#include "ops/elementwise.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "ops/matmul.h"

namespace r1 {

void rmsnorm(float* y, const float* x, const float* weight, float eps, int64_t n) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  const float inv = 1.0f / std::sqrt(static_cast<float>(sum / static_cast<double>(n)) + eps);
  for (int64_t i = 0; i < n; ++i) y[i] = weight ? (x[i] * inv) * weight[i] : x[i] * inv;
}

float softmax(float* x, int64_t n) {
#if defined(R1_HAVE_X86_KERNELS)
  // Every x86 backend but scalar implies AVX2 + FMA (as attention.cc's dispatch).
  if (std::strcmp(matmul_backend(), "scalar") != 0) return softmax_avx2(x, n);
#endif
#if defined(R1_HAVE_NEON_KERNELS)
  if (std::strncmp(matmul_backend(), "neon", 4) == 0) return softmax_neon(x, n);
#endif
  float max = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) max = std::max(max, x[i]);
  if (max == -std::numeric_limits<float>::infinity()) {
    for (int64_t i = 0; i < n; ++i) x[i] = 0;
    return max;
  }
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
  return max + static_cast<float>(std::log(sum));
}

void silu(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] / (1.0f + std::exp(-x[i]));
}

void swiglu(float* out, const float* gate, const float* up, int64_t n) {
#if defined(R1_HAVE_X86_KERNELS)
  // With the AVX-512 kernels (as attention: R1_MATMUL_BACKEND=scalar turns it off too); a vector
  // exp where the scalar loop spent ~5% of a Q4_0 prefill in libm's expf.
  if (std::strncmp(matmul_backend(), "avx512", 6) == 0) return swiglu_avx512(out, gate, up, n);
  if (std::strncmp(matmul_backend(), "avx2", 4) == 0) return swiglu_avx2(out, gate, up, n);  // avx2, avx2vnni
#endif
#if defined(R1_HAVE_NEON_KERNELS)
  if (std::strncmp(matmul_backend(), "neon", 4) == 0) return swiglu_neon(out, gate, up, n);
#endif
  for (int64_t i = 0; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void add(float* y, const float* a, const float* b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

void scale(float* y, const float* a, float s, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] * s;
}

void scale_blocks(float* y, const float* a, const float* s, int64_t block, int64_t n) {
  for (int64_t c0 = 0, b = 0; c0 < n; c0 += block, ++b) scale(y + c0, a + c0, s[b], std::min(block, n - c0));
}

}  // namespace r1
