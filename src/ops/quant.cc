// Scalar reference (de)quantizers. The quantizers follow llama.cpp's reference algorithms
// (ggml-quants.c, quantize_row_*_ref) operation for operation, because the exact float
// arithmetic order decides which integer codes come out; see SPEC §5.2 for the layouts.
#include "ops/quant.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "core/error.h"
#include "ops/blocks.h"
#include "ops/convert.h"

namespace r1 {
namespace {

// Round to nearest, ties to even, for |f| < 2^22: adding 1.5·2^23 leaves the integer in the low
// mantissa bits (the trick ggml uses; its tie rule decides codes, so it must be this one).
int nearest_int(float f) {
  float v = f + 12582912.0f;
  int32_t i;
  std::memcpy(&i, &v, 4);
  return (i & 0x007fffff) - 0x00400000;
}

// The value of largest magnitude, with its sign (the first such one): the symmetric formats map it
// to their most negative code.
float largest_magnitude(const float* x, int n) {
  float amax = 0, max = 0;
  for (int j = 0; j < n; ++j) {
    if (std::fabs(x[j]) > amax) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

// Codes of the 32 elements of a block into nibbles (element j low, j + 16 high) and, for the
// five-bit formats, the fifth bits into qh (bit j = element j).
void pack_codes(const uint8_t* L, uint8_t* qs, uint8_t* qh) {
  uint32_t high = 0;
  for (int j = 0; j < kQK / 2; ++j) {
    qs[j] = static_cast<uint8_t>((L[j] & 0xF) | ((L[j + kQK / 2] & 0xF) << 4));
    high |= uint32_t{(L[j] >> 4) & 1u} << j;
    high |= uint32_t{(L[j + kQK / 2] >> 4) & 1u} << (j + kQK / 2);
  }
  if (qh) std::memcpy(qh, &high, 4);
}

// ---- Q8_0 / Q4_0 ----------------------------------------------------------------------------

void quantize_q8_0(const float* x, BlockQ8_0* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK) {
    float amax = 0;
    for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    y[i].d = f32_to_fp16(d);
    for (int j = 0; j < kQK; ++j) y[i].qs[j] = static_cast<int8_t>(std::round(x[j] * id));
  }
}

void quantize_q4_0(const float* x, BlockQ4_0* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK) {
    // The scale maps the value of largest magnitude (with its sign) to -8.
    const float max = largest_magnitude(x, kQK);
    const float d = max / -8;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    y[i].d = f32_to_fp16(d);
    uint8_t L[kQK];
    for (int j = 0; j < kQK; ++j) L[j] = static_cast<uint8_t>(std::min(15, static_cast<int>(static_cast<int8_t>(x[j] * id + 8.5f))));
    pack_codes(L, y[i].qs, nullptr);
  }
}

// ---- Q4_1 / Q5_0 / Q5_1 / IQ4_NL ---------------------------------------------------------------

uint8_t code_of(const uint8_t* qs, const uint8_t* qh, int j) {
  uint8_t q = j < kQK / 2 ? qs[j] & 0xF : qs[j - kQK / 2] >> 4;
  if (qh) q |= static_cast<uint8_t>(((qh[j / 8] >> (j % 8)) & 1) << 4);
  return q;
}

// Q4_1 (nmax 15) / Q5_1 (nmax 31): the block's range [min, max] split into nmax steps. Q4_1's codes
// go through int8 and are capped at 15, Q5_1's through uint8 uncapped, as the reference does.
template <typename Block, int kNMax>
void quantize_offset(const float* x, Block* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK) {
    float min = x[0], max = x[0];
    for (int j = 1; j < kQK; ++j) min = std::min(min, x[j]), max = std::max(max, x[j]);
    const float d = (max - min) / kNMax;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    y[i].d = f32_to_fp16(d);
    y[i].m = f32_to_fp16(min);
    uint8_t L[kQK];
    for (int j = 0; j < kQK; ++j) {
      const float v = (x[j] - min) * id + 0.5f;
      L[j] = kNMax == 15 ? static_cast<uint8_t>(std::min(15, static_cast<int>(static_cast<int8_t>(v))))
                         : static_cast<uint8_t>(v);
    }
    if constexpr (kNMax == 15) pack_codes(L, y[i].qs, nullptr);
    else pack_codes(L, y[i].qs, y[i].qh);
  }
}

// Q5_0: like Q4_0, the value of largest magnitude (with its sign) maps to code 0 (= -16).
void quantize_q5_0(const float* x, BlockQ5_0* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK) {
    const float max = largest_magnitude(x, kQK);
    const float d = max / -16;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    y[i].d = f32_to_fp16(d);
    uint8_t L[kQK];
    for (int j = 0; j < kQK; ++j) L[j] = static_cast<uint8_t>(std::min(31, static_cast<int>(static_cast<int8_t>(x[j] * id + 16.5f))));
    pack_codes(L, y[i].qs, y[i].qh);
  }
}

