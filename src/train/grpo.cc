#include "train/grpo.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace r1::train {
namespace {

// All rollouts as one batch, the completion tokens scored.
Batch rollout_batch(const std::vector<const Rollout*>& rs) {
  Batch b;
  b.B = int64_t(rs.size());
  for (const Rollout* r : rs) b.S = std::max<int64_t>(b.S, int64_t(r->tokens.size()) - 1);
  b.S = std::max<int64_t>(b.S, 1);
  for (const Rollout* r : rs) {
    const int64_t n = int64_t(r->tokens.size());
    if (r->prompt_len < 1 || int64_t(r->prompt_len) >= n) fail("grpo: a rollout needs a prompt and a completion");
    for (int64_t i = 0; i < b.S; i++) {
      b.tokens.push_back(i < n ? r->tokens[size_t(i)] : r->tokens.back());
      b.targets.push_back(i + 1 < n && i + 1 >= int64_t(r->prompt_len) ? r->tokens[size_t(i + 1)] : -1);
    }
  }
  return b;
}

}  // namespace

GrpoVariant parse_grpo_variant(const std::string& name) {
  if (name == "grpo") return GrpoVariant::Grpo;
  if (name == "dr-grpo") return GrpoVariant::DrGrpo;
  if (name == "dapo") return GrpoVariant::Dapo;
  fail("unknown GRPO variant '", name, "' (grpo, dr-grpo, dapo)");
}

std::vector<double> group_advantages(const std::vector<double>& rewards, int64_t g, bool divide_by_std) {
  if (g < 1 || rewards.size() % size_t(g) != 0) fail("grpo: ", rewards.size(), " rewards do not form groups of ", g);
  std::vector<double> adv(rewards.size());
  for (size_t b = 0; b < rewards.size(); b += size_t(g)) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < g; i++) mean += rewards[b + size_t(i)] / double(g);
    for (int64_t i = 0; i < g; i++) var += (rewards[b + size_t(i)] - mean) * (rewards[b + size_t(i)] - mean) / double(g);
    const double scale = divide_by_std ? 1.0 / (std::sqrt(var) + 1e-4) : 1.0;
    for (int64_t i = 0; i < g; i++) adv[b + size_t(i)] = (rewards[b + size_t(i)] - mean) * scale;
  }
  return adv;
}

double grpo_token_coef(double logp, double old_logp, double ref_logp, double advantage, const GrpoConfig& c,
                       double* loss, bool* clipped) {
  const double ratio = std::exp(logp - old_logp);
  const double clipped_ratio = std::clamp(ratio, 1.0 - c.clip_low, 1.0 + c.clip_high);
  const double surrogate = std::min(ratio * advantage, clipped_ratio * advantage);
  // The min takes the clipped branch (constant in logp) when it is strictly smaller.
  const bool cut = clipped_ratio * advantage < ratio * advantage;
  double d_loss = cut ? 0.0 : -ratio * advantage;  // ∂(−surrogate)/∂logp
  double value = -surrogate;
  if (c.kl_beta > 0) {
    const double x = ref_logp - logp;
    value += c.kl_beta * (std::exp(x) - x - 1.0);
    d_loss += c.kl_beta * (1.0 - std::exp(x));
  }
  if (loss) *loss = value;
  if (clipped) *clipped = cut;
  return -d_loss;
}

void completion_logprobs(Policy& m, std::vector<Rollout>& rollouts, std::vector<double> Rollout::*field) {
  constexpr size_t kChunk = 16;  // rollouts per forward, to bound the activations
  for (size_t b = 0; b < rollouts.size(); b += kChunk) {
    std::vector<const Rollout*> rs;
    for (size_t i = b; i < std::min(rollouts.size(), b + kChunk); i++) rs.push_back(&rollouts[i]);
    const Batch batch = rollout_batch(rs);
    m.forward_backward(batch, {0, 0}, false);
    const std::vector<double>& lp = m.token_logprobs();
    for (size_t i = 0; i < rs.size(); i++) {
      Rollout& r = rollouts[b + i];
      auto& out = r.*field;
      out.clear();
      for (size_t t = r.prompt_len - 1; t + 1 < r.tokens.size(); t++) out.push_back(lp[i * size_t(batch.S) + t]);
    }
  }
}

GrpoStats grpo_update(Policy& m, AdamW& opt, const std::vector<Rollout>& rollouts, int64_t group_size,
                      const GrpoConfig& c, double bias_gamma) {
  if (rollouts.empty()) fail("grpo: no rollouts");
  if (c.minibatches < 1) fail("grpo: minibatches must be >= 1");
  const int64_t n_groups = int64_t(rollouts.size()) / group_size;
  const int64_t parts = std::min<int64_t>(c.minibatches, std::max<int64_t>(1, n_groups));
  GrpoStats st;
  double kl_sum = 0, clip_n = 0, ent = 0;
  for (int64_t part = 0; part < parts; part++) {
    // Whole groups per minibatch.
    const size_t lo = size_t(part * n_groups / parts * group_size), hi = size_t((part + 1) * n_groups / parts * group_size);
    std::vector<const Rollout*> rs;
    for (size_t i = lo; i < hi; i++) rs.push_back(&rollouts[i]);
    if (rs.empty()) continue;
    Batch batch = rollout_batch(rs);
    m.forward_backward(batch, {0, 0}, false);
    const std::vector<double> lp = m.token_logprobs();
    int64_t total_tokens = 0;
    for (const Rollout* r : rs) total_tokens += int64_t(r->tokens.size() - r->prompt_len);
    batch.weights.assign(size_t(batch.B * batch.S), 0.0f);
    double part_loss = 0;
    for (size_t i = 0; i < rs.size(); i++) {
      const Rollout& r = *rs[i];
      const int64_t len = int64_t(r.tokens.size() - r.prompt_len);
      if (int64_t(r.old_logp.size()) != len || (c.kl_beta > 0 && int64_t(r.ref_logp.size()) != len)) {
        fail("grpo: rollout ", lo + i, " lacks its old / reference log-probabilities");
      }
      const double w = c.variant == GrpoVariant::Grpo ? 1.0 / (double(rs.size()) * double(len))
                       : c.variant == GrpoVariant::Dapo ? 1.0 / double(total_tokens)
                                                        : 1.0 / (double(rs.size()) * double(c.max_response));
      for (int64_t t = 0; t < len; t++) {
        const size_t pos = i * size_t(batch.S) + r.prompt_len - 1 + size_t(t);
        double loss;
        bool cut;
        const double ref = c.kl_beta > 0 ? r.ref_logp[size_t(t)] : 0.0;
        const double coef = grpo_token_coef(lp[pos], r.old_logp[size_t(t)], ref, r.advantage, c, &loss, &cut);
        batch.weights[pos] = float(w * coef);
        part_loss += w * loss;
        if (c.kl_beta > 0) kl_sum += std::exp(ref - lp[pos]) - (ref - lp[pos]) - 1.0;
        clip_n += cut;
        ent -= lp[pos];
        st.tokens++;
      }
    }
    m.zero_grads();
    m.forward_backward(batch, {0, 0}, true);
    opt.step(m.params.data(), m.grads.data());
    m.update_router_bias(bias_gamma);
    st.loss += part_loss / double(parts);
  }
  if (st.tokens > 0) {
    st.kl = kl_sum / double(st.tokens);
    st.clip_fraction = clip_n / double(st.tokens);
    st.entropy_proxy = ent / double(st.tokens);
  }
  return st;
}

}  // namespace r1::train
