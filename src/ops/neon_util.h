// Small helpers of the NEON kernels (64-bit ARM). In an unnamed namespace, as avx2_util.h says why:
// the files that include this are compiled for different CPUs (baseline ARMv8-A, and +dotprod).
#pragma once
#include <arm_neon.h>

#include <cstdint>

namespace r1 {
namespace {

inline float half(uint16_t h) { return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0); }

// acc + Σ x·a over 16 int8 pairs, in 4 int32 lanes.
inline int32x4_t dot16(int32x4_t acc, int8x16_t x, int8x16_t a) {
#if defined(__ARM_FEATURE_DOTPROD)
  return vdotq_s32(acc, x, a);
#else
  acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(x), vget_low_s8(a)));
  return vpadalq_s16(acc, vmull_high_s8(x, a));
#endif
}

}  // namespace
}  // namespace r1