// The table entries nearest to the 32 values v = id · x[j] (kIQ4NLValues is sorted). llama.cpp finds each
// by a binary search for the first entry above v, then takes the lower entry if v - t[hi-1] < t[hi] - v
// in float. That choice is the count of midpoints (t[m-1] + t[m]) / 2 at or below v, for every float v
// (all 2^32 bit patterns compared, NaN included: it counts every midpoint and gets 15 in both), and the
// count is 15 vector compares for all 32 values with no branches or lookups: the search's branches were
// most of quantize_iq4_nl's time (16 calls per block).
void nearest_iq4nl(float id, const float* x, uint8_t* code) {
  static constexpr auto kMidpoints = [] {
    std::array<float, 15> m{};
    for (int i = 0; i < 15; ++i) m[size_t(i)] = 0.5f * float(kIQ4NLValues[i] + kIQ4NLValues[i + 1]);
    return m;
  }();
  float v[kQK];
  int32_t count[kQK];
  for (int j = 0; j < kQK; ++j) v[j] = id * x[j], count[j] = 0;
  for (const float mid : kMidpoints)
    for (int j = 0; j < kQK; ++j) count[j] += !(v[j] < mid);
  for (int j = 0; j < kQK; ++j) code[j] = static_cast<uint8_t>(count[j]);
}

// IQ4_NL as llama-quantize writes it without an importance matrix: weights x², a first scale that
// maps the largest-magnitude value to the table's -127 end, then 15 trial scales around it, each
// scored by weighted least squares; the codes are re-picked for the winning scale. The 16 fits' sums
// run side by side, each still summed in element order as llama.cpp's (the same floats; one fit at a
// time waited on its sums' add latency).
void quantize_iq4_nl(const float* x, BlockIQ4NL* y, int64_t nb) {
  constexpr int kTries = 7, kFits = 2 * kTries + 2;
  const int8_t* t = kIQ4NLValues;
  for (int64_t i = 0; i < nb; ++i, x += kQK) {
    const float max = largest_magnitude(x, kQK), amax = std::fabs(max);
    uint8_t L[kQK];
    float d = 0;
    if (amax >= 1e-15f) {
      float id[kFits];
      id[0] = 1 / (-max / t[0]);
      for (int itry = -kTries; itry <= kTries; ++itry) id[itry + kTries + 1] = (itry + t[0]) / max;
      uint8_t codes[kFits][kQK];
      for (int f = 0; f < kFits; ++f) nearest_iq4nl(id[f], x, codes[f]);
      // Σ w·q·x and Σ w·q² for each fit's codes, w = x².
      float sumqx[kFits] = {}, sumq2[kFits] = {};
      for (int j = 0; j < kQK; ++j) {
        const float w = x[j] * x[j];
        for (int f = 0; f < kFits; ++f) {
          const float q = t[codes[f][j]];
          sumqx[f] += w * q * x[j];
          sumq2[f] += w * q * q;
        }
      }
      d = sumqx[0] / sumq2[0];
      float best = d * sumqx[0];
      for (int f = 1; f < kFits; ++f) {
        if (sumq2[f] > 0 && sumqx[f] * sumqx[f] > best * sumq2[f]) {
          d = sumqx[f] / sumq2[f];
          best = d * sumqx[f];
        }
      }
    }
    // (An all-zero block gets d = 0 and the codes of 0, the table's entry 1.)
    nearest_iq4nl(d != 0 ? 1 / d : 0, x, L);
    y[i].d = f32_to_fp16(d);
    pack_codes(L, y[i].qs, nullptr);
  }
}

