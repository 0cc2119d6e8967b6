// Reference dot products: plain loops whose integer sums the SIMD kernels must reproduce exactly.
#include <cmath>
#include <cstring>
#include <type_traits>

#include "core/error.h"
#include "ops/blocks.h"
#include "ops/convert.h"
#include "ops/quant.h"
#include "ops/vec_dot.h"

namespace r1 {
namespace {

float dot_f32(int64_t k, const void* w, const void* a) {
  const float* x = static_cast<const float*>(w);
  const float* y = static_cast<const float*>(a);
  float s = 0;
  for (int64_t i = 0; i < k; ++i) s += x[i] * y[i];
  return s;
}

template <float (*Decode)(uint16_t)>
float dot_half(int64_t k, const void* w, const void* a) {
  const uint16_t* x = static_cast<const uint16_t*>(w);
  const float* y = static_cast<const float*>(a);
  float s = 0;
  for (int64_t i = 0; i < k; ++i) s += Decode(x[i]) * y[i];
  return s;
}

float dot_f8(int64_t k, const void* w, const void* a) {
  const uint8_t* x = static_cast<const uint8_t*>(w);
  const float* y = static_cast<const float*>(a);
  const float* table = fp8_e4m3_table();
  float s = 0;
  for (int64_t i = 0; i < k; ++i) s += table[x[i]] * y[i];
  return s;
}

float dot_q8_0(int64_t k, const void* w, const void* a) {
  const BlockQ8_0* x = static_cast<const BlockQ8_0*>(w);
  const BlockQ8_0* y = static_cast<const BlockQ8_0*>(a);
  float s = 0;
  for (int64_t i = 0; i < k / kQK; ++i) {
    int sumi = 0;
    for (int j = 0; j < kQK; ++j) sumi += x[i].qs[j] * y[i].qs[j];
    s += (fp16_to_f32(x[i].d) * fp16_to_f32(y[i].d)) * static_cast<float>(sumi);
  }
  return s;
}

float dot_q4_0(int64_t k, const void* w, const void* a) {
  const BlockQ4_0* x = static_cast<const BlockQ4_0*>(w);
  const BlockQ8_0* y = static_cast<const BlockQ8_0*>(a);
  float s = 0;
  for (int64_t i = 0; i < k / kQK; ++i) {
    int sumi = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      sumi += ((x[i].qs[j] & 0xF) - 8) * y[i].qs[j];
      sumi += ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + kQK / 2];
    }
    s += (fp16_to_f32(x[i].d) * fp16_to_f32(y[i].d)) * static_cast<float>(sumi);
  }
  return s;
}

// Q4_1 / Q5_0 / Q5_1 / IQ4_NL: the integer sum Σ q·a per block, plus Σ a where the format has an
// offset m: dot = d·da·Σq·a + m·da·Σa (Q4_1, Q5_1); Q5_0's −16 and IQ4_NL's table are in the codes.
template <typename Block>
float dot_small_blocks(int64_t k, const void* w, const void* a) {
  const Block* x = static_cast<const Block*>(w);
  const BlockQ8_0* y = static_cast<const BlockQ8_0*>(a);
  float s = 0;
  for (int64_t i = 0; i < k / kQK; ++i) {
    uint32_t qh = 0;
    if constexpr (requires { x[i].qh; }) std::memcpy(&qh, x[i].qh, 4);
    int sumi = 0, suma = 0;
    for (int j = 0; j < kQK; ++j) {
      int q = (j < kQK / 2 ? x[i].qs[j] & 0xF : x[i].qs[j - kQK / 2] >> 4) | (((qh >> j) & 1) << 4);
      if constexpr (std::is_same_v<Block, BlockIQ4NL>) q = kIQ4NLValues[q];
      else if constexpr (std::is_same_v<Block, BlockQ5_0>) q -= 16;
      sumi += q * y[i].qs[j];
      suma += y[i].qs[j];
    }
    const float da = fp16_to_f32(y[i].d);
    s += (fp16_to_f32(x[i].d) * da) * static_cast<float>(sumi);
    if constexpr (requires { x[i].m; }) s += (fp16_to_f32(x[i].m) * da) * static_cast<float>(suma);
  }
  return s;
}

// Q4_K / Q5_K: value = d·sc·q − dmin·m per sub-block, so
// dot = d·da·Σ sc_j·(q·a)_j − dmin·da·Σ m_j·(Σa)_j, with (Σa)_j from the Q8_K bsums.
template <bool kFiveBit>
float dot_qk(int64_t k, const void* w, const void* a) {
  const BlockQ8K* y = static_cast<const BlockQ8K*>(a);
  float s = 0;
  for (int64_t i = 0; i < k / kQKK; ++i) {
    const uint8_t *scales, *qs, *qh = nullptr;
    uint16_t d, dmin;
    if constexpr (kFiveBit) {
      const BlockQ5K& b = static_cast<const BlockQ5K*>(w)[i];
      scales = b.scales, qs = b.qs, qh = b.qh, d = b.d, dmin = b.dmin;
    } else {
      const BlockQ4K& b = static_cast<const BlockQ4K*>(w)[i];
      scales = b.scales, qs = b.qs, d = b.d, dmin = b.dmin;
    }
    int sumi = 0, summs = 0;
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, m;
      k_scale_min(j, scales, &sc, &m);
      const int c = j / 2, shift = (j % 2) * 4;
      int dot = 0;
      for (int l = 0; l < 32; ++l) {
        int q = (qs[32 * c + l] >> shift) & 0xF;
        if (qh) q |= ((qh[l] >> j) & 1) << 4;
        dot += q * y[i].qs[32 * j + l];
      }
      sumi += sc * dot;
      summs += m * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
    }
    s += (y[i].d * fp16_to_f32(d)) * static_cast<float>(sumi) - (y[i].d * fp16_to_f32(dmin)) * static_cast<float>(summs);
  }
  return s;
}

