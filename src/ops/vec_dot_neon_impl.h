// NEON dot products for 64-bit ARM, included by two files: vec_dot_neon.cc (baseline ARMv8-A,
// every AArch64 CPU) and vec_dot_neon_dotprod.cc (compiled with +dotprod: sdot multiplies and adds
// 4 int8 pairs per lane). Everything is in an unnamed namespace, so each file keeps its own copy:
// the baseline table never calls code compiled for the dot-product extension.
// Integer sums equal the scalar reference's; the 32-element blocks accumulate in 4 float lanes, the
// K-quants (neon_kquant.h) per super-block. The prefill tiles (gemm_neon_impl.h) take the same steps.
#pragma once
#include <arm_neon.h>

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "ops/blocks.h"
#include "ops/convert.h"
#include "ops/neon_kquant.h"
#include "ops/neon_util.h"
#include "ops/quant.h"
#include "ops/vec_dot.h"

namespace r1 {
namespace {

// ---- float rows -----------------------------------------------------------------------------------

inline float32x4_t load4_f32(const void* w, int64_t i) { return vld1q_f32(static_cast<const float*>(w) + i); }
inline float32x4_t load4_f16(const void* w, int64_t i) {
  return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(static_cast<const uint16_t*>(w) + i)));
}
inline float32x4_t load4_bf16(const void* w, int64_t i) {
  return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(static_cast<const uint16_t*>(w) + i), 16));
}

inline float at_f32(const void* w, int64_t i) { return static_cast<const float*>(w)[i]; }
inline float at_f16(const void* w, int64_t i) { return fp16_to_f32(static_cast<const uint16_t*>(w)[i]); }
inline float at_bf16(const void* w, int64_t i) { return bf16_to_f32(static_cast<const uint16_t*>(w)[i]); }

// Four accumulators hide the FMA latency; the last k % 4 elements one by one (kAt: one weight).
template <float32x4_t (*kLoad)(const void*, int64_t), float (*kAt)(const void*, int64_t)>
float dot_float(int64_t k, const void* w, const void* a) {
  const float* y = static_cast<const float*>(a);
  float32x4_t acc[4] = {vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0)};
  int64_t i = 0;
  for (; i + 16 <= k; i += 16)
    for (int u = 0; u < 4; ++u) acc[u] = vfmaq_f32(acc[u], kLoad(w, i + 4 * u), vld1q_f32(y + i + 4 * u));
  for (; i + 4 <= k; i += 4) acc[0] = vfmaq_f32(acc[0], kLoad(w, i), vld1q_f32(y + i));
  float s = vaddvq_f32(vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3])));
  for (; i < k; ++i) s += kAt(w, i) * y[i];
  return s;
}

// ---- 32-element blocks (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL) against Q8_0 activations -------------

// 0x10 in byte j where bit j of the low 16 bits is set (the fifth bits of 16 elements).
inline uint8x16_t fifth_bits16(uint32_t bits) {
  const uint8x16_t bit = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
  const uint8x16_t b = vcombine_u8(vdup_n_u8(static_cast<uint8_t>(bits)), vdup_n_u8(static_cast<uint8_t>(bits >> 8)));
  return vandq_u8(vtstq_u8(b, bit), vdupq_n_u8(0x10));
}

