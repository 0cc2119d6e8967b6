// Element-wise ops on 64-bit ARM (NEON, every AArch64 CPU).
#include <arm_neon.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "ops/elementwise.h"
#include "ops/exp_poly.h"

namespace r1 {
namespace {

// e^x as elementwise_avx2.cc's exp256, 4 lanes: exp512's polynomial (ops/exp_poly.h), 2^n built in
// the exponent bits with x held under 88.3 (n <= 127); x > 88.72 gives +inf, x < -87.33 gives 0.
inline float32x4_t exp128(float32x4_t x) {
  using namespace exp_poly;
  const float32x4_t xc = vminq_f32(x, vdupq_n_f32(88.3f));
  const float32x4_t n = vrndnq_f32(vmulq_n_f32(xc, kLog2e));
  float32x4_t r = vfmsq_f32(xc, n, vdupq_n_f32(kLn2Hi));
  r = vfmsq_f32(r, n, vdupq_n_f32(kLn2Lo));
  float32x4_t p = vdupq_n_f32(kCoef[0]);
  for (int i = 1; i < 7; ++i) p = vfmaq_f32(vdupq_n_f32(kCoef[i]), p, r);
  const int32x4_t bits = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
  float32x4_t e = vmulq_f32(p, vreinterpretq_f32_s32(bits));
  e = vbslq_f32(vcgtq_f32(x, vdupq_n_f32(88.72283f)), vdupq_n_f32(INFINITY), e);
  return vbslq_f32(vcltq_f32(x, vdupq_n_f32(-87.33654f)), vdupq_n_f32(0.0f), e);
}

}  // namespace

// silu(g) · u, 4 at a time; the tail as the scalar loop.
void swiglu_neon(float* out, const float* gate, const float* up, int64_t n) {
  const float32x4_t one = vdupq_n_f32(1.0f);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const float32x4_t g = vld1q_f32(gate + i), u = vld1q_f32(up + i);
    const float32x4_t e = exp128(vnegq_f32(g));
    vst1q_f32(out + i, vmulq_f32(vdivq_f32(g, vaddq_f32(one, e)), u));
  }
  for (; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

// As the scalar softmax (the sum in double, an all -inf row all zeros), 4 at a time; the tail with expf.
float softmax_neon(float* x, int64_t n) {
  const float ninf = -std::numeric_limits<float>::infinity();
  float32x4_t mx = vdupq_n_f32(ninf);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) mx = vmaxq_f32(mx, vld1q_f32(x + i));
  float max = vmaxvq_f32(mx);
  for (int64_t j = i; j < n; ++j) max = std::max(max, x[j]);
  if (max == ninf) {
    std::fill(x, x + n, 0.0f);
    return max;
  }
  float64x2_t sum = vdupq_n_f64(0.0);
  const float32x4_t vmax = vdupq_n_f32(max);
  for (i = 0; i + 4 <= n; i += 4) {
    const float32x4_t e = exp128(vsubq_f32(vld1q_f32(x + i), vmax));
    vst1q_f32(x + i, e);
    sum = vaddq_f64(sum, vaddq_f64(vcvt_f64_f32(vget_low_f32(e)), vcvt_high_f64_f32(e)));
  }
  double total = vaddvq_f64(sum);
  for (int64_t j = i; j < n; ++j) total += (x[j] = std::exp(x[j] - max));
  const float inv = static_cast<float>(1.0 / total);
  for (i = 0; i + 4 <= n; i += 4) vst1q_f32(x + i, vmulq_n_f32(vld1q_f32(x + i), inv));
  for (int64_t j = i; j < n; ++j) x[j] *= inv;
  return max + static_cast<float>(std::log(total));
}

}  // namespace r1