// Q6_K: value = d·sc·(q − 32) per 16-sub-block; the −32 is applied through the bsums.
float dot_q6_k(int64_t k, const void* w, const void* a) {
  const BlockQ6K* x = static_cast<const BlockQ6K*>(w);
  const BlockQ8K* y = static_cast<const BlockQ8K*>(a);
  float s = 0;
  for (int64_t i = 0; i < k / kQKK; ++i) {
    int sumi = 0, sum_offset = 0;
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = x[i].ql + 64 * h;
      const uint8_t* qh = x[i].qh + 32 * h;
      for (int g = 0; g < 4; ++g) {  // group g: outputs 128h + 32g + l
        for (int half = 0; half < 2; ++half) {
          const int sub = 8 * h + 2 * g + half;
          int dot = 0;
          for (int l = 16 * half; l < 16 * half + 16; ++l) {
            const int lo = (g & 1 ? ql[l + 32] : ql[l]) >> (g & 2 ? 4 : 0) & 0xF;
            const int q = lo | (((qh[l] >> (2 * g)) & 3) << 4);
            dot += q * y[i].qs[128 * h + 32 * g + l];
          }
          sumi += x[i].scales[sub] * dot;
          sum_offset += x[i].scales[sub] * y[i].bsums[sub];
        }
      }
    }
    s += (y[i].d * fp16_to_f32(x[i].d)) * static_cast<float>(sumi - 32 * sum_offset);
  }
  return s;
}

}  // namespace

void quantize_q8_k_row(const float* x, void* dst, int64_t k) { quantize_row(DType::Q8_K, x, dst, k); }

void fp16_row_scalar(const uint16_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = fp16_to_f32(x[i]);
}
void f32_row_to_fp16_scalar(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = f32_to_fp16(x[i]);
}

const VecDotTable& vec_dot_scalar() {
  static const VecDotTable t = {"scalar",       dot_f32,  dot_half<fp16_to_f32>, dot_half<bf16_to_f32>, dot_f8,
                                dot_q8_0,       dot_q4_0, dot_qk<false>,         dot_qk<true>,          dot_q6_k,
                                quantize_row_q8_0_activations, quantize_q8_k_row, fp16_row_scalar,
                                f32_row_to_fp16_scalar,    dot_small_blocks<BlockQ4_1>,
                                dot_small_blocks<BlockQ5_0>, dot_small_blocks<BlockQ5_1>, dot_small_blocks<BlockIQ4NL>};
  return t;
}

namespace {

// The table's entry for a weight type; null where the type has none.
VecDotFn table_entry(const VecDotTable& t, DType type) {
  switch (type) {
    case DType::F32: return t.f32;
    case DType::F16: return t.f16;
    case DType::BF16: return t.bf16;
    case DType::F8_E4M3: return t.f8_e4m3;
    case DType::Q8_0: return t.q8_0;
    case DType::Q4_0: return t.q4_0;
    case DType::Q4_K: return t.q4_k;
    case DType::Q5_K: return t.q5_k;
    case DType::Q6_K: return t.q6_k;
    case DType::Q4_1: return t.q4_1;
    case DType::Q5_0: return t.q5_0;
    case DType::Q5_1: return t.q5_1;
    case DType::IQ4_NL: return t.iq4_nl;
    default: return nullptr;
  }
}

}  // namespace

VecDotFn vec_dot_for(const VecDotTable& t, DType type) {
  const VecDotFn f = table_entry(t, type);
  if (f == nullptr) fail("matmul: weight type ", dtype_name(type), " is not supported by the ", t.name, " kernels");
  return f;
}

DType activation_type_for(DType type) {
  switch (type) {
    case DType::Q8_0:
    case DType::Q4_0:
    case DType::Q4_1:
    case DType::Q5_0:
    case DType::Q5_1:
    case DType::IQ4_NL: return DType::Q8_0;
    case DType::Q4_K:
    case DType::Q5_K:
    case DType::Q6_K: return DType::Q8_K;
    default: return DType::F32;
  }
}

void quantize_row_q8_0_activations(const float* x, void* dst, int64_t k) {
  BlockQ8_0* y = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < k / kQK; ++i, x += kQK) {
    float amax = 0;
    for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
    y[i].d = f32_to_fp16(amax / 127.f);
    const float id = amax != 0 ? 127.f / amax : 0.0f;
    for (int j = 0; j < kQK; ++j) y[i].qs[j] = static_cast<int8_t>(std::nearbyint(x[j] * id));
  }
}

const float* fp8_e4m3_table() {
  static const auto table = [] {
    struct T { float v[256]; } t;
    for (int i = 0; i < 256; ++i) t.v[i] = fp8_e4m3_to_f32(static_cast<uint8_t>(i));
    return t;
  }();
  return table.v;
}

}  // namespace r1