// ---- K-quant helpers ------------------------------------------------------------------------

// Asymmetric fit x ≈ scale·L + min (L in 0..nmax, min <= 0) minimising the weighted squared error:
// start from the min/max range, then try nstep+1 slightly different scales, each refined by
// weighted least squares (ggml's make_qkx2_quants). Returns scale; *neg_min = -min.
float fit_scale_min(int n, int nmax, const float* x, const float* w, uint8_t* L, float* neg_min, float rmin,
                    float rdelta, int nstep) {
  float min = x[0], max = x[0];
  float sum_w = w[0], sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    std::fill(L, L + n, 0);
    *neg_min = -min;
    return 0.0f;
  }
  float iscale = nmax / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    L[i] = static_cast<uint8_t>(std::clamp(nearest_int(iscale * (x[i] - min)), 0, nmax));
    const float diff = scale * L[i] + min - x[i];
    best_error += w[i] * (diff * diff);
  }
  uint8_t Laux[32];
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * is + nmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::clamp(nearest_int(iscale * (x[i] - min)), 0, nmax);
      Laux[i] = static_cast<uint8_t>(l);
      sum_l += w[i] * l;
      sum_l2 += w[i] * l * l;
      sum_xl += w[i] * l * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float err = 0;
      for (int i = 0; i < n; ++i) {
        const float diff = this_scale * Laux[i] + this_min - x[i];
        err += w[i] * (diff * diff);
      }
      if (err < best_error) {
        std::copy(Laux, Laux + n, L);
        best_error = err;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *neg_min = -min;
  return scale;
}

// Symmetric fit x ≈ scale·(L - nmax) weighted by x² (ggml's make_qx_quants, rmse_type 1): try 19
// scales around nmax/max and keep the one with the best least-squares score. Returns scale.
float fit_scale_symmetric(int n, int nmax, const float* x, int8_t* L) {
  const float max = largest_magnitude(x, n), amax = std::fabs(max);
  if (amax < 1e-15f) {
    std::fill(L, L + n, 0);
    return 0.0f;
  }
  auto score = [&](float iscale, float* sumlx, float* suml2) {
    *sumlx = *suml2 = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1);
      const float w = x[i] * x[i];
      *sumlx += w * x[i] * l;
      *suml2 += w * l * l;
    }
  };
  auto assign = [&](float iscale) {
    for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(nmax + std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1));
  };
  float iscale = -nmax / max;
  float sumlx, suml2;
  score(iscale, &sumlx, &suml2);
  assign(iscale);
  float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(nmax + 0.1f * is) / max;
    score(iscale, &sumlx, &suml2);
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      assign(iscale);
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

// Packs 6-bit (scale, min) pairs of 8 sub-blocks into 12 bytes (inverse of k_scale_min).
void pack_k_scales(const uint8_t* ls, const uint8_t* lm, uint8_t* s) {
  std::memset(s, 0, 12);
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      s[j] = ls[j];
      s[j + 4] = lm[j];
    } else {
      s[j + 4] = static_cast<uint8_t>((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
      s[j - 4] |= static_cast<uint8_t>((ls[j] >> 4) << 6);
      s[j] |= static_cast<uint8_t>((lm[j] >> 4) << 6);
    }
  }
}

// Shared by Q4_K (nmax 15) and Q5_K (nmax 31): per 256-block, fit each 32-sub-block, quantize the
// sub-block scales and mins to 6 bits against the block's d / dmin, then re-quantize the values
// with the rounded scales. L receives the codes 0..nmax; d, dmin and scales[12] are written.
void quantize_k_block(const float* x, int nmax, float rmin, int nstep, uint8_t* L, uint16_t* d_out,
                      uint16_t* dmin_out, uint8_t* packed) {
  float scales[8], mins[8], weights[32];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; ++j) {
    const float* xs = x + 32 * j;
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
    scales[j] = fit_scale_min(32, nmax, xs, weights, L + 32 * j, &mins[j], rmin, 0.1f, nstep);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  uint8_t ls[8], lm[8];
  for (int j = 0; j < 8; ++j) {
    // uint8_t wrap then clamp, as the reference does (only matters for degenerate fits).
    ls[j] = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_scale * scales[j])));
    lm[j] = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_min * mins[j])));
  }
  pack_k_scales(ls, lm, packed);
  *d_out = f32_to_fp16(max_scale / 63.f);
  *dmin_out = f32_to_fp16(max_min / 63.f);
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    k_scale_min(j, packed, &sc, &m);
    const float d = fp16_to_f32(*d_out) * sc;
    if (d == 0) continue;
    const float dm = fp16_to_f32(*dmin_out) * m;
    for (int i = 0; i < 32; ++i)
      L[32 * j + i] = static_cast<uint8_t>(std::clamp(nearest_int((x[32 * j + i] + dm) / d), 0, nmax));
  }
}

