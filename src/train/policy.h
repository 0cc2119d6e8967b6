// What every trainable model offers the trainer, GRPO, checkpoints and export, so the same loops
// train the DeepSeek-V3-architecture teacher (Transformer) and the dense Qwen2-style student
// (DenseTransformer): flat params / grads laid out by a ParamLayout, the weighted-CE forward and
// backward, per-token log-probabilities, and the MoE hooks (no-ops for a dense model).
#pragma once
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "train/params.h"

namespace r1::train {

// B sequences of S tokens. targets[n] is the token to predict after tokens[n] (−1: not scored).
struct Batch {
  int64_t B = 0, S = 0;
  std::vector<int32_t> tokens, targets;
  // Optional per-token weights of the main loss (GRPO's coefficients, which may be negative);
  // empty: the mean over scored tokens.
  std::vector<float> weights;
};

struct LossWeights {
  double mtp = 0.3;        // λ (V3: 0.3, later 0.1); 0 skips the MTP module
  double balance = 1e-4;   // α of the sequence-wise balance loss; 0 skips it
};

struct LossReport {
  double total = 0;     // lm + mtp + balance: what the gradients are of
  double lm = 0;        // Σ weight·CE (the mean CE with default weights)
  double mtp = 0;       // λ · mean CE of the MTP module
  double balance = 0;   // Σ over MoE blocks of the balance loss
  int64_t n_scored = 0;
};

// Throws r1::Error unless the batch is well formed for a model of V tokens and n_ctx positions.
void check_batch(const Batch& batch, int64_t V, int64_t n_ctx);

enum class Arch { DeepSeek, Dense };
const char* arch_name(Arch a);             // "deepseek", "dense"
Arch parse_arch(const std::string& name);  // throws r1::Error for anything else

template <typename T>
class TrainModel {
 public:
  virtual ~TrainModel() = default;

  std::vector<T> params, grads;  // flat, laid out by layout()

  virtual Arch arch() const = 0;
  virtual const ParamLayout& layout() const = 0;
  virtual int64_t n_vocab() const = 0;
  virtual int64_t n_ctx() const = 0;
  // Deterministic in seed: matrices N(0, stddev) (residual outputs scaled down), norms 1, biases 0.
  virtual void init(uint64_t seed, double stddev) = 0;
  // Forward and loss; with backward, gradients are ACCUMULATED into grads. After a call, logits()
  // holds [B·S][n_vocab] and token_logprobs() log p(target) per position (0 where unscored).
  virtual LossReport forward_backward(const Batch& batch, const LossWeights& w, bool backward) = 0;
  void zero_grads() { std::fill(grads.begin(), grads.end(), T(0)); }
  virtual const std::vector<T>& logits() const = 0;
  virtual const std::vector<double>& token_logprobs() const = 0;
  // Tokens per expert of each MoE block in the last forward; empty for a dense model.
  virtual std::vector<std::vector<int64_t>> expert_load() const { return {}; }
  // The auxiliary-loss-free router bias step; nothing to do for a dense model.
  virtual void update_router_bias(double /*gamma*/) {}
  // A copy with the same weights and state (GRPO's reference model).
  virtual std::unique_ptr<TrainModel> clone() const = 0;
};

// What the trainer runs: the float models.
using Policy = TrainModel<float>;

}  // namespace r1::train