// A block's codes in element order (0..15, 16..31): signed values for Q8_0, Q4_0 (q − 8), Q5_0 (q − 16)
// and IQ4_NL (table entries), the unsigned codes 0..31 for Q4_1 / Q5_1 (their offset is applied
// through Σa).
template <typename Block>
inline void block_codes(const Block& b, int8x16_t* lo, int8x16_t* hi) {
  if constexpr (std::is_same_v<Block, BlockQ8_0>) {
    *lo = vld1q_s8(b.qs), *hi = vld1q_s8(b.qs + 16);
  } else {
    const uint8x16_t q = vld1q_u8(b.qs);
    uint8x16_t l = vandq_u8(q, vdupq_n_u8(0xF)), h = vshrq_n_u8(q, 4);
    if constexpr (requires { b.qh; }) {
      uint32_t bits;
      std::memcpy(&bits, b.qh, 4);
      l = vorrq_u8(l, fifth_bits16(bits));
      h = vorrq_u8(h, fifth_bits16(bits >> 16));
    }
    if constexpr (std::is_same_v<Block, BlockIQ4NL>) {
      const int8x16_t table = vld1q_s8(kIQ4NLValues);
      *lo = vqtbl1q_s8(table, l), *hi = vqtbl1q_s8(table, h);
    } else if constexpr (std::is_same_v<Block, BlockQ5_0> || std::is_same_v<Block, BlockQ4_0>) {
      const int8x16_t offset = vdupq_n_s8(std::is_same_v<Block, BlockQ5_0> ? 16 : 8);
      *lo = vsubq_s8(vreinterpretq_s8_u8(l), offset), *hi = vsubq_s8(vreinterpretq_s8_u8(h), offset);
    } else {
      *lo = vreinterpretq_s8_u8(l), *hi = vreinterpretq_s8_u8(h);
    }
  }
}

// Σa of an activation block as 4 int32 lanes (the offsets' term).
inline float32x4_t block_sums(int8x16_t a0, int8x16_t a1) {
  return vcvtq_f32_s32(vpaddlq_s16(vaddq_s16(vpaddlq_s8(a0), vpaddlq_s8(a1))));
}

// acc plus one block's products (codes lo / hi, scale dw, offset mw) with an activation block (a0, a1,
// scale da; sa = block_sums), in 4 float lanes. The prefill tile (gemm_neon_impl.h) takes this step too.
template <bool kOffset>
inline float32x4_t block_step(float32x4_t acc, int8x16_t lo, int8x16_t hi, float dw, float mw, int8x16_t a0,
                              int8x16_t a1, float da, float32x4_t sa) {
  acc = vfmaq_n_f32(acc, vcvtq_f32_s32(dot16(dot16(vdupq_n_s32(0), lo, a0), hi, a1)), dw * da);
  if constexpr (kOffset) acc = vfmaq_n_f32(acc, sa, mw * da);
  return acc;
}

template <typename Block>
float dot_blocks(int64_t k, const void* w, const void* a) {
  constexpr bool kOffset = requires(const Block& b) { b.m; };
  const auto* x = static_cast<const Block*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float32x4_t acc = vdupq_n_f32(0);
  for (int64_t i = 0; i < k / kQK; ++i) {
    int8x16_t lo, hi;
    block_codes(x[i], &lo, &hi);
    const int8x16_t a0 = vld1q_s8(y[i].qs), a1 = vld1q_s8(y[i].qs + 16);
    float mw = 0;
    float32x4_t sa = vdupq_n_f32(0);
    if constexpr (kOffset) mw = half(x[i].m), sa = block_sums(a0, a1);
    acc = block_step<kOffset>(acc, lo, hi, half(x[i].d), mw, a0, a1, half(y[i].d), sa);
  }
  return vaddvq_f32(acc);
}

// ---- K-quants against Q8_K activations (ops/neon_kquant.h) --------------------------------------

// Block by block as the prefill tile (gemm_neon_impl.h), so that decode and prefill agree bit for bit.
template <void (*kExpand)(const void*, KBlockNeon&), size_t kBlockBytes, bool kQ6>
float dot_k(int64_t k, const void* w, const void* a) {
  const auto* x = static_cast<const uint8_t*>(w);
  const auto* y = static_cast<const BlockQ8K*>(a);
  float s = 0;
  for (int64_t i = 0; i < k / kQKK; ++i) {
    KBlockNeon kb;
    kExpand(x + i * kBlockBytes, kb);
    s = kblock_dot<kQ6>(kb, y[i], s);
  }
  return s;
}