void quantize_q4_k(const float* x, BlockQ4K* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQKK) {
    uint8_t L[kQKK];
    quantize_k_block(x, 15, -1.0f, 20, L, &y[i].d, &y[i].dmin, y[i].scales);
    // Chunk c of 64 values: the first 32 in the low nibbles of qs[32c..], the next 32 in the high.
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l) y[i].qs[32 * c + l] = static_cast<uint8_t>(L[64 * c + l] | (L[64 * c + l + 32] << 4));
  }
}

void quantize_q5_k(const float* x, BlockQ5K* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQKK) {
    uint8_t L[kQKK];
    quantize_k_block(x, 31, -0.5f, 15, L, &y[i].d, &y[i].dmin, y[i].scales);
    std::memset(y[i].qh, 0, sizeof(y[i].qh));
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) {
        const int lo = L[64 * c + l], hi = L[64 * c + l + 32];
        y[i].qs[32 * c + l] = static_cast<uint8_t>((lo & 0xF) | ((hi & 0xF) << 4));
        y[i].qh[l] |= static_cast<uint8_t>(((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
      }
    }
  }
}

void quantize_q6_k(const float* x, BlockQ6K* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQKK) {
    int8_t L[kQKK];
    float scales[16];
    float max_scale = 0, max_abs_scale = 0;
    for (int ib = 0; ib < 16; ++ib) {
      scales[ib] = fit_scale_symmetric(16, 32, x + 16 * ib, L + 16 * ib);
      if (std::fabs(scales[ib]) > max_abs_scale) {
        max_abs_scale = std::fabs(scales[ib]);
        max_scale = scales[ib];
      }
    }
    if (max_abs_scale < 1e-15f) {
      std::memset(&y[i], 0, sizeof(BlockQ6K));
      continue;
    }
    const float iscale = -128.f / max_scale;
    y[i].d = f32_to_fp16(1 / iscale);
    for (int ib = 0; ib < 16; ++ib) y[i].scales[ib] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[ib])));
    for (int j = 0; j < 16; ++j) {
      const float d = fp16_to_f32(y[i].d) * y[i].scales[j];
      if (d == 0) continue;
      for (int l = 0; l < 16; ++l)
        L[16 * j + l] = static_cast<int8_t>(std::clamp(nearest_int(x[16 * j + l] / d), -32, 31) + 32);
    }
    // Half h (128 values) as four groups of 32: low nibbles in ql[64h + 0..63], 2-bit tops in qh[32h + l].
    for (int h = 0; h < 2; ++h) {
      const int8_t* Lh = L + 128 * h;
      uint8_t* ql = y[i].ql + 64 * h;
      uint8_t* qh = y[i].qh + 32 * h;
      for (int l = 0; l < 32; ++l) {
        ql[l] = static_cast<uint8_t>((Lh[l] & 0xF) | ((Lh[l + 64] & 0xF) << 4));
        ql[l + 32] = static_cast<uint8_t>((Lh[l + 32] & 0xF) | ((Lh[l + 96] & 0xF) << 4));
        qh[l] = static_cast<uint8_t>((Lh[l] >> 4) | ((Lh[l + 32] >> 4) << 2) | ((Lh[l + 64] >> 4) << 4) |
                                     ((Lh[l + 96] >> 4) << 6));
      }
    }
  }
}

