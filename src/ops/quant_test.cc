#include "ops/quant.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/error.h"
#include "ops/blocks.h"
#include "ops/convert.h"

namespace r1 {
namespace {

std::vector<float> random_row(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 0.02f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  for (int64_t i = 0; i < n; i += 97) v[i] *= 8;  // a few outliers, as real weights have
  return v;
}

std::vector<float> dequant(DType t, const std::vector<uint8_t>& q, int64_t n) {
  std::vector<float> y(n);
  dequantize_row(t, q.data(), y.data(), n);
  return y;
}

std::vector<uint8_t> quant(DType t, const std::vector<float>& x) {
  std::vector<uint8_t> q(row_bytes(t, static_cast<int64_t>(x.size())));
  quantize_row(t, x.data(), q.data(), static_cast<int64_t>(x.size()));
  return q;
}

TEST(Quant, HandBuiltQ8_0AndQ4_0) {
  BlockQ8_0 b8{};
  b8.d = f32_to_fp16(0.5f);
  for (int j = 0; j < 32; ++j) b8.qs[j] = static_cast<int8_t>(j - 16);
  float y[32];
  dequantize_row(DType::Q8_0, &b8, y, 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], 0.5f * (j - 16));

  BlockQ4_0 b4{};
  b4.d = f32_to_fp16(2.0f);
  for (int j = 0; j < 16; ++j) b4.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  dequantize_row(DType::Q4_0, &b4, y, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], 2.0f * (j - 8));
    EXPECT_EQ(y[j + 16], 2.0f * (15 - j - 8));
  }
}

