#include "ops/rope.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <random>
#include <vector>

#include "core/error.h"

namespace r1 {
namespace {

// deepseek2-mini (tests/data/README.md §3.3): d = 16, θ = 10000, YaRN factor 40, original
// context 4096, β_fast 32, β_slow 1 → low = 2, high = 6; θ_i = θ_e·(1−ramp) + θ_e/40·ramp.
TEST(Rope, YarnFrequenciesOfDeepseek2Mini) {
  RopeParams p;
  p.n_dims = 16;
  p.theta = 10000;
  p.pairing = RopePairing::kNorm;
  p.yarn_factor = 40;
  p.yarn_orig_ctx = 4096;
  double low, high;
  yarn_corr_dims(p, &low, &high);
  EXPECT_EQ(low, 2.0);
  EXPECT_EQ(high, 6.0);
  const auto f = rope_frequencies(p);
  ASSERT_EQ(f.size(), 8u);
  for (int i = 0; i < 8; ++i) {
    const double te = std::pow(10000.0, -2.0 * i / 16), ti = te / 40;
    const double ramp = std::clamp((i - 2.0) / 4.0, 0.0, 1.0);
    EXPECT_NEAR(f[i], ti * ramp + te * (1 - ramp), 1e-15) << i;
  }
  EXPECT_EQ(f[0], 1.0);                                      // below low: unchanged
  EXPECT_NEAR(f[7], std::pow(10000.0, -14.0 / 16) / 40, 1e-18);  // above high: fully interpolated
}

// DeepSeek-V3 itself (SPEC §1.5): d = 64 → low 10, high 23.
TEST(Rope, YarnCorrDimsOfDeepseekV3) {
  RopeParams p;
  p.n_dims = 64;
  p.yarn_factor = 40;
  p.yarn_orig_ctx = 4096;
  double low, high;
  yarn_corr_dims(p, &low, &high);
  EXPECT_EQ(low, 10.0);
  EXPECT_EQ(high, 23.0);
}

// llama-mini's rope_freqs.weight (README appendix), from its llama3 rope_scaling.
TEST(Rope, Llama3FactorsMatchRopeFreqs) {
  const float expected[32] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1.55341458f, 2.69453001f, 5.25732708f,
                              8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8};
  const auto f = llama3_freq_factors(64, 500000, 8, 1, 4, 8192);
  ASSERT_EQ(f.size(), 32u);
  for (int i = 0; i < 32; ++i) EXPECT_NEAR(f[i], expected[i], 2e-6 * expected[i]) << i;
  RopeParams p;
  p.n_dims = 64;
  p.theta = 500000;
  p.freq_factors = f;
  const auto freqs = rope_frequencies(p);
  EXPECT_NEAR(freqs[20], std::pow(500000.0, -40.0 / 64) / 8, 1e-12);
}

// Rotation pairs: NORM rotates (2i, 2i+1), NEOX rotates (i, i + d/2); norms are preserved; dims
// past n_dims are untouched; the table and the one-off form agree.
TEST(Rope, PairingsRotateTheRightDims) {
  for (RopePairing pairing : {RopePairing::kNorm, RopePairing::kNeox}) {
    RopeParams p;
    p.n_dims = 8;
    p.theta = 100;
    p.pairing = pairing;
    p.mscale = 1.0f;
    const int head = 10, heads = 2;
    std::mt19937 rng(3);
    std::normal_distribution<float> d;
    std::vector<float> x(head * heads);
    for (auto& v : x) v = d(rng);
    std::vector<float> y = x, z = x;
    const int64_t pos = 5;
    rope_apply(y.data(), heads, head, pos, p);
    RopeTable table(p, 8);
    table.apply(z.data(), heads, head, pos);
    EXPECT_EQ(y, z);
    const auto f = rope_frequencies(p);
    for (int h = 0; h < heads; ++h) {
      for (int i = 0; i < 4; ++i) {
        const int i0 = pairing == RopePairing::kNorm ? 2 * i : i;
        const int i1 = pairing == RopePairing::kNorm ? 2 * i + 1 : i + 4;
        const double a = pos * f[i], x0 = x[h * head + i0], x1 = x[h * head + i1];
        EXPECT_NEAR(y[h * head + i0], x0 * std::cos(a) - x1 * std::sin(a), 1e-6);
        EXPECT_NEAR(y[h * head + i1], x0 * std::sin(a) + x1 * std::cos(a), 1e-6);
      }
      EXPECT_EQ(y[h * head + 8], x[h * head + 8]);
      EXPECT_EQ(y[h * head + 9], x[h * head + 9]);
    }
    std::vector<float> at0 = x;
    rope_apply(at0.data(), heads, head, 0, p);
    EXPECT_EQ(at0, x);  // position 0 is the identity
  }
}

TEST(Rope, MscaleScalesCosAndSin) {
  RopeParams p;
  p.n_dims = 4;
  p.mscale = 2.0f;
  std::vector<float> x = {1, 0, 0, 0};
  rope_apply(x.data(), 1, 4, 0, p);
  EXPECT_FLOAT_EQ(x[0], 2.0f);
}

TEST(Rope, BadParamsThrow) {
  RopeParams p;
  p.n_dims = 7;
  EXPECT_THROW(rope_frequencies(p), Error);
  p.n_dims = 8;
  p.freq_factors = {1, 2};
  EXPECT_THROW(rope_frequencies(p), Error);
  p.freq_factors.clear();
  RopeTable t(p, 4);
  float x[8] = {};
  EXPECT_THROW(t.apply(x, 1, 8, 4), Error);
}

}  // namespace
}  // namespace r1