void quantize_q8_k(const float* x, BlockQ8K* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQKK) {
    const float max = largest_magnitude(x, kQKK), amax = std::fabs(max);
    if (amax == 0) {
      std::memset(&y[i], 0, sizeof(BlockQ8K));
      continue;
    }
    const float iscale = -127.f / max;
    for (int j = 0; j < kQKK; ++j) y[i].qs[j] = static_cast<int8_t>(std::min(127, nearest_int(iscale * x[j])));
    for (int j = 0; j < kQKK / 16; ++j) {
      int sum = 0;
      for (int l = 0; l < 16; ++l) sum += y[i].qs[16 * j + l];
      y[i].bsums[j] = static_cast<int16_t>(sum);
    }
    y[i].d = 1 / iscale;
  }
}

// ---- dequantization -------------------------------------------------------------------------

void dequantize_k_block(const uint8_t* scales, float d, float dmin, const uint8_t* qs, const uint8_t* qh, float* y) {
  for (int c = 0; c < 4; ++c) {
    uint8_t sc, m;
    k_scale_min(2 * c, scales, &sc, &m);
    const float d1 = d * sc, m1 = dmin * m;
    k_scale_min(2 * c + 1, scales, &sc, &m);
    const float d2 = d * sc, m2 = dmin * m;
    for (int l = 0; l < 32; ++l) {
      const int hi1 = qh ? ((qh[l] >> (2 * c)) & 1) << 4 : 0;
      const int hi2 = qh ? ((qh[l] >> (2 * c + 1)) & 1) << 4 : 0;
      y[64 * c + l] = d1 * ((qs[32 * c + l] & 0xF) + hi1) - m1;
      y[64 * c + l + 32] = d2 * ((qs[32 * c + l] >> 4) + hi2) - m2;
    }
  }
}

void dequantize_q6_k_block(const BlockQ6K& b, float* y) {
  const float d = fp16_to_f32(b.d);
  for (int h = 0; h < 2; ++h) {
    const uint8_t* ql = b.ql + 64 * h;
    const uint8_t* qh = b.qh + 32 * h;
    const int8_t* sc = b.scales + 8 * h;
    float* yh = y + 128 * h;
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      yh[l] = d * sc[is] * q1;
      yh[l + 32] = d * sc[is + 2] * q2;
      yh[l + 64] = d * sc[is + 4] * q3;
      yh[l + 96] = d * sc[is + 6] * q4;
    }
  }
}

template <typename Block>
const Block* blocks(const void* p) {
  return static_cast<const Block*>(p);
}
template <typename Block>
Block* blocks(void* p) {
  return static_cast<Block*>(p);
}

// Q4_1 / Q5_0 / Q5_1 / IQ4_NL rows (the 32-element formats after Q8_0 / Q4_0).
template <typename Block>
void dequantize_small_blocks(const void* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK) {
    const Block& b = blocks<Block>(src)[i];
    const uint8_t* qh = nullptr;
    if constexpr (requires { b.qh; }) qh = b.qh;
    const float d = fp16_to_f32(b.d);
    for (int j = 0; j < kQK; ++j) {
      const int q = code_of(b.qs, qh, j);
      if constexpr (std::is_same_v<Block, BlockIQ4NL>) y[j] = d * kIQ4NLValues[q];
      else if constexpr (requires { b.m; }) y[j] = d * q + fp16_to_f32(b.m);
      else y[j] = d * (q - 16);
    }
  }
}

}  // namespace

