// attend() on 64-bit ARM (NEON, every AArch64 CPU): the layout of attention_avx2.cc at 4 lanes.
// Scores for 4 queries × 4 keys per pass (16 accumulators, each loaded key row serving 4 queries),
// summed across lanes with pairwise adds; softmax as elementwise.h's; values for up to 4 queries ×
// 16 floats per pass (each loaded value row serving 4 queries). Keys and values are float32, F16, Q8_0
// or Q4_0 (widened as they are loaded; KR, VR: their row pointer types).
#include <arm_neon.h>

#include <algorithm>
#include <cstring>

#include "ops/attention.h"
#include "ops/elementwise.h"

namespace r1 {
namespace {

float32x4_t load4(const float* p) { return vld1q_f32(p); }
float32x4_t load4(const uint16_t* p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }
float32x4_t load4(Q8Ptr p) {
  int32_t four;  // 4 codes: a wider load could run past the cache's last block
  std::memcpy(&four, p.codes(), 4);
  const int16x8_t wide = vmovl_s8(vreinterpret_s8_s32(vdup_n_s32(four)));
  __fp16 d;
  std::memcpy(&d, &p.block().d, 2);
  return vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(wide))), float(d));
}
float32x4_t load4(Q4Ptr p) {
  uint32_t four;  // the 4 bytes whose low (or high) nibbles are the 4 codes
  std::memcpy(&four, p.bytes(), 4);
  const uint8x8_t nibbles = vand_u8(vshl_u8(vreinterpret_u8_u32(vdup_n_u32(four)), vdup_n_s8(int8_t(-p.nibble_shift()))),
                                    vdup_n_u8(15));
  const int16x8_t wide = vsubq_s16(vreinterpretq_s16_u16(vmovl_u8(nibbles)), vdupq_n_s16(8));
  __fp16 d;
  std::memcpy(&d, &p.block().d, 2);
  return vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(wide))), float(d));
}

// Lane j of the result = Σ lanes of a[j].
float32x4_t reduce4(const float32x4_t* a) {
  return vpaddq_f32(vpaddq_f32(a[0], a[1]), vpaddq_f32(a[2], a[3]));
}

// s[i · s_stride + t + l] = scale · q_i·k_{t+l} for Q queries and the 4 keys from t.
template <int Q, class T>
void scores_block(const float* q, int64_t d_k, T K, int64_t k_stride, int64_t t, float scale, float* s,
                  int64_t s_stride) {
  float32x4_t acc[Q][4];
  for (int i = 0; i < Q; ++i)
    for (int l = 0; l < 4; ++l) acc[i][l] = vdupq_n_f32(0.0f);
  for (int64_t j = 0; j < d_k; j += 4) {
    float32x4_t qj[Q];
    for (int i = 0; i < Q; ++i) qj[i] = vld1q_f32(q + i * d_k + j);
    for (int l = 0; l < 4; ++l) {
      const float32x4_t kl = load4(K + (t + l) * k_stride + j);
      for (int i = 0; i < Q; ++i) acc[i][l] = vfmaq_f32(acc[i][l], qj[i], kl);
    }
  }
  for (int i = 0; i < Q; ++i) vst1q_f32(s + i * s_stride + t, vmulq_n_f32(reduce4(acc[i]), scale));
}

template <class T>
float score1(const float* q, int64_t d_k, T k, float scale) {
  float32x4_t acc = vdupq_n_f32(0.0f);
  for (int64_t j = 0; j < d_k; j += 4) acc = vfmaq_f32(acc, vld1q_f32(q + j), load4(k + j));
  return vaddvq_f32(acc) * scale;
}

