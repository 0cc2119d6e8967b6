// GRPO (DeepSeekMath §4.1; TRAINING.md §1.1, §1.5) on top of the trainer's weighted loss: the
// objective's gradient with respect to each completion token's log-probability is a per-token
// coefficient, and a weighted cross-entropy with those coefficients has exactly that gradient.
//   per token:  L_t = w · [ −min(ρ·A, clip(ρ, 1−ε_low, 1+ε_high)·A) + β·k3 ],  ρ = exp(logp − old)
//               k3 = exp(ref − logp) − (ref − logp) − 1
//   w: GRPO 1/(G·|o_i|) per prompt (sample mean, then group mean), DAPO 1/Σ|o_i| (token mean),
//      Dr. GRPO 1/(G·L_max) (a constant).
// Advantages: GRPO (r − mean)/(std + 1e-4) over the group; Dr. GRPO and DAPO r − mean. DAPO's
// dynamic sampling drops groups whose rewards are all equal (no signal).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "train/adamw.h"
#include "train/model.h"

namespace r1::train {

enum class GrpoVariant { Grpo, DrGrpo, Dapo };
GrpoVariant parse_grpo_variant(const std::string& name);  // grpo, dr-grpo, dapo

struct GrpoConfig {
  GrpoVariant variant = GrpoVariant::Grpo;
  double clip_low = 0.2, clip_high = 0.2;  // DAPO's clip-higher: 0.2 / 0.28
  double kl_beta = 0.001;                  // 0 skips the reference model
  int minibatches = 2;                     // updates per rollout batch (so the clip matters)
  int64_t max_response = 128;              // L_max of Dr. GRPO's constant normaliser
};

// Group-normalised advantages of rewards laid out as consecutive groups of g.
std::vector<double> group_advantages(const std::vector<double>& rewards, int64_t g, bool divide_by_std);

// −∂L_t/∂logp for one token (what the weighted cross-entropy uses as the token's weight), and the
// token's loss L_t / w in *loss; *clipped says the clip cut the gradient.
double grpo_token_coef(double logp, double old_logp, double ref_logp, double advantage, const GrpoConfig& c,
                       double* loss, bool* clipped);

// One sampled response in its prompt's context.
struct Rollout {
  std::vector<int32_t> tokens;  // prompt, then the completion (EOS included if generated)
  size_t prompt_len = 0;
  int64_t group = 0;            // index of its prompt
  double reward = 0, advantage = 0;
  std::vector<double> old_logp, ref_logp;  // per completion token
};

// log p(token) of every completion token under m, into rollouts[i].*field.
void completion_logprobs(Policy& m, std::vector<Rollout>& rollouts, std::vector<double> Rollout::*field);

struct GrpoStats {
  double loss = 0;          // the objective's value (mean over minibatches)
  double kl = 0;            // mean k3 over tokens
  double clip_fraction = 0; // tokens whose gradient the clip removed
  double entropy_proxy = 0; // mean −logp of the sampled tokens
  int64_t tokens = 0;
};

// The policy update for one rollout batch: c.minibatches optimizer steps over disjoint shares of
// the rollouts (groups kept whole), each on the current policy against the stored old and
// reference log-probabilities. Rollouts need advantage, old_logp and (β > 0) ref_logp.
GrpoStats grpo_update(Policy& m, AdamW& opt, const std::vector<Rollout>& rollouts, int64_t group_size,
                      const GrpoConfig& c, double bias_gamma);

}  // namespace r1::train