void dequantize_row(DType t, const void* src, float* dst, int64_t n) {
  const int64_t nb = n / dtype_traits(t).block_size;
  (void)row_bytes(t, n);  // validates n against the block size
  switch (t) {
    case DType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * 4);
      return;
    case DType::F16:
      fp16_to_f32_row(blocks<uint16_t>(src), dst, n);
      return;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(blocks<uint16_t>(src)[i]);
      return;
    case DType::F8_E4M3:
      for (int64_t i = 0; i < n; ++i) dst[i] = fp8_e4m3_to_f32(blocks<uint8_t>(src)[i]);
      return;
    case DType::Q8_0:
      for (int64_t i = 0; i < nb; ++i) {
        const BlockQ8_0& b = blocks<BlockQ8_0>(src)[i];
        const float d = fp16_to_f32(b.d);
        for (int j = 0; j < kQK; ++j) dst[i * kQK + j] = b.qs[j] * d;
      }
      return;
    case DType::Q4_0:
      for (int64_t i = 0; i < nb; ++i) {
        const BlockQ4_0& b = blocks<BlockQ4_0>(src)[i];
        const float d = fp16_to_f32(b.d);
        for (int j = 0; j < kQK / 2; ++j) {
          dst[i * kQK + j] = ((b.qs[j] & 0xF) - 8) * d;
          dst[i * kQK + j + kQK / 2] = ((b.qs[j] >> 4) - 8) * d;
        }
      }
      return;
    case DType::Q4_1: return dequantize_small_blocks<BlockQ4_1>(src, dst, nb);
    case DType::Q5_0: return dequantize_small_blocks<BlockQ5_0>(src, dst, nb);
    case DType::Q5_1: return dequantize_small_blocks<BlockQ5_1>(src, dst, nb);
    case DType::IQ4_NL: return dequantize_small_blocks<BlockIQ4NL>(src, dst, nb);
    case DType::Q4_K:
      for (int64_t i = 0; i < nb; ++i) {
        const BlockQ4K& b = blocks<BlockQ4K>(src)[i];
        dequantize_k_block(b.scales, fp16_to_f32(b.d), fp16_to_f32(b.dmin), b.qs, nullptr, dst + i * kQKK);
      }
      return;
    case DType::Q5_K:
      for (int64_t i = 0; i < nb; ++i) {
        const BlockQ5K& b = blocks<BlockQ5K>(src)[i];
        dequantize_k_block(b.scales, fp16_to_f32(b.d), fp16_to_f32(b.dmin), b.qs, b.qh, dst + i * kQKK);
      }
      return;
    case DType::Q6_K:
      for (int64_t i = 0; i < nb; ++i) dequantize_q6_k_block(blocks<BlockQ6K>(src)[i], dst + i * kQKK);
      return;
    case DType::Q8_K:
      for (int64_t i = 0; i < nb; ++i) {
        const BlockQ8K& b = blocks<BlockQ8K>(src)[i];
        for (int j = 0; j < kQKK; ++j) dst[i * kQKK + j] = b.d * b.qs[j];
      }
      return;
    default:
      fail("dequantize_row: unsupported type ", dtype_name(t));
  }
}

void quantize_row(DType t, const float* src, void* dst, int64_t n) {
  const int64_t nb = n / dtype_traits(t).block_size;
  (void)row_bytes(t, n);
  switch (t) {
    case DType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * 4);
      return;
    case DType::F16:
      f32_to_fp16_row(src, blocks<uint16_t>(dst), n);
      return;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) blocks<uint16_t>(dst)[i] = f32_to_bf16(src[i]);
      return;
    case DType::F8_E4M3:
      for (int64_t i = 0; i < n; ++i) blocks<uint8_t>(dst)[i] = f32_to_fp8_e4m3(src[i]);
      return;
    case DType::Q8_0:
      return quantize_q8_0(src, blocks<BlockQ8_0>(dst), nb);
    case DType::Q4_0:
      return quantize_q4_0(src, blocks<BlockQ4_0>(dst), nb);
    case DType::Q4_1:
      return quantize_offset<BlockQ4_1, 15>(src, blocks<BlockQ4_1>(dst), nb);
    case DType::Q5_0:
      return quantize_q5_0(src, blocks<BlockQ5_0>(dst), nb);
    case DType::Q5_1:
      return quantize_offset<BlockQ5_1, 31>(src, blocks<BlockQ5_1>(dst), nb);
    case DType::IQ4_NL:
      return quantize_iq4_nl(src, blocks<BlockIQ4NL>(dst), nb);
    case DType::Q4_K:
      return quantize_q4_k(src, blocks<BlockQ4K>(dst), nb);
    case DType::Q5_K:
      return quantize_q5_k(src, blocks<BlockQ5K>(dst), nb);
    case DType::Q6_K:
      return quantize_q6_k(src, blocks<BlockQ6K>(dst), nb);
    case DType::Q8_K:
      return quantize_q8_k(src, blocks<BlockQ8K>(dst), nb);
    default:
      fail("quantize_row: unsupported type ", dtype_name(t));
  }
}

}  // namespace r1
