#include "ops/elementwise.h"
#include "ops/matmul.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace r1 {
namespace {

std::vector<float> random_vec(int n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

TEST(Elementwise, RmsNormMatchesFormula) {
  const int n = 257;
  const auto x = random_vec(n, 1), w = random_vec(n, 2);
  std::vector<float> y(n);
  rmsnorm(y.data(), x.data(), w.data(), 1e-6f, n);
  double ss = 0;
  for (float v : x) ss += double(v) * v;
  const double inv = 1 / std::sqrt(ss / n + 1e-6);
  for (int i = 0; i < n; ++i) EXPECT_NEAR(y[i], x[i] * inv * w[i], 1e-6 * std::fabs(x[i] * inv * w[i]) + 1e-7);
  // In place, no weight: the result has unit RMS (eps negligible).
  std::vector<float> z = x;
  rmsnorm(z.data(), z.data(), nullptr, 1e-12f, n);
  double rms = 0;
  for (float v : z) rms += double(v) * v;
  EXPECT_NEAR(std::sqrt(rms / n), 1.0, 1e-6);
}

TEST(Elementwise, SoftmaxSumsToOneAndIsShiftInvariant) {
  auto x = random_vec(100, 3, 5.0f);
  for (auto& v : x) v = std::round(v * 1024) / 1024;  // so that v + 1000 is exact
  auto shifted = x;
  for (auto& v : shifted) v += 1000.0f;  // would overflow exp without the max subtraction
  softmax(x.data(), 100);
  softmax(shifted.data(), 100);
  double sum = 0;
  for (int i = 0; i < 100; ++i) {
    sum += x[i];
    EXPECT_NEAR(x[i], shifted[i], 1e-6);
    EXPECT_GE(x[i], 0.0f);
  }
  EXPECT_NEAR(sum, 1.0, 1e-6);
  std::vector<float> masked = {-INFINITY, 0.0f, -INFINITY, std::log(3.0f)};
  softmax(masked.data(), 4);
  EXPECT_EQ(masked[0], 0.0f);
  EXPECT_NEAR(masked[1], 0.25f, 1e-7);
  EXPECT_NEAR(masked[3], 0.75f, 1e-7);
  std::vector<float> all_masked = {-INFINITY, -INFINITY};
  softmax(all_masked.data(), 2);
  EXPECT_EQ(all_masked[0], 0.0f);
}

TEST(Elementwise, SiluSwigluAddScale) {
  const auto g = random_vec(64, 4, 3.0f), u = random_vec(64, 5);
  std::vector<float> s = g, out(64), sum(64), sc(64);
  silu(s.data(), 64);
  swiglu(out.data(), g.data(), u.data(), 64);
  add(sum.data(), g.data(), u.data(), 64);
  scale(sc.data(), g.data(), -2.5f, 64);
  for (int i = 0; i < 64; ++i) {
    const double ref = g[i] / (1 + std::exp(-double(g[i])));
    EXPECT_NEAR(s[i], ref, 1e-6 * (1 + std::fabs(ref)));
    EXPECT_NEAR(out[i], ref * u[i], 1e-6 * (1 + std::fabs(ref * u[i])));
    EXPECT_EQ(sum[i], g[i] + u[i]);
    EXPECT_EQ(sc[i], g[i] * -2.5f);
  }
  std::vector<float> big = {-100.0f, 100.0f, 0.0f};
  silu(big.data(), 3);
  EXPECT_EQ(big[0], -0.0f);
  EXPECT_EQ(big[1], 100.0f);
  EXPECT_EQ(big[2], 0.0f);
}

// swiglu's AVX-512, AVX2 and NEON forms (vector exp, tails) against the double formula, large |g| and the
// ends of exp's range included, and the scalar backend's loop.
TEST(Elementwise, SwigluEveryBackend) {
  auto g = random_vec(37, 6, 4.0f);
  const auto u = random_vec(37, 7);
  g[3] = -100.0f, g[4] = 100.0f, g[5] = 0.0f, g[6] = -88.0f, g[7] = 30.0f;
  g[8] = -88.5f, g[9] = 87.0f, g[10] = 87.5f, g[11] = -87.5f, g[12] = 88.9f;
  for (const char* b : {"scalar", "avx512vnni", "avx512", "avx2", "neon_dotprod", "neon"}) {
    if (!force_matmul_backend(b)) continue;
    std::vector<float> out(37, NAN);
    swiglu(out.data(), g.data(), u.data(), 37);
    for (int i = 0; i < 37; ++i) {
      const double ref = g[i] / (1 + std::exp(-double(g[i]))) * u[i];
      EXPECT_NEAR(out[i], ref, 2e-7 * (1 + std::fabs(ref))) << b << " g=" << g[i];
    }
    EXPECT_EQ(std::fabs(out[3]), 0.0f) << b;
  }
  force_matmul_backend("auto");
}

// softmax's AVX2 and NEON forms (vector exp, double sum, tails) against float64, with -inf
// (masked) entries, a large spread and an all -inf row, for every backend this CPU runs.
TEST(Elementwise, SoftmaxEveryBackend) {
  for (int64_t n : {1, 3, 8, 13, 300}) {
    auto x = random_vec(n, 11, 6.0f);
    if (n > 3) x[2] = -INFINITY, x[n - 1] = -INFINITY;
    if (n > 8) x[5] = 90.0f, x[6] = -90.0f;
    double mx = -INFINITY, sum = 0;
    for (float v : x) mx = std::max(mx, double(v));
    for (float v : x) sum += std::exp(double(v) - mx);
    for (const char* b : {"scalar", "avx512vnni", "avx512", "avx2", "neon_dotprod", "neon"}) {
      if (!force_matmul_backend(b)) continue;
      std::vector<float> y = x;
      softmax(y.data(), n);
      for (int64_t i = 0; i < n; ++i) {
        const double ref = std::exp(double(x[size_t(i)]) - mx) / sum;
        EXPECT_NEAR(y[size_t(i)], ref, 1e-6 * ref + 1e-30) << b << " n=" << n << " i=" << i;
      }
      std::vector<float> masked(size_t(n), -INFINITY);
      softmax(masked.data(), n);
      for (float v : masked) EXPECT_EQ(v, 0.0f) << b;
    }
  }
  force_matmul_backend("auto");
}

}  // namespace
}  // namespace r1
