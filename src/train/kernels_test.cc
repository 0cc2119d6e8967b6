// Each kernel's backward against central finite differences of L = Σ r ⊙ y (r random), in double.
#include "train/kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "ops/rope.h"
#include "train/gemm.h"
#include "util/cpu.h"
#include "train/grad_check.h"
#include "util/threadpool.h"

namespace r1::train {
namespace {

double weighted_sum(const std::vector<double>& y, const std::vector<double>& r) {
  double s = 0;
  for (size_t i = 0; i < y.size(); i++) s += y[i] * r[i];
  return s;
}

TEST(TrainKernels, LinearBackwardMatchesFiniteDifferences) {
  const int64_t n = 5, in = 7, out = 3;
  std::vector<double> x = random_vector(n * in, 1), w = random_vector(out * in, 2), r = random_vector(n * out, 3);
  std::vector<double> y(n * out), dx(n * in, 0), dw(out * in, 0);
  auto loss = [&] {
    linear_forward<double>(nullptr, y.data(), x.data(), w.data(), n, in, out);
    return weighted_sum(y, r);
  };
  linear_backward<double>(nullptr, dx.data(), dw.data(), r.data(), x.data(), w.data(), n, in, out);
  EXPECT_LT(grad_check(loss, x, dx), 1e-8);
  EXPECT_LT(grad_check(loss, w, dw), 1e-8);
}

TEST(TrainKernels, ThreadedLinearEqualsSerial) {
  const int64_t n = 33, in = 40, out = 21;
  std::vector<double> xd = random_vector(n * in, 4), wd = random_vector(out * in, 5), dyd = random_vector(n * out, 6);
  std::vector<float> x(xd.begin(), xd.end()), w(wd.begin(), wd.end()), dy(dyd.begin(), dyd.end());
  ThreadPool pool(3);
  std::vector<float> y1(n * out), y2(n * out), dx1(n * in, 0), dx2(n * in, 0), dw1(out * in, 0), dw2(out * in, 0);
  linear_forward<float>(nullptr, y1.data(), x.data(), w.data(), n, in, out);
  linear_forward<float>(&pool, y2.data(), x.data(), w.data(), n, in, out);
  linear_backward<float>(nullptr, dx1.data(), dw1.data(), dy.data(), x.data(), w.data(), n, in, out);
  linear_backward<float>(&pool, dx2.data(), dw2.data(), dy.data(), x.data(), w.data(), n, in, out);
  // Rows handled by a 4-row SIMD tile or by the remainder loop round differently (FMA or not).
  for (size_t i = 0; i < y1.size(); i++) EXPECT_NEAR(y1[i], y2[i], 1e-4f);
  for (size_t i = 0; i < dx1.size(); i++) EXPECT_NEAR(dx1[i], dx2[i], 1e-4f);
  for (size_t i = 0; i < dw1.size(); i++) EXPECT_NEAR(dw1[i], dw2[i], 1e-4f);
}

TEST(TrainKernels, SimdGemmsEqualThePortableOnes) {
  if (!cpu_features().avx2 || !cpu_features().fma) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  const int64_t m = 11, k = 37, n = 19;  // nothing a multiple of a tile
  std::vector<double> ad = random_vector(m * k, 30), bd = random_vector(n * k, 31), cd = random_vector(m * n, 32);
  std::vector<float> a(ad.begin(), ad.end()), b(bd.begin(), bd.end());
  std::vector<float> c1(m * n), c2(m * n);
  gemm_abt_portable(c1.data(), a.data(), b.data(), 0, m, n, k);
  gemm_abt_avx2(c2.data(), a.data(), b.data(), 0, m, n, k);
  for (size_t i = 0; i < c1.size(); i++) EXPECT_NEAR(c1[i], c2[i], 1e-4f) << i;
  // C[m][k] += A(i, j)·B[j][:] with A read transposed from a [n][m] array (strides 1, m).
  std::vector<float> at(n * m), bb(n * k), d1(cd.begin(), cd.end()), d2;
  d1.resize(m * k, 0.5f);
  d2 = d1;
  for (size_t i = 0; i < at.size(); i++) at[i] = float(bd[i % bd.size()]);
  for (size_t i = 0; i < bb.size(); i++) bb[i] = float(ad[i % ad.size()]);
  gemm_acc_portable(d1.data(), at.data(), 1, m, bb.data(), 0, m, n, k);
  gemm_acc_avx2(d2.data(), at.data(), 1, m, bb.data(), 0, m, n, k);
  for (size_t i = 0; i < d1.size(); i++) EXPECT_NEAR(d1[i], d2[i], 1e-4f) << i;
}

TEST(TrainKernels, RmsNormBackwardMatchesFiniteDifferences) {
  const int64_t n = 4, d = 9;
  std::vector<double> x = random_vector(n * d, 7), w = random_vector(d, 8), r = random_vector(n * d, 9);
  std::vector<double> y(n * d), rstd(n), dx(n * d, 0), dw(d, 0);
  auto loss = [&] {
    rmsnorm_forward<double>(y.data(), rstd.data(), x.data(), w.data(), n, d, 1e-6);
    return weighted_sum(y, r);
  };
  loss();
  rmsnorm_backward<double>(dx.data(), dw.data(), r.data(), x.data(), w.data(), rstd.data(), n, d);
  const double ex = grad_check(loss, x, dx), ew = grad_check(loss, w, dw);
  std::printf("rmsnorm rel err: dx %.2e dw %.2e\n", ex, ew);
  EXPECT_LT(ex, 1e-8);
  EXPECT_LT(ew, 1e-8);
  // The value itself: unit RMS before the weight.
  std::vector<double> ones(d, 1.0);
  rmsnorm_forward<double>(y.data(), rstd.data(), x.data(), ones.data(), 1, d, 0.0);
  double ms = 0;
  for (int64_t i = 0; i < d; i++) ms += y[i] * y[i] / d;
  EXPECT_NEAR(ms, 1.0, 1e-12);
}

TEST(TrainKernels, SwigluBackwardMatchesFiniteDifferences) {
  const int64_t n = 12;
  std::vector<double> g = random_vector(n, 10, 2.0), u = random_vector(n, 11), r = random_vector(n, 12);
  std::vector<double> h(n), dg(n, 0), du(n, 0);
  auto loss = [&] {
    swiglu_forward<double>(h.data(), g.data(), u.data(), n);
    return weighted_sum(h, r);
  };
  swiglu_backward<double>(dg.data(), du.data(), r.data(), g.data(), u.data(), n);
  EXPECT_LT(grad_check(loss, g, dg), 1e-8);
  EXPECT_LT(grad_check(loss, u, du), 1e-8);
  loss();
  EXPECT_NEAR(h[0], g[0] / (1 + std::exp(-g[0])) * u[0], 1e-15);
}

TEST(TrainKernels, RopeRotatesAdjacentPairsLikeTheInferenceEngine) {
  const int64_t half = 4, pos = 5;
  RopeParams p;
  p.n_dims = int(2 * half);
  p.pairing = RopePairing::kNorm;
  const std::vector<double> freq = rope_frequencies(p);
  std::vector<double> c(half), s(half);
  for (int64_t i = 0; i < half; i++) {
    c[i] = std::cos(pos * freq[i]);
    s[i] = std::sin(pos * freq[i]);
  }
  std::vector<double> x = random_vector(2 * half, 13);
  std::vector<float> xf(x.begin(), x.end());
  rope_apply(xf.data(), 1, 2 * half, pos, p);
  std::vector<double> y = x;
  rope_rotate(y.data(), c.data(), s.data(), half, false);
  for (int64_t i = 0; i < 2 * half; i++) EXPECT_NEAR(y[i], xf[i], 1e-5);
  rope_rotate(y.data(), c.data(), s.data(), half, true);  // the backward undoes it
  for (int64_t i = 0; i < 2 * half; i++) EXPECT_NEAR(y[i], x[i], 1e-14);
}

TEST(TrainKernels, AttentionBackwardMatchesFiniteDifferences) {
  const int64_t t = 5, dk = 6, dv = 4;
  std::vector<double> q = random_vector(t * dk, 14), k = random_vector(t * dk, 15), v = random_vector(t * dv, 16);
  std::vector<double> r = random_vector(t * dv, 17), o(t * dv), p(t * t);
  std::vector<double> dq(t * dk, 0), dk_(t * dk, 0), dv_(t * dv, 0);
  const HeadShape s{t, dk, dv, dk, dk, dv, dv, 0.4};
  auto loss = [&] {
    attention_forward<double>(o.data(), p.data(), q.data(), k.data(), v.data(), s);
    return weighted_sum(o, r);
  };
  loss();
  attention_backward<double>(dq.data(), dk_.data(), dv_.data(), r.data(), p.data(), q.data(), k.data(), v.data(), s);
  const double eq = grad_check(loss, q, dq), ek = grad_check(loss, k, dk_), ev = grad_check(loss, v, dv_);
  std::printf("attention rel err: dq %.2e dk %.2e dv %.2e\n", eq, ek, ev);
  EXPECT_LT(eq, 1e-8);
  EXPECT_LT(ek, 1e-8);
  EXPECT_LT(ev, 1e-8);
  // Causal: position 0 attends only to itself, so its output is v[0]; rows sum to 1.
  loss();
  for (int64_t i = 0; i < dv; i++) EXPECT_NEAR(o[i], v[i], 1e-14);
  for (int64_t i = 0; i < t; i++) {
    double sum = 0;
    for (int64_t j = 0; j < t; j++) sum += p[i * t + j];
    EXPECT_NEAR(sum, 1.0, 1e-14);
    for (int64_t j = i + 1; j < t; j++) EXPECT_EQ(p[i * t + j], 0.0);
  }
}

TEST(TrainKernels, CrossEntropyValueAndGradient) {
  const int64_t n = 3, v = 7;
  std::vector<double> logits = random_vector(n * v, 18, 2.0), dl(n * v);
  const std::vector<int32_t> targets{2, -1, 6};
  auto loss = [&] { return cross_entropy<double>(nullptr, logits.data(), targets.data(), n, v, 1.0); };
  const double value = cross_entropy<double>(dl.data(), logits.data(), targets.data(), n, v, 1.0);
  double expect = 0;
  for (int64_t r : {0, 2}) {
    double z = 0;
    for (int64_t i = 0; i < v; i++) z += std::exp(logits[r * v + i]);
    expect += std::log(z) - logits[r * v + targets[r]];
  }
  EXPECT_NEAR(value, expect, 1e-12);
  EXPECT_LT(grad_check(loss, logits, dl), 1e-8);
  for (int64_t i = 0; i < v; i++) EXPECT_EQ(dl[v + i], 0.0);  // the unscored row
}

}  // namespace
}  // namespace r1::train
