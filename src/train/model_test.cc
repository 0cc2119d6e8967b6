// MLA, MoE and the whole model (with MTP and the balance loss): analytic gradients against
// central finite differences in double precision, on a tiny config.
#include "train/model.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <map>

#include "core/error.h"
#include "train/grad_check.h"
#include "util/threadpool.h"

namespace r1::train {
namespace {

ModelConfig tiny_config() {
  ModelConfig c;
  c.n_vocab = 11;
  c.n_embd = 8;
  c.n_layer = 2;
  c.n_head = 2;
  c.q_lora_rank = 6;
  c.kv_lora_rank = 5;
  c.qk_nope_dim = 3;
  c.qk_rope_dim = 4;
  c.v_head_dim = 3;
  c.n_ff = 10;
  c.n_dense_lead = 1;
  c.n_expert = 4;
  c.n_expert_used = 2;
  c.n_expert_shared = 1;
  c.n_ff_expert = 5;
  c.route_scale = 1.5;
  c.n_ctx = 16;
  return c;
}

TEST(TrainModel, MlaBackwardMatchesFiniteDifferences) {
  const ModelConfig c = tiny_config();
  Transformer<double> m(c, nullptr);
  m.init(3, 0.5);
  const BlockLayout& L = m.layout().blocks[0];
  const int64_t B = 2, S = 4, N = B * S;
  const RopeCache<double> rope = make_rope_cache<double>(c, S);
  std::vector<double> x = random_vector(N * c.n_embd, 21), r = random_vector(N * c.n_embd, 22);
  std::vector<double> out(N * c.n_embd), dx(N * c.n_embd, 0);
  MlaActs<double> acts;
  auto loss = [&] {
    mla_forward<double>(nullptr, c, L, m.params.data(), x.data(), B, S, rope, out.data(), acts);
    return dot(out, r);
  };
  loss();
  mla_backward<double>(nullptr, c, L, m.params.data(), m.grads.data(), x.data(), B, S, rope, r.data(), dx.data(), acts);
  const double ex = grad_check(loss, x, dx);
  std::printf("MLA rel err: dx %.2e\n", ex);
  EXPECT_LT(ex, 1e-7);
  for (const auto& [name, err] : param_errors(loss, m.params, m.grads, m.layout(), 6)) {
    if (name.find("layers.0.self_attn") == std::string::npos) continue;
    std::printf("MLA rel err: %s %.2e\n", name.c_str(), err);
    EXPECT_LT(err, 1e-7) << name;
  }
}

TEST(TrainModel, MoeBackwardMatchesFiniteDifferences) {
  const ModelConfig c = tiny_config();
  Transformer<double> m(c, nullptr);
  m.init(4, 0.5);
  const BlockLayout& L = m.layout().blocks[1];
  ASSERT_TRUE(L.moe);
  const int64_t B = 2, S = 5, N = B * S;
  const std::vector<float> bias{0.05f, -0.02f, 0.0f, 0.1f};
  std::vector<double> x = random_vector(N * c.n_embd, 23), r = random_vector(N * c.n_embd, 24);
  std::vector<double> y(N * c.n_embd), dx(N * c.n_embd, 0);
  MoeActs<double> acts;
  const double alpha = 0.3;  // large, so the balance loss's gradient is visible in the check
  auto loss = [&] {
    moe_forward<double>(nullptr, c, L, m.params.data(), bias.data(), x.data(), B, S, alpha, y.data(), acts);
    return dot(y, r) + acts.balance_loss;
  };
  loss();
  int64_t routed = 0;
  for (int64_t l : acts.load) routed += l;
  EXPECT_EQ(routed, N * c.n_expert_used);
  EXPECT_GT(acts.balance_loss, 0.0);
  moe_backward<double>(nullptr, c, L, m.params.data(), m.grads.data(), x.data(), B, S, alpha, r.data(), dx.data(), acts);
  const double ex = grad_check(loss, x, dx);
  std::printf("MoE rel err: dx %.2e\n", ex);
  EXPECT_LT(ex, 1e-7);
  for (const auto& [name, err] : param_errors(loss, m.params, m.grads, m.layout(), 6)) {
    if (name.find("layers.1.mlp") == std::string::npos) continue;
    EXPECT_LT(err, 1e-7) << name;
  }
}

Batch tiny_batch(const ModelConfig& c, int64_t B, int64_t S, uint64_t seed) {
  return random_next_token_batch(c.n_vocab, B, S, seed);
}

TEST(TrainModel, WholeModelGradientsMatchFiniteDifferences) {
  const ModelConfig c = tiny_config();
  Transformer<double> m(c, nullptr);
  m.init(5, 0.4);
  m.bias.per_block[1] = {0.01f, -0.03f, 0.02f, 0.0f};
  const Batch batch = tiny_batch(c, 2, 6, 7);
  const LossWeights w{0.3, 0.01};
  const LossReport rep = m.forward_backward(batch, w, true);
  EXPECT_GT(rep.mtp, 0.0);
  EXPECT_GT(rep.balance, 0.0);
  EXPECT_NEAR(rep.total, rep.lm + rep.mtp + rep.balance, 1e-12);
  const std::vector<double> grads = m.grads;
  auto loss = [&] { return m.forward_backward(batch, w, false).total; };
  double worst = 0;
  for (const auto& [name, err] : param_errors(loss, m.params, grads, m.layout(), 4)) {
    EXPECT_LT(err, 1e-6) << name;
    worst = std::max(worst, err);
  }
  std::printf("whole model (%zu tensors): worst rel err %.2e\n", m.layout().tensors.size(), worst);
}

TEST(TrainModel, WeightedLossIsTheWeightedSumOfTokenLogProbs) {
  const ModelConfig c = tiny_config();
  Transformer<double> m(c, nullptr);
  m.init(6, 0.4);
  Batch batch = tiny_batch(c, 1, 5, 8);
  m.forward_backward(batch, {0, 0}, false);
  const std::vector<double> lp = m.token_logprobs();
  batch.weights = {0.5f, 2.0f, -1.0f, 0.25f, 1.0f};
  const LossReport rep = m.forward_backward(batch, {0, 0}, false);
  double expect = 0;
  for (int i = 0; i < 5; i++) expect -= batch.targets[i] < 0 ? 0.0 : batch.weights[i] * lp[i];
  EXPECT_NEAR(rep.lm, expect, 1e-12);
}

TEST(TrainModel, FloatModelAgreesWithDoubleAndThreadsChangeNothing) {
  const ModelConfig c = tiny_config();
  Transformer<double> md(c, nullptr);
  md.init(9, 0.4);
  ThreadPool pool(2);
  Transformer<float> mf(c, &pool);
  for (size_t i = 0; i < md.params.size(); i++) mf.params[i] = float(md.params[i]);
  const Batch batch = tiny_batch(c, 2, 6, 10);
  const double ld = md.forward_backward(batch, {}, true).total;
  const double lf = mf.forward_backward(batch, {}, true).total;
  EXPECT_NEAR(lf, ld, 1e-5 * std::abs(ld));
  double max_diff = 0, max_g = 0;
  for (size_t i = 0; i < md.grads.size(); i++) {
    max_diff = std::max(max_diff, std::abs(double(mf.grads[i]) - md.grads[i]));
    max_g = std::max(max_g, std::abs(md.grads[i]));
  }
  EXPECT_LT(max_diff / max_g, 1e-4);
}

TEST(TrainModel, BadBatchesAreErrors) {
  const ModelConfig c = tiny_config();
  Transformer<float> m(c, nullptr);
  Batch b = tiny_batch(c, 1, 4, 11);
  b.tokens[2] = int32_t(c.n_vocab);
  EXPECT_THROW(m.forward_backward(b, {}, false), Error);
  b = tiny_batch(c, 1, 17, 11);  // longer than n_ctx
  EXPECT_THROW(m.forward_backward(b, {}, false), Error);
  ModelConfig bad = c;
  bad.qk_rope_dim = 3;
  EXPECT_THROW(make_layout(bad), Error);
  bad = c;
  bad.n_embd = 1 << 20;  // ~10^13 parameters: refused before anything is allocated
  bad.n_vocab = 1 << 20;
  EXPECT_THROW(make_layout(bad), Error);
}

TEST(TrainModel, RouterBiasMovesTowardBalance) {
  std::vector<float> bias(4, 0.0f);
  update_router_bias(bias, {10, 2, 6, 6}, 0.001);
  EXPECT_FLOAT_EQ(bias[0], -0.001f);  // overloaded
  EXPECT_FLOAT_EQ(bias[1], 0.001f);   // underloaded
  EXPECT_FLOAT_EQ(bias[2], 0.0f);     // at the mean
}

}  // namespace
}  // namespace r1::train
