#include "ops/attention.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "util/cpu.h"

namespace r1 {
namespace {

// float64 reference of attend(); mag[i][j] = Σ_t p_t·|v_t[j]| bounds the rounding of out[i][j].
std::vector<double> reference(const std::vector<float>& q, int64_t n_q, int64_t d_k, const std::vector<float>& K,
                              int64_t n_keys, const std::vector<float>& V, int64_t d_v, double scale,
                              std::vector<double>* mag) {
  std::vector<double> out(static_cast<size_t>(n_q * d_v), 0.0), s(static_cast<size_t>(n_keys));
  mag->assign(out.size(), 0.0);
  for (int64_t i = 0; i < n_q; ++i) {
    double mx = -INFINITY, sum = 0;
    for (int64_t t = 0; t < n_keys; ++t) {
      double d = 0;
      for (int64_t j = 0; j < d_k; ++j) d += double(q[i * d_k + j]) * K[t * d_k + j];
      s[t] = d * scale;
      mx = std::max(mx, s[t]);
    }
    for (auto& x : s) sum += (x = std::exp(x - mx));
    for (int64_t t = 0; t < n_keys; ++t)
      for (int64_t j = 0; j < d_v; ++j) {
        out[i * d_v + j] += s[t] / sum * V[t * d_v + j];
        (*mag)[i * d_v + j] += s[t] / sum * std::fabs(V[t * d_v + j]);
      }
  }
  return out;
}

// Both kernels against float64 at the head sizes of the models (GQA 64/128, MLA's 192 and 512-wide
// latent), key counts around the 16-key blocks, and 1..7 queries; scores large enough that the
// softmax is far from uniform (scale 0.3 on N(0, 1) entries).
TEST(Attention, KernelsMatchFloat64) {
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const struct { int64_t d_k, d_v; } dims[] = {{64, 64}, {128, 128}, {192, 128}, {576, 512}, {24, 40}};
  for (auto [d_k, d_v] : dims)
    for (int64_t n_keys : {1, 15, 16, 17, 100, 515})
      for (int64_t n_q : {1, 6, 7}) {
        std::vector<float> q(size_t(n_q * d_k)), K(size_t(n_keys * d_k)), V(size_t(n_keys * d_v));
        for (auto* v : {&q, &K, &V})
          for (auto& x : *v) x = nd(rng);
        std::vector<double> mag;
        const auto ref = reference(q, n_q, d_k, K, n_keys, V, d_v, 0.3, &mag);
        std::vector<decltype(&attend)> kernels = {&attend, &attend_scalar};
#if defined(R1_HAVE_X86_KERNELS)
        if (cpu_features().avx2 && cpu_features().fma && d_k % 8 == 0 && d_v % 8 == 0) kernels.push_back(&attend_avx2);
#endif
        for (auto kernel : kernels) {
          std::vector<float> out(size_t(n_q * d_v), NAN), scores(size_t(n_q * n_keys));
          kernel(q.data(), n_q, d_k, K.data(), d_k, n_keys, V.data(), d_v, d_v, 0.3f, out.data(), scores.data());
          for (size_t i = 0; i < out.size(); ++i)
            ASSERT_NEAR(out[i], ref[i], 2e-5 * mag[i] + 1e-30)
                << (kernel == &attend ? "attend" : kernel == &attend_scalar ? "scalar" : "avx2") << " d_k=" << d_k << " d_v=" << d_v << " keys=" << n_keys
                << " n_q=" << n_q << " i=" << i;
        }
      }
}

// Scores from −100 to +100 (exp underflows for most keys): the largest key dominates exactly as in
// float64, and no NaN appears.
TEST(Attention, PeakedSoftmax) {
  const int64_t d = 16, n_keys = 40;
  std::vector<float> q(d, 0.0f), K(size_t(n_keys * d), 0.0f), V(size_t(n_keys * d));
  q[0] = 1.0f;
  for (int64_t t = 0; t < n_keys; ++t) {
    K[t * d] = -100.0f + 5.0f * float(t);  // scores −100, −95, ..., 95
    for (int64_t j = 0; j < d; ++j) V[t * d + j] = float(t);
  }
  std::vector<double> mag;
  const auto ref = reference(q, 1, d, K, n_keys, V, d, 1.0, &mag);
  std::vector<float> out(d), scores(n_keys);
  attend(q.data(), 1, d, K.data(), d, n_keys, V.data(), d, d, 1.0f, out.data(), scores.data());
  for (int64_t j = 0; j < d; ++j) EXPECT_NEAR(out[j], ref[j], 1e-5 * ref[j]);
  EXPECT_NEAR(out[0], 39.0 - std::exp(-5.0), 1e-4);
}

// MLA's layout: the values are the first d_v floats of the key rows (k_stride = v_stride = d_k).
TEST(Attention, ValuesInsideKeyRows) {
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const int64_t d_k = 576, d_v = 512, n_keys = 37, n_q = 16;
  std::vector<float> q(size_t(n_q * d_k)), K(size_t(n_keys * d_k)), V(size_t(n_keys * d_v));
  for (auto& x : q) x = nd(rng);
  for (auto& x : K) x = nd(rng);
  for (int64_t t = 0; t < n_keys; ++t) std::copy_n(K.begin() + t * d_k, d_v, V.begin() + t * d_v);
  std::vector<double> mag;
  const auto ref = reference(q, n_q, d_k, K, n_keys, V, d_v, 0.05, &mag);
  for (auto kernel : {&attend, &attend_scalar}) {
    std::vector<float> out(size_t(n_q * d_v), NAN), scores(size_t(n_q * n_keys));
    kernel(q.data(), n_q, d_k, K.data(), d_k, n_keys, K.data(), d_k, d_v, 0.05f, out.data(), scores.data());
    for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], ref[i], 2e-5 * mag[i] + 1e-30) << i;
  }
}

}  // namespace
}  // namespace r1
