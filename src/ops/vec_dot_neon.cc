// NEON dot products for every AArch64 CPU (baseline ARMv8-A); see vec_dot_neon_impl.h.
#include "ops/vec_dot_neon_impl.h"
#include "ops/gemm_neon_impl.h"

namespace r1 {

const VecDotTable& vec_dot_neon() {
  static const VecDotTable t = neon_table("neon");
  return t;
}

const GemmTable& gemm_neon() {
  static const GemmTable t = neon_gemm_table();
  return t;
}

namespace {

// y[0..32·nb) = the values of nb blocks: d·code (+ m where the format has one), from the dot
// products' block_codes.
template <typename Block>
void widen_blocks(const Block* b, int64_t nb, float* y) {
  for (int64_t i = 0; i < nb; ++i, y += 32) {
    int8x16_t codes[2];
    block_codes(b[i], &codes[0], &codes[1]);
    const float d = half(b[i].d);
    for (int h = 0; h < 2; ++h) {
      const int16x8_t wide[2] = {vmovl_s8(vget_low_s8(codes[h])), vmovl_high_s8(codes[h])};
      for (int q = 0; q < 4; ++q) {
        const int16x8_t w = wide[q / 2];
        float32x4_t v = vmulq_n_f32(vcvtq_f32_s32(q % 2 == 0 ? vmovl_s16(vget_low_s16(w)) : vmovl_high_s16(w)), d);
        if constexpr (requires { b[i].m; }) v = vaddq_f32(v, vdupq_n_f32(half(b[i].m)));
        vst1q_f32(y + 16 * h + 4 * q, v);
      }
    }
  }
}

}  // namespace

// The rows of the attention caches widened to float32 (ops/attention.cc), as on x86.
bool widen_row_neon(DType type, const void* row, float* y, int64_t n) {
  switch (type) {
    case DType::BF16:
      if (n % 4 != 0) return false;
      for (int64_t j = 0; j < n; j += 4) vst1q_f32(y + j, load4_bf16(row, j));
      return true;
    case DType::Q4_1: return widen_blocks(static_cast<const BlockQ4_1*>(row), n / 32, y), true;
    case DType::Q5_0: return widen_blocks(static_cast<const BlockQ5_0*>(row), n / 32, y), true;
    case DType::Q5_1: return widen_blocks(static_cast<const BlockQ5_1*>(row), n / 32, y), true;
    case DType::IQ4_NL: return widen_blocks(static_cast<const BlockIQ4NL*>(row), n / 32, y), true;
    default: return false;
  }
}

}  // namespace r1