// Q4_1 / Q5_0 / Q5_1 / IQ4_NL with code j at element j (the fifth bit where it exists; IQ4_NL's
// codes index its table), written by hand per SPEC §5.2: values d·j + m, d·(j − 16), table[j % 16]·d.
TEST(Quant, HandBuiltQ4_1Q5_0Q5_1IQ4_NL) {
  BlockQ4_1 b41{};
  BlockQ5_0 b50{};
  BlockQ5_1 b51{};
  BlockIQ4NL bnl{};
  b41.d = b50.d = b51.d = bnl.d = f32_to_fp16(0.5f);
  b41.m = b51.m = f32_to_fp16(-3.0f);
  for (int j = 0; j < 16; ++j) {
    const auto lo = static_cast<uint8_t>(j), hi = static_cast<uint8_t>(15 - j);  // elements j and j + 16
    b41.qs[j] = b50.qs[j] = b51.qs[j] = bnl.qs[j] = static_cast<uint8_t>(lo | (hi << 4));
  }
  // Fifth bits on odd elements: bit j of qh (little-endian) belongs to element j.
  b50.qh[0] = b50.qh[1] = b50.qh[2] = b50.qh[3] = 0xAA;
  std::memcpy(b51.qh, b50.qh, 4);
  auto code = [](int i) { return i < 16 ? i : 15 - (i - 16); };
  float y[32];
  dequantize_row(DType::Q4_1, &b41, y, 32);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(y[i], 0.5f * code(i) - 3.0f) << "q4_1 " << i;
  dequantize_row(DType::Q5_0, &b50, y, 32);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(y[i], 0.5f * (code(i) + (i % 2 ? 16 : 0) - 16)) << "q5_0 " << i;
  dequantize_row(DType::Q5_1, &b51, y, 32);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(y[i], 0.5f * (code(i) + (i % 2 ? 16 : 0)) - 3.0f) << "q5_1 " << i;
  dequantize_row(DType::IQ4_NL, &bnl, y, 32);
  const int table[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
  for (int i = 0; i < 32; ++i) EXPECT_EQ(y[i], 0.5f * table[code(i)]) << "iq4_nl " << i;
}

// Q4_K / Q5_K with sub-block scale j+1 and min j (small enough for the simple packing below),
// d = 1, dmin = 0.5, and codes q = l % 16 (+16 on odd l for Q5_K).
// IQ4_NL's quantizer against llama.cpp's algorithm written plainly here (its binary search for the
// nearest table entry, 16 trial scales, sums in element order): the same bytes for random blocks of
// several spreads, blocks of values on the table's entries and halfway between them, zero blocks, and
// blocks holding ±inf or NaN (a NaN that counted as below every entry fails it). Exact ties of the
// nearest-entry search are not reached: the trial scales come from the data.
int iq4_nl_search(float v) {
  const int8_t* t = kIQ4NLValues;
  if (v <= t[0]) return 0;
  if (v >= t[15]) return 15;
  int lo = 0, hi = 15;
  while (hi - lo > 1) {
    const int mid = (lo + hi) / 2;
    (v < t[mid] ? hi : lo) = mid;
  }
  return v - t[hi - 1] < t[hi] - v ? hi - 1 : hi;
}

void iq4_nl_plain(const float* x, BlockIQ4NL* y) {
  const int8_t* t = kIQ4NLValues;
  auto nearest = iq4_nl_search;
  float max = 0, amax = 0;
  for (int j = 0; j < 32; ++j)
    if (std::fabs(x[j]) > amax) amax = std::fabs(x[j]), max = x[j];
  float d = 0;
  if (amax >= 1e-15f) {
    auto fit = [&](float id, float* sumqx, float* sumq2) {
      *sumqx = *sumq2 = 0;
      for (int j = 0; j < 32; ++j) {
        const float q = t[nearest(id * x[j])], w = x[j] * x[j];
        *sumqx += w * q * x[j];
        *sumq2 += w * q * q;
      }
    };
    float sumqx, sumq2;
    fit(1 / (-max / t[0]), &sumqx, &sumq2);
    d = sumqx / sumq2;
    float best = d * sumqx;
    for (int itry = -7; itry <= 7; ++itry) {
      fit((itry + t[0]) / max, &sumqx, &sumq2);
      if (sumq2 > 0 && sumqx * sumqx > best * sumq2) d = sumqx / sumq2, best = d * sumqx;
    }
  }
  const float id = d != 0 ? 1 / d : 0;
  y->d = f32_to_fp16(d);
  for (int j = 0; j < 16; ++j)
    y->qs[j] = static_cast<uint8_t>(nearest(id * x[j]) | nearest(id * x[j + 16]) << 4);
}

TEST(Quant, IQ4_NLMatchesTheReferenceAlgorithm) {
  std::mt19937 rng(21);
  std::vector<std::vector<float>> blocks;
  for (float spread : {1e-3f, 0.02f, 1.0f, 300.0f})
    for (int b = 0; b < 2000; ++b) {
      std::normal_distribution<float> nd(0.0f, spread);
      std::vector<float> v(32);
      for (auto& x : v) x = nd(rng);
      blocks.push_back(v);
    }
  std::uniform_int_distribution<int> entry(0, 15);
  for (int b = 0; b < 2000; ++b) {  // on the entries and the midpoints, times a few scales
    std::vector<float> v(32);
    const float scale = std::ldexp(1.0f, b % 9 - 4) * (b % 3 == 0 ? 1.0f : 0.37f);
    for (auto& x : v) {
      const int e = entry(rng), f = std::min(15, e + 1);
      x = scale * (b % 2 ? float(kIQ4NLValues[e]) : 0.5f * float(kIQ4NLValues[e] + kIQ4NLValues[f]));
    }
    blocks.push_back(v);
  }
  blocks.push_back(std::vector<float>(32, 0.0f));
  for (float odd : {INFINITY, -INFINITY, NAN}) {
    std::vector<float> v = blocks[5];
    v[7] = odd;
    blocks.push_back(v);
  }
  for (size_t b = 0; b < blocks.size(); ++b) {
    BlockIQ4NL got{}, want{};
    quantize_row(DType::IQ4_NL, blocks[b].data(), &got, 32);
    iq4_nl_plain(blocks[b].data(), &want);
    ASSERT_EQ(std::memcmp(&got, &want, sizeof got), 0) << "block " << b;
  }
}

// The rule quantize_iq4_nl picks codes by: the count of midpoints between neighbouring table entries at
// or below v equals the search's choice. Checked here on the floats nearest every midpoint and entry
// (2^20 on each side), on ±0, ±inf, NaN and subnormals; a one-off run over all 2^32 floats agreed too.
TEST(Quant, IQ4_NLMidpointCountIsTheSearch) {
  float mid[15];
  for (int m = 0; m < 15; ++m) mid[m] = 0.5f * float(kIQ4NLValues[m] + kIQ4NLValues[m + 1]);
  auto count = [&](float v) {
    int c = 0;
    for (float mm : mid) c += !(v < mm);
    return c;
  };
  std::vector<float> centres(mid, mid + 15);
  for (int8_t e : kIQ4NLValues) centres.push_back(float(e));
  for (float c : centres) {
    uint32_t bits;
    std::memcpy(&bits, &c, 4);
    for (int64_t o = -(1 << 20); o <= (1 << 20); ++o) {
      const uint32_t b = bits + static_cast<uint32_t>(o);
      float v;
      std::memcpy(&v, &b, 4);
      ASSERT_EQ(count(v), iq4_nl_search(v)) << v;
    }
  }
  for (float v : {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e-40f, -1e-40f, 1e-30f})
    EXPECT_EQ(count(v), iq4_nl_search(v)) << v;
}

TEST(Quant, HandBuiltQ4KAndQ5K) {
  BlockQ4K b4{};
  BlockQ5K b5{};
  b4.d = b5.d = f32_to_fp16(1.0f);
  b4.dmin = b5.dmin = f32_to_fp16(0.5f);
  for (int j = 0; j < 8; ++j) {
    const uint8_t sc = static_cast<uint8_t>(j + 1), m = static_cast<uint8_t>(j);
    if (j < 4) {
      b4.scales[j] = b5.scales[j] = sc;
      b4.scales[j + 4] = b5.scales[j + 4] = m;
    } else {
      b4.scales[j + 4] = b5.scales[j + 4] = static_cast<uint8_t>(sc | (m << 4));
    }
  }
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l) b4.qs[32 * c + l] = b5.qs[32 * c + l] = static_cast<uint8_t>((l % 16) | ((15 - l % 16) << 4));
  for (int l = 0; l < 32; ++l) b5.qh[l] = (l % 2) ? 0xFF : 0x00;
  float y4[256], y5[256];
  dequantize_row(DType::Q4_K, &b4, y4, 256);
  dequantize_row(DType::Q5_K, &b5, y5, 256);
  for (int i = 0; i < 256; ++i) {
    const int j = i / 32, l = i % 32;
    const int q = (j % 2 == 0) ? l % 16 : 15 - l % 16;
    EXPECT_EQ(y4[i], 1.0f * (j + 1) * q - 0.5f * j) << i;
    EXPECT_EQ(y5[i], 1.0f * (j + 1) * (q + (l % 2 ? 16 : 0)) - 0.5f * j) << i;
  }
}