// F8_E4M3 codes (8, sign-extended to 16 bits) as the fp16 of their values / 2^8: shifted left by 7,
// the exponent and mantissa bits lie under fp16's (biases 7 and 15), bit 14 (a copy of the sign)
// cleared; exact for every code, subnormals included; the NaN codes 0x7F / 0xFF to an fp16 NaN. The
// x86 kernels' conversion (f8_to_f16_over_256 in avx2_util.h); a table lookup per element before.
inline float16x8_t f8_to_f16_over_256(int8x8_t codes) {
  const uint16x8_t x = vreinterpretq_u16_s16(vmovl_s8(codes));
  const uint16x8_t h = vandq_u16(vshlq_n_u16(x, 7), vdupq_n_u16(0xBF80));
  const uint16x8_t nan = vceqq_u16(vandq_u16(x, vdupq_n_u16(0x7F)), vdupq_n_u16(0x7F));
  return vreinterpretq_f16_u16(vorrq_u16(h, vandq_u16(nan, vdupq_n_u16(0x7E00))));
}

// 16 codes per step in 4 accumulators, the 2^8 once at the end; the last k % 16 one by one.
float dot_f8(int64_t k, const void* w, const void* a) {
  const int8_t* c = static_cast<const int8_t*>(w);
  const float* y = static_cast<const float*>(a);
  float32x4_t acc[4] = {vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0)};
  int64_t i = 0;
  for (; i + 16 <= k; i += 16) {
    const int8x16_t b = vld1q_s8(c + i);
    const float16x8_t lo = f8_to_f16_over_256(vget_low_s8(b)), hi = f8_to_f16_over_256(vget_high_s8(b));
    acc[0] = vfmaq_f32(acc[0], vcvt_f32_f16(vget_low_f16(lo)), vld1q_f32(y + i));
    acc[1] = vfmaq_f32(acc[1], vcvt_high_f32_f16(lo), vld1q_f32(y + i + 4));
    acc[2] = vfmaq_f32(acc[2], vcvt_f32_f16(vget_low_f16(hi)), vld1q_f32(y + i + 8));
    acc[3] = vfmaq_f32(acc[3], vcvt_high_f32_f16(hi), vld1q_f32(y + i + 12));
  }
  float s = 256.0f * vaddvq_f32(vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3])));
  for (; i < k; ++i) s += fp8_e4m3_to_f32(static_cast<const uint8_t*>(w)[i]) * y[i];
  return s;
}

// fp16 <-> float32 rows, 4 per fcvt; the tail element by element.
void fp16_row_neon(const uint16_t* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(x + i))));
  for (; i < n; ++i) y[i] = fp16_to_f32(x[i]);
}
void f32_row_to_fp16_neon(const float* x, uint16_t* y, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1_u16(y + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(x + i))));
  for (; i < n; ++i) y[i] = f32_to_fp16(x[i]);
}

VecDotTable neon_table(const char* name) {
  return {name,
          dot_float<load4_f32, at_f32>,
          dot_float<load4_f16, at_f16>,
          dot_float<load4_bf16, at_bf16>,
          dot_f8,
          dot_blocks<BlockQ8_0>,
          dot_blocks<BlockQ4_0>,
          dot_k<expand_q4k_neon<false>, sizeof(BlockQ4K), false>,
          dot_k<expand_q4k_neon<true>, sizeof(BlockQ5K), false>,
          dot_k<expand_q6k_neon, sizeof(BlockQ6K), true>,
          quantize_row_q8_0_activations,
          [](const float* x, void* dst, int64_t k) { quantize_row(DType::Q8_K, x, dst, k); },
          fp16_row_neon,
          f32_row_to_fp16_neon,
          dot_blocks<BlockQ4_1>,
          dot_blocks<BlockQ5_0>,
          dot_blocks<BlockQ5_1>,
          dot_blocks<BlockIQ4NL>};
}

}  // namespace
}  // namespace r1