// o_i += Σ_{t0 ≤ t < t1} p_i[t] · v_t for Q queries and 4·N floats of each o_i.
template <int Q, int N, class T>
void values_block(const float* p, int64_t p_stride, T V, int64_t v_stride, int64_t t0, int64_t t1, float* o,
                  int64_t o_stride) {
  float32x4_t acc[Q][N];
  for (int i = 0; i < Q; ++i)
    for (int c = 0; c < N; ++c) acc[i][c] = vld1q_f32(o + i * o_stride + 4 * c);
  for (int64_t t = t0; t < t1; ++t) {
    for (int c = 0; c < N; ++c) {
      const float32x4_t v = load4(V + t * v_stride + 4 * c);
      for (int i = 0; i < Q; ++i) acc[i][c] = vfmaq_n_f32(acc[i][c], v, p[i * p_stride + t]);
    }
  }
  for (int i = 0; i < Q; ++i)
    for (int c = 0; c < N; ++c) vst1q_f32(o + i * o_stride + 4 * c, acc[i][c]);
}

// The values of nq (1..4) queries over 4·N columns.
template <int N, class T>
void values_queries(int nq, const float* p, int64_t p_stride, T V, int64_t v_stride, int64_t t0, int64_t t1,
                    float* o, int64_t o_stride) {
  switch (nq) {
    case 4: return values_block<4, N, T>(p, p_stride, V, v_stride, t0, t1, o, o_stride);
    case 3: return values_block<3, N, T>(p, p_stride, V, v_stride, t0, t1, o, o_stride);
    case 2: return values_block<2, N, T>(p, p_stride, V, v_stride, t0, t1, o, o_stride);
    default: return values_block<1, N, T>(p, p_stride, V, v_stride, t0, t1, o, o_stride);
  }
}

}  // namespace

template <class KR, class VR>
void attend_neon(const float* q, int64_t n_q, int64_t d_k, KR K, int64_t k_stride, int64_t n_keys, VR V,
                 int64_t v_stride, int64_t d_v, float scale, float* out, float* scores, float* lse, bool causal) {
  // Keys in blocks of 16 (their rows stay in L1 while every query uses them).
  constexpr int64_t kKeyBlock = 16;
  int64_t t = 0;
  for (; t + kKeyBlock <= n_keys; t += kKeyBlock) {
    int64_t i = 0;
    for (; i + 4 <= n_q; i += 4)
      for (int64_t l = 0; l < kKeyBlock; l += 4)
        scores_block<4, KR>(q + i * d_k, d_k, K, k_stride, t + l, scale, scores + i * n_keys, n_keys);
    for (; i < n_q; ++i)
      for (int64_t l = 0; l < kKeyBlock; l += 4)
        scores_block<1, KR>(q + i * d_k, d_k, K, k_stride, t + l, scale, scores + i * n_keys, n_keys);
  }
  for (; t < n_keys; ++t)
    for (int64_t i = 0; i < n_q; ++i) scores[i * n_keys + t] = score1(q + i * d_k, d_k, K + t * k_stride, scale);

  // Masked keys get probability 0: the value loop below runs over every key for every query.
  for (int64_t i = 0; i < n_q; ++i) {
    const int64_t seen = keys_seen(i, n_q, n_keys, causal);
    const float l = softmax(scores + i * n_keys, seen);
    if (lse != nullptr) lse[i] = l;
    std::fill(scores + i * n_keys + seen, scores + (i + 1) * n_keys, 0.0f);
  }

  std::fill(out, out + n_q * d_v, 0.0f);
  for (int64_t t0 = 0; t0 < n_keys; t0 += kKeyBlock) {
    const int64_t t1 = std::min(n_keys, t0 + kKeyBlock);
    for (int64_t i = 0; i < n_q; i += 4) {
      const int nq = static_cast<int>(std::min<int64_t>(4, n_q - i));
      const float* p = scores + i * n_keys;
      float* o = out + i * d_v;
      int64_t j = 0;
      for (; j + 16 <= d_v; j += 16) values_queries<4, VR>(nq, p, n_keys, V + j, v_stride, t0, t1, o + j, d_v);
      for (; j < d_v; j += 4) values_queries<1, VR>(nq, p, n_keys, V + j, v_stride, t0, t1, o + j, d_v);
    }
  }
}

R1_INSTANTIATE_ATTENTION_KERNEL(attend_neon)

}  // namespace r1
