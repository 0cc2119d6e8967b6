#include "model/moe.h"

#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <deque>
#include <random>

#include <gtest/gtest.h>

#include "ops/quant.h"
#include "ops/repack.h"
#include "util/threadpool.h"

namespace r1 {
namespace {

// 8 experts in 4 groups of 2, top-2 of the best 2 groups, sigmoid + bias, renormalised × 2.5:
// the deepseek2-mini routing.
DeepseekConfig v3_routing() {
  DeepseekConfig c;
  c.n_expert = 8;
  c.n_expert_used = 2;
  c.n_group = 4;
  c.n_group_used = 2;
  c.gating = ExpertGating::Sigmoid;
  c.score_bias = true;
  c.norm_topk = true;
  c.route_scale = 2.5f;
  return c;
}

float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

TEST(MoeRouting, GroupScoreIsSumOfTopTwoAndBiasOnlySelects) {
  const DeepseekConfig c = v3_routing();
  // Expert 0 has the single best score, but its group (0, 1) has the worst top-2 sum; groups
  // 1 (experts 2, 3) and 3 (experts 6, 7) win. The bias makes expert 7 beat expert 2.
  const float logits[8] = {3.0f, -6.0f, 1.0f, 0.9f, -1.0f, -1.0f, 0.5f, 0.8f};
  const float bias[8] = {0, 0, 0, 0, 0, 0, 0, 0.5f};
  int32_t ex[2];
  float w[2];
  route_token(c, logits, bias, ex, w);
  EXPECT_EQ(ex[0], 7);  // 0.69 + 0.5
  EXPECT_EQ(ex[1], 2);
  // Weights use the unbiased sigmoid scores, renormalised, × 2.5.
  const float s7 = sigmoid(0.8f), s2 = sigmoid(1.0f);
  EXPECT_NEAR(w[0], s7 / (s7 + s2) * 2.5f, 1e-6);
  EXPECT_NEAR(w[1], s2 / (s7 + s2) * 2.5f, 1e-6);
  EXPECT_NEAR(w[0] + w[1], 2.5f, 1e-6);
}

TEST(MoeRouting, DroppedGroupsAreMaskedEvenWhenScoresAreNegative) {
  DeepseekConfig c = v3_routing();
  c.n_group_used = 1;
  // Biases push every kept score below zero: a mask of 0 (instead of -inf) would wrongly pick
  // experts of dropped groups. Group 2 (experts 4, 5) wins.
  const float logits[8] = {0, 0, 0, 0, 2, 1, 0, 0};
  const float bias[8] = {-5, -5, -5, -5, -3, -3, -5, -5};
  int32_t ex[2];
  float w[2];
  route_token(c, logits, bias, ex, w);
  EXPECT_EQ(ex[0], 4);
  EXPECT_EQ(ex[1], 5);
}

TEST(MoeRouting, SoftmaxWithoutRenormalisation) {
  DeepseekConfig c;
  c.n_expert = 4;
  c.n_expert_used = 2;
  c.gating = ExpertGating::Softmax;
  c.route_scale = 1.0f;
  const float logits[4] = {0.1f, 2.0f, -1.0f, 1.5f};
  int32_t ex[2];
  float w[2];
  route_token(c, logits, nullptr, ex, w);
  double z = 0;
  for (float l : logits) z += std::exp(double(l));
  EXPECT_EQ(ex[0], 1);
  EXPECT_EQ(ex[1], 3);
  EXPECT_NEAR(w[0], std::exp(2.0) / z, 1e-6);
  EXPECT_NEAR(w[1], std::exp(1.5) / z, 1e-6);
}

TEST(MoeRouting, GroupsWithoutBiasUseTheMaximum) {
  // V2 236B style (group_limited_greedy, softmax): group score = best expert of the group.
  DeepseekConfig c;
  c.n_expert = 4;
  c.n_expert_used = 2;
  c.n_group = 2;
  c.n_group_used = 1;
  c.gating = ExpertGating::Softmax;
  // Group 0 = {1.0, 0.95} (sum wins), group 1 = {1.2, -3} (max wins): max picks group 1.
  const float logits[4] = {1.0f, 0.95f, 1.2f, -3.0f};
  int32_t ex[2];
  float w[2];
  route_token(c, logits, nullptr, ex, w);
  EXPECT_EQ(ex[0], 2);
  EXPECT_EQ(ex[1], 3);
}

// Random matrix {in, out} owned by the test: F32, or Q8_0 laid out as the loader lays it out for this
// CPU's kernels.
struct Mat {
  std::vector<float> v;
  std::vector<uint8_t> bytes;
  TensorView t;
  Mat(int64_t in, int64_t out, std::mt19937& rng, DType type = DType::F32) : v(size_t(in * out)) {
    std::normal_distribution<float> d(0, 0.1f);
    for (float& x : v) x = d(rng);
    t.name = "test";
    t.type = type;
    t.n_dims = 2;
    t.ne = {in, out, 1, 1};
    t.data = v.data();
    t.nbytes = v.size() * sizeof(float);
    if (type == DType::F32) return;
    bytes.resize(row_bytes(type, in) * size_t(out));
    for (int64_t r = 0; r < out; r++) quantize_row(type, v.data() + r * in, bytes.data() + size_t(r) * row_bytes(type, in), in);
    t.layout = matmul_preferred_layout(type, in, out);
    if (t.layout == RowLayout::Interleaved8) repack_x8(type, bytes.data(), out, in);
    t.data = bytes.data();
    t.nbytes = bytes.size();
  }
};

TEST(MoeForward, MatchesDirectSumAndReadsOnlyChosenExperts) {
  std::mt19937 rng(7);
  DeepseekConfig c = v3_routing();
  c.n_embd = 16;
  c.n_ff_expert = 8;
  c.n_expert_shared = 1;
  const int64_t D = 16, F = 8, n = 3;
  std::deque<Mat> mats;
  auto mat = [&](int64_t in, int64_t out) { return Linear{mats.emplace_back(in, out, rng).t, {}}; };
  MoeWeights w;
  w.router = mat(D, 8).w;
  for (int e = 0; e < 8; e++) w.experts.push_back({mat(D, F), mat(D, F), mat(F, D)});
  w.shared = {mat(D, F), mat(D, F), mat(F, D)};
  std::vector<float> x(size_t(n * D));
  for (float& v : x) v = std::normal_distribution<float>(0, 1)(rng);

  // Which experts each token picks, computed the same way the forward pass does.
  std::vector<std::array<int32_t, 2>> chosen(n);
  std::vector<std::array<float, 2>> weight(n);
  const float* R = static_cast<const float*>(w.router.data);
  for (int64_t i = 0; i < n; i++) {
    float logits[8];
    for (int e = 0; e < 8; e++) {
      logits[e] = 0;
      for (int64_t d = 0; d < D; d++) logits[e] += R[e * D + d] * x[size_t(i * D + d)];
    }
    route_token(c, logits, nullptr, chosen[size_t(i)].data(), weight[size_t(i)].data());
  }
  // Any expert no token picked loses its data: touching it would throw.
  for (int e = 0; e < 8; e++) {
    bool used = false;
    for (const auto& ch : chosen) used |= ch[0] == e || ch[1] == e;
    if (!used) w.experts[size_t(e)].gate.w.data = w.experts[size_t(e)].up.w.data = w.experts[size_t(e)].down.w.data = nullptr;
  }

  ThreadPool pool(2);
  FfnScratch s(c, n);
  std::vector<float> out(size_t(n * D));
  moe_forward(c, w, x.data(), n, out.data(), s, pool);

  auto expert = [&](const FfnWeights& f, const float* xi, float* y) {
    const float *G = static_cast<const float*>(f.gate.w.data), *U = static_cast<const float*>(f.up.w.data),
                *Dn = static_cast<const float*>(f.down.w.data);
    std::vector<float> h(static_cast<size_t>(F));
    for (int64_t j = 0; j < F; j++) {
      double g = 0, u = 0;
      for (int64_t d = 0; d < D; d++) g += G[j * D + d] * xi[d], u += U[j * D + d] * xi[d];
      h[size_t(j)] = float(g / (1 + std::exp(-g)) * u);
    }
    for (int64_t d = 0; d < D; d++) {
      double acc = 0;
      for (int64_t j = 0; j < F; j++) acc += Dn[d * F + j] * h[size_t(j)];
      y[d] = float(acc);
    }
  };
  for (int64_t i = 0; i < n; i++) {
    std::vector<float> want(static_cast<size_t>(D)), y(static_cast<size_t>(D));
    expert(w.shared, x.data() + i * D, want.data());
    for (int k = 0; k < 2; k++) {
      expert(w.experts[size_t(chosen[size_t(i)][size_t(k)])], x.data() + i * D, y.data());
      for (int64_t d = 0; d < D; d++) want[size_t(d)] += weight[size_t(i)][size_t(k)] * y[size_t(d)];
    }
    for (int64_t d = 0; d < D; d++) EXPECT_NEAR(out[size_t(i * D + d)], want[size_t(d)], 1e-5) << i << "," << d;
  }

  // One token alone takes the decode path (byte shares of the experts' matrices per thread): the
  // same sums as in the batch, and the same bits with 1, 2 or 3 threads.
  for (int64_t i = 0; i < n; i++) {
    std::vector<float> one[3];
    for (int threads = 1; threads <= 3; threads++) {
      ThreadPool tp(threads);
      one[threads - 1].resize(size_t(D));
      moe_forward(c, w, x.data() + i * D, 1, one[threads - 1].data(), s, tp);
    }
    EXPECT_EQ(one[0], one[1]);
    EXPECT_EQ(one[0], one[2]);
    for (int64_t d = 0; d < D; d++) EXPECT_NEAR(one[0][size_t(d)], out[size_t(i * D + d)], 1e-6) << i << "," << d;
  }
}

// A few tokens through quantized experts (two parallel steps for all the experts they chose, as one
// token's): each token's output is the one it gets alone, bit for bit, so a sequence's MoE layers do not
// depend on what shares its batched steps.
TEST(MoeForward, FewTokensGiveEachTokenItsOwnOutputBitForBit) {
  std::mt19937 rng(11);
  DeepseekConfig c = v3_routing();
  c.n_embd = 64;
  c.n_ff_expert = 32;
  c.n_expert_shared = 1;
  const int64_t D = 64, F = 32;
  std::deque<Mat> mats;
  auto mat = [&](int64_t in, int64_t out) { return Linear{mats.emplace_back(in, out, rng, DType::Q8_0).t, {}}; };
  MoeWeights w;
  w.router = mats.emplace_back(D, 8, rng).t;
  for (int e = 0; e < 8; e++) w.experts.push_back({mat(D, F), mat(D, F), mat(F, D)});
  w.shared = {mat(D, F), mat(D, F), mat(F, D)};
  const char* repack = std::getenv("R1_REPACK");
  if (repack && std::string(repack) == "0") GTEST_SKIP() << "R1_REPACK=0: Q8_0 rows as stored take the prefill tile";
  ASSERT_TRUE(matmul_takes_tokens(w.shared.gate.w, kMaxFewTokens));
  ASSERT_TRUE(matmul_takes_tokens(w.shared.down.w, kMaxFewTokens));
  std::vector<float> x(size_t(kMaxFewTokens * D));
  for (float& v : x) v = std::normal_distribution<float>(0, 1)(rng);
  ThreadPool pool(2);
  FfnScratch s(c, kMaxFewTokens);
  for (int64_t n = 1; n <= kMaxFewTokens; n++) {
    std::vector<float> out(size_t(n * D)), one(static_cast<size_t>(D));
    moe_forward(c, w, x.data(), n, out.data(), s, pool);
    for (int64_t i = 0; i < n; i++) {
      moe_forward(c, w, x.data() + i * D, 1, one.data(), s, pool);
      EXPECT_EQ(std::memcmp(one.data(), out.data() + i * D, size_t(D) * sizeof(float)), 0) << "token " << i << " of " << n;
    }
  }
}

}  // namespace
}  // namespace r1
