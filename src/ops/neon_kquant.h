// K-quant super-blocks (Q4_K, Q5_K, Q6_K) for the NEON kernels: a weight block expanded once into 16
// vectors of 16 codes in element order and its sub-block scales, then its product with a Q8_K
// activation block. The dot products (vec_dot_neon_impl.h: decode, one token) expand a block and
// take one product; the prefill tile (gemm_neon_impl.h) expands it once for up to 32 tokens, so the
// unpacking of codes and 6-bit scales is not repeated per token. Both take the same steps per block,
// so they agree bit for bit (Matmul.NeonTilesEqualTheDotProducts).
// The integer sums are the scalar reference's (vec_dot_scalar.cc); the float step per block is written
// with an explicit fma, so that no compiler contraction can make the two callers round differently.
#pragma once
#include <arm_neon.h>

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "ops/blocks.h"
#include "ops/neon_util.h"

namespace r1 {
namespace {

struct KBlockNeon {
  int8x16_t q[16];    // codes of elements 16v .. 16v+15: 0..31 (Q4_K / Q5_K), 0..63 (Q6_K, offset 32)
  int32_t scale[16];  // per sub-block: 8 of 32 elements (Q4_K / Q5_K), 16 of 16 (Q6_K)
  int16x8_t mins;     // Q4_K / Q5_K: the 8 sub-block mins
  int16x8_t scale16[2];  // Q6_K: the 16 scales again, for the offset through the activation sums
  float d, dmin;      // dmin: Q4_K / Q5_K only
};

template <bool kFiveBit>
inline void expand_q4k_neon(const void* block, KBlockNeon& kb) {
  const uint8_t *scales, *qs, *qh = nullptr;
  uint16_t d, dmin;
  if constexpr (kFiveBit) {
    const BlockQ5K& b = *static_cast<const BlockQ5K*>(block);
    scales = b.scales, qs = b.qs, qh = b.qh, d = b.d, dmin = b.dmin;
  } else {
    const BlockQ4K& b = *static_cast<const BlockQ4K*>(block);
    scales = b.scales, qs = b.qs, d = b.d, dmin = b.dmin;
  }
  kb.d = half(d), kb.dmin = half(dmin);
  const uint8x16_t low4 = vdupq_n_u8(0xF), bit4 = vdupq_n_u8(0x10);
  uint8x16_t h0 = vdupq_n_u8(0), h1 = vdupq_n_u8(0);
  if constexpr (kFiveBit) h0 = vld1q_u8(qh), h1 = vld1q_u8(qh + 16);  // bit j of qh[l]: element 32j + l
  // qs[32c + l]: element 64c + l in the low nibble (sub-block 2c), 64c + 32 + l in the high one.
#pragma GCC unroll 4
  for (int c = 0; c < 4; ++c) {
    const uint8x16_t q0 = vld1q_u8(qs + 32 * c), q1 = vld1q_u8(qs + 32 * c + 16);
    uint8x16_t v[4] = {vandq_u8(q0, low4), vandq_u8(q1, low4), vshrq_n_u8(q0, 4), vshrq_n_u8(q1, 4)};
    if constexpr (kFiveBit) {
      const uint8x16_t lo_bit = vdupq_n_u8(static_cast<uint8_t>(1u << (2 * c)));
      const uint8x16_t hi_bit = vdupq_n_u8(static_cast<uint8_t>(2u << (2 * c)));
      v[0] = vorrq_u8(v[0], vandq_u8(vtstq_u8(h0, lo_bit), bit4));
      v[1] = vorrq_u8(v[1], vandq_u8(vtstq_u8(h1, lo_bit), bit4));
      v[2] = vorrq_u8(v[2], vandq_u8(vtstq_u8(h0, hi_bit), bit4));
      v[3] = vorrq_u8(v[3], vandq_u8(vtstq_u8(h1, hi_bit), bit4));
    }
    for (int u = 0; u < 4; ++u) kb.q[4 * c + u] = vreinterpretq_s8_u8(v[u]);
  }
  int16_t mins[8];
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    k_scale_min(j, scales, &sc, &m);
    kb.scale[j] = sc, mins[j] = m;
  }
  kb.mins = vld1q_s16(mins);
}

inline void expand_q6k_neon(const void* block, KBlockNeon& kb) {
  const BlockQ6K& b = *static_cast<const BlockQ6K*>(block);
  kb.d = half(b.d), kb.dmin = 0;
  const uint8x16_t low4 = vdupq_n_u8(0xF), three = vdupq_n_u8(3);
  // Element 128h + 32g + l: 4 low bits from ql[64h + 32·(g % 2) + l] (the high nibble for g ≥ 2), 2 high
  // bits from qh[32h + l] >> 2g; sub-block 8h + 2g + l / 16.
#pragma GCC unroll 2
  for (int h = 0; h < 2; ++h) {
    const uint8_t* ql = b.ql + 64 * h;
    const uint8x16_t qh[2] = {vld1q_u8(b.qh + 32 * h), vld1q_u8(b.qh + 32 * h + 16)};
#pragma GCC unroll 4
    for (int g = 0; g < 4; ++g)
      for (int half16 = 0; half16 < 2; ++half16) {
        const uint8x16_t src = vld1q_u8(ql + (g & 1 ? 32 : 0) + 16 * half16);
        const uint8x16_t lo = g & 2 ? vshrq_n_u8(src, 4) : vandq_u8(src, low4);
        const uint8x16_t hi = vandq_u8(vshlq_u8(qh[half16], vdupq_n_s8(static_cast<int8_t>(-2 * g))), three);
        kb.q[8 * h + 2 * g + half16] = vreinterpretq_s8_u8(vorrq_u8(lo, vshlq_n_u8(hi, 4)));
      }
  }
  const int8x16_t sc = vld1q_s8(b.scales);
  kb.scale16[0] = vmovl_s8(vget_low_s8(sc)), kb.scale16[1] = vmovl_high_s8(sc);
  for (int s = 0; s < 16; ++s) kb.scale[s] = b.scales[s];
}

// s plus the block's term of the dot product with activation block y: Q4_K / Q5_K
// d·dy·Σ sc_j·(q·a)_j − dmin·dy·Σ m_j·(Σa)_j; Q6_K d·dy·(Σ sc_s·(q·a)_s − 32·Σ sc_s·(Σa)_s).
template <bool kQ6>
inline float kblock_dot(const KBlockNeon& kb, const BlockQ8K& y, float s) {
  int32x4_t acc[2] = {vdupq_n_s32(0), vdupq_n_s32(0)};  // two chains: the multiply-adds' latency
  const int16x8_t bs0 = vld1q_s16(y.bsums), bs1 = vld1q_s16(y.bsums + 8);
  if constexpr (kQ6) {
#pragma GCC unroll 16
    for (int s = 0; s < 16; ++s)
      acc[s % 2] = vmlaq_n_s32(acc[s % 2], dot16(vdupq_n_s32(0), kb.q[s], vld1q_s8(y.qs + 16 * s)), kb.scale[s]);
    int32x4_t offset = vmull_s16(vget_low_s16(bs0), vget_low_s16(kb.scale16[0]));
    offset = vmlal_high_s16(offset, bs0, kb.scale16[0]);
    offset = vmlal_s16(offset, vget_low_s16(bs1), vget_low_s16(kb.scale16[1]));
    offset = vmlal_high_s16(offset, bs1, kb.scale16[1]);
    const int32_t sumi = vaddvq_s32(vaddq_s32(acc[0], acc[1])) - 32 * vaddvq_s32(offset);
    return std::fma(y.d * kb.d, static_cast<float>(sumi), s);
  } else {
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) {
      const int32x4_t p = dot16(dot16(vdupq_n_s32(0), kb.q[2 * j], vld1q_s8(y.qs + 32 * j)), kb.q[2 * j + 1],
                                vld1q_s8(y.qs + 32 * j + 16));
      acc[j % 2] = vmlaq_n_s32(acc[j % 2], p, kb.scale[j]);
    }
    const int16x8_t pairs = vpaddq_s16(bs0, bs1);  // Σa over each sub-block of 32 (≤ 32 · 127)
    int32x4_t mins = vmull_s16(vget_low_s16(pairs), vget_low_s16(kb.mins));
    mins = vmlal_high_s16(mins, pairs, kb.mins);
    const float sumi = static_cast<float>(vaddvq_s32(vaddq_s32(acc[0], acc[1])));
    const float summs = static_cast<float>(vaddvq_s32(mins));
    return s + std::fma(y.d * kb.d, sumi, -((y.d * kb.dmin) * summs));
  }
}

}  // namespace
}  // namespace r1
