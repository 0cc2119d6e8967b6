#include "train/grpo.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "train/dense_model.h"

namespace r1::train {
namespace {

TEST(TrainGrpo, GroupAdvantages) {
  const std::vector<double> r{1, 0, 0, 1, 2, 2};
  const auto a = group_advantages(r, 2, true);
  EXPECT_NEAR(a[0], 0.5 / (0.5 + 1e-4), 1e-12);
  EXPECT_NEAR(a[1], -0.5 / (0.5 + 1e-4), 1e-12);
  EXPECT_EQ(a[4], 0.0);  // a group with one reward carries no signal
  EXPECT_EQ(a[5], 0.0);
  const auto d = group_advantages(r, 2, false);  // Dr. GRPO: mean-centred only
  EXPECT_DOUBLE_EQ(d[2], -0.5);
  EXPECT_THROW(group_advantages(r, 4, true), Error);
}

TEST(TrainGrpo, TokenCoefficientIsMinusTheObjectivesDerivative) {
  GrpoConfig c;
  c.clip_low = 0.2;
  c.clip_high = 0.28;
  c.kl_beta = 0.05;
  for (double adv : {1.3, -0.7}) {
    for (double logp : {-2.0, -1.2, -0.9, -0.5}) {  // ratios from 0.45 to 4.5 around old = −1.2
      const double old = -1.2, ref = -1.0, h = 1e-6;
      double up, down, l;
      bool cut;
      grpo_token_coef(logp + h, old, ref, adv, c, &up, nullptr);
      grpo_token_coef(logp - h, old, ref, adv, c, &down, nullptr);
      const double coef = grpo_token_coef(logp, old, ref, adv, c, &l, &cut);
      EXPECT_NEAR(coef, -(up - down) / (2 * h), 1e-6) << adv << " " << logp;
      const double ratio = std::exp(logp - old);
      const bool expect_cut = (adv > 0 && ratio > 1.28) || (adv < 0 && ratio < 0.8);
      EXPECT_EQ(cut, expect_cut) << adv << " " << logp;
    }
  }
  // On policy without KL, the coefficient is the advantage (the policy-gradient weight).
  c.kl_beta = 0;
  EXPECT_DOUBLE_EQ(grpo_token_coef(-1.0, -1.0, 0.0, 0.8, c, nullptr, nullptr), 0.8);
}

ModelConfig tiny() {
  ModelConfig c;
  c.n_vocab = 9;
  c.n_embd = 16;
  c.n_layer = 2;
  c.n_head = 2;
  c.q_lora_rank = 8;
  c.kv_lora_rank = 8;
  c.qk_nope_dim = 4;
  c.qk_rope_dim = 4;
  c.v_head_dim = 4;
  c.n_ff = 24;
  c.n_dense_lead = 1;
  c.n_expert = 4;
  c.n_expert_used = 2;
  c.n_expert_shared = 1;
  c.n_ff_expert = 8;
  c.n_ctx = 16;
  c.mtp = false;
  return c;
}

double sum(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}

// GRPO through the Policy interface, so both model classes are checked alike.
void expect_grpo_raises_the_rewarded_response(Policy& m) {
  OptimConfig o;
  o.lr = 3e-3;
  o.total_steps = 1000;
  o.weight_decay = 0;
  AdamW opt(m.layout(), o);
  // One prompt, a group of 4: two copies of the rewarded answer, two of the other.
  const std::vector<int32_t> prompt{0, 3, 4};
  std::vector<Rollout> rs(4);
  for (int i = 0; i < 4; i++) {
    rs[size_t(i)].tokens = prompt;
    const std::vector<int32_t> answer = i % 2 == 0 ? std::vector<int32_t>{5, 6, 1} : std::vector<int32_t>{7, 8, 1};
    rs[size_t(i)].tokens.insert(rs[size_t(i)].tokens.end(), answer.begin(), answer.end());
    rs[size_t(i)].prompt_len = prompt.size();
    rs[size_t(i)].reward = i % 2 == 0 ? 2.0 : 0.0;
  }
  const auto adv = group_advantages({2, 0, 2, 0}, 4, true);
  for (int i = 0; i < 4; i++) rs[size_t(i)].advantage = adv[size_t(i)];
  GrpoConfig c;
  c.minibatches = 2;
  c.kl_beta = 0.01;
  completion_logprobs(m, rs, &Rollout::ref_logp);
  const double good0 = sum(rs[0].ref_logp), bad0 = sum(rs[1].ref_logp);
  GrpoStats last;
  for (int step = 0; step < 8; step++) {
    completion_logprobs(m, rs, &Rollout::old_logp);
    last = grpo_update(m, opt, rs, 2, c, 0.0);  // groups of 2 here, so the 2 minibatches differ
  }
  EXPECT_EQ(opt.steps_done(), 16);  // two optimizer steps per rollout batch
  completion_logprobs(m, rs, &Rollout::old_logp);
  const double good1 = sum(rs[0].old_logp), bad1 = sum(rs[1].old_logp);
  std::printf("log p(rewarded) %.3f -> %.3f, log p(other) %.3f -> %.3f, kl %.4f\n", good0, good1, bad0, bad1, last.kl);
  EXPECT_GT(good1, good0 + 0.5);
  EXPECT_LT(bad1, bad0 - 0.5);
  EXPECT_GT(last.kl, 0.0);
}

TEST(TrainGrpo, UpdatesRaiseTheRewardedResponseAndLowerTheOther) {
  Transformer<float> m(tiny(), nullptr);
  m.init(3, 0.1);
  expect_grpo_raises_the_rewarded_response(m);
}

TEST(TrainGrpo, DenseStudentUpdatesTheSameWay) {
  DenseConfig c;
  c.n_vocab = tiny().n_vocab;
  c.n_embd = 16;
  c.n_layer = 2;
  c.n_head = 2;
  c.n_kv_head = 1;
  c.n_ff = 24;
  c.n_ctx = 16;
  DenseTransformer<float> m(c, nullptr);
  m.init(3, 0.1);
  expect_grpo_raises_the_rewarded_response(m);
  EXPECT_TRUE(m.expert_load().empty());
}

TEST(TrainGrpo, MissingLogProbsAreErrors) {
  Transformer<float> m(tiny(), nullptr);
  OptimConfig o;
  AdamW opt(m.layout(), o);
  std::vector<Rollout> rs(1);
  rs[0].tokens = {0, 3, 4};
  rs[0].prompt_len = 2;
  EXPECT_THROW(grpo_update(m, opt, rs, 1, GrpoConfig{}, 0.0), Error);
  EXPECT_THROW(parse_grpo_variant("ppo"), Error);
}

}  // namespace
}  // namespace r1::train