// Q6_K with codes q(i) = i % 64, scales 2s − 15 and d = 0.25, packed per SPEC §5.2.
TEST(Quant, HandBuiltQ6K) {
  BlockQ6K b{};
  b.d = f32_to_fp16(0.25f);
  for (int s = 0; s < 16; ++s) b.scales[s] = static_cast<int8_t>(2 * s - 15);
  auto code = [](int i) { return i % 64; };
  for (int h = 0; h < 2; ++h)
    for (int l = 0; l < 32; ++l) {
      const int base = 128 * h + l;
      const int q1 = code(base), q2 = code(base + 32), q3 = code(base + 64), q4 = code(base + 96);
      b.ql[64 * h + l] = static_cast<uint8_t>((q1 & 0xF) | ((q3 & 0xF) << 4));
      b.ql[64 * h + l + 32] = static_cast<uint8_t>((q2 & 0xF) | ((q4 & 0xF) << 4));
      b.qh[32 * h + l] = static_cast<uint8_t>((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
    }
  float y[256];
  dequantize_row(DType::Q6_K, &b, y, 256);
  for (int i = 0; i < 256; ++i) EXPECT_EQ(y[i], 0.25f * (2 * (i / 16) - 15) * (code(i) - 32)) << i;
}

// Quantize → dequantize keeps each format's expected precision; the codes of a quantized row
// re-encode to the same bytes (the quantizer is deterministic).
TEST(Quant, RoundTripErrorPerFormat) {
  const int64_t n = 4096;
  const auto x = random_row(n, 7);
  double norm = 0;
  for (float v : x) norm += double(v) * v;
  const struct {
    DType t;
    double max_rel_rms;
  } cases[] = {{DType::Q8_0, 0.012}, {DType::Q4_0, 0.18}, {DType::Q4_1, 0.16}, {DType::Q5_0, 0.09},
               {DType::Q5_1, 0.08}, {DType::IQ4_NL, 0.13}, {DType::Q4_K, 0.11}, {DType::Q5_K, 0.06},
               {DType::Q6_K, 0.035}, {DType::Q8_K, 0.026}, {DType::F16, 1e-3}, {DType::BF16, 5e-3},
               {DType::F8_E4M3, 0.05}, {DType::F32, 0.0}};
  for (const auto& c : cases) {
    const auto q = quant(c.t, x);
    const auto y = dequant(c.t, q, n);
    double err = 0;
    for (int64_t i = 0; i < n; ++i) err += double(y[i] - x[i]) * (y[i] - x[i]);
    const double rel = std::sqrt(err / norm);
    EXPECT_LE(rel, c.max_rel_rms) << dtype_name(c.t);
    EXPECT_GT(rel, c.max_rel_rms / 20 - 1e-12) << dtype_name(c.t) << ": suspiciously exact";
    EXPECT_EQ(quant(c.t, x), q) << dtype_name(c.t);
  }
}

TEST(Quant, Q8KBlockSumsAndScale) {
  const auto x = random_row(512, 11);
  const auto q = quant(DType::Q8_K, x);
  const BlockQ8K* b = reinterpret_cast<const BlockQ8K*>(q.data());
  for (int i = 0; i < 2; ++i) {
    float amax = 0;
    for (int j = 0; j < 256; ++j) amax = std::max(amax, std::fabs(x[256 * i + j]));
    EXPECT_NEAR(std::fabs(b[i].d), amax / 127, 1e-9);
    bool has_127 = false;
    for (int j = 0; j < 256; ++j) has_127 |= std::abs(b[i].qs[j]) == 127;
    EXPECT_TRUE(has_127);
    for (int s = 0; s < 16; ++s) {
      int sum = 0;
      for (int l = 0; l < 16; ++l) sum += b[i].qs[16 * s + l];
      EXPECT_EQ(b[i].bsums[s], sum);
    }
  }
}

TEST(Quant, ZeroRowsStayZero) {
  const std::vector<float> zeros(512, 0.0f);
  for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::IQ4_NL, DType::Q4_K,
                 DType::Q5_K, DType::Q6_K, DType::Q8_K}) {
    const auto y = dequant(t, quant(t, zeros), 512);
    for (float v : y) ASSERT_EQ(v, 0.0f) << dtype_name(t);
  }
}

// A sub-block of one constant value is representable exactly by every K-quant.
TEST(Quant, ConstantBlocksAreExactish) {
  std::vector<float> x(256, 0.5f);
  for (DType t : {DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0,
                 DType::Q5_1, DType::IQ4_NL}) {
    const auto y = dequant(t, quant(t, x), 256);
    for (float v : y) ASSERT_NEAR(v, 0.5f, 0.5f / 60) << dtype_name(t);
  }
}

TEST(Quant, BadSizesAndTypesThrow) {
  std::vector<float> x(100, 1.0f);
  std::vector<uint8_t> buf(1024);
  EXPECT_THROW(quantize_row(DType::Q4_K, x.data(), buf.data(), 100), Error);
  EXPECT_THROW(dequantize_row(DType::Q8_0, buf.data(), x.data(), 33), Error);
  EXPECT_THROW(quantize_row(DType::I32, x.data(), buf.data(), 4), Error);
  EXPECT_THROW(dequantize_row(static_cast<DType>(77), buf.data(), x.data(), 4), Error);
}

}  // namespace
}  // namespace r1
